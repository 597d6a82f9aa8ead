//! Realistic streams of generic operations, modelled on what the users of
//! this library produce (and on the example streams of `examples/`): DMA unmaps
//! (scattered and contiguous pages), SVA `munmap` of a range (IOTLB + ATC of
//! one PASID), PASID teardown (PASID config, IOTLB, ATC), stage-2 unmaps of
//! 2 MiB blocks, and a VM teardown. Each request is a *seed request*: one
//! [`Inval`] naming every cache it needs, no explicit syncs (the one-by-one
//! lowering adds them per request; the batch lowering per batch).

use iommu_inval_core::model::{Barrier, Caches, DeviceSel, DomainSel, Inval, Op, PasidSel, Stages};
use iommu_inval_core::range::AddrRange;
use iommu_inval_core::Flags;

/// The generic domain every stream uses.
pub const DOMAIN: u32 = 1;
/// The device (requester id) every stream uses.
pub const DEVICE: u32 = 0x10;
/// The PASID the stage-1 streams use.
pub const PASID: u32 = 5;

const PAGE: u64 = 0x1000;

fn range(first: u64, size: u64) -> AddrRange {
    AddrRange::new(first, size).unwrap_or(AddrRange::All)
}

/// A small deterministic generator (xorshift64*), so streams are
/// reproducible; the property loops of `iommu-inval-props` use it too.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (seed 0 is replaced by a constant).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform-ish value below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

/// Stage-1, PASID-tagged, leaf-only IOTLB invalidation of `r` (DMA unmap of
/// a PASID / SMMU ASID domain).
pub fn s1_unmap(r: AddrRange) -> Inval {
    let mut i = Inval::new(Caches::IOTLB | Caches::LEAF)
        .stage(Stages::S1)
        .domain(DomainSel::One(DOMAIN))
        .pasid(PasidSel::One(PASID))
        .range(r);
    i.hints.leaf_shift = 12;
    i.hints.tg_shift = 12;
    i
}

/// Stage-2, domain-tagged, leaf-only IOTLB invalidation of `r` with leaf
/// granule `2^leaf_shift`.
pub fn s2_unmap(r: AddrRange, leaf_shift: u8) -> Inval {
    let mut i = Inval::new(Caches::IOTLB | Caches::LEAF)
        .stage(Stages::S2)
        .domain(DomainSel::One(DOMAIN))
        .pasid(PasidSel::NoPasid)
        .range(r);
    i.hints.leaf_shift = leaf_shift;
    i.hints.tg_shift = 12;
    i
}

/// SVA `munmap`: IOTLB (stage 1) and device TLB of one PASID on one device.
pub fn sva_munmap(r: AddrRange) -> Inval {
    let mut i = Inval::new(Caches::IOTLB | Caches::DEV_TLB | Caches::LEAF)
        .stage(Stages::S1)
        .domain(DomainSel::One(DOMAIN))
        .pasid(PasidSel::One(PASID))
        .device(DeviceSel::One(DEVICE))
        .range(r);
    i.hints.leaf_shift = 12;
    i.hints.tg_shift = 12;
    i
}

/// PASID teardown: PASID config, stage-1 IOTLB and device TLB of the PASID.
pub fn pasid_teardown(pasid: u32) -> Inval {
    Inval::new(Caches::CONFIG_PASID | Caches::IOTLB | Caches::DEV_TLB)
        .stage(Stages::S1)
        .domain(DomainSel::One(DOMAIN))
        .pasid(PasidSel::One(pasid))
        .device(DeviceSel::One(DEVICE))
}

/// VM teardown: device config, every IOTLB entry and device TLB of the domain.
pub fn vm_teardown() -> Inval {
    Inval::new(Caches::CONFIG_DEVICE | Caches::IOTLB | Caches::DEV_TLB)
        .stage(Stages::all())
        .domain(DomainSel::One(DOMAIN))
        .device(DeviceSel::One(DEVICE))
}

/// `n` single-page stage-1 unmaps at scattered pages of a 1 GiB window.
pub fn scattered_pages(n: usize, seed: u64) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            Op::Inval(s1_unmap(range(
                0x4000_0000 + rng.below(0x40000) * PAGE,
                PAGE,
            )))
        })
        .collect()
}

/// `n` single-page stage-1 unmaps of consecutive pages (an unmap of a
/// buffer page by page, as io-pgtable reports it without a gather).
pub fn contiguous_pages(n: usize) -> Vec<Op> {
    (0..n as u64)
        .map(|p| Op::Inval(s1_unmap(range(0x8000_0000 + p * PAGE, PAGE))))
        .collect()
}

/// A scatter-gather unmap: `n` buffers of 1..=16 pages, half of them adjacent
/// to the previous one.
pub fn sg_unmap(n: usize, seed: u64) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    let mut at = 0x1_0000_0000u64;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let pages = 1 + rng.below(16);
        if rng.below(2) == 0 {
            at += (1 + rng.below(64)) * PAGE;
        }
        out.push(Op::Inval(s1_unmap(range(at, pages * PAGE))));
        at += pages * PAGE;
    }
    out
}

/// SVA: `n` munmaps of 1..=64 pages at scattered places, with device TLB.
pub fn sva_munmaps(n: usize, seed: u64) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let pages = 1 + rng.below(64);
            Op::Inval(sva_munmap(range(
                0x7f00_0000_0000 + rng.below(1 << 20) * PAGE,
                pages * PAGE,
            )))
        })
        .collect()
}

/// Stage-2: `n` unmaps of 2 MiB blocks, some adjacent.
pub fn s2_blocks(n: usize, seed: u64) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    let mut at = 0x2_0000_0000u64;
    (0..n)
        .map(|_| {
            at += rng.below(3) * 0x20_0000;
            let op = Op::Inval(s2_unmap(range(at, 0x20_0000), 21));
            at += 0x20_0000;
            op
        })
        .collect()
}

/// Device detach: a few pages unmapped, then the PASID torn down (which
/// covers them), as a driver detaching a PASID does.
pub fn pasid_detach(seed: u64) -> Vec<Op> {
    let mut ops = scattered_pages(32, seed);
    ops.push(Op::Inval(pasid_teardown(PASID)));
    ops
}

/// Named streams used by the batch report.
pub fn named_streams() -> Vec<(&'static str, Vec<Op>)> {
    vec![
        ("unmap 256 scattered pages", scattered_pages(256, 1)),
        (
            "unmap 256 contiguous pages, page by page",
            contiguous_pages(256),
        ),
        ("scatter-gather unmap, 128 buffers", sg_unmap(128, 2)),
        ("SVA munmap x64 (IOTLB + ATC)", sva_munmaps(64, 3)),
        ("stage-2 unmap of 64 2 MiB blocks", s2_blocks(64, 4)),
        ("32 page unmaps then PASID teardown", pasid_detach(5)),
    ]
}

/// [`named_streams`], built once per call but returned as borrowed slices
/// from a leaked, process-wide copy (for allocation checks that must not
/// build them inside a measured region).
pub fn named_streams_ref() -> &'static [(&'static str, Vec<Op>)] {
    static STREAMS: std::sync::OnceLock<Vec<(&'static str, Vec<Op>)>> = std::sync::OnceLock::new();
    STREAMS.get_or_init(named_streams)
}

/// A realistic mix for the codec benchmarks: requests of every kind in the
/// proportions of a busy VMM, each followed by a sync (a queue as a guest
/// driver writes it). Lowered per architecture to build the native queue.
pub fn codec_mix(seed: u64) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for k in 0..512u64 {
        let op = match rng.below(16) {
            0..=7 => s1_unmap(range(
                0x4000_0000 + rng.below(0x40000) * PAGE,
                (1 + rng.below(8)) * PAGE,
            )),
            8..=10 => sva_munmap(range(0x7f00_0000_0000 + rng.below(1 << 20) * PAGE, PAGE)),
            11..=12 => s2_unmap(
                range(0x2_0000_0000 + rng.below(512) * 0x20_0000, 0x20_0000),
                21,
            ),
            13 => pasid_teardown(1 + (k as u32 % 8)),
            14 => vm_teardown(),
            _ => s1_unmap(AddrRange::All),
        };
        out.push(Op::Inval(op));
        out.push(Op::Sync(Barrier::default()));
    }
    out
}

/// The case of [`common_cases`] named `name`.
pub fn common_case(name: &str) -> Option<Op> {
    common_cases()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, o)| o)
}

/// The common cases of the lift+lower targets: single page, aligned range
/// (2 MiB), PASID-wide.
pub fn common_cases() -> [(&'static str, Op); 3] {
    [
        ("single_page", Op::Inval(s1_unmap(range(0x4000_5000, PAGE)))),
        (
            "aligned_2m",
            Op::Inval(s1_unmap(range(0x4020_0000, 0x20_0000))),
        ),
        ("pasid_wide", Op::Inval(s1_unmap(AddrRange::All))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_sized() {
        assert_eq!(scattered_pages(10, 7), scattered_pages(10, 7));
        assert_ne!(scattered_pages(10, 7), scattered_pages(10, 8));
        for (name, s) in named_streams() {
            assert!(!s.is_empty(), "{name}");
        }
        let mix = codec_mix(1);
        assert_eq!(mix.len(), 1024);
        assert_eq!(mix.iter().filter(|o| o.is_sync()).count(), 512);
    }
}
