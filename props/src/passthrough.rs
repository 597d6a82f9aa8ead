//! The VMM front end end to end as fuzzer input: a guest ring of any
//! architecture (valid and invalid commands) → the guest device's
//! `CommandQueue::process` → `LowerToHost` (lowering to a host of any
//! architecture and arbitrary capabilities, writing a small host ring as
//! its `QueueProducer`, kicking the host when the ring fills and at each
//! guest barrier) → the host device's front end → one of core's back ends
//! (`RecordingBackend`, `ShadowFlush` or `CountingBackend`; sometimes a
//! failing one).
//!
//! The oracle ([`passthrough`]): nothing panics; the guest consumes at most
//! what it published, and all of it when nothing faults; every host command
//! written is consumed by the host; a host whose back end does not fail
//! never faults (the lowering writes only commands the host device takes);
//! and the host's ops are exactly, in order, what lowering each guest op
//! and lifting the result gives (a prefix of it when something faults;
//! with `CountingBackend`, the counts of ops and invalidations of it) —
//! except where the back end coalesces each batch (a quarter of the
//! inputs), whose ops props/tests/batching.rs checks.

use arbitrary::Unstructured;
use iommu_inval_core::context::Topology;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use iommu_inval_core::device::{
    Backend, BackendError, CommandQueue, CountingBackend, LowerToHost, Progress, QueueProducer,
    Record, RecordingBackend, ShadowFlush,
};
use iommu_inval_core::model::{Barrier, Inval, Op, Store};
use iommu_inval_core::queue::CellMemory;
use iommu_inval_core::{Context, FieldValue, IdentityContext, NativeCommand, QueueMemory};

use crate::caps::HostCaps;
use crate::Target;
use crate::{
    arbitrary_topology, encode_words, lift_vec, lower_vec, Amd, Arch, NamedIds, Riscv, Smmu, Vtd,
};

/// Where the guest ring starts (guest memory is 64 KiB from 0).
const GUEST_RING: u64 = 0x1000;
/// Where the host ring starts (host memory is 64 KiB from 0).
const HOST_RING: u64 = 0x2000;
/// Where the host's syncs store their completion.
const HOST_STATUS: u64 = 0x8000;
/// Most guest commands per input.
const MAX_GUEST: usize = 48;

/// Queue geometry an input chose: the base register value and the bytes
/// per slot.
struct Ring {
    base_reg: u64,
    slot: u64,
}

/// The guest ring of `arch` at [`GUEST_RING`], 64 to 256 entries (VT-d:
/// 128- or 256-bit descriptors, one page).
fn guest_ring(arch: iommu_inval_core::ArchId, u: &mut Unstructured<'_>) -> arbitrary::Result<Ring> {
    use iommu_inval_core::ArchId::*;
    let b = GUEST_RING;
    Ok(match arch {
        // SMMU_CMDQ_BASE.LOG2SIZE.
        Smmuv3 => Ring {
            base_reg: b | u64::from(u.int_in_range(6u8..=8)?),
            slot: 16,
        },
        // IQA_REG.DW: 256-bit descriptors; QS = 0 (one page).
        Vtd if u.arbitrary()? => Ring {
            base_reg: b | 1 << 11,
            slot: 32,
        },
        Vtd => Ring {
            base_reg: b,
            slot: 16,
        },
        // CmdBufBaseAddr.ComLen = 8 (256 entries), the smallest.
        Amd => Ring {
            base_reg: 8 << 56 | b,
            slot: 16,
        },
        // cqb: PPN and LOG2SZ-1.
        Riscv => Ring {
            base_reg: (b >> 12) << 10 | u64::from(u.int_in_range(5u8..=7)?),
            slot: 16,
        },
        // No ring: its requests are virtqueue descriptor chains.
        VirtioIommu => return Err(arbitrary::Error::IncorrectFormat),
    })
}

/// The host ring of `arch` at [`HOST_RING`], as small as the architecture
/// allows (so that lowering fills it and kicks the host); VT-d `wide` for
/// 256-bit descriptors.
fn host_ring(
    arch: iommu_inval_core::ArchId,
    wide: bool,
    u: &mut Unstructured<'_>,
) -> arbitrary::Result<u64> {
    use iommu_inval_core::ArchId::*;
    let b = HOST_RING;
    Ok(match arch {
        Smmuv3 => b | u64::from(u.int_in_range(1u8..=4)?),
        Vtd if wide => b | 1 << 11,
        Vtd => b,
        Amd => 8 << 56 | b,
        Riscv => (b >> 12) << 10 | u64::from(u.int_in_range(0u8..=3)?),
        VirtioIommu => return Err(arbitrary::Error::IncorrectFormat),
    })
}

/// The producer register after `n` commands from 0 (SMMU_CMDQ_PROD and
/// cqt count entries, with the SMMU wrap bit; IQT_REG and CmdBufTailPtr
/// are byte offsets).
fn tail(arch: iommu_inval_core::ArchId, n: usize, slot: u64) -> u64 {
    use iommu_inval_core::ArchId::*;
    match arch {
        // (virtio-iommu has no ring: `guest_ring` refuses it first.)
        Smmuv3 | Riscv | VirtioIommu => n as u64,
        Vtd | Amd => slot * n as u64,
    }
}

/// A `ShadowFlush` callback.
type ShadowFn<T> = Box<dyn FnMut(&T) -> Result<(), BackendError>>;

/// The host device's back end: each of core's back ends in turn.
enum HostBackend {
    Recording(RecordingBackend),
    /// Records every op it is handed (invalidations and the others) in
    /// the shared log, in order; with `fail`, its first call fails.
    Shadow(
        ShadowFlush<ShadowFn<Inval>, ShadowFn<Op>>,
        Rc<RefCell<Vec<Op>>>,
    ),
    Counting(CountingBackend),
}

impl HostBackend {
    fn new(kind: u8, fail: bool) -> Self {
        const E: BackendError = BackendError::Failed("host back end fails");
        match kind % 3 {
            0 if fail => HostBackend::Recording(RecordingBackend::failing(E)),
            0 => HostBackend::Recording(RecordingBackend::default()),
            1 => {
                let log = Rc::new(RefCell::new(Vec::new()));
                let fail = Rc::new(Cell::new(fail));
                // Both callbacks record into the one log; the first call of
                // either fails when told to.
                let record = |log: &RefCell<Vec<Op>>, fail: &Cell<bool>, op: Op| {
                    if fail.replace(false) {
                        return Err(E);
                    }
                    log.borrow_mut().push(op);
                    Ok(())
                };
                let (l1, f1) = (log.clone(), fail.clone());
                let (l2, f2) = (log.clone(), fail);
                let on_inval: ShadowFn<Inval> =
                    Box::new(move |i: &Inval| record(&l1, &f1, Op::Inval(*i)));
                let on_other: ShadowFn<Op> = Box::new(move |o: &Op| record(&l2, &f2, *o));
                HostBackend::Shadow(ShadowFlush::new(on_inval).with_other(on_other), log)
            }
            // A counter cannot fail.
            _ => HostBackend::Counting(CountingBackend::default()),
        }
    }
}

impl Backend for HostBackend {
    fn execute(&mut self, ops: &[Op]) -> Result<(), BackendError> {
        match self {
            HostBackend::Recording(b) => b.execute(ops),
            HostBackend::Shadow(b, _) => b.execute(ops),
            HostBackend::Counting(b) => b.execute(ops),
        }
    }
    fn barrier(&mut self, sync: &Barrier) -> Result<(), BackendError> {
        match self {
            HostBackend::Recording(b) => b.barrier(sync),
            HostBackend::Shadow(b, _) => b.barrier(sync),
            HostBackend::Counting(b) => b.barrier(sync),
        }
    }
}

/// The passthrough fuzz body: a guest architecture, a host architecture,
/// then `run` (the module docs give the oracle).
pub fn passthrough(data: &[u8]) -> Result<(), String> {
    use iommu_inval_amd::queue::CmdBufDevice as A;
    use iommu_inval_arm::queue::CmdqDevice as S;
    use iommu_inval_riscv::queue::CqDevice as R;
    use iommu_inval_vtd::queue::InvQueue as V;
    let mut u = Unstructured::new(data);
    let Ok(pair) = u.int_in_range(0u8..=15) else {
        return Ok(());
    };
    let u = &mut u;
    let r = match pair {
        0 => run::<Smmu, S, Smmu, S>(u),
        1 => run::<Smmu, S, Vtd, V>(u),
        2 => run::<Smmu, S, Amd, A>(u),
        3 => run::<Smmu, S, Riscv, R>(u),
        4 => run::<Vtd, V, Smmu, S>(u),
        5 => run::<Vtd, V, Vtd, V>(u),
        6 => run::<Vtd, V, Amd, A>(u),
        7 => run::<Vtd, V, Riscv, R>(u),
        8 => run::<Amd, A, Smmu, S>(u),
        9 => run::<Amd, A, Vtd, V>(u),
        10 => run::<Amd, A, Amd, A>(u),
        11 => run::<Amd, A, Riscv, R>(u),
        12 => run::<Riscv, R, Smmu, S>(u),
        13 => run::<Riscv, R, Vtd, V>(u),
        14 => run::<Riscv, R, Amd, A>(u),
        _ => run::<Riscv, R, Riscv, R>(u),
    };
    // The input ran out before the scenario was complete: nothing to check.
    r.unwrap_or(Ok(()))
}

/// One scenario: guest `G` (architecture `GA`), host `H` (architecture `HA`).
fn run<GA, G, HA, H>(u: &mut Unstructured<'_>) -> arbitrary::Result<Result<(), String>>
where
    GA: Arch,
    G: CommandQueue<Arch = GA>,
    HA: HostCaps,
    H: QueueProducer<Arch = HA> + core::fmt::Debug,
{
    let ring = guest_ring(GA::ID, u)?;
    let words = (ring.slot / 8) as usize;
    // The guest's commands: valid ones of the queue's width, and raw words.
    let n = u.int_in_range(0..=MAX_GUEST)?;
    let mut guest_words: Vec<[u64; 4]> = Vec::with_capacity(n);
    for _ in 0..n {
        let mut w = [0u64; 4];
        if u.ratio(1u8, 64)? {
            let raw = GA::arbitrary_words(u)?;
            for (d, s) in w.iter_mut().zip(&raw) {
                *d = *s;
            }
        } else {
            let mut c: GA::Command = u.arbitrary()?;
            // Most completion stores go to guest memory, so that the queue
            // runs on past its syncs.
            if !u.ratio(1u8, 8)? {
                c = store_in_guest_memory::<GA>(c);
            }
            // Mostly commands with a generic form (a vIOMMU-management or
            // reserved-response command stops the guest queue).
            if lift_vec::<GA>(&c, &IdentityContext).is_err() && !u.ratio(1u8, 16)? {
                continue;
            }
            let Ok(e) = encode_words(&c) else { continue };
            // A 128-bit VT-d queue takes the low half of a 256-bit
            // descriptor (its 128-bit form).
            for (d, s) in w.iter_mut().zip(e.iter().take(words)) {
                *d = *s;
            }
        }
        guest_words.push(w);
    }
    let topo: Option<Topology> = if u.arbitrary()? {
        arbitrary_topology(u, &NamedIds::default()).ok()
    } else {
        None
    };
    let ctx: &dyn Context = match &topo {
        Some(t) => t,
        None => &IdentityContext,
    };
    let mut caps = HA::arbitrary_caps(u)?;
    let host_wide = HA::ID == iommu_inval_core::ArchId::Vtd && u.arbitrary()?;
    let host_base = host_ring(HA::ID, host_wide, u)?;
    let host_fails = u.ratio(1u8, 16)?;
    let host_kind: u8 = u.arbitrary()?;
    let host_store = u.arbitrary::<bool>()?;
    // At times the back end coalesces each batch (`LowerToHost`'s
    // default): then the host's ops are checked for their counts and
    // faults only, not op by op (props/tests/batching.rs checks
    // coalescing's footprint).
    let coalesce = u.ratio(1u8, 4)?;

    let mut gbytes = vec![0u8; 0x1_0000];
    let gmem = CellMemory::new(0, &mut gbytes);
    for (i, w) in guest_words.iter().enumerate() {
        let at = GUEST_RING + ring.slot * i as u64;
        if let Err(e) = gmem.write_words(at, w.get(..words).unwrap_or(w)) {
            return Ok(Err(format!("guest ring write at {at:#x}: {e}")));
        }
    }
    let mut guest = match G::from_registers(ring.base_reg, 0, 0) {
        Ok(q) => q,
        Err(e) => return Ok(Err(format!("guest queue {:#x}: {e}", ring.base_reg))),
    };
    guest.doorbell(tail(GA::ID, guest_words.len(), ring.slot));

    let mut hbytes = vec![0u8; 0x1_0000];
    let hmem = CellMemory::new(0, &mut hbytes);
    let host_q = match H::from_registers(host_base, 0, 0) {
        Ok(q) => q,
        Err(e) => return Ok(Err(format!("host queue {host_base:#x}: {e}"))),
    };
    // The host's descriptor width is its queue's (IQA_REG.DW).
    HA::fit_queue(&mut caps.features, &host_q.host_features());
    let mut host_seen = HostBackend::new(host_kind, host_fails);
    // A counter cannot fail; a ShadowFlush fails only if it is called.
    let host_fails = host_fails && !matches!(host_seen, HostBackend::Counting(_));
    let mut host_progress = Vec::<Progress<H::HwError>>::new();
    let mut kick = |q: &mut H, m: &CellMemory<'_>| {
        let p = q.process(m, ctx, &mut host_seen);
        let stopped = p.fault.is_some_and(|f| f.stopped);
        host_progress.push(p);
        if stopped {
            Err(BackendError::Failed("host queue stopped"))
        } else {
            Ok(())
        }
    };
    let mut backend = LowerToHost::new(host_q, &hmem, ctx, &mut kick);
    backend.features = caps.features;
    backend.budget = caps.budget;
    backend.coalesce = coalesce;
    if host_store {
        backend.host_sync = Barrier::storing(HOST_STATUS, 1);
    }
    let progress = guest.process(&gmem, ctx, &mut backend);
    let written = backend.commands;
    // What a VMM logs: formatting never panics.
    let _ = format!("{backend:?}");
    if let Some(f) = progress.fault {
        let _ = f.cause.to_string();
    }
    // The host consumes what the last guest batch left in its ring.
    let LowerToHost { mut queue, .. } = backend;
    let _ = kick(&mut queue, &hmem);

    // The checks.
    let what = || {
        format!(
            "{} guest ({} commands, {progress:?}) -> {} host ({caps:?}, fails: {host_fails})",
            GA::ID,
            guest_words.len(),
            HA::ID
        )
    };
    if progress.consumed as usize > guest_words.len() {
        return Ok(Err(format!("{}: consumed more than published", what())));
    }
    if progress.fault.is_none() && (progress.consumed as usize) != guest_words.len() {
        return Ok(Err(format!("{}: stopped short without a fault", what())));
    }
    let host_consumed: u64 = host_progress.iter().map(|p| u64::from(p.consumed)).sum();
    for f in host_progress.iter().filter_map(|p| p.fault) {
        let _ = f.cause.to_string();
    }
    let host_fault = host_progress.iter().find_map(|p| p.fault);
    if !host_fails {
        if let Some(f) = host_fault {
            return Ok(Err(format!(
                "{}: the host device refused what lowering wrote: {f:?}",
                what()
            )));
        }
        if host_consumed != written {
            return Ok(Err(format!(
                "{}: {written} host commands written, {host_consumed} consumed",
                what()
            )));
        }
    }
    if coalesce {
        return Ok(Ok(()));
    }
    // The host's ops against lowering and lifting each guest op in turn.
    let expect = expected_host_ops::<GA, HA>(&guest_words, words, &caps, ctx);
    let exact = progress.fault.is_none() && host_fault.is_none() && !host_fails;
    let got: Vec<Op> = match &mut host_seen {
        HostBackend::Recording(r) => {
            let ops: Vec<Op> = r.ops().filter(|o| !o.is_sync()).copied().collect();
            // The log's batches hold the same ops, in order.
            let batched: Vec<Op> = r
                .records()
                .filter_map(|rec| match rec {
                    Record::Batch(b) => Some(b),
                    Record::Barrier(_) => None,
                })
                .flatten()
                .copied()
                .collect();
            if batched != ops {
                return Ok(Err(format!(
                    "{}: the recorder's batches {batched:?} are not its ops {ops:?}",
                    what()
                )));
            }
            r.clear();
            if r.ops().next().is_some() || r.records().next().is_some() {
                return Ok(Err(format!(
                    "{}: a cleared recorder still holds ops",
                    what()
                )));
            }
            ops
        }
        HostBackend::Shadow(b, log) => {
            let _ = format!("{b:?}");
            log.borrow().clone()
        }
        HostBackend::Counting(c) => {
            // Syncs go to `barrier`, not `execute`: the counts are the
            // ops' and the invalidations' among them.
            let invals = expect.iter().filter(|o| matches!(o, Op::Inval(_))).count() as u64;
            let (ops, want) = ((c.ops, c.invals), (expect.len() as u64, invals));
            let ok = if exact {
                ops == want
            } else {
                ops.0 <= want.0 && ops.1 <= want.1
            };
            if !ok {
                return Ok(Err(format!(
                    "{}: the host counted (ops, invalidations) {ops:?}, lowering and lifting \
                     the guest ops gives {want:?}: {expect:?}",
                    what()
                )));
            }
            return Ok(Ok(()));
        }
    };
    let ok = if exact {
        got == expect
    } else {
        expect.starts_with(&got)
    };
    if !ok {
        return Ok(Err(format!(
            "{}: host ops {got:?}, lowering and lifting the guest ops gives {expect:?}",
            what()
        )));
    }
    Ok(Ok(()))
}

/// `c` with the address of its completion store (CMD_SYNC MSI,
/// inv_wait status, COMPLETION_WAIT, IOFENCE.C) moved into the guest's
/// 64 KiB, keeping its alignment; other commands unchanged.
fn store_in_guest_memory<A: Arch>(c: A::Command) -> A::Command {
    let Ok((ops, _)) = lift_vec::<A>(&c, &IdentityContext) else {
        return c;
    };
    let Some(at) = ops.iter().find_map(|o| match o {
        Op::Sync(Barrier {
            store: Some(Store { address, .. }),
            ..
        }) => Some(*address),
        _ => None,
    }) else {
        return c;
    };
    let moved = 0x4000 | (at & 0xff8);
    let fields: Vec<(&'static str, FieldValue)> = crate::fields_of(&c)
        .into_iter()
        .map(|(n, v)| match v {
            FieldValue::Uint(x) if x == at => (n, FieldValue::Uint(moved)),
            v => (n, v),
        })
        .collect();
    let mut it = fields.into_iter();
    <A::Command as NativeCommand>::from_fields(c.op(), &mut it, c.words()).unwrap_or(c)
}

/// What the host sees of the guest commands up to the first that does not
/// decode, lift or lower: each guest op lowered with `caps` and lifted on
/// the host, syncs left out.
fn expected_host_ops<GA: Arch, HA: Arch>(
    guest: &[[u64; 4]],
    words: usize,
    caps: &Target<HA>,
    ctx: &dyn Context,
) -> Vec<Op> {
    let mut out = Vec::new();
    for w in guest {
        let Ok(c) = <GA::Command as NativeCommand>::decode(w.get(..words).unwrap_or(w)) else {
            break;
        };
        let Ok((ops, _)) = lift_vec::<GA>(&c, ctx) else {
            break;
        };
        for op in ops.iter().filter(|o| !o.is_sync()) {
            let Ok(Ok((cmds, _))) = lower_vec::<HA>(op, caps, ctx) else {
                return out;
            };
            for hc in &cmds {
                let Ok((back, _)) = lift_vec::<HA>(hc, ctx) else {
                    return out;
                };
                out.extend(back.into_iter().filter(|o| !o.is_sync()));
            }
        }
    }
    out
}
