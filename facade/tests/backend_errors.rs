//! A back end's errno or `io::Error` faults a queue as its `Failed` does
//! (the architecture's illegal-command error), on every architecture; and
//! the error types chain their sources.

use iommu_inval::core::device::{FaultCause, RecordingBackend};
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
