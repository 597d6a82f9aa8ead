//! The fixed, documented set of ranges of the lowering-efficiency report
//! (docs/PERFORMANCE.md). Each is measured with a 4 KiB and a 2 MiB leaf
//! granule; with 2 MiB the range is first widened to whole 2 MiB blocks
//! (a block mapping is torn down whole).

use iommu_inval_core::range::AddrRange;

/// One range of the report.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Short name.
    pub name: &'static str,
    /// Start address.
    pub iova: u64,
    /// Size in bytes; 0 is the whole address space.
    pub size: u64,
}

const K4: u64 = 0x1000;
const M2: u64 = 0x20_0000;
const G1: u64 = 0x4000_0000;

/// The ranges.
pub const CASES: [Case; 6] = [
    Case {
        name: "single 4 KiB page",
        iova: 0x1234_5000,
        size: K4,
    },
    Case {
        name: "2 MiB aligned",
        iova: 0x4020_0000,
        size: M2,
    },
    Case {
        name: "2 MiB + 4 KiB unaligned",
        iova: 0x401f_f000,
        size: M2 + K4,
    },
    // One range over a sparsely mapped GiB whose base is 2 MiB- but not
    // 1 GiB-aligned: the caller flushes the span, not the pages.
    Case {
        name: "1 GiB sparse (base 2 MiB-aligned)",
        iova: 0x7fe0_0000,
        size: G1,
    },
    Case {
        name: "37 pages, odd start",
        iova: 0x1000_3000,
        size: 37 * K4,
    },
    Case {
        name: "whole space",
        iova: 0,
        size: 0,
    },
];

/// Leaf granules measured (log2 bytes).
pub const GRANULES: [u32; 2] = [12, 21];

impl Case {
    /// The requested range for leaf granule `2^shift` (widened to it).
    pub fn range(&self, shift: u32) -> AddrRange {
        if self.size == 0 {
            return AddrRange::All;
        }
        match AddrRange::new(self.iova, self.size) {
            Ok(r) => r.align_out(shift),
            Err(_) => AddrRange::All,
        }
    }
    /// `(iova, size)` of [`Case::range`]; size 0 for the whole space.
    pub fn iova_size(&self, shift: u32) -> (u64, u64) {
        let r = self.range(shift);
        match r.len() {
            Some(len) if !r.is_all() => (r.first(), len),
            _ => (0, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_to_2m() {
        let c = CASES[2];
        assert_eq!(c.iova_size(12), (0x401f_f000, 0x20_1000));
        assert_eq!(c.iova_size(21), (0x4000_0000, 0x40_0000));
        assert_eq!(CASES[5].iova_size(12), (0, 0));
        assert_eq!(CASES[0].iova_size(21), (0x1220_0000, M2));
    }
}
