//! The PROBE properties of the vSVA drafts: what a device of a draft
//! reports beside the ratified `RESV_MEM` (the device's answer, written
//! after the PROBE request's readable part).
//!
//! Every property starts with `struct virtio_iommu_probe_property` (SPEC
//! "PROBE request"): le16 with the `type` in bits 0–11 (bits 12–15
//! reserved), le16 `length` = the size of the value without this 4-byte
//! header. Layouts (byte offsets from the property's start):
//!
//! | type | property | bytes | layout | source |
//! |---|---|---|---|---|
//! | 2 | PAGE_SIZE_MASK | 16 | u8\[4\] 4, le64 `mask` 8 | RFC21 06/15; DRAFT18 |
//! | 3 | INPUT_RANGE | 24 | u8\[4\] 4, le64 `start` 8, le64 `end` 16 | RFC21 06/15; DRAFT18 |
//! | 4 | OUTPUT_SIZE | 8 | u8 `bits` 4, u8\[3\] 5 | RFC21 06/15; DRAFT18 |
//! | 5 | PASID_SIZE | 8 | u8 `bits` 4, u8\[3\] 5 | RFC21 06/15; DRAFT18 |
//! | 6 | PAGE_TABLE_FMT (RFC 2021) | 8 | le16 `format` 4, u8\[2\] 6 | RFC21 06/15 |
//! | 7 | PASID_TABLE_FMT (RFC 2021) | 8 | le16 `format` 4, u8\[2\] 6 | RFC21 06/15 |
//! | 6 | PAGE_TABLE_FMT (2018, `pgtf_arm`) | 16 | le16 `format` (1) 4, u8 `asid_bits` 6, u8 7, le64 `flags` 8 | DRAFT18 |
//! | 7 | PASID_TABLE_FMT (2018, `pstf_arm`) | 16 | le16 `format` (2) 4, u8\[2\] 6, le64 `flags` 8 | DRAFT18 |
//!
//! RFC21 06/15 = "[PATCH RFC v1 06/15] iommu/virtio: Add headers for table
//! format probing", Vivek Gautam, 15 Jan 2021,
//! `<20210115121342.15093-7-vivek.gautam@arm.com>`; DRAFT18 = the 2018
//! Linux uapi header "Virtio-iommu definition v0.9-devel" (Arm), whose
//! driver reads type 6 as `pgtf_arm` and type 7 as `pstf_arm`. The formats:
//! `FORMAT_PGTF_ARM_LPAE` 1, `FORMAT_PSTF_ARM_SMMU_V3` 2 (both drafts). The
//! v0.13 specification draft the 2021 review pointed to (one
//! `PROBE_T_TABLE_FORMAT`) is not public in a citable form: not
//! implemented. The drafts say nothing of reserved bytes: decoding refuses
//! them when non-zero, as the crate's draft requests do. Which properties
//! a device reports is its configuration (`device::DraftProbe`, feature
//! `virtqueue`).

use crate::cmd::{FORMAT_PGTF_ARM_LPAE, FORMAT_PSTF_ARM_SMMU_V3};
use crate::features::Draft;
use crate::layout::{layout, le, Layout, Values, MAX_FIELDS};
use iommu_inval_core::DecodeError;

/// `VIRTIO_IOMMU_PROBE_T_RESV_MEM` (SPEC "PROBE properties"): the ratified
/// property, `struct virtio_iommu_probe_resv_mem` (u8 `subtype` 4, u8\[3\]
/// 5, le64 `start` 8, le64 `end` 16).
#[cfg(feature = "virtqueue")]
pub(crate) const RESV_MEM: Layout = layout!(
    "RESV_MEM", 24, [(0, 2, 1, "type"), (2, 2, 20, "length")],
    { subtype @ 4: 1, start @ 8: 8, end @ 16: 8 }
);

/// The drafts' properties (the [module docs](self)' table), in
/// [`DraftProperty`] order, each with the draft whose driver reads it
/// (`None`: both). The header is two codes: `type` and `length` (the size
/// less the header).
const DRAFT_PROPS: [(Layout, Option<Draft>); 8] = [
    (
        layout!("PAGE_SIZE_MASK", 16, [(0, 2, 2, "type"), (2, 2, 12, "length")], { mask @ 8: 8 }),
        None,
    ),
    (
        layout!(
            "INPUT_RANGE", 24, [(0, 2, 3, "type"), (2, 2, 20, "length")],
            { start @ 8: 8, end @ 16: 8 }
        ),
        None,
    ),
    (
        layout!("OUTPUT_SIZE", 8, [(0, 2, 4, "type"), (2, 2, 4, "length")], { bits @ 4: 1 }),
        None,
    ),
    (
        layout!("PASID_SIZE", 8, [(0, 2, 5, "type"), (2, 2, 4, "length")], { bits @ 4: 1 }),
        None,
    ),
    (
        layout!("PAGE_TABLE_FMT", 8, [(0, 2, 6, "type"), (2, 2, 4, "length")], { format @ 4: 2 }),
        Some(Draft::Rfc2021),
    ),
    (
        layout!("PASID_TABLE_FMT", 8, [(0, 2, 7, "type"), (2, 2, 4, "length")], { format @ 4: 2 }),
        Some(Draft::Rfc2021),
    ),
    (
        layout!(
            "PGTF_ARM", 16,
            [(0, 2, 6, "type"), (2, 2, 12, "length"), (4, 2, FORMAT_PGTF_ARM_LPAE as u64, "format")],
            { asid_bits @ 6: 1, flags @ 8: 8 }
        ),
        Some(Draft::Brucker2018),
    ),
    (
        layout!(
            "PSTF_ARM", 16,
            [(0, 2, 7, "type"), (2, 2, 12, "length"), (4, 2, FORMAT_PSTF_ARM_SMMU_V3 as u64, "format")],
            { flags @ 8: 8 }
        ),
        Some(Draft::Brucker2018),
    ),
];

/// A PROBE property of a vSVA draft (layouts in the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DraftProperty {
    /// `PAGE_SIZE_MASK` (2): the page sizes of the endpoint's tables.
    PageSizeMask(u64),
    /// `INPUT_RANGE` (3): the endpoint's input addresses, `end` inclusive.
    InputRange {
        /// First address.
        start: u64,
        /// Last address.
        end: u64,
    },
    /// `OUTPUT_SIZE` (4): output address bits.
    OutputSize(u8),
    /// `PASID_SIZE` (5): PASID bits.
    PasidSize(u8),
    /// `PAGE_TABLE_FMT` (6) of the 2021 RFC: the page-table `format`.
    PageTableFormat(u16),
    /// `PASID_TABLE_FMT` (7) of the 2021 RFC: the PASID-table `format`.
    PasidTableFormat(u16),
    /// `PAGE_TABLE_FMT` (6) of the 2018 draft, `pgtf_arm` (format Arm
    /// LPAE): ASID bits and flags (`HW_ACCESS` 1, `HW_DIRTY` 2, `HW_FLOAT`
    /// 4, `HPD` 8).
    PgtfArm {
        /// `asid_bits`.
        asid_bits: u8,
        /// `flags`.
        flags: u64,
    },
    /// `PASID_TABLE_FMT` (7) of the 2018 draft, `pstf_arm` (format SMMUv3):
    /// flags (`STALL` 1, `STALL_FORCE` 2, `BTM` 4).
    PstfArm {
        /// `flags`.
        flags: u64,
    },
}

impl DraftProperty {
    /// Its row of [`DRAFT_PROPS`].
    const fn row(&self) -> usize {
        match self {
            DraftProperty::PageSizeMask(_) => 0,
            DraftProperty::InputRange { .. } => 1,
            DraftProperty::OutputSize(_) => 2,
            DraftProperty::PasidSize(_) => 3,
            DraftProperty::PageTableFormat(_) => 4,
            DraftProperty::PasidTableFormat(_) => 5,
            DraftProperty::PgtfArm { .. } => 6,
            DraftProperty::PstfArm { .. } => 7,
        }
    }

    /// Its layout.
    const fn layout(&self) -> &'static Layout {
        &DRAFT_PROPS[self.row()].0
    }

    /// Its field values, in table order.
    fn values(&self) -> Values {
        let mut v = [0u64; MAX_FIELDS];
        let (a, b) = match *self {
            DraftProperty::PageSizeMask(x) => (x, 0),
            DraftProperty::InputRange { start, end } => (start, end),
            DraftProperty::OutputSize(x) | DraftProperty::PasidSize(x) => (x.into(), 0),
            DraftProperty::PageTableFormat(x) | DraftProperty::PasidTableFormat(x) => (x.into(), 0),
            DraftProperty::PgtfArm { asid_bits, flags } => (asid_bits.into(), flags),
            DraftProperty::PstfArm { flags } => (flags, 0),
        };
        (v[0], v[1]) = (a, b);
        v
    }

    /// The property of row `row` with the field values `v` (each within
    /// its field's width).
    fn from_values(row: usize, v: &Values) -> DraftProperty {
        let (a, b) = (v[0], v[1]);
        match row {
            0 => DraftProperty::PageSizeMask(a),
            1 => DraftProperty::InputRange { start: a, end: b },
            2 => DraftProperty::OutputSize(a as u8),
            3 => DraftProperty::PasidSize(a as u8),
            4 => DraftProperty::PageTableFormat(a as u16),
            5 => DraftProperty::PasidTableFormat(a as u16),
            6 => DraftProperty::PgtfArm {
                asid_bits: a as u8,
                flags: b,
            },
            _ => DraftProperty::PstfArm { flags: a },
        }
    }

    /// The property `type`.
    pub const fn kind(&self) -> u16 {
        self.layout().code() as u16
    }

    /// Its size in bytes, the 4-byte header included (`length` + 4).
    pub const fn size(&self) -> usize {
        self.layout().len
    }

    /// Write the property at the start of `out` (reserved bytes zero);
    /// returns its size, or `bad_length` when `out` is shorter.
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize, DecodeError> {
        match self.layout().write(&self.values(), out) {
            0 => Err(DecodeError::bad_length(out.len())),
            n => Ok(n),
        }
    }

    /// Decode the property at the start of `bytes` as a driver of `draft`
    /// reads it (the next one starts [`size`](Self::size) bytes on).
    /// Refused: fewer bytes than the header says or a `length` other than
    /// the type's (`bad_length`), reserved header bits or reserved bytes
    /// (`reserved`), a type the draft does not define or no draft
    /// (`unknown_opcode`), a 2018 table property of another format
    /// (`invalid`).
    pub fn decode(bytes: &[u8], draft: Draft) -> Result<DraftProperty, DecodeError> {
        let h = bytes.get(..4).ok_or(DecodeError::bad_length(bytes.len()))?;
        let word = le(h, 0, 2);
        if word & 0xf000 != 0 {
            return Err(DecodeError::reserved(0, word & 0xf000));
        }
        let kind = word & 0xfff;
        let len = le(h, 2, 2) as usize + 4;
        let body = bytes
            .get(..len)
            .filter(|_| len <= 24)
            .ok_or(DecodeError::bad_length(bytes.len()))?;
        let row = DRAFT_PROPS.iter().position(|(l, d)| {
            draft != Draft::None && l.code() == kind && d.is_none_or(|d| d == draft)
        });
        let Some((l, _)) = row.and_then(|r| DRAFT_PROPS.get(r)) else {
            return Err(DecodeError::unknown_opcode(kind));
        };
        if len != l.len {
            return Err(DecodeError::bad_length(len));
        }
        l.codes_match(body)?;
        l.check(body)?;
        let v = l.read(body);
        Ok(Self::from_values(row.unwrap_or(0), &v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes and offsets of every layout (RFC21 06/15; DRAFT18).
    #[test]
    fn layouts() {
        let mut b = [0u8; 24];
        let cases: [(DraftProperty, &[u8]); 8] = [
            (
                DraftProperty::PageSizeMask(0x20_1000),
                &[2, 0, 12, 0, 0, 0, 0, 0, 0, 0x10, 0x20, 0, 0, 0, 0, 0],
            ),
            (
                DraftProperty::InputRange {
                    start: 0x1000,
                    end: 0xffff_ffff,
                },
                &[
                    3, 0, 20, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0,
                    0, 0, 0,
                ],
            ),
            (DraftProperty::OutputSize(48), &[4, 0, 4, 0, 48, 0, 0, 0]),
            (DraftProperty::PasidSize(20), &[5, 0, 4, 0, 20, 0, 0, 0]),
            (DraftProperty::PageTableFormat(1), &[6, 0, 4, 0, 1, 0, 0, 0]),
            (
                DraftProperty::PasidTableFormat(2),
                &[7, 0, 4, 0, 2, 0, 0, 0],
            ),
            (
                DraftProperty::PgtfArm {
                    asid_bits: 16,
                    flags: 0b1011,
                },
                &[6, 0, 12, 0, 1, 0, 16, 0, 0b1011, 0, 0, 0, 0, 0, 0, 0],
            ),
            (
                DraftProperty::PstfArm { flags: 0b100 },
                &[7, 0, 12, 0, 2, 0, 0, 0, 0b100, 0, 0, 0, 0, 0, 0, 0],
            ),
        ];
        for (p, want) in cases {
            assert_eq!(p.encode_into(&mut b), Ok(want.len()), "{p:?}");
            assert_eq!(&b[..want.len()], want, "{p:?}");
            assert_eq!(p.size(), want.len());
            let draft = match p {
                DraftProperty::PgtfArm { .. } | DraftProperty::PstfArm { .. } => Draft::Brucker2018,
                _ => Draft::Rfc2021,
            };
            assert_eq!(DraftProperty::decode(want, draft), Ok(p));
            // A byte short: refused.
            let short = p.encode_into(&mut b[..want.len() - 1]);
            assert!(short.is_err());
            assert!(DraftProperty::decode(&want[..want.len() - 1], draft).is_err());
        }
        // The types shared by both drafts read the same under both.
        let out = [4u8, 0, 4, 0, 48, 0, 0, 0];
        assert_eq!(
            DraftProperty::decode(&out, Draft::Brucker2018),
            Ok(DraftProperty::OutputSize(48))
        );
    }

    #[test]
    fn refusals() {
        use iommu_inval_core::ErrorKind;
        let kind = |b: &[u8], d| DraftProperty::decode(b, d).map_err(|e| e.kind);
        let out = [4u8, 0, 4, 0, 48, 0, 0, 0];
        // No draft: no draft property.
        assert_eq!(kind(&out, Draft::None), Err(ErrorKind::UnknownOpcode));
        // Reserved header bits, a reserved byte.
        assert_eq!(
            kind(&[4, 0x10, 4, 0, 48, 0, 0, 0], Draft::Rfc2021),
            Err(ErrorKind::ReservedBits)
        );
        assert_eq!(
            kind(&[4, 0, 4, 0, 48, 0, 1, 0], Draft::Rfc2021),
            Err(ErrorKind::ReservedBits)
        );
        // A length other than the type's.
        assert_eq!(
            kind(&[4, 0, 8, 0, 48, 0, 0, 0, 0, 0, 0, 0], Draft::Rfc2021),
            Err(ErrorKind::BadLength)
        );
        // Unknown type (RESV_MEM is the ratified device's, not a draft's).
        assert_eq!(
            kind(&[8, 0, 4, 0, 0, 0, 0, 0], Draft::Rfc2021),
            Err(ErrorKind::UnknownOpcode)
        );
        // 2018 pgtf_arm of another format.
        let mut b = [0u8; 16];
        DraftProperty::PgtfArm {
            asid_bits: 8,
            flags: 0,
        }
        .encode_into(&mut b)
        .unwrap();
        b[4] = 2;
        assert_eq!(kind(&b, Draft::Brucker2018), Err(ErrorKind::InvalidField));
    }

    /// A refusal names its bits in their word, as every layout of the
    /// crate does: the set bits of a reserved byte, the bytes of `format`
    /// (they were the byte's value and the format's value, unshifted).
    #[test]
    fn refusals_name_their_bits() {
        let out = [4u8, 0, 4, 0, 48, 0, 0x81, 0];
        assert_eq!(
            DraftProperty::decode(&out, Draft::Rfc2021),
            Err(DecodeError::reserved(0, 0x81 << 48))
        );
        let mut range = [0u8; 24];
        (range[0], range[2], range[5]) = (3, 20, 1);
        assert_eq!(
            DraftProperty::decode(&range, Draft::Brucker2018),
            Err(DecodeError::reserved(0, 1 << 40))
        );
        let pgtf = [6u8, 0, 12, 0, 2, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            DraftProperty::decode(&pgtf, Draft::Brucker2018),
            Err(DecodeError::invalid(0, 0xffff << 32, "format"))
        );
    }
}
