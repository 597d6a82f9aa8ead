//! The guest record queues (issue 32 item 3): every producer of every
//! architecture (SMMUv3 event and PRI queues, VT-d fault recording
//! registers and page request queue, AMD-Vi event and PPR logs, RISC-V
//! fault and page-request queues) from arbitrary register values, offered
//! arbitrary valid records interleaved with what the guest does (consume
//! records, acknowledge overflows and aborts, clear status bits, write its
//! control registers); the input also chooses which record writes guest
//! memory refuses.
//!
//! Input: a selector byte (the queue), then the registers and the steps.
//! Checks, on every offer:
//! * nothing is written outside the queue's slots, and something is
//!   written exactly when the record is `Written` (or the write aborted);
//! * a queue that held at most its capacity still does (the tail never
//!   passes the head);
//! * `Full` exactly when the queue takes records, no slot is free and the
//!   record is not kept; the overflow is then flagged, `flagged` exactly
//!   when none was pending; a record written, kept or dropped otherwise
//!   changes no overflow flag;
//! * a refused write is `Aborted` (never `Written`); it flags the abort
//!   where the architecture names a flag (SMMUv3 GERROR, RISC-V `fqmf` /
//!   `pqmf`) and nothing where it does not (VT-d, AMD-Vi); while the abort
//!   is pending the queue is `Stopped` (a kept record `Err(Full)`), and no
//!   other outcome changes the abort flag;
//! * an interrupt only with the queue's interrupt enabled (or unmasked),
//!   never for a disabled queue; an automatic response only for a record
//!   not written.
//!
//! Never panics.
#![no_main]

use arbitrary::{Result, Unstructured};
use iommu_inval_core::device::ProduceError;
use iommu_inval_core::event::{Fate, RecordQueue};
use iommu_inval_core::ring::RingRegs;
use iommu_inval_core::{MemError, QueueMemory};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

/// Guest memory at `BASE`, logging every write, refusing every write
/// while `refuse` is set.
struct Mem {
    bytes: RefCell<Vec<u8>>,
    writes: RefCell<Vec<(u64, usize)>>,
    refuse: core::cell::Cell<bool>,
}

const BASE: u64 = 0x1_0000;
const SIZE: usize = 0x4000;

impl Mem {
    fn at(&self, addr: u64, n: usize) -> Option<usize> {
        let off = usize::try_from(addr.checked_sub(BASE)?).ok()?;
        (off.checked_add(n)? <= SIZE).then_some(off)
    }
}

impl QueueMemory for Mem {
    fn read_words(&self, addr: u64, out: &mut [u64]) -> core::result::Result<(), MemError> {
        let off = self.at(addr, out.len() * 8).ok_or(MemError::read(addr))?;
        let b = self.bytes.borrow();
        for (i, w) in out.iter_mut().enumerate() {
            let mut le = [0u8; 8];
            le.copy_from_slice(&b[off + 8 * i..off + 8 * i + 8]);
            *w = u64::from_le_bytes(le);
        }
        Ok(())
    }
    fn write_bytes(&self, addr: u64, bytes: &[u8]) -> core::result::Result<(), MemError> {
        self.writes.borrow_mut().push((addr, bytes.len()));
        if self.refuse.get() {
            return Err(MemError::write(addr));
        }
        let off = self.at(addr, bytes.len()).ok_or(MemError::write(addr))?;
        self.bytes.borrow_mut()[off..off + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }
}

/// What the checks need to know of one kind of queue.
struct Spec<Q> {
    /// Where its slots start and how many bytes they take (addresses
    /// wrap at 2^64, as the ring's do).
    region: fn(&Q) -> (u64, u64),
    /// Whether an interrupt may be raised for a record of this fate
    /// (enabled, unmasked).
    irq: fn(&Q, &Fate) -> bool,
    /// Whether the queue flags a failed write (and then stops).
    aborts: bool,
    /// Records held and capacity, for a ring.
    held: fn(&Q) -> Option<(u64, u64)>,
    /// The guest consumes (`x` says how much, or which register).
    consume: fn(&mut Q, &Mem, u32),
    /// The guest writes its control / status registers with `x`.
    write: fn(&mut Q, &Mem, u32),
}

/// The region of a ring.
fn ring_region<Q: RingRegs>(q: &Q) -> (u64, u64) {
    let r = q.ring();
    (r.slot_addr(0), r.size_bytes())
}

fn ring_held<Q: RingRegs>(q: &Q) -> Option<(u64, u64)> {
    let r = q.ring();
    Some((u64::from(r.pending(q.head(), q.tail())), r.capacity()))
}

/// The guest takes up to `k` records.
fn ring_consume<Q: RingRegs>(q: &mut Q, _: &Mem, k: u32) {
    let r = q.ring();
    let mut h = q.head();
    for _ in 0..(k % 8).min(r.pending(h, q.tail())) {
        h = r.next(h);
    }
    q.set_head(h);
}

fn drive<Q: RecordQueue>(u: &mut Unstructured, mem: &Mem, q: &mut Q, s: &Spec<Q>) -> Result<()>
where
    Q::Record: for<'a> arbitrary::Arbitrary<'a>,
{
    for _ in 0..u.int_in_range(1..=48)? {
        match u.int_in_range(0u8..=4)? {
            0..=2 => {
                let rec: Q::Record = u.arbitrary()?;
                let keep = u.ratio(1u8, 8)?;
                let refuse = u.ratio(1u8, 6)?;
                let before = q.overflow_pending();
                let aborted_before = q.abort_pending();
                let stopped = q.enabled() && aborted_before;
                let admits =
                    q.enabled() && !stopped && !(q.discards_while_overflowed() && before);
                let full = matches!(q.next_slot(mem), Ok(None));
                let ((lo, len), held) = ((s.region)(q), (s.held)(q));
                mem.writes.borrow_mut().clear();
                mem.refuse.set(refuse);
                let got = q.offer(mem, &rec, keep);
                mem.refuse.set(false);
                let writes = mem.writes.take();
                match got {
                    Err(ProduceError::Full) => {
                        assert!(keep && (stopped || (admits && full)));
                        assert_eq!(q.overflow_pending(), before);
                        assert_eq!(q.abort_pending(), aborted_before);
                        assert!(writes.is_empty());
                    }
                    Err(_) => assert!(writes.is_empty()),
                    Ok(d) => {
                        let is_full = matches!(d.fate, Fate::Full { .. });
                        assert_eq!(is_full, admits && full && !keep, "{:?}", d.fate);
                        assert_eq!(d.fate == Fate::Disabled, !q.enabled());
                        assert_eq!(d.fate == Fate::Stopped, stopped && !keep);
                        assert!(!(refuse && d.written()));
                        match d.fate {
                            Fate::Aborted(_) => assert_eq!(q.abort_pending(), s.aborts),
                            _ => assert_eq!(q.abort_pending(), aborted_before),
                        }
                        match d.fate {
                            Fate::Full { flagged } => {
                                assert_eq!(flagged, !before);
                                assert!(q.overflow_pending());
                            }
                            _ => assert_eq!(q.overflow_pending(), before),
                        }
                        assert!(!d.interrupt || (s.irq)(q, &d.fate), "{:?}", d.fate);
                        assert!(!(d.interrupt && d.fate == Fate::Disabled));
                        assert!(d.response.is_none() || !d.written());
                        match d.fate {
                            Fate::Written => assert!(!writes.is_empty()),
                            Fate::Aborted(_) => {}
                            _ => assert!(writes.is_empty()),
                        }
                        for (a, n) in writes {
                            let off = u128::from(a.wrapping_sub(lo));
                            assert!(off + n as u128 <= u128::from(len), "{a:#x} outside");
                        }
                    }
                }
                if let (Some((p0, c)), Some((p1, _))) = (held, (s.held)(q)) {
                    assert!(p0 > c || p1 <= c, "{p0} -> {p1} > {c}");
                }
            }
            3 => (s.consume)(q, mem, u.arbitrary()?),
            _ => (s.write)(q, mem, u.arbitrary()?),
        }
    }
    Ok(())
}

/// A base register value: usually a small queue in guest memory.
fn base(u: &mut Unstructured, small: u64, addr_shift: u32) -> Result<u64> {
    if u.ratio(1u8, 8)? {
        return u.arbitrary();
    }
    let off = u64::from(u.int_in_range(0u16..=0x3f)?) << 8;
    Ok(((BASE + off) >> addr_shift << addr_shift) | u.int_in_range(0..=small)?)
}

fn smmu<R>(u: &mut Unstructured, mem: &Mem) -> Result<()>
where
    iommu_inval_arm::GuestQueue<R>: RecordQueue + RingRegs,
    <iommu_inval_arm::GuestQueue<R> as RecordQueue>::Record: for<'a> arbitrary::Arbitrary<'a>,
{
    use iommu_inval_arm::GuestQueue;
    let mut q = GuestQueue::<R>::new(
        base(u, 3, 5)?,
        u.arbitrary()?,
        u.arbitrary()?,
        u.arbitrary()?,
    );
    (q.irqen, q.last_only) = (u.arbitrary()?, u.arbitrary()?);
    (q.gerror, q.gerrorn, q.gerror_irqen) = (u.arbitrary()?, u.arbitrary()?, u.arbitrary()?);
    let spec = Spec {
        region: ring_region,
        // GERROR_IRQEN for an aborted write (the GERROR interrupt).
        irq: |q: &GuestQueue<R>, f| match f {
            Fate::Aborted(_) => q.gerror_irqen,
            _ => q.irqen,
        },
        aborts: true,
        held: ring_held,
        consume: ring_consume,
        write: |q: &mut GuestQueue<R>, _, x| {
            // CONS.OVACKFLG acknowledges PROD.OVFLG, GERRORN what x says of
            // GERROR; CR0 and IRQ_CTRL bits.
            if x & 1 != 0 {
                q.cons = (q.cons & !(1 << 31)) | (q.prod & (1 << 31));
            }
            if x & 16 != 0 {
                q.gerrorn ^= (q.gerror ^ q.gerrorn) & (x >> 8);
            }
            (q.enabled, q.irqen, q.last_only) = (x & 2 != 0, x & 4 != 0, x & 8 != 0);
            q.gerror_irqen = x & 32 != 0;
        },
    };
    drive(u, mem, &mut q, &spec)
}

fn frcd(u: &mut Unstructured, mem: &Mem) -> Result<()> {
    use iommu_inval_vtd::fault::FaultRecording;
    let mut q = FaultRecording {
        base: base(u, 0, 4)?,
        nfr: u.int_in_range(0..=7)?,
        next: u.arbitrary()?,
        fsts: u.arbitrary()?,
        fectl: u.arbitrary()?,
    };
    let spec = Spec {
        region: |q: &FaultRecording| (q.base, 16 * (u64::from(q.nfr) + 1)),
        irq: |q: &FaultRecording, _| q.fectl & 1 << 31 == 0,
        aborts: false,
        held: |_| None,
        consume: |q: &mut FaultRecording, mem, x| {
            // The guest clears F of one register (RW1C), then PPF follows.
            let i = u64::from(x % (u32::from(q.nfr) + 1));
            let _ = mem.write_words(q.base.wrapping_add(16 * i + 8), &[0]);
            let _ = q.update_ppf(mem);
        },
        write: |q: &mut FaultRecording, _, x| {
            q.fsts &= !(x & 0x7f);
            q.fectl = (q.fectl & !(1 << 31)) | (x & 1 << 31);
        },
    };
    drive(u, mem, &mut q, &spec)
}

fn prq(u: &mut Unstructured, mem: &Mem) -> Result<()> {
    use iommu_inval_vtd::prq::PageRequestQueue;
    let mut q = PageRequestQueue {
        pqa: base(u, 0, 12)?,
        pqh: u.arbitrary()?,
        pqt: u.arbitrary()?,
        prs: u.arbitrary()?,
        pectl: u.arbitrary()?,
    };
    let spec = Spec {
        region: ring_region,
        irq: |q: &PageRequestQueue, _| q.pectl & 1 << 31 == 0,
        aborts: false,
        held: ring_held,
        consume: ring_consume,
        write: |q: &mut PageRequestQueue, _, x| {
            q.prs &= !(x & 3);
            q.pectl = (q.pectl & !(1 << 31)) | (x & 1 << 31);
        },
    };
    drive(u, mem, &mut q, &spec)
}

fn amd<R: iommu_inval_amd::event::LogRecord + for<'a> arbitrary::Arbitrary<'a>>(
    u: &mut Unstructured,
    mem: &Mem,
) -> Result<()> {
    use iommu_inval_amd::event::GuestLog;
    let mut q = GuestLog::<R>::new(
        base(u, 0, 12)? | u64::from(u.int_in_range(0u8..=15)?) << 56,
        u.arbitrary()?,
    );
    (q.head, q.tail, q.status) = (u.arbitrary()?, u.arbitrary()?, u.arbitrary()?);
    let spec = Spec {
        region: ring_region,
        irq: |q: &GuestLog<R>, _| q.control & R::INT_EN != 0,
        aborts: false,
        held: ring_held,
        consume: ring_consume,
        write: |q: &mut GuestLog<R>, _, x| {
            q.status &= !x; // RW1C
            q.control ^= u64::from(x >> 16) & (R::LOG_EN | R::INT_EN);
        },
    };
    drive(u, mem, &mut q, &spec)
}

fn riscv<R: iommu_inval_riscv::fault::QueueRecord + for<'a> arbitrary::Arbitrary<'a>>(
    u: &mut Unstructured,
    mem: &Mem,
) -> Result<()> {
    use iommu_inval_riscv::fault::GuestQueue;
    // PPN [53:10] of the page, LOG2SZ-1 small.
    let b = base(u, 0, 12)?;
    let mut q = GuestQueue::<R>::new(b >> 2 | u.int_in_range(0..=3)?, u.arbitrary()?);
    (q.head, q.tail, q.ipsr) = (u.arbitrary()?, u.arbitrary()?, u.arbitrary()?);
    q.write_csr(u.arbitrary()?);
    let spec = Spec {
        region: ring_region,
        irq: |q: &GuestQueue<R>, _| q.csr & 2 != 0,
        aborts: true,
        held: ring_held,
        consume: ring_consume,
        write: |q: &mut GuestQueue<R>, _, x| {
            q.write_csr(x);
            q.ipsr &= !(x >> 16);
        },
    };
    drive(u, mem, &mut q, &spec)
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mem = Mem {
        bytes: RefCell::new(vec![0; SIZE]),
        writes: RefCell::new(Vec::new()),
        refuse: core::cell::Cell::new(false),
    };
    let Ok(sel) = u.arbitrary::<u8>() else { return };
    let _ = match sel % 8 {
        0 => smmu::<iommu_inval_arm::EventRecord>(&mut u, &mem),
        1 => smmu::<iommu_inval_arm::PriRecord>(&mut u, &mem),
        2 => frcd(&mut u, &mem),
        3 => prq(&mut u, &mem),
        4 => amd::<iommu_inval_amd::event::EventRecord>(&mut u, &mem),
        5 => amd::<iommu_inval_amd::ppr::PprRecord>(&mut u, &mem),
        6 => riscv::<iommu_inval_riscv::fault::FaultRecord>(&mut u, &mem),
        _ => riscv::<iommu_inval_riscv::pq::PageRequest>(&mut u, &mem),
    };
});
