//! Invalidation queue consumer: walking, wrap-around, error stops.

use iommu_inval_core::device::{CommandQueue, Fault, FaultCause, QueueEngine};
use iommu_inval_core::ring::RingRegs;
use iommu_inval_core::NativeCommand;
use iommu_inval_core::{DecodeError, ErrorKind, MemError, SliceMemory};
use iommu_inval_vtd::queue::HwError;
use iommu_inval_vtd::queue::{InvQueue, Iqa};
use iommu_inval_vtd::{Command, Features};

/// Why the walk stopped with an invalidation queue error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IqeReason {
    BadTail,
    BadHead,
    Fetch(MemError),
    Descriptor(DecodeError),
}

/// An invalidation queue error: the head where the front end stopped, why,
/// and what it recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IqError {
    head: u64,
    reason: IqeReason,
    hw: HwError,
    /// IQERCD_REG.IQEI as recorded.
    iqei: u8,
}

impl IqError {
    fn hw(&self) -> HwError {
        self.hw
    }
    fn iqei(&self) -> u8 {
        self.iqei
    }
}

/// The front end walking decode only, from IQH `head` to IQT `tail`.
struct Walker<'m> {
    q: InvQueue,
    mem: &'m SliceMemory<'m>,
}

impl<'m> Walker<'m> {
    fn new(mem: &'m SliceMemory<'m>, iqa: Iqa, head: u64, tail: u64) -> Self {
        let q = InvQueue::from_registers(iqa.to_reg(), head, tail).unwrap();
        Walker { q, mem }
    }
    fn with_mamv(self, mamv: u8) -> Self {
        Walker {
            q: self.q.with_features(Features {
                mamv,
                ..Features::LATEST
            }),
            mem: self.mem,
        }
    }
    fn head(&self) -> u64 {
        self.q.iqh
    }
    fn error(&self, f: Fault<HwError>) -> IqError {
        let reason = match f.cause {
            FaultCause::BadPointer(v) if v == self.q.tail_register() => IqeReason::BadTail,
            FaultCause::BadPointer(_) => IqeReason::BadHead,
            FaultCause::Fetch(m) => IqeReason::Fetch(m),
            FaultCause::Decode(d) => IqeReason::Descriptor(d),
            other => panic!("{other:?}"),
        };
        IqError {
            head: f.position,
            reason,
            hw: f.hw,
            iqei: (self.q.iqercd & 0xf) as u8,
        }
    }
}

impl Iterator for Walker<'_> {
    type Item = Result<(u64, Command), IqError>;
    fn next(&mut self) -> Option<Self::Item> {
        let item = self.q.commands(self.mem).next()?;
        Some(match item {
            Ok(c) => Ok((c.position, c.command)),
            Err(f) => Err(self.error(f)),
        })
    }
}

fn walk(
    mem: &SliceMemory<'_>,
    iqa: Iqa,
    head: u64,
    tail: u64,
    mut f: impl FnMut(u64, &Command),
) -> Result<u64, IqError> {
    let mut w = Walker::new(mem, iqa, head, tail);
    for item in w.by_ref() {
        let (at, c) = item?;
        f(at, &c);
    }
    Ok(w.head())
}

const BASE: u64 = 0x10_0000;

/// A one-page queue at BASE with `descs` (each 2 or 4 words) written from byte offset `at`.
fn queue(descs: &[&[u64]], at: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; 4096];
    let mut off = at;
    for d in descs {
        for w in d.iter() {
            let o = off % 4096;
            bytes[o..o + 8].copy_from_slice(&w.to_le_bytes());
            off += 8;
        }
    }
    bytes
}

const WAIT: [u64; 2] = [0x45, 0]; // inv_wait, fence
const IOTLB_GLOBAL: [u64; 2] = [0x12, 0];
const BAD_TYPE: [u64; 2] = [0xa, 0];

#[test]
fn iqa_register_fields() {
    let iqa = Iqa::from_reg(0x1234_5000 | 1 << 11 | 3);
    assert_eq!((iqa.base, iqa.dw, iqa.qs), (0x1234_5000, true, 3));
    // The ring IQA_REG describes, as the queue reads it.
    let ring = |reg: u64| InvQueue::from_registers(reg, 0, 0).unwrap().ring();
    let r = ring(iqa.to_reg());
    assert_eq!(
        (r.size_bytes(), r.slot_bytes(), r.entries()),
        (8 * 4096, 32, 1024)
    );
    assert_eq!(iqa.to_reg(), 0x1234_5000 | 1 << 11 | 3);
    assert_eq!(ring(Iqa::from_reg(0).to_reg()).entries(), 256);
}

#[test]
fn walks_head_to_tail_128() {
    let bytes = queue(&[&IOTLB_GLOBAL, &WAIT], 0x20);
    let mem = SliceMemory::new(BASE, &bytes);
    let mut seen = Vec::new();
    let head = walk(&mem, Iqa::from_reg(BASE), 0x20, 0x40, |at, c| {
        seen.push((at, c.op()))
    })
    .unwrap();
    assert_eq!(head, 0x40);
    assert_eq!(seen, [(0x20, "iotlb_inv_dsc"), (0x30, "inv_wait_dsc")]);
    // Empty queue: nothing.
    assert_eq!(
        walk(&mem, Iqa::from_reg(BASE), 0x40, 0x40, |_, _| panic!()),
        Ok(0x40)
    );
}

#[test]
fn wraps_at_queue_end() {
    // 256-bit queue of one page: 128 descriptors; start at the last one.
    let last = 4096 - 32;
    let bytes = queue(&[&[0x12, 0, 0, 0], &[0x45, 0, 0, 0], &[0x9, 0, 7, 8]], last);
    let mem = SliceMemory::new(BASE, &bytes);
    let iqa = Iqa::from_reg(BASE | 1 << 11);
    let mut seen = Vec::new();
    let head = walk(&mem, iqa, last as u64, 0x40, |at, c| seen.push((at, *c))).unwrap();
    assert_eq!(head, 0x40);
    let at: Vec<_> = seen.iter().map(|s| s.0).collect();
    assert_eq!(at, [last as u64, 0, 0x20]);
    assert!(seen.iter().all(|s| s.1.is_wide()));
    assert!(matches!(seen[2].1, Command::PageGrpResp(p) if p.priv_data == Some([7, 8])));
}

#[test]
fn stops_at_first_bad_descriptor_with_head_on_it() {
    let bytes = queue(&[&WAIT, &BAD_TYPE, &WAIT], 0);
    let mem = SliceMemory::new(BASE, &bytes);
    let mut n = 0;
    let e = walk(&mem, Iqa::from_reg(BASE), 0, 0x30, |_, _| n += 1).unwrap_err();
    assert_eq!(n, 1);
    assert_eq!(e.head, 0x10);
    assert_eq!(
        e.reason,
        IqeReason::Descriptor(DecodeError::unknown_opcode(0xa))
    );
    assert_eq!(e.hw(), HwError::Iqe);
    // The iterator stops too, and reports the head.
    let mut it = Walker::new(&mem, Iqa::from_reg(BASE), 0, 0x30);
    assert!(matches!(it.next(), Some(Ok((0, _)))));
    assert!(matches!(it.next(), Some(Err(_))));
    assert!(it.next().is_none());
    assert_eq!(it.head(), 0x10);
}

#[test]
fn reserved_upper_words_in_256_bit_queue() {
    let bytes = queue(&[&[0x45, 0, 0, 1]], 0);
    let mem = SliceMemory::new(BASE, &bytes);
    let e = walk(&mem, Iqa::from_reg(BASE | 1 << 11), 0, 0x20, |_, _| {}).unwrap_err();
    assert_eq!(
        (e.head, e.reason),
        (0, IqeReason::Descriptor(DecodeError::reserved(3, 1)))
    );
    // The same bytes as a 128-bit queue: two descriptors, the second (w2, w3) invalid type 0.
    let e = walk(&mem, Iqa::from_reg(BASE), 0, 0x20, |_, _| {}).unwrap_err();
    assert_eq!(e.head, 0x10);
    assert!(matches!(e.reason, IqeReason::Descriptor(d) if d.kind == ErrorKind::UnknownOpcode));
}

#[test]
fn misaligned_tail_with_256_bit_descriptors() {
    let bytes = queue(&[&[0x45, 0, 0, 0]], 0);
    let mem = SliceMemory::new(BASE, &bytes);
    let e = walk(&mem, Iqa::from_reg(BASE | 1 << 11), 0, 0x10, |_, _| {
        panic!("nothing fetched")
    })
    .unwrap_err();
    assert_eq!((e.head, e.reason), (0, IqeReason::BadTail));
    // A tail beyond a one-page queue.
    let e = walk(&mem, Iqa::from_reg(BASE), 0, 0x1000, |_, _| {}).unwrap_err();
    assert_eq!(e.reason, IqeReason::BadTail);
    // Bits outside [18:4] of the registers are ignored.
    assert_eq!(
        walk(&mem, Iqa::from_reg(BASE), 0x8_0000, 0x8_0000, |_, _| {}),
        Ok(0)
    );
}

#[test]
fn fetch_error_stops() {
    let bytes = vec![0u8; 16]; // only the first descriptor is backed
    let mem = SliceMemory::new(BASE, &bytes);
    let e = walk(&mem, Iqa::from_reg(BASE), 0, 0x20, |_, _| {});
    // The first slot is zero: type 0, invalid.
    assert!(matches!(e, Err(ref x) if x.head == 0));
    let e = walk(&mem, Iqa::from_reg(BASE), 0x10, 0x20, |_, _| {}).unwrap_err();
    assert_eq!(
        (e.head, e.reason),
        (0x10, IqeReason::Fetch(MemError::read(BASE + 0x10)))
    );
}

#[test]
fn iqei_codes() {
    let bytes = queue(&[&WAIT, &BAD_TYPE, &[0x131, 0], &[0x32, 0x7]], 0);
    let mem = SliceMemory::new(BASE, &bytes);
    let iqa = Iqa::from_reg(BASE);
    let code = |h: u64, t: u64| walk(&mem, iqa, h, t, |_, _| {}).unwrap_err().iqei();
    assert_eq!(code(0x10, 0x20), 3); // invalid type
    assert_eq!(code(0x20, 0x30), 4); // reserved bit of a valid type
    assert_eq!(code(0, 0x2000), 1); // tail outside the queue
    let small = SliceMemory::new(BASE, &bytes[..16]);
    assert_eq!(
        walk(&small, iqa, 0x10, 0x20, |_, _| {}).unwrap_err().iqei(),
        2
    );
    // am 7 above MAMV 6: refused only when the walker knows MAMV.
    assert_eq!(walk(&mem, iqa, 0x30, 0x40, |_, _| {}), Ok(0x40));
    let mut w = Walker::new(&mem, iqa, 0x30, 0x40).with_mamv(6);
    let e = w.next().unwrap().unwrap_err();
    assert_eq!((e.head, e.iqei()), (0x30, 4));
    assert!(matches!(e.reason, IqeReason::Descriptor(d) if d.field == "am (above CAP_REG.MAMV)"));
}
