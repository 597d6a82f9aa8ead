//! The four queue consumers over arbitrary guest memory and register
//! values (including structs built directly from their public fields).
//! Never a panic; every command handed out re-reads from guest memory as
//! the same words (R1 through the queue); the count never exceeds what the
//! producer published.
//!
//! Half the inputs drive the `CommandQueue` front ends instead: arbitrary
//! registers, doorbells, writable guest memory (`CellMemory`, or at times
//! rust-vmm's `GuestMemoryMmap` through `VmMemory`), a back end that fails
//! when told (an `io::Error` among its failures), acknowledgements in
//! between; the progress maps its hardware error (`map_hw`). Never a panic; what `process` reports
//! agrees with what the back end saw; a stopped queue consumes nothing until
//! acknowledged; nothing is consumed beyond what was pending. The
//! decode-only walks (core's `QueueEngine::commands` iterator and
//! `consume`, VT-d with an arbitrary MAMV) and SMMUv3 PROD / CONS empty and
//! full agree with the ring's `pending`.
//! The guest's register writes go in between: any GERRORN, FSTS / ICS,
//! AMD-Vi status (and an event log the errors are written to), RISC-V
//! `cqcsr`, `fctl` (`BE` changes only with `capabilities.END`), `ddtp` (a
//! refused mode keeps the mode), `cqt` and `cqh`; a RISC-V queue whose
//! fence store faulted (`cqmf`) hands out nothing. RISC-V queues run with
//! any capabilities (PID width, device-context format), `ddtp.iommu_mode`
//! and byte order: a big-endian command re-reads as its byte-reversed
//! doublewords. Every error is formatted (what a VMM logs).
//!
//! Written once over `core::arch::Arch`: the generic drivers take the
//! architecture's part from [`Fuzzed`] (its features, front-end extras,
//! register writes and queue images); [`ARCHES`] lists each architecture once.
#![no_main]
use arbitrary::{Result, Unstructured};
use iommu_inval::core::arch::RingArch;
use iommu_inval::core::device::{
    Backend, BackendError, CommandQueue, FaultCause, Fetched, QueueEngine, BATCH_OPS,
};
use iommu_inval::core::model::{Barrier, Op};
use iommu_inval::core::queue::VmMemory;
use iommu_inval::core::ring::RingRegs;
use iommu_inval::core::{
    CellMemory, FeatureSet, IdentityContext, MemError, NativeCommand, QueueMemory, SliceMemory,
};
use iommu_inval::{amd, arm, riscv, vtd};
use libfuzzer_sys::fuzz_target;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// RISC-V `cqb.PPN`, bits `[53:10]` (RISC-V IOMMU spec §5.6).
const CQB_PPN: u64 = 0x003f_ffff_ffff_fc00;

/// Every architecture, once: its front-end driver and its image walker.
const ARCHES: [(Drive, Walk); 4] = [
    entry::<arm::Smmuv3>(),
    entry::<vtd::Vtd>(),
    entry::<amd::AmdVi>(),
    entry::<riscv::RiscV>(),
];

type Near<'a> = &'a dyn Fn(u64) -> u64;
type Drive = fn(&mut Unstructured<'_>, &dyn QueueMemory, (u64, u64, u64), Near<'_>) -> Result<()>;
type Walk = fn(&Image, &SliceMemory<'_>) -> Result<()>;

const fn entry<A: Fuzzed>() -> (Drive, Walk) {
    (device::<A>, A::image)
}

/// A queue image for the decode-only walks: fuzzed registers over
/// read-only memory, the queue built from its registers or (`direct`) from
/// its public fields.
struct Image {
    qbase: u64,
    h: u64,
    t: u64,
    size_param: u8,
    direct: bool,
    flag: bool,
}

/// What an architecture adds to the generic drivers: everything here is
/// its own registers and front-end extras.
trait Fuzzed: RingArch {
    /// The emulated IOMMU: one of the architecture's presets (revisions).
    fn features(u: &mut Unstructured<'_>) -> Result<Self::Features> {
        let presets = <Self::Features as FeatureSet>::PRESETS;
        let pick = usize::from(u.arbitrary::<u8>()?);
        Ok(presets
            .get(pick % presets.len().max(1))
            .map_or(<Self::Features as FeatureSet>::LATEST, |(_, f)| *f))
    }
    /// The base register for fuzzed `r`, mostly a queue inside the memory.
    fn base(r: u64, near: Near<'_>) -> u64 {
        near(r)
    }
    /// The front end emulating an IOMMU with features `f`.
    fn with_features(q: Self::Queue, f: Self::Features) -> Self::Queue;
    /// The front end's extras beyond its features (none by default).
    fn extras(q: Self::Queue, _: &mut Unstructured<'_>, _: Near<'_>) -> Result<Self::Queue> {
        Ok(q)
    }
    /// One guest register write (an acknowledgement, or any value) of `v`.
    fn write(q: &mut Self::Queue, v: u64);
    /// The decode-only walks of a queue image, with the architecture's
    /// checks on its registers.
    fn image(i: &Image, mem: &SliceMemory<'_>) -> Result<()>;
}

/// The words at `addr`, as the consumer must have read them.
fn words_at(mem: &SliceMemory<'_>, addr: u64, n: usize) -> Vec<u64> {
    let mut w = vec![0u64; n];
    let r = mem.read_words(addr, &mut w);
    assert!(
        r.is_ok(),
        "a handed-out command at {addr:#x} is not in guest memory: {r:?}"
    );
    w
}

fn check<C: NativeCommand>(mem: &SliceMemory<'_>, addr: u64, c: &C) {
    let mut enc = [0u64; 4];
    let n = c.encode_into(&mut enc).unwrap_or(0);
    let want = words_at(mem, addr, n);
    assert_eq!(
        enc.get(..n),
        Some(want.as_slice()),
        "command at {addr:#x} ({}) does not re-encode to memory",
        c.op()
    );
}

/// A back end that fails when the fuzzer says so and counts what it saw.
struct Flaky<'a, 'b> {
    u: &'a mut Unstructured<'b>,
    ops: u64,
    barriers: u64,
}

impl Flaky<'_, '_> {
    fn verdict(&mut self) -> core::result::Result<(), BackendError> {
        match self.u.int_in_range(0u8..=17).unwrap_or(0) {
            0 => Err(BackendError::Failed("fuzzed failure")),
            1 => Err(BackendError::DeviceTlbTimeout {
                device: self.u.arbitrary().unwrap_or(0),
            }),
            2 => Err(BackendError::Errno(self.u.arbitrary().unwrap_or(0))),
            // What an ioctl's `io::Error` becomes: its errno, else its kind.
            3 => Err(std::io::Error::from_raw_os_error(self.u.arbitrary().unwrap_or(0)).into()),
            4 => Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()),
            _ => Ok(()),
        }
    }
}

impl Backend for Flaky<'_, '_> {
    fn execute(&mut self, ops: &[Op]) -> core::result::Result<(), BackendError> {
        assert!(
            !ops.is_empty() && ops.len() <= BATCH_OPS,
            "batch of {}",
            ops.len()
        );
        assert!(ops.iter().all(|o| !o.is_sync()), "a sync inside a batch");
        // What a back end logs: one line per op (`Op: Display`).
        for o in ops {
            let line = o.to_string();
            assert!(!line.is_empty() && !line.contains('\n'), "{o:?}: {line:?}");
        }
        self.ops += ops.len() as u64;
        self.verdict()
    }
    fn barrier(&mut self, _: &Barrier) -> core::result::Result<(), BackendError> {
        self.barriers += 1;
        self.verdict()
    }
}

/// Drive architecture `A`'s front end through a few doorbell / process /
/// acknowledge rounds.
fn device<A: Fuzzed>(
    u: &mut Unstructured<'_>,
    mem: &dyn QueueMemory,
    regs: (u64, u64, u64),
    near: Near<'_>,
) -> Result<()> {
    let f = A::features(u)?;
    let Ok(q) = A::Queue::from_registers(A::base(regs.0, near), regs.1, regs.2) else {
        return Ok(());
    };
    let mut q = A::extras(A::with_features(q, f), u, near)?;
    for _ in 0..u.int_in_range(1u8..=4)? {
        if u.arbitrary()? {
            q.doorbell(u.arbitrary()?);
        }
        let stopped = q.is_stopped();
        let pending = q.pending();
        let mut seed = [0u8; 64];
        u.fill_buffer(&mut seed)?;
        let mut fu = Unstructured::new(&seed);
        let mut b = Flaky {
            u: &mut fu,
            ops: 0,
            barriers: 0,
        };
        // Through `&mut B` as well (the blanket `Backend` impl).
        let p = if u.arbitrary()? {
            q.process(mem, &IdentityContext, &mut b)
        } else {
            q.process(mem, &IdentityContext, &mut &mut b)
        };
        // What a VMM logs: formatting never panics.
        if let Some(f) = p.fault {
            let _ = format!(
                "{} ({:#x}, {:#x})",
                f.cause,
                q.head_register(),
                q.tail_register()
            );
        }
        assert_eq!(p.blocked, stopped);
        if stopped {
            assert_eq!(
                (p.consumed, p.ops, b.barriers),
                (0, 0, 0),
                "a stopped queue ran"
            );
        }
        assert!(
            u64::from(p.consumed) <= pending,
            "consumed {} of {pending}",
            p.consumed
        );
        assert_eq!(
            u64::from(p.ops),
            b.ops,
            "ops reported and ops executed differ"
        );
        assert!(u64::from(p.completions) <= b.barriers);
        // A VMM names the architecture's error (`map_hw`).
        let named = p.map_hw(|h| format!("{h:?}"));
        assert_eq!(named.fault.is_some(), p.fault.is_some());
        if let Some(f) = p.fault {
            if f.stopped {
                assert!(q.is_stopped(), "fault {f:?} but the queue runs on");
            }
        }
        if u.arbitrary()? {
            A::write(&mut q, u.arbitrary()?);
        }
    }
    Ok(())
}

fn run_device(u: &mut Unstructured<'_>) -> Result<()> {
    let (drive, _) = *u.choose(&ARCHES)?;
    let base: u64 = if u.ratio(1, 4)? {
        u.arbitrary()?
    } else {
        u64::from(u.int_in_range(0u32..=0x3000)?)
    };
    let regs: (u64, u64, u64) = (u.arbitrary()?, u.arbitrary()?, u.arbitrary()?);
    let mut ram = vec![0u8; 0x4000];
    let n = u.int_in_range(0usize..=ram.len())?;
    u.fill_buffer(&mut ram[..n])?;
    // Mostly queues inside the memory, sometimes anywhere.
    let near = |r: u64| {
        if r & 1 == 0 {
            (r & 0xff00_0000_0000_3fff) | base
        } else {
            r
        }
    };
    // At times the memory a VMM has: rust-vmm's `GuestMemoryMmap` through
    // `VmMemory` (where the region fits the address space).
    if u.ratio(1, 4)? {
        let at = GuestAddress(base);
        if let Ok(gm) = GuestMemoryMmap::<()>::from_ranges(&[(at, ram.len())]) {
            if gm.write_slice(&ram, at).is_ok() {
                return drive(u, &VmMemory(&gm), regs, &near);
            }
        }
    }
    drive(u, &CellMemory::new(base, &mut ram), regs, &near)
}

/// One decode-only walk of a front end over read-only memory (the
/// iterator form with `iterate`, else `consume`): every command handed out
/// re-reads as its words (byte-reversed with `be`), and no more than were
/// pending; the fault formats. Returns how many were handed out.
fn walk<Q: CommandQueue>(q: &mut Q, mem: &SliceMemory<'_>, iterate: bool, be: bool) -> u64 {
    let pending = q.pending();
    let mut n = 0u64;
    let mut seen = |f: &Fetched<<Q::Arch as iommu_inval::core::arch::Arch>::Command>| {
        n += 1;
        if be {
            // fctl.BE: the doublewords in memory are byte-reversed.
            let mut enc = [0u64; 4];
            let k = f.command.encode_into(&mut enc).unwrap_or(0);
            let want: Vec<u64> = words_at(mem, f.address, k)
                .iter()
                .map(|w| w.swap_bytes())
                .collect();
            assert_eq!(
                enc.get(..k),
                Some(want.as_slice()),
                "BE command at {:#x}",
                f.address
            );
        } else {
            check(mem, f.address, &f.command)
        }
    };
    let fault = if iterate {
        let mut fault = None;
        for r in q.commands(mem) {
            match r {
                Ok(f) => seen(&f),
                Err(e) => fault = Some(e),
            }
        }
        fault
    } else {
        q.consume(mem, &mut seen).fault
    };
    if let Some(f) = fault {
        let _ = format!("{} ({}) at {:#x}", f.cause, f.hw, f.position);
    }
    assert!(n <= pending, "consumed {n} of {pending}");
    n
}

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let u = &mut u;
    if u.arbitrary()? {
        return run_device(u);
    }
    let (_, walk_image) = *u.choose(&ARCHES)?;
    let qbase: u64 = if u.ratio(1, 4)? {
        u.arbitrary()?
    } else {
        u64::from(u.int_in_range(0u32..=0x2000)?) & !0xfff
    };
    let mem_base = if u.ratio(3, 4)? {
        qbase
    } else {
        u.arbitrary()?
    };
    let (h, t): (u64, u64) = (u.arbitrary()?, u.arbitrary()?);
    let size_param: u8 = u.arbitrary()?;
    let direct = u.ratio(1, 3)?;
    let flag: bool = u.arbitrary()?;
    let n = u.len();
    let bytes = u.bytes(n)?;
    let mem = SliceMemory::new(mem_base, bytes);
    let image = Image {
        qbase,
        h,
        t,
        size_param,
        direct,
        flag,
    };
    walk_image(&image, &mem)
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});

impl Fuzzed for arm::Smmuv3 {
    fn base(r: u64, near: Near<'_>) -> u64 {
        near(r) & !0x1f | r & 0x1f
    }
    fn with_features(q: Self::Queue, f: Self::Features) -> Self::Queue {
        q.with_features(f)
    }
    /// Acknowledge (GERRORN = GERROR) or write any GERRORN.
    fn write(q: &mut arm::queue::CmdqDevice, v: u64) {
        let _ = q.cons_err();
        q.write_gerrorn(if v & 1 == 0 {
            q.gerror
        } else {
            (v >> 1) as u32
        })
    }
    fn image(i: &Image, mem: &SliceMemory<'_>) -> Result<()> {
        let q = if i.direct {
            arm::queue::Cmdq {
                base: i.qbase,
                log2size: i.size_param,
            }
        } else {
            arm::queue::Cmdq::new(i.qbase, i.size_param % 24)
        };
        let (prod, cons) = (i.h as u32, i.t as u32);
        let pending = q.ring().pending(cons, prod);
        // PROD / CONS as the SMMU compares them (IHI0070 §3.5.1): equal is
        // empty, same index with the other wrap bit is full.
        let (wr, rd) = (q.ring().pos(prod), q.ring().pos(cons));
        assert_eq!(wr == rd, pending == 0, "empty with {pending} pending");
        assert_eq!(
            u64::from(wr ^ rd) == q.ring().entries(),
            u64::from(pending) == q.ring().entries(),
            "full with {pending} pending"
        );
        // The iterator form or the callback one: the same commands, at
        // most `pending`.
        let mut d = arm::queue::CmdqDevice::new(q, cons, prod);
        walk(&mut d, mem, i.flag, false);
        Ok(())
    }
}

impl Fuzzed for vtd::Vtd {
    fn with_features(q: Self::Queue, f: Self::Features) -> Self::Queue {
        q.with_features(f)
    }
    /// Any MAMV (CAP_REG), or the features' own; FECTL / IECTL at times.
    fn extras(mut q: Self::Queue, u: &mut Unstructured<'_>, _: Near<'_>) -> Result<Self::Queue> {
        let mamv: Option<u8> = u.arbitrary()?;
        if let Some(m) = mamv {
            q.features_mut().mamv = m & 63;
        }
        // At times any FECTL / IECTL: IM masks the interrupt, which is
        // then held pending (IP).
        if u.ratio(1, 4)? {
            (q.fectl, q.iectl) = (u.arbitrary()?, u.arbitrary()?);
        }
        Ok(q)
    }
    /// FSTS (all ones acknowledges) and ICS writes, both RW1C.
    fn write(q: &mut vtd::queue::InvQueue, v: u64) {
        q.write_fsts(if v & 1 == 0 {
            u32::MAX
        } else {
            (v >> 1) as u32
        });
        q.write_ics((v >> 32) as u32);
    }
    fn image(i: &Image, mem: &SliceMemory<'_>) -> Result<()> {
        let (size_param, flag) = (i.size_param, i.flag);
        let iqa = if i.direct {
            vtd::queue::Iqa {
                base: i.qbase,
                dw: flag,
                qs: size_param,
            }
        } else {
            vtd::queue::Iqa::from_reg(
                i.qbase | u64::from(size_param & 7) | if flag { 1 << 11 } else { 0 }, // IQA_REG.DW
            )
        };
        let Ok(mut q) = vtd::queue::InvQueue::from_registers(0, i.h, i.t);
        q.iqa = iqa;
        if i.direct && flag {
            // Refusing `am` above an arbitrary MAMV.
            q.features_mut().mamv = size_param & 63;
        }
        let n = walk(&mut q, mem, i.direct, false);
        // IQERCD.IQEI: 0 to 4.
        assert!(q.iqercd & 0xf <= 4, "IQEI {}", q.iqercd & 0xf);
        let _ = (q.fsts, iqa.to_reg());
        assert!(
            n <= q.ring().entries(),
            "walked {n} descriptors of a {}-entry queue",
            q.ring().entries()
        );
        Ok(())
    }
}

impl Fuzzed for amd::AmdVi {
    fn with_features(q: Self::Queue, f: Self::Features) -> Self::Queue {
        q.with_features(f)
    }
    fn extras(mut q: Self::Queue, u: &mut Unstructured<'_>, near: Near<'_>) -> Result<Self::Queue> {
        // Sometimes an event log (in the same memory), for the
        // ILLEGAL_COMMAND / COMMAND_HARDWARE entries.
        let ev: Option<(u64, u64, u64, u64)> = u.arbitrary()?;
        q.event_log = ev.map(|(b, h, t, control)| {
            let mut log = amd::event::GuestLog::new(near(b), control);
            (log.head, log.tail) = (h, t);
            log
        });
        Ok(q)
    }
    /// Restart, or any write to the status register (RW1C bits).
    fn write(q: &mut amd::queue::CmdBufDevice, v: u64) {
        if v & 1 == 0 {
            q.restart()
        } else {
            q.write_status((v >> 1) as u32)
        }
    }
    fn image(i: &Image, mem: &SliceMemory<'_>) -> Result<()> {
        let (h, t, direct) = (i.h, i.t, i.direct);
        let base = i.qbase | (u64::from(i.size_param & 0xf) << 56);
        let mut d = match amd::queue::CmdBufDevice::from_registers(base, h, t) {
            Ok(d) => d,
            Err(e) => {
                let _ = e.to_string();
                return Ok(());
            }
        };
        walk(&mut d, mem, direct, false);
        // The guest moves the pointers (register writes) and re-enables
        // the buffer, which runs again.
        if i.flag {
            if let Err(e) = d.write_head(t) {
                let _ = e.to_string();
            }
        } else {
            d.doorbell(h);
        }
        d.restart();
        let _ = (d.ring().entries(), d.head_register(), d.tail_register());
        walk(&mut d, mem, !direct, false);
        Ok(())
    }
}

impl Fuzzed for riscv::RiscV {
    /// Any capabilities / fctl (PID width, device-context format, byte
    /// order), not only the presets.
    fn features(u: &mut Unstructured<'_>) -> Result<riscv::Features> {
        iommu_inval_props::bodies::riscv_features(u, 0..=u8::MAX)
    }
    /// cqb: PPN [53:10] of a base near the memory, small LOG2SZ-1.
    fn base(r: u64, near: Near<'_>) -> u64 {
        (near(r & !0xfff) >> 2 & CQB_PPN) | ((r & 0x1f) % 10)
    }
    fn with_features(q: Self::Queue, f: Self::Features) -> Self::Queue {
        q.with_features(f)
    }
    /// Any `ddtp.iommu_mode` (reserved ones refused), interrupts or not.
    fn extras(mut q: Self::Queue, u: &mut Unstructured<'_>, _: Near<'_>) -> Result<Self::Queue> {
        // A reserved or custom mode is refused and the mode (Off) kept.
        let _ = q.write_ddtp(u.arbitrary()?);
        if u.arbitrary()? {
            q.write_cqcsr(1 << 1); // cqcsr.cie
        }
        Ok(q)
    }
    /// The guest's writes: cqcsr (all ones or any value), fctl, ddtp.
    fn write(q: &mut riscv::queue::CqDevice, v: u64) {
        match v & 3 {
            0 => q.write_cqcsr(u32::MAX),
            1 => q.write_cqcsr((v >> 2) as u32),
            2 => {
                let be = q.big_endian();
                q.write_fctl((v >> 2) as u32);
                if !q.features_mut().end {
                    assert_eq!(q.big_endian(), be, "fctl.BE changed without END");
                }
            }
            _ => {
                let before = q.ddt_mode();
                if let Err(e) = q.write_ddtp(v >> 2) {
                    let _ = e.to_string();
                    assert_eq!(
                        q.ddt_mode(),
                        before,
                        "a refused ddtp changed the mode"
                    );
                }
            }
        }
    }
    fn image(i: &Image, mem: &SliceMemory<'_>) -> Result<()> {
        let (h, t, flag, direct) = (i.h, i.t, i.flag, i.direct);
        // Little- or big-endian (fctl.BE), any PID width and ddtp mode.
        let f = riscv::Features::from_registers(h.rotate_left(17), (t >> 40) as u32);
        let q = riscv::queue::CqDevice::from_cq_registers(
            // LOG2SZ-1 small, or (size_param 255) the refused 31.
            i.qbase >> 2 & CQB_PPN
                | if i.size_param == u8::MAX {
                    31
                } else {
                    u64::from(i.size_param % 24)
                },
            h as u32,
            t as u32,
            u32::from(flag), // cqcsr.cqen
            f,
        )
        .map(|mut q| {
            let _ = q.write_ddtp(h >> 60);
            q
        });
        let Ok(mut d) = q else {
            return Ok(());
        };
        let be = d.big_endian();
        // An IOFENCE.C datum in the queue's byte order (fctl.BE).
        let datum = d.fence_data_bytes(0x1122_3344);
        assert_eq!(
            u32::from_be_bytes(datum) == 0x1122_3344,
            be,
            "fence datum {datum:x?}"
        );
        walk(&mut d, mem, direct, be);
        let _ = (d.cqcsr(), d.interrupt_pending());
        // The guest's register writes, then the queue again.
        d.write_cqcsr(h as u32);
        d.doorbell(t.rotate_left(32) & 0xffff_ffff);
        let _ = d.complete(&Barrier {
            interrupt: flag,
            ..Barrier::default()
        });
        if i.size_param & 1 == 1 {
            // A fence store that faulted sets cqmf, with cqh at the fence:
            // nothing runs until software clears it.
            d.set_head(h.rotate_left(32) as u32);
            let _ = d.record_fault(mem, &FaultCause::CompletionStore(MemError::write(0)));
            let m = walk(&mut d, mem, direct, be);
            assert_eq!(m, 0, "a queue with cqcsr.cqmf set handed out commands");
        } else {
            let _ = walk(&mut d, mem, direct, be);
        }
        Ok(())
    }
}
