//! The SMMUv3 command-queue front end (`CmdqDevice`): completions executed,
//! errors in CMDQ_CONS / SMMU_GERROR, batching per barrier, and the
//! pointer cases a guest can produce.

use iommu_inval_arm::queue::HwError;
use iommu_inval_arm::queue::{CmdqDevice, CERROR_ABT, CERROR_ATC_INV_SYNC, CERROR_ILL};
use iommu_inval_core::device::{
    BackendError, CommandQueue, CountingBackend, FaultCause, QueueEngine, QueueProducer, Record,
    RecordingBackend, Signals, BATCH_OPS,
};
use iommu_inval_core::Flags;
use iommu_inval_core::NativeCommand;
use iommu_inval_core::{CellMemory, IdentityContext, Op, QueueMemory};

#[path = "../../core/tests/front_end/mod.rs"]
mod front_end;
use front_end::{read_u32, Guest, BASE};
const STATUS: u64 = 0x10_8000;
const NH_ALL: [u64; 2] = [0x10, 0];
// SMMU_GERROR bits (IHI0070 §6.3.18): CMDQ_ERR, MSI_CMDQ_ABT_ERR; an error
// is active while its GERROR bit differs from GERRORN's.
const GERROR_CMDQ_ERR: u32 = 1 << 0;
const GERROR_MSI_CMDQ_ABT_ERR: u32 = 1 << 4;
const NSNH_ALL: [u64; 2] = [0x30, 0];
const BAD: [u64; 2] = [0xff, 0];

fn nh_asid(asid: u16) -> [u64; 2] {
    [0x11 | u64::from(asid) << 48, 0]
}
/// CMD_SYNC with CS = SIG_IRQ, MSI write of `data` to `addr`.
fn sync_msi(addr: u64, data: u32) -> [u64; 2] {
    [0x46 | 1 << 12 | u64::from(data) << 32, addr]
}
fn sync_cs(cs: u64) -> [u64; 2] {
    [0x46 | cs << 12, 0]
}

fn put(mem: &CellMemory<'_>, q: &CmdqDevice, idx: u32, w: [u64; 2]) {
    mem.write_words(q.cmdq.ring().slot_addr(idx), &w).unwrap();
}

/// log2size 2: four entries, wrap bit 2.
fn queue4() -> CmdqDevice {
    CmdqDevice::from_registers(BASE | 2, 0, 0).unwrap()
}

#[test]
fn ops_before_a_sync_are_executed_before_its_msi_write() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = queue4();
    put(&mem, &q, 0, NH_ALL);
    put(&mem, &q, 1, nh_asid(5));
    put(&mem, &q, 2, sync_msi(STATUS, 0xabcd));
    mem.write_bytes(STATUS, &1u32.to_le_bytes()).unwrap();
    q.doorbell(3);
    let mut b = RecordingBackend::default();
    let p = q.process(&mem, &IdentityContext, &mut b);
    assert_eq!((p.consumed, p.ops, p.batches, p.completions), (3, 2, 1, 1));
    assert!(p.fault.is_none() && p.signals.is_empty());
    assert_eq!(q.head_register(), 3);
    match b.records().collect::<Vec<_>>().as_slice() {
        [Record::Batch(ops), Record::Barrier(s)] => {
            assert_eq!(ops.len(), 2);
            assert!(ops.iter().all(|o| matches!(o, Op::Inval(_))));
            assert_eq!(
                s.store.map(|st| (st.address, st.data)),
                Some((STATUS, 0xabcd))
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(read_u32(&mem, STATUS), 0xabcd);
}

#[test]
fn wired_irq_and_sev_are_signalled() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = queue4();
    put(&mem, &q, 0, sync_cs(1));
    put(&mem, &q, 1, sync_cs(2));
    put(&mem, &q, 2, sync_cs(0));
    q.doorbell(3);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!(p.completions, 3);
    assert_eq!(p.signals, Signals::COMPLETION_IRQ | Signals::SEV);
}

#[test]
fn wrap_and_full() {
    let mut g = Guest::new();
    let mem = g.mem();
    for i in 0..4 {
        put(&mem, &queue4(), i, NH_ALL);
    }
    // CONS at index 3 wrap 0, PROD at index 2 wrap 1: entries 3, 0, 1.
    let mut q = CmdqDevice::from_registers(BASE | 2, 3, 0b110).unwrap();
    let mut c = CountingBackend::default();
    let p = q.process(&mem, &IdentityContext, &mut c);
    assert_eq!((p.consumed, q.head_register()), (3, 0b110));
    // Full: same index, other wrap bit: all four.
    let mut q = CmdqDevice::from_registers(BASE | 2, 0b110, 0b010).unwrap();
    assert_eq!(q.free_slots(), 0);
    let p = q.process(&mem, &IdentityContext, &mut c);
    assert_eq!((p.consumed, q.head_register()), (4, 0b010));
    assert_eq!(c.ops, 7);
}

#[test]
fn a_backwards_prod_is_an_overrun_consumed_until_cons_meets_it() {
    // As QEMU's model: consumption goes on (wrapping) until RD = WR.
    let mut g = Guest::new();
    let mem = g.mem();
    for i in 0..4 {
        put(&mem, &queue4(), i, NH_ALL);
    }
    let mut q = CmdqDevice::from_registers(BASE | 2, 2, 0).unwrap();
    q.doorbell(1);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!(p.consumed, 7);
    assert_eq!(q.head_register(), 1);
    // Bits of PROD above the wrap bit are ignored.
    q.doorbell(0xffff_fff0 | 2);
    assert_eq!(q.tail_register(), 2);
}

#[test]
fn unmapped_queue_is_cerror_abt_and_gerror() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = CmdqDevice::from_registers(0x4000_0000 | 2, 0, 1).unwrap();
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    let f = p.fault.unwrap();
    assert_eq!(
        (f.hw, f.position, f.address),
        (HwError::CerrorAbt, 0, 0x4000_0000)
    );
    assert!(matches!(f.cause, FaultCause::Fetch(e) if !e.write));
    assert_eq!(q.cons_err(), CERROR_ABT);
    assert_eq!((q.gerror ^ q.gerrorn), GERROR_CMDQ_ERR);
    assert_eq!(p.signals, Signals::ERROR_IRQ);
}

/// The front end reads the pending slots ahead, a run at a time: a
/// CMD_SYNC whose MSI write lands in a later pending slot changes what is
/// fetched there, as a fetch at the head would see it.
#[test]
fn a_completion_store_into_a_pending_slot_is_fetched_as_written() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = queue4();
    let slot2 = q.cmdq.ring().slot_addr(2);
    // The MSI data is CMD_TLBI_NH_ALL's first word, written over BAD's.
    put(&mem, &q, 0, sync_msi(slot2, NH_ALL[0] as u32));
    put(&mem, &q, 1, NH_ALL);
    put(&mem, &q, 2, BAD);
    q.doorbell(3);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert!(p.fault.is_none(), "{:?}", p.fault);
    assert_eq!((p.consumed, p.ops, p.completions), (3, 2, 1));
}

/// A run read ahead that reaches unmapped memory: the commands before the
/// first slot that cannot be read are consumed, and the fetch abort is at
/// that slot, as a fetch slot by slot reports it.
#[test]
fn a_fetch_abort_inside_a_run_is_at_the_first_unreadable_slot() {
    let mut ram = vec![0u8; 5 * 16];
    let mem = CellMemory::new(BASE, &mut ram);
    // 16 entries at BASE: only slots 0..5 are memory.
    let mut q = CmdqDevice::from_registers(BASE | 4, 0, 0).unwrap();
    for i in 0..5 {
        put(&mem, &q, i, NH_ALL);
    }
    q.doorbell(9);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!((p.consumed, p.ops), (5, 5));
    let f = p.fault.unwrap();
    assert_eq!(
        (f.hw, f.position, f.address),
        (HwError::CerrorAbt, 5, BASE + 0x50)
    );
    assert!(matches!(f.cause, FaultCause::Fetch(e) if e.addr == BASE + 0x50 && !e.write));
    // The decode-only walk stops at the same slot.
    let mut r = CmdqDevice::from_registers(BASE | 4, 0, 9).unwrap();
    let walk = r.consume(&mem, |_| {});
    assert_eq!(walk.consumed, 5);
    assert_eq!(walk.fault.map(|f| f.address), Some(BASE + 0x50));
}

#[test]
fn aborted_msi_write_sets_msi_cmdq_abt_err_and_the_sync_completes() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = queue4();
    put(&mem, &q, 0, sync_msi(0x9000_0000, 1));
    put(&mem, &q, 1, NH_ALL);
    q.doorbell(2);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!(p.consumed, 2);
    let f = p.fault.unwrap();
    assert!(!f.stopped);
    assert_eq!(f.hw, HwError::MsiCmdqAbt);
    assert!(matches!(f.cause, FaultCause::CompletionStore(e) if e.write && e.addr == 0x9000_0000));
    assert_eq!((q.gerror ^ q.gerrorn), GERROR_MSI_CMDQ_ABT_ERR);
    assert_eq!(q.cons_err(), 0);
}

#[test]
fn illegal_command_stops_after_the_earlier_ops_ran_and_blocks_until_gerrorn() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = queue4();
    put(&mem, &q, 0, NH_ALL);
    put(&mem, &q, 1, BAD);
    put(&mem, &q, 2, NSNH_ALL);
    q.doorbell(3);
    let mut b = RecordingBackend::default();
    let p = q.process(&mem, &IdentityContext, &mut b);
    assert_eq!(p.consumed, 1);
    assert_eq!(
        b.ops().count(),
        1,
        "the command before the bad one was carried out"
    );
    let f = p.fault.unwrap();
    assert_eq!((f.hw, f.position), (HwError::CerrorIll, 1));
    assert_eq!(q.head_register(), u64::from(CERROR_ILL) << 24 | 1);
    // Ringing again while CMDQ_ERR is active does nothing.
    q.doorbell(3);
    let p = q.process(&mem, &IdentityContext, &mut b);
    assert!(p.blocked && p.consumed == 0 && p.fault.is_none());
    // The driver replaces the bad command (as Linux does, with a CMD_SYNC)
    // and acknowledges: consumption resumes at CONS.
    put(&mem, &q, 1, sync_cs(0));
    q.write_gerrorn(q.gerror);
    let p = q.process(&mem, &IdentityContext, &mut b);
    assert_eq!((p.consumed, p.completions), (2, 1));
    assert_eq!(q.head_register() & 0xff, 3);
    assert_eq!(b.ops().count(), 2);
}

#[test]
fn backend_failures_are_reported_at_the_closing_command() {
    let mut g = Guest::new();
    let mem = g.mem();
    for (fail, code, hw) in [
        (
            BackendError::Failed("host refused"),
            CERROR_ILL,
            HwError::CerrorIll,
        ),
        (
            BackendError::DeviceTlbTimeout { device: 0x10 },
            CERROR_ATC_INV_SYNC,
            HwError::CerrorAtcInvSync,
        ),
    ] {
        let mut q = queue4();
        put(&mem, &q, 0, NH_ALL);
        put(&mem, &q, 1, sync_msi(STATUS, 7));
        mem.write_bytes(STATUS, &0u32.to_le_bytes()).unwrap();
        q.doorbell(2);
        let mut b = RecordingBackend::failing(fail);
        let p = q.process(&mem, &IdentityContext, &mut b);
        let f = p.fault.unwrap();
        assert_eq!((f.hw, f.position, p.consumed), (hw, 1, 1));
        assert_eq!(q.cons_err(), code);
        assert_eq!(
            read_u32(&mem, STATUS),
            0,
            "no completion written after a failure"
        );
        assert!(q.is_stopped());
    }
}

#[test]
fn long_runs_are_split_into_bounded_batches() {
    let mut g = Guest::new();
    let mem = g.mem();
    // 256 entries, 200 NH_ALL without a sync.
    let mut q = CmdqDevice::from_registers(BASE | 8, 0, 0).unwrap();
    for i in 0..200 {
        put(&mem, &q, i, NH_ALL);
    }
    q.doorbell(200);
    let mut b = RecordingBackend::default();
    let p = q.process(&mem, &IdentityContext, &mut b);
    assert_eq!((p.consumed, p.ops), (200, 200));
    assert!(p.batches >= 4);
    for r in b.records() {
        match r {
            Record::Batch(ops) => assert!(!ops.is_empty() && ops.len() <= BATCH_OPS),
            Record::Barrier(_) => panic!("no sync was written"),
        }
    }
}

#[test]
fn the_producer_side_writes_what_the_consumer_reads() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut host = queue4();
    let cmd = iommu_inval_arm::Command::decode(&nh_asid(9)).unwrap();
    for _ in 0..4 {
        host.produce(&mem, &cmd).unwrap();
    }
    assert_eq!(
        host.produce(&mem, &cmd),
        Err(iommu_inval_core::device::ProduceError::Full)
    );
    let mut b = RecordingBackend::default();
    let p = host.process(&mem, &IdentityContext, &mut b);
    assert_eq!(p.consumed, 4);
    assert_eq!(host.free_slots(), 4);
}

/// A back end whose barrier fails with the ops from number `k` on
/// unfinished (as a kernel stopping at entry `k` of the barrier's array).
struct StopsAt {
    k: u32,
    handed: u32,
}

impl iommu_inval_core::device::Backend for StopsAt {
    fn execute(&mut self, ops: &[Op]) -> Result<(), BackendError> {
        self.handed += ops.len() as u32;
        Ok(())
    }
    fn barrier(&mut self, _: &iommu_inval_core::model::Barrier) -> Result<(), BackendError> {
        Err(BackendError::Errno(22))
    }
    fn unfinished(&self) -> u32 {
        self.handed - self.k
    }
}

/// Issue 33 item 2: a partial host call maps back to the guest command of
/// the first op not done: CERROR_ILL with CONS at that command, the
/// commands before it consumed, the sync not completed.
#[test]
fn a_barrier_failing_at_op_k_stops_the_queue_at_its_command() {
    let mut g = Guest::new();
    let mem = g.mem();
    for k in 0..4u32 {
        // log2size 3: eight entries.
        let mut q = CmdqDevice::from_registers(BASE | 3, 0, 0).unwrap();
        for i in 0..4 {
            put(&mem, &q, i, nh_asid(i as u16 + 1));
        }
        put(&mem, &q, 4, sync_msi(STATUS, 7));
        mem.write_bytes(STATUS, &0u32.to_le_bytes()).unwrap();
        q.doorbell(5);
        let mut b = StopsAt { k, handed: 0 };
        let p = q.process(&mem, &IdentityContext, &mut b);
        let f = p.fault.unwrap();
        assert_eq!(
            (f.hw, f.position, p.consumed),
            (HwError::CerrorIll, k as u64, k)
        );
        assert_eq!(f.address, q.cmdq.ring().slot_addr(k));
        assert_eq!(q.cons_err(), CERROR_ILL);
        assert_eq!(q.head_register() & 0xff, u64::from(k));
        assert_eq!(read_u32(&mem, STATUS), 0, "the sync is not completed");
        assert_eq!(p.completions, 0);
    }
}
