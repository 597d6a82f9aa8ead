//! Footprints: the set of cache entries an operation removes.
//!
//! A cache entry has eight coordinates ([`Dim`]): cache kind, level (leaf or
//! not), regime, stage, domain, PASID, device and address. A [`Footprint`]
//! is a union of boxes ([`FBox`]) — one inclusive interval per coordinate —
//! and is the ground truth for "exact", "superset, by how much" and "under".
//!
//! Coordinates a cache is not tagged by (see the table in [`crate::model`])
//! are "don't care": the box spans them fully, the same for every operation,
//! so footprints of different architectures compare directly once ids are
//! generic.
//!
//! ```
//! use iommu_inval_core::footprint::Footprint;
//! use iommu_inval_core::model::*;
//! use iommu_inval_core::IdentityContext;
//!
//! let page = Inval::new(Caches::IOTLB).stage(Stages::S2).domain(DomainSel::One(1))
//!     .range(AddrRange::new(0x1000, 0x1000).unwrap());
//! let domain = Inval::new(Caches::IOTLB).stage(Stages::S2).domain(DomainSel::One(1));
//! let (p, d) = (Footprint::of_inval(&page, &IdentityContext), Footprint::of_inval(&domain, &IdentityContext));
//! assert!(d.covers(&p) && !p.covers(&d));
//! let ex = d.excess_over(&p);
//! assert!(ex.widened.contains(Widened::RANGE));
//! ```

use crate::context::Context;
use crate::lower::DeviceSet;
use crate::model::{Caches, DomainSel, Inval, Op, PasidSel, Regime, Stages, Widened};
use crate::range::AddrRange;
use crate::Flags;

use alloc::vec::Vec;

/// Number of coordinates.
const DIMS: usize = 8;

/// The coordinates of a cache entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum Dim {
    /// Cache kind: [`kind`] of a [`Caches`] kind flag.
    Kind = 0,
    /// 0 leaf entry, 1 non-leaf (walk cache, L1 descriptor).
    Level,
    /// [`Regime`] as 0, 1, 2.
    Regime,
    /// 0 stage 1, 1 stage 2.
    Stage,
    /// Generic domain id.
    Domain,
    /// 0 no PASID, `p + 1` PASID p, `u64::MAX` global ATS entries.
    Pasid,
    /// Requester id.
    Device,
    /// Address (interrupt entry index for `INTR_REMAP`).
    Addr,
}

/// The [`Dim::Kind`] coordinate of the lowest cache kind in `c`: the kinds
/// in [`Caches`] bit order, `CONFIG_DEVICE` 0, `CONFIG_PASID` 1, `IOTLB` 2,
/// `DEV_TLB` 3, `INTR_REMAP` 4 (`LEAF` is not a kind); past the last kind
/// when `c` holds none.
pub const fn kind(c: Caches) -> u64 {
    c.lowest_kind() as u64
}

const KIND_CONFIG_DEVICE: u64 = kind(Caches::CONFIG_DEVICE);
const KIND_CONFIG_PASID: u64 = kind(Caches::CONFIG_PASID);
const KIND_IOTLB: u64 = kind(Caches::IOTLB);
const KIND_DEV_TLB: u64 = kind(Caches::DEV_TLB);
const KIND_INTR_REMAP: u64 = kind(Caches::INTR_REMAP);
/// Pasid coordinate of global (all-PASID) device-TLB entries.
const PASID_GLOBAL: u64 = u64::MAX;

/// Device ranges up to this many requester ids are checked device by device
/// for ATS (larger ones are kept whole: a superset).
const ATS_SCAN_LIMIT: u64 = 4096;

const FULL: [u64; DIMS] = [
    KIND_INTR_REMAP,
    1,
    2,
    1,
    u32::MAX as u64,
    u64::MAX,
    u32::MAX as u64,
    u64::MAX,
];

/// 1 when `a < b`, else 0: the borrow out of `a - b`, computed in 128 bits.
///
/// [`FBox::contains`] and [`FBox::intersects`] OR the borrows of their 16
/// bound comparisons and test the result once: no branch per coordinate,
/// and, in the fuzz targets, no call per coordinate into libFuzzer's
/// comparison tracing (`-sanitizer-coverage-trace-compares` hooks 8-bit to
/// 64-bit comparisons only). `Footprint::push` tests each new box against
/// every box held, which made those calls half of a round trip target's time.
const fn borrow(a: u64, b: u64) -> u128 {
    (a as u128).wrapping_sub(b as u128) >> 64
}

/// A box: one inclusive interval per coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FBox {
    /// Lower bounds.
    lo: [u64; DIMS],
    /// Upper bounds (inclusive).
    hi: [u64; DIMS],
}

impl FBox {
    /// Every entry of every kind.
    pub const fn everything() -> Self {
        FBox {
            lo: [0; DIMS],
            hi: FULL,
        }
    }
    /// Restrict coordinate `d` to `lo..=hi`.
    pub const fn with(mut self, d: Dim, lo: u64, hi: u64) -> Self {
        self.lo[d as usize] = lo;
        self.hi[d as usize] = hi;
        self
    }
    /// The interval of coordinate `d`.
    pub const fn get(&self, d: Dim) -> (u64, u64) {
        (self.lo[d as usize], self.hi[d as usize])
    }
    fn intersects(&self, o: &FBox) -> bool {
        let mut below = 0;
        for d in 0..DIMS {
            below |= borrow(o.hi[d], self.lo[d]) | borrow(self.hi[d], o.lo[d]);
        }
        below == 0
    }
    /// True when `o` lies inside `self`.
    pub(crate) fn contains(&self, o: &FBox) -> bool {
        let mut below = 0;
        for d in 0..DIMS {
            below |= borrow(o.lo[d], self.lo[d]) | borrow(self.hi[d], o.hi[d]);
        }
        below == 0
    }
    /// `self \ o` as disjoint boxes (at most 2 * DIMS), appended to `out`.
    fn subtract_into(&self, o: &FBox, out: &mut Vec<FBox>) {
        if !self.intersects(o) {
            out.push(*self);
            return;
        }
        let mut rest = *self;
        for d in 0..DIMS {
            if rest.lo[d] < o.lo[d] {
                let mut piece = rest;
                piece.hi[d] = o.lo[d] - 1;
                out.push(piece);
                rest.lo[d] = o.lo[d];
            }
            if rest.hi[d] > o.hi[d] {
                let mut piece = rest;
                piece.lo[d] = o.hi[d] + 1;
                out.push(piece);
                rest.hi[d] = o.hi[d];
            }
        }
    }
    /// Bytes of address space this box spans (interrupt indices count as units).
    pub(crate) const fn addr_size(&self) -> u128 {
        let (lo, hi) = self.get(Dim::Addr);
        hi as u128 - lo as u128 + 1
    }
}

/// A union of boxes.
#[derive(Debug, Clone, Default)]
pub struct Footprint {
    boxes: Vec<FBox>,
}

/// How one footprint relates to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relation {
    /// The same set of entries.
    Exact,
    /// A strict superset; by how much.
    Superset(Excess),
    /// Some requested entries are not removed (an under-invalidation).
    Under {
        /// Boxes of the request left in place.
        missing: usize,
    },
}

/// What a superset removes beyond what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Excess {
    /// The coordinates along which it extends.
    pub widened: Widened,
    /// Address bytes of the excess in the IOTLB and device TLB, counted once
    /// per excess box (configuration and interrupt entries count none).
    pub bytes: u128,
    /// Number of disjoint boxes in the excess.
    pub boxes: usize,
}

impl Footprint {
    /// The empty footprint.
    pub const fn new() -> Self {
        Footprint { boxes: Vec::new() }
    }
    /// The boxes.
    pub fn boxes(&self) -> &[FBox] {
        &self.boxes
    }
    /// True when nothing is removed.
    pub fn is_empty(&self) -> bool {
        self.boxes.is_empty()
    }
    /// Add a box.
    pub fn push(&mut self, b: FBox) {
        if !self.boxes.iter().any(|x| x.contains(&b)) {
            self.boxes.retain(|x| !b.contains(x));
            self.boxes.push(b);
        }
    }
    /// Add every box of `other`.
    pub fn extend(&mut self, other: &Footprint) {
        for b in &other.boxes {
            self.push(*b);
        }
    }

    /// The footprint of one generic operation. Only [`Op::Inval`] removes
    /// entries; syncs, prefetches, responses and stall commands are empty.
    pub fn of_op<C: Context + ?Sized>(op: &Op, ctx: &C) -> Self {
        match op {
            Op::Inval(i) => Self::of_inval(i, ctx),
            _ => Footprint::new(),
        }
    }

    /// The union of the footprints of a sequence.
    pub fn of_ops<'a, C: Context + ?Sized>(ops: impl IntoIterator<Item = &'a Op>, ctx: &C) -> Self {
        let mut f = Footprint::new();
        for op in ops {
            f.extend(&Self::of_op(op, ctx));
        }
        f
    }

    /// The footprint of an invalidation. `DeviceSel::All` of a device-tagged
    /// cache with one domain resolves, through `ctx`, to the domain's devices
    /// (or to every device when the context does not know them). A single
    /// device without ATS (`ctx.ats_enabled`) has no device-TLB entries.
    /// Likewise the stage-1 IOTLB entries of one domain whose PASIDs the
    /// context lists (`ctx.pasids_of_domain`, at least one) are those of the
    /// listed PASIDs and of requests without PASID: every PASID of the
    /// domain is the listed ones plus "no PASID" (a device's DMA without
    /// PASID has stage-1 entries too), and another PASID of that domain has
    /// no entries.
    pub fn of_inval<C: Context + ?Sized>(i: &Inval, ctx: &C) -> Self {
        let mut f = Footprint::new();
        let leaf = i.leaf_only();
        let (a_lo, a_hi) = (i.range.first(), i.range.last());
        let regime = i.regime as u64;
        // Configuration (STE/CD, context and PASID entries, DTE) is tagged by
        // the stream's Security state only: the Secure EL1/EL2 regimes name
        // the Secure streams' configuration.
        let cfg_regime = if i.regime.is_secure() {
            Regime::Secure as u64
        } else {
            regime
        };
        let level_hi = if leaf { 0 } else { 1 };
        let pasid = pasid_interval(i.pasid);
        let devices = DeviceSet::resolve(i.device, i.domain, ctx);
        let kinds = [
            (Caches::CONFIG_DEVICE, KIND_CONFIG_DEVICE),
            (Caches::CONFIG_PASID, KIND_CONFIG_PASID),
            (Caches::IOTLB, KIND_IOTLB),
            (Caches::DEV_TLB, KIND_DEV_TLB),
            (Caches::INTR_REMAP, KIND_INTR_REMAP),
        ];
        for (flag, kind) in kinds {
            if !i.caches.contains(flag) {
                continue;
            }
            let base = FBox::everything().with(Dim::Kind, kind, kind);
            match kind {
                KIND_IOTLB => {
                    let mut b =
                        base.with(Dim::Level, 0, level_hi)
                            .with(Dim::Regime, regime, regime);
                    b = b.with(Dim::Addr, a_lo, a_hi);
                    if let (Regime::Guest | Regime::SecureGuest, DomainSel::One(d)) =
                        (i.regime, i.domain)
                    {
                        b = b.with(Dim::Domain, u64::from(d), u64::from(d));
                    }
                    if i.stages.contains(Stages::S1) {
                        let s1 = b.with(Dim::Stage, 0, 0);
                        match listed_pasids(i, ctx) {
                            // A domain whose PASIDs the context lists has
                            // stage-1 entries for those PASIDs (as a
                            // domain's listed devices are all its devices)
                            // and for its requests without PASID, which
                            // every domain may have (coordinate 0).
                            Some(list) => {
                                let no_pasid = pasid_interval(PasidSel::NoPasid).0;
                                let listed =
                                    list.iter().map(|&p| pasid_interval(PasidSel::One(p)).0);
                                for x in core::iter::once(no_pasid).chain(listed) {
                                    if x >= pasid.0 && x <= pasid.1 {
                                        f.push(s1.with(Dim::Pasid, x, x));
                                    }
                                }
                            }
                            None => f.push(s1.with(Dim::Pasid, pasid.0, pasid.1)),
                        }
                    }
                    if i.stages.contains(Stages::S2) {
                        f.push(b.with(Dim::Stage, 1, 1));
                    }
                }
                _ => {
                    let mut b = base;
                    match kind {
                        KIND_CONFIG_DEVICE => {
                            b = b.with(Dim::Level, 0, level_hi).with(
                                Dim::Regime,
                                cfg_regime,
                                cfg_regime,
                            );
                        }
                        KIND_CONFIG_PASID => {
                            b = b
                                .with(Dim::Level, 0, level_hi)
                                .with(Dim::Regime, cfg_regime, cfg_regime)
                                .with(Dim::Pasid, pasid.0, pasid.1);
                        }
                        KIND_DEV_TLB => {
                            b = b
                                .with(Dim::Pasid, pasid.0, pasid.1)
                                .with(Dim::Addr, a_lo, a_hi);
                        }
                        _ => b = b.with(Dim::Addr, a_lo, a_hi),
                    }
                    // ATS and interrupt remapping serve non-secure streams only
                    // (IHI0070 §3.9: STE.EATS is ignored for Secure streams), so
                    // a Secure invalidation has nothing to remove there.
                    if i.regime.is_secure() && (kind == KIND_DEV_TLB || kind == KIND_INTR_REMAP) {
                        continue;
                    }
                    let global = kind == KIND_DEV_TLB && i.global;
                    let mut push = |lo: u64, hi: u64| {
                        let d = b.with(Dim::Device, lo, hi);
                        f.push(d);
                        if global {
                            f.push(d.with(Dim::Pasid, PASID_GLOBAL, PASID_GLOBAL));
                        }
                    };
                    device_runs(&devices, ctx, |lo, hi| {
                        if kind == KIND_DEV_TLB && hi - lo < ATS_SCAN_LIMIT {
                            // A device without ATS has no device TLB: keep only
                            // the runs of devices that have one.
                            let mut run: Option<u64> = None;
                            for rid in lo..=hi {
                                match (ctx.ats_enabled(rid as u32), run) {
                                    (true, None) => run = Some(rid),
                                    (false, Some(start)) => {
                                        push(start, rid - 1);
                                        run = None;
                                    }
                                    _ => {}
                                }
                            }
                            if let Some(start) = run {
                                push(start, hi);
                            }
                        } else {
                            push(lo, hi);
                        }
                    });
                }
            }
        }
        f
    }

    /// True when every entry of `other` is in `self`.
    pub fn covers(&self, other: &Footprint) -> bool {
        other.boxes.iter().all(|b| self.remainder_of(b).is_empty())
    }

    /// The parts of `b` that `self` does not contain.
    fn remainder_of(&self, b: &FBox) -> Vec<FBox> {
        // The common case (one box holds `b`: nothing remains) allocates nothing.
        if self.boxes.iter().any(|a| a.contains(b)) {
            return Vec::new();
        }
        let mut pieces = alloc::vec![*b];
        let mut next = Vec::new();
        for a in &self.boxes {
            next.clear();
            for p in &pieces {
                p.subtract_into(a, &mut next);
            }
            core::mem::swap(&mut pieces, &mut next);
            if pieces.is_empty() {
                break;
            }
        }
        pieces
    }

    /// `self \ other` as disjoint boxes.
    pub fn minus(&self, other: &Footprint) -> Footprint {
        let mut out = Footprint::new();
        for b in &self.boxes {
            for p in other.remainder_of(b) {
                out.boxes.push(p);
            }
        }
        out
    }

    /// What `self` removes beyond `asked` (zero when `self ⊆ asked`).
    pub fn excess_over(&self, asked: &Footprint) -> Excess {
        let extra = self.minus(asked);
        let mut ex = Excess {
            boxes: extra.boxes.len(),
            ..Excess::default()
        };
        for b in &extra.boxes {
            // Only address-tagged caches count bytes: configuration boxes span
            // every address by convention, and interrupt indices are no bytes.
            let (k_lo, k_hi) = b.get(Dim::Kind);
            if k_lo >= KIND_IOTLB && k_hi <= KIND_DEV_TLB {
                ex.bytes = ex.bytes.saturating_add(b.addr_size());
            }
            let mut any = false;
            for (d, flag) in DIM_FLAGS {
                let inside = asked.boxes.iter().any(|a| {
                    a.lo[d as usize] <= b.lo[d as usize] && b.hi[d as usize] <= a.hi[d as usize]
                });
                if !inside {
                    any = true;
                    ex.widened |=
                        if d == Dim::Pasid && b.get(Dim::Pasid) == (PASID_GLOBAL, PASID_GLOBAL) {
                            Widened::GLOBAL
                        } else {
                            flag
                        };
                }
            }
            if !any {
                ex.widened |= Widened::RANGE;
            }
        }
        ex
    }

    /// How `self` (an output) relates to `input`.
    pub fn relation_to(&self, input: &Footprint) -> Relation {
        let missing = input.minus(self);
        if !missing.is_empty() {
            return Relation::Under {
                missing: missing.boxes.len(),
            };
        }
        let ex = self.excess_over(input);
        if ex.boxes == 0 {
            Relation::Exact
        } else {
            Relation::Superset(ex)
        }
    }

    /// The footprint when every IOTLB entry is a leaf of `2^shift` bytes:
    /// removing the entry that holds an address removes its whole leaf, so each
    /// IOTLB box widens to whole `2^shift` blocks. This is the meaning of a
    /// lowering that reports [`Widened::LEAF_HINT`] (`shift` ≤ 12 changes nothing).
    pub fn assuming_leaves(&self, shift: u8) -> Footprint {
        let mut f = Footprint::new();
        for b in &self.boxes {
            let (lo, hi) = b.get(Dim::Addr);
            let iotlb = b.get(Dim::Kind) == (KIND_IOTLB, KIND_IOTLB);
            if iotlb && shift > 12 {
                let r = AddrRange::Span {
                    first: lo,
                    last: hi,
                }
                .align_out(u32::from(shift));
                f.push(b.with(Dim::Addr, r.first(), r.last()));
            } else {
                f.push(*b);
            }
        }
        f
    }

    /// Set equality.
    pub fn same_as(&self, other: &Footprint) -> bool {
        self.covers(other) && other.covers(self)
    }

    /// The footprint as a target without secure regimes can remove it:
    /// secure entries removed, every other regime folded into `Guest`,
    /// except, with `keep_hyp_iotlb`, IOTLB entries of `Hyp`, which stay
    /// apart (a target whose host translations carry no domain tag while its
    /// VMs' do, e.g. the RISC-V IOMMU: second stage Bare, no GSCID). With
    /// `false`, what a single-regime target (VT-d, AMD-Vi) is compared against.
    pub fn fold_regimes(&self, keep_hyp_iotlb: bool) -> Footprint {
        let mut f = Footprint::new();
        for b in &self.boxes {
            let (lo, hi) = b.get(Dim::Regime);
            // Hypervisor boxes already span every domain (they have none).
            if lo > Regime::Hyp as u64 {
                continue;
            }
            let iotlb = b.get(Dim::Kind) == (KIND_IOTLB, KIND_IOTLB);
            if keep_hyp_iotlb && iotlb {
                f.push(b.with(Dim::Regime, lo, hi.min(Regime::Hyp as u64)));
            } else {
                f.push(b.with(Dim::Regime, 0, 0));
            }
        }
        f
    }
}

impl PartialEq for Footprint {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(other)
    }
}

const DIM_FLAGS: [(Dim, Widened); DIMS] = [
    (Dim::Kind, Widened::CACHES),
    (Dim::Level, Widened::LEAF),
    (Dim::Regime, Widened::REGIME),
    (Dim::Stage, Widened::STAGE),
    (Dim::Domain, Widened::DOMAIN),
    (Dim::Pasid, Widened::PASID),
    (Dim::Device, Widened::DEVICE),
    (Dim::Addr, Widened::RANGE),
];

/// The PASID coordinate interval of a selection.
pub(crate) const fn pasid_interval(p: PasidSel) -> (u64, u64) {
    match p {
        PasidSel::All => (0, u64::MAX),
        PasidSel::NoPasid => (0, 0),
        PasidSel::One(x) => (x as u64 + 1, x as u64 + 1),
    }
}

/// The PASIDs of domain `d` (guest regime) when the context lists them
/// (the caller adds requests without PASID); `None` for every domain, or a domain the context lists no PASID for
/// (then every PASID may have entries).
fn listed_pasids<C: Context + ?Sized>(i: &Inval, ctx: &C) -> Option<Vec<u32>> {
    let (DomainSel::One(d), Regime::Guest) = (i.domain, i.regime) else {
        return None;
    };
    let mut list = Vec::new();
    if ctx.pasids_of_domain(d, &mut |p| list.push(p)) && !list.is_empty() {
        Some(list)
    } else {
        None
    }
}

/// Calls `f` with each run `lo..=hi` of the device ids `devs` holds: every
/// id when the set is not enumerable.
fn device_runs<C: Context + ?Sized>(devs: &DeviceSet, ctx: &C, mut f: impl FnMut(u64, u64)) {
    match *devs {
        DeviceSet::Interval(a, b) => f(u64::from(a), u64::from(b)),
        DeviceSet::Domain { .. } => {
            let done: Result<(), core::convert::Infallible> = devs.for_each(ctx, &mut |r| {
                f(u64::from(r), u64::from(r));
                Ok(())
            });
            let Ok(()) = done;
        }
        DeviceSet::Every | DeviceSet::Unlisted => f(0, FULL[Dim::Device as usize]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::IdentityContext;
    use crate::model::{DeviceSel, Hints};

    fn span(a: u64, size: u64) -> AddrRange {
        AddrRange::new(a, size).unwrap()
    }

    fn s1(dom: u32, pasid: u32, r: AddrRange, leaf: bool) -> Footprint {
        let c = if leaf {
            Caches::IOTLB | Caches::LEAF
        } else {
            Caches::IOTLB
        };
        let i = Inval::new(c)
            .stage(Stages::S1)
            .domain(DomainSel::One(dom))
            .pasid(PasidSel::One(pasid))
            .range(r);
        Footprint::of_inval(&i, &IdentityContext)
    }

    #[test]
    fn two_halves_cover_the_whole() {
        let whole = s1(1, 1, span(0, 0x2000), false);
        let a = s1(1, 1, span(0, 0x1000), false);
        let b = s1(1, 1, span(0x1000, 0x1000), false);
        let mut ab = a.clone();
        ab.extend(&b);
        assert!(ab.covers(&whole));
        assert!(whole.covers(&ab));
        assert_eq!(ab.relation_to(&whole), Relation::Exact);
        assert!(!a.covers(&whole));
        assert_eq!(a.relation_to(&whole), Relation::Under { missing: 1 });
    }

    #[test]
    fn leaf_only_is_covered_by_full_but_not_conversely() {
        let leaf = s1(1, 1, span(0x1000, 0x1000), true);
        let full = s1(1, 1, span(0x1000, 0x1000), false);
        assert!(full.covers(&leaf));
        assert!(!leaf.covers(&full));
        match full.relation_to(&leaf) {
            Relation::Superset(e) => assert_eq!(e.widened, Widened::LEAF),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn excess_counts_bytes_and_names_the_dimension() {
        let asked = s1(1, 1, span(0x1000, 0x1000), false);
        let got = s1(1, 1, span(0, 0x4000), false);
        match got.relation_to(&asked) {
            Relation::Superset(e) => {
                assert_eq!(e.widened, Widened::RANGE);
                assert_eq!(e.bytes, 0x3000);
            }
            r => panic!("{r:?}"),
        }
        let other_pasid = s1(1, 2, span(0x1000, 0x1000), false);
        assert!(!other_pasid.covers(&asked));
        let all_pasids = Footprint::of_inval(
            &Inval::new(Caches::IOTLB)
                .stage(Stages::S1)
                .domain(DomainSel::One(1)),
            &IdentityContext,
        );
        match all_pasids.relation_to(&asked) {
            Relation::Superset(e) => assert!(e.widened.contains(Widened::PASID | Widened::RANGE)),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn top_of_address_space_and_everything() {
        let top = s1(1, 1, span(u64::MAX - 4095, 4096), false);
        let all = s1(1, 1, AddrRange::All, false);
        assert!(all.covers(&top));
        assert_eq!(top.boxes()[0].addr_size(), 4096);
        assert_eq!(all.boxes()[0].addr_size(), 1u128 << 64);
        let everything = Footprint {
            boxes: alloc::vec![FBox::everything()],
        };
        assert!(everything.covers(&all) && everything.covers(&top));
    }

    #[test]
    fn stage2_ignores_pasid() {
        let s2 = Inval::new(Caches::IOTLB)
            .stage(Stages::S2)
            .domain(DomainSel::One(3));
        let (a, b) = (s2.pasid(PasidSel::One(9)), s2.pasid(PasidSel::NoPasid));
        assert_eq!(
            Footprint::of_inval(&a, &IdentityContext),
            Footprint::of_inval(&b, &IdentityContext)
        );
    }

    #[test]
    fn device_tlb_global_adds_global_entries() {
        let base = Inval::new(Caches::DEV_TLB)
            .device(DeviceSel::One(16))
            .pasid(PasidSel::One(1));
        let g = base.global(true);
        let (fb, fg) = (
            Footprint::of_inval(&base, &IdentityContext),
            Footprint::of_inval(&g, &IdentityContext),
        );
        match fg.relation_to(&fb) {
            Relation::Superset(e) => assert_eq!(e.widened, Widened::GLOBAL),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn domain_devices_resolve_through_the_context() {
        let t = crate::context::Topology::from_json(
            r#"{"domains":[{"id":1}],"devices":[{"rid":16,"domain":1,"ats":true},{"rid":17,"domain":1,"ats":true}]}"#,
        )
        .unwrap();
        let all = Inval::new(Caches::DEV_TLB).domain(DomainSel::One(1));
        let d16 = Inval::new(Caches::DEV_TLB).device(DeviceSel::One(16));
        let d17 = Inval::new(Caches::DEV_TLB).device(DeviceSel::One(17));
        let mut both = Footprint::of_inval(&d16, &t);
        both.extend(&Footprint::of_inval(&d17, &t));
        assert_eq!(both, Footprint::of_inval(&all, &t));
        assert!(!both.is_empty());
        // A device without ATS has no device TLB.
        let t2 = crate::context::Topology::from_json(
            r#"{"domains":[{"id":1}],"devices":[{"rid":16,"domain":1,"ats":true},{"rid":17,"domain":1}]}"#,
        )
        .unwrap();
        assert!(Footprint::of_inval(&d17, &t2).is_empty());
        assert!(Footprint::of_inval(&d16, &t2).same_as(&Footprint::of_inval(&all, &t2)));
        let range = Inval::new(Caches::DEV_TLB).device(DeviceSel::Range {
            first: 15,
            last: 18,
        });
        let f = Footprint::of_inval(&range, &t2);
        // 15 (unknown: assumed ATS), 16 (ATS), 17 (no ATS), 18 (unknown).
        let devs: Vec<_> = f.boxes().iter().map(|b| b.get(Dim::Device)).collect();
        assert_eq!(devs, [(15, 16), (18, 18)]);
        // Without the topology, "all devices of domain 1" is every device.
        assert!(!both.covers(&Footprint::of_inval(&all, &IdentityContext)));
    }

    #[test]
    fn domain_pasids_resolve_through_the_context() {
        let t = crate::context::Topology::from_json(
            r#"{"domains":[{"id":1},{"id":2}],"devices":[{"rid":16,"domain":1,"pasids":[{"pasid":3},{"pasid":5}]},{"rid":17,"domain":2}]}"#,
        )
        .unwrap();
        let s1 = |d: u32, p: PasidSel| {
            Footprint::of_inval(
                &Inval::new(Caches::IOTLB)
                    .stage(Stages::S1)
                    .domain(DomainSel::One(d))
                    .pasid(p),
                &t,
            )
        };
        // Every PASID of domain 1 is its PASIDs 3 and 5 and its requests
        // without PASID (issue 28: a device's DMA without PASID has
        // stage-1 entries too, e.g. SMMU substream 0, VT-d RID_PASID).
        let mut both = s1(1, PasidSel::One(3));
        both.extend(&s1(1, PasidSel::One(5)));
        assert!(!both.covers(&s1(1, PasidSel::All)));
        assert!(!s1(1, PasidSel::NoPasid).is_empty());
        let mut three = both.clone();
        three.extend(&s1(1, PasidSel::NoPasid));
        assert!(three.same_as(&s1(1, PasidSel::All)));
        // Entries of a PASID the domain does not list do not exist, as for
        // the devices of a domain.
        assert!(s1(1, PasidSel::One(4)).is_empty());
        // A domain without listed PASIDs, and any context that lists none,
        // keep every PASID.
        assert!(!s1(2, PasidSel::One(4)).is_empty());
        assert!(!both.covers(&s1(2, PasidSel::All)));
        let id = Footprint::of_inval(
            &Inval::new(Caches::IOTLB)
                .stage(Stages::S1)
                .domain(DomainSel::One(1))
                .pasid(PasidSel::One(4)),
            &IdentityContext,
        );
        assert!(!id.is_empty());
    }

    #[test]
    fn leaf_assumption_widens_iotlb_to_whole_leaves() {
        let leaf = |a| s1(1, 1, span(a, 0x1000), false);
        let mut per_leaf = leaf(0x20_0000);
        per_leaf.extend(&leaf(0x40_0000));
        let asked = s1(1, 1, span(0x20_0000, 0x40_0000), false);
        assert!(!per_leaf.covers(&asked));
        assert!(per_leaf.assuming_leaves(21).covers(&asked));
        assert!(!per_leaf.assuming_leaves(12).covers(&asked));
        // Device TLBs are unaffected: ATS invalidations name their span.
        let d = Footprint::of_inval(
            &Inval::new(Caches::DEV_TLB).range(span(0x1000, 0x1000)),
            &IdentityContext,
        );
        assert!(d.assuming_leaves(21).same_as(&d));
    }

    #[test]
    fn syncs_remove_nothing() {
        assert!(Footprint::of_op(&Op::Sync(Default::default()), &IdentityContext).is_empty());
        let i = Inval::new(Caches::IOTLB).hints(Hints {
            leaf_shift: 21,
            ..Hints::default()
        });
        assert!(!Footprint::of_op(&Op::Inval(i), &IdentityContext).is_empty());
    }

    #[test]
    fn secure_device_tlb_and_interrupt_entries_do_not_exist() {
        let sec = Inval::new(Caches::DEV_TLB | Caches::INTR_REMAP | Caches::CONFIG_DEVICE)
            .regime(Regime::Secure);
        let f = Footprint::of_inval(&sec, &IdentityContext);
        assert_eq!(f.boxes().len(), 1, "only the secure configuration remains");
        assert_eq!(
            f.boxes()[0].get(Dim::Kind),
            (KIND_CONFIG_DEVICE, KIND_CONFIG_DEVICE)
        );
    }

    #[test]
    fn hyp_projection_drops_secure() {
        let hyp = Inval::new(Caches::IOTLB)
            .regime(Regime::Hyp)
            .stage(Stages::S1);
        let sec = Inval::new(Caches::IOTLB)
            .regime(Regime::Secure)
            .stage(Stages::S1);
        assert!(Footprint::of_inval(&sec, &IdentityContext)
            .fold_regimes(false)
            .is_empty());
        let p = Footprint::of_inval(&hyp, &IdentityContext).fold_regimes(false);
        assert_eq!(p.boxes()[0].get(Dim::Regime), (0, 0));
    }
}

/// Property tests of footprints: coverage is checked against point
/// membership (a brute-force oracle), at the address-space edges (unit
/// tests: they read the boxes' bounds).
#[cfg(test)]
mod props {
    extern crate std;
    use super::{FBox, Footprint, Relation, DIMS};
    use crate::context::IdentityContext;
    use crate::model::*;
    use crate::range::AddrRange;
    use crate::Flags;
    use alloc::vec;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn edge_addr() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            Just(0x1000),
            Just(u64::MAX - 4095),
            Just(u64::MAX),
            (0u64..64).prop_map(|p| 0x1000 * p),
            any::<u64>(),
        ]
    }

    fn range() -> impl Strategy<Value = AddrRange> {
        prop_oneof![
            Just(AddrRange::All),
            (edge_addr(), edge_addr())
                .prop_map(|(a, b)| AddrRange::inclusive(a.min(b), a.max(b)).unwrap()),
            (0u64..16, 1u64..16).prop_map(|(p, n)| AddrRange::new(p * 0x1000, n * 0x1000).unwrap()),
        ]
    }

    fn inval() -> impl Strategy<Value = Inval> {
        (
            1u8..0x40,
            0u8..3,
            1u8..4,
            prop_oneof![Just(DomainSel::All), (0u32..3).prop_map(DomainSel::One)],
            prop_oneof![
                Just(PasidSel::All),
                Just(PasidSel::NoPasid),
                (0u32..3).prop_map(PasidSel::One)
            ],
            prop_oneof![
                Just(DeviceSel::All),
                (0u32..4).prop_map(DeviceSel::One),
                (0u32..4, 0u32..4).prop_map(|(a, b)| DeviceSel::Range {
                    first: a.min(b),
                    last: a.max(b)
                })
            ],
            range(),
            any::<bool>(),
        )
            .prop_map(|(c, r, s, domain, pasid, device, range, global)| {
                let caches = Caches::from_bits_truncate(c);
                let caches = if (caches - Caches::LEAF).is_empty() {
                    caches | Caches::IOTLB
                } else {
                    caches
                };
                let regime = [Regime::Guest, Regime::Hyp, Regime::Secure][usize::from(r)];
                Inval::new(caches)
                    .regime(regime)
                    .stage(Stages::from_bits_truncate(s))
                    .domain(domain)
                    .pasid(pasid)
                    .device(device)
                    .range(range)
                    .global(global)
            })
    }

    fn fp(i: &Inval) -> Footprint {
        Footprint::of_inval(i, &IdentityContext)
    }

    fn contains_point(f: &Footprint, p: &[u64; DIMS]) -> bool {
        f.boxes()
            .iter()
            .any(|b| (0..DIMS).all(|d| b.lo[d] <= p[d] && p[d] <= b.hi[d]))
    }

    /// A few points of a box: its corners along each axis plus a pseudo-random interior point.
    fn sample_points(b: &FBox, seed: u64) -> Vec<[u64; DIMS]> {
        let mut pts = vec![b.lo, b.hi];
        let mut x = seed | 1;
        let mut p = b.lo;
        for (d, v) in p.iter_mut().enumerate() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let span = b.hi[d] - b.lo[d];
            *v = b.lo[d] + if span == u64::MAX { x } else { x % (span + 1) };
        }
        pts.push(p);
        pts
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// The branch-free tests are the per-coordinate definitions, at the
        /// edges of the coordinates too (and for empty intervals, `lo > hi`).
        #[test]
        fn contains_and_intersects_are_the_definitions(
            a in proptest::collection::vec(edge_addr(), 32),
            pick in proptest::collection::vec(0u8..3, 16),
        ) {
            let mut x = FBox::everything();
            let mut y = FBox::everything();
            for d in 0..DIMS {
                (x.lo[d], x.hi[d], y.lo[d], y.hi[d]) = (a[4 * d], a[4 * d + 1], a[4 * d + 2], a[4 * d + 3]);
                // Often equal bounds, where `<=` and `<` differ.
                match pick[d] {
                    1 => y.lo[d] = x.lo[d],
                    2 => y.hi[d] = x.hi[d],
                    _ => {}
                }
                if pick[d + 8] == 1 {
                    y.lo[d] = x.hi[d];
                }
            }
            for (s, o) in [(x, y), (y, x), (x, x)] {
                let contains = (0..DIMS).all(|d| s.lo[d] <= o.lo[d] && o.hi[d] <= s.hi[d]);
                let intersects = (0..DIMS).all(|d| s.lo[d] <= o.hi[d] && o.lo[d] <= s.hi[d]);
                prop_assert_eq!(s.contains(&o), contains);
                prop_assert_eq!(s.intersects(&o), intersects);
            }
        }

        #[test]
        fn covers_agrees_with_point_membership(a in inval(), b in inval(), c in inval(), seed in any::<u64>()) {
            let mut fa = fp(&a);
            fa.extend(&fp(&c));
            let fb = fp(&b);
            let rest = fb.minus(&fa);
            prop_assert_eq!(fa.covers(&fb), rest.is_empty());
            // Every point of the remainder is in B and in no box of A; corner
            // points of B outside the remainder are in A.
            for r in rest.boxes() {
                for p in sample_points(r, seed) {
                    prop_assert!(contains_point(&fb, &p));
                    prop_assert!(!contains_point(&fa, &p));
                }
            }
            for bx in fb.boxes() {
                for p in sample_points(bx, seed) {
                    prop_assert_eq!(contains_point(&fa, &p), !contains_point(&rest, &p));
                }
            }
        }

        #[test]
        fn split_ranges_union_to_the_whole(i in inval(), cut in any::<u64>()) {
            let (first, last) = (i.range.first(), i.range.last());
            prop_assume!(first < last);
            let mid = first + cut % (last - first);
            let lo = i.range(AddrRange::inclusive(first, mid).unwrap());
            let hi = i.range(AddrRange::inclusive(mid + 1, last).unwrap());
            let mut u = fp(&lo);
            u.extend(&fp(&hi));
            prop_assert!(u.same_as(&fp(&i)));
            prop_assert_eq!(u.relation_to(&fp(&i)), Relation::Exact);
            // Secure streams have no device TLB or interrupt entries (see model docs).
            let device_tagged = i.regime != Regime::Secure && i.caches.intersects(Caches::DEV_TLB | Caches::INTR_REMAP);
            let addressed = i.caches.contains(Caches::IOTLB) || device_tagged;
            prop_assert_eq!(!fp(&lo).covers(&fp(&i)), addressed);
        }

        #[test]
        fn wider_range_is_a_superset_by_the_difference(i in inval(), pages in 1u64..64, extra in 1u64..64) {
            let i = Inval { caches: Caches::IOTLB, stages: Stages::S2, ..i };
            let small = i.range(AddrRange::new(0x1000, pages * 0x1000).unwrap());
            let big = i.range(AddrRange::new(0x1000, (pages + extra) * 0x1000).unwrap());
            match fp(&big).relation_to(&fp(&small)) {
                Relation::Superset(e) => {
                    prop_assert_eq!(e.widened, Widened::RANGE);
                    prop_assert_eq!(e.bytes, u128::from(extra) * 0x1000);
                }
                r => prop_assert!(false, "{:?}", r),
            }
            let under = matches!(fp(&small).relation_to(&fp(&big)), Relation::Under { .. });
            prop_assert!(under);
        }

        #[test]
        fn leaf_and_stage_and_pasid_widenings_are_named(i in inval()) {
            let i = Inval { caches: Caches::IOTLB | Caches::LEAF, regime: Regime::Guest, stages: Stages::S1, pasid: PasidSel::One(1), ..i };
            let no_leaf = Inval { caches: Caches::IOTLB, ..i };
            let both = Inval { stages: Stages::all(), ..i };
            let all_pasids = Inval { pasid: PasidSel::All, ..i };
            for (wide, flag) in [(no_leaf, Widened::LEAF), (both, Widened::STAGE), (all_pasids, Widened::PASID)] {
                match fp(&wide).relation_to(&fp(&i)) {
                    Relation::Superset(e) => prop_assert!(e.widened.contains(flag), "{:?} for {:?}", e.widened, flag),
                    r => prop_assert!(false, "{:?}", r),
                }
            }
        }
    }
}
