//! Command-buffer consumer: wrap, error stop, fetch errors, registers.

use iommu_inval_amd::queue::HwError;
use iommu_inval_amd::queue::*;
use iommu_inval_amd::Command;
use iommu_inval_core::device::{CommandQueue, Fault, FaultCause, QueueEngine};
use iommu_inval_core::ring::RingRegs;
use iommu_inval_core::{DecodeError, ErrorKind, MemError, NativeCommand, SliceMemory};

const BASE: u64 = 0x4_0000;

/// A 256-entry (ComLen 8) buffer image with `cmds` written at entry indices.
fn image(cmds: &[(usize, [u64; 2])]) -> Vec<u8> {
    let mut b = vec![0u8; 4096];
    for &(idx, [w0, w1]) in cmds {
        b[idx * 16..idx * 16 + 8].copy_from_slice(&w0.to_le_bytes());
        b[idx * 16 + 8..idx * 16 + 16].copy_from_slice(&w1.to_le_bytes());
    }
    b
}

/// Why command processing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopCause {
    Illegal(DecodeError),
    Fetch(MemError),
}

/// Command processing stopped at a command; head points at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CmdBufError {
    cause: StopCause,
    address: u64,
    offset: u32,
    /// The event log entry the front end writes for it.
    event: iommu_inval_amd::event::EventRecord,
    hw: HwError,
}

impl CmdBufError {
    fn hw_error(&self) -> HwError {
        self.hw
    }
}

/// The front end consuming decode only; restarted (CmdBufEn 0 → 1) before
/// each walk, so a retry stops again at the same command.
struct Walker(CmdBufDevice);

impl Walker {
    fn new(base: u64, com_len: u8, head: u64, tail: u64) -> Result<Self, ConfigError> {
        CmdBufDevice::from_registers(base | u64::from(com_len) << 56, head, tail).map(Walker)
    }
    fn pending(&self) -> u64 {
        self.0.pending()
    }
    fn head_register(&self) -> u64 {
        self.0.head_register()
    }
    /// A tail inside the buffer is taken; one past its end is refused
    /// (checked as the registers are, by `from_registers`) and not written.
    fn set_tail(&mut self, tail: u64) -> Result<(), ConfigError> {
        let r = self.0.ring();
        let base = r.slot_addr(0) | u64::from(r.entries().trailing_zeros()) << 56;
        CmdBufDevice::from_registers(base, self.0.head_register(), tail)?;
        self.0.doorbell(tail);
        Ok(())
    }
    fn error(&self, f: Fault<HwError>) -> CmdBufError {
        CmdBufError {
            cause: match f.cause {
                FaultCause::Decode(d) => StopCause::Illegal(d),
                FaultCause::Fetch(m) => StopCause::Fetch(m),
                other => panic!("{other:?}"),
            },
            address: f.address,
            offset: f.position as u32,
            event: self.0.event(&f.cause).0,
            hw: f.hw,
        }
    }
    fn next_command(
        &mut self,
        mem: &SliceMemory<'_>,
    ) -> Option<Result<(u64, Command), CmdBufError>> {
        self.0.restart();
        let item = self.0.commands(mem).next()?;
        Some(match item {
            Ok(c) => Ok((c.address, c.command)),
            Err(f) => Err(self.error(f)),
        })
    }
    fn process(
        &mut self,
        mem: &SliceMemory<'_>,
        mut f: impl FnMut(u64, &Command),
    ) -> Result<usize, CmdBufError> {
        let mut n = 0;
        while let Some(r) = self.next_command(mem) {
            let (addr, cmd) = r?;
            f(addr, &cmd);
            n += 1;
        }
        Ok(n)
    }
}

const ALL: [u64; 2] = [0x8000_0000_0000_0000, 0];
const DTE: [u64; 2] = [0x2000_0000_0000_0010, 0];
const WAIT: [u64; 2] = [0x1000_0000_0000_0002, 0];

#[test]
fn registers() {
    // ComLen 8 in bits [59:56], base in [51:12]; reserved register bits ignored.
    let q =
        CmdBufDevice::from_registers(0x0800_0000_0004_0fff, 0x10, 0xffff_ffff_fff8_0030).unwrap();
    let r = q.ring();
    assert_eq!(
        (r.slot_addr(0), r.entries(), r.size_bytes()),
        (BASE, 256, 4096)
    );
    assert_eq!(
        (q.head_register(), q.tail_register(), q.pending()),
        (0x10, 0x30, 2)
    );
    assert_eq!(
        CmdBufDevice::from_registers(0x0700_0000_0004_0000, 0, 0),
        Err(ConfigError::ReservedLength(7))
    );
    assert_eq!(
        CmdBufDevice::from_registers(0x0800_0000_0004_0000, 0x1000, 0),
        Err(ConfigError::PointerOutOfRange(0x1000))
    );
    let big = CmdBufDevice::from_registers(0x0f00_0000_0004_0000, 0x7_fff0, 0).unwrap();
    assert_eq!((big.ring().entries(), big.pending()), (32768, 1));
}

#[test]
fn wraps_from_the_last_entry_to_the_first() {
    let bytes = image(&[(254, DTE), (255, WAIT), (0, ALL), (1, DTE)]);
    let mem = SliceMemory::new(BASE, &bytes);
    let mut q = Walker::new(BASE, 8, 254 * 16, 2 * 16).unwrap();
    assert_eq!(q.pending(), 4);
    let mut seen = Vec::new();
    let n = q.process(&mem, |a, c| seen.push((a, c.encode()))).unwrap();
    assert_eq!(n, 4);
    assert_eq!(
        seen,
        [
            (BASE + 0xfe0, DTE),
            (BASE + 0xff0, WAIT),
            (BASE, ALL),
            (BASE + 0x10, DTE)
        ]
    );
    assert_eq!((q.head_register(), q.pending()), (0x20, 0));
    // Nothing more until the tail moves.
    assert_eq!(q.process(&mem, |_, _| panic!("empty")), Ok(0));
}

#[test]
fn stops_at_the_first_illegal_command() {
    // Entry 0 has a reserved bit (DTE w0[16]); entries 254, 255 before it run.
    let bad = [0x2000_0000_0001_0010, 0];
    let mut bytes = image(&[(254, DTE), (255, WAIT), (0, bad), (1, ALL)]);
    let mut q = Walker::new(BASE, 8, 254 * 16, 2 * 16).unwrap();
    let mut n = 0;
    let err = q
        .process(&SliceMemory::new(BASE, &bytes), |_, _| n += 1)
        .unwrap_err();
    assert_eq!(n, 2);
    assert_eq!(q.head_register(), 0, "head points at the illegal command");
    assert_eq!(err.address, BASE);
    assert_eq!(err.offset, 0);
    assert_eq!(err.hw_error(), HwError::IllegalCommand);
    match err.cause {
        StopCause::Illegal(e) => assert_eq!(
            (e.kind, e.word, e.mask),
            (ErrorKind::ReservedBits, 0, 1 << 16)
        ),
        other => panic!("{other:?}"),
    }
    // The ILLEGAL_COMMAND_ERROR entry: code 5 in w0[63:60], command address in w1.
    assert_eq!(err.event.words(), &[0x5000_0000_0000_0000, BASE]);
    assert_eq!(
        (err.event.op(), err.event.uint("address")),
        ("ILLEGAL_COMMAND_ERROR", Some(BASE))
    );
    // Retrying without a fix stops again at the same place.
    assert_eq!(
        q.process(&SliceMemory::new(BASE, &bytes), |_, _| ())
            .unwrap_err(),
        err
    );
    // The guest fixes the command: processing resumes at head.
    bytes[..16].copy_from_slice(&image(&[(0, DTE)])[..16]);
    let mut seen = Vec::new();
    assert_eq!(
        q.process(&SliceMemory::new(BASE, &bytes), |a, _| seen.push(a)),
        Ok(2)
    );
    assert_eq!(seen, [BASE, BASE + 0x10]);
}

#[test]
fn unknown_opcode_stops_too() {
    let bytes = image(&[(0, [0xb000_0000_0000_0000, 0])]);
    let mut q = Walker::new(BASE, 8, 0, 16).unwrap();
    let err = q
        .process(&SliceMemory::new(BASE, &bytes), |_, _| ())
        .unwrap_err();
    assert!(matches!(err.cause, StopCause::Illegal(e) if e.kind == ErrorKind::UnknownOpcode));
    assert_eq!(q.head_register(), 0);
}

#[test]
fn fetch_failure_is_a_command_hardware_error() {
    // Only the first 32 bytes of the buffer are backed.
    let bytes = image(&[(0, ALL), (1, ALL)]);
    let mem = SliceMemory::new(BASE, &bytes[..32]);
    let mut q = Walker::new(BASE, 8, 0, 3 * 16).unwrap();
    let err = q.process(&mem, |_, _| ()).unwrap_err();
    assert_eq!(q.head_register(), 0x20);
    assert_eq!(err.hw_error(), HwError::CommandHardware);
    assert!(matches!(err.cause, StopCause::Fetch(m) if m.addr == BASE + 0x20));
    // COMMAND_HARDWARE_ERROR: code 6, Type (master abort, 01b) in w0[58:57], address in w1.
    assert_eq!(err.event.words(), &[0x6200_0000_0000_0000, BASE + 0x20]);
}

#[test]
fn next_command_and_set_tail() {
    let bytes = image(&[(0, WAIT), (1, DTE)]);
    let mem = SliceMemory::new(BASE, &bytes);
    let mut q = Walker::new(BASE, 8, 0, 0).unwrap();
    assert!(q.next_command(&mem).is_none());
    q.set_tail(0x10).unwrap();
    let (a, c) = q.next_command(&mem).unwrap().unwrap();
    assert_eq!((a, c.encode()), (BASE, WAIT));
    assert!(matches!(c, Command::CompletionWait(_)));
    assert!(q.next_command(&mem).is_none());
    assert_eq!(
        q.set_tail(0x1000),
        Err(ConfigError::PointerOutOfRange(0x1000))
    );
}
