//! Lowering efficiency: native commands emitted, and bytes invalidated beyond
//! the request, by this library and by the Linux drivers ([`crate::linux`]),
//! for the ranges of [`crate::cases`], with the same host capabilities.
//!
//! The library's excess is measured on footprints: the union of the lifted
//! footprints of the emitted commands minus the request's footprint
//! ([`Footprint::excess_over`]); the Linux excess is the span each reference
//! command is meant to remove, minus the request. An ASID-/domain-wide
//! command counts as the whole 2^64-byte space.

use iommu_inval_core::footprint::Footprint;
use iommu_inval_core::model::{Caches, DeviceSel, DomainSel, Inval, Op, PasidSel, Stages};
use iommu_inval_core::range::AddrRange;
use iommu_inval_core::IdentityContext;

use crate::cases::{Case, CASES, GRANULES};

/// Which translation an efficiency row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Stage 1 / first level, PASID-tagged (SMMU NH_VA, VT-d p_iotlb, AMD gn=1).
    S1,
    /// Stage 2 / second level, domain-tagged (SMMU S2_IPA, VT-d iotlb, AMD gn=0).
    S2,
    /// Device TLB of device 0x10, every PASID (ATS without PASID: SMMU
    /// ATC_INV ssv = 0, VT-d dev_tlb_inv_dsc, AMD IOTLB_PAGES gn = 0).
    Ats,
    /// Device TLB of device 0x10, PASID 5 (SMMU ATC_INV ssv = 1, VT-d
    /// p_dev_tlb_inv_dsc, AMD IOTLB_PAGES gn = 1).
    AtsPasid,
}

/// The generic request of a case: leaf-only IOTLB invalidation of one PASID
/// (S1) or of the domain (S2), with the leaf granule as hint. The whole space
/// is a flush of everything (walk caches included), as Linux's
/// `flush_iotlb_all` is.
pub fn request(r: AddrRange, leaf_shift: u32, flavor: Flavor) -> Inval {
    let caches = if r.is_all() {
        Caches::IOTLB
    } else {
        Caches::IOTLB | Caches::LEAF
    };
    let base = Inval::new(caches).domain(DomainSel::One(1)).range(r);
    let ats = Inval::new(Caches::DEV_TLB)
        .domain(DomainSel::One(1))
        .device(DeviceSel::One(0x10))
        .range(r);
    let mut i = match flavor {
        Flavor::S1 => base.stage(Stages::S1).pasid(PasidSel::One(5)),
        Flavor::S2 => base.stage(Stages::S2).pasid(PasidSel::NoPasid),
        Flavor::Ats => ats.pasid(PasidSel::All),
        Flavor::AtsPasid => ats.pasid(PasidSel::One(5)),
    };
    i.hints.leaf_shift = leaf_shift as u8;
    i.hints.tg_shift = 12;
    i
}

/// One measured row.
#[derive(Debug, Clone)]
pub struct Row {
    /// Target and capabilities (e.g. `smmuv3 RIL`).
    pub target: String,
    /// Range name.
    pub case: &'static str,
    /// Leaf granule, log2 bytes.
    pub granule: u32,
    /// Commands this library emits (`None`: the lowering failed; see `note`).
    pub lib_cmds: Option<usize>,
    /// Bytes this library invalidates beyond the request.
    pub lib_excess: u128,
    /// Commands the Linux driver emits.
    pub linux_cmds: usize,
    /// Bytes the Linux driver invalidates beyond the request.
    pub linux_excess: u128,
    /// The library's output leaves part of the request (model footprints).
    pub lib_under: bool,
    /// The Linux output leaves part of the request (model footprints).
    pub linux_under: bool,
    /// Free text (errors, Linux variant).
    pub note: String,
}

impl Row {
    /// True when the library emits more commands, or over-invalidates more,
    /// than Linux.
    pub fn worse_than_linux(&self) -> bool {
        match self.lib_cmds {
            Some(n) => {
                n > self.linux_cmds
                    || self.lib_excess > self.linux_excess
                    || (self.lib_under && !self.linux_under)
            }
            None => true,
        }
    }
}

/// A lowering under test: generic op → (commands emitted, footprint of the
/// emitted commands) or an error text.
pub type LibLower<'a> = dyn Fn(&Op) -> Result<(usize, Footprint), String> + 'a;

/// A Linux reference: `(iova, size, granule_bytes)` (`size` 0 = the whole
/// space) → (commands, footprint of those commands built as native commands
/// of the target and lifted by this library, so both sides are measured
/// with the same ruler).
pub type LinuxLower<'a> = dyn Fn(u64, u64, u64) -> Result<(usize, Footprint), String> + 'a;

/// Measure one target over every case and granule.
pub fn measure(
    target: &str,
    flavor: Flavor,
    lib: &LibLower<'_>,
    linux: &LinuxLower<'_>,
    note: &str,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for case in CASES.iter() {
        for &g in GRANULES.iter() {
            rows.push(measure_one(target, flavor, case, g, lib, linux, note));
        }
    }
    rows
}

fn measure_one(
    target: &str,
    flavor: Flavor,
    case: &Case,
    g: u32,
    lib: &LibLower<'_>,
    linux: &LinuxLower<'_>,
    note: &str,
) -> Row {
    let r = case.range(g);
    let inv = request(r, g, flavor);
    let asked = Footprint::of_inval(&inv, &IdentityContext);
    let (iova, size) = case.iova_size(g);
    let mut row = Row {
        target: target.to_string(),
        case: case.name,
        granule: g,
        lib_cmds: None,
        lib_excess: 0,
        linux_cmds: 0,
        linux_excess: 0,
        lib_under: false,
        linux_under: false,
        note: note.to_string(),
    };
    match linux(iova, size, 1u64 << g) {
        Ok((n, fp)) => {
            row.linux_cmds = n;
            row.linux_excess = fp.excess_over(&asked).bytes;
            if !fp.covers(&asked) {
                row.linux_under = true;
                row.note.push_str(" Linux under-invalidates in the model");
            }
        }
        Err(e) => row
            .note
            .push_str(&format!(" Linux form not encodable: {e}")),
    }
    match lib(&Op::Inval(inv)) {
        Ok((n, fp)) => {
            if !fp.covers(&asked) {
                row.lib_under = true;
                row.note.push_str(" library UNDER-INVALIDATES in the model");
            }
            row.lib_cmds = Some(n);
            row.lib_excess = fp.excess_over(&asked).bytes;
        }
        Err(e) => row.note.push_str(&format!(" library error: {e}")),
    }
    row
}

/// Human form of a byte count: `0`, `4 KiB`, `2 MiB + 4 KiB`, `all (2^64)`.
pub fn human_bytes(b: u128) -> String {
    if b == 0 {
        return "0".into();
    }
    if b >= 1u128 << 60 {
        return format!("≈2^{}", 128 - b.leading_zeros() - 1);
    }
    const UNITS: [(u32, &str); 5] = [
        (50, "PiB"),
        (40, "TiB"),
        (30, "GiB"),
        (20, "MiB"),
        (10, "KiB"),
    ];
    let mut parts = Vec::new();
    let mut rest = b;
    for (shift, unit) in UNITS {
        let n = rest >> shift;
        if n > 0 {
            parts.push(format!("{n} {unit}"));
            rest -= n << shift;
        }
    }
    if rest > 0 {
        parts.push(format!("{rest} B"));
    }
    parts.join(" + ")
}

/// Markdown table of rows.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from(
        "| target | range | leaf granule | commands (lib / Linux) | excess bytes (lib / Linux) | note |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let lib = r.lib_cmds.map_or("error".to_string(), |n| n.to_string());
        let flag = if r.worse_than_linux() {
            " **worse**"
        } else {
            ""
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} / {}{} | {} / {} | {} |\n",
            r.target,
            r.case,
            if r.granule == 12 { "4 KiB" } else { "2 MiB" },
            lib,
            r.linux_cmds,
            flag,
            human_bytes(r.lib_excess),
            human_bytes(r.linux_excess),
            r.note
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_forms() {
        assert_eq!(human_bytes(0), "0");
        assert_eq!(human_bytes(4096), "4 KiB");
        assert_eq!(human_bytes((2 << 20) + 4096), "2 MiB + 4 KiB");
        assert_eq!(human_bytes(1u128 << 64), "≈2^64");
    }

    #[test]
    fn measuring_a_perfect_lowering_gives_zero_excess() {
        // A "library" that emits the request itself, once.
        let lib = |op: &Op| -> Result<(usize, Footprint), String> {
            Ok((1, Footprint::of_op(op, &IdentityContext)))
        };
        // A "Linux" that covers the request's 4 KiB-aligned enclosing 64 KiB block.
        let linux = |iova: u64, size: u64, _g: u64| -> Result<(usize, Footprint), String> {
            let r = if size == 0 {
                AddrRange::All
            } else {
                AddrRange::new(iova, size).map_err(|e| format!("{e:?}"))?
            };
            let b = iommu_inval_core::range::covering_block(&r, 16).range();
            Ok((
                1,
                Footprint::of_inval(&request(b, 12, Flavor::S1), &IdentityContext),
            ))
        };
        let rows = measure("ideal", Flavor::S1, &lib, &linux, "");
        assert_eq!(rows.len(), CASES.len() * GRANULES.len());
        assert!(rows
            .iter()
            .all(|r| r.lib_excess == 0 && r.lib_cmds == Some(1)));
        // AMD over-invalidates the unaligned 2 MiB + 4 KiB range (4 KiB granule).
        let unaligned = rows
            .iter()
            .find(|r| r.case.starts_with("2 MiB + 4") && r.granule == 12)
            .unwrap();
        assert!(unaligned.linux_excess > 0);
        assert!(!unaligned.worse_than_linux());
    }

    #[test]
    fn an_under_invalidating_lowering_is_flagged() {
        let lib = |_: &Op| -> Result<(usize, Footprint), String> { Ok((1, Footprint::new())) };
        let exact = |iova: u64, size: u64, g: u64| -> Result<(usize, Footprint), String> {
            let r = if size == 0 {
                AddrRange::All
            } else {
                AddrRange::new(iova, size).map_err(|e| format!("{e:?}"))?
            };
            Ok((
                1,
                Footprint::of_inval(
                    &request(r, g.trailing_zeros(), Flavor::S2),
                    &IdentityContext,
                ),
            ))
        };
        let rows = measure("broken", Flavor::S2, &lib, &exact, "");
        assert!(rows.iter().all(|r| r.note.contains("library UNDER")));
        assert!(rows.iter().all(|r| r.lib_under && r.worse_than_linux()));
    }
}
