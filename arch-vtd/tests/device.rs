//! The VT-d invalidation-queue front end (`InvQueue`): inv_wait executed,
//! FSTS / IQERCD / ICS / IECTL / FECTL, batching per barrier, pointers.

use iommu_inval_core::device::{
    BackendError, CommandQueue, CountingBackend, FaultCause, QueueEngine, QueueProducer, Record,
    RecordingBackend, Signals,
};
use iommu_inval_core::Flags;
use iommu_inval_core::NativeCommand;
use iommu_inval_core::{IdentityContext, QueueMemory};
use iommu_inval_vtd::queue::HwError;
use iommu_inval_vtd::queue::{InvQueue, CTL_IM, CTL_IP, FSTS_IQE};

// Register bits the front end sets (VT-d §11.4.4.1 FSTS_REG.ITE, §6.5.2.8
// ICS_REG.IWC); a VMM returns the registers as they are.
const FSTS_ITE: u32 = 1 << 6;
const ICS_IWC: u32 = 1 << 0;
// IQA_REG.DW (VT-d §11.4.9): 256-bit descriptors.
const IQA_DW: u64 = 1 << 11;

#[path = "../../core/tests/front_end/mod.rs"]
mod front_end;
use front_end::{put, read_u32, run, Guest, BASE};
const STATUS: u64 = 0x10_8000;
/// iotlb_inv_dsc, global.
const GLOBAL: [u64; 2] = [0x2 | 1 << 4, 0];
/// iotlb_inv_dsc, domain 3.
const DOMAIN3: [u64; 2] = [0x2 | 2 << 4 | 3 << 16, 0];
/// dev_tlb_inv_dsc for source-id 0x10, one page at 0.
const DEVTLB: [u64; 2] = [0x3 | 0x10 << 32, 0];
const BAD_TYPE: [u64; 2] = [0xf, 0];

/// inv_wait with SW (status `data` at `addr`) and optionally IF.
fn wait(addr: u64, data: u32, irq: bool) -> [u64; 2] {
    [
        0x5 | 1 << 5 | u64::from(irq) << 4 | u64::from(data) << 32,
        addr,
    ]
}

/// One 4 KiB page of 128-bit descriptors (256 slots).
fn queue() -> InvQueue {
    InvQueue::from_registers(BASE, 0, 0).unwrap()
}

#[test]
fn inv_wait_status_write_and_iwc_after_the_batch() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = queue();
    let mut b = RecordingBackend::default();
    let p = run(
        &mut q,
        &mem,
        &[GLOBAL, DOMAIN3, wait(STATUS, 0x55, true)],
        0x30,
        &mut b,
    );
    assert_eq!((p.consumed, p.ops, p.completions), (3, 2, 1));
    let log: Vec<Record<'_>> = b.records().collect();
    assert!(matches!(log.as_slice(), [Record::Batch(o), Record::Barrier(_)] if o.len() == 2));
    assert_eq!(read_u32(&mem, STATUS), 0x55);
    assert_eq!(q.ics, ICS_IWC);
    assert_eq!(p.signals, Signals::COMPLETION_IRQ);
    // IWC still set: the next IF raises nothing new.
    put(&mem, 3, wait(STATUS, 0x56, true));
    q.doorbell(0x40);
    let p = q.process(&mem, &IdentityContext, &mut b);
    assert_eq!((p.completions, p.signals), (1, Signals::empty()));
    // Cleared (RW1C) and masked: IECTL.IP is set instead of an interrupt.
    q.write_ics(ICS_IWC);
    q.iectl = CTL_IM;
    put(&mem, 4, wait(STATUS, 0x57, true));
    q.doorbell(0x50);
    let p = q.process(&mem, &IdentityContext, &mut b);
    assert_eq!(p.signals, Signals::empty());
    assert_eq!(q.iectl, CTL_IM | CTL_IP);
    assert_eq!(read_u32(&mem, STATUS), 0x57);
}

#[test]
fn wrap_full_and_256_bit_queue() {
    let mut g = Guest::new();
    let mem = g.mem();
    for s in 0..256 {
        put(&mem, s, GLOBAL);
    }
    // Head at the last slot, tail at slot 2: slots 255, 0, 1.
    let mut q = InvQueue::from_registers(BASE, 0xff0, 0x20).unwrap();
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!((p.consumed, q.head_register()), (3, 0x20));
    // Full: tail one slot behind head (255 descriptors).
    let mut q = InvQueue::from_registers(BASE, 0x10, 0).unwrap();
    assert_eq!(q.free_slots(), 0);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!(p.consumed, 255);
    // 256-bit descriptors: a 128-bit descriptor with zero upper half per 32 bytes.
    let mut g = Guest::new();
    let mem = g.mem();
    mem.write_words(BASE, &[GLOBAL[0], GLOBAL[1], 0, 0])
        .unwrap();
    mem.write_words(BASE + 32, &[DOMAIN3[0], DOMAIN3[1], 0, 0])
        .unwrap();
    let mut q = InvQueue::from_registers(BASE | IQA_DW, 0, 0x40).unwrap();
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!((p.consumed, q.head_register()), (2, 0x40));
}

#[test]
fn bad_tail_is_iqe_with_iqei_1_and_oversize_offsets_are_masked() {
    let mut g = Guest::new();
    let mem = g.mem();
    // 256-bit queue: a tail with bit 4 set is not a descriptor boundary.
    let mut q = InvQueue::from_registers(BASE | IQA_DW, 0, 0).unwrap();
    q.doorbell(0x10);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    let f = p.fault.unwrap();
    assert_eq!(
        (f.hw, f.cause),
        (HwError::Iqe, FaultCause::BadPointer(0x10))
    );
    assert_eq!((q.fsts, q.iqercd & 0xf), (FSTS_IQE, 1));
    assert_eq!(p.signals, Signals::ERROR_IRQ);
    // A tail past a one-page queue is an invalid tail too.
    let mut q = queue();
    q.doorbell(0x2000);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!(
        p.fault.map(|f| f.cause),
        Some(FaultCause::BadPointer(0x2000))
    );
    // Bits outside IQT[18:4] are not part of the register.
    let mut q = queue();
    q.doorbell(0xffff_ffff_fff8_0000 | 0x10);
    assert_eq!(q.tail_register(), 0x10);
}

#[test]
fn unmapped_fetch_and_unmapped_status_write_are_iqe() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = InvQueue::from_registers(0x4000_0000, 0, 0x10).unwrap();
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    let f = p.fault.unwrap();
    assert!(matches!(f.cause, FaultCause::Fetch(_)));
    assert_eq!(
        (f.hw, q.iqercd & 0xf, q.head_register()),
        (HwError::Iqe, 2, 0)
    );
    // A status write that fails: IQE at the inv_wait (as QEMU's model).
    let mut q = queue();
    put(&mem, 0, wait(0x9000_0000, 1, false));
    q.doorbell(0x10);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    let f = p.fault.unwrap();
    assert!(f.stopped && matches!(f.cause, FaultCause::CompletionStore(e) if e.write));
    assert_eq!((q.fsts, q.head_register()), (FSTS_IQE, 0));
}

#[test]
fn bad_descriptor_stops_with_head_at_it_until_fsts_is_cleared() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = queue();
    let mut b = RecordingBackend::default();
    let p = run(&mut q, &mem, &[GLOBAL, BAD_TYPE], 0x20, &mut b);
    assert_eq!((p.consumed, b.ops().count()), (1, 1));
    assert_eq!((q.head_register(), q.iqercd & 0xf), (0x10, 3));
    // FECTL.IM is clear: the fault event is raised.
    assert_eq!(p.signals, Signals::ERROR_IRQ);
    q.doorbell(0x20);
    assert!(q.process(&mem, &IdentityContext, &mut b).blocked);
    put(&mem, 1, DOMAIN3);
    q.write_fsts(FSTS_IQE);
    let p = q.process(&mem, &IdentityContext, &mut b);
    assert_eq!((p.consumed, q.head_register()), (1, 0x20));
}

#[test]
fn device_tlb_timeout_is_ite_with_the_source_id() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = queue();
    q.fectl = CTL_IM;
    let mut b = RecordingBackend::failing(BackendError::DeviceTlbTimeout { device: 0x10 });
    let p = run(
        &mut q,
        &mem,
        &[DEVTLB, wait(STATUS, 9, false)],
        0x20,
        &mut b,
    );
    let f = p.fault.unwrap();
    assert_eq!((f.hw, f.position), (HwError::Ite, 0x10));
    assert_eq!(q.fsts, FSTS_ITE);
    assert_eq!((q.iqercd >> 32) & 0xffff, 0x10);
    assert_eq!(q.fectl, CTL_IM | CTL_IP);
    assert!(p.signals.is_empty() && q.is_stopped());
    assert_eq!(read_u32(&mem, STATUS), 0);
}

#[test]
fn producer_refuses_a_wide_descriptor_in_a_narrow_queue() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut host = queue();
    let narrow = iommu_inval_vtd::Command::decode(&GLOBAL).unwrap();
    host.produce(&mem, &narrow).unwrap();
    let wide = iommu_inval_vtd::Command::decode(&[GLOBAL[0], GLOBAL[1], 0, 0]).unwrap();
    assert_eq!(wide.words(), 4);
    assert!(matches!(
        host.produce(&mem, &wide),
        Err(iommu_inval_core::device::ProduceError::Encode(_))
    ));
    let p = host.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!(p.consumed, 1);
}
