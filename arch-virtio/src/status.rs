//! The device's answers: the tail's status codes ([`Status`], SPEC
//! §"Device operations"), the status of each refusal ([`refusal`]), and the
//! fault record of the event queue ([`Fault`], SPEC §"Fault reporting").

use crate::cmd::{len_of_type, why};
use crate::layout::{layout, Layout};
use iommu_inval_core::{DecodeError, ErrorKind};

/// `VIRTIO_IOMMU_S_*`: the `status` byte of a request's tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[repr(u8)]
pub enum Status {
    /// `S_OK` (0): "All good! Carry on."
    Ok = 0,
    /// `S_IOERR` (1): virtio communication error.
    IoErr = 1,
    /// `S_UNSUPP` (2): unsupported request.
    Unsupp = 2,
    /// `S_DEVERR` (3): internal device error.
    DevErr = 3,
    /// `S_INVAL` (4): invalid parameters.
    Inval = 4,
    /// `S_RANGE` (5): out-of-range parameters.
    Range = 5,
    /// `S_NOENT` (6): entry not found.
    NoEnt = 6,
    /// `S_FAULT` (7): bad address.
    Fault = 7,
    /// `S_NOMEM` (8): insufficient resources.
    NoMem = 8,
}

impl Status {
    /// Every status, by value.
    pub const ALL: [Status; 9] = [
        Status::Ok,
        Status::IoErr,
        Status::Unsupp,
        Status::DevErr,
        Status::Inval,
        Status::Range,
        Status::NoEnt,
        Status::Fault,
        Status::NoMem,
    ];

    /// The status of byte `v`, `None` for a value the spec does not define.
    pub const fn from_u8(v: u8) -> Option<Status> {
        if (v as usize) < Self::ALL.len() {
            Some(Self::ALL[v as usize])
        } else {
            None
        }
    }

    /// The spec's name (`VIRTIO_IOMMU_S_OK`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Status::Ok => "VIRTIO_IOMMU_S_OK",
            Status::IoErr => "VIRTIO_IOMMU_S_IOERR",
            Status::Unsupp => "VIRTIO_IOMMU_S_UNSUPP",
            Status::DevErr => "VIRTIO_IOMMU_S_DEVERR",
            Status::Inval => "VIRTIO_IOMMU_S_INVAL",
            Status::Range => "VIRTIO_IOMMU_S_RANGE",
            Status::NoEnt => "VIRTIO_IOMMU_S_NOENT",
            Status::Fault => "VIRTIO_IOMMU_S_FAULT",
            Status::NoMem => "VIRTIO_IOMMU_S_NOMEM",
        }
    }

    /// The 4-byte tail with this status (`reserved` zero, as the device SHOULD).
    pub const fn tail(self) -> [u8; 4] {
        [self as u8, 0, 0, 0]
    }
}

/// What a device answers to the readable part `readable` of a request that
/// [`Command::decode_bytes_with`](crate::Command::decode_bytes_with)
/// refused with `e`: the status to write in the tail, or `None` when the
/// device writes nothing and sets the used length to 0.
///
/// | refusal | answer | source |
/// |---|---|---|
/// | unknown type | `None` | SPEC "Device operations": SHOULD NOT write, used length 0 |
/// | PROBE without `F_PROBE` | `None` | SPEC "PROBE request": SHOULD NOT write, used length 0 |
/// | readable part shorter than the type's | `None` | SPEC "Device operations": a request the device cannot parse is returned unwritten |
/// | readable part longer than the type's | `S_INVAL` | spec silent; cloud-hypervisor answers S_INVAL (Linux never sends one) |
/// | ATTACH_TABLE / INVALIDATE on a device without that draft | `S_UNSUPP` | issue 31: a ratified device refuses the drafts |
/// | MAP / UNMAP without `F_MAP_UNMAP` | `S_UNSUPP` | spec silent ("only available when ... negotiated") |
/// | ATTACH `reserved` ≠ 0, unknown ATTACH / MAP flag, `MAP_F_MMIO` without `F_MMIO`, `ATTACH_F_BYPASS` without `F_BYPASS_CONFIG` | `S_INVAL` | SPEC: MUST S_INVAL |
/// | MAP `virt_end` ≤ `virt_start` | `S_INVAL` | spec silent (driver MUST NOT); crosvm |
/// | draft reserved bytes, values outside a draft's enumerations | `S_INVAL` | drafts silent |
/// | outside `input_range` / `domain_range` | `S_RANGE` | spec: "fails", no code; cloud-hypervisor S_RANGE |
///
/// ```
/// use iommu_inval_virtio::{status::{refusal, Status}, Command, Features};
/// // ATTACH with a non-zero reserved byte: MUST S_INVAL.
/// let mut b = [0u8; 20];
/// b[0] = 1;
/// b[19] = 1;
/// let e = Command::decode_bytes_with(&b, &Features::ALL).unwrap_err();
/// assert_eq!(refusal(&b, &e), Some(Status::Inval));
/// // An unknown type: nothing written.
/// let e = Command::decode_bytes_with(&[9, 0, 0, 0], &Features::ALL).unwrap_err();
/// assert_eq!(refusal(&[9, 0, 0, 0], &e), None);
/// ```
pub fn refusal(readable: &[u8], e: &DecodeError) -> Option<Status> {
    match e.kind {
        ErrorKind::UnknownOpcode => match e.field {
            why::DRAFT | why::MAP_UNMAP => Some(Status::Unsupp),
            // An unknown type, or PROBE without F_PROBE.
            _ => None,
        },
        ErrorKind::BadLength => {
            let want = readable.first().copied().and_then(len_of_type)?;
            (readable.len() > want).then_some(Status::Inval)
        }
        ErrorKind::ReservedBits => Some(Status::Inval),
        ErrorKind::InvalidField => match e.field {
            why::INPUT_RANGE | why::DOMAIN_RANGE => Some(Status::Range),
            _ => Some(Status::Inval),
        },
        _ => Some(Status::DevErr),
    }
}

/// `VIRTIO_IOMMU_FAULT_F_READ`.
pub const FAULT_F_READ: u32 = 1 << 0;
/// `VIRTIO_IOMMU_FAULT_F_WRITE`.
pub const FAULT_F_WRITE: u32 = 1 << 1;
/// `VIRTIO_IOMMU_FAULT_F_ADDRESS`: `address` is valid.
pub const FAULT_F_ADDRESS: u32 = 1 << 8;

/// The fault `reason` (`VIRTIO_IOMMU_FAULT_R_*`; its byte is `reason as u8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FaultReason {
    /// `FAULT_R_UNKNOWN` (0), and every value the spec does not define
    /// (the driver SHOULD treat them so).
    Unknown = 0,
    /// `FAULT_R_DOMAIN` (1): access while not attached to a domain.
    Domain = 1,
    /// `FAULT_R_MAPPING` (2): access to an unmapped address or without the
    /// mapping's permission.
    Mapping = 2,
}

/// A fault report of the event queue (`struct virtio_iommu_fault`, 24
/// bytes, SPEC §"Fault reporting"): `u8 reason` 0, `u8 reserved[3]` 1,
/// `le32 flags` 4, `le32 endpoint` 8, `le32 reserved1` 12, `le64 address` 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Fault {
    /// `reason` as written ([`Fault::reason`] reads it).
    pub reason: u8,
    /// `flags` as written: [`FAULT_F_READ`], [`FAULT_F_WRITE`],
    /// [`FAULT_F_ADDRESS`]; the driver MUST ignore other bits (kept).
    pub flags: u32,
    /// `endpoint`.
    pub endpoint: u32,
    /// `reserved1` (the driver MUST ignore it; kept).
    pub reserved1: u32,
    /// `address` (valid with [`FAULT_F_ADDRESS`]).
    pub address: u64,
}

/// `struct virtio_iommu_fault`: bytes 1 to 3 (`reserved`) are the only
/// reserved ones.
const FAULT: Layout = layout!(
    "FAULT", Fault::LEN, [],
    { reason @ 0: 1, flags @ 4: 4, endpoint @ 8: 4, reserved1 @ 12: 4, address @ 16: 8 }
);

impl Fault {
    /// Size of the record.
    pub const LEN: usize = 24;

    /// Decode a record as the driver does: exactly 24 bytes (Linux refuses a
    /// longer one), and `reserved` (bytes 1 to 3) zero — non-zero, the
    /// driver MUST ignore the whole report: `reserved`.
    pub fn decode(bytes: &[u8]) -> Result<Fault, DecodeError> {
        if bytes.len() != Self::LEN {
            return Err(DecodeError::bad_length(bytes.len()));
        }
        FAULT.check(bytes)?;
        let v = FAULT.read(bytes);
        let [reason, flags, endpoint, reserved1, address, ..] = v;
        Ok(Fault {
            reason: reason as u8,
            flags: flags as u32,
            endpoint: endpoint as u32,
            reserved1: reserved1 as u32,
            address,
        })
    }

    /// The 24 bytes of the record (`reserved` zero).
    pub fn encode(&self) -> [u8; 24] {
        let mut b = [0u8; Self::LEN];
        let f = [self.reason.into(), self.flags.into(), self.endpoint.into()];
        let v = [
            f[0],
            f[1],
            f[2],
            self.reserved1.into(),
            self.address,
            0,
            0,
            0,
            0,
            0,
        ];
        FAULT.write(&v, &mut b);
        b
    }

    /// The reason as the driver reads it (undefined values are `Unknown`).
    pub const fn reason(&self) -> FaultReason {
        match self.reason {
            1 => FaultReason::Domain,
            2 => FaultReason::Mapping,
            _ => FaultReason::Unknown,
        }
    }

    /// The faulting address, when [`FAULT_F_ADDRESS`] says it is valid.
    pub const fn address(&self) -> Option<u64> {
        if self.flags & FAULT_F_ADDRESS != 0 {
            Some(self.address)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_values_and_names() {
        for (k, s) in Status::ALL.iter().enumerate() {
            assert_eq!(*s as u8 as usize, k);
            assert_eq!(Status::from_u8(k as u8), Some(*s));
            assert!(s.name().starts_with("VIRTIO_IOMMU_S_"));
        }
        assert_eq!(Status::from_u8(9), None);
        assert_eq!(Status::NoEnt.tail(), [6, 0, 0, 0]);
    }

    /// The fault record's fields where the spec puts them.
    #[test]
    fn fault_record_layout() {
        let f = Fault {
            reason: 2,
            flags: FAULT_F_WRITE | FAULT_F_ADDRESS,
            endpoint: 0x0102_0304,
            reserved1: 0,
            address: 0x1122_3344_5566_7788,
        };
        let b = f.encode();
        assert_eq!(
            b,
            [
                2, 0, 0, 0, 0x02, 0x01, 0, 0, 0x04, 0x03, 0x02, 0x01, 0, 0, 0, 0, 0x88, 0x77, 0x66,
                0x55, 0x44, 0x33, 0x22, 0x11
            ]
        );
        assert_eq!(Fault::decode(&b), Ok(f));
        assert_eq!(f.reason(), FaultReason::Mapping);
        assert_eq!(f.address(), Some(0x1122_3344_5566_7788));
        // Undefined reason → UNKNOWN; ignored flags and reserved1 kept.
        let mut b2 = b;
        b2[0] = 9;
        b2[7] = 0x80;
        b2[12] = 5;
        let g = Fault::decode(&b2).unwrap();
        assert_eq!(g.reason(), FaultReason::Unknown);
        assert_eq!(g.encode(), b2);
        // Non-zero reserved: the driver ignores the report.
        let mut b3 = b;
        b3[2] = 1;
        assert_eq!(Fault::decode(&b3), Err(DecodeError::reserved(0, 0x1_0000)));
        assert_eq!(Fault::decode(&b[..23]), Err(DecodeError::bad_length(23)));
        assert_eq!(Fault::decode(&[0; 32]), Err(DecodeError::bad_length(32)));
    }
}
