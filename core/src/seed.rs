//! The kernel SVA invalidate proposal this model starts from, and its
//! one-to-one mapping onto [`Inval`]. The virtio-iommu drafts' INVALIDATE
//! request carries this proposal on the wire, and lifts through it.
//!
//! | seed | generic |
//! |---|---|
//! | scope `DOMAIN` | [`DomainSel::One`], [`PasidSel::All`], [`AddrRange::All`] |
//! | scope `PASID` | [`DomainSel::One`], [`PasidSel::One`], [`AddrRange::All`] |
//! | scope `VA` | [`DomainSel::One`], [`PasidSel::One`], [`AddrRange::new`]`(iova, size)` |
//! | flag `LEAF` | [`Caches::LEAF`] |
//! | flag `CONFIG` | [`Caches::CONFIG_PASID`] (scope PASID/VA), [`Caches::CONFIG`] (scope DOMAIN) |
//! | flag `TLB` | [`Caches::IOTLB`], stage 1 ([`Stages::S1`]) |
//! | flag `DEV_TLB` | [`Caches::DEV_TLB`] |
//! | `granule` (leaf page size) | [`Hints::leaf_shift`] |
//! | arch hint `asid` | resolved through the [`Context`](crate::Context) |
//!
//! A seed request that names several caches is a *sequence* in the order
//! the proposal's host driver uses: configuration, sync, TLB, sync, device
//! TLB, sync ([`SeedRequest::to_ops`]).

use crate::error::{LowerError, RangeError};
use crate::model::{Barrier, Caches, DeviceSel, DomainSel, Hints, Inval, Op, PasidSel, Stages};
use crate::range::AddrRange;
use crate::sink::Sink;
use crate::Flags;

/// Seed scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SeedScope {
    /// Everything of the domain.
    Domain,
    /// Everything of one PASID.
    Pasid,
    /// A VA range of one PASID.
    Va,
}

crate::flags! {
    /// Seed flags.
    #[derive(Clone, Copy, PartialEq, Eq, Hash)]
    pub struct SeedFlags: u8 {
        /// Only leaf entries.
        const LEAF = 1;
        /// Configuration (PASID-table entry).
        const CONFIG = 2;
        /// IOTLB.
        const TLB = 4;
        /// Device TLB.
        const DEV_TLB = 8;
    }
}

/// One request of the seed proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeedRequest {
    /// Scope.
    pub scope: SeedScope,
    /// Flags.
    pub flags: SeedFlags,
    /// Generic domain the request is made for.
    pub domain: u32,
    /// PASID (scopes PASID and VA).
    pub pasid: u32,
    /// Start (scope VA).
    pub iova: u64,
    /// Size in bytes (scope VA).
    pub size: u64,
    /// Leaf page size in bytes (power of two), 0 = unknown.
    pub granule: u64,
}

impl SeedRequest {
    /// The cache-independent part of the request as an [`Inval`] for `caches`.
    fn inval(&self, caches: Caches) -> Result<Inval, RangeError> {
        let mut i = Inval::new(caches)
            .domain(DomainSel::One(self.domain))
            .stage(Stages::S1);
        if self.flags.contains(SeedFlags::LEAF) {
            i.caches |= Caches::LEAF;
        }
        match self.scope {
            SeedScope::Domain => {}
            SeedScope::Pasid => i = i.pasid(PasidSel::One(self.pasid)),
            SeedScope::Va => {
                i = i
                    .pasid(PasidSel::One(self.pasid))
                    .range(AddrRange::new(self.iova, self.size)?)
            }
        }
        if self.granule.is_power_of_two() {
            i.hints = Hints {
                leaf_shift: self.granule.trailing_zeros() as u8,
                ..i.hints
            };
        }
        i.device = DeviceSel::All;
        Ok(i)
    }

    /// The request as a sequence: configuration, sync, TLB, sync, device TLB,
    /// sync — each step only if its flag is set. Returns the ops written.
    pub fn to_ops(self, out: &mut dyn Sink<Op>) -> Result<usize, LowerError> {
        let config = if self.scope == SeedScope::Domain {
            Caches::CONFIG
        } else {
            Caches::CONFIG_PASID
        };
        let steps = [
            (SeedFlags::CONFIG, config),
            (SeedFlags::TLB, Caches::IOTLB),
            (SeedFlags::DEV_TLB, Caches::DEV_TLB),
        ];
        let mut n = 0;
        for (flag, caches) in steps {
            if self.flags.contains(flag) {
                let mut i = self
                    .inval(caches)
                    .map_err(|_| LowerError::Invalid("seed range"))?;
                if caches != Caches::IOTLB {
                    // Configuration and device TLBs have no walk caches: LEAF
                    // and stage only concern the IOTLB.
                    i.caches -= Caches::LEAF;
                }
                out.push(Op::Inval(i))?;
                out.push(Op::Sync(Barrier::default()))?;
                n += 2;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::footprint::Footprint;
    use crate::model::Regime;
    use crate::range::{covering_block, page_count};
    use crate::sink::FixedBuf;
    use crate::IdentityContext;

    const GIB: u64 = 1 << 30;

    fn req(scope: SeedScope, flags: SeedFlags) -> SeedRequest {
        SeedRequest {
            scope,
            flags,
            domain: 1,
            pasid: 5,
            iova: 0,
            size: 0,
            granule: 0,
        }
    }

    #[test]
    fn sparse_1g_unmap() {
        // Scope PASID, TLB | DEV_TLB: a 1 GiB sparse unmap is cheaper as a PASID-wide flush.
        let r = req(SeedScope::Pasid, SeedFlags::TLB | SeedFlags::DEV_TLB);
        let mut b: FixedBuf<Op, 8> = FixedBuf::new();
        assert_eq!(r.to_ops(&mut b).unwrap(), 4);
        let ops: alloc::vec::Vec<_> = b.iter().copied().collect();
        match (ops[0], ops[1], ops[2], ops[3]) {
            (Op::Inval(t), Op::Sync(_), Op::Inval(d), Op::Sync(_)) => {
                assert_eq!(t.caches, Caches::IOTLB);
                assert_eq!(t.pasid, PasidSel::One(5));
                assert_eq!(t.range, AddrRange::All);
                assert_eq!(d.caches, Caches::DEV_TLB);
                assert_eq!(d.pasid, PasidSel::One(5));
            }
            other => panic!("{other:?}"),
        }
        // It covers every VA of 1 GiB of that PASID.
        let va = SeedRequest {
            scope: SeedScope::Va,
            iova: 0x8000_0000,
            size: GIB,
            ..r
        };
        let mut vb: FixedBuf<Op, 8> = FixedBuf::new();
        va.to_ops(&mut vb).unwrap();
        let fp = Footprint::of_ops(b.iter(), &IdentityContext);
        let fv = Footprint::of_ops(vb.iter(), &IdentityContext);
        assert!(fp.covers(&fv) && !fv.covers(&fp));
    }

    #[test]
    fn cleared_pasid_entry() {
        // Scope PASID, LEAF | CONFIG | TLB | DEV_TLB: config, sync, TLB, sync, ATC, sync.
        let r = req(SeedScope::Pasid, SeedFlags::all());
        let mut b: FixedBuf<Op, 8> = FixedBuf::new();
        assert_eq!(r.to_ops(&mut b).unwrap(), 6);
        let kinds: alloc::vec::Vec<_> = b
            .iter()
            .map(|o| match o {
                Op::Inval(i) => i.caches,
                _ => Caches::empty(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                Caches::CONFIG_PASID,
                Caches::empty(),
                Caches::IOTLB | Caches::LEAF,
                Caches::empty(),
                Caches::DEV_TLB,
                Caches::empty()
            ]
        );
        assert!(b.get(5).is_some_and(Op::is_sync));
    }

    #[test]
    fn arm_guest_one_va_leaf() {
        let r = SeedRequest {
            iova: 0x7f00_1000,
            size: 4096,
            granule: 4096,
            ..req(SeedScope::Va, SeedFlags::TLB | SeedFlags::LEAF)
        };
        let i = r.inval(Caches::IOTLB).unwrap();
        assert!(i.leaf_only());
        assert_eq!(i.range, AddrRange::new(0x7f00_1000, 4096).unwrap());
        assert_eq!(i.hints.leaf_shift, 12);
        assert_eq!(i.stages, Stages::S1);
        // A full (non-leaf) invalidation of the same VA covers it, not conversely.
        let full = Footprint::of_inval(
            &Inval {
                caches: Caches::IOTLB,
                ..i
            },
            &IdentityContext,
        );
        let leaf = Footprint::of_inval(&i, &IdentityContext);
        assert!(full.covers(&leaf) && !leaf.covers(&full));
    }

    #[test]
    fn granule_2m_needs_fewer_commands_than_4k() {
        let base = req(SeedScope::Va, SeedFlags::TLB);
        let r2m = SeedRequest {
            iova: 0x4000_0000,
            size: 64 << 20,
            granule: 2 << 20,
            ..base
        };
        let r4k = SeedRequest {
            granule: 4096,
            ..r2m
        };
        let (i2, i4) = (
            r2m.inval(Caches::IOTLB).unwrap(),
            r4k.inval(Caches::IOTLB).unwrap(),
        );
        // Without range invalidation a driver sends one command per leaf page.
        let n2 = page_count(&i2.range, u32::from(i2.hints.leaf_shift));
        let n4 = page_count(&i4.range, u32::from(i4.hints.leaf_shift));
        assert_eq!((n2, n4), (32, 16384));
        assert!(n2 < n4);
        // The 2 MiB request is one naturally aligned block: one range command
        // (SMMUv3's split of such a block is tested in iommu-inval-arm).
        assert_eq!(covering_block(&i2.range, 12).range(), i2.range);
    }

    #[test]
    fn va_request_is_config_tlb_device_tlb_each_synced() {
        // The sequence arch-arm's `seed_request_order_config_tlb_atc` lowers.
        let r = SeedRequest {
            scope: SeedScope::Va,
            flags: SeedFlags::CONFIG | SeedFlags::TLB | SeedFlags::DEV_TLB,
            domain: 1,
            pasid: 2,
            iova: 0x4000,
            size: 0x2000,
            granule: 0x1000,
        };
        let mut b: FixedBuf<Op, 8> = FixedBuf::new();
        assert_eq!(r.to_ops(&mut b).unwrap(), 6);
        // Each step is the request's invalidation of one cache, then a sync.
        let ops: alloc::vec::Vec<_> = b.iter().copied().collect();
        let steps = [Caches::CONFIG_PASID, Caches::IOTLB, Caches::DEV_TLB];
        for (k, caches) in steps.into_iter().enumerate() {
            assert_eq!(ops[2 * k], Op::Inval(r.inval(caches).unwrap()));
            assert_eq!(ops[2 * k + 1], Op::Sync(Barrier::default()));
        }
        // Every field of such an invalidation.
        let i = r.inval(Caches::IOTLB).unwrap();
        let hints = Hints {
            leaf_shift: 12,
            ..Hints::default()
        };
        let range = AddrRange::new(0x4000, 0x2000).unwrap();
        assert_eq!(
            (i.caches, i.regime, i.stages, i.domain, i.pasid),
            (
                Caches::IOTLB,
                Regime::Guest,
                Stages::S1,
                DomainSel::One(1),
                PasidSel::One(2)
            )
        );
        assert_eq!(
            (i.global, i.device, i.range, i.hints),
            (false, DeviceSel::All, range, hints)
        );
    }

    #[test]
    fn bad_seed_range_is_an_error() {
        let r = SeedRequest {
            iova: u64::MAX,
            size: 2,
            ..req(SeedScope::Va, SeedFlags::TLB)
        };
        assert_eq!(r.inval(Caches::IOTLB), Err(RangeError::Overflow));
        let mut b: FixedBuf<Op, 8> = FixedBuf::new();
        assert!(r.to_ops(&mut b).is_err());
    }
}
