//! What core's lowering dispatcher decides before an architecture plans an
//! invalidation (`Lowering::NO_SECURE`, `Lowering::REFUSES_INVERTED`), on
//! every architecture with a ring (virtio-iommu's lowering makes its own
//! checks): a secure invalidation is dropped with the reason of
//! an architecture without a secure regime, a hand-built inverted range is
//! refused by the architectures that refuse it — before the secure drop.

use iommu_inval::core::arch::Arch;
use iommu_inval::core::model::{Caches, Inval, Regime};
use iommu_inval::core::{AddrRange, FixedBuf, IdentityContext, LowerError, Op, Outcome};
use iommu_inval::Target;

/// `A`'s default lowering of `i`, and how many commands it wrote.
fn lower<A: Arch>(i: Inval) -> (Result<Outcome, LowerError>, usize) {
    let mut out: FixedBuf<A::Command, 256> = FixedBuf::new();
    let o = Target::<A>::default().lower(&Op::Inval(i), &IdentityContext, &mut out);
    (o, out.len())
}

/// The secure drop's reason (`None`: the invalidation is lowered) and whether an inverted
/// range is refused, for `A`.
fn check<A: Arch>(secure: Option<&str>, refuses_inverted: bool) {
    let s = Inval {
        regime: Regime::Secure,
        ..Inval::new(Caches::IOTLB | Caches::DEV_TLB)
    };
    match (lower::<A>(s), secure) {
        ((Ok(o), n), Some(why)) => assert_eq!((o.dropped, o.emitted, n), (Some(why), 0, 0)),
        ((Ok(o), n), None) => assert!(o.emitted > 0 && n > 0, "{:?}", A::ID),
        (other, _) => panic!("{:?}: {other:?}", A::ID),
    }
    let inverted = AddrRange::Span {
        first: 0x5000,
        last: 0x1000,
    };
    for regime in [Regime::Secure, Regime::Guest] {
        let i = Inval {
            regime,
            range: inverted,
            ..Inval::new(Caches::IOTLB)
        };
        let refused = lower::<A>(i) == (Err(LowerError::Invalid("range with first > last")), 0);
        assert_eq!(refused, refuses_inverted, "{:?} {regime:?}", A::ID);
    }
}

#[test]
fn secure_dropped_and_inverted_refused_before_planning() {
    check::<iommu_inval::arm::Smmuv3>(None, false);
    check::<iommu_inval::vtd::Vtd>(
        Some("VT-d has no secure regime (and device-TLB/interrupt entries are non-secure only)"),
        false,
    );
    check::<iommu_inval::amd::AmdVi>(
        Some(
            "AMD-Vi has no secure regime (no secure IOTLB, configuration, device TLB or interrupt entries)",
        ),
        true,
    );
    check::<iommu_inval::riscv::RiscV>(Some("the RISC-V IOMMU has no secure regime"), true);
}
