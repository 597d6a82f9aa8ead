//! The four queue consumers over arbitrary guest memory and register
//! values (including structs built directly from their public fields).
//! Never a panic; every command handed out re-reads from guest memory as
//! the same words (R1 through the queue); the count never exceeds what the
//! producer published.
//!
//! Half the inputs drive the `CommandQueue` front ends instead: arbitrary
//! registers, doorbells, writable guest memory, a back end that fails when
//! told, acknowledgements in between. Never a panic; what `process` reports
//! agrees with what the back end saw; a stopped queue consumes nothing until
//! acknowledged; nothing is consumed beyond what was pending. The iterator
//! forms (SMMUv3 `Cmdq::iter`, VT-d `Walker` with an arbitrary MAMV) and
//! `is_empty` / `is_full` agree with the callback consumers and `pending`.
#![no_main]
use arbitrary::{Result, Unstructured};
use iommu_inval::core::device::{
    Backend, BackendError, CommandQueue, BATCH_OPS,
};
use iommu_inval::core::model::{Op, Sync};
use iommu_inval::core::{CellMemory, GuestMemory, IdentityContext, NativeCommand, SliceMemory};
use iommu_inval::{amd, arm, riscv, vtd};
use libfuzzer_sys::fuzz_target;

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
        match self.u.int_in_range(0u8..=15).unwrap_or(0) {
            0 => Err(BackendError::Failed("fuzzed failure")),
            1 => Err(BackendError::DeviceTlbTimeout {
                device: self.u.arbitrary().unwrap_or(0),
            }),
            _ => Ok(()),
        }
    }
}

impl Backend for Flaky<'_, '_> {
    fn execute(&mut self, ops: &[Op]) -> core::result::Result<(), BackendError> {
        assert!(!ops.is_empty() && ops.len() <= BATCH_OPS, "batch of {}", ops.len());
        assert!(ops.iter().all(|o| !o.is_sync()), "a sync inside a batch");
        self.ops += ops.len() as u64;
        self.verdict()
    }
    fn barrier(&mut self, _: &Sync) -> core::result::Result<(), BackendError> {
        self.barriers += 1;
        self.verdict()
    }
}

/// Drive a front end (given its emulated IOMMU's features by `caps`)
/// through a few doorbell / process / acknowledge rounds.
fn device<Q: CommandQueue>(
    u: &mut Unstructured<'_>,
    mem: &CellMemory<'_>,
    regs: (u64, u64, u64),
    caps: impl FnOnce(Q) -> Q,
    ack: impl Fn(&mut Q),
) -> Result<()> {
    let Ok(q) = Q::from_registers(regs.0, regs.1, regs.2) else {
        return Ok(());
    };
    let mut q = caps(q);
    for _ in 0..u.int_in_range(1u8..=4)? {
        if u.arbitrary()? {
            q.doorbell(u.arbitrary()?);
        }
        let stopped = q.is_stopped();
        let pending = q.pending();
        let mut seed = [0u8; 64];
        u.fill_buffer(&mut seed)?;
        let mut fu = Unstructured::new(&seed);
        let mut b = Flaky { u: &mut fu, ops: 0, barriers: 0 };
        let p = q.process(mem, &IdentityContext, &mut b);
        assert_eq!(p.blocked, stopped);
        if stopped {
            assert_eq!((p.consumed, p.ops, b.barriers), (0, 0, 0), "a stopped queue ran");
        }
        assert!(u64::from(p.consumed) <= pending, "consumed {} of {pending}", p.consumed);
        assert_eq!(u64::from(p.ops), b.ops, "ops reported and ops executed differ");
        assert!(u64::from(p.completions) <= b.barriers);
        if let Some(f) = p.fault {
            if f.stopped {
                assert!(q.is_stopped(), "fault {f:?} but the queue runs on");
            }
        }
        if u.arbitrary()? {
            ack(&mut q);
        }
    }
    Ok(())
}

fn run_device(u: &mut Unstructured<'_>) -> Result<()> {
    let arch = u.int_in_range(0u8..=3)?;
    let base: u64 = if u.ratio(1, 4)? {
        u.arbitrary()?
    } else {
        u64::from(u.int_in_range(0u32..=0x3000)?)
    };
    let regs: (u64, u64, u64) = (u.arbitrary()?, u.arbitrary()?, u.arbitrary()?);
    let mut ram = vec![0u8; 0x4000];
    let n = u.int_in_range(0usize..=ram.len())?;
    u.fill_buffer(&mut ram[..n])?;
    let mem = CellMemory::new(base, &mut ram);
    // Mostly queues inside the memory, sometimes anywhere.
    let near = |r: u64| if r & 1 == 0 { (r & 0xff00_0000_0000_3fff) | base } else { r };
    // The emulated IOMMU: one of the architecture's presets (revisions).
    let pick = usize::from(u.arbitrary::<u8>()?);
    let preset = |names: &[&'static str]| names.get(pick % names.len().max(1)).copied().unwrap_or("latest");
    match arch {
        0 => {
            let f = arm::Features::preset(preset(arm::Features::PRESETS)).unwrap_or_default();
            device::<arm::queue::CmdqDevice>(u, &mem, (near(regs.0) & !0x1f | regs.0 & 0x1f, regs.1, regs.2), |q| q.with_caps(f), |q| {
                q.write_gerrorn(q.gerror)
            })
        }
        1 => {
            let f = vtd::Features::preset(preset(vtd::Features::PRESETS)).unwrap_or_default();
            device::<vtd::queue::InvQueue>(u, &mem, (near(regs.0), regs.1, regs.2), |q| q.with_caps(f), |q| {
                q.write_fsts(u32::MAX)
            })
        }
        2 => {
            let f = amd::Features::preset(preset(amd::Features::PRESETS)).unwrap_or_default();
            device::<amd::queue::CmdBufDevice>(u, &mem, (near(regs.0), regs.1, regs.2), |q| q.with_caps(f), |q| q.restart())
        }
        _ => {
            // cqb: PPN [53:10] of a base near the memory, small LOG2SZ-1.
            let cqb = (near(regs.0 & !0xfff) >> 2 & riscv::queue::CQB_PPN_MASK) | (regs.0 & 0x1f) % 10;
            device::<riscv::queue::CqDevice>(u, &mem, (cqb, regs.1, regs.2), |q| q, |q| {
                q.write_cqcsr(u32::MAX)
            })
        }
    }
}

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let u = &mut u;
    if u.arbitrary()? {
        return run_device(u);
    }
    let arch = u.int_in_range(0u8..=3)?;
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
    let mem = SliceMemory {
        base: mem_base,
        bytes,
    };
    match arch {
        0 => {
            let q = if direct {
                arm::queue::Cmdq {
                    base: qbase,
                    log2size: size_param,
                }
            } else {
                arm::queue::Cmdq::new(qbase, size_param % 24)
            };
            let (prod, cons) = (h as u32, t as u32);
            let pending = q.pending(prod, cons);
            assert_eq!(q.is_empty(prod, cons), pending == 0, "is_empty with {pending} pending");
            assert_eq!(q.is_full(prod, cons), pending == q.entries(), "is_full with {pending} pending");
            if flag {
                // The iterator form: the same commands, at most `pending`.
                let mut n = 0u32;
                for r in q.iter(&mem, prod, cons) {
                    let Ok((rd, c)) = r else { break };
                    n += 1;
                    check(&mem, q.entry_addr(rd), &c);
                }
                assert!(n <= pending, "iterated {n} of {pending}");
            } else {
                let res = q.consume(&mem, prod, cons, |rd, c| check(&mem, q.entry_addr(rd), c));
                assert!(res.count <= pending, "consumed {} of {pending}", res.count);
            }
        }
        1 => {
            let iqa = if direct {
                vtd::queue::Iqa {
                    base: qbase,
                    dw: flag,
                    qs: size_param,
                }
            } else {
                vtd::queue::Iqa::from_reg(
                    qbase | u64::from(size_param & 7) | if flag { vtd::queue::IQA_DW } else { 0 },
                )
            };
            let mut n = 0u64;
            if direct && flag {
                // The iterator form, refusing `am` above an arbitrary MAMV.
                let walker = vtd::queue::Walker::new(&mem, iqa, h, t).with_mamv(size_param & 63);
                for r in walker {
                    let Ok((off, c)) = r else { break };
                    n += 1;
                    check(&mem, iqa.base.wrapping_add(off), &c);
                }
            } else {
                let _ = vtd::queue::walk(&mem, iqa, h, t, |off, c| {
                    n += 1;
                    check(&mem, iqa.base.wrapping_add(off), c);
                });
            }
            assert!(
                n <= iqa.entries(),
                "walked {n} descriptors of a {}-entry queue",
                iqa.entries()
            );
        }
        3 => {
            let q = riscv::queue::CmdQueue::from_registers(
                qbase >> 2 & riscv::queue::CQB_PPN_MASK | u64::from(size_param % 24),
                h as u32,
                t as u32,
                if flag { riscv::queue::CQCSR_CQEN } else { 0 },
            );
            if let Some(mut q) = q {
                let pending = q.pending();
                let mut n = 0u32;
                let _ = q.process(&mem, |addr, c| {
                    n += 1;
                    check(&mem, addr, c)
                });
                assert!(n <= pending, "consumed {n} of {pending}");
            }
        }
        _ => {
            let cb = if direct {
                amd::queue::CmdBuf::new(qbase, size_param, h, t)
            } else {
                amd::queue::CmdBuf::from_registers(
                    qbase | (u64::from(size_param & 0xf) << 56),
                    h,
                    t,
                )
            };
            if let Ok(mut cb) = cb {
                let _ = cb.process(&mem, |addr, c| check(&mem, addr, c));
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
