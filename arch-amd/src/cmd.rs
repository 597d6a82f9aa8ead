//! The AMD-Vi command codec (AMD IOMMU spec #48882, §2.4 "Commands").
//!
//! Every command is 128 bits, stored as two little-endian 64-bit words
//! (`w0` = dword0 | dword1 << 32, `w1` = dword2 | dword3 << 32), opcode in
//! `w0[63:60]`. Field names and positions are those of the AMD-Vi table of
//! the command tables (docs/SPEC.md). Any bit not covered by a field is reserved: a
//! command with one set is refused, as the hardware logs
//! ILLEGAL_COMMAND_ERROR for it (§2.4, §2.5 "Event Logging").
//!
//! The codec is exact on bytes: fields the hardware ignores in some mode
//! (`pasid` with `gn` = 0, `store_address` with `s` = 0) are decoded and
//! encoded back unchanged.

use iommu_inval_core::native::word::{self, bit, flag as b};
use iommu_inval_core::native::{ArchId, FieldError};
use iommu_inval_core::DecodeError;

/// Opcode of COMPLETION_WAIT.
pub(crate) const OP_COMPLETION_WAIT: u8 = 0x1;
/// Opcode of INVALIDATE_DEVTAB_ENTRY.
pub(crate) const OP_INVALIDATE_DEVTAB_ENTRY: u8 = 0x2;
/// Opcode of INVALIDATE_IOMMU_PAGES.
pub(crate) const OP_INVALIDATE_IOMMU_PAGES: u8 = 0x3;
/// Opcode of INVALIDATE_IOTLB_PAGES.
pub(crate) const OP_INVALIDATE_IOTLB_PAGES: u8 = 0x4;
/// Opcode of INVALIDATE_INTERRUPT_TABLE.
pub(crate) const OP_INVALIDATE_INTERRUPT_TABLE: u8 = 0x5;
/// Opcode of PREFETCH_IOMMU_PAGES.
pub(crate) const OP_PREFETCH_IOMMU_PAGES: u8 = 0x6;
/// Opcode of COMPLETE_PPR_REQUEST.
pub(crate) const OP_COMPLETE_PPR_REQUEST: u8 = 0x7;
/// Opcode of INVALIDATE_IOMMU_ALL.
pub(crate) const OP_INVALIDATE_IOMMU_ALL: u8 = 0x8;
/// Opcode of INSERT_GUEST_EVENT (AMD IOMMU revision 3.x, vIOMMU).
pub(crate) const OP_INSERT_GUEST_EVENT: u8 = 0x9;
/// Opcode of RESET_VMMIO (AMD IOMMU revision 3.x, vIOMMU).
pub(crate) const OP_RESET_VMMIO: u8 = 0xa;

/// The `s` = 1 address that means "all pages" (§2.4.3 / §2.4.4).
pub const ALL_PAGES_ADDRESS: u64 = 0x7fff_ffff_ffff_f000;

/// Mask of the 52-bit page address field `w1[63:12]`.
pub(crate) const ADDR_MASK: u64 = !0xfff;
/// Mask of COMPLETION_WAIT `store_address` (`w0[51:3]`, byte address).
pub(crate) const STORE_ADDR_MASK: u64 = 0x000f_ffff_ffff_fff8;
/// Largest 20-bit PASID.
pub(crate) const PASID_MAX: u32 = (1 << 20) - 1;

const OPCODE_SHIFT: u32 = 60;
/// INVALIDATE_IOTLB_PAGES `type`: `w1[5:4]` (see [`InvalidateIotlbPages`]).
const IOTLB_TYPE_SHIFT: u32 = 4;
/// RESET_VMMIO `all`: `w0[28]` (see [`ResetVmmio`]).
const RESET_VMMIO_ALL: u32 = 28;
const OPCODE_MASK: u64 = 0xf << OPCODE_SHIFT;

/// COMPLETION_WAIT (opcode 0x1, §2.4.1): wait for every earlier command;
/// then optionally store `store_data` at `store_address` (`s`), raise the
/// completion interrupt (`i`); `f` makes later commands wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CompletionWait {
    /// `w0[0]`: store `store_data` at `store_address` on completion.
    pub s: bool,
    /// `w0[1]`: raise the completion-wait interrupt.
    pub i: bool,
    /// `w0[2]`: flush/fence: later commands start after this one completes.
    pub f: bool,
    /// `w0[51:3]`: byte address, 8-byte aligned, below 2^52 (kept when `s` = 0).
    pub store_address: u64,
    /// `w1[63:0]`: the 64-bit datum stored.
    pub store_data: u64,
}

/// INVALIDATE_DEVTAB_ENTRY (opcode 0x2, §2.4.2): the device table entry of
/// `device_id` (which also holds the GCR3 root of its PASID table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct InvalidateDevtabEntry {
    /// `w0[15:0]`: DeviceID (PCI requester id).
    pub device_id: u16,
}

/// INVALIDATE_IOMMU_PAGES (opcode 0x3, §2.4.3): IOMMU TLB (and, with `pde`,
/// page-directory cache) entries of a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct InvalidateIommuPages {
    /// `w0[19:0]`: PASID (used with `gn` = 1; kept as written otherwise).
    pub pasid: u32,
    /// `w0[47:32]`: DomainID.
    pub domain_id: u16,
    /// `w1[0]`: size: the address encodes a range (lowest zero bit ≥ 12).
    pub s: bool,
    /// `w1[1]`: also page-directory (non-leaf) entries.
    pub pde: bool,
    /// `w1[2]`: guest (PASID-tagged) translations of `pasid`.
    pub gn: bool,
    /// `w1[63:12]`: byte address (low 12 bits zero).
    pub address: u64,
}

/// INVALIDATE_IOTLB_PAGES (opcode 0x4, §2.4.4): an ATS invalidation request
/// sent to the device TLB of `device_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct InvalidateIotlbPages {
    /// `w0[15:0]`: DeviceID.
    pub device_id: u16,
    /// PASID, 20 bits: `pasid[15:8]` in `w0[23:16]`, `pasid[7:0]` in
    /// `w0[55:48]` and, from AMD IOMMU revision 3.x, `pasid[19:16]` in
    /// `w0[59:56]` (the layout of the public FreeBSD `amdiommu` register
    /// header; Linux writes only the low 16 bits).
    pub pasid: u32,
    /// `w0[31:24]`: maximum pending invalidations of the device.
    pub maxpend: u8,
    /// `w0[47:32]`: queue id (invalidation tag source).
    pub queue_id: u16,
    /// `w1[0]`: size (ATS size encoding of `address`).
    pub s: bool,
    /// `w1[2]`: the request carries `pasid` (PASID prefix).
    pub gn: bool,
    /// `w1[5:4]`: the 2-bit "Type" field (JSON name `type`). Named at these
    /// bits by FreeBSD's `amdiommu` header (`type:2`) and VirtualBox's AMD
    /// IOMMU header ("Bit 69:68 - Type"), and left out of the reserved bits
    /// QEMU's AMD IOMMU model checks for this command; no public source
    /// gives its meaning, so every value is kept as written (the lowering
    /// writes 0, as Linux does; the lift ignores it, docs/REVISIONS.md).
    pub inv_type: u8,
    /// `w1[63:12]`: byte address (low 12 bits zero).
    pub address: u64,
}

/// INVALIDATE_INTERRUPT_TABLE (opcode 0x5, §2.4.5): every cached interrupt
/// remapping entry of `device_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct InvalidateInterruptTable {
    /// `w0[15:0]`: DeviceID.
    pub device_id: u16,
}

/// PREFETCH_IOMMU_PAGES (opcode 0x6, §2.4.6): load translations ahead of
/// use (a hint); `inv` invalidates them first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PrefetchIommuPages {
    /// `w0[15:0]`: DeviceID.
    pub device_id: u16,
    /// `w0[31:24]`: number of translations to prefetch.
    pub pfcount: u8,
    /// `w0[51:32]`: PASID (with `gn` = 1).
    pub pasid: u32,
    /// `w1[0]`: size.
    pub s: bool,
    /// `w1[2]`: guest (PASID-tagged) translation.
    pub gn: bool,
    /// `w1[4]`: invalidate the translations before prefetching.
    pub inv: bool,
    /// `w1[63:12]`: byte address (low 12 bits zero).
    pub address: u64,
}

/// COMPLETE_PPR_REQUEST (opcode 0x7, §2.4.7): send a PRG Response for a
/// peripheral page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CompletePprRequest {
    /// `w0[15:0]`: DeviceID.
    pub device_id: u16,
    /// `w0[51:32]`: PASID (with `gn` = 1).
    pub pasid: u32,
    /// `w1[2]`: the request had a PASID (guest).
    pub gn: bool,
    /// `w1[40:32]`: PRG index (completion tag).
    pub tag: u16,
    /// `w1[47:44]`: PCIe response code: 0 success, 1 invalid request, 0xf
    /// failure; other values are PCIe-reserved but forwarded (see the crate
    /// docs for the decision).
    pub status: u8,
}

/// INVALIDATE_IOMMU_ALL (opcode 0x8, §2.4.8): every cache inside the IOMMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct InvalidateIommuAll;

/// INSERT_GUEST_EVENT (opcode 0x9, AMD IOMMU revision 3.x): the hypervisor
/// asks the vIOMMU hardware to add an event to the event log of guest
/// `guest_id` (`w0[47:32]`). Not an invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct InsertGuestEvent {
    /// `w0[47:32]`: the guest (vIOMMU GuestID).
    pub guest_id: u16,
}

/// RESET_VMMIO (opcode 0xa, AMD IOMMU revision 3.x): reset the vIOMMU MMIO
/// state of guest `guest_id` (`w0[15:0]`); `all` (`w0[28]`) for every
/// guest, `vcmd` (`w0[31]`) for the guest's command buffer. Not an
/// invalidation.
///
/// `all` is bit 28 as AMD's own vIOMMU driver writes it (`build_reset_vmmio`
/// in "iommu/amd: Introduce Reset vMMIO Command", the 2023 vIOMMU RFC
/// series, sets `1 << 28` beside VCmd `1 << 31`); FreeBSD's `amdiommu`
/// header, whose dword 1 of this command is one bit short, has bit 27.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ResetVmmio {
    /// `w0[15:0]`: the guest (vIOMMU GuestID).
    pub guest_id: u16,
    /// `w0[28]`: every guest.
    pub all: bool,
    /// `w0[31]`: the guest's command buffer state.
    pub vcmd: bool,
}

/// One AMD-Vi command.
///
/// ```
/// use iommu_inval_amd::{Command, InvalidateIommuPages};
/// use iommu_inval_core::NativeCommand;
/// // Domain 5, 8 KiB at 0x2000 (s = 1, bit 12 clear), pde, host translations.
/// let w = [0x3000_0005_0000_0000, 0x0000_0000_0000_2003];
/// let c = Command::decode(&w).unwrap();
/// assert_eq!(c, Command::InvalidateIommuPages(InvalidateIommuPages {
///     pasid: 0, domain_id: 5, s: true, pde: true, gn: false, address: 0x2000 }));
/// assert_eq!(c.encode(), w);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Opcode 0x1.
    CompletionWait(CompletionWait),
    /// Opcode 0x2.
    InvalidateDevtabEntry(InvalidateDevtabEntry),
    /// Opcode 0x3.
    InvalidateIommuPages(InvalidateIommuPages),
    /// Opcode 0x4.
    InvalidateIotlbPages(InvalidateIotlbPages),
    /// Opcode 0x5.
    InvalidateInterruptTable(InvalidateInterruptTable),
    /// Opcode 0x6.
    PrefetchIommuPages(PrefetchIommuPages),
    /// Opcode 0x7.
    CompletePprRequest(CompletePprRequest),
    /// Opcode 0x8.
    InvalidateIommuAll(InvalidateIommuAll),
    /// Opcode 0x9 (revision 3.x).
    InsertGuestEvent(InsertGuestEvent),
    /// Opcode 0xa (revision 3.x).
    ResetVmmio(ResetVmmio),
}

/// Bits of `[w0, w1]` covered by the opcode or a field, per opcode
/// (index = opcode). Everything else is reserved. `[0, 0]` = unknown opcode.
const DEFINED: [[u64; 2]; 16] = {
    let op = OPCODE_MASK;
    let mut t = [[0u64; 2]; 16];
    // COMPLETION_WAIT: s, i, f, store_address[51:3]; store_data.
    t[1] = [op | 0x000f_ffff_ffff_ffff, u64::MAX];
    // INVALIDATE_DEVTAB_ENTRY: device_id.
    t[2] = [op | 0xffff, 0];
    // INVALIDATE_IOMMU_PAGES: pasid[19:0], domain_id[47:32]; s, pde, gn, address.
    t[3] = [op | 0x0000_ffff_000f_ffff, ADDR_MASK | 0b111];
    // INVALIDATE_IOTLB_PAGES: device_id, pasid[15:8], maxpend, queue_id,
    // pasid[7:0], pasid[19:16] (revision 3.x); s, gn, type[5:4], address.
    t[4] = [op | 0x0fff_ffff_ffff_ffff, ADDR_MASK | 0b11_0101];
    // INVALIDATE_INTERRUPT_TABLE: device_id.
    t[5] = [op | 0xffff, 0];
    // PREFETCH_IOMMU_PAGES: device_id, pfcount[31:24], pasid[51:32]; s, gn, inv, address.
    t[6] = [op | 0x000f_ffff_ff00_ffff, ADDR_MASK | 0b1_0101];
    // COMPLETE_PPR_REQUEST: device_id, pasid[51:32]; gn, tag[40:32], status[47:44].
    t[7] = [op | 0x000f_ffff_0000_ffff, 0x0000_f1ff_0000_0004];
    // INVALIDATE_IOMMU_ALL: nothing but the opcode.
    t[8] = [op, 0];
    // INSERT_GUEST_EVENT: guest_id[47:32].
    t[9] = [op | 0x0000_ffff_0000_0000, 0];
    // RESET_VMMIO: guest_id[15:0], all[28], vcmd[31].
    t[10] = [op | 0x9000_ffff, 0];
    t
};

/// The complement of [`DEFINED`]: the reserved bits of `[w0, w1]` per
/// opcode (all bits for an unknown one).
const RESERVED: [[u64; 2]; 16] = word::reserved(&DEFINED);

/// Widest values of the named fields.
const U8: u64 = 0xff;
const U16: u64 = 0xffff;
const P20: u64 = PASID_MAX as u64;

// The named-field table (docs/SPEC.md): op names, field names and widths.
iommu_inval_core::op_table! {
    Command;
    "COMPLETION_WAIT" => CompletionWait(CompletionWait) {
        s: bool, i: bool, f: bool, store_address: addr(STORE_ADDR_MASK), store_data: uint(u64::MAX)
    },
    "INVALIDATE_DEVTAB_ENTRY" => InvalidateDevtabEntry(InvalidateDevtabEntry) { device_id: uint(U16) },
    "INVALIDATE_IOMMU_PAGES" => InvalidateIommuPages(InvalidateIommuPages) {
        pasid: uint(P20), domain_id: uint(U16), s: bool, pde: bool, gn: bool, address: addr(ADDR_MASK)
    },
    "INVALIDATE_IOTLB_PAGES" => InvalidateIotlbPages(InvalidateIotlbPages) {
        device_id: uint(U16), pasid: uint(P20), maxpend: uint(U8), queue_id: uint(U16), s: bool,
        gn: bool, inv_type as "type": uint(0b11), address: addr(ADDR_MASK)
    },
    "INVALIDATE_INTERRUPT_TABLE" => InvalidateInterruptTable(InvalidateInterruptTable) {
        device_id: uint(U16)
    },
    "PREFETCH_IOMMU_PAGES" => PrefetchIommuPages(PrefetchIommuPages) {
        device_id: uint(U16), pfcount: uint(U8), pasid: uint(P20), s: bool, gn: bool, inv: bool,
        address: addr(ADDR_MASK)
    },
    "COMPLETE_PPR_REQUEST" => CompletePprRequest(CompletePprRequest) {
        device_id: uint(U16), pasid: uint(P20), gn: bool, tag: uint(0x1ff), status: uint(0xf)
    },
    "INVALIDATE_IOMMU_ALL" => InvalidateIommuAll(InvalidateIommuAll) {},
    "INSERT_GUEST_EVENT" => InsertGuestEvent(InsertGuestEvent) { guest_id: uint(U16) },
    "RESET_VMMIO" => ResetVmmio(ResetVmmio) { guest_id: uint(U16), all: bool, vcmd: bool },
}

/// The error of words [`Command::check_words`](iommu_inval_core::NativeCommand::check_words)'s fast test refused: the
/// decoder's own.
#[cold]
#[inline(never)]
fn check_error(w0: u64, w1: u64) -> Result<(), DecodeError> {
    Command::decode_words(w0, w1).map(|_| ())
}

impl Command {
    /// [`Command::decode`](iommu_inval_core::NativeCommand::decode) of two words.
    #[inline]
    pub(crate) fn decode_words(w0: u64, w1: u64) -> Result<Command, DecodeError> {
        let op = (w0 >> OPCODE_SHIFT) as usize & 0xf;
        // Reserved bits of both words: one test on the valid path. Every
        // bit of an unknown opcode is reserved, so it fails here unless
        // both words are zero, and then in the last arm below.
        let [r0, r1] = RESERVED[op];
        if (w0 & r0) | (w1 & r1) != 0 {
            return Err(if DEFINED[op][0] == 0 {
                DecodeError::unknown_opcode(op as u64)
            } else if w0 & r0 != 0 {
                DecodeError::reserved(0, w0 & r0)
            } else {
                DecodeError::reserved(1, w1 & r1)
            });
        }
        let dev = w0 as u16;
        Ok(match op as u8 {
            OP_COMPLETION_WAIT => Command::CompletionWait(CompletionWait {
                s: bit(w0, 0),
                i: bit(w0, 1),
                f: bit(w0, 2),
                store_address: w0 & STORE_ADDR_MASK,
                store_data: w1,
            }),
            OP_INVALIDATE_DEVTAB_ENTRY => {
                Command::InvalidateDevtabEntry(InvalidateDevtabEntry { device_id: dev })
            }
            OP_INVALIDATE_IOMMU_PAGES => Command::InvalidateIommuPages(InvalidateIommuPages {
                pasid: (w0 as u32) & PASID_MAX,
                domain_id: (w0 >> 32) as u16,
                s: bit(w1, 0),
                pde: bit(w1, 1),
                gn: bit(w1, 2),
                address: w1 & ADDR_MASK,
            }),
            OP_INVALIDATE_IOTLB_PAGES => Command::InvalidateIotlbPages(InvalidateIotlbPages {
                device_id: dev,
                pasid: ((((w0 >> 56) & 0xf) << 16)
                    | (((w0 >> 16) & 0xff) << 8)
                    | ((w0 >> 48) & 0xff)) as u32,
                maxpend: (w0 >> 24) as u8,
                queue_id: (w0 >> 32) as u16,
                s: bit(w1, 0),
                gn: bit(w1, 2),
                inv_type: ((w1 >> IOTLB_TYPE_SHIFT) & 0b11) as u8,
                address: w1 & ADDR_MASK,
            }),
            OP_INVALIDATE_INTERRUPT_TABLE => {
                Command::InvalidateInterruptTable(InvalidateInterruptTable { device_id: dev })
            }
            OP_PREFETCH_IOMMU_PAGES => Command::PrefetchIommuPages(PrefetchIommuPages {
                device_id: dev,
                pfcount: (w0 >> 24) as u8,
                pasid: ((w0 >> 32) as u32) & PASID_MAX,
                s: bit(w1, 0),
                gn: bit(w1, 2),
                inv: bit(w1, 4),
                address: w1 & ADDR_MASK,
            }),
            OP_COMPLETE_PPR_REQUEST => Command::CompletePprRequest(CompletePprRequest {
                device_id: dev,
                pasid: ((w0 >> 32) as u32) & PASID_MAX,
                gn: bit(w1, 2),
                tag: ((w1 >> 32) & 0x1ff) as u16,
                status: ((w1 >> 44) & 0xf) as u8,
            }),
            OP_INSERT_GUEST_EVENT => Command::InsertGuestEvent(InsertGuestEvent {
                guest_id: (w0 >> 32) as u16,
            }),
            OP_RESET_VMMIO => Command::ResetVmmio(ResetVmmio {
                guest_id: dev,
                all: bit(w0, RESET_VMMIO_ALL),
                vcmd: bit(w0, 31),
            }),
            OP_INVALIDATE_IOMMU_ALL => Command::InvalidateIommuAll(InvalidateIommuAll),
            _ => return Err(DecodeError::unknown_opcode(op as u64)),
        })
    }

    /// The opcode (`w0[63:60]`).
    pub const fn opcode(&self) -> u8 {
        match self {
            Command::CompletionWait(_) => OP_COMPLETION_WAIT,
            Command::InvalidateDevtabEntry(_) => OP_INVALIDATE_DEVTAB_ENTRY,
            Command::InvalidateIommuPages(_) => OP_INVALIDATE_IOMMU_PAGES,
            Command::InvalidateIotlbPages(_) => OP_INVALIDATE_IOTLB_PAGES,
            Command::InvalidateInterruptTable(_) => OP_INVALIDATE_INTERRUPT_TABLE,
            Command::PrefetchIommuPages(_) => OP_PREFETCH_IOMMU_PAGES,
            Command::CompletePprRequest(_) => OP_COMPLETE_PPR_REQUEST,
            Command::InvalidateIommuAll(_) => OP_INVALIDATE_IOMMU_ALL,
            Command::InsertGuestEvent(_) => OP_INSERT_GUEST_EVENT,
            Command::ResetVmmio(_) => OP_RESET_VMMIO,
        }
    }

    /// Encode to `[w0, w1]`. Exact for every decoded command. Field values
    /// wider than their field are masked to it (use [`Command::check`] or
    /// [`NativeCommand::from_fields`](iommu_inval_core::NativeCommand::from_fields) to refuse them instead).
    ///
    /// ```
    /// use iommu_inval_amd::{Command, CompletionWait};
    /// // COMPLETION_WAIT s = 1 (w0[0]), store at 0x1000 (w0[51:3]), data in w1.
    /// let c = Command::CompletionWait(CompletionWait {
    ///     s: true, store_address: 0x1000, store_data: 0xabcd, ..Default::default()
    /// });
    /// assert_eq!(c.encode(), [0x1000_0000_0000_1001, 0xabcd]);
    /// ```
    #[inline(always)]
    pub fn encode(&self) -> [u64; 2] {
        let op = u64::from(self.opcode()) << OPCODE_SHIFT;
        match *self {
            Command::CompletionWait(c) => [
                op | b(c.s, 0) | b(c.i, 1) | b(c.f, 2) | (c.store_address & STORE_ADDR_MASK),
                c.store_data,
            ],
            Command::InvalidateDevtabEntry(c) => [op | u64::from(c.device_id), 0],
            Command::InvalidateIommuPages(c) => [
                op | u64::from(c.pasid & PASID_MAX) | (u64::from(c.domain_id) << 32),
                (c.address & ADDR_MASK) | b(c.s, 0) | b(c.pde, 1) | b(c.gn, 2),
            ],
            Command::InvalidateIotlbPages(c) => [
                op | u64::from(c.device_id)
                    | (u64::from((c.pasid >> 8) & 0xff) << 16)
                    | (u64::from(c.maxpend) << 24)
                    | (u64::from(c.queue_id) << 32)
                    | (u64::from(c.pasid & 0xff) << 48)
                    | (u64::from((c.pasid >> 16) & 0xf) << 56),
                (c.address & ADDR_MASK)
                    | b(c.s, 0)
                    | b(c.gn, 2)
                    | (u64::from(c.inv_type & 0b11) << IOTLB_TYPE_SHIFT),
            ],
            Command::InvalidateInterruptTable(c) => [op | u64::from(c.device_id), 0],
            Command::PrefetchIommuPages(c) => [
                op | u64::from(c.device_id)
                    | (u64::from(c.pfcount) << 24)
                    | (u64::from(c.pasid & PASID_MAX) << 32),
                (c.address & ADDR_MASK) | b(c.s, 0) | b(c.gn, 2) | b(c.inv, 4),
            ],
            Command::CompletePprRequest(c) => [
                op | u64::from(c.device_id) | (u64::from(c.pasid & PASID_MAX) << 32),
                b(c.gn, 2) | (u64::from(c.tag & 0x1ff) << 32) | (u64::from(c.status & 0xf) << 44),
            ],
            Command::InvalidateIommuAll(_) => [op, 0],
            Command::InsertGuestEvent(c) => [op | (u64::from(c.guest_id) << 32), 0],
            Command::ResetVmmio(c) => [
                op | u64::from(c.guest_id) | b(c.all, RESET_VMMIO_ALL) | b(c.vcmd, 31),
                0,
            ],
        }
    }

    /// Check that every field value fits its field (`FieldError::TooWide`
    /// names the first that does not): 20-bit PASIDs, 2-bit `type`, 9-bit
    /// `tag`, 4-bit `status`, page addresses with the low 12 bits clear, a
    /// store address 8-byte aligned below 2^52.
    pub fn check(&self) -> Result<(), FieldError> {
        self.check_fields()
    }
}

iommu_inval_core::native_command! {
    Command: ArchId::Amd, crate::Features, |cmd, features| features.check(cmd);
    op_names OP_NAMES, op = name, encode = encode,
    from_fields = ALL_FIELD_NAMES, blank, set_field, Ok,
    fields = visit_fields, Command::names_of;

    /// Decode one command from its two words (`w0`, `w1`).
    ///
    /// Errors: `bad_length` unless exactly 2 words; `unknown_opcode` for an
    /// opcode outside 0x1..=0xa; `reserved_bits` (word and mask of the
    /// offending bits, `w0` first) when a bit no field covers is set.
    ///
    /// ```
    /// use iommu_inval_amd::{Command, InvalidateDevtabEntry};
    /// use iommu_inval_core::ErrorKind;
    /// use iommu_inval_core::NativeCommand;
    /// // INVALIDATE_DEVTAB_ENTRY (opcode 2 in w0[63:60]), DeviceID 0x1234 in w0[15:0].
    /// let c = Command::decode(&[0x2000_0000_0000_1234, 0]).unwrap();
    /// assert_eq!(c, Command::InvalidateDevtabEntry(InvalidateDevtabEntry { device_id: 0x1234 }));
    /// assert_eq!(c.encode(), [0x2000_0000_0000_1234, 0]);
    /// // w0[16] is reserved for this opcode: refused with the offending bit.
    /// let e = Command::decode(&[0x2000_0000_0001_1234, 0]).unwrap_err();
    /// assert_eq!((e.kind, e.word, e.mask), (ErrorKind::ReservedBits, 0, 0x1_0000));
    /// // Opcode 0xb does not exist; three words are not a command.
    /// assert_eq!(Command::decode(&[0xb000_0000_0000_0000, 0]).unwrap_err().kind, ErrorKind::UnknownOpcode);
    /// assert_eq!(Command::decode(&[0, 0, 0]).unwrap_err().kind, ErrorKind::BadLength);
    /// ```
    #[inline]
    fn decode(words: &[u64]) -> Result<Command, DecodeError> {
        let &[w0, w1] = words else {
            return Err(DecodeError::bad_length(words.len()));
        };
        Self::decode_words(w0, w1)
    }

    /// Whether two words decode, without building the command: `Ok`
    /// exactly when [`Command::decode`](iommu_inval_core::NativeCommand::decode) is `Ok`, else the same error (the
    /// [`NativeCommand::check_words`](iommu_inval_core::NativeCommand::check_words) of AMD-Vi): one table look-up of the
    /// reserved bits. (Not [`Command::check`], which checks a built
    /// command's field widths.)
    ///
    /// ```
    /// use iommu_inval_amd::Command;
    /// use iommu_inval_core::{copy_checked, ErrorKind};
    /// use iommu_inval_core::NativeCommand;
    /// // INVALIDATE_DEVTAB_ENTRY 0x1234, then one with reserved bit w0[16] set.
    /// let guest = [0x2000_0000_0000_1234, 0, 0x2000_0000_0001_1234, 0];
    /// assert!(Command::check_words(&guest[..2]).is_ok());
    /// let mut host = [0u64; 4];
    /// let e = copy_checked::<Command>(&guest, &mut host, 2).unwrap_err();
    /// assert_eq!((e.index, e.error.kind, e.error.mask), (1, ErrorKind::ReservedBits, 0x1_0000));
    /// assert_eq!(host[..2], guest[..2]);
    /// ```
    #[inline(always)]
    fn check_words(words: &[u64]) -> Result<(), DecodeError> {
        let &[w0, w1] = words else {
            return Err(DecodeError::bad_length(words.len()));
        };
        let [r0, r1] = RESERVED[(w0 >> OPCODE_SHIFT) as usize & 0xf];
        // Every bit of an unknown opcode is reserved, so only zero words
        // pass the mask; no command has w0 = 0 (its opcode is not 0).
        if ((w0 & r0) | (w1 & r1) != 0) | (w0 == 0) {
            return check_error(w0, w1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::ErrorKind;
    use iommu_inval_core::NativeCommand;

    /// The one-test fast path against the documented order of the checks
    /// (unknown opcode, reserved bits of `w0`, then of `w1`), on words with
    /// several faults at once (the all-zero words of opcode 0 included).
    #[test]
    fn several_faults_give_the_first_in_order() {
        let mut rnd = iommu_inval_core::arb::xorshift(0x2545_f491_4f6c_dd1du64);
        for i in 0..200_000u64 {
            let op = rnd() % 16;
            let [d0, d1] = DEFINED[op as usize];
            let mut w = [op << OPCODE_SHIFT | (rnd() & d0 & !OPCODE_MASK), rnd() & d1];
            for wi in w.iter_mut() {
                if rnd().is_multiple_of(4) {
                    *wi |= 1 << (rnd() % 60);
                }
            }
            if i % 16 == 0 {
                w = [op << OPCODE_SHIFT, 0];
            }
            let want = if d0 == 0 {
                Err(DecodeError::unknown_opcode(op))
            } else if w[0] & !d0 != 0 {
                Err(DecodeError::reserved(0, w[0] & !d0))
            } else if w[1] & !d1 != 0 {
                Err(DecodeError::reserved(1, w[1] & !d1))
            } else {
                Ok(w)
            };
            let got = Command::decode(&w).map(|c| c.encode());
            assert_eq!(got, want, "{:#x} {:#x}", w[0], w[1]);
        }
    }

    #[test]
    fn defined_masks_cover_exactly_the_table() {
        // Hand-written from the table, bit by bit, independent of DEFINED.
        /// (word, low bit, high bit) of each field.
        type Spans = &'static [(u32, u32, u32)];
        let fields: [(usize, Spans); 10] = [
            (
                1,
                &[(0, 0, 0), (0, 1, 1), (0, 2, 2), (0, 3, 51), (1, 0, 63)],
            ),
            (2, &[(0, 0, 15)]),
            (
                3,
                &[
                    (0, 0, 19),
                    (0, 32, 47),
                    (1, 0, 0),
                    (1, 1, 1),
                    (1, 2, 2),
                    (1, 12, 63),
                ],
            ),
            (
                4,
                &[
                    (0, 0, 15),
                    (0, 16, 23),
                    (0, 24, 31),
                    (0, 32, 47),
                    (0, 48, 55),
                    (0, 56, 59),
                    (1, 0, 0),
                    (1, 2, 2),
                    (1, 4, 5),
                    (1, 12, 63),
                ],
            ),
            (5, &[(0, 0, 15)]),
            (
                6,
                &[
                    (0, 0, 15),
                    (0, 24, 31),
                    (0, 32, 51),
                    (1, 0, 0),
                    (1, 2, 2),
                    (1, 4, 4),
                    (1, 12, 63),
                ],
            ),
            (
                7,
                &[(0, 0, 15), (0, 32, 51), (1, 2, 2), (1, 32, 40), (1, 44, 47)],
            ),
            (8, &[]),
            (9, &[(0, 32, 47)]),
            (10, &[(0, 0, 15), (0, 28, 28), (0, 31, 31)]),
        ];
        for (op, fs) in fields {
            let mut m = [0xf000_0000_0000_0000u64, 0];
            for &(w, lo, hi) in fs {
                for bit in lo..=hi {
                    m[w as usize] |= 1 << bit;
                }
            }
            assert_eq!(DEFINED[op], m, "opcode {op}");
        }
        for op in [0usize, 11, 12, 13, 14, 15] {
            assert_eq!(DEFINED[op], [0, 0]);
        }
    }

    #[test]
    fn every_reserved_bit_is_refused_alone() {
        for op in 1u64..=8 {
            let base = [op << 60, 0];
            assert!(Command::decode(&base).is_ok(), "opcode {op} all-zero");
            for w in 0..2 {
                for bit in 0..64 {
                    let mut words = base;
                    words[w] |= 1 << bit;
                    let defined = DEFINED[op as usize][w] & (1 << bit) != 0;
                    match Command::decode(&words) {
                        Ok(c) => {
                            assert!(defined, "op {op} w{w} bit {bit} accepted");
                            assert_eq!(c.encode(), words);
                        }
                        Err(e) => {
                            assert!(!defined || (w == 0 && bit >= 60), "op {op} w{w} bit {bit}");
                            if !(w == 0 && bit >= 60) {
                                assert_eq!(e, DecodeError::reserved(w as u8, 1 << bit));
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn unknown_opcodes_and_lengths() {
        for op in [0u64, 0xb, 0xf] {
            let e = Command::decode(&[op << 60, 0]).unwrap_err();
            assert_eq!(e.kind, ErrorKind::UnknownOpcode);
            assert_eq!(e.mask, op);
        }
        assert_eq!(
            Command::decode(&[0x8000_0000_0000_0000]).unwrap_err().kind,
            ErrorKind::BadLength
        );
        assert_eq!(
            Command::decode(&[0, 0, 0]).unwrap_err(),
            DecodeError::bad_length(3)
        );
    }
}
