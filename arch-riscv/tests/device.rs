//! The RISC-V command-queue front end (`CqDevice`): IOFENCE.C executed,
//! `cqcsr` error bits with `cqh` left at the command, batching per fence.

use iommu_inval_core::device::{
    BackendError, CommandQueue, CountingBackend, FaultCause, QueueEngine, QueueProducer, Record,
    RecordingBackend, Signals,
};
use iommu_inval_core::model::{Caches, Op};
use iommu_inval_core::Flags;
use iommu_inval_core::{CellMemory, IdentityContext, QueueMemory};
use iommu_inval_riscv::queue::HwError;
use iommu_inval_riscv::queue::{ConfigError, CqDevice};
use iommu_inval_riscv::{Command, DdtMode, Features, IodirInvalDdt};

// The `cqcsr` bits the front end sets (RISC-V IOMMU spec §5.15); a VMM
// reads the register with `CqDevice::cqcsr` and the error with `HwError`.
const CQCSR_CQEN: u32 = 1 << 0;
const CQCSR_CIE: u32 = 1 << 1;
const CQCSR_CQMF: u32 = 1 << 8;
const CQCSR_CMD_TO: u32 = 1 << 9;
const CQCSR_CMD_ILL: u32 = 1 << 10;
const CQCSR_FENCE_W_IP: u32 = 1 << 11;

/// `q` after the guest's `ddtp` write of `mode`.
fn with_mode(mut q: CqDevice, mode: DdtMode) -> CqDevice {
    q.write_ddtp(u64::from(mode.iommu_mode())).unwrap();
    q
}

#[path = "../../core/tests/front_end/mod.rs"]
mod front_end;
use front_end::{put, read, run, Guest, BASE};
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

/// A queue with interrupts on (the guest wrote `cqcsr.cie` = 1).
fn device() -> CqDevice {
    let mut q = CqDevice::from_registers(CQB, 0, 0).unwrap();
    q.write_cqcsr(CQCSR_CIE);
    q
}

#[test]
fn iofence_store_and_wsi_after_the_batch() {
    let mut g = Guest::new();
    let mem = g.mem();
    mem.write_words(STORE, &[u64::MAX]).unwrap();
    let mut q = device();
    let mut b = RecordingBackend::default();
    let p = run(
        &mut q,
        &mem,
        &[DDT, VMA, fence(STORE, 0x1122_3344, true)],
        3,
        &mut b,
    );
    assert_eq!((p.consumed, p.completions, p.fault), (3, 1, None));
    assert_eq!(q.head_register(), 3);
    // A 4-byte store: the upper half of the doubleword is untouched.
    assert_eq!(read(&mem, STORE), 0xffff_ffff_1122_3344);
    assert!(q.cqcsr() & CQCSR_FENCE_W_IP != 0);
    assert!(p.signals.contains(Signals::COMPLETION_IRQ));
    // Everything before the fence went to the back end, then the barrier.
    assert!(matches!(b.records().last(), Some(Record::Barrier(_))));
    let ops: Vec<&Op> = b.ops().collect();
    assert_eq!(ops.len(), 3, "DDT lifts to two ops, VMA to one: {ops:?}");
    assert!(matches!(ops[2], Op::Inval(i) if i.caches.contains(Caches::IOTLB)));
    // fence_w_ip is RW1C.
    q.write_cqcsr(CQCSR_FENCE_W_IP | 1 << 1);
    assert_eq!(q.cqcsr() & CQCSR_FENCE_W_IP, 0);
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
        (HwError::CmdIll, 1, BASE + 16)
    );
    assert!(matches!(f.cause, FaultCause::Decode(_)));
    assert_eq!((p.consumed, q.head_register()), (1, 1));
    assert!(q.cqcsr() & CQCSR_CMD_ILL != 0);
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
        assert_eq!(p.fault.map(|f| f.hw), Some(HwError::CmdIll), "{w:x?}");
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
    assert_eq!(p.fault.map(|f| f.hw), Some(HwError::CmdIll));
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
    assert_eq!((f.hw, f.position), (HwError::Cqmf, 1));
    assert!(matches!(f.cause, FaultCause::CompletionStore(_)));
    assert!(q.cqcsr() & CQCSR_CQMF != 0);
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
    fn barrier(&mut self, _s: &iommu_inval_core::Barrier) -> Result<(), BackendError> {
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
    assert_eq!((f.hw, f.position), (HwError::CmdTo, 1));
    assert!(q.cqcsr() & CQCSR_CMD_TO != 0);
    assert_eq!(read(&mem, STORE), 0, "the fence did not complete");
}

/// IODIR.INVAL_DDT (`pdt` false) or INVAL_PDT, DV = 1.
fn iodir(pdt: bool, did: u32, pid: u32) -> [u64; 2] {
    [
        0x3 | u64::from(pdt) << 7 | u64::from(pid) << 12 | 1 << 33 | u64::from(did) << 40,
        0,
    ]
}

/// Process one command alone on a fresh queue of `q`: `None` when it is
/// consumed, else the error it stopped at (with `cqh` checked at it).
fn one(q: CqDevice, w: [u64; 2]) -> Option<HwError> {
    let mut g = Guest::new();
    let mem = g.mem();
    let mut q = q;
    put(&mem, 0, w);
    q.doorbell(1);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    match p.fault {
        None => {
            assert_eq!((p.consumed, q.head_register()), (1, 1), "{w:x?}");
            None
        }
        Some(f) => {
            assert_eq!((p.consumed, q.head_register(), f.position), (0, 0, 0));
            assert!(matches!(f.cause, FaultCause::Decode(_)), "{:?}", f.cause);
            assert!(q.cqcsr() & CQCSR_CMD_ILL != 0);
            Some(f.hw)
        }
    }
}

/// §3.1.3: the PID of IODIR.INVAL_PDT must not be wider than the IOMMU's
/// (capabilities.PD8 / PD17 / PD20); a wider one is illegal (cmd_ill, cqh
/// at the command), as the specification's reference model refuses it.
#[test]
fn iodir_pdt_pid_wider_than_the_capabilities_is_cmd_ill() {
    // capabilities: PD8 (bit 38), PD17 (39), PD20 (40); none = 8 bits.
    for (caps, bits) in [(1u64 << 38, 8), (1 << 39, 17), (1 << 40, 20), (0, 8)] {
        let f = Features {
            pid_bits: Features::from_registers(caps, 0).pid_bits,
            ..Features::default()
        };
        assert_eq!(f.pid_bits, bits);
        let q = device().with_features(f);
        let max = (1u32 << bits) - 1;
        assert_eq!(one(q, iodir(true, 1, max)), None, "{bits}");
        if bits < 20 {
            assert_eq!(
                one(q, iodir(true, 1, max + 1)),
                Some(HwError::CmdIll),
                "{bits}"
            );
            assert_eq!(one(q, iodir(true, 1, 1 << 19)), Some(HwError::CmdIll));
        }
    }
}

/// §3.1.3: with DV = 1 the DID of IODIR (INVAL_DDT and INVAL_PDT) must not
/// be wider than `ddtp.iommu_mode` allows: 1LVL 7 bits, 2LVL 16, 3LVL 24
/// with base-format device contexts; 6 / 15 / 24 with the extended format
/// (capabilities.MSI_FLAT), the `device_id` partitioning of §2.
#[test]
fn iodir_did_wider_than_the_ddt_mode_is_cmd_ill() {
    let cases = [
        (DdtMode::OneLevel, false, 7),
        (DdtMode::OneLevel, true, 6),
        (DdtMode::TwoLevel, false, 16),
        (DdtMode::TwoLevel, true, 15),
        (DdtMode::ThreeLevel, false, 24),
        (DdtMode::ThreeLevel, true, 24),
        (DdtMode::Off, true, 24),
        (DdtMode::Bare, false, 24),
    ];
    for (mode, msi_flat, bits) in cases {
        let f = Features {
            msi_flat,
            ..Features::default()
        };
        let q = with_mode(device().with_features(f), mode);
        let max = ((1u64 << bits) - 1) as u32;
        for pdt in [false, true] {
            // The PID bits are reserved with INVAL_DDT.
            let pid = u32::from(pdt) * 3;
            let what = format!("{mode:?} msi_flat {msi_flat} pdt {pdt}");
            assert_eq!(one(q, iodir(pdt, max, pid)), None, "{what}");
            if bits < 24 {
                assert_eq!(
                    one(q, iodir(pdt, max + 1, pid)),
                    Some(HwError::CmdIll),
                    "{what}"
                );
                assert_eq!(
                    one(q, iodir(pdt, 0x80_0000, pid)),
                    Some(HwError::CmdIll),
                    "{what}"
                );
            }
        }
        // DV = 0 (INVAL_DDT of every device): the DID is ignored.
        assert_eq!(one(q, [0x3 | 0xff_ffff << 40, 0]), None);
    }
}

/// `ddtp` as the guest writes it: `iommu_mode` in bits [3:0], PPN above.
#[test]
fn ddtp_register_sets_the_mode() {
    let mut q = device();
    assert_eq!(q.ddt_mode(), DdtMode::Off);
    q.write_ddtp(0x1234 << 10 | 2).unwrap();
    assert_eq!(q.ddt_mode(), DdtMode::OneLevel);
    assert_eq!(one(q, iodir(false, 0x80, 0)), Some(HwError::CmdIll));
    // Reserved and custom modes are refused; the mode stays.
    for m in 5..16u8 {
        assert_eq!(q.write_ddtp(u64::from(m)), Err(ConfigError::DdtMode(m)));
    }
    assert_eq!(q.ddt_mode(), DdtMode::OneLevel);
    for (m, mode) in [
        (0, DdtMode::Off),
        (1, DdtMode::Bare),
        (3, DdtMode::TwoLevel),
        (4, DdtMode::ThreeLevel),
    ] {
        q.write_ddtp(m).unwrap();
        assert_eq!((q.ddt_mode(), mode.iommu_mode()), (mode, m as u8));
    }
}

/// Queue entries as a big-endian IOMMU reads them: each doubleword's bytes
/// most significant first (§3.1).
fn put_be(mem: &CellMemory<'_>, slot: u64, w: [u64; 2]) {
    for (i, x) in w.iter().enumerate() {
        mem.write_bytes(BASE + slot * 16 + i as u64 * 8, &x.to_be_bytes())
            .unwrap();
    }
}

/// §5.4 fctl.BE = 1: the command queue's doublewords and the IOFENCE.C
/// DATA store are big-endian.
#[test]
fn fctl_be_makes_the_queue_and_the_fence_store_big_endian() {
    let mut g = Guest::new();
    let mem = g.mem();
    mem.write_words(STORE, &[0]).unwrap();
    let be = Features {
        be: true,
        ..Features::default()
    };
    let mut q = device().with_features(be);
    put_be(&mem, 0, DDT);
    put_be(&mem, 1, VMA);
    put_be(&mem, 2, fence(STORE, 0x1122_3344, true));
    q.doorbell(3);
    let mut b = RecordingBackend::default();
    let p = q.process(&mem, &IdentityContext, &mut b);
    assert_eq!((p.consumed, p.completions, p.fault), (3, 1, None));
    assert_eq!(b.ops().count(), 3);
    let mut bytes = [0u64; 1];
    mem.read_words(STORE, &mut bytes).unwrap();
    assert_eq!(bytes[0].to_le_bytes(), [0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0]);
    // The same commands little-endian are not what a BE IOMMU reads:
    // IODIR.INVAL_DDT's first byte 0x03 becomes the top byte (reserved bits).
    let mut q = device().with_features(be);
    put(&mem, 0, DDT);
    q.doorbell(1);
    let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
    assert_eq!(p.fault.map(|f| f.hw), Some(HwError::CmdIll));
    // A producer for a big-endian host queue writes big-endian words.
    let mut q = device().with_features(be);
    let c = Command::IodirInvalDdt(IodirInvalDdt {
        dv: true,
        did: 0x10,
    });
    q.produce(&mem, &c).unwrap();
    let mut w = [0u64; 2];
    mem.read_words(BASE, &mut w).unwrap();
    assert_eq!([w[0].swap_bytes(), w[1].swap_bytes()], DDT);
    // The read-only consumer reads big-endian too, and says how to store.
    let mut cq = CqDevice::from_cq_registers(CQB, 0, 1, CQCSR_CQEN, be).unwrap();
    let mut seen = Vec::new();
    let p = cq.consume(&mem, |f| seen.push(f.command));
    assert!(p.fault.is_none());
    assert_eq!(seen, [c]);
    assert_eq!(cq.fence_data_bytes(0x1122_3344), [0x11, 0x22, 0x33, 0x44]);
}

/// fctl.BE is WARL: it follows a write only with capabilities.END (both
/// byte orders); an IOMMU with one byte order keeps it.
#[test]
fn fctl_be_is_writable_only_with_capabilities_end() {
    let mut q = device();
    assert!(!q.big_endian());
    q.write_fctl(1);
    assert!(q.big_endian());
    q.write_fctl(0);
    assert!(!q.big_endian());
    // One byte order (END = 0): little-endian stays, big-endian stays.
    for be in [false, true] {
        let one_order = Features::from_registers(0, u32::from(be));
        assert!(!one_order.end);
        let mut q = device().with_features(one_order);
        q.write_fctl(u32::from(!be));
        assert_eq!(q.big_endian(), be);
    }
}

/// The byte-order rule in general: a big-endian queue over memory holding
/// each doubleword byte-reversed behaves as the little-endian queue over the
/// plain words — the same progress and faults, the same ops and barriers —
/// and every IOFENCE.C stores the same 32-bit value in its own byte order.
/// Pseudo-random streams (legal and illegal commands, any PID width,
/// device-context format and `ddtp.iommu_mode`).
#[test]
fn big_endian_queue_is_the_little_endian_one_byte_reversed() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let modes = [
        DdtMode::Off,
        DdtMode::Bare,
        DdtMode::OneLevel,
        DdtMode::TwoLevel,
        DdtMode::ThreeLevel,
    ];
    for _ in 0..400 {
        let n = 1 + rnd() % 24;
        let mut cmds = Vec::new();
        for k in 0..n {
            let r = rnd();
            let did = (r >> 8) as u32 & 0xff_ffff;
            let pid = (r >> 32) as u32 & 0xf_ffff;
            cmds.push(match r % 7 {
                0 => iodir(false, did >> ((r >> 40) % 24), 0),
                1 => iodir(true, did >> ((r >> 40) % 24), pid >> ((r >> 48) % 20)),
                2 => VMA,
                3 => fence(STORE + 4 * k, (r >> 32) as u32, r & 8 != 0),
                4 => BAD,
                5 => [0x3 | 0xff_ffff << 40, 0],
                // Random words; never an IOFENCE.C (its store could land anywhere).
                _ => {
                    let w0 = rnd();
                    let w0 = if w0 & 0x3ff == 2 { w0 | 4 } else { w0 };
                    [w0, rnd()]
                }
            });
        }
        let f = Features {
            pid_bits: [8, 17, 20][(rnd() % 3) as usize],
            msi_flat: rnd() & 1 != 0,
            ..Features::default()
        };
        let mode = modes[(rnd() % 5) as usize];
        let run = |be: bool| {
            let mut g = Guest::new();
            let mem = g.mem();
            for (k, w) in cmds.iter().enumerate() {
                if be {
                    put_be(&mem, k as u64, *w);
                } else {
                    put(&mem, k as u64, *w);
                }
            }
            let mut q = with_mode(device().with_features(Features { be, ..f }), mode);
            q.doorbell(cmds.len() as u64);
            let mut b = RecordingBackend::default();
            let p = q.process(&mem, &IdentityContext, &mut b);
            let records = format!("{:?}", b.records().collect::<Vec<_>>());
            let stores: Vec<u32> = (0..cmds.len() as u64)
                .map(|k| {
                    let mut w = [0u64; 1];
                    mem.read_words((STORE + 4 * k) & !7, &mut w).unwrap();
                    let b = w[0].to_le_bytes();
                    let o = (4 * k % 8) as usize;
                    let v = [b[o], b[o + 1], b[o + 2], b[o + 3]];
                    if be {
                        u32::from_be_bytes(v)
                    } else {
                        u32::from_le_bytes(v)
                    }
                })
                .collect();
            (p, q.head_register(), q.cqcsr(), records, stores)
        };
        let (le, be) = (run(false), run(true));
        assert_eq!(le, be, "{cmds:x?} {f:?} {mode:?}");
    }
}
