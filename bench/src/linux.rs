//! What the Linux IOMMU drivers emit for one IOTLB range invalidation,
//! reimplemented from their documented behaviour (facts only; the drivers
//! are GPL and no code or comment is copied). Kernel version: v6.12 unless
//! said otherwise.
//!
//! * SMMUv3, `__arm_smmu_tlb_inv_range` (drivers/iommu/arm/arm-smmu-v3/
//!   arm-smmu-v3.c): without range invalidation (no `ARM_SMMU_FEAT_RANGE_INV`)
//!   one TLBI per leaf `granule` from `iova` while below `iova + size`; with
//!   it, `num_pages = size >> tg` (tg = log2 of the smallest page size) and
//!   per command `scale = __ffs(num_pages)`, `num = (num_pages >> scale) & 31`,
//!   covering `num << (scale + tg)` bytes, then `num_pages -= num << scale`
//!   (chunks from the low bits up). A non-leaf invalidation whose page count
//!   has `num_pages & 31 == 1` gets one extra page (v6.8+, an erratum
//!   workaround that keeps `num`/`scale` from both being 0). TTL is the level
//!   of the leaf granule for leaf invalidations, 0 otherwise.
//!   The SVA path `arm_smmu_mm_arch_invalidate_secondary_tlbs` (v6.6+) turns
//!   a range of at least `CMDQ_MAX_TLBI_OPS` (= 512) pages into one
//!   ASID-wide TLBI when there is no range invalidation.
//!   Whole space (`iommu_flush_iotlb_all`): one TLBI_NH_ASID / S12_VMALL.
//! * VT-d, `calculate_psi_aligned_address` (drivers/iommu/intel/cache.c,
//!   v6.10+): `pages = aligned_nrpages(start, size)`, `mask =
//!   ilog2(roundup_pow_of_two(pages))`; when the start pfn is not aligned to
//!   that, the mask becomes the lowest bit at or above it where start and
//!   end pfn agree (`__ffs(~(pfn ^ end_pfn) & ~bitmask)`, or 52 when none);
//!   the address is aligned down to `4 KiB << mask`. `cache_tag_flush_iotlb`:
//!   second level (iotlb_inv_dsc) falls back to a domain-selective flush when
//!   `mask > CAP.MAMV`; first level (p_iotlb_inv_dsc) always uses the
//!   page-selective-within-PASID form with that mask. Whole space
//!   (`cache_tag_flush_all`): one domain- or PASID-selective descriptor.
//! * AMD-Vi, `build_inv_address` (drivers/iommu/amd/iommu.c, v5.11+): one
//!   page: `s` = 0; otherwise `msb_diff = fls64(end ^ start) - 1`; above 51
//!   the all-pages address, else `start | ((1 << msb_diff) - 1)`, page
//!   aligned, `s` = 1: the naturally aligned block of `2^(msb_diff + 1)`
//!   bytes holding the range, in one INVALIDATE_IOMMU_PAGES.
//! * RISC-V, `riscv_iommu_iotlb_inval` (drivers/iommu/riscv/iommu.c, v6.13):
//!   for a gathered range `[start, end]` shorter than
//!   `RISCV_IOMMU_IOTLB_INVAL_LIMIT` (2 MiB), one IOTINVAL.VMA (`PSCV`,
//!   the domain's PSCID, `AV`) per 4 KiB step from `start` while below
//!   `end`; from 2 MiB (and for the whole space) one IOTINVAL.VMA without
//!   `AV`: every address of the PSCID. No range (`S`) or non-leaf (`NL`)
//!   operand is used; then one IOFENCE.C per IOMMU (not counted here).

use iommu_inval_core::range::AddrRange;

/// 4 KiB.
pub const PAGE: u64 = 0x1000;

/// The native form of a reference command (the fields a driver writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefForm {
    /// SMMUv3 TLBI by address: `tg` = 0 (no range) or 1..=3 with `num`/`scale`.
    SmmuVa {
        /// Address.
        addr: u64,
        /// NUM field.
        num: u8,
        /// SCALE field.
        scale: u8,
        /// TG field.
        tg: u8,
        /// TTL field.
        ttl: u8,
        /// Leaf only.
        leaf: bool,
    },
    /// VT-d page-selective IOTLB invalidation: `2^mask` pages at `addr`.
    VtdPsi {
        /// Aligned address.
        addr: u64,
        /// AM field.
        mask: u8,
        /// IH (leaf-only hint).
        ih: bool,
    },
    /// AMD INVALIDATE_IOMMU_PAGES address and `s`.
    AmdPages {
        /// Address field (with the size-encoding ones).
        addr: u64,
        /// S bit.
        s: bool,
    },
    /// SMMUv3 CMD_ATC_INV: `2^size` pages at `addr` (size 52: everything).
    SmmuAtc {
        /// Address (aligned to the span).
        addr: u64,
        /// SIZE field.
        size: u8,
    },
    /// A PCIe ATS-encoded device-TLB invalidation (VT-d dev_tlb / p_dev_tlb).
    Ats {
        /// Address field with the size-encoding ones.
        addr: u64,
        /// S bit.
        s: bool,
    },
    /// RISC-V IOTINVAL.VMA with `AV`: the 4 KiB page at `addr`.
    RiscvPage {
        /// Page address.
        addr: u64,
    },
    /// A command for everything of the ASID / PASID / domain (SMMU
    /// TLBI_NH_ASID or S12_VMALL, VT-d PASID- or domain-selective).
    Wide,
}

/// One reference command: its native form and the bytes it is meant to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefCmd {
    /// Address span the command invalidates (`All`: the whole ASID / domain).
    pub span: AddrRange,
    /// What the driver writes.
    pub form: RefForm,
}

const WIDE: RefCmd = RefCmd {
    span: AddrRange::All,
    form: RefForm::Wide,
};

/// What a driver emits for one range.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefLowering {
    /// The commands, in order.
    pub cmds: Vec<RefCmd>,
}

impl RefLowering {
    /// Number of commands.
    pub fn count(&self) -> usize {
        self.cmds.len()
    }
    /// Bytes invalidated outside `asked` (spans are disjoint in every
    /// driver algorithm here, so a sum is exact). `All` counts as 2^64.
    pub fn excess_bytes(&self, asked: &AddrRange) -> u128 {
        let mut total: u128 = 0;
        for c in &self.cmds {
            let s = c.span;
            let inside_first = s.first().max(asked.first());
            let inside_last = s.last().min(asked.last());
            let inside = if inside_first <= inside_last {
                u128::from(inside_last - inside_first) + 1
            } else {
                0
            };
            total += s.size() - inside;
        }
        total
    }
}

fn span(first: u64, size: u64) -> AddrRange {
    match AddrRange::new(first, size) {
        Ok(r) => r,
        Err(_) => AddrRange::All,
    }
}

/// SMMUv3 `__arm_smmu_tlb_inv_range` for `[iova, iova + size)` with leaf
/// granule `granule` (bytes), smallest page size `2^tg_shift`, range
/// invalidation `ril`, leaf-only `leaf`. `size == 0` is "everything":
/// one ASID-/VMID-wide command (`arm_smmu_tlb_inv_context`).
pub fn smmu_tlbi(
    iova: u64,
    size: u64,
    granule: u64,
    tg_shift: u32,
    ril: bool,
    leaf: bool,
) -> RefLowering {
    let mut out = RefLowering::default();
    if size == 0 {
        out.cmds.push(WIDE);
        return out;
    }
    let end = u128::from(iova) + u128::from(size);
    let mut at = u128::from(iova);
    if !ril {
        let g = u128::from(granule.max(1));
        while at < end {
            let form = RefForm::SmmuVa {
                addr: at as u64,
                num: 0,
                scale: 0,
                tg: 0,
                ttl: 0,
                leaf,
            };
            out.cmds.push(RefCmd {
                span: span(at as u64, granule),
                form,
            });
            at += g;
        }
        return out;
    }
    let tg = ((tg_shift - 10) / 2) as u8;
    // Level of the leaf granule: 4 - (log2(granule) - 3) / (tg_shift - 3).
    let ttl = if leaf {
        (4 - (granule.trailing_zeros() - 3) / (tg_shift - 3)) as u8
    } else {
        0
    };
    let mut num_pages = u128::from(size >> tg_shift);
    if !leaf && num_pages & 31 == 1 {
        num_pages += 1;
    }
    while at < end && num_pages != 0 {
        let scale = num_pages.trailing_zeros();
        let num = (num_pages >> scale) & 31;
        let bytes = num << (scale + tg_shift);
        let form = RefForm::SmmuVa {
            addr: at as u64,
            num: (num - 1) as u8,
            scale: scale as u8,
            tg,
            ttl,
            leaf,
        };
        out.cmds.push(RefCmd {
            span: span(at as u64, bytes as u64),
            form,
        });
        num_pages -= num << scale;
        at += bytes;
    }
    out
}

/// `CMDQ_MAX_TLBI_OPS` of the SMMUv3 SVA path: `1 << (PAGE_SHIFT - 3)`.
pub const SMMU_SVA_MAX_TLBI_OPS: u64 = 1 << (12 - 3);

/// SMMUv3 SVA invalidation (`arm_smmu_mm_arch_invalidate_secondary_tlbs`,
/// v6.6 .. v6.12): 4 KiB granule; without range invalidation a range of
/// 512 pages or more becomes one ASID-wide TLBI.
pub fn smmu_sva(iova: u64, size: u64, ril: bool) -> RefLowering {
    let size = if !ril && size >= SMMU_SVA_MAX_TLBI_OPS * PAGE {
        0
    } else {
        size
    };
    smmu_tlbi(iova, size, PAGE, 12, ril, false)
}

/// The SVA path's command count and spans with leaf-only TLBIs, for
/// comparing with leaf-only requests (the SVA notifier itself sends
/// non-leaf TLBIs; the count and spans are the same).
pub fn smmu_sva_leaf(iova: u64, size: u64, ril: bool) -> RefLowering {
    let size = if !ril && size >= SMMU_SVA_MAX_TLBI_OPS * PAGE {
        0
    } else {
        size
    };
    smmu_tlbi(iova, size, PAGE, 12, ril, size != 0)
}

/// SMMUv3 `arm_smmu_atc_inv_to_cmd`: one ATC_INV covering the smallest
/// aligned power-of-two block of pages holding the range (`size` 0: all).
pub fn smmu_atc(iova: u64, size: u64) -> RefLowering {
    if size == 0 {
        return RefLowering { cmds: vec![WIDE] };
    }
    let page_start = iova >> 12;
    let page_end = (iova + (size - 1)) >> 12;
    let log2_span = 64 - (page_start ^ page_end).leading_zeros();
    let mask = (1u64 << log2_span.min(63)) - 1;
    let first = (page_start & !mask) << 12;
    let order = log2_span + 12;
    let s = if order >= 64 {
        AddrRange::All
    } else {
        AddrRange::block(first, order)
    };
    RefLowering {
        cmds: vec![RefCmd {
            span: s,
            form: RefForm::SmmuAtc {
                addr: first,
                size: log2_span as u8,
            },
        }],
    }
}

/// VT-d device-TLB invalidation (`qi_flush_dev_iotlb` /
/// `qi_flush_dev_iotlb_pasid`, v6.12): the address and mask of
/// [`vtd_psi_aligned`] in the PCIe ATS encoding (`s` = 1 and the bits below
/// bit `12 + mask - 1` set when `mask` > 0). Whole space (`size` 0): mask 52.
pub fn vtd_dev_tlb(iova: u64, size: u64) -> RefLowering {
    let (addr, mask) = if size == 0 {
        (0, 52)
    } else {
        vtd_psi_aligned(iova, iova + (size - 1))
    };
    let (addr, s) = if mask == 0 {
        (addr, false)
    } else {
        (addr | ((1u64 << (12 + mask - 1)) - 1), true)
    };
    let addr = addr & !(PAGE - 1);
    let span = iommu_inval_core::range::ats_decode(addr, s);
    RefLowering {
        cmds: vec![RefCmd {
            span,
            form: RefForm::Ats { addr, s },
        }],
    }
}

/// VT-d `calculate_psi_aligned_address(start, end)`: `(address, mask)`.
pub fn vtd_psi_aligned(start: u64, end_inclusive: u64) -> (u64, u32) {
    let size = end_inclusive - start + 1;
    // aligned_nrpages: pages touched by [start, start + size).
    let pages = ((start & (PAGE - 1)) as u128 + u128::from(size)).div_ceil(u128::from(PAGE));
    let aligned_pages = pages.next_power_of_two();
    let bitmask = aligned_pages - 1;
    let mut mask = aligned_pages.trailing_zeros();
    let pfn = u128::from(start >> 12);
    if bitmask & pfn != 0 {
        let end_pfn = pfn + pages - 1;
        let shared = !(pfn ^ end_pfn) & !bitmask & ((1u128 << 64) - 1);
        mask = if shared != 0 {
            shared.trailing_zeros()
        } else {
            52
        };
    }
    let align = 12 + mask;
    let addr = if align >= 64 {
        0
    } else {
        start & !((1u64 << align) - 1)
    };
    (addr, mask)
}

/// VT-d IOTLB invalidation of `[iova, iova + size)` (`size` 0: everything).
/// `first_level`: p_iotlb_inv_dsc (PASID-tagged), else iotlb_inv_dsc with the
/// domain-selective fallback above `mamv`.
pub fn vtd_iotlb(iova: u64, size: u64, mamv: u32, first_level: bool, ih: bool) -> RefLowering {
    if size == 0 {
        return RefLowering { cmds: vec![WIDE] };
    }
    let (addr, mask) = vtd_psi_aligned(iova, iova + (size - 1));
    let order = 12 + mask;
    let cmd = if (!first_level && mask > mamv) || order >= 64 {
        WIDE
    } else {
        RefCmd {
            span: AddrRange::block(addr, order),
            form: RefForm::VtdPsi {
                addr,
                mask: mask as u8,
                ih,
            },
        }
    };
    RefLowering { cmds: vec![cmd] }
}

/// AMD `build_inv_address(address, size)`: `(address, s)`.
pub fn amd_inv_address(address: u64, size: u64) -> (u64, bool) {
    let pages = ((address & (PAGE - 1)) as u128 + u128::from(size)).div_ceil(u128::from(PAGE));
    if pages == 1 {
        return (address & !(PAGE - 1), false);
    }
    let end = address.wrapping_add(size - 1);
    let msb_diff = 63 - (end ^ address).leading_zeros();
    let a = if msb_diff > 51 {
        0x7fff_ffff_ffff_ffff
    } else {
        address | ((1u64 << msb_diff) - 1)
    };
    (a & !(PAGE - 1), true)
}

/// The Linux limit from which the RISC-V driver invalidates the whole PSCID.
pub const RISCV_IOTLB_INVAL_LIMIT: u64 = 2 << 20;

/// RISC-V `riscv_iommu_iotlb_inval` for `[iova, iova + size)` (`size` 0:
/// the whole space): per-page commands below 2 MiB, else one PSCID-wide.
pub fn riscv_iotinval(iova: u64, size: u64) -> RefLowering {
    if size == 0 || size >= RISCV_IOTLB_INVAL_LIMIT {
        return RefLowering { cmds: vec![WIDE] };
    }
    // The gather's inclusive end; steps of 4 KiB from `start` while below it.
    let end = iova.saturating_add(size - 1);
    let mut cmds = Vec::new();
    let mut a = iova;
    while a < end {
        let page = a & !(PAGE - 1);
        cmds.push(RefCmd {
            span: span(page, PAGE),
            form: RefForm::RiscvPage { addr: page },
        });
        match a.checked_add(PAGE) {
            Some(n) => a = n,
            None => break,
        }
    }
    RefLowering { cmds }
}

/// AMD INVALIDATE_IOMMU_PAGES for `[iova, iova + size)` (`size` 0: all pages).
pub fn amd_iommu_pages(iova: u64, size: u64) -> RefLowering {
    let (addr, s) = if size == 0 {
        (0x7fff_ffff_ffff_f000, true)
    } else {
        amd_inv_address(iova, size)
    };
    let span = iommu_inval_core::range::ats_decode(addr, s);
    RefLowering {
        cmds: vec![RefCmd {
            span,
            form: RefForm::AmdPages { addr, s },
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M2: u64 = 0x20_0000;

    fn spans(l: &RefLowering) -> Vec<(u64, u64)> {
        l.cmds
            .iter()
            .map(|c| (c.span.first(), c.span.last()))
            .collect()
    }

    #[test]
    fn riscv_per_page_below_2m_else_pscid_wide() {
        let l = riscv_iotinval(0x40_0000, 3 * PAGE);
        assert_eq!(
            spans(&l),
            [
                (0x40_0000, 0x40_0fff),
                (0x40_1000, 0x40_1fff),
                (0x40_2000, 0x40_2fff)
            ]
        );
        assert_eq!(riscv_iotinval(0x40_0000, M2 - PAGE).count(), 511);
        assert_eq!(riscv_iotinval(0x40_0000, M2).cmds, [WIDE]);
        assert_eq!(riscv_iotinval(0, 0).cmds, [WIDE]);
    }

    #[test]
    fn smmu_without_range_one_per_granule() {
        let l = smmu_tlbi(0x40_0000, 3 * PAGE, PAGE, 12, false, true);
        assert_eq!(
            spans(&l),
            [
                (0x40_0000, 0x40_0fff),
                (0x40_1000, 0x40_1fff),
                (0x40_2000, 0x40_2fff)
            ]
        );
        let l = smmu_tlbi(0x40_0000, 2 * M2, M2, 12, false, true);
        assert_eq!(l.count(), 2);
    }

    #[test]
    fn smmu_range_chunks_from_low_bits() {
        // 37 pages = 0b100101: first 5 pages (scale 0, num 5), then 32 (scale 5, num 1).
        let l = smmu_tlbi(0x1000_0000, 37 * PAGE, PAGE, 12, true, true);
        assert_eq!(
            spans(&l),
            [(0x1000_0000, 0x1000_4fff), (0x1000_5000, 0x1002_4fff)]
        );
        // 513 pages leaf: 1 page, then 512.
        let l = smmu_tlbi(0, 513 * PAGE, PAGE, 12, true, true);
        assert_eq!(l.count(), 2);
        // 513 pages non-leaf: 514 = 2 + 512 (the erratum page).
        let l = smmu_tlbi(0, 513 * PAGE, PAGE, 12, true, false);
        assert_eq!(spans(&l), [(0, 0x1fff), (0x2000, 0x201fff)]);
        assert_eq!(
            l.excess_bytes(&AddrRange::new(0, 513 * PAGE).unwrap()),
            u128::from(PAGE)
        );
        // 2 MiB: 512 pages = scale 9, num 1 (field 0); TTL 3 for 4 KiB leaves, 2 for 2 MiB.
        for (leaf_size, ttl) in [(PAGE, 3), (M2, 2)] {
            let l = smmu_tlbi(M2, M2, leaf_size, 12, true, true);
            let want = RefForm::SmmuVa {
                addr: M2,
                num: 0,
                scale: 9,
                tg: 1,
                ttl,
                leaf: true,
            };
            assert_eq!(l.cmds[0].form, want, "leaf size {leaf_size:#x}");
        }
    }

    #[test]
    fn smmu_sva_cap() {
        assert_eq!(smmu_sva(0, 511 * PAGE, false).count(), 511);
        assert_eq!(spans(&smmu_sva(0, 512 * PAGE, false)), [(0, u64::MAX)]);
        assert_eq!(smmu_sva(0, 512 * PAGE, true).count(), 1);
    }

    #[test]
    fn vtd_dev_tlb_encoding() {
        // 2 MiB aligned: mask 9, bits 12..=19 set.
        assert_eq!(
            vtd_dev_tlb(M2, M2).cmds[0].form,
            RefForm::Ats {
                addr: 0x2f_f000,
                s: true
            }
        );
        assert_eq!(spans(&vtd_dev_tlb(M2, M2)), [(M2, 2 * M2 - 1)]);
        assert_eq!(
            vtd_dev_tlb(0x5000, PAGE).cmds[0].form,
            RefForm::Ats {
                addr: 0x5000,
                s: false
            }
        );
        assert_eq!(
            vtd_dev_tlb(0, 0).cmds[0].form,
            RefForm::Ats {
                addr: 0x7fff_ffff_ffff_f000,
                s: true
            }
        );
    }

    #[test]
    fn smmu_atc_block() {
        // Pages 0x1ff..=0x200 differ in bit 9 and below: a 1024-page block at 0.
        assert_eq!(spans(&smmu_atc(0x1f_f000, 0x2000)), [(0, 0x3f_ffff)]);
        assert_eq!(spans(&smmu_atc(0x5000, 0x1000)), [(0x5000, 0x5fff)]);
        assert_eq!(
            smmu_atc(0x1f_f000, 0x2000).cmds[0].form,
            RefForm::SmmuAtc { addr: 0, size: 10 }
        );
    }

    #[test]
    fn vtd_mask_examples() {
        // Aligned 2 MiB: mask 9.
        assert_eq!(vtd_psi_aligned(M2, 2 * M2 - 1), (M2, 9));
        // One page: mask 0.
        assert_eq!(vtd_psi_aligned(0x5000, 0x5fff), (0x5000, 0));
        // Pages 3..=4 (2 pages, unaligned): pfn 3 ^ 4 = 7, shared above bit 0 first at bit 3: mask 3.
        assert_eq!(vtd_psi_aligned(0x3000, 0x4fff), (0, 3));
        // 37 pages from pfn 3: 64 aligned pages, pfn & 63 != 0; 3 ^ 39 = 0b100100 -> shared & !63 lowest bit 6.
        assert_eq!(vtd_psi_aligned(0x3000, 0x3000 + 37 * PAGE - 1), (0, 6));
    }

    #[test]
    fn vtd_second_level_falls_back_above_mamv() {
        let l = vtd_iotlb(0x4000_0000, 0x4000_0000, 9, false, true);
        assert_eq!(spans(&l), [(0, u64::MAX)]);
        let l = vtd_iotlb(0x4000_0000, 0x4000_0000, 18, false, true);
        assert_eq!(spans(&l), [(0x4000_0000, 0x7fff_ffff)]);
        let l = vtd_iotlb(0x4000_0000, 0x4000_0000, 9, true, true);
        assert_eq!(spans(&l), [(0x4000_0000, 0x7fff_ffff)]);
    }

    #[test]
    fn amd_address_examples() {
        assert_eq!(amd_inv_address(0x5000, 0x1000), (0x5000, false));
        // 0x3000..=0x4fff: msb_diff of 0x3000 ^ 0x4fff = 0x7fff is 14; 0x3000 | 0x3fff = 0x3fff -> 0x3000 (bit 14 clear: 32 KiB).
        assert_eq!(amd_inv_address(0x3000, 0x2000), (0x3000, true));
        assert_eq!(spans(&amd_iommu_pages(0x3000, 0x2000)), [(0, 0x7fff)]);
        assert_eq!(amd_inv_address(0, u64::MAX), (0x7fff_ffff_ffff_f000, true));
        assert_eq!(spans(&amd_iommu_pages(M2, M2)), [(M2, 2 * M2 - 1)]);
        // The encoded form of 2 MiB at 2 MiB: bits 12..=19 set, bit 20 clear.
        assert_eq!(
            amd_iommu_pages(M2, M2).cmds[0].form,
            RefForm::AmdPages {
                addr: 0x2f_f000,
                s: true
            }
        );
    }
}
