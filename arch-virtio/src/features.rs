//! What a virtio-iommu device offers, for decoding and lowering:
//! [`Features`] (its negotiated feature bits and configuration space, SPEC
//! §"Feature bits" and §"Device configuration layout"), and which vSVA
//! draft it implements ([`Draft`]).
//!
//! The drafts are **not** feature bits: every draft reuses feature-bit
//! numbers that the ratified specification gave to something else (2018:
//! `F_ATTACH_TABLE` = 5 = ratified `F_MMIO`; 2021: `F_ATTACH_TABLE` = 6 =
//! ratified `F_BYPASS_CONFIG`), so "this device implements draft X" is a
//! configuration choice of the device model, [`Features::draft`]. A device
//! with [`Draft::None`] refuses request types 6 (ATTACH_TABLE) and 7
//! (INVALIDATE) with `VIRTIO_IOMMU_S_UNSUPP`.
//!
//! | field | source | refuses when absent |
//! |---|---|---|
//! | `F_MAP_UNMAP` (bit 2) | feature bits | MAP, UNMAP (S_UNSUPP) |
//! | `F_PROBE` (bit 4) | feature bits | PROBE (nothing written, used length 0: SPEC §"PROBE request") |
//! | `F_MMIO` (bit 5) | feature bits | MAP with `MAP_F_MMIO` (an unrecognised flag: S_INVAL) |
//! | `F_BYPASS_CONFIG` (bit 6) | feature bits | ATTACH with `ATTACH_F_BYPASS` (S_INVAL) |
//! | `F_INPUT_RANGE` (bit 0) + `input_range` | config | MAP / UNMAP outside it (S_RANGE, as cloud-hypervisor: the spec says only "fails") |
//! | `F_DOMAIN_RANGE` (bit 1) + `domain_range` | config | a `domain` outside it (S_RANGE; the spec names no code) |
//! | [`Draft`] | device model | ATTACH_TABLE, INVALIDATE (S_UNSUPP) |

use crate::layout::{layout, Layout};
#[cfg(doc)]
use crate::Command;
use iommu_inval_core::DecodeError;

/// `VIRTIO_IOMMU_F_INPUT_RANGE`: `input_range` is valid.
pub const F_INPUT_RANGE: u64 = 1 << 0;
/// `VIRTIO_IOMMU_F_DOMAIN_RANGE`: `domain_range` is valid.
pub const F_DOMAIN_RANGE: u64 = 1 << 1;
/// `VIRTIO_IOMMU_F_MAP_UNMAP`: MAP and UNMAP are available.
pub const F_MAP_UNMAP: u64 = 1 << 2;
/// `VIRTIO_IOMMU_F_BYPASS`: unattached endpoints bypass (superseded by
/// `F_BYPASS_CONFIG`).
pub const F_BYPASS: u64 = 1 << 3;
/// `VIRTIO_IOMMU_F_PROBE`: PROBE is available.
pub const F_PROBE: u64 = 1 << 4;
/// `VIRTIO_IOMMU_F_MMIO`: `VIRTIO_IOMMU_MAP_F_MMIO` is available.
pub const F_MMIO: u64 = 1 << 5;
/// `VIRTIO_IOMMU_F_BYPASS_CONFIG`: the config's `bypass` decides for
/// unattached endpoints, and `ATTACH_F_BYPASS` makes bypass domains.
pub const F_BYPASS_CONFIG: u64 = 1 << 6;
/// Every feature bit of the ratified specification (bits 0 to 6).
pub const F_ALL: u64 = 0x7f;

/// Which unratified vSVA draft the device implements (none, for a device
/// of the ratified specification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Draft {
    /// The ratified specification only: request types 6 and 7 are refused.
    #[default]
    None,
    /// The 2018 draft by Jean-Philippe Brucker in its "v0.9-devel" Linux
    /// uapi copy (`struct virtio_iommu_req_invalidate` of 64 bytes:
    /// `scope`, `flags`, `domain`, `pasid`, `id`, `virt_start`, `nr_pages`,
    /// `granule`), the layout the 2018 Linux driver patch uses. Its older
    /// "v0.7" QEMU copy (52 bytes, unfinished) is not implemented.
    Brucker2018,
    /// The RFC series "[PATCH RFC v1 nn/15]" by Vivek Gautam (patches by
    /// Jean-Philippe Brucker), 15 Jan 2021, patches 11/15 and 12/15
    /// (`inv_gran`, `inv_type`, `flags`, `domain`, `pasid`, `archid`,
    /// `virt_start`, `nr_pages`, `granule`). The v0.13 specification draft
    /// it was reworked into, and the undated "v0.12" header, are not
    /// implemented (their layouts are not public in a citable form).
    Rfc2021,
}

impl Draft {
    /// The name used in presets and docs (`none`, `brucker-2018`, `rfc-2021`).
    pub const fn name(self) -> &'static str {
        match self {
            Draft::None => "none",
            Draft::Brucker2018 => "brucker-2018",
            Draft::Rfc2021 => "rfc-2021",
        }
    }
}

/// A virtio-iommu device as the driver sees it: the negotiated feature
/// bits, the configuration space and the draft it implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Features {
    /// The negotiated feature bits (`F_*`, bits 0 to 6; other bits are ignored).
    pub bits: u64,
    /// `page_size_mask`: the least significant set bit is the mapping
    /// granule (SPEC: the device MUST set at least one bit).
    pub page_size_mask: u64,
    /// `input_range.start`, `input_range.end` (inclusive): valid with
    /// `F_INPUT_RANGE`; without it every 64-bit address.
    pub input_range: (u64, u64),
    /// `domain_range.start`, `domain_range.end` (inclusive): valid with
    /// `F_DOMAIN_RANGE`; without it every 32-bit domain.
    pub domain_range: (u32, u32),
    /// `probe_size`: the size of a PROBE's `properties` (with `F_PROBE`).
    pub probe_size: u32,
    /// `bypass` (with `F_BYPASS_CONFIG`): unattached endpoints bypass.
    pub bypass: bool,
    /// The vSVA draft the device implements.
    pub draft: Draft,
}

/// 4 KiB and 2 MiB pages: cloud-hypervisor's `page_size_mask`.
const PSM_4K_2M: u64 = 0x1000 | 0x20_0000;

impl Features {
    /// Everything: every ratified feature bit, byte granule, the whole
    /// address and domain space, a PROBE buffer for one RESV_MEM property,
    /// and the 2021 RFC (the newest draft).
    pub const ALL: Features = Features {
        bits: F_ALL,
        page_size_mask: !0,
        input_range: (0, u64::MAX),
        domain_range: (0, u32::MAX),
        probe_size: 24,
        bypass: false,
        draft: Draft::Rfc2021,
    };

    /// The newest ratified device (virtio 1.2 / 1.3: the same text): every
    /// feature bit, no draft.
    pub const VIRTIO_1_2: Features = Features {
        draft: Draft::None,
        ..Features::ALL
    };

    /// cloud-hypervisor's device (`virtio-devices/src/iommu.rs`): MAP_UNMAP,
    /// PROBE, BYPASS_CONFIG; 4 KiB granule with 2 MiB hint; `probe_size` 24
    /// (one RESV_MEM property); the whole 64-bit input range.
    pub const CLOUD_HYPERVISOR: Features = Features {
        bits: F_MAP_UNMAP | F_PROBE | F_BYPASS_CONFIG,
        page_size_mask: PSM_4K_2M,
        input_range: (0, u64::MAX),
        domain_range: (0, u32::MAX),
        probe_size: 24,
        bypass: false,
        draft: Draft::None,
    };

    /// crosvm's device (`devices/src/virtio/iommu.rs`): MAP_UNMAP,
    /// INPUT_RANGE, MMIO and PROBE (x86_64), 4 KiB granule, `probe_size`
    /// 24. Its `input_range` is the host's; here the whole 64-bit space.
    pub const CROSVM: Features = Features {
        bits: F_MAP_UNMAP | F_INPUT_RANGE | F_MMIO | F_PROBE,
        page_size_mask: 0x1000,
        ..Features::CLOUD_HYPERVISOR
    };

    /// A device of the 2018 draft: MAP_UNMAP, INPUT_RANGE, PROBE (bit 5 is
    /// the draft's `F_ATTACH_TABLE`, so no ratified `F_MMIO`).
    pub const VSVA_2018: Features = Features {
        bits: F_MAP_UNMAP | F_INPUT_RANGE | F_PROBE,
        page_size_mask: 0x1000,
        draft: Draft::Brucker2018,
        ..Features::CLOUD_HYPERVISOR
    };

    /// A device of the 2021 RFC: bits 0 to 5 but BYPASS (bit 6 is the
    /// RFC's `F_ATTACH_TABLE`, so no ratified `F_BYPASS_CONFIG`).
    pub const VSVA_2021: Features = Features {
        bits: F_INPUT_RANGE | F_DOMAIN_RANGE | F_MAP_UNMAP | F_PROBE | F_MMIO,
        page_size_mask: 0x1000,
        draft: Draft::Rfc2021,
        ..Features::CLOUD_HYPERVISOR
    };

    /// True when feature bit(s) `f` are negotiated.
    #[inline]
    pub const fn has(&self, f: u64) -> bool {
        self.bits & f == f
    }

    /// log2 of the mapping granule: the least significant set bit of
    /// `page_size_mask` (12 when the mask is 0, which a device must not
    /// present).
    #[inline]
    pub const fn granule_shift(&self) -> u32 {
        if self.page_size_mask == 0 {
            12
        } else {
            self.page_size_mask.trailing_zeros()
        }
    }

    /// The features of a device offering feature bits `bits` whose
    /// configuration space (`struct virtio_iommu_config`, 40 bytes at
    /// least) reads `config`, with `draft`. Fields whose feature is not
    /// offered read as the spec's default (every address, every domain, no
    /// probe, no bypass). A shorter `config` is `bad_length` (in bytes).
    ///
    /// | offset | field |
    /// |---|---|
    /// | 0 | le64 `page_size_mask` |
    /// | 8, 16 | le64 `input_range.start`, `.end` |
    /// | 24, 28 | le32 `domain_range.start`, `.end` |
    /// | 32 | le32 `probe_size` |
    /// | 36 | u8 `bypass` (bits 1 to 7 ignored, as the driver SHOULD) |
    ///
    /// ```
    /// use iommu_inval_virtio::{Draft, Features, F_MAP_UNMAP, F_PROBE};
    /// let mut cfg = [0u8; 40];
    /// cfg[0..8].copy_from_slice(&0x1000u64.to_le_bytes());
    /// cfg[32] = 24;
    /// let f = Features::from_config(F_MAP_UNMAP | F_PROBE, &cfg, Draft::None).unwrap();
    /// assert_eq!((f.granule_shift(), f.probe_size, f.input_range.1), (12, 24, u64::MAX));
    /// ```
    pub fn from_config(bits: u64, config: &[u8], draft: Draft) -> Result<Features, DecodeError> {
        let Some(c) = config.first_chunk::<CONFIG_LEN>() else {
            return Err(DecodeError::bad_length(config.len()));
        };
        let [page_size_mask, input_start, input_end, domain_start, domain_end, probe_size, bypass, ..] =
            CONFIG.read(c);
        let f = Features {
            bits: bits & F_ALL,
            page_size_mask,
            input_range: (0, u64::MAX),
            domain_range: (0, u32::MAX),
            probe_size: 0,
            bypass: false,
            draft,
        };
        Ok(Features {
            input_range: if f.has(F_INPUT_RANGE) {
                (input_start, input_end)
            } else {
                f.input_range
            },
            domain_range: if f.has(F_DOMAIN_RANGE) {
                (domain_start as u32, domain_end as u32)
            } else {
                f.domain_range
            },
            probe_size: if f.has(F_PROBE) { probe_size as u32 } else { 0 },
            bypass: f.has(F_BYPASS_CONFIG) && bypass & 1 != 0,
            ..f
        })
    }
}

/// Size of `struct virtio_iommu_config` (SPEC §"Device configuration layout").
pub const CONFIG_LEN: usize = 40;

/// `struct virtio_iommu_config` (the table of [`Features::from_config`]):
/// bytes 37 to 39 are padding.
pub(crate) const CONFIG: Layout = layout!(
    "virtio_iommu_config", CONFIG_LEN, [],
    {
        page_size_mask @ 0: 8, input_start @ 8: 8, input_end @ 16: 8, domain_start @ 24: 4,
        domain_end @ 28: 4, probe_size @ 32: 4, bypass @ 36: 1,
    }
);

iommu_inval_core::feature_set!(Features {
    latest: Features::ALL,
    /// [`Features::CLOUD_HYPERVISOR`]: the device a VMM of this project
    /// most likely forwards to (and the one Linux negotiates with there).
    host: Features::CLOUD_HYPERVISOR,
    /// `virtio-1.2` is the newest ratified device (every feature bit, no
    /// draft; 1.3 has the same text); `cloud-hypervisor` and `crosvm` the
    /// two VMMs' devices; `vsva-2018` and `vsva-2021` devices of the two
    /// drafts; `latest` everything with the 2021 RFC.
    presets: [
        "virtio-1.2" => Features::VIRTIO_1_2,
        "cloud-hypervisor" => Features::CLOUD_HYPERVISOR,
        "crosvm" => Features::CROSVM,
        "vsva-2018" => Features::VSVA_2018,
        "vsva-2021" => Features::VSVA_2021,
    ],
});

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::FeatureSet;
    use std::vec::Vec;

    #[test]
    fn config_fields_where_the_spec_puts_them() {
        let mut c = [0u8; 40];
        c[0..8].copy_from_slice(&0x20_1000u64.to_le_bytes());
        c[8..16].copy_from_slice(&0x1000u64.to_le_bytes());
        c[16..24].copy_from_slice(&0xffff_ffffu64.to_le_bytes());
        c[24..28].copy_from_slice(&1u32.to_le_bytes());
        c[28..32].copy_from_slice(&99u32.to_le_bytes());
        c[32..36].copy_from_slice(&48u32.to_le_bytes());
        c[36] = 0xff; // bits 1..7 ignored
        let f = Features::from_config(!0, &c, Draft::Rfc2021).unwrap();
        assert_eq!(f.bits, F_ALL);
        assert_eq!(f.granule_shift(), 12);
        assert_eq!(f.input_range, (0x1000, 0xffff_ffff));
        assert_eq!(f.domain_range, (1, 99));
        assert_eq!((f.probe_size, f.bypass), (48, true));
        // Without the features, the defaults.
        let f = Features::from_config(F_MAP_UNMAP, &c, Draft::None).unwrap();
        assert_eq!(f.input_range, (0, u64::MAX));
        assert_eq!(f.domain_range, (0, u32::MAX));
        assert_eq!((f.probe_size, f.bypass), (0, false));
        assert_eq!(
            Features::from_config(0, &c[..39], Draft::None),
            Err(DecodeError::bad_length(39))
        );
    }

    #[test]
    fn presets() {
        let names: Vec<_> = Features::preset_names().collect();
        assert_eq!(
            names,
            [
                "virtio-1.2",
                "cloud-hypervisor",
                "crosvm",
                "vsva-2018",
                "vsva-2021",
                "latest"
            ]
        );
        assert_eq!(Features::HOST, Features::CLOUD_HYPERVISOR);
        assert_eq!(Features::default(), Features::ALL);
        // The drafts' F_ATTACH_TABLE bits are not offered as ratified bits.
        assert!(!Features::VSVA_2018.has(F_MMIO));
        assert!(!Features::VSVA_2021.has(F_BYPASS_CONFIG));
        assert_eq!(Features::CLOUD_HYPERVISOR.granule_shift(), 12);
    }
}
