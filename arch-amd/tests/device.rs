//! The AMD-Vi command-buffer front end (`CmdBufDevice`): COMPLETION_WAIT
//! executed, event-log entries on errors, CmdBufRun, batching per barrier.

use iommu_inval_amd::event::EventFormat;
use iommu_inval_amd::event::GuestLog;
use iommu_inval_amd::queue::CmdBufDevice;
use iommu_inval_amd::queue::HwError;
use iommu_inval_core::device::{
    BackendError, CommandQueue, CountingBackend, FaultCause, QueueProducer, Record,
    RecordingBackend, Signals,
};
use iommu_inval_core::record::RecordFormat;
use iommu_inval_core::IdentityContext;

/// The event code of the event-log codec's kind `name`.
fn event_code(name: &str) -> u64 {
    EventFormat::KINDS
        .iter()
        .find(|k| k.name() == name)
        .map_or(u64::MAX, |k| k.code())
}

#[path = "../../core/tests/front_end/mod.rs"]
mod front_end;
use front_end::{put, read, run, Guest, BASE};
// IOMMU Status Register (MMIO 2020h) bits the front end owns; a VMM
// returns `status` as it is and clears with `write_status`.
const STATUS_EVENT_OVERFLOW: u32 = 1 << 0;
const STATUS_EVENT_LOG_INT: u32 = 1 << 1;
const STATUS_COM_WAIT_INT: u32 = 1 << 2;
const STATUS_CMD_BUF_RUN: u32 = 1 << 4;
const EVLOG: u64 = 0x10_2000;
const STORE: u64 = 0x10_8000;
/// 256 entries (ComLen 8) at BASE.
const BASE_REG: u64 = 8 << 56 | BASE;
const ALL: [u64; 2] = [0x8 << 60, 0];
const DEVTAB: [u64; 2] = [0x2 << 60 | 0x10, 0];
const IOTLB: [u64; 2] = [0x4 << 60 | 0x10, 0x1000];
const BAD: [u64; 2] = [0xf << 60, 0];

fn wait(addr: u64, data: u64, irq: bool) -> [u64; 2] {
    [0x1 << 60 | addr | 1 | u64::from(irq) << 1, data]
}

/// `q` writing its errors to an event log at EVLOG whose head register is
/// `head` (IOMMU Control Register EventLogEn, EventIntEn).
fn with_log(mut q: CmdBufDevice, head: u64) -> CmdBufDevice {
    let mut log = GuestLog::new(8 << 56 | EVLOG, 1 << 2 | 1 << 3);
    log.head = head;
    q.event_log = Some(log);
    q
}

fn device() -> CmdBufDevice {
    with_log(CmdBufDevice::from_registers(BASE_REG, 0, 0).unwrap(), 0)
}

#[test]
fn completion_wait_store_and_interrupt_after_the_batch() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = device();
    let mut b = RecordingBackend::default();
    let p = run(
        &mut q,
        &mem,
        &[ALL, DEVTAB, wait(STORE, 0x1122_3344_5566_7788, true)],
        0x30,
        &mut b,
    );
    assert_eq!((p.consumed, p.completions), (3, 1));
    assert!(matches!(
        b.records().collect::<Vec<_>>().as_slice(),
        [Record::Batch(_), Record::Barrier(_)]
    ));
    assert_eq!(read(&mem, STORE), 0x1122_3344_5566_7788);
    assert_eq!(q.status, STATUS_CMD_BUF_RUN | STATUS_COM_WAIT_INT);
    assert_eq!(p.signals, Signals::COMPLETION_IRQ);
    q.write_status(STATUS_COM_WAIT_INT);
    assert_eq!(q.status, STATUS_CMD_BUF_RUN);
}

#[test]
fn wrap_and_full() {
    let mut g = Guest::new();
    let mem = g.mem();
    for s in 0..256 {
        put(&mem, s, ALL);
    }
    let mut q = CmdBufDevice::from_registers(BASE_REG, 0xff0, 0x20).unwrap();
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!((p.consumed, q.head_register()), (3, 0x20));
    let mut q = CmdBufDevice::from_registers(BASE_REG, 0x10, 0).unwrap();
    assert_eq!(q.free_slots(), 0);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!(p.consumed, 255);
}

#[test]
fn illegal_command_writes_the_event_and_stops_until_restart() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = device();
    let mut b = RecordingBackend::default();
    let p = run(&mut q, &mem, &[ALL, BAD], 0x20, &mut b);
    assert_eq!(
        (p.consumed, b.ops().count(), q.head_register()),
        (1, 1, 0x10)
    );
    let f = p.fault.unwrap();
    assert_eq!((f.hw, f.address), (HwError::IllegalCommand, BASE + 0x10));
    assert_eq!(read(&mem, EVLOG) >> 60, event_code("ILLEGAL_COMMAND_ERROR"));
    assert_eq!(read(&mem, EVLOG + 8), BASE + 0x10);
    assert_eq!(
        q.status & (STATUS_CMD_BUF_RUN | STATUS_EVENT_LOG_INT),
        STATUS_EVENT_LOG_INT
    );
    assert_eq!(q.event_log.map(|l| l.tail), Some(0x10));
    assert_eq!(p.signals, Signals::ERROR_IRQ);
    // Ringing while stopped does nothing.
    q.doorbell(0x20);
    assert!(q.process(&mem, &IdentityContext, &mut b).blocked);
    put(&mem, 1, DEVTAB);
    q.restart();
    let p = q.process(&mem, &IdentityContext, &mut b);
    assert_eq!((p.consumed, q.head_register()), (1, 0x20));
}

#[test]
fn unmapped_fetch_and_store_are_command_hardware_errors() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = with_log(
        CmdBufDevice::from_registers(8 << 56 | 0x4000_0000, 0, 0x10).unwrap(),
        0,
    );
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!(p.fault.map(|f| f.hw), Some(HwError::CommandHardware));
    assert_eq!(
        read(&mem, EVLOG) >> 60,
        event_code("COMMAND_HARDWARE_ERROR")
    );
    assert_eq!(read(&mem, EVLOG + 8), 0x4000_0000);
    let mut q = device();
    put(&mem, 0, wait(0x9000_0000, 1, false));
    q.doorbell(0x10);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    let f = p.fault.unwrap();
    assert!(matches!(f.cause, FaultCause::CompletionStore(e) if e.addr == 0x9000_0000));
    assert_eq!(read(&mem, EVLOG + 8), 0x9000_0000);
    assert_eq!(q.head_register(), 0);
}

#[test]
fn oversize_tail_stops_the_buffer() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = device();
    q.doorbell(0x1000); // one past the end of a 4 KiB buffer
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    let f = p.fault.unwrap();
    assert_eq!(
        (f.hw, f.cause),
        (HwError::CommandHardware, FaultCause::BadPointer(0x1000))
    );
    assert_eq!(q.status & STATUS_CMD_BUF_RUN, 0);
}

#[test]
fn iotlb_timeout_is_logged_and_the_buffer_goes_on() {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = device();
    let mut b = RecordingBackend::failing(BackendError::DeviceTlbTimeout { device: 0x10 });
    let p = run(&mut q, &mem, &[IOTLB, wait(STORE, 5, false)], 0x20, &mut b);
    let f = p.fault.unwrap();
    assert!(!f.stopped && f.hw == HwError::IotlbInvTimeout);
    assert_eq!(p.consumed, 2);
    assert_eq!(
        read(&mem, EVLOG),
        event_code("IOTLB_INV_TIMEOUT") << 60 | 0x10
    );
    assert_eq!(read(&mem, STORE), 5);
}

#[test]
fn a_full_event_log_sets_event_overflow() {
    let mut g = Guest::new();
    let mem = g.mem();
    // Event log head one entry past the tail: full.
    let mut q = with_log(CmdBufDevice::from_registers(BASE_REG, 0, 0).unwrap(), 0x10);
    put(&mem, 0, BAD);
    q.doorbell(0x10);
    q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_ne!(q.status & STATUS_EVENT_OVERFLOW, 0);
    assert_eq!(read(&mem, EVLOG), 0);
}
