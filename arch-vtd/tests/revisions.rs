//! Decoding by the emulated unit's [`Features`] (CAP_REG / ECAP_REG and the
//! revision): a descriptor the unit cannot process is an IQE, in
//! `decode_with` and in the invalidation-queue front end. docs/REVISIONS.md
//! points at these tests.

use iommu_inval_core::device::{CommandQueue, CountingBackend};
use iommu_inval_core::NativeCommand;
use iommu_inval_core::{CellMemory, ErrorKind, IdentityContext, QueueMemory};
use iommu_inval_vtd::queue::HwError;
use iommu_inval_vtd::queue::{InvQueue, FSTS_IQE};
use iommu_inval_vtd::{Command, Features};

/// PASID-granular descriptors need scalable mode (ECAP_REG.SMTS).
#[test]
fn pasid_descriptors_need_scalable_mode() {
    // p_iotlb_inv_dsc, pc_inv_dsc, p_dev_tlb_inv_dsc.
    for w in [
        [0x0000_0005_0001_0026u64, 0],
        [0x0000_0005_0001_0017, 0],
        [0x0000_0005_0010_0008, 0x1000],
    ] {
        assert!(Command::decode_with(&w, &Features::REV5).is_ok(), "{w:#x?}");
        let e = Command::decode_with(&w, &Features::LEGACY).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidField, "{w:#x?}");
    }
    // 256-bit descriptors too.
    let wide = [0x0005_0022, 0, 0, 0];
    assert!(Command::decode_with(&wide, &Features::LEGACY).is_err());
    assert!(Command::decode_with(&wide[..2], &Features::LEGACY).is_ok());
}

/// The front end stops with IQE at a descriptor its unit lacks, after
/// running the ones before it.
#[test]
fn front_end_refuses_by_features() {
    let mut bytes = vec![0u8; 0x1000];
    let mem = CellMemory::new(0x10_0000, &mut bytes);
    // iotlb_inv_dsc global, then iec_inv_dsc (interrupt remapping).
    mem.write_words(0x10_0000, &[0x2 | 1 << 4, 0, 0x4, 0])
        .unwrap();
    let no_ir = Features {
        ir: false,
        ..Features::LATEST
    };
    let run = |f: Features| {
        let mut q = InvQueue::from_registers(0x10_0000, 0, 0)
            .unwrap()
            .with_features(f);
        q.doorbell(0x20);
        let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
        (p.consumed, p.fault.map(|f| f.hw), q.fsts & FSTS_IQE)
    };
    assert_eq!(run(Features::LATEST), (2, None, 0));
    assert_eq!(run(no_ir), (1, Some(HwError::Iqe), FSTS_IQE));
}
