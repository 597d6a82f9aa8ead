//! The records a VMM reads from iommufd (issue 32): the vEVENTQ stream of
//! a vIOMMU (`IOMMU_VEVENTQ_ALLOC`) and the fault queue of a HWPT
//! (`IOMMU_FAULT_QUEUE_ALLOC`), with the page response written back to
//! the fault fd. Layouts as include/uapi/linux/iommufd.h declares them
//! (torvalds/linux, read at commit b4d90dbc); sizes and offsets are
//! checked in the tests below.
//!
//! * vEVENTQ: a `read()` returns a sequence of `struct
//!   iommufd_vevent_header` {flags, sequence}, each followed by the
//!   queue type's payload ([`VeventqType`]), except a header with
//!   `IOMMU_VEVENTQ_FLAG_LOST_EVENTS`, which has none. [`VeventReader`]
//!   decodes the bytes and reports sequence gaps (the header: "If two
//!   adjacent sequence indexes has a delta larger than 1, it means that
//!   delta - 1 number of vEVENTs has lost"); sequences run 0..=INT_MAX and
//!   wrap to 0. An SMMUv3 payload is the SMMUv3 event record, with the
//!   StreamID already the **virtual** one (the header: "StreamID field
//!   reports a virtual device ID"): [`VeventArmSmmuv3::lift`] lifts it
//!   through arch-arm's [`EventArch`] without mapping the device again.
//! * Fault queue: a `read()` returns [`HwptPgfault`] records (40 bytes);
//!   the response is a [`HwptPageResponse`] {cookie, code} naming the
//!   group by the cookie of its last request. [`PgfaultGroups`] keeps the
//!   cookie with the group in core's [`PageRequestGroups`], so that a
//!   guest's `Op::PageResponse` becomes the response for the same group.
//!   iommufd has only SUCCESS and INVALID: a guest's Response Failure is
//!   sent as INVALID and reported ([`Answer::widened`]), never silently.

use iommu_inval_arm::{EventRecord, Smmuv3};
use iommu_inval_core::arch::EventArch;
use iommu_inval_core::event::{Access, Event, GroupError, PageRequest, PageRequestGroups, Record};
use iommu_inval_core::{
    Context, DecodeError, IdentityContext, LowerError, NativeCommand, PageResponse, RespCode,
};

/// `IOMMU_VEVENTQ_FLAG_LOST_EVENTS` (`enum iommu_veventq_flag`): the vEVENTQ
/// lost events; no payload follows this header.
const IOMMU_VEVENTQ_FLAG_LOST_EVENTS: u32 = 1 << 0;
/// `IOMMU_PGFAULT_FLAGS_PASID_VALID`: `pasid` is valid.
const IOMMU_PGFAULT_FLAGS_PASID_VALID: u32 = 1 << 0;
/// `IOMMU_PGFAULT_FLAGS_LAST_PAGE`: the last fault of its group.
const IOMMU_PGFAULT_FLAGS_LAST_PAGE: u32 = 1 << 1;
/// `IOMMU_PGFAULT_PERM_READ`.
const IOMMU_PGFAULT_PERM_READ: u32 = 1 << 0;
/// `IOMMU_PGFAULT_PERM_WRITE`.
const IOMMU_PGFAULT_PERM_WRITE: u32 = 1 << 1;
/// `IOMMU_PGFAULT_PERM_EXEC` (PCIe Execute Requested).
const IOMMU_PGFAULT_PERM_EXEC: u32 = 1 << 2;
/// `IOMMU_PGFAULT_PERM_PRIV` (PCIe Privileged Mode Requested).
const IOMMU_PGFAULT_PERM_PRIV: u32 = 1 << 3;
/// `IOMMUFD_PAGE_RESP_SUCCESS` (PCIe "Success").
pub const IOMMUFD_PAGE_RESP_SUCCESS: u32 = 0;
/// `IOMMUFD_PAGE_RESP_INVALID` (PCIe "Invalid Request"). There is no
/// Failure code: the kernel removed it from the uAPI.
pub const IOMMUFD_PAGE_RESP_INVALID: u32 = 1;

/// The largest vEVENT sequence index (`INT_MAX`; the next one is 0).
const SEQUENCE_MAX: u32 = i32::MAX as u32;

/// `struct iommufd_vevent_header { __u32 flags; __u32 sequence; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct VeventHeader {
    /// `IOMMU_VEVENTQ_FLAG_LOST_EVENTS` (1) or 0.
    pub flags: u32,
    /// Index of the vEVENT, 0..=INT_MAX, then 0 again.
    pub sequence: u32,
}

/// `struct iommu_vevent_arm_smmuv3 { __aligned_le64 evt[4]; }`
/// (`IOMMU_VEVENTQ_TYPE_ARM_SMMUV3`): an SMMUv3 event record (IHI0070
/// §7.3) whose StreamID the kernel replaced with the vSID. The kernel
/// forwards C_BAD_STE, F_STREAM_DISABLED, C_BAD_SUBSTREAMID, C_BAD_CD and
/// the translation faults 0x10–0x13.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct VeventArmSmmuv3 {
    /// The record's four words, lowest first.
    pub evt: [u64; 4],
}

impl VeventArmSmmuv3 {
    /// The event record (a typed error for a record no SMMUv3 writes).
    pub fn record(&self) -> Result<EventRecord, DecodeError> {
        EventRecord::decode(&self.evt)
    }

    /// The record in the model, through arch-arm's [`EventArch`]. Its
    /// StreamID is already the guest's (the kernel put the vDEVICE's
    /// virt_id there), so the device is not mapped again.
    pub fn lift(&self) -> Result<Event, LowerError> {
        let r = self
            .record()
            .map_err(|_| LowerError::Invalid("not an SMMUv3 event record"))?;
        Smmuv3::lift_record(&Record::Event(r), &IdentityContext)
    }
}

/// `struct iommu_vevent_tegra241_cmdqv { __aligned_le64 lvcmdq_err_map[2]; }`
/// (`IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct VeventTegra241Cmdqv {
    /// The VINTF's logical VCMDQ error map, lowest word first.
    pub lvcmdq_err_map: [u64; 2],
}

/// `enum iommu_veventq_type`: what follows each header of a vEVENTQ (one
/// type per queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VeventqType {
    /// `IOMMU_VEVENTQ_TYPE_ARM_SMMUV3` (1): [`VeventArmSmmuv3`], 32 bytes.
    ArmSmmuv3,
    /// `IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV` (2): [`VeventTegra241Cmdqv`], 16 bytes.
    Tegra241Cmdqv,
}

impl VeventqType {
    /// The payload's size in bytes.
    const fn payload_len(self) -> usize {
        match self {
            VeventqType::ArmSmmuv3 => 32,
            VeventqType::Tegra241Cmdqv => 16,
        }
    }
}

/// What follows a vEVENT header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VeventData {
    /// An SMMUv3 event record.
    ArmSmmuv3(VeventArmSmmuv3),
    /// A Tegra241 CMDQV error map.
    Tegra241Cmdqv(VeventTegra241Cmdqv),
    /// A LOST_EVENTS header: events were lost at the queue's tail (no payload).
    Lost,
}

/// One vEVENT of a `read()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vevent {
    /// Its header's sequence index.
    pub sequence: u32,
    /// Events lost before it: the sequence gap from the previous header
    /// minus one (0 for the first header a [`VeventReader`] sees).
    pub gap: u32,
    /// Its payload.
    pub data: VeventData,
}

/// Why bytes read from an iommufd event or fault fd were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The buffer ends inside a header, payload or record.
    #[error("byte {offset:#x}: the buffer ends {missing} bytes short of a whole record")]
    Truncated {
        /// Byte offset of the record.
        offset: usize,
        /// Bytes missing.
        missing: usize,
    },
    /// A header flag, fault flag or permission bit the uAPI does not define.
    #[error("byte {offset:#x}: undefined bits {bits:#x} in {field}")]
    UndefinedBits {
        /// Byte offset of the record.
        offset: usize,
        /// The field (`flags`, `perm`, `__reserved`).
        field: &'static str,
        /// The bits.
        bits: u32,
    },
    /// A sequence index above INT_MAX.
    #[error("byte {offset:#x}: sequence {sequence:#x} is above INT_MAX")]
    Sequence {
        /// Byte offset of the header.
        offset: usize,
        /// The index.
        sequence: u32,
    },
}

/// The little-endian u32 at `b[at..]` (0 past the end; callers check lengths).
fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        x.copy_from_slice(s);
    }
    u32::from_le_bytes(x)
}

/// The little-endian u64 at `b[at..]` (0 past the end; callers check lengths).
fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from(le_u32(b, at)) | u64::from(le_u32(b, at + 4)) << 32
}

/// Decodes the vEVENTQ stream of one queue across reads, keeping the last
/// sequence index to report gaps.
///
/// ```
/// use iommu_inval_iommufd::event::{VeventData, VeventReader, VeventqType};
/// let mut b = Vec::new();
/// for (flags, seq) in [(0u32, 3u32), (0, 6)] {
///     b.extend_from_slice(&flags.to_le_bytes());
///     b.extend_from_slice(&seq.to_le_bytes());
///     b.extend_from_slice(&[0x10, 0, 0, 0, 0x20, 0, 0, 0]); // F_TRANSLATION, vSID 0x20
///     b.extend_from_slice(&[0; 24]);
/// }
/// b.extend_from_slice(&1u32.to_le_bytes()); // LOST_EVENTS, no payload
/// b.extend_from_slice(&7u32.to_le_bytes());
/// let mut r = VeventReader::new(VeventqType::ArmSmmuv3);
/// let v: Vec<_> = r.read(&b).collect::<Result<_, _>>().unwrap();
/// assert_eq!((v[1].sequence, v[1].gap), (6, 2)); // 4 and 5 were lost
/// assert_eq!(v[2].data, VeventData::Lost);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VeventReader {
    ty: VeventqType,
    last: Option<u32>,
}

impl VeventReader {
    /// A reader of a queue of type `ty` that has seen no header yet.
    pub const fn new(ty: VeventqType) -> Self {
        VeventReader { ty, last: None }
    }

    /// The vEVENTs of `buf`, the bytes one `read()` returned. After an
    /// error the iterator ends (the rest of the buffer has no known
    /// framing).
    pub fn read<'r, 'b>(&'r mut self, buf: &'b [u8]) -> Vevents<'r, 'b> {
        Vevents {
            reader: self,
            buf,
            at: 0,
        }
    }

    /// The header at `at` of `buf` and its payload: the vEVENT and the
    /// bytes it takes.
    fn one(&mut self, buf: &[u8], at: usize) -> Result<(Vevent, usize), EventError> {
        let rest = buf.get(at..).unwrap_or_default();
        let short = |need: usize| EventError::Truncated {
            offset: at,
            missing: need.saturating_sub(rest.len()),
        };
        if rest.len() < 8 {
            return Err(short(8));
        }
        let flags = le_u32(rest, 0);
        let sequence = le_u32(rest, 4);
        if flags & !IOMMU_VEVENTQ_FLAG_LOST_EVENTS != 0 {
            return Err(EventError::UndefinedBits {
                offset: at,
                field: "flags",
                bits: flags & !IOMMU_VEVENTQ_FLAG_LOST_EVENTS,
            });
        }
        if sequence > SEQUENCE_MAX {
            return Err(EventError::Sequence {
                offset: at,
                sequence,
            });
        }
        let (data, len) = if flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS != 0 {
            (VeventData::Lost, 8)
        } else {
            let len = 8 + self.ty.payload_len();
            if rest.len() < len {
                return Err(short(len));
            }
            let w = |i: usize| le_u64(rest, 8 + 8 * i);
            let data = match self.ty {
                VeventqType::ArmSmmuv3 => VeventData::ArmSmmuv3(VeventArmSmmuv3 {
                    evt: [w(0), w(1), w(2), w(3)],
                }),
                VeventqType::Tegra241Cmdqv => VeventData::Tegra241Cmdqv(VeventTegra241Cmdqv {
                    lvcmdq_err_map: [w(0), w(1)],
                }),
            };
            (data, len)
        };
        // The index after `last`, wrapping after INT_MAX.
        let gap = match self.last {
            None => 0,
            Some(l) => {
                let next = if l == SEQUENCE_MAX { 0 } else { l + 1 };
                sequence.wrapping_sub(next) & SEQUENCE_MAX
            }
        };
        self.last = Some(sequence);
        Ok((
            Vevent {
                sequence,
                gap,
                data,
            },
            len,
        ))
    }
}

/// The vEVENTs of one buffer ([`VeventReader::read`]).
#[derive(Debug)]
pub struct Vevents<'r, 'b> {
    reader: &'r mut VeventReader,
    buf: &'b [u8],
    at: usize,
}

impl Iterator for Vevents<'_, '_> {
    type Item = Result<Vevent, EventError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.buf.len() {
            return None;
        }
        Some(match self.reader.one(self.buf, self.at) {
            Ok((v, len)) => {
                self.at += len;
                Ok(v)
            }
            Err(e) => {
                self.at = self.buf.len();
                Err(e)
            }
        })
    }
}

/// `struct iommu_hwpt_pgfault` (40 bytes): one page fault (a PCIe page
/// request) read from a HWPT's fault fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct HwptPgfault {
    /// `IOMMU_PGFAULT_FLAGS_*`: PASID_VALID (1), LAST_PAGE (2).
    pub flags: u32,
    /// The iommufd device object the fault came from.
    pub dev_id: u32,
    /// PASID, valid with `IOMMU_PGFAULT_FLAGS_PASID_VALID`.
    pub pasid: u32,
    /// Page Request Group Index.
    pub grpid: u32,
    /// `IOMMU_PGFAULT_PERM_*`: READ (1), WRITE (2), EXEC (4), PRIV (8).
    pub perm: u32,
    /// `__reserved`: 0.
    pub reserved: u32,
    /// Fault address.
    pub addr: u64,
    /// How much the requester expects to fetch (a prefetch hint; 0 if none).
    pub length: u32,
    /// The kernel's cookie of the group; the last fault's is echoed back.
    pub cookie: u32,
}

impl HwptPgfault {
    /// The record's size.
    pub const SIZE: usize = 40;

    /// The record at the start of `b`, checked: a short buffer, a flag or
    /// permission bit the uAPI does not define, or a non-zero `__reserved`
    /// is an [`EventError`] (`offset` 0).
    fn decode(b: &[u8]) -> Result<Self, EventError> {
        if b.len() < Self::SIZE {
            return Err(EventError::Truncated {
                offset: 0,
                missing: Self::SIZE - b.len(),
            });
        }
        let f = HwptPgfault {
            flags: le_u32(b, 0),
            dev_id: le_u32(b, 4),
            pasid: le_u32(b, 8),
            grpid: le_u32(b, 12),
            perm: le_u32(b, 16),
            reserved: le_u32(b, 20),
            addr: le_u64(b, 24),
            length: le_u32(b, 32),
            cookie: le_u32(b, 36),
        };
        let flags = IOMMU_PGFAULT_FLAGS_PASID_VALID | IOMMU_PGFAULT_FLAGS_LAST_PAGE;
        let perms = IOMMU_PGFAULT_PERM_READ
            | IOMMU_PGFAULT_PERM_WRITE
            | IOMMU_PGFAULT_PERM_EXEC
            | IOMMU_PGFAULT_PERM_PRIV;
        for (field, bits) in [
            ("flags", f.flags & !flags),
            ("perm", f.perm & !perms),
            ("__reserved", f.reserved),
        ] {
            if bits != 0 {
                return Err(EventError::UndefinedBits {
                    offset: 0,
                    field,
                    bits,
                });
            }
        }
        Ok(f)
    }

    /// The 40 bytes the kernel writes.
    pub fn to_le_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        let words = [
            self.flags,
            self.dev_id,
            self.pasid,
            self.grpid,
            self.perm,
            self.reserved,
            self.addr as u32,
            (self.addr >> 32) as u32,
            self.length,
            self.cookie,
        ];
        for (c, w) in b.chunks_exact_mut(4).zip(words) {
            c.copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    /// The records of `buf`, the bytes one `read()` returned, checked: a
    /// short record, a flag or permission bit the uAPI does not define, or
    /// a non-zero `__reserved` is an [`EventError`] naming its byte offset,
    /// and the iterator ends after it.
    pub fn read(buf: &[u8]) -> impl Iterator<Item = Result<HwptPgfault, EventError>> + '_ {
        let mut at = 0;
        core::iter::from_fn(move || {
            let rest = buf.get(at..).filter(|r| !r.is_empty())?;
            let r = HwptPgfault::decode(rest).map_err(|e| e.at(at));
            at = if r.is_ok() {
                at + Self::SIZE
            } else {
                buf.len()
            };
            Some(r)
        })
    }

    /// The request as the host reported it (the device is `dev_id`): PASID
    /// when valid, the response carrying it when there is one. A group
    /// index wider than 9 bits or an address that is not 4 KiB aligned
    /// is `LowerError::Invalid`.
    pub fn request(&self) -> Result<PageRequest, LowerError> {
        if self.grpid > 0x1ff {
            return Err(LowerError::Invalid(
                "page request group index wider than 9 bits",
            ));
        }
        let pasid = (self.flags & IOMMU_PGFAULT_FLAGS_PASID_VALID != 0).then_some(self.pasid);
        let has = |p| self.perm & p != 0;
        Ok(PageRequest {
            device: self.dev_id,
            pasid,
            addr: self.addr & !0xfff,
            access: Access {
                read: has(IOMMU_PGFAULT_PERM_READ),
                write: has(IOMMU_PGFAULT_PERM_WRITE),
                exec: has(IOMMU_PGFAULT_PERM_EXEC),
                privileged: has(IOMMU_PGFAULT_PERM_PRIV),
            },
            prg_index: self.grpid as u16,
            last: self.flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE != 0,
            response_pasid: pasid.is_some(),
            priv_data: None,
        })
    }

    /// The request in the guest's ids: `dev_id` through
    /// [`Context::guest_device`] (a device the guest does not see is
    /// `LowerError::NoEquivalent`).
    pub fn lift<C: Context + ?Sized>(&self, ctx: &C) -> Result<PageRequest, LowerError> {
        let host = self.request()?;
        let device = ctx
            .guest_device(self.dev_id)
            .ok_or(LowerError::NoEquivalent("device not seen by the guest"))?;
        Ok(PageRequest { device, ..host })
    }
}

impl EventError {
    /// The error with its offset moved by `at` (a record inside a buffer).
    fn at(self, at: usize) -> Self {
        match self {
            EventError::Truncated { offset, missing } => EventError::Truncated {
                offset: offset + at,
                missing,
            },
            EventError::UndefinedBits {
                offset,
                field,
                bits,
            } => EventError::UndefinedBits {
                offset: offset + at,
                field,
                bits,
            },
            EventError::Sequence { offset, sequence } => EventError::Sequence {
                offset: offset + at,
                sequence,
            },
        }
    }
}

/// `struct iommu_hwpt_page_response { __u32 cookie; __u32 code; }`, written
/// to the fault fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct HwptPageResponse {
    /// The cookie of the group's last fault.
    pub cookie: u32,
    /// [`IOMMUFD_PAGE_RESP_SUCCESS`] or [`IOMMUFD_PAGE_RESP_INVALID`].
    pub code: u32,
}

impl HwptPageResponse {
    /// The 8 bytes the kernel reads.
    pub fn to_le_bytes(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        let (c, k) = b.split_at_mut(4);
        c.copy_from_slice(&self.cookie.to_le_bytes());
        k.copy_from_slice(&self.code.to_le_bytes());
        b
    }
}

/// The response for a group ([`PgfaultGroups::respond`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Answer {
    /// What to write to the fault fd.
    pub response: HwptPageResponse,
    /// The guest's code was Response Failure, sent as Invalid Request:
    /// iommufd has no Failure (the device is not told to stop requesting).
    pub widened: bool,
}

/// The outstanding page request groups of a HWPT's fault queue, at most
/// `N`: core's [`PageRequestGroups`] keeping each group's cookie.
///
/// ```
/// use iommu_inval_core::{IdentityContext, PageResponse, RespCode};
/// use iommu_inval_iommufd::event::*;
/// let f = HwptPgfault { // LAST_PAGE, a read
///     flags: 2, dev_id: 5, grpid: 3, perm: 1, addr: 0x4000, cookie: 77, ..Default::default()
/// };
/// let mut g = PgfaultGroups::<8>::new();
/// let guest = g.forward(&f, &IdentityContext).unwrap(); // into the guest's PRI queue
/// let resp = PageResponse { device: guest.device, pasid: None, prg_index: 3,
///     code: RespCode::Failure, last: true, priv_data: None, guest: false };
/// let a = g.respond(&resp).unwrap();
/// assert_eq!(a.response, HwptPageResponse { cookie: 77, code: IOMMUFD_PAGE_RESP_INVALID });
/// assert!(a.widened);
/// ```
#[derive(Debug, Clone, Default)]
pub struct PgfaultGroups<const N: usize>(PageRequestGroups<N, u32>);

/// Why a fault could not be forwarded ([`PgfaultGroups::forward`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    /// The fault has no request in the guest's ids.
    #[error(transparent)]
    Lift(#[from] LowerError),
    /// The group table refused its last request.
    #[error(transparent)]
    Group(#[from] GroupError),
}

impl<const N: usize> PgfaultGroups<N> {
    /// An empty table.
    pub const fn new() -> Self {
        PgfaultGroups(PageRequestGroups::new())
    }

    /// The fault's request in the guest's ids (to lower into the guest's
    /// page request queue); a group's last request is kept with its cookie.
    pub fn forward<C: Context + ?Sized>(
        &mut self,
        f: &HwptPgfault,
        ctx: &C,
    ) -> Result<PageRequest, ForwardError> {
        let guest = f.lift(ctx)?;
        self.0.insert_tagged(&f.request()?, &guest, f.cookie)?;
        Ok(guest)
    }

    /// The response to write for the group a guest's response answers
    /// (errors as [`PageRequestGroups::respond`]).
    pub fn respond(&mut self, resp: &PageResponse) -> Result<Answer, GroupError> {
        self.0.respond_tagged(resp).map(|(r, cookie)| {
            let (code, widened) = match r.code {
                RespCode::Success => (IOMMUFD_PAGE_RESP_SUCCESS, false),
                RespCode::Invalid => (IOMMUFD_PAGE_RESP_INVALID, false),
                _ => (IOMMUFD_PAGE_RESP_INVALID, true),
            };
            Answer {
                response: HwptPageResponse { cookie, code },
                widened,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};
    use iommu_inval_core::event::{Fault, FaultKind};
    use std::vec::Vec;

    /// Sizes and offsets of include/uapi/linux/iommufd.h.
    #[test]
    fn layouts_match_the_header() {
        assert_eq!(size_of::<VeventHeader>(), 8);
        assert_eq!(offset_of!(VeventHeader, sequence), 4);
        assert_eq!(size_of::<VeventArmSmmuv3>(), 32);
        assert_eq!(size_of::<VeventTegra241Cmdqv>(), 16);
        assert_eq!(size_of::<HwptPgfault>(), HwptPgfault::SIZE);
        let offs = [
            offset_of!(HwptPgfault, flags),
            offset_of!(HwptPgfault, dev_id),
            offset_of!(HwptPgfault, pasid),
            offset_of!(HwptPgfault, grpid),
            offset_of!(HwptPgfault, perm),
            offset_of!(HwptPgfault, reserved),
            offset_of!(HwptPgfault, addr),
            offset_of!(HwptPgfault, length),
            offset_of!(HwptPgfault, cookie),
        ];
        assert_eq!(offs, [0, 4, 8, 12, 16, 20, 24, 32, 36]);
        assert_eq!(size_of::<HwptPageResponse>(), 8);
        assert_eq!(offset_of!(HwptPageResponse, code), 4);
        assert_eq!(VeventqType::ArmSmmuv3.payload_len(), 32);
        assert_eq!(VeventqType::Tegra241Cmdqv.payload_len(), 16);
    }

    fn header(b: &mut Vec<u8>, flags: u32, seq: u32) {
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(&seq.to_le_bytes());
    }

    /// F_TRANSLATION of vSID `sid`, SubstreamID 3, a stage-1 read.
    fn f_translation(sid: u32) -> [u64; 4] {
        [
            0x3810 | u64::from(sid) << 32,
            0x0000_0208_0000_0000,
            0x8000_1234,
            0,
        ]
    }

    fn push_evt(b: &mut Vec<u8>, w: [u64; 4]) {
        for x in w {
            b.extend_from_slice(&x.to_le_bytes());
        }
    }

    #[test]
    fn vevent_stream_gaps_lost_headers_and_wrap() {
        let mut b = Vec::new();
        header(&mut b, 0, SEQUENCE_MAX - 1);
        push_evt(&mut b, f_translation(0x20));
        header(&mut b, 0, SEQUENCE_MAX);
        push_evt(&mut b, f_translation(0x21));
        header(&mut b, 0, 2); // 0 and 1 lost across the wrap
        push_evt(&mut b, f_translation(0x22));
        header(&mut b, IOMMU_VEVENTQ_FLAG_LOST_EVENTS, 3);
        let mut r = VeventReader::new(VeventqType::ArmSmmuv3);
        let v: Vec<_> = r.read(&b).collect::<Result<_, _>>().unwrap();
        let got: Vec<_> = v.iter().map(|e| (e.sequence, e.gap)).collect();
        assert_eq!(
            got,
            [(SEQUENCE_MAX - 1, 0), (SEQUENCE_MAX, 0), (2, 2), (3, 0)]
        );
        assert_eq!(v[3].data, VeventData::Lost);
        // The next read continues the sequence.
        let mut c = Vec::new();
        header(&mut c, 0, 5);
        push_evt(&mut c, f_translation(0x20));
        assert_eq!(r.read(&c).next().map(|e| e.map(|e| e.gap)), Some(Ok(1)));
    }

    #[test]
    fn vevent_errors_are_typed() {
        let mut r = VeventReader::new(VeventqType::ArmSmmuv3);
        let mut b = Vec::new();
        header(&mut b, 0, 0);
        push_evt(&mut b, f_translation(1));
        b.truncate(30);
        assert_eq!(
            r.read(&b).collect::<Vec<_>>(),
            [Err(EventError::Truncated {
                offset: 0,
                missing: 10
            })]
        );
        let mut b = Vec::new();
        header(&mut b, 2, 0);
        assert!(matches!(
            r.read(&b).next(),
            Some(Err(EventError::UndefinedBits { field: "flags", .. }))
        ));
        let mut b = Vec::new();
        header(&mut b, 1, 0x8000_0000);
        assert!(matches!(
            r.read(&b).next(),
            Some(Err(EventError::Sequence { .. }))
        ));
        let mut b = Vec::new();
        header(&mut b, 0, 0);
        b.extend_from_slice(&[0; 16]);
        let mut t = VeventReader::new(VeventqType::Tegra241Cmdqv);
        assert!(t.read(&b).all(|e| e.is_ok()));
    }

    /// The vEVENT's record lifts with its StreamID as the guest's: the
    /// kernel already wrote the vSID, no context maps it again.
    #[test]
    fn smmuv3_vevent_lifts_with_the_vsid() {
        let e = VeventArmSmmuv3 {
            evt: f_translation(0x20),
        };
        assert_eq!(e.record().map(|r| r.op()), Ok("F_TRANSLATION"));
        match e.lift() {
            Ok(Event::Fault(Fault {
                device: 0x20,
                pasid: Some(3),
                kind: FaultKind::Translation(_),
                ..
            })) => {}
            other => panic!("{other:?}"),
        }
        let bad = VeventArmSmmuv3 {
            evt: [0xff, 0, 0, 0],
        };
        assert!(bad.lift().is_err());
    }

    fn pgfault(flags: u32, grpid: u32, cookie: u32) -> HwptPgfault {
        HwptPgfault {
            flags,
            dev_id: 7,
            pasid: 9,
            grpid,
            perm: IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE,
            reserved: 0,
            addr: 0x1234_5000,
            length: 0,
            cookie,
        }
    }

    #[test]
    fn pgfault_bytes_round_trip_and_errors() {
        let f = pgfault(IOMMU_PGFAULT_FLAGS_PASID_VALID, 4, 99);
        let b = f.to_le_bytes();
        assert_eq!(HwptPgfault::decode(&b), Ok(f));
        let mut two = b.to_vec();
        two.extend_from_slice(&b[..12]);
        let got: Vec<_> = HwptPgfault::read(&two).collect();
        assert_eq!(
            got,
            [
                Ok(f),
                Err(EventError::Truncated {
                    offset: 40,
                    missing: 28
                })
            ]
        );
        for (at, field) in [(0, "flags"), (16, "perm"), (20, "__reserved")] {
            let mut x = b;
            x[at] |= 0x80;
            assert!(
                matches!(HwptPgfault::decode(&x), Err(EventError::UndefinedBits { field: f, .. }) if f == field),
                "{field}"
            );
        }
        let r = f.request().unwrap();
        assert_eq!(
            (r.device, r.pasid, r.prg_index, r.last, r.access.write),
            (7, Some(9), 4, false, true)
        );
        assert!(pgfault(0, 0x200, 0).request().is_err());
    }

    /// A topology that shows host device 7 to the guest as 0x40.
    fn vdev() -> iommu_inval_core::context::Topology {
        iommu_inval_core::context::Topology::from_json(
            r#"{"domains": [], "devices": [], "iommufd": {"vsmmu_vmid": 1, "vdevices": [{"vsid": 64, "psid": 7}]}}"#,
        )
        .unwrap()
    }

    /// A guest's response reaches the fault fd with the cookie of the
    /// group's last fault; Failure is sent as INVALID and reported; a
    /// second answer and an unknown group are errors.
    #[test]
    fn guest_response_becomes_the_cookie_response() {
        let mut g = PgfaultGroups::<4>::new();
        let vdev = vdev();
        let first = pgfault(IOMMU_PGFAULT_FLAGS_PASID_VALID, 5, 10);
        let last = pgfault(
            IOMMU_PGFAULT_FLAGS_PASID_VALID | IOMMU_PGFAULT_FLAGS_LAST_PAGE,
            5,
            11,
        );
        assert_eq!(g.forward(&first, &vdev).map(|r| r.device), Ok(0x40));
        g.forward(&last, &vdev).unwrap();
        // The last fault's group is outstanding: a second one is refused.
        assert_eq!(
            g.forward(&last, &vdev),
            Err(ForwardError::Group(GroupError::AlreadyOutstanding))
        );
        let mut other = last;
        other.dev_id = 8;
        assert_eq!(
            g.forward(&other, &vdev),
            Err(ForwardError::Lift(LowerError::NoEquivalent(
                "device not seen by the guest"
            )))
        );
        let resp = |code| PageResponse {
            device: 0x40,
            pasid: Some(9),
            prg_index: 5,
            code,
            last: true,
            priv_data: None,
            guest: true,
        };
        let a = g.respond(&resp(RespCode::Success)).unwrap();
        assert_eq!(
            (a.response.to_le_bytes(), a.widened),
            ([11, 0, 0, 0, 0, 0, 0, 0], false)
        );
        assert_eq!(
            g.respond(&resp(RespCode::Success)),
            Err(GroupError::AnsweredTwice)
        );
        g.forward(&last, &vdev).unwrap();
        let a = g.respond(&resp(RespCode::Failure)).unwrap();
        assert_eq!(
            (a.response.code, a.widened),
            (IOMMUFD_PAGE_RESP_INVALID, true)
        );
        let mut r = resp(RespCode::Invalid);
        r.prg_index = 6;
        assert_eq!(g.respond(&r), Err(GroupError::NotOutstanding));
    }
}
