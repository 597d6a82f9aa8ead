//! Coalescing on the production path: `LowerToHost` coalesces each guest
//! batch (the ops of one barrier) before lowering it.
//! * A guest ring of overlapping and adjacent invalidations, a CMD_SYNC
//!   every 16 commands, makes fewer host commands than op-by-op lowering.
//! * For random sequences of generic ops on a host of every architecture:
//!   the host commands written before each guest barrier (lifted back by
//!   the host's own front end) cover what lowering must cover of every op
//!   before that barrier (nothing is lost, nothing moves across a barrier).

mod common;

use common::{ok, scale};
use iommu_inval_amd::queue::CmdBufDevice;
use iommu_inval_arm::queue::CmdqDevice;
use iommu_inval_arm::{CmdSync, Command, TlbiAddr};
use iommu_inval_core::device::{Backend, BackendError, CommandQueue, LowerToHost, QueueProducer};
use iommu_inval_core::device::{CountingBackend, RecordingBackend};
use iommu_inval_core::footprint::Footprint;
use iommu_inval_core::model::{Barrier, Inval, Op};
use iommu_inval_core::{AddrRange, CellMemory, Context, IdentityContext, QueueMemory};
use iommu_inval_props::{arbitrary_topology, gen, required, run_cases, NamedIds, Tally};
use iommu_inval_riscv::queue::CqDevice;
use iommu_inval_vtd::queue::InvQueue;
use std::cell::RefCell;

const GUEST: u64 = 0x10_0000;
const HOST: u64 = 0x2000;

/// CMD_TLBI_NH_VA of ASID 5, `pages` 4 KiB pages from page `first`.
fn nh_va(first: u64, pages: u8) -> Command {
    Command::TlbiNhVa(TlbiAddr {
        num: pages - 1,
        scale: 0,
        vmid: 0,
        asid: 5,
        leaf: true,
        ttl128: false,
        // Leaf level of a 4 KiB granule (TTL 0 with NUM = SCALE = 0 is reserved).
        ttl: 3,
        tg: 1,
        address: first << 12,
        ..Default::default()
    })
}

/// An SMMUv3 guest ring of 4096 slots at [`GUEST`] with `n` commands, its
/// PROD written: a CMD_SYNC after every `per_sync - 1` commands
/// `inval(k)`.
fn guest_ring(
    gmem: &CellMemory<'_>,
    n: u64,
    per_sync: u64,
    inval: impl Fn(u64) -> Command,
) -> CmdqDevice {
    // SMMU_CMDQ_BASE.LOG2SIZE = 12: 4096 entries.
    let mut guest = CmdqDevice::from_registers(GUEST | 12, 0, 0).unwrap();
    for k in 0..n {
        let cmd = if k % per_sync == per_sync - 1 {
            Command::CmdSync(CmdSync::default())
        } else {
            inval(k)
        };
        gmem.write_words(GUEST + 16 * k, &cmd.encode()).unwrap();
    }
    guest.doorbell(n);
    guest
}

/// Host commands for a 4095-command SMMUv3 guest ring with a CMD_SYNC every
/// 16 commands (15 invalidations of one 8-page window, overlapping and
/// adjacent), lowered to an SMMUv3 host; with or without coalescing.
fn smmu_ring_host_commands(coalesce: bool) -> (u64, u32) {
    let mut gbytes = vec![0u8; 0x1_0000];
    let gmem = CellMemory::new(GUEST, &mut gbytes);
    let mut guest = guest_ring(&gmem, 4095, 16, |k| {
        let window = (k / 16) * 8;
        nh_va(window + (k % 16) / 2, 1 + (k % 3) as u8)
    });
    let mut hbytes = vec![0u8; 0x1_0000];
    let hmem = CellMemory::new(0, &mut hbytes);
    let host = CmdqDevice::from_registers(HOST | 8, 0, 0).unwrap();
    let mut seen = CountingBackend::default();
    let kick = |q: &mut CmdqDevice, m: &CellMemory<'_>| {
        let p = q.process(m, &IdentityContext, &mut seen);
        match p.fault {
            Some(f) => Err(BackendError::Failed(if f.stopped {
                "stopped"
            } else {
                "fault"
            })),
            None => Ok(()),
        }
    };
    let mut be = LowerToHost::new(host, &hmem, &IdentityContext, kick);
    be.coalesce = coalesce;
    let p = guest.process(&gmem, &IdentityContext, &mut be);
    assert!(p.fault.is_none(), "{p:?}");
    assert_eq!(p.consumed, 4095);
    (be.commands, p.completions)
}

#[test]
fn a_guest_barrier_of_overlapping_invalidations_makes_fewer_host_commands() {
    let (off, syncs_off) = smmu_ring_host_commands(false);
    let (on, syncs_on) = smmu_ring_host_commands(true);
    assert_eq!((syncs_off, syncs_on), (255, 255));
    // Op by op: 15 invalidations and one host sync per guest barrier (255
    // full barriers, then 15 commands with no sync).
    assert_eq!(off, 255 * 16 + 15);
    // Coalesced: each barrier's window is one range (one TLBI with the
    // range-invalidation feature), then the host sync.
    assert_eq!(on, 255 * 2 + 1, "coalesced: {on}, op by op: {off}");
    println!(
        "4095-command SMMUv3 ring, CMD_SYNC every 16: {off} host commands op by op, {on} coalesced"
    );
}

/// Lower each run of `runs` through a `LowerToHost` into host queue `q`
/// (in `mem`): `execute` with the run, then a guest barrier. The host ops
/// lifted back by the host's front end, one list per barrier, and the host
/// commands written; `None` when the back end fails.
fn host_ops_per_barrier<Q: QueueProducer>(
    q: Q,
    mem: &CellMemory<'_>,
    ctx: &dyn Context,
    runs: &[Vec<Op>],
    coalesce: bool,
) -> Option<(Vec<Vec<Op>>, u64)> {
    let seen = RefCell::new(RecordingBackend::default());
    let kick = |q: &mut Q, m: &CellMemory<'_>| {
        let p = q.process(m, ctx, &mut *seen.borrow_mut());
        match p.fault {
            Some(_) => Err(BackendError::Failed("host fault")),
            None => Ok(()),
        }
    };
    let mut be = LowerToHost::new(q, mem, ctx, kick);
    be.coalesce = coalesce;
    let mut out = Vec::new();
    for run in runs {
        if be.execute(run).is_err() || be.barrier(&Barrier::default()).is_err() {
            return None;
        }
        // The barrier kicked the host: it has consumed everything so far.
        let mut s = seen.borrow_mut();
        out.push(s.ops().copied().collect());
        s.clear();
    }
    Some((out, be.commands))
}

/// The property on host `Q` (queue base register `base` at [`HOST`]).
fn check_host<Q: QueueProducer>(
    base: u64,
    runs: &[Vec<Op>],
    ctx: &dyn Context,
    t: &mut Tally,
) -> Result<(), String> {
    let mut lowered = Vec::new();
    for coalesce in [false, true] {
        let mut hbytes = vec![0u8; 0x1_0000];
        let hmem = CellMemory::new(0, &mut hbytes);
        let q = Q::from_registers(base, 0, 0).map_err(|e| format!("{e}"))?;
        lowered.push(host_ops_per_barrier(q, &hmem, ctx, runs, coalesce));
    }
    let (Some(Some((off, n_off))), Some(Some((on, n_on)))) = (lowered.first(), lowered.get(1))
    else {
        if matches!(lowered.first(), Some(Some(_))) {
            return Err(format!(
                "{:?}: coalesced lowering fails on {runs:?}",
                <Q::Arch as iommu_inval_core::arch::Arch>::ID
            ));
        }
        t.add("lowering fails op by op");
        return Ok(());
    };
    for (k, run) in runs.iter().enumerate() {
        let mut need = Footprint::new();
        for op in run {
            need.extend(&required(
                <Q::Arch as iommu_inval_core::arch::Arch>::ID,
                op,
                ctx,
            ));
        }
        let f_off = Footprint::of_ops(off.get(k).into_iter().flatten(), ctx);
        if !f_off.covers(&need) {
            // Outside the rules lowering keeps (R3 has its own exceptions).
            t.add("op by op does not cover");
            continue;
        }
        let f_on = Footprint::of_ops(on.get(k).into_iter().flatten(), ctx);
        if !f_on.covers(&need) {
            return Err(format!(
                "{:?}: barrier {k}: coalesced host ops {:?} do not cover {run:?} ({:?})",
                <Q::Arch as iommu_inval_core::arch::Arch>::ID,
                on.get(k),
                f_on.relation_to(&need)
            ));
        }
    }
    if n_on < n_off {
        t.add("fewer host commands");
    }
    Ok(())
}

#[test]
fn coalesced_host_commands_cover_each_barrier_on_every_host() {
    let mut t = Tally::default();
    ok(run_cases(0xba7c, 400 * scale(), 600, |u| {
        let e = |e: arbitrary::Error| e.to_string();
        let n = u.int_in_range(1usize..=10).map_err(e)?;
        let mut ops = Vec::with_capacity(n + 3);
        for _ in 0..n {
            ops.push(gen::edge_op(u).map_err(e)?);
        }
        // Neighbours of the first invalidation, so that merges happen.
        if let Some(Op::Inval(i)) = ops.iter().find(|o| matches!(o, Op::Inval(_))).copied() {
            for _ in 0..u.int_in_range(1usize..=3).map_err(e)? {
                let page = u.int_in_range(0u64..=6).map_err(e)?;
                let range = AddrRange::new(0x4000_0000 + (page << 12), 0x2000).unwrap_or(i.range);
                ops.push(Op::Inval(Inval { range, ..i }));
            }
        }
        let mut runs = vec![Vec::new()];
        for op in ops {
            match op {
                Op::Sync(_) => runs.push(Vec::new()),
                other => runs.last_mut().map_or((), |r| r.push(other)),
            }
        }
        let topo = arbitrary_topology(u, &NamedIds::default()).map_err(|e| e.to_string())?;
        for ctx in [&IdentityContext as &dyn Context, &topo] {
            check_host::<CmdqDevice>(HOST | 8, &runs, ctx, &mut t)?;
            check_host::<InvQueue>(HOST | 1 << 11, &runs, ctx, &mut t)?;
            check_host::<CmdBufDevice>(8 << 56 | HOST, &runs, ctx, &mut t)?;
            check_host::<CqDevice>((HOST >> 12) << 10 | 7, &runs, ctx, &mut t)?;
        }
        Ok(())
    }));
    assert!(t.get("fewer host commands") > 100, "{:?}", t.0);
}

/// Issue 33 item 2: `LowerToHost` rings the host's doorbell (`kick`) once
/// per guest barrier, however many batches of `BATCH_OPS` the barrier
/// spans, and once more only when the host queue is full. A guest ring of
/// 1000 single-page CMD_TLBI_NH_VA (pages apart: nothing coalesces), a
/// CMD_SYNC after every 250 (five front-end batches each).
#[test]
fn one_kick_per_guest_barrier_unless_the_host_queue_is_full() {
    let run = |host_log2: u64| {
        let mut gbytes = vec![0u8; 0x1_0000];
        let gmem = CellMemory::new(GUEST, &mut gbytes);
        let mut guest = guest_ring(&gmem, 1004, 251, |k| nh_va(2 * k, 1));
        let mut hbytes = vec![0u8; 0x2_0000];
        let hmem = CellMemory::new(0, &mut hbytes);
        let host = CmdqDevice::from_registers(HOST | host_log2, 0, 0).unwrap();
        let mut kicks = 0u32;
        let kick = |q: &mut CmdqDevice, m: &CellMemory<'_>| {
            kicks += 1;
            let p = q.process(m, &IdentityContext, &mut CountingBackend::default());
            p.fault
                .map_or(Ok(()), |_| Err(BackendError::Failed("host fault")))
        };
        let mut be = LowerToHost::new(host, &hmem, &IdentityContext, kick);
        let p = guest.process(&gmem, &IdentityContext, &mut be);
        assert!(p.fault.is_none(), "{p:?}");
        assert_eq!((p.consumed, p.completions), (1004, 4));
        assert!(p.batches >= 4 * 5, "{} batches", p.batches);
        let commands = be.commands;
        (kicks, commands)
    };
    // 4096 host slots: every barrier fits, one kick each.
    assert_eq!(run(12), (4, 4 * 251));
    // 64 host slots: 251 host commands per barrier fill it 3 times first.
    let (kicks, commands) = run(6);
    assert_eq!(commands, 4 * 251);
    assert_eq!(kicks, 4 + 4 * (251 / 64), "{kicks}");
}
