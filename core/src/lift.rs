//! The architecture-neutral half of every lift: the output with its
//! [`Outcome`], a native domain id's generic domain, and the fan-out of a
//! native address-space tag to the PASID selections it carries.

use crate::context::Context;
use crate::error::LowerError;
use crate::model::{Caches, DomainSel, Inval, Op, Outcome, PasidSel, Widened};
use crate::native::ArchId;
use crate::sink::Sink;

/// Writes one lift's operations and keeps its [`Outcome`] (one `Outcome`
/// field rather than its parts: the RISC-V lift loop is 2.4% fewer
/// instructions so, as before the emitter moved to core).
pub struct Emit<'a> {
    out: &'a mut dyn Sink<Op>,
    o: Outcome,
}

impl<'a> Emit<'a> {
    /// An emitter writing to `out`.
    #[inline(always)]
    pub fn new(out: &'a mut dyn Sink<Op>) -> Self {
        Emit {
            out,
            o: Outcome::default(),
        }
    }

    /// Write `op`.
    #[inline(always)]
    pub fn push(&mut self, op: Op) -> Result<(), LowerError> {
        self.out.push(op)?;
        self.o.emitted += 1;
        Ok(())
    }

    /// Report `w` as widened.
    #[inline]
    pub fn widen(&mut self, w: Widened) {
        self.o.widened |= w;
    }

    /// The widening so far, to add to.
    #[inline(always)]
    pub fn widened_mut(&mut self) -> &mut Widened {
        &mut self.o.widened
    }

    /// Report the command as partly dropped, for `reason` (`None`: nothing dropped).
    #[inline]
    pub fn set_dropped(&mut self, reason: Option<&'static str>) {
        self.o.dropped = reason;
    }

    /// The outcome so far.
    #[inline(always)]
    pub fn outcome(&self) -> Outcome {
        self.o
    }
}

/// `Caches::LEAF` when `leaf` (the command invalidates only the entries
/// of leaf table entries), else nothing.
#[inline(always)]
pub const fn leaf_if(leaf: bool) -> Caches {
    if leaf {
        Caches::LEAF
    } else {
        Caches::EMPTY
    }
}

/// The generic domain of native domain id `native`; every domain, reported
/// in `w` as `DOMAIN`, when the context does not know it.
#[inline(always)]
pub fn domain_of<X: Context + ?Sized>(
    ctx: &X,
    arch: ArchId,
    native: u32,
    w: &mut Widened,
) -> DomainSel {
    match ctx.domain_from_native(arch, native) {
        Some(d) => DomainSel::One(d),
        None => {
            *w |= Widened::DOMAIN;
            DomainSel::All
        }
    }
}

/// `base` once per PASID selection whose entries carry native tag `tag`
/// ([`Context::pasids_of_tag`], in its order); every PASID, reported as
/// `PASID`, when the context does not know them all or knows none. A first
/// pass only counts, so the common single-selection case pushes its op
/// straight away. It does not apply the unknown-domain widening itself
/// (with `lookup` unknown the lift's output is the PASIDs the tag names in
/// any domain); a consumer that must not trust the other domains' tags
/// bounds the result with [`pasid_bound`].
#[inline(always)]
pub fn per_tag<X: Context + ?Sized>(
    ctx: &X,
    arch: ArchId,
    base: Inval,
    lookup: DomainSel,
    tag: u32,
    e: &mut Emit<'_>,
) -> Result<(), LowerError> {
    let (mut n, mut first) = (0usize, PasidSel::All);
    let known = ctx.pasids_of_tag(arch, lookup, tag, &mut |p| {
        if n == 0 {
            first = p;
        }
        n += 1;
    });
    if n == 1 {
        e.push(Op::Inval(base.pasid(first)))?;
    } else if n > 1 {
        each_pasid(ctx, arch, &base, lookup, tag, e)?;
    }
    if !known || n == 0 {
        e.widen(Widened::PASID);
        e.push(Op::Inval(base.pasid(PasidSel::All)))?;
    }
    Ok(())
}

/// The PASID selection a consumer may keep for an op [`per_tag`] lifted,
/// where the tag means a PASID only within its domain (`tags_per_domain`:
/// an SMMU ASID under a VMID, a RISC-V PSCID under a GSCID): when the lift
/// did not know the domain (`DomainSel::All`, reported widened `DOMAIN`),
/// the PASIDs it found through the tag in *other* domains are no bound, so
/// every PASID, reported in `w` as `PASID`. Otherwise `pasid` unchanged.
/// No lift calls it: it is the consumer's bound (the iommufd VT-d back end
/// applies it), so lift output stays as [`per_tag`] emits it.
#[inline]
pub fn pasid_bound(
    domain: DomainSel,
    pasid: PasidSel,
    tags_per_domain: bool,
    w: &mut Widened,
) -> PasidSel {
    if domain == DomainSel::All && pasid != PasidSel::All && tags_per_domain {
        *w |= Widened::PASID;
        PasidSel::All
    } else {
        pasid
    }
}

/// One inval per PASID selection of `tag`, stopping at the first sink error.
#[inline]
fn each_pasid<X: Context + ?Sized>(
    ctx: &X,
    arch: ArchId,
    base: &Inval,
    lookup: DomainSel,
    tag: u32,
    e: &mut Emit<'_>,
) -> Result<(), LowerError> {
    let mut res = Ok(());
    ctx.pasids_of_tag(arch, lookup, tag, &mut |p| {
        if res.is_ok() {
            res = e.push(Op::Inval(base.pasid(p)));
        }
    });
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Flags;

    #[test]
    fn an_unknown_domain_unbounds_a_per_domain_tag() {
        let mut w = Widened::empty();
        let one = PasidSel::One(7);
        assert_eq!(pasid_bound(DomainSel::One(1), one, true, &mut w), one);
        assert_eq!(pasid_bound(DomainSel::All, one, false, &mut w), one);
        assert!(w.is_empty());
        assert_eq!(
            pasid_bound(DomainSel::All, one, true, &mut w),
            PasidSel::All
        );
        assert_eq!(w, Widened::PASID);
    }
}
