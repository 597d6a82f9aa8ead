//! The queue front ends against the per-command lift: for random rings of
//! valid commands of every kind, what `CommandQueue::process` hands the back
//! end (ops and barriers, flattened) is exactly the lift of each consumed
//! command in order, syncs as barriers; it stops exactly at the first
//! command without a generic form. Also: no command lifts to more than
//! `MAX_LIFT_OPS` ops (the bound the front end's batching relies on).
//! Completion stores land in the test's RAM or miss it: a miss stops VT-d
//! and AMD-Vi at the sync and is recorded by SMMUv3, which goes on. The
//! decode-only walk (`QueueEngine::consume`) of the same ring hands out
//! every command, in order, at its slot. `process` leaves the head at the
//! command that stopped the queue, or at the tail.

mod common;

use common::{ok, scale};
use iommu_inval_amd::queue::CmdBufDevice;
use iommu_inval_arm::queue::CmdqDevice;
use iommu_inval_core::device::{CommandQueue, QueueEngine, Record, RecordingBackend, MAX_LIFT_OPS};
use iommu_inval_core::{CellMemory, IdentityContext, MemError, NativeCommand, Op, QueueMemory};
use iommu_inval_props::gen::NativeGen;
use iommu_inval_props::{run_cases, Amd, Arch, Riscv, Smmu, Vtd};
use iommu_inval_riscv::queue::CqDevice;
use iommu_inval_vtd::queue::InvQueue;

const BASE: u64 = 0x1234_5000;
const RAM: usize = 0x4000;

/// What the back end should see: ops and syncs in command order.
#[derive(Debug, PartialEq)]
enum Seen {
    Op(Op),
    Barrier,
}

fn pick<A: Arch>(
    u: &mut arbitrary::Unstructured<'_>,
    g: &NativeGen<A::Command>,
) -> Result<Option<A::Command>, String> {
    if u.arbitrary::<bool>().map_err(|e| e.to_string())? {
        u.arbitrary().map(Some).map_err(|e| e.to_string())
    } else {
        g.generate(u).map_err(|e| e.to_string())
    }
}

/// The ring's bytes at the start of RAM: read-only, so that a completion
/// store can never rewrite a command not yet consumed.
const RING: u64 = 0x2000;

/// RAM whose ring part refuses writes.
struct Guarded<'a>(CellMemory<'a>);
impl QueueMemory for Guarded<'_> {
    fn read_words(&self, addr: u64, out: &mut [u64]) -> Result<(), MemError> {
        self.0.read_words(addr, out)
    }
    fn write_bytes(&self, addr: u64, bytes: &[u8]) -> Result<(), MemError> {
        if addr < BASE + RING && addr.saturating_add(bytes.len() as u64) > BASE {
            return Err(MemError::write(addr));
        }
        self.0.write_bytes(addr, bytes)
    }
}

/// True when a completion store of `Q` at `addr` lands in RAM past the ring.
fn store_lands<Q: QueueEngine>(addr: u64) -> bool {
    addr >= BASE + RING
        && addr
            .checked_add(Q::STORE_BYTES as u64)
            .is_some_and(|e| e <= BASE + RAM as u64)
}

/// Expected sequence and the index of the first command that stops the
/// queue: one without a generic form, or (where a failed completion store
/// stops the queue, `store_stops`) a sync whose store misses memory.
fn expected<A: Arch, Q: QueueEngine>(cmds: &[A::Command], store_stops: bool) -> (Vec<Seen>, usize) {
    let mut seen = Vec::new();
    for (i, c) in cmds.iter().enumerate() {
        let mut ops = Vec::new();
        if A::lift(c, &IdentityContext, &mut ops).is_err() {
            return (seen, i);
        }
        for op in ops {
            seen.push(match op {
                Op::Sync(s) => {
                    seen.push(Seen::Barrier);
                    match s.store {
                        Some(st) if store_stops && !store_lands::<Q>(st.address) => {
                            return (seen, i)
                        }
                        _ => continue,
                    }
                }
                o => Seen::Op(o),
            });
        }
    }
    (seen, cmds.len())
}

fn check<A: Arch, Q: CommandQueue<Arch = A> + Clone>(
    seed: u64,
    cases: usize,
    store_stops: bool,
    make: impl Fn(&CellMemory<'_>, &[A::Command]) -> Q,
) {
    let g = NativeGen::<A::Command>::new(A::WIDTHS);
    let mut ram = vec![0u8; RAM];
    ok(run_cases(seed, cases, 2048, |u| {
        let n = u.int_in_range(1..=120usize).map_err(|e| e.to_string())?;
        let mut cmds: Vec<A::Command> = Vec::new();
        for _ in 0..n {
            if let Some(c) = pick::<A>(u, &g)? {
                // One descriptor width per queue (the first command's).
                if cmds.first().is_none_or(|f| f.words() == c.words()) {
                    cmds.push(c);
                }
            }
        }
        let mut lifted = Vec::new();
        for c in &cmds {
            lifted.clear();
            if A::lift(c, &IdentityContext, &mut lifted).is_ok() && lifted.len() > MAX_LIFT_OPS {
                return Err(format!("{} lifts to {} ops", c.op(), lifted.len()));
            }
        }
        ram.fill(0);
        let mem = CellMemory::new(BASE, &mut ram);
        let mut q = make(&mem, &cmds);
        // The decode-only walk (on a copy) hands out every command, in
        // order, at its slot, and leaves the head at the tail.
        let mut walked = q.clone();
        let mut seen = Vec::new();
        let first = walked.command_address();
        let w = walked.consume(&mem, |f| seen.push((f.address, f.command)));
        let slot = walked.ring().slot_bytes();
        let want_walk: Vec<_> = (0u64..)
            .zip(&cmds)
            .map(|(i, c)| (first + i * slot, *c))
            .collect();
        if seen != want_walk || w.fault.is_some() || w.consumed as usize != cmds.len() {
            return Err(format!(
                "decode-only walk: {w:?}\n  saw {seen:?}\n  commands {cmds:?}"
            ));
        }
        if walked.head_register() != walked.tail_register() {
            return Err(format!(
                "decode-only walk left head {:#x}, tail {:#x}",
                walked.head_register(),
                walked.tail_register()
            ));
        }
        let mut b = RecordingBackend::default();
        let p = q.process(&Guarded(mem), &IdentityContext, &mut b);
        let (want, stop) = expected::<A, Q>(&cmds, store_stops);
        let mut got = Vec::new();
        for r in b.records() {
            match r {
                Record::Batch(ops) => got.extend(ops.iter().map(|o| Seen::Op(*o))),
                Record::Barrier(_) => got.push(Seen::Barrier),
            }
        }
        if got != want {
            return Err(format!(
                "back end saw {got:?}\n  expected {want:?}\n  commands {cmds:?}"
            ));
        }
        let stopped = p.fault.is_some_and(|f| f.stopped);
        if p.consumed as usize != stop || (stop < cmds.len()) != stopped {
            return Err(format!(
                "consumed {} of {}, stop expected at {stop}: {p:?}",
                p.consumed,
                cmds.len()
            ));
        }
        // The head is left at the command that stopped the queue (the
        // commands before it consumed), or at the tail.
        let head = first + stop as u64 * slot;
        if q.command_address() != head {
            return Err(format!(
                "head at {:#x}, expected {head:#x} (command {stop} of {}): {p:?}",
                q.command_address(),
                cmds.len()
            ));
        }
        Ok(())
    }));
}

fn write_ring<C: NativeCommand>(mem: &CellMemory<'_>, cmds: &[C], slot_words: usize) {
    for (i, c) in cmds.iter().enumerate() {
        let mut w = [0u64; 4];
        let n = c.encode_into(&mut w).unwrap();
        mem.write_words(BASE + (i * slot_words * 8) as u64, &w[..n])
            .unwrap();
    }
}

#[test]
fn smmuv3_front_end_is_the_per_command_lift() {
    check::<Smmu, CmdqDevice>(0xd5_0001, 400 * scale(), false, |mem, cmds| {
        write_ring(mem, cmds, 2);
        // 256 entries.
        CmdqDevice::from_registers(BASE | 8, 0, cmds.len() as u64).unwrap()
    });
}

#[test]
fn vtd_front_end_is_the_per_command_lift() {
    check::<Vtd, InvQueue>(0xd5_0002, 400 * scale(), true, |mem, cmds| {
        let wide = cmds.first().is_some_and(|c| c.words() == 4);
        let slot = if wide { 4 } else { 2 };
        write_ring(mem, cmds, slot);
        let dw = if wide { 1 << 11 } else { 0 };
        // Two pages (the ring part of RAM): 512 narrow or 256 wide slots.
        InvQueue::from_registers(BASE | dw | 1, 0, (cmds.len() * slot * 8) as u64).unwrap()
    });
}

#[test]
fn amd_front_end_is_the_per_command_lift() {
    check::<Amd, CmdBufDevice>(0xd5_0003, 400 * scale(), true, |mem, cmds| {
        write_ring(mem, cmds, 2);
        CmdBufDevice::from_registers(8 << 56 | BASE, 0, (cmds.len() * 16) as u64).unwrap()
    });
}

#[test]
fn riscv_front_end_is_the_per_command_lift() {
    check::<Riscv, CqDevice>(0xd5_0004, 400 * scale(), true, |mem, cmds| {
        write_ring(mem, cmds, 2);
        // 512 entries (LOG2SZ-1 = 8) at BASE: the ring part of RAM.
        CqDevice::from_registers((BASE >> 12) << 10 | 8, 0, cmds.len() as u64).unwrap()
    });
}
