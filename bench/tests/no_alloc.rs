//! Zero heap allocation on the hot paths (decode, encode, lift, lower, the
//! queue consumers, the `CommandQueue` front ends (on `CellMemory` and on
//! rust-vmm's `GuestMemoryMmap`) with the counting and the
//! lower-to-host back ends, and batch coalescing), proven with a counting global
//! allocator (`stats_alloc`; no `unsafe` here).
//!
//! Runs without the libtest harness (`harness = false`) so that no other
//! test thread allocates while a region is measured. Every input is built
//! before its region opens; every output goes to a `FixedBuf` / `SliceSink`
//! on the stack. A check fails on any allocation, reallocation or
//! deallocation inside its region; a sanity check shows that the counter
//! does see a `Vec` allocation.

use iommu_inval_core::Flags;
use iommu_inval_core::NativeCommand;
use std::alloc::System;
use std::hint::black_box;
use std::process::ExitCode;

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

use iommu_inval_amd::queue::CmdBufDevice;
use iommu_inval_arm::queue::CmdqDevice;
use iommu_inval_bench::batching::lower_batch;
use iommu_inval_bench::cases::{CASES, GRANULES};
use iommu_inval_bench::efficiency::{request, Flavor};
use iommu_inval_bench::streams::{self, Rng};
use iommu_inval_bench::targets::{self, amd, arm, riscv, vtd};
use iommu_inval_core::arch::Arch;
use iommu_inval_core::batch::{coalesce, BatchOptions};
use iommu_inval_core::device::{
    BackendError, CommandQueue, CountingBackend, LowerToHost, QueueEngine,
};
use iommu_inval_core::model::{Caches, Inval, Op};
use iommu_inval_core::range::{self, AddrRange};
use iommu_inval_core::sink::{FixedBuf, Sink, SliceSink};
use iommu_inval_core::{
    copy_checked, CellMemory, IdentityContext, MemError, QueueMemory, SliceMemory,
};
use iommu_inval_riscv::queue::CqDevice;
use iommu_inval_vtd::queue::InvQueue;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap events (allocations + reallocations + deallocations) during `f`.
fn heap_events<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let region = Region::new(GLOBAL);
    let r = f();
    let c = region.change();
    (r, c.allocations + c.reallocations + c.deallocations)
}

struct Report {
    passed: usize,
    failed: usize,
}

impl Report {
    /// A path that must not touch the heap; `f` returns how much work it did
    /// (so a vacuous check is caught too).
    fn none(&mut self, name: &str, f: impl FnOnce() -> usize) {
        let (work, events) = heap_events(f);
        if events == 0 && work > 0 {
            println!("ok      {name}: {work} operations, 0 heap events");
            self.passed += 1;
        } else {
            println!("FAILED  {name}: {work} operations, {events} heap events");
            self.failed += 1;
        }
    }
}

fn core_checks(rep: &mut Report) {
    // Sanity: the counter sees an allocation (this check can fail).
    let (_, events) = heap_events(|| {
        let v: Vec<u64> = vec![black_box(1)];
        black_box(&v);
    });
    if events > 0 {
        println!("ok      sanity: a Vec push is counted ({events} heap events)");
        rep.passed += 1;
    } else {
        println!("FAILED  sanity: a Vec push was not counted");
        rep.failed += 1;
    }

    let ranges: Vec<AddrRange> = [
        (0x1000u64, 0x1000u64),
        (0x3000, 37 * 0x1000),
        (0x401f_f000, 0x20_1000),
        (0x7fe0_0000, 0x4000_0000),
    ]
    .iter()
    .filter_map(|&(a, s)| AddrRange::new(a, s).ok())
    .chain([AddrRange::All])
    .collect();
    rep.none("core range math (aligned blocks, ATS encoding)", || {
        let mut n = 0;
        for r in &ranges {
            n += range::AlignedBlocks::new(r, 12, 63).count();
            if let range::Plan::Pieces(p) = range::plan_aligned(r, 12, 18, 16) {
                n += p.count();
            }
            let (a, s) = range::ats_encode_block(range::covering_block(r, range::PAGE_SHIFT));
            black_box(range::ats_decode(a, s));
            n += 1;
        }
        n
    });

    for (name, ops) in streams::named_streams() {
        let mut scratch = [Inval::new(Caches::empty()); 512];
        let mut buf = vec![Op::Sync(Default::default()); 4 * ops.len() + 8];
        rep.none(&format!("core batch coalesce: {name}"), || {
            let mut out = SliceSink::new(&mut buf);
            match coalesce(&ops, &mut scratch, BatchOptions::default(), &mut out) {
                Ok(st) => st.output_ops,
                Err(_) => 0,
            }
        });
    }
    let ops = streams::scattered_pages(8, 9);
    rep.none("core batch coalesce into a FixedBuf", || {
        let mut scratch = [Inval::new(Caches::empty()); 32];
        let mut out: FixedBuf<Op, 32> = FixedBuf::new();
        coalesce(&ops, &mut scratch, BatchOptions::default(), &mut out).map_or(0, |s| s.output_ops)
    });
}

/// Every generic operation the lowering checks feed to each architecture:
/// the streams, the common cases, the efficiency requests, and the lifts of
/// every architecture's example stream (cross-architecture conversion).
fn all_generic_ops() -> Vec<Op> {
    let mut ops = Vec::new();
    for (_, s) in streams::named_streams() {
        ops.extend(s);
    }
    ops.extend(streams::codec_mix(3));
    ops.extend(streams::common_cases().iter().map(|(_, o)| *o));
    for c in CASES.iter() {
        for &g in GRANULES.iter() {
            for f in [Flavor::S1, Flavor::S2] {
                ops.push(Op::Inval(request(c.range(g), g, f)));
            }
        }
    }
    ops.extend(arm::example_ops());
    ops.extend(vtd::example_ops());
    ops.extend(amd::example_ops());
    ops.extend(riscv::example_ops());
    ops
}

/// Random words: almost all invalid encodings (error paths).
fn garbage(n: usize, words: usize) -> Vec<u64> {
    let mut rng = Rng::new(0xbad);
    (0..n * words)
        .map(|i| {
            let v = rng.next_u64();
            // Clear some type/opcode bits so that reserved-bit and field checks run too.
            if i % words == 0 && i % 3 == 0 {
                v & 0x0fff_ffff_ffff_f00f
            } else {
                v
            }
        })
        .collect()
}

/// Guest memory image of `cmds` (each `words` long), little endian, in a
/// ring of `entries` entries.
fn image(cmds: &[u64], entries: usize, words: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; entries * words * 8];
    for (chunk, w) in bytes.chunks_exact_mut(8).zip(cmds.iter()) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    bytes
}

macro_rules! codec_lift_lower_checks {
    ($rep:expr, $t:ident, [$($words:expr),+]) => {{
        let rep: &mut Report = $rep;
        let name = $t::NAME;
        let topo = targets::topology();
        let caps = $t::Host::default();
        let generic = all_generic_ops();
        $(
            let q = $t::queue(4096, $words);
            let bad = garbage(4096, $words);
            rep.none(&format!("{name} decode, {}-word commands (valid and invalid)", $words), || {
                let mut n = 0;
                for w in q.chunks_exact($words).chain(bad.chunks_exact($words)) {
                    black_box(&$t::Command::decode(black_box(w)));
                    n += 1;
                }
                n
            });
            let mut host = vec![0u64; q.len()];
            rep.none(&format!("{name} copy_checked, {}-word commands (valid, then stopping at an invalid one)", $words), || {
                let mut n = 0;
                for src in [&q, &bad] {
                    n += match copy_checked::<$t::Command>(black_box(src), &mut host, $words) {
                        Ok(k) => k,
                        Err(e) => black_box(e).index + 1,
                    };
                }
                n
            });
        )+
        let cmds = $t::commands(4096);
        rep.none(&format!("{name} encode"), || {
            let mut n = 0;
            for c in &cmds {
                black_box(c.encode());
                n += 1;
            }
            n
        });
        let mut op_buf = vec![Op::Sync(Default::default()); 256];
        rep.none(&format!("{name} lift (IdentityContext and example topology)"), || {
            let mut n = 0;
            for c in &cmds {
                let mut out = SliceSink::new(&mut op_buf);
                let _ = $t::A::lift(c, &IdentityContext, &mut out);
                let mut out = SliceSink::new(&mut op_buf);
                let _ = $t::A::lift(c, &topo, &mut out);
                let mut fixed: FixedBuf<Op, 16> = FixedBuf::new();
                let _ = $t::A::lift(c, &topo, &mut fixed);
                n += 1;
            }
            n
        });
        let mut cmd_buf: Vec<$t::Command> = $t::commands(1024);
        rep.none(
            &format!("{name} lower ({} generic ops incl. every arch's lifts; identity and topology)", generic.len()),
            || {
                let mut n = 0;
                for op in &generic {
                    let mut out = SliceSink::new(&mut cmd_buf);
                    let _ = $t::A::lower(op, &caps.features, caps.budget, &IdentityContext, &mut out);
                    let mut out = SliceSink::new(&mut cmd_buf);
                    let _ = $t::A::lower(op, &caps.features, caps.budget, &topo, &mut out);
                    let mut fixed: FixedBuf<$t::Command, 8> = FixedBuf::new();
                    let _ = $t::A::lower(op, &caps.features, caps.budget, &topo, &mut fixed);
                    n += 1;
                }
                n
            },
        );
        let mut scratch = vec![Inval::new(Caches::empty()); 1024];
        let named = streams::named_streams_ref();
        rep.none(&format!("{name} lower_batch of the streams"), || {
            let mut n = 0;
            for (_, s) in named {
                let mut out = SliceSink::new(&mut cmd_buf);
                let f = |o: &Op, sink: &mut dyn Sink<$t::Command>| $t::A::lower(o, &caps.features, caps.budget, &topo, sink);
                if lower_batch(s, &mut scratch, BatchOptions::default(), f, &mut out).is_ok() {
                    n += 1;
                }
            }
            n
        });
    }};
}

/// A front end over a `entries`-entry ring at `base` holding `q` (every
/// slot but one), made afresh by `make` inside each measured region: its
/// walk allocates nothing, nor its walk of the same ring with word `at`
/// replaced by `bad`, which stops at that command with a fault.
#[allow(clippy::too_many_arguments)]
fn consumer_checks<Q: QueueEngine>(
    rep: &mut Report,
    names: [&str; 2],
    make: impl Fn() -> Option<Q>,
    q: &[u64],
    (base, entries, words): (u64, usize, usize),
    (at, bad): (usize, u64),
) {
    let img = image(q, entries, words);
    let mem = SliceMemory::new(base, &img);
    rep.none(names[0], || {
        let Some(mut dev) = make() else {
            return 0;
        };
        let mut n = 0usize;
        let r = dev.consume(&mem, |c| {
            black_box(c);
            n += 1;
        });
        black_box(&r);
        n
    });
    let mut badq = q.to_vec();
    badq[at] = bad;
    let bad_img = image(&badq, entries, words);
    let bad_mem = SliceMemory::new(base, &bad_img);
    rep.none(names[1], || {
        let Some(mut dev) = make() else {
            return 0;
        };
        let mut n = 0usize;
        let r = dev.consume(&bad_mem, |_| n += 1);
        black_box(&r.fault);
        usize::from(r.fault.is_some()) * n
    });
}

fn queue_checks(rep: &mut Report) {
    // SMMUv3: 256-entry queue, 255 commands; then opcode 0xff at entry 100.
    let q = arm::queue(255, 2);
    let cmdq = CmdqDevice::new(arm::queue_mod::Cmdq::new(0x10_0000, 8), 0, 255);
    consumer_checks(
        rep,
        [
            "smmuv3 CMDQ consumer (255 commands)",
            "smmuv3 CMDQ consumer stopping at CERROR_ILL",
        ],
        || Some(cmdq),
        &q,
        (0x10_0000, 256, 2),
        (2 * 100, 0xff),
    );
    let img = image(&q, 256, 2);
    let short = SliceMemory::new(0x10_0000, &img[..1024]);
    rep.none("smmuv3 CMDQ iterator up to a fetch abort", || {
        let mut q = cmdq;
        q.commands(&short).take(100).count()
    });

    // VT-d: a 4 KiB queue: 255 128-bit or 127 256-bit descriptors; then
    // type 0xf at descriptor 50.
    for (dw, words, entries) in [(false, 2usize, 256usize), (true, 4, 128)] {
        let iqa = vtd::queue_mod::Iqa {
            base: 0x20_0000,
            dw,
            qs: 0,
        };
        let tail = ((entries - 1) * words * 8) as u64;
        let bits = words * 64;
        consumer_checks(
            rep,
            [
                &format!("vtd invalidation queue walk ({bits}-bit)"),
                &format!("vtd queue walk stopping at IQE ({bits}-bit)"),
            ],
            || InvQueue::from_registers(iqa.to_reg(), 0, tail).ok(),
            &vtd::queue(entries - 1, words),
            (0x20_0000, entries, words),
            (words * 50, 0xf),
        );
    }

    // AMD: a 256-entry command buffer, 255 commands; then opcode 0xf at entry 7.
    consumer_checks(
        rep,
        [
            "amd command buffer consumer (255 commands)",
            "amd command buffer stopping at ILLEGAL_COMMAND_ERROR",
        ],
        || CmdBufDevice::from_registers(8 << 56 | 0x30_0000, 0, 255 * 16).ok(),
        &amd::queue(255, 2),
        (0x30_0000, 256, 2),
        (2 * 7, 0xf000_0000_0000_0000),
    );
}

/// The RISC-V command-queue consumer: 255 commands, then stopping at an
/// illegal one (cmd_ill: reserved opcode 5 at entry 7).
fn riscv_queue_checks(rep: &mut Report) {
    // 256 entries (LOG2SZ-1 = 7) at 0x40_0000, enabled.
    let cqb = (0x40_0000u64 >> 12) << 10 | 7;
    consumer_checks(
        rep,
        [
            "riscv command queue consumer (255 commands)",
            "riscv command queue stopping at cmd_ill",
        ],
        || CqDevice::from_registers(cqb, 0, 255).ok(),
        &riscv::queue(255, 2),
        (0x40_0000, 256, 2),
        (2 * 7, 0x5),
    );
}

/// Where the status page of [`TwoRegions`] starts.
const STATUS_PAGE: u64 = 0x7f00_0000;

/// Guest memory of a ring and a status page (the VT-d and AMD-Vi example
/// streams store their completion at 0x7f000000).
struct TwoRegions<'a>(CellMemory<'a>, CellMemory<'a>);

impl QueueMemory for TwoRegions<'_> {
    fn read_words(&self, addr: u64, out: &mut [u64]) -> Result<(), MemError> {
        if addr >= STATUS_PAGE {
            self.1.read_words(addr, out)
        } else {
            self.0.read_words(addr, out)
        }
    }
    fn write_bytes(&self, addr: u64, bytes: &[u8]) -> Result<(), MemError> {
        if addr >= STATUS_PAGE {
            self.1.write_bytes(addr, bytes)
        } else {
            self.0.write_bytes(addr, bytes)
        }
    }
}

/// The `CommandQueue` front ends, and the lower-to-host back end feeding a
/// host queue of every other architecture (whose own front end consumes
/// it), on the example streams with the example topology.
fn device_checks(rep: &mut Report) {
    let ctx = targets::topology();
    let mut status = vec![0u8; 4096];
    let mut host_ram = vec![0u8; 0x2_0000];
    let host_mem = CellMemory::new(0x100_0000, &mut host_ram);
    macro_rules! front_end {
        ($t:ident, $dev:ty, $base:expr, $ring:expr, $tail:expr $(, $more:ty = $more_base:expr)?) => {{
            let mut ring = image(&$t::queue(255, 2), 256, 2);
            let mem = TwoRegions(
                CellMemory::new($ring, &mut ring),
                CellMemory::new(STATUS_PAGE, &mut status),
            );
            rep.none(&format!("{} front end into the counting back end (255 commands)", $t::NAME), || {
                let Some(mut q) = <$dev>::from_registers($base, 0, 0).ok() else { return 0 };
                q.doorbell($tail);
                let mut be = CountingBackend::default();
                let p = q.process(&mem, &ctx, &mut be);
                // (The SMMUv3 stream has one CMD_SYNC whose MSI targets
                // memory outside these regions: a recorded, non-stopping
                // GERROR.MSI_CMDQ_ABT_ERR.)
                if p.fault.is_some_and(|f| f.stopped) { 0 } else { p.consumed as usize }
            });
            front_end!(@host $t, mem, $dev, $base, $tail, CmdqDevice, 0x100_0000 | 8);
            front_end!(@host $t, mem, $dev, $base, $tail, InvQueue, 0x100_0000 | 1 << 11 | 1);
            front_end!(@host $t, mem, $dev, $base, $tail, CmdBufDevice, 8 << 56 | 0x100_0000);
            $(front_end!(@host $t, mem, $dev, $base, $tail, $more, $more_base);)?
        }};
        (@host $t:ident, $mem:ident, $dev:ty, $base:expr, $tail:expr, $host:ty, $hbase:expr) => {{
            rep.none(
                &format!("{} front end lowering to a {} host queue (255 commands)", $t::NAME, <<$host as QueueEngine>::Arch as Arch>::ID),
                || {
                    let Some(mut q) = <$dev>::from_registers($base, 0, 0).ok() else { return 0 };
                    q.doorbell($tail);
                    let Some(host) = <$host>::from_registers($hbase, 0, 0).ok() else { return 0 };
                    let kick = |h: &mut $host, m: &CellMemory<'_>| {
                        let p = h.process(m, &ctx, &mut CountingBackend::default());
                        match p.fault {
                            Some(f) if f.stopped => Err(BackendError::Failed("host stopped")),
                            _ => Ok(()),
                        }
                    };
                    let mut be = LowerToHost::new(host, &host_mem, &ctx, kick);
                    let p = q.process(&$mem, &ctx, &mut be);
                    if p.fault.is_some_and(|f| f.stopped) || be.commands == 0 { 0 } else { p.consumed as usize }
                },
            );
        }};
    }
    front_end!(arm, CmdqDevice, 0x10_0000 | 8, 0x10_0000, 255);
    front_end!(vtd, InvQueue, 0x20_0000, 0x20_0000, 255 * 16);
    front_end!(amd, CmdBufDevice, 8 << 56 | 0x30_0000, 0x30_0000, 255 * 16);
    // RISC-V: cqb holds the queue's PPN in [53:10] and LOG2SZ-1 in [4:0];
    // its host queue is a RISC-V one too.
    let cqb = (0x40_0000u64 >> 12) << 10 | 7;
    let host_cqb = (0x100_0000u64 >> 12) << 10 | 7;
    front_end!(riscv, CqDevice, cqb, 0x40_0000, 255, CqDevice = host_cqb);
}

/// The four front ends over rust-vmm's `GuestMemoryMmap` (through
/// `VmMemory`), the bench's 4095-command rings (`bench::frontend`): the
/// run read ahead, decode, lift and completions, and the decode-only walk.
fn mmap_checks(rep: &mut Report) {
    use iommu_inval_bench::frontend::{decode_only, mmap_guest, process_all, regs, N};
    use iommu_inval_core::queue::VmMemory;
    let ctx = targets::topology();
    macro_rules! mmap {
        ($t:ident, $dev:ty, $regs:expr) => {{
            let Some(gm) = mmap_guest(&$t::synced_queue(N)) else {
                println!("FAILED  {}: the guest memory does not map", $t::NAME);
                rep.failed += 1;
                return;
            };
            let mem = VmMemory(&gm);
            rep.none(
                &format!("{} front end on GuestMemoryMmap ({N} commands)", $t::NAME),
                || {
                    process_all::<$dev, _, _, _>($regs, &mem, &ctx, &mut CountingBackend::default())
                        as usize
                },
            );
            rep.none(
                &format!(
                    "{} decode-only walk on GuestMemoryMmap ({N} commands)",
                    $t::NAME
                ),
                || decode_only::<$dev, _>($regs, &mem) as usize,
            );
        }};
    }
    mmap!(arm, CmdqDevice, regs::SMMUV3);
    mmap!(vtd, InvQueue, regs::VTD);
    mmap!(amd, CmdBufDevice, regs::AMD);
    mmap!(riscv, CqDevice, regs::RISCV);
}

/// The iommufd back ends: the SMMUv3 front end into the VT-d stage-1
/// back end, and the vSMMU forwarder over decoded guest commands.
fn iommufd_checks(rep: &mut Report) {
    use iommu_inval_core::model::Op;
    use iommu_inval_iommufd::backend::{
        Invalidator, Smmuv3Forwarder, ViommuInvalidator, VtdS1Backend,
    };
    use iommu_inval_iommufd::smmuv3::{HostFeatures, Vsmmu};
    use iommu_inval_iommufd::uapi::{HwptVtdS1Invalidate, ViommuArmSmmuv3Invalidate};
    use iommu_inval_iommufd::vtd::{S1Scope, VmmWork};

    struct Count(usize);
    impl Invalidator for Count {
        fn invalidate_vtd_s1(
            &mut self,
            _: u32,
            e: &[HwptVtdS1Invalidate],
        ) -> Result<(), (u32, BackendError)> {
            self.0 += e.len();
            Ok(())
        }
    }
    impl ViommuInvalidator for Count {
        fn invalidate_smmuv3(
            &mut self,
            e: &[ViommuArmSmmuv3Invalidate],
        ) -> Result<(), BackendError> {
            self.0 += e.len();
            Ok(())
        }
    }
    /// The 255 guest commands of the ring at `base` through the SMMUv3
    /// front end into `be`: how many were consumed, or 0 if the queue
    /// stopped or `be` made no ioctl (`ioctls`).
    fn forward<M: QueueMemory, B: iommu_inval_core::device::Backend>(
        base: u64,
        mem: &M,
        ctx: &iommu_inval_core::context::Topology,
        be: &mut B,
        ioctls: fn(&B) -> usize,
    ) -> usize {
        let Some(mut q) = CmdqDevice::from_registers(base, 0, 0).ok() else {
            return 0;
        };
        q.doorbell(255);
        let p = q.process(mem, ctx, be);
        if p.fault.is_some_and(|f| f.stopped) || ioctls(be) == 0 {
            0
        } else {
            p.consumed as usize
        }
    }
    let ctx = targets::topology();
    let mut status = vec![0u8; 4096];
    let mut ring = image(&arm::queue(255, 2), 256, 2);
    let base = 0x10_0000 | 8;
    let mem = TwoRegions(
        CellMemory::new(base & 0xffff_ffff_f000, &mut ring),
        CellMemory::new(STATUS_PAGE, &mut status),
    );
    rep.none(
        "smmuv3 front end into the iommufd VT-d stage-1 back end (255 commands)",
        || {
            let router = |_: &S1Scope, f: &mut dyn FnMut(u32)| f(1);
            let mut be = VtdS1Backend::new(router, Count(0), |_: &Op, _: VmmWork| Ok(()));
            forward(base, &mem, &ctx, &mut be, |be| be.ioctl.0)
        },
    );
    let vdevs: Vec<(u32, u32)> = (0..64).map(|v| (v, v + 0x100)).collect();
    rep.none(
        "smmuv3 front end into the iommufd vSMMU back end (255 commands)",
        || {
            use iommu_inval_iommufd::backend::VsmmuBackend;
            let fwd = Smmuv3Forwarder::new(
                Vsmmu::new(3, HostFeatures::default()),
                vdevs.as_slice(),
                Count(0),
            );
            let mut be = VsmmuBackend::new(fwd, &ctx, |_: &Op, _| Ok(()));
            forward(base, &mem, &ctx, &mut be, |be| be.fwd.ioctl.0)
        },
    );
    let cmds = arm::commands(255);
    rep.none("vSMMU forwarder over 255 guest commands", || {
        let mut fwd = Smmuv3Forwarder::new(
            Vsmmu::new(3, HostFeatures::default()),
            vdevs.as_slice(),
            Count(0),
        );
        let mut n = 0;
        for c in &cmds {
            let _ = black_box(fwd.command(c));
            n += 1;
        }
        let _ = fwd.flush();
        if fwd.ioctl.0 == 0 {
            0
        } else {
            n
        }
    });
}

/// The virtio-iommu request queue (`VirtioIommuDevice::process_requestq`,
/// feature `virtqueue`) end to end: chains popped from a split virtqueue in
/// guest memory, walked, read, decoded, executed, lifted into the counting
/// back end, answered and put in the used ring. One pass of Linux's
/// requests for a device (PROBE, ATTACH of a second endpoint of domain 1,
/// 8 MAPs, 8 UNMAPs, a 2021-draft INVALIDATE, DETACH) is run once before
/// the region (the domain's mapping table gets its first node) and then
/// measured. The request path allocates nothing; the device's state does
/// when it grows: a domain's mapping table (a `BTreeMap`) gains a node
/// every 11 or so live mappings and gives it back when they go, a new
/// domain gets its tables, the last DETACH frees them.
fn virtio_checks(rep: &mut Report) {
    use iommu_inval_bench::virtio::page_map_unmap;
    use iommu_inval_virtio::device::{DeviceConfig, NoMapper, VirtioIommuDevice};
    use iommu_inval_virtio::{
        Attach, Command, Detach, Features, Invalidate, Probe, INVAL_G_DOMAIN, INV_T_DEV_IOTLB,
        INV_T_IOTLB, MAX_BYTES,
    };
    use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
    use virtio_queue::mock::MockSplitQueue;
    use virtio_queue::{Queue, QueueT};
    use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

    const QSIZE: u16 = 256;
    let mut cmds: Vec<Command> = vec![
        Probe {
            endpoint: 9,
            ..Probe::default()
        }
        .into(),
        Attach {
            domain: 1,
            endpoint: 9,
            ..Attach::default()
        }
        .into(),
    ];
    // 8 pages mapped, then unmapped (a scatter-gather list of Linux's).
    let (maps, unmaps): (Vec<Command>, Vec<Command>) = (0..8).map(page_map_unmap).unzip();
    cmds.extend(maps);
    cmds.extend(unmaps);
    // The domain's IOTLB and its endpoints' device TLBs (one per endpoint).
    cmds.push(Command::from(Invalidate {
        inv_gran: INVAL_G_DOMAIN,
        inv_type: INV_T_IOTLB | INV_T_DEV_IOTLB,
        domain: 1,
        ..Invalidate::default()
    }));
    cmds.push(
        Detach {
            domain: 1,
            endpoint: 9,
            ..Detach::default()
        }
        .into(),
    );
    let Ok(m) = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10_0000)]) else {
        rep.none("virtio-iommu: guest memory", || 0);
        return;
    };
    let mock = MockSplitQueue::create(&m, GuestAddress(0), QSIZE);
    let mut config = DeviceConfig::cloud_hypervisor(vec![8, 9]);
    config.features = Features {
        probe_size: 24,
        ..Features::VSVA_2021
    };
    let (Ok(mut q), Ok(mut dev)) = (mock.create_queue::<Queue>(), VirtioIommuDevice::new(config))
    else {
        rep.none("virtio-iommu: queue and device", || 0);
        return;
    };
    // Clear of the available ring (virtio-queue 0.18's mock places the used
    // ring over the second half of its entries).
    q.set_used_ring_address(Some(0x4000), Some(0));
    let mut ok = true;
    for (k, c) in cmds.iter().enumerate() {
        let mut b = [0u8; MAX_BYTES];
        let n = c.encode_bytes_into(&mut b).unwrap_or(0);
        let wn: u32 = if matches!(c, Command::Probe(_)) {
            28
        } else {
            4
        };
        let (ra, wa) = (0x1_0000 + 0x100 * k as u64, 0x1_0080 + 0x100 * k as u64);
        let i = 2 * k as u16;
        ok &= m.write_slice(&b[..n], GuestAddress(ra)).is_ok();
        let r = SplitDescriptor::new(ra, n as u32, 1, i + 1);
        ok &= mock.desc_table().store(i, RawDescriptor::from(r)).is_ok();
        let w = SplitDescriptor::new(wa, wn, 2, 0);
        ok &= mock
            .desc_table()
            .store(i + 1, RawDescriptor::from(w))
            .is_ok();
    }
    let attach8 = Command::Attach(Attach {
        domain: 1,
        endpoint: 8,
        ..Attach::default()
    });
    let be = &mut CountingBackend::default();
    dev.execute(&attach8, &IdentityContext, be, &mut NoMapper);
    let avail = mock.avail_addr();
    let chains = cmds.len() as u16;
    // The driver makes the chains available (avail-ring writes).
    let offer = |m: &GuestMemoryMmap| {
        let idx: u16 = m.read_obj(GuestAddress(avail.0 + 2)).unwrap_or(0);
        for k in 0..chains {
            let slot = idx.wrapping_add(k) % QSIZE;
            let at = GuestAddress(avail.0 + 4 + 2 * u64::from(slot));
            let _ = m.write_obj(2 * k, at);
        }
        let _ = m.write_obj(idx.wrapping_add(chains), GuestAddress(avail.0 + 2));
    };
    let pass = |q: &mut Queue, dev: &mut VirtioIommuDevice| {
        let mut be = CountingBackend::default();
        match dev.process_requestq(q, &m, &IdentityContext, &mut be, &mut NoMapper) {
            Ok(p) if p.ok == u32::from(chains) && be.ops > 0 => p.ok as usize,
            _ => 0,
        }
    };
    offer(&m);
    ok &= pass(&mut q, &mut dev) > 0;
    offer(&m);
    rep.none(
        "virtio-iommu request queue: PROBE, ATTACH, 8 MAP, 8 UNMAP, INVALIDATE (2021 draft), DETACH",
        || if ok { pass(&mut q, &mut dev) } else { 0 },
    );
}

fn main() -> ExitCode {
    let mut rep = Report {
        passed: 0,
        failed: 0,
    };
    core_checks(&mut rep);
    codec_lift_lower_checks!(&mut rep, arm, [2]);
    codec_lift_lower_checks!(&mut rep, vtd, [2, 4]);
    codec_lift_lower_checks!(&mut rep, amd, [2]);
    codec_lift_lower_checks!(&mut rep, riscv, [2]);
    queue_checks(&mut rep);
    riscv_queue_checks(&mut rep);
    device_checks(&mut rep);
    mmap_checks(&mut rep);
    iommufd_checks(&mut rep);
    virtio_checks(&mut rep);
    println!("{} passed, {} failed", rep.passed, rep.failed);
    if rep.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
