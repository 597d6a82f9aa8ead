//! A back end's errno or `io::Error` faults a queue as its `Failed` does
//! (the architecture's illegal-command error), on every architecture; and
//! the error types chain their sources.

use iommu_inval::core::device::{FaultCause, Progress, RecordingBackend};
use iommu_inval::core::model::Barrier;
use iommu_inval::core::{CellMemory, CopyError, DecodeError, FieldError};
use iommu_inval::prelude::*;

const RING: u64 = 0x1000;

/// The architected error (its `Debug`) and the cause of the fault a
/// one-command queue of each architecture raises when the back end fails
/// with `e`.
fn faults(e: BackendError) -> Vec<(String, FaultCause)> {
    let mut ram = vec![0u8; 0x1000];
    let mem = CellMemory::new(RING, &mut ram);
    let mut out = Vec::new();

    // SMMUv3 CMD_TLBI_NSNH_ALL (0x30); 16 entries.
    mem.write_words(RING, &[0x30, 0]).unwrap();
    let mut q = CmdqDevice::from_registers(RING | 4, 0, 0).unwrap();
    q.doorbell(1);
    let p = q.process(&mem, &IdentityContext, &mut RecordingBackend::failing(e));
    let f = p.fault.unwrap();
    out.push((format!("{:?}", f.hw), f.cause));

    // VT-d global IOTLB invalidation (type 2, G = 01); one page.
    mem.write_words(RING, &[0x12, 0]).unwrap();
    let mut q = InvQueue::from_registers(RING, 0, 0).unwrap();
    q.doorbell(0x10);
    let p = q.process(&mem, &IdentityContext, &mut RecordingBackend::failing(e));
    let f = p.fault.unwrap();
    out.push((format!("{:?}", f.hw), f.cause));

    // AMD-Vi INVALIDATE_IOMMU_ALL (opcode 8); 256 entries.
    mem.write_words(RING, &[0x8 << 60, 0]).unwrap();
    let mut q = CmdBufDevice::from_registers(8 << 56 | RING, 0, 0).unwrap();
    q.doorbell(0x10);
    let p = q.process(&mem, &IdentityContext, &mut RecordingBackend::failing(e));
    let f = p.fault.unwrap();
    out.push((format!("{:?}", f.hw), f.cause));

    // RISC-V IOTINVAL.VMA of everything; 256 entries.
    mem.write_words(RING, &[0x1, 0]).unwrap();
    let mut q = CqDevice::from_registers((RING >> 12) << 10 | 7, 0, 0).unwrap();
    q.doorbell(1);
    let p = q.process(&mem, &IdentityContext, &mut RecordingBackend::failing(e));
    let f = p.fault.unwrap();
    out.push((format!("{:?}", f.hw), f.cause));
    out
}

#[test]
fn an_errno_or_io_error_faults_as_a_failed_back_end_does() {
    let failed = faults(BackendError::Failed("refused"));
    let io = BackendError::from(std::io::Error::other("no errno"));
    assert_eq!(io, BackendError::Io(std::io::ErrorKind::Other));
    for e in [BackendError::Errno(22), io] {
        let got = faults(e);
        assert_eq!(got.len(), 4);
        for ((hw, cause), (want, _)) in got.iter().zip(&failed) {
            assert_eq!(hw, want, "{e}");
            assert_eq!(*cause, FaultCause::Backend(e));
        }
    }
    // The timeout is the one back-end error with an error of its own.
    let timeout = faults(BackendError::DeviceTlbTimeout { device: 0x10 });
    assert!(timeout.iter().zip(&failed).all(|(t, f)| t.0 != f.0));
}

#[test]
fn an_io_error_keeps_its_errno() {
    let e = BackendError::from(std::io::Error::from_raw_os_error(22));
    assert_eq!(e, BackendError::Errno(22));
    assert_eq!(e.to_string(), "back end failed: errno 22");
    fn via_question_mark() -> Result<(), BackendError> {
        Err(std::io::Error::from_raw_os_error(5))?
    }
    assert_eq!(via_question_mark(), Err(BackendError::Errno(5)));
}

#[test]
fn wrapping_errors_name_their_source() {
    let d = DecodeError::reserved(1, 0x10);
    let source = |e: &dyn std::error::Error| e.source().map(|s| s.to_string());
    assert_eq!(source(&FaultCause::Decode(d)), Some(d.to_string()));
    let b = BackendError::Errno(5);
    assert_eq!(source(&FaultCause::Backend(b)), Some(b.to_string()));
    assert_eq!(source(&FaultCause::BadPointer(3)), None);
    let m = MemError::read(0x40);
    assert_eq!(source(&ProduceError::Memory(m)), Some(m.to_string()));
    assert_eq!(source(&ProduceError::Encode(d)), Some(d.to_string()));
    assert_eq!(source(&ProduceError::Full), None);
    assert_eq!(source(&FieldError::Invalid(d)), Some(d.to_string()));
    assert_eq!(source(&FieldError::UnknownOp), None);
    let c = CopyError { index: 2, error: d };
    assert_eq!(source(&c), Some(d.to_string()));
    // An error of any layer goes into a `Box<dyn Error>` with `?`.
    fn boxed() -> Result<(), Box<dyn std::error::Error>> {
        Err(LowerError::BufferFull)?
    }
    assert!(boxed().is_err());
}

/// A back end whose barrier fails with the ops from number `k` (since the
/// last barrier) unfinished, as a host call stopped at the entry of op `k`.
struct StopsAt {
    k: u32,
    handed: u32,
}

impl Backend for StopsAt {
    fn execute(&mut self, ops: &[Op]) -> Result<(), BackendError> {
        self.handed += ops.len() as u32;
        Ok(())
    }
    fn barrier(&mut self, _: &Barrier) -> Result<(), BackendError> {
        Err(BackendError::Errno(22))
    }
    fn unfinished(&self) -> u32 {
        self.handed - self.k
    }
}

/// Issue 33 item 2 on every architecture: three invalidate-all commands
/// (one op each) and a sync; a barrier failing at op `k` is the
/// architecture's illegal-command error at command `k` (the head left
/// there), the commands before it consumed.
#[test]
fn a_back_end_failing_at_op_k_faults_command_k_on_every_architecture() {
    let mut ram = vec![0u8; 0x1000];
    let mem = CellMemory::new(RING, &mut ram);
    let at = |p: Progress<String>, k: u32| {
        let f = p.fault.unwrap();
        assert_eq!(
            (f.address, p.consumed),
            (RING + 16 * u64::from(k), k),
            "{}",
            f.hw
        );
        assert!(f.stopped && p.completions == 0);
        f.hw
    };
    let fill = |all: [u64; 2], sync: [u64; 2]| {
        for i in 0..3 {
            mem.write_words(RING + 16 * i, &all).unwrap();
        }
        mem.write_words(RING + 48, &sync).unwrap();
    };
    for k in 0..3u32 {
        let b = || StopsAt { k, handed: 0 };
        // SMMUv3 CMD_TLBI_NSNH_ALL, CMD_SYNC.
        fill([0x30, 0], [0x46, 0]);
        let mut q = CmdqDevice::from_registers(RING | 4, 0, 0).unwrap();
        q.doorbell(4);
        let p = q.process(&mem, &IdentityContext, &mut b());
        assert_eq!(at(p.map_hw(|e| e.to_string()), k), "CERROR_ILL");
        // VT-d global IOTLB invalidation, inv_wait (no status write, no interrupt).
        fill([0x12, 0], [0x5, 0]);
        let mut q = InvQueue::from_registers(RING, 0, 0).unwrap();
        q.doorbell(0x40);
        let p = q.process(&mem, &IdentityContext, &mut b());
        assert_eq!(at(p.map_hw(|e| e.to_string()), k), "FSTS.IQE");
        // AMD-Vi INVALIDATE_IOMMU_ALL, COMPLETION_WAIT (no store, no interrupt).
        fill([0x8 << 60, 0], [0x1 << 60, 0]);
        let mut q = CmdBufDevice::from_registers(8 << 56 | RING, 0, 0).unwrap();
        q.doorbell(0x40);
        let p = q.process(&mem, &IdentityContext, &mut b());
        assert_eq!(at(p.map_hw(|e| e.to_string()), k), "ILLEGAL_COMMAND_ERROR");
        // RISC-V IOTINVAL.VMA of everything, IOFENCE.C.
        fill([0x1, 0], [0x2, 0]);
        let mut q = CqDevice::from_registers((RING >> 12) << 10 | 7, 0, 0).unwrap();
        q.doorbell(4);
        let p = q.process(&mem, &IdentityContext, &mut b());
        assert_eq!(at(p.map_hw(|e| e.to_string()), k), "cqcsr.cmd_ill");
    }
}
