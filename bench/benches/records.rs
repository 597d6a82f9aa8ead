//! The records of the other direction (issue 32): decode, encode, lift and
//! lower of each architecture's event (fault) and page-request records,
//! and `offer`, each architecture's producers (`RecordQueue::offer` into a
//! fresh guest queue in `CellMemory`: SMMUv3 event and PRI queues, VT-d
//! fault recording registers and page request queue, AMD-Vi event and PPR
//! logs, RISC-V fault and page-request queues).
//!
//! The records: one of every kind of each format (`NativeCommand::
//! op_names`, built from no fields: every field 0), and the events those
//! of every architecture lift to lowered to this one, kept when they lift
//! with the identity context and their event lowers back; repeated to
//! [`N`]. ns per record = time / N.

use std::hint::black_box;

use divan::counter::ItemsCount;
use divan::Bencher;

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

/// The producers of an architecture: its event (fault) queue and its
/// page-request queue, fresh and enabled, at [`AT`] in guest memory, each
/// with room for every record offered.
trait Producers: EventArch {
    /// The event queue.
    type Events: RecordQueue<Record = Self::EventRecord> + Copy;
    /// The page-request queue.
    type Requests: RecordQueue<Record = Self::PageRequestRecord> + Copy;
    /// The event queue, the records it takes per pass and the bytes of
    /// guest memory it uses.
    fn events() -> (Self::Events, usize, usize);
    /// The page-request queue, as [`Producers::events`].
    fn requests() -> (Self::Requests, usize, usize);
}

/// Where the guest queues are.
const AT: u64 = 0x10_0000;

impl Producers for iommu_inval_arm::Smmuv3 {
    type Events = iommu_inval_arm::GuestQueue<iommu_inval_arm::EventRecord>;
    type Requests = iommu_inval_arm::GuestQueue<iommu_inval_arm::PriRecord>;
    /// SMMU_EVENTQ_BASE.LOG2SIZE = 10: 1024 entries (a wrap bit).
    fn events() -> (Self::Events, usize, usize) {
        (Self::Events::new(AT | 10, 0, 0, true), N, N * 32)
    }
    fn requests() -> (Self::Requests, usize, usize) {
        (Self::Requests::new(AT | 10, 0, 0, true), N, N * 16)
    }
}

impl Producers for iommu_inval_vtd::Vtd {
    type Events = iommu_inval_vtd::fault::FaultRecording;
    type Requests = iommu_inval_vtd::prq::PageRequestQueue;
    /// 256 fault recording registers (NFR = 255): 256 faults per pass.
    fn events() -> (Self::Events, usize, usize) {
        let q = Self::Events {
            base: AT,
            nfr: 255,
            ..Default::default()
        };
        (q, 256, 256 * 16)
    }
    /// PQS = 4: 2048 descriptors.
    fn requests() -> (Self::Requests, usize, usize) {
        let q = Self::Requests {
            pqa: AT | 4,
            ..Default::default()
        };
        (q, N, 2048 * 32)
    }
}

impl Producers for iommu_inval_amd::AmdVi {
    type Events = iommu_inval_amd::event::GuestLog<iommu_inval_amd::event::EventRecord>;
    type Requests = iommu_inval_amd::event::GuestLog<iommu_inval_amd::ppr::PprRecord>;
    /// EventLen = 11 (2048 entries), EventLogEn.
    fn events() -> (Self::Events, usize, usize) {
        (Self::Events::new(11 << 56 | AT, 1 << 2), N, 2048 * 16)
    }
    /// PPRLogLen = 11, PPRLogEn.
    fn requests() -> (Self::Requests, usize, usize) {
        (Self::Requests::new(11 << 56 | AT, 1 << 13), N, 2048 * 16)
    }
}

impl Producers for iommu_inval_riscv::RiscV {
    type Events = iommu_inval_riscv::fault::GuestQueue<iommu_inval_riscv::fault::FaultRecord>;
    type Requests = iommu_inval_riscv::fault::GuestQueue<iommu_inval_riscv::pq::PageRequest>;
    /// `fqb` LOG2SZ-1 = 10 (2048 records), `fqen`.
    fn events() -> (Self::Events, usize, usize) {
        let mut q = Self::Events::new(AT >> 2 | 10, false);
        q.write_csr(1);
        (q, N, 2048 * 32)
    }
    fn requests() -> (Self::Requests, usize, usize) {
        let mut q = Self::Requests::new(AT >> 2 | 10, false);
        q.write_csr(1);
        (q, N, 2048 * 16)
    }
}

/// `n` of `records` offered to a fresh `queue` over `bytes` of zeroed
/// guest memory (made outside the timing), every one written.
fn bench_offer<Q: RecordQueue + Copy>(
    b: Bencher,
    (queue, n, bytes): (Q, usize, usize),
    records: &[Q::Record],
) {
    let records = records.get(..n).unwrap_or(records);
    b.counter(ItemsCount::new(records.len()))
        .with_inputs(|| vec![0u8; bytes])
        .bench_local_values(|mut ram| {
            let mem = CellMemory::new(AT, &mut ram);
            let mut q = queue;
            let mut written = 0usize;
            for r in records {
                written += usize::from(
                    q.offer(black_box(&mem), r, false)
                        .is_ok_and(|d| d.written()),
                );
            }
            assert_eq!(written, records.len());
            (q, ram)
        });
}

/// `A`'s producers offered its `pri` records.
fn bench_producer<A: Producers>(b: Bencher, pri: bool) {
    let s = set::<A>(pri);
    let mut events = Vec::new();
    let mut requests = Vec::new();
    for r in s.records {
        match r {
            Record::Event(e) => events.push(e),
            Record::PageRequest(p) => requests.push(p),
        }
    }
    if pri {
        bench_offer(b, A::requests(), &requests);
    } else {
        bench_offer(b, A::events(), &events);
    }
}

/// `case` = what / queue: `decode`, `encode`, `lift`, `lower` or `offer`
/// of the `event` or `page_request` records of `A`.
fn bench_case<A: Producers>(b: Bencher, case: &str) {
    let pri = case.ends_with("page_request");
    match case.split('/').next() {
        Some("decode") => bench_decode::<A>(b, pri),
        Some("encode") => bench_encode::<A>(b, pri),
        Some("offer") => bench_producer::<A>(b, pri),
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
                    "offer/event", "offer/page_request",
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
