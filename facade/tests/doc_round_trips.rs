//! The round trips the architecture crates' docs used to show, once for
//! all four: a native command lifted and lowered back for a host with the
//! given features gives the same command (the same words).

use iommu_inval::core::arch::{Arch, Target};
use iommu_inval::core::{FixedBuf, IdentityContext, NativeCommand, Op};
use iommu_inval::{amd, arm, riscv, vtd};

fn round_trip<A: Arch>(words: &[u64], features: A::Features) {
    let cmd = A::Command::decode(words).unwrap();
    let mut ops: FixedBuf<Op, 4> = FixedBuf::new();
    A::lift(&cmd, &IdentityContext, &mut ops).unwrap();
    let mut back: FixedBuf<A::Command, 4> = FixedBuf::new();
    for op in ops.iter() {
        let host = Target::<A>::new(features);
        host.lower(op, &IdentityContext, &mut back).unwrap();
    }
    assert_eq!(back.get(0), Some(&cmd), "{words:#x?}");
    let mut again = [0u64; 4];
    let n = back.get(0).map(|c| c.encode_into(&mut again).unwrap());
    assert_eq!(n.map(|n| &again[..n]), Some(words));
}

#[test]
fn crate_doc_commands_round_trip() {
    // INVALIDATE_IOTLB_PAGES: device 0x10, PASID 0x1234 (gn = 1), one 4 KiB page at 0x7000.
    round_trip::<amd::AmdVi>(&[0x4034_0000_0012_0010, 0x7004], amd::Features::REV2);
    // CMD_ATC_INV to StreamID 0x10, PASID 3, 16 pages at 0x40000.
    round_trip::<arm::Smmuv3>(&[0x10_0000_3840, 0x4_0004], arm::Features::LATEST);
    // ATS.INVAL: RID 0x10, PASID 7 (PV), 8 KiB at 0x4000 (S = 1, bit 12 clear).
    round_trip::<riscv::RiscV>(&[0x0000_1001_0000_7004, 0x4800], riscv::Features::ALL);
    // iotlb_inv_dsc, domain-selective for DID 4, 256-bit.
    round_trip::<vtd::Vtd>(&[0x0004_0022, 0, 0, 0], vtd::Features::SCALABLE);
}
