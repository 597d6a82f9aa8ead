//! The records of the other direction (issue 32): decode, encode, lift and
//! lower of each architecture's event (fault) and page-request records,
//! and the SMMUv3 `GuestQueue` offer path (`RecordQueue::offer` into a
//! guest event queue in `CellMemory`).
//!
//! The records: one of every kind of each format (`NativeCommand::
//! op_names`, built from no fields: every field 0), and the events those
//! of every architecture lift to lowered to this one, kept when they lift
//! with the identity context and their event lowers back; repeated to
//! [`N`]. ns per record = time / N.

use std::hint::black_box;

use divan::counter::ItemsCount;
use divan::Bencher;

use iommu_inval_arm::{EventRecord, GuestQueue};
use iommu_inval_core::arch::EventArch;
use iommu_inval_core::event::{Event, Record, RecordQueue};
use iommu_inval_core::{CellMemory, IdentityContext, NativeCommand};

/// Records per pass.
const N: usize = 1024;

fn main() {
    divan::main();
}

/// One record of every kind of `R` built from no fields, in the width the
/// format takes.
fn blanks<R: NativeCommand>() -> Vec<R> {
    R::op_names()
        .iter()
        .filter_map(|op| (1..=4).find_map(|w| R::from_fields(op, &mut std::iter::empty(), w).ok()))
        .collect()
}

type Rec<A> = Record<<A as EventArch>::EventRecord, <A as EventArch>::PageRequestRecord>;

/// The records of `A` of one queue (`pri`: the page-request queue) that
/// lift and lower back, repeated to `N`, with their words and events.
struct Set<A: EventArch> {
    records: Vec<Rec<A>>,
    words: Vec<[u64; 4]>,
    events: Vec<Event>,
}

/// Every kind of `A`'s two formats, built from no fields.
fn kinds<A: EventArch>() -> Vec<Rec<A>> {
    let e = blanks::<A::EventRecord>().into_iter().map(Record::Event);
    e.chain(
        blanks::<A::PageRequestRecord>()
            .into_iter()
            .map(Record::PageRequest),
    )
    .collect()
}

/// The events the blank records of every architecture lift to.
fn pool() -> Vec<Event> {
    fn lifted<A: EventArch>() -> Vec<Event> {
        kinds::<A>()
            .iter()
            .filter_map(|r| A::lift_record(r, &IdentityContext).ok())
            .collect()
    }
    let mut v = lifted::<iommu_inval_arm::Smmuv3>();
    v.extend(lifted::<iommu_inval_vtd::Vtd>());
    v.extend(lifted::<iommu_inval_amd::AmdVi>());
    v.extend(lifted::<iommu_inval_riscv::RiscV>());
    v
}

fn set<A: EventArch>(pri: bool) -> Set<A> {
    // `A`'s blank records, and the pool's events lowered to `A` (a kind
    // whose blank record does not lift, as RISC-V's cause 0).
    let mut all = kinds::<A>();
    all.extend(
        pool()
            .iter()
            .filter_map(|e| A::lower_record(e, &IdentityContext).ok()),
    );
    let kinds: Vec<Rec<A>> = all
        .into_iter()
        .filter(|r| matches!(r, Record::PageRequest(_)) == pri)
        .collect();
    let good: Vec<(Rec<A>, Event)> = kinds
        .into_iter()
        .filter_map(|r| {
            let e = A::lift_record(&r, &IdentityContext).ok()?;
            A::lower_record(&e, &IdentityContext).ok()?;
            Some((r, e))
        })
        .collect();
    assert!(
        !good.is_empty(),
        "no {} record of {:?} lifts",
        if pri { "page-request" } else { "event" },
        A::ID
    );
    let all: Vec<(Rec<A>, Event)> = good.iter().cycle().take(N).cloned().collect();
    Set {
        words: all.iter().map(|(r, _)| words(r)).collect(),
        records: all.iter().map(|(r, _)| *r).collect(),
        events: all.into_iter().map(|(_, e)| e).collect(),
    }
}

fn words<E: NativeCommand, P: NativeCommand>(r: &Record<E, P>) -> [u64; 4] {
    let mut w = [0u64; 4];
    let _ = match r {
        Record::Event(e) => e.encode_into(&mut w),
        Record::PageRequest(p) => p.encode_into(&mut w),
    };
    w
}

/// Benches `f` over every item; the count of `Ok`s.
fn bench_ok<T, R, E>(b: Bencher, items: &[T], f: impl Fn(&T) -> Result<R, E>) {
    b.counter(ItemsCount::new(N)).bench_local(|| {
        items
            .iter()
            .filter(|x| black_box(f(black_box(x))).is_ok())
            .count()
    });
}

fn bench_decode<A: EventArch>(b: Bencher, pri: bool) {
    let s = set::<A>(pri);
    let n = s.records.first().map_or(0, |r| match r {
        Record::Event(e) => e.words(),
        Record::PageRequest(p) => p.words(),
    });
    bench_ok(b, &s.words, |w| {
        let w = w.get(..n).unwrap_or(w);
        if pri {
            A::PageRequestRecord::decode(w).map(|_| ())
        } else {
            A::EventRecord::decode(w).map(|_| ())
        }
    });
}

fn bench_encode<A: EventArch>(b: Bencher, pri: bool) {
    let s = set::<A>(pri);
    let mut out = vec![[0u64; 4]; N];
    b.counter(ItemsCount::new(N)).bench_local(|| {
        for (r, o) in s.records.iter().zip(out.iter_mut()) {
            let _ = match black_box(r) {
                Record::Event(e) => e.encode_into(o),
                Record::PageRequest(p) => p.encode_into(o),
            };
        }
        black_box(&out);
    });
}

/// `case` = what / queue: `decode`, `encode`, `lift` or `lower` of the
/// `event` or `page_request` records of `A`.
fn bench_case<A: EventArch>(b: Bencher, case: &str) {
    let pri = case.ends_with("page_request");
    match case.split('/').next() {
        Some("decode") => bench_decode::<A>(b, pri),
        Some("encode") => bench_encode::<A>(b, pri),
        Some("lift") => {
            let s = set::<A>(pri);
            bench_ok(b, &s.records, |r| A::lift_record(r, &IdentityContext));
        }
        _ => {
            let s = set::<A>(pri);
            bench_ok(b, &s.events, |e| A::lower_record(e, &IdentityContext));
        }
    }
}

macro_rules! records {
    ($modname:ident, $arch:ty) => {
        #[divan::bench(args = [
                    "decode/event", "decode/page_request", "encode/event", "encode/page_request",
                    "lift/event", "lift/page_request", "lower/event", "lower/page_request",
                ])]
        fn $modname(b: Bencher, case: &str) {
            bench_case::<$arch>(b, case);
        }
    };
}

records!(smmuv3, iommu_inval_arm::Smmuv3);
records!(vtd, iommu_inval_vtd::Vtd);
records!(amd_vi, iommu_inval_amd::AmdVi);
records!(riscv_iommu, iommu_inval_riscv::RiscV);

/// The SMMUv3 event queue's producer: `N` event records offered to a
/// fresh 1024-entry guest event queue (SMMU_EVENTQ_BASE.LOG2SIZE = 10) in
/// `CellMemory`, each written at the tail.
#[divan::bench]
fn smmuv3_guest_queue_offer(b: Bencher) {
    let s = set::<iommu_inval_arm::Smmuv3>(false);
    let recs: Vec<EventRecord> = s
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) => Some(*e),
            Record::PageRequest(_) => None,
        })
        .collect();
    let mut ram = vec![0u8; N * 32];
    let mem = CellMemory::new(0x10_0000, &mut ram);
    b.counter(ItemsCount::new(N)).bench_local(|| {
        let mut q = GuestQueue::<EventRecord>::new(0x10_0000 | 10, 0, 0, true);
        let mut written = 0usize;
        for r in &recs {
            written += usize::from(q.offer(black_box(&mem), r, false).is_ok());
        }
        assert_eq!(written, N);
        q.prod
    });
}
