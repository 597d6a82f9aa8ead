//! The lower_caps and named_fields fuzz bodies on deterministic
//! pseudo-random bytes: lowering to hosts of arbitrary capabilities into
//! bounded sinks, and the named-field surface of every architecture.

use iommu_inval_core::arch::Arch;
use iommu_inval_core::arch::Target;
use iommu_inval_core::Budget;
use iommu_inval_core::Flags;
use iommu_inval_props::{bodies, run_cases};

fn bytes(u: &mut arbitrary::Unstructured<'_>, n: usize) -> Vec<u8> {
    (0..n).map(|_| u.arbitrary::<u8>().unwrap_or(0)).collect()
}

#[test]
fn lowering_to_any_host_is_bounded_conforming_and_covers() {
    let r = run_cases(0xca95, 40_000, 256, |u| bodies::lower_caps(&bytes(u, 256)));
    if let Err(e) = r {
        panic!("{e}");
    }
}

#[test]
fn named_fields_give_typed_errors_or_valid_commands() {
    let r = run_cases(0xf1e1d5, 30_000, 128, |u| {
        bodies::named_fields(&bytes(u, 128))
    });
    if let Err(e) = r {
        panic!("{e}");
    }
}

use iommu_inval_core::model::{
    Caches, DeviceSel, Inval, Op, PageResponse, PasidSel, Regime, RespCode, Stages,
};
use iommu_inval_core::{IdentityContext, LowerError, Widened};

/// A response to a page request of PASID `pasid`.
fn response(pasid: u32) -> Op {
    Op::PageResponse(PageResponse {
        device: 1,
        pasid: Some(pasid),
        prg_index: 2,
        code: RespCode::Success,
        last: true,
        priv_data: None,
        guest: true,
    })
}

fn no_equivalent<T: std::fmt::Debug>(r: Result<T, LowerError>) -> bool {
    matches!(r, Err(LowerError::NoEquivalent(_)))
}

/// Found by lower_caps: a page response for a PASID wider than the host's
/// was sent with that PASID; a host that narrow never took such a request.
#[test]
fn page_response_wider_than_the_host_pasids_is_refused() {
    let ctx = &IdentityContext;
    let op = response(0x1_0000);
    let arm = Target::<iommu_inval_arm::Smmuv3>::new(iommu_inval_arm::Features {
        ssid_bits: 16,
        ..iommu_inval_arm::Features::LATEST
    });
    assert!(no_equivalent(arm.lower(&op, ctx, &mut Vec::new())));
    let vtd = Target::<iommu_inval_vtd::Vtd>::new(iommu_inval_vtd::Features {
        pasid_bits: 16,
        ..iommu_inval_vtd::Features::SCALABLE
    });
    assert!(no_equivalent(vtd.lower(&op, ctx, &mut Vec::new())));
    let amd = Target::<iommu_inval_amd::AmdVi>::default(); // 16-bit PASIDs
    assert!(no_equivalent(amd.lower(&op, ctx, &mut Vec::new())));
    let riscv = Target::<iommu_inval_riscv::RiscV>::new(iommu_inval_riscv::Features {
        pid_bits: 8,
        ..iommu_inval_riscv::Features::ALL
    });
    assert!(no_equivalent(riscv.lower(
        &response(0x100),
        ctx,
        &mut Vec::new()
    )));
    // Within the width: one response each.
    assert_eq!(
        arm.lower(&response(0xffff), ctx, &mut Vec::new())
            .map(|o| o.emitted),
        Ok(1)
    );
    // AMD: a guest response (gn = 1) needs guest translation (EFR.GTSup).
    let no_gt = Target::<iommu_inval_amd::AmdVi>::new(iommu_inval_amd::Features {
        gt_sup: false,
        ..iommu_inval_amd::Features::REV2
    });
    assert!(no_equivalent(no_gt.lower(
        &response(1),
        ctx,
        &mut Vec::new()
    )));
}

/// Found by lower_caps: a RISC-V ATS.INVAL carried a PID wider than the
/// host's; it is now sent without a PID (PV = 0), reported as widened.
#[test]
fn riscv_device_tlb_pid_wider_than_the_host_goes_without() {
    let caps = Target::<iommu_inval_riscv::RiscV>::new(iommu_inval_riscv::Features {
        pid_bits: 17,
        ..iommu_inval_riscv::Features::ALL
    });
    let op = Op::Inval(Inval {
        pasid: PasidSel::One(0x4_0000),
        device: DeviceSel::One(7),
        ..Inval::new(Caches::DEV_TLB)
    });
    let mut v = Vec::new();
    let o = caps.lower(&op, &IdentityContext, &mut v).expect("lowers");
    assert!(o.widened.contains(Widened::PASID), "{o:?}");
    assert!(
        v.iter().all(|c| match c {
            iommu_inval_riscv::Command::AtsInval(a) => !a.pv && a.pid == 0,
            _ => true,
        }),
        "{v:?}"
    );
}

/// Found by lower_caps: a Secure stage-2 invalidation was sent as
/// CMD_TLBI_S_S12_VMALL to an SMMU without stage 2, which that SMMU
/// refuses (SMMU_IDR0.S2P); it caches nothing of that regime: dropped, reported.
#[test]
fn smmu_secure_guest_on_a_stage1_only_host_is_dropped() {
    let caps = Target::<iommu_inval_arm::Smmuv3>::new(iommu_inval_arm::Features {
        s2p: false,
        ..iommu_inval_arm::Features::LATEST
    });
    let op = Op::Inval(
        Inval::new(Caches::IOTLB)
            .regime(Regime::SecureGuest)
            .stage(Stages::all()),
    );
    let mut v = Vec::new();
    let o = caps.lower(&op, &IdentityContext, &mut v).expect("lowers");
    assert!(v.is_empty(), "{v:?}");
    assert!(o.dropped.is_some(), "{o:?}");
}

/// The passthrough fuzz body: guest ring → front end → LowerToHost into a
/// small host ring of any architecture and arbitrary caps → host front end.
#[test]
fn passthrough_host_sees_exactly_the_lowered_guest_ops() {
    let r = run_cases(0x9a55, 3_000, 1024, |u| {
        iommu_inval_props::passthrough::passthrough(&bytes(u, 1024))
    });
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// `max_lowered` of a cap near `usize::MAX` ("no limit") saturates rather
/// than overflow (a panic in a debug build), in every architecture.
#[test]
fn max_lowered_saturates() {
    fn saturates<A: Arch>(cap: usize) -> bool {
        A::max_lowered(Budget::new(cap)) == usize::MAX
    }
    for cap in [usize::MAX, usize::MAX - 1, usize::MAX / 3] {
        assert!(saturates::<iommu_inval_arm::Smmuv3>(cap), "arm {cap}");
        assert!(saturates::<iommu_inval_vtd::Vtd>(cap), "vtd {cap}");
        assert!(saturates::<iommu_inval_amd::AmdVi>(cap), "amd {cap}");
        assert!(saturates::<iommu_inval_riscv::RiscV>(cap), "riscv {cap}");
    }
}
