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

use crate::cmd::{le16, le64, FORMAT_PGTF_ARM_LPAE, FORMAT_PSTF_ARM_SMMU_V3};
use crate::features::Draft;
use iommu_inval_core::DecodeError;

const T_PAGE_SIZE_MASK: u16 = 2;
const T_INPUT_RANGE: u16 = 3;
const T_OUTPUT_SIZE: u16 = 4;
const T_PASID_SIZE: u16 = 5;
const T_PAGE_TABLE_FMT: u16 = 6;
const T_PASID_TABLE_FMT: u16 = 7;

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
    /// The property `type`.
    pub const fn kind(&self) -> u16 {
        match self {
            DraftProperty::PageSizeMask(_) => T_PAGE_SIZE_MASK,
            DraftProperty::InputRange { .. } => T_INPUT_RANGE,
            DraftProperty::OutputSize(_) => T_OUTPUT_SIZE,
            DraftProperty::PasidSize(_) => T_PASID_SIZE,
            DraftProperty::PageTableFormat(_) | DraftProperty::PgtfArm { .. } => T_PAGE_TABLE_FMT,
            DraftProperty::PasidTableFormat(_) | DraftProperty::PstfArm { .. } => T_PASID_TABLE_FMT,
        }
    }

    /// Its size in bytes, the 4-byte header included (`length` + 4).
    pub const fn size(&self) -> usize {
        match self {
            DraftProperty::InputRange { .. } => 24,
            DraftProperty::PageSizeMask(_)
            | DraftProperty::PgtfArm { .. }
            | DraftProperty::PstfArm { .. } => 16,
            _ => 8,
        }
    }

    /// Write the property at the start of `out` (reserved bytes zero);
    /// returns its size, or `bad_length` when `out` is shorter.
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize, DecodeError> {
        let n = self.size();
        let got = out.len();
        let b = out.get_mut(..n).ok_or(DecodeError::bad_length(got))?;
        b.fill(0);
        b[0..2].copy_from_slice(&self.kind().to_le_bytes());
        // n - 4 fits: at most 20.
        b[2..4].copy_from_slice(&((n - 4) as u16).to_le_bytes());
        match *self {
            DraftProperty::PageSizeMask(m) => b[8..16].copy_from_slice(&m.to_le_bytes()),
            DraftProperty::InputRange { start, end } => {
                b[8..16].copy_from_slice(&start.to_le_bytes());
                b[16..24].copy_from_slice(&end.to_le_bytes());
            }
            DraftProperty::OutputSize(bits) | DraftProperty::PasidSize(bits) => b[4] = bits,
            DraftProperty::PageTableFormat(f) | DraftProperty::PasidTableFormat(f) => {
                b[4..6].copy_from_slice(&f.to_le_bytes());
            }
            DraftProperty::PgtfArm { asid_bits, flags } => {
                b[4..6].copy_from_slice(&FORMAT_PGTF_ARM_LPAE.to_le_bytes());
                b[6] = asid_bits;
                b[8..16].copy_from_slice(&flags.to_le_bytes());
            }
            DraftProperty::PstfArm { flags } => {
                b[4..6].copy_from_slice(&FORMAT_PSTF_ARM_SMMU_V3.to_le_bytes());
                b[8..16].copy_from_slice(&flags.to_le_bytes());
            }
        }
        Ok(n)
    }

    /// Decode the property at the start of `bytes` as a driver of `draft`
    /// reads it (the next one starts [`size`](Self::size) bytes on).
    /// Refused: fewer bytes than the header says or a `length` other than
    /// the type's (`bad_length`), reserved header bits or reserved bytes
    /// (`reserved`), a type the draft does not define or no draft
    /// (`unknown_opcode`), a 2018 table property of another format
    /// (`invalid`).
    pub fn decode(bytes: &[u8], draft: Draft) -> Result<DraftProperty, DecodeError> {
        let h: &[u8; 4] = bytes
            .get(..4)
            .and_then(|h| h.try_into().ok())
            .ok_or(DecodeError::bad_length(bytes.len()))?;
        let word = le16(h, 0);
        if word & 0xf000 != 0 {
            return Err(DecodeError::reserved(0, u64::from(word & 0xf000)));
        }
        let kind = word & 0xfff;
        let len = usize::from(le16(h, 2)) + 4;
        let mut b = [0u8; 24];
        let body = bytes
            .get(..len)
            .filter(|_| len <= b.len())
            .ok_or(DecodeError::bad_length(bytes.len()))?;
        b[..len].copy_from_slice(body);
        let v2018 = draft == Draft::Brucker2018;
        let p = match kind {
            _ if draft == Draft::None => return Err(DecodeError::unknown_opcode(kind.into())),
            T_PAGE_SIZE_MASK => DraftProperty::PageSizeMask(le64(&b, 8)),
            T_INPUT_RANGE => DraftProperty::InputRange {
                start: le64(&b, 8),
                end: le64(&b, 16),
            },
            T_OUTPUT_SIZE => DraftProperty::OutputSize(b[4]),
            T_PASID_SIZE => DraftProperty::PasidSize(b[4]),
            T_PAGE_TABLE_FMT if v2018 => DraftProperty::PgtfArm {
                asid_bits: b[6],
                flags: le64(&b, 8),
            },
            T_PASID_TABLE_FMT if v2018 => DraftProperty::PstfArm { flags: le64(&b, 8) },
            T_PAGE_TABLE_FMT => DraftProperty::PageTableFormat(le16(&b, 4)),
            T_PASID_TABLE_FMT => DraftProperty::PasidTableFormat(le16(&b, 4)),
            _ => return Err(DecodeError::unknown_opcode(kind.into())),
        };
        if len != p.size() {
            return Err(DecodeError::bad_length(len));
        }
        let format = le16(&b, 4);
        match p {
            DraftProperty::PgtfArm { .. } if format != FORMAT_PGTF_ARM_LPAE => {
                return Err(DecodeError::invalid(0, format.into(), "format"));
            }
            DraftProperty::PstfArm { .. } if format != FORMAT_PSTF_ARM_SMMU_V3 => {
                return Err(DecodeError::invalid(0, format.into(), "format"));
            }
            _ => {}
        }
        // Re-encoding gives back every byte unless a reserved one was set.
        let mut again = [0u8; 24];
        p.encode_into(&mut again)?;
        if let Some(i) = (0..len).find(|&i| again[i] != b[i]) {
            return Err(DecodeError::reserved((i / 8) as u8, u64::from(b[i])));
        }
        Ok(p)
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
}
