//! The RISC-V command-queue front end (`CqDevice`): IOFENCE.C executed,
//! `cqcsr` error bits with `cqh` left at the command, batching per fence.

use iommu_inval_core::device::{
    BackendError, CommandQueue, CountingBackend, FaultCause, QueueProducer, Record,
    RecordingBackend, Signals,
};
use iommu_inval_core::model::{Caches, Op};
use iommu_inval_core::{CellMemory, GuestMemory, HwError, IdentityContext};
use iommu_inval_riscv::queue::{
    CqDevice, CQCSR_CMD_ILL, CQCSR_CMD_TO, CQCSR_CQMF, CQCSR_FENCE_W_IP,
};
use iommu_inval_riscv::{Command, Features, IodirInvalDdt};

const BASE: u64 = 0x10_0000;
const STORE: u64 = 0x10_8000;
/// 256 entries (LOG2SZ-1 = 7) at BASE.
const CQB: u64 = (BASE >> 12) << 10 | 7;
/// IODIR.INVAL_DDT DV = 1, DID 0x10.
const DDT: [u64; 2] = [0x3 | 1 << 33 | 0x10 << 40, 0];
/// IOTINVAL.VMA PSCV PSCID 5, AV, page 0x4000.
const VMA: [u64; 2] = [0x1 | 1 << 10 | 5 << 12 | 1 << 32, 0x4000 >> 2];
/// Opcode 5: reserved.
const BAD: [u64; 2] = [0x5, 0];

fn fence(addr: u64, data: u32, wsi: bool) -> [u64; 2] {
    [
        0x2 | 1 << 10 | u64::from(wsi) << 11 | u64::from(data) << 32,
        addr >> 2,
    ]
}

struct Guest(Vec<u8>);
impl Guest {
    fn new() -> Self {
        Guest(vec![0u8; 0x1_0000])
    }
    fn mem(&mut self) -> CellMemory<'_> {
        CellMemory::new(BASE, &mut self.0)
    }
}
fn put(mem: &CellMemory<'_>, slot: u64, w: [u64; 2]) {
    mem.write_words(BASE + slot * 16, &w).unwrap();
}
fn read(mem: &CellMemory<'_>, addr: u64) -> u64 {
    let mut w = [0u64; 1];
    mem.read_words(addr, &mut w).unwrap();
    w[0]
}
fn device() -> CqDevice {
    CqDevice::from_registers(CQB, 0, 0)
        .unwrap()
        .with_interrupts()
}

#[test]
fn iofence_store_and_wsi_after_the_batch() {
    let mut g = Guest::new();
    let mem = g.mem();
    mem.write_words(STORE, &[u64::MAX]).unwrap();
    let mut q = device();
    put(&mem, 0, DDT);
    put(&mem, 1, VMA);
    put(&mem, 2, fence(STORE, 0x1122_3344, true));
    q.doorbell(3);
    let mut b = RecordingBackend::default();
    let p = q.process(&mem, &IdentityContext, &mut b);
    assert_eq!((p.consumed, p.completions, p.fault), (3, 1, None));
    assert_eq!(q.head_register(), 3);
    // A 4-byte store: the upper half of the doubleword is untouched.
    assert_eq!(read(&mem, STORE), 0xffff_ffff_1122_3344);
    assert!(q.queue.cqcsr() & CQCSR_FENCE_W_IP != 0);
    assert!(p.signals.contains(Signals::COMPLETION_IRQ));
    // Everything before the fence went to the back end, then the barrier.
    assert!(matches!(b.records().last(), Some(Record::Barrier(_))));
    let ops: Vec<&Op> = b.ops().collect();
    assert_eq!(ops.len(), 3, "DDT lifts to two ops, VMA to one: {ops:?}");
    assert!(matches!(ops[2], Op::Inval(i) if i.caches.contains(Caches::IOTLB)));
    // fence_w_ip is RW1C.
    q.write_cqcsr(CQCSR_FENCE_W_IP | 1 << 1);
    assert_eq!(q.queue.cqcsr() & CQCSR_FENCE_W_IP, 0);
}

#[test]
fn wrap_and_full() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = CqDevice::from_registers(CQB, 254, 254).unwrap();
    for k in 0..4u64 {
        put(&mem, (254 + k) % 256, DDT);
    }
    q.doorbell(2);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!((p.consumed, q.head_register()), (4, 2));
    // Producer side: 255 slots of 256 usable.
    assert_eq!(q.free_slots(), 255);
    let c = Command::IodirInvalDdt(IodirInvalDdt { dv: false, did: 0 });
    for _ in 0..255 {
        q.produce(&mem, &c).unwrap();
    }
    assert_eq!(
        q.produce(&mem, &c),
        Err(iommu_inval_core::device::ProduceError::Full)
    );
}

#[test]
fn illegal_command_sets_cmd_ill_and_stops_at_it() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = device();
    put(&mem, 0, DDT);
    put(&mem, 1, BAD);
    put(&mem, 2, DDT);
    q.doorbell(3);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    let f = p.fault.unwrap();
    assert_eq!(
        (f.hw, f.position, f.address),
        (HwError::RiscvCmdIll, 1, BASE + 16)
    );
    assert!(matches!(f.cause, FaultCause::Decode(_)));
    assert_eq!((p.consumed, q.head_register()), (1, 1));
    assert!(q.queue.cqcsr() & CQCSR_CMD_ILL != 0);
    assert!(p.signals.contains(Signals::ERROR_IRQ));
    // Blocked until the guest clears cmd_ill (after fixing the command).
    q.doorbell(3);
    assert!(
        q.process(&mem, &IdentityContext, &mut CountingBackend::default())
            .blocked
    );
    put(&mem, 1, DDT);
    q.write_cqcsr(CQCSR_CMD_ILL);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!((p.consumed, q.head_register(), p.fault), (2, 3, None));
}

#[test]
fn illegal_combinations_and_unsupported_features_are_cmd_ill() {
    let mut g = Guest::new();
    let mem = g.mem();
    // IOTINVAL.GVMA with PSCV, IODIR.INVAL_PDT with DV = 0.
    for w in [[0x81 | 1 << 32, 0], [0x83, 0]] {
        let mut q = device();
        put(&mem, 0, w);
        q.doorbell(1);
        let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
        assert_eq!(p.fault.map(|f| f.hw), Some(HwError::RiscvCmdIll), "{w:x?}");
        assert_eq!(q.head_register(), 0);
    }
    // NL on an IOMMU without capabilities.NL.
    let none = Features {
        nl: false,
        ..Features::default()
    };
    let mut q = device().with_features(none);
    put(&mem, 0, [VMA[0] | 1 << 34, VMA[1]]);
    q.doorbell(1);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!(p.fault.map(|f| f.hw), Some(HwError::RiscvCmdIll));
}

#[test]
fn unmapped_fetch_and_store_set_cqmf() {
    let mut g = Guest::new();
    let mem = g.mem();
    // The fence stores outside guest memory: cqmf, cqh stays at the fence.
    let mut q = device();
    put(&mem, 0, DDT);
    put(&mem, 1, fence(0x4000_0000, 1, false));
    q.doorbell(2);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    let f = p.fault.unwrap();
    assert_eq!((f.hw, f.position), (HwError::RiscvCqmf, 1));
    assert!(matches!(f.cause, FaultCause::CompletionStore(_)));
    assert!(q.queue.cqcsr() & CQCSR_CQMF != 0);
    assert_eq!(q.head_register(), 1);
    // A queue whose base is not guest memory: the fetch faults.
    let mut q = CqDevice::from_registers((0x8000_0000u64 >> 12) << 10 | 7, 0, 0).unwrap();
    q.doorbell(1);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert!(matches!(
        p.fault.map(|f| f.cause),
        Some(FaultCause::Fetch(_))
    ));
    assert_eq!(q.head_register(), 0);
}

struct Timeout;
impl iommu_inval_core::device::Backend for Timeout {
    fn execute(&mut self, _ops: &[Op]) -> Result<(), BackendError> {
        Ok(())
    }
    fn barrier(&mut self, _s: &iommu_inval_core::Sync) -> Result<(), BackendError> {
        Err(BackendError::DeviceTlbTimeout { device: 0x10 })
    }
}

#[test]
fn ats_timeout_at_a_fence_sets_cmd_to_with_cqh_at_the_fence() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = device();
    // ATS.INVAL RID 0x10, then IOFENCE.C.
    put(&mem, 0, [0x4 | 0x10 << 40, 0x1000]);
    put(&mem, 1, fence(STORE, 1, false));
    q.doorbell(2);
    let p = q.process(&mem, &IdentityContext, &mut Timeout);
    let f = p.fault.unwrap();
    assert_eq!((f.hw, f.position), (HwError::RiscvCmdTo, 1));
    assert!(q.queue.cqcsr() & CQCSR_CMD_TO != 0);
    assert_eq!(read(&mem, STORE), 0, "the fence did not complete");
}
