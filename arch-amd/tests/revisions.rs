//! AMD IOMMU revision 3.x additions, bit-exact, and decoding by the
//! emulated IOMMU's [`Features`] (EFR bits, revision): what an IOMMU
//! without the feature refuses is an ILLEGAL_COMMAND_ERROR. The layouts are
//! those of the public FreeBSD `amdiommu` register header (BSD); docs/REVISIONS.md
//! points at these tests.

use iommu_inval_amd::queue::CmdBufDevice;
use iommu_inval_amd::*;
use iommu_inval_core::arch::Arch;
use iommu_inval_core::device::{CommandQueue, CountingBackend};
use iommu_inval_core::model::PasidSel;
use iommu_inval_core::{CellMemory, ErrorKind, IdentityContext, LowerError, QueueMemory};

fn dec(w: [u64; 2]) -> Command {
    let c = Command::decode(&w).unwrap_or_else(|e| panic!("{w:#x?}: {e}"));
    assert_eq!(c.encode(), w, "round trip");
    c
}

/// INSERT_GUEST_EVENT (opcode 0x9): GuestID in dword1[15:0] = w0[47:32].
#[test]
fn insert_guest_event() {
    let w = [0x9000_1234_0000_0000, 0];
    assert_eq!(
        dec(w),
        Command::InsertGuestEvent(InsertGuestEvent { guest_id: 0x1234 })
    );
    for bad in [[w[0] | 1, 0], [w[0] | 1 << 48, 0], [w[0], 1]] {
        assert_eq!(
            Command::decode(&bad).unwrap_err().kind,
            ErrorKind::ReservedBits
        );
    }
    assert!(Command::decode_with(&w, &Features::LATEST).is_ok());
    assert_eq!(
        Command::decode_with(&w, &Features::REV2).unwrap_err().kind,
        ErrorKind::InvalidField
    );
    // Not an invalidation: no generic form.
    assert!(matches!(
        AmdVi::lift(&dec(w), &IdentityContext, &mut Vec::new()),
        Err(LowerError::NoEquivalent(_))
    ));
}

/// RESET_VMMIO (opcode 0xa): GuestID w0[15:0], All w0[28], VCmd w0[31]
/// (AMD's own vIOMMU driver, `build_reset_vmmio`: All is `1 << 28` beside
/// VCmd at bit 31; FreeBSD's header puts All at bit 27, one bit short).
#[test]
fn reset_vmmio() {
    let w = [0xa000_0000_9000_0042, 0];
    assert_eq!(
        dec(w),
        Command::ResetVmmio(ResetVmmio {
            guest_id: 0x42,
            all: true,
            vcmd: true
        })
    );
    // All alone is bit 28, VCmd alone bit 31.
    let all = Command::ResetVmmio(ResetVmmio {
        all: true,
        ..Default::default()
    });
    assert_eq!(all.encode(), [0xa000_0000_1000_0000, 0]);
    // Bit 27 (where the FreeBSD header has All) and every other bit of
    // w0[30:16] are reserved.
    for bit in 16..31 {
        if bit == 28 {
            continue;
        }
        let e = Command::decode(&[0xa000_0000_0000_0042 | 1 << bit, 0]).unwrap_err();
        assert_eq!(
            (e.kind, e.word, e.mask),
            (ErrorKind::ReservedBits, 0, 1 << bit)
        );
    }
    assert!(Command::decode_with(&w, &Features::REV2).is_err());
    assert!(AmdVi::lift(&dec(w), &IdentityContext, &mut Vec::new()).is_err());
}

/// INVALIDATE_IOTLB_PAGES: PASID[19:16] in w0[59:56] (revision 3.x).
#[test]
fn iotlb_pages_20_bit_pasid() {
    // device 0x10, pasid 0xa_bcde, gn = 1, one page at 0x5000.
    let w = [0x4ade_0000_00bc_0010, 0x5004];
    match dec(w) {
        Command::InvalidateIotlbPages(c) => assert_eq!((c.pasid, c.gn), (0xa_bcde, true)),
        other => panic!("{other:?}"),
    }
    assert!(Command::decode_with(&w, &Features::LATEST).is_ok());
    let e = Command::decode_with(&w, &Features::REV2).unwrap_err();
    assert_eq!(
        (e.kind, e.word, e.mask),
        (ErrorKind::ReservedBits, 0, 0xf << 56)
    );
    let mut ops = Vec::new();
    AmdVi::lift(&dec(w), &IdentityContext, &mut ops).unwrap();
    match ops.as_slice() {
        [iommu_inval_core::Op::Inval(i)] => assert_eq!(i.pasid, PasidSel::One(0xa_bcde)),
        other => panic!("{other:?}"),
    }
}

/// The front end decodes with its features: RESET_VMMIO on a revision 2.x
/// IOMMU stops the command buffer at it.
#[test]
fn front_end_refuses_by_features() {
    let mut bytes = vec![0u8; 0x1000];
    let mem = CellMemory::new(0x1_0000, &mut bytes);
    // INVALIDATE_DEVTAB_ENTRY 0x10, then RESET_VMMIO guest 1.
    mem.write_words(
        0x1_0000,
        &[0x2000_0000_0000_0010, 0, 0xa000_0000_0000_0001, 0],
    )
    .unwrap();
    let run = |f: Features| {
        let mut q = CmdBufDevice::from_registers(0x1_0000 | 8 << 56, 0, 0)
            .unwrap()
            .with_features(f);
        q.doorbell(0x20);
        let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
        (p.consumed, p.fault.is_some())
    };
    assert_eq!(run(Features::REV2), (1, true));
}
