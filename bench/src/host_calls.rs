//! Host calls per guest barrier: how many `IOMMU_HWPT_INVALIDATE` calls
//! (or host doorbells) and host entries (or host commands) a guest's
//! command stream costs through the real front ends, against one call per
//! op, the way QEMU's accelerated SMMUv3 forwards each guest command.
//!
//! Streams: the Linux driver streams of `examples/` (SMMUv3, VT-d 256-bit,
//! AMD-Vi, RISC-V) and an SMMUv3 unmap storm of 1000 pages, in strict mode
//! (a CMD_SYNC after every page) and batched (a CMD_SYNC after every 16
//! pages, as a scatter-gather unmap with a gather does), the pages
//! contiguous or scattered. Back ends: `VtdS1Backend` (VT-d stage-1 HWPTs,
//! one per guest PASID), `VsmmuBackend` (SMMUv3 guests) and `LowerToHost`
//! into a scalable-mode VT-d host queue (a call is a kick). "Per op" runs
//! the same back end with a barrier after every op.

use std::cell::Cell;

use iommu_inval_arm::queue::CmdqDevice;
use iommu_inval_core::device::{Backend, BackendError, CommandQueue, CountingBackend, LowerToHost};
use iommu_inval_core::model::{Barrier, Op, PasidSel};
use iommu_inval_core::{CellMemory, QueueMemory};
use iommu_inval_iommufd::backend::{
    Invalidator, Smmuv3Forwarder, ViommuInvalidator, VsmmuBackend, VtdS1Backend,
};
use iommu_inval_iommufd::smmuv3::{HostFeatures, Vsmmu};
use iommu_inval_iommufd::uapi::{HwptVtdS1Invalidate, ViommuArmSmmuv3Invalidate};
use iommu_inval_iommufd::vtd::S1Scope;
use iommu_inval_vtd::queue::InvQueue;

use crate::targets::{parse_cmds, topology};

/// Guest RAM base: the examples' completion stores (0x7f00_0000) are in it.
const RAM: u64 = 0x7f00_0000;
/// The guest queue, 64 KiB into RAM.
const RING: u64 = RAM + 0x1_0000;
/// The host VT-d queue of `LowerToHost` (its own memory).
const HOST_RING: u64 = 0x1000;

/// One measured stream through one back end.
#[derive(Debug, Clone)]
pub struct HostRow {
    /// Guest architecture and stream.
    pub stream: String,
    /// Back end.
    pub back_end: &'static str,
    /// Guest commands consumed.
    pub guest_cmds: u64,
    /// Guest barriers completed.
    pub barriers: u64,
    /// Host calls (ioctls, or doorbells of a host queue), one barrier per guest barrier.
    pub calls: u64,
    /// Host entries (or host commands) of those calls.
    pub entries: u64,
    /// Host calls with a barrier after every op.
    pub calls_per_op: u64,
    /// Host entries with a barrier after every op.
    pub entries_per_op: u64,
    /// A fault the stream raised (none expected).
    pub note: String,
}

/// Counts calls and entries.
#[derive(Default)]
struct Kernel {
    calls: Cell<u64>,
    entries: Cell<u64>,
}

impl Kernel {
    fn add(&self, n: usize) {
        self.calls.set(self.calls.get() + 1);
        self.entries.set(self.entries.get() + n as u64);
    }
}

impl Invalidator for &Kernel {
    fn invalidate_vtd_s1(
        &mut self,
        _: u32,
        e: &[HwptVtdS1Invalidate],
    ) -> Result<(), (u32, BackendError)> {
        self.add(e.len());
        Ok(())
    }
}

impl ViommuInvalidator for &Kernel {
    fn invalidate_smmuv3(&mut self, e: &[ViommuArmSmmuv3Invalidate]) -> Result<(), BackendError> {
        self.add(e.len());
        Ok(())
    }
}

/// A back end, with a barrier after every op when `.1` is set: one call
/// per op (and HWPT).
struct PerOp<B>(B, bool);

impl<B: Backend> Backend for PerOp<B> {
    fn execute(&mut self, ops: &[Op]) -> Result<(), BackendError> {
        if !self.1 {
            return self.0.execute(ops);
        }
        for op in ops {
            self.0.execute(core::slice::from_ref(op))?;
            self.0.barrier(&Barrier::default())?;
        }
        Ok(())
    }
    fn barrier(&mut self, sync: &Barrier) -> Result<(), BackendError> {
        self.0.barrier(sync)
    }
}

/// Runs a guest queue of `n` commands at [`RING`] with a back end.
type Open = fn(usize, &CellMemory<'_>, &mut dyn Backend) -> Counts;

/// A guest queue: its commands, bytes per slot, and how to run it.
struct Guest {
    stream: String,
    cmds: Vec<Vec<u64>>,
    stride: usize,
    open: Open,
}

/// What one run of a guest queue did.
struct Counts {
    consumed: u64,
    barriers: u64,
    fault: Option<String>,
}

fn counts<E: core::fmt::Debug>(p: iommu_inval_core::device::Progress<E>) -> Counts {
    Counts {
        consumed: u64::from(p.consumed),
        barriers: u64::from(p.completions),
        // A fault that does not stop the queue is the examples' MSI to an
        // interrupt controller outside RAM (0x8000_1000).
        fault: p
            .fault
            .filter(|f| f.stopped)
            .map(|f| format!("{:?} at {}: {}", f.hw, f.position, f.cause)),
    }
}

/// Run queue `q` (built by the caller over the commands at [`RING`]) to
/// its tail `tail` with `be`.
fn process<Q: CommandQueue>(
    mut q: Q,
    tail: u64,
    mem: &CellMemory<'_>,
    be: &mut dyn Backend,
) -> Counts {
    q.doorbell(tail);
    counts(q.process(mem, &topology(), be))
}

/// HWPT 0x100 + PASID per guest stage-1 table; one HWPT without PASID.
fn route(s: &S1Scope, f: &mut dyn FnMut(u32)) {
    match s.pasid {
        PasidSel::One(p) => f(0x100 + p),
        _ => f(0x100),
    }
}

/// The guest queue in fresh RAM, run with `be`.
fn run_guest(g: &Guest, be: &mut dyn Backend) -> Counts {
    let mut ram = vec![0u8; 0x2_0000 + g.cmds.len() * g.stride];
    let mem = CellMemory::new(RAM, &mut ram);
    for (i, c) in g.cmds.iter().enumerate() {
        let _ = mem.write_words(RING + (i * g.stride) as u64, c);
    }
    (g.open)(g.cmds.len(), &mem, be)
}

fn row(g: &Guest, back_end: &'static str, run: &dyn Fn(bool) -> (Counts, u64, u64)) -> HostRow {
    let (c, calls, entries) = run(false);
    let (p, calls_per_op, entries_per_op) = run(true);
    let note = c.fault.or(p.fault).unwrap_or_default();
    HostRow {
        stream: g.stream.clone(),
        back_end,
        guest_cmds: c.consumed,
        barriers: c.barriers,
        calls,
        entries,
        calls_per_op,
        entries_per_op,
        note,
    }
}

/// Run guest `g` with `be`, or with a barrier after every op (`per_op`).
fn drive<B: Backend>(g: &Guest, be: B, per_op: bool) -> (Counts, B) {
    let mut be = PerOp(be, per_op);
    let c = run_guest(g, &mut be);
    (c, be.0)
}

/// Every back end on guest `g` (the vSMMU for an SMMUv3 guest only).
fn measure_guest(g: &Guest, smmu_guest: bool, rows: &mut Vec<HostRow>) {
    rows.push(row(g, "VtdS1Backend", &|per_op| {
        let k = Kernel::default();
        let be = VtdS1Backend::new(route, &k, |_: &Op, _| Ok(()));
        let (c, _) = drive(g, be, per_op);
        (c, k.calls.get(), k.entries.get())
    }));
    if smmu_guest {
        rows.push(row(g, "VsmmuBackend", &|per_op| {
            let k = Kernel::default();
            let vdevs = [(0x10u32, 0x100u32), (0x200, 0x300)];
            let fwd = Smmuv3Forwarder::new(Vsmmu::new(3, HostFeatures::default()), vdevs, &k);
            let ctx = topology();
            let be = VsmmuBackend::new(fwd, &ctx, |_: &Op, _| Ok(()));
            let (c, _) = drive(g, be, per_op);
            (c, k.calls.get(), k.entries.get())
        }));
    }
    rows.push(row(g, "LowerToHost (VT-d host)", &|per_op| {
        let mut hram = vec![0u8; 0x1_0000];
        let hmem = CellMemory::new(0, &mut hram);
        // 256-bit descriptors (scalable mode), 512 slots.
        let host = InvQueue::from_registers(HOST_RING | 1 << 11 | 2, 0, 0)
            .unwrap_or_else(|e| panic!("host queue: {e}"));
        let kicks = Cell::new(0u64);
        let ctx = topology();
        let kick = |q: &mut InvQueue, m: &CellMemory<'_>| {
            kicks.set(kicks.get() + 1);
            let p = q.process(m, &ctx, &mut CountingBackend::default());
            p.fault
                .map_or(Ok(()), |_| Err(BackendError::Failed("host fault")))
        };
        let be = LowerToHost::new(host, &hmem, &ctx, kick);
        let (c, be) = drive(g, be, per_op);
        (c, kicks.get(), be.commands)
    }));
}

/// SMMUv3, 4096 slots.
fn open_smmu(n: usize, mem: &CellMemory<'_>, be: &mut dyn Backend) -> Counts {
    let q = CmdqDevice::from_registers(RING | 12, 0, 0).unwrap_or_else(|e| panic!("{e}"));
    process(q, n as u64, mem, be)
}

/// VT-d, 256-bit descriptors, 512 slots.
fn open_vtd(n: usize, mem: &CellMemory<'_>, be: &mut dyn Backend) -> Counts {
    let q = InvQueue::from_registers(RING | 1 << 11 | 2, 0, 0).unwrap_or_else(|e| panic!("{e}"));
    process(q, n as u64 * 32, mem, be)
}

/// AMD-Vi, 256 slots.
fn open_amd(n: usize, mem: &CellMemory<'_>, be: &mut dyn Backend) -> Counts {
    let q = iommu_inval_amd::queue::CmdBufDevice::from_registers(8 << 56 | RING, 0, 0)
        .unwrap_or_else(|e| panic!("{e}"));
    process(q, n as u64 * 16, mem, be)
}

/// RISC-V, 256 slots.
fn open_riscv(n: usize, mem: &CellMemory<'_>, be: &mut dyn Backend) -> Counts {
    let q = iommu_inval_riscv::queue::CqDevice::from_registers((RING >> 12) << 10 | 7, 0, 0)
        .unwrap_or_else(|e| panic!("{e}"));
    process(q, n as u64, mem, be)
}

fn smmu_guest(stream: String, cmds: Vec<Vec<u64>>) -> (Guest, bool) {
    let open = open_smmu;
    (
        Guest {
            stream,
            cmds,
            stride: 16,
            open,
        },
        true,
    )
}

/// An SMMUv3 unmap storm of `pages` single-page CMD_TLBI_NH_VA (ASID 5:
/// PASID 1 of device 0x10), a CMD_SYNC after every `per_sync`, the pages
/// contiguous or scattered (every other page).
fn storm(pages: u64, per_sync: u64, contiguous: bool) -> Vec<Vec<u64>> {
    let step = if contiguous { 0x1000 } else { 0x2000 };
    let mut cmds = Vec::new();
    for i in 0..pages {
        // NH_VA, VMID 1, ASID 5, leaf, TG 0: one page.
        cmds.push(vec![0x0005_0001_0000_0012, 0x4000_0000 + i * step + 1]);
        if (i + 1) % per_sync == 0 || i + 1 == pages {
            cmds.push(vec![0x46, 0]);
        }
    }
    cmds
}

/// Every stream through every back end.
pub fn measure() -> Vec<HostRow> {
    let mut rows = Vec::new();
    let mut guests = vec![smmu_guest(
        "SMMUv3 examples/smmuv3.cmds".into(),
        parse_cmds(include_str!("../../examples/smmuv3.cmds"), 2),
    )];
    for (name, per_sync, contiguous) in [
        ("strict: a CMD_SYNC per page", 1, true),
        ("a CMD_SYNC per 16 contiguous pages", 16, true),
        ("a CMD_SYNC per 16 scattered pages", 16, false),
    ] {
        guests.push(smmu_guest(
            format!("SMMUv3 unmap storm, 1000 pages, {name}"),
            storm(1000, per_sync, contiguous),
        ));
    }
    let others = [
        Guest {
            stream: "VT-d examples/vtd256.cmds".into(),
            cmds: parse_cmds(include_str!("../../examples/vtd256.cmds"), 4),
            stride: 32,
            open: open_vtd,
        },
        Guest {
            stream: "AMD-Vi examples/amd.cmds".into(),
            cmds: parse_cmds(include_str!("../../examples/amd.cmds"), 2),
            stride: 16,
            open: open_amd,
        },
        Guest {
            stream: "RISC-V examples/riscv.cmds".into(),
            cmds: parse_cmds(include_str!("../../examples/riscv.cmds"), 2),
            stride: 16,
            open: open_riscv,
        },
    ];
    for (g, smmu) in &guests {
        measure_guest(g, *smmu, &mut rows);
    }
    for g in &others {
        measure_guest(g, false, &mut rows);
    }
    rows
}

/// Per 1000 guest commands.
fn per_k(n: u64, cmds: u64) -> String {
    if cmds == 0 {
        return "–".into();
    }
    format!("{:.0}", n as f64 * 1000.0 / cmds as f64)
}

/// Markdown table.
pub fn markdown(rows: &[HostRow]) -> String {
    let mut s = String::from(
        "| guest stream | back end | guest cmds | guest barriers | host calls (per 1000 cmds) | host entries / cmds (per 1000) | per op: calls (per 1000) | per op: entries (per 1000) | note |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let k = r.guest_cmds;
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} ({}) | {} ({}) | {} ({}) | {} ({}) | {} |\n",
            r.stream,
            r.back_end,
            k,
            r.barriers,
            r.calls,
            per_k(r.calls, k),
            r.entries,
            per_k(r.entries, k),
            r.calls_per_op,
            per_k(r.calls_per_op, k),
            r.entries_per_op,
            per_k(r.entries_per_op, k),
            r.note
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One call per HWPT per guest barrier: the strict storm costs one call
    /// per page, the batched one a call per 16 pages, with contiguous pages
    /// coalesced into one entry; per op, one call per page either way.
    #[test]
    fn the_storms_cost_one_call_per_guest_barrier() {
        let rows = measure();
        let find = |stream: &str, be: &str| {
            rows.iter()
                .find(|r| r.stream.contains(stream) && r.back_end.starts_with(be))
                .unwrap_or_else(|| panic!("{stream} {be}"))
        };
        for r in &rows {
            assert!(r.note.is_empty(), "{r:?}");
        }
        let strict = find("per page", "VtdS1");
        assert_eq!(
            (strict.guest_cmds, strict.calls, strict.entries),
            (2000, 1000, 1000)
        );
        let batched = find("16 contiguous", "VtdS1");
        assert_eq!((batched.guest_cmds, batched.barriers), (1063, 63));
        assert_eq!((batched.calls, batched.entries), (63, 63));
        assert_eq!(batched.calls_per_op, 1000);
        let scattered = find("16 scattered", "Vsmmu");
        assert_eq!((scattered.calls, scattered.entries), (63, 1000));
        let host = find("16 contiguous", "LowerToHost");
        assert_eq!(host.calls, 63, "one kick per guest barrier");
    }
}
