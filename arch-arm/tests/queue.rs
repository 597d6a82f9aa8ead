//! CMDQ consumer: empty, full, wrap-around, error stop (CERROR_ILL and
//! CERROR_ABT at the right index), register decoding.

use iommu_inval_arm::queue::HwError;
use iommu_inval_arm::queue::*;
use iommu_inval_arm::Command;
use iommu_inval_core::device::{CommandQueue, Fault, FaultCause, QueueEngine};
use iommu_inval_core::NativeCommand;
use iommu_inval_core::{DecodeError, ErrorKind, MemError, SliceMemory};

const BASE: u64 = 0x8000;

/// A queue image of `n` entries; entry i holds `cmds[i]`.
fn image(cmds: &[[u64; 2]]) -> Vec<u8> {
    let mut b = Vec::new();
    for w in cmds {
        b.extend_from_slice(&w[0].to_le_bytes());
        b.extend_from_slice(&w[1].to_le_bytes());
    }
    b
}

/// CMD_TLBI_NH_ALL with vmid `v`: a command whose words tell the entries apart.
fn nh_all(v: u64) -> [u64; 2] {
    [0x10 | v << 32, 0]
}

/// What a decode-only consumption of the queue did: the new CONS, the
/// commands handed over and the error it stopped at.
#[derive(Debug)]
struct Consumed {
    cons: u32,
    count: u32,
    error: Option<CmdqError>,
}

/// The fault, as CMDQ_CONS.ERR and its cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CmdqError {
    code: u8,
    rd: u32,
    hw: HwError,
    decode: Option<DecodeError>,
    mem: Option<MemError>,
}

/// `f` with the CMDQ_CONS.ERR the front end wrote (`CERROR_NONE` for an
/// MSI abort, which leaves CONS.ERR alone).
fn cmdq_error(f: Fault<HwError>, code: u8) -> CmdqError {
    CmdqError {
        code,
        rd: f.position as u32,
        hw: f.hw,
        decode: match f.cause {
            FaultCause::Decode(d) => Some(d),
            _ => None,
        },
        mem: match f.cause {
            FaultCause::Fetch(m) => Some(m),
            _ => None,
        },
    }
}

/// The front end consuming, decode only, from `cons` to `prod`.
fn consume(
    q: &Cmdq,
    mem: &SliceMemory<'_>,
    prod: u32,
    cons: u32,
    mut f: impl FnMut(u32, &Command),
) -> Consumed {
    let mut d = CmdqDevice::new(*q, cons, prod);
    let p = d.consume(mem, |c| f(c.position as u32, &c.command));
    Consumed {
        cons: d.cons,
        count: p.consumed,
        error: p.fault.map(|f| cmdq_error(f, d.cons_err())),
    }
}

fn walk(q: &Cmdq, bytes: &[u8], prod: u32, cons: u32) -> (Consumed, Vec<(u32, u16)>) {
    let mem = SliceMemory::new(BASE, bytes);
    let mut seen = Vec::new();
    let r = consume(q, &mem, prod, cons, |rd, c| match c {
        Command::TlbiNhAll(x) => seen.push((rd, x.vmid)),
        other => seen.push((rd, 0xffff ^ u16::from(other.opcode()))),
    });
    (r, seen)
}

#[test]
fn empty_queue_consumes_nothing() {
    let q = Cmdq::new(BASE, 2);
    let bytes = image(&[nh_all(0), nh_all(1), nh_all(2), nh_all(3)]);
    for ptr in [0u32, 3, 4, 7] {
        let (r, seen) = walk(&q, &bytes, ptr, ptr);
        assert_eq!((r.cons, r.count, r.error), (ptr, 0, None));
        assert!(seen.is_empty());
        assert_eq!(q.ring().pending(ptr, ptr), 0);
    }
}

#[test]
fn full_queue_consumes_every_entry() {
    // 4 entries, CONS index 1 wrap 0, PROD index 1 wrap 1: full.
    let q = Cmdq::new(BASE, 2);
    let bytes = image(&[nh_all(0), nh_all(1), nh_all(2), nh_all(3)]);
    assert_eq!(q.ring().free(0b001, 0b101), 0);
    let (r, seen) = walk(&q, &bytes, 0b101, 0b001);
    assert_eq!(seen, [(0b001, 1), (0b010, 2), (0b011, 3), (0b100, 0)]);
    assert_eq!((r.cons, r.count, r.error), (0b101, 4, None));
}

#[test]
fn wrap_around() {
    // 8 entries; CONS = 6 (wrap 0), PROD = 2 with wrap 1: entries 6, 7, 0, 1.
    let q = Cmdq::new(BASE, 3);
    let bytes = image(&(0..8).map(nh_all).collect::<Vec<_>>());
    let (r, seen) = walk(&q, &bytes, 0b1010, 0b0110);
    assert_eq!(seen, [(6, 6), (7, 7), (0b1000, 0), (0b1001, 1)]);
    assert_eq!(r.cons, 0b1010);
    // And back: CONS = 14 (index 6, wrap 1), PROD = 1 (wrap 0).
    let (r, seen) = walk(&q, &bytes, 0b0001, 0b1110);
    assert_eq!(seen, [(0b1110, 6), (0b1111, 7), (0, 0)]);
    assert_eq!(r.cons, 1);
}

#[test]
fn stops_at_an_illegal_command_with_cerror_ill() {
    let q = Cmdq::new(BASE, 3);
    let mut cmds: Vec<_> = (0..8).map(nh_all).collect();
    cmds[1] = [0x46 | 3 << 12, 0]; // CMD_SYNC cs = 3: ILLEGAL
    let bytes = image(&cmds);
    // From index 6 (wrap 0) to 3 (wrap 1): 6, 7, 0 consumed, stop at 1.
    let (r, seen) = walk(&q, &bytes, 0b1011, 0b0110);
    assert_eq!(seen, [(6, 6), (7, 7), (0b1000, 0)]);
    assert_eq!(r.count, 3);
    assert_eq!(r.cons, (u32::from(CERROR_ILL) << 24) | 0b1001);
    let e = r.error.unwrap();
    assert_eq!(
        (e.code, e.rd, e.hw),
        (CERROR_ILL, 0b1001, HwError::CerrorIll)
    );
    assert_eq!(e.decode.map(|d| d.kind), Some(ErrorKind::InvalidField));
    assert_eq!((e.hw, e.code), (HwError::CerrorIll, CERROR_ILL));
    // Reserved bit and unknown opcode also stop with CERROR_ILL.
    for bad in [[0x10 | 1 << 10, 0], [0x99, 0]] {
        cmds[1] = bad;
        let (r, _) = walk(&q, &image(&cmds), 0b1011, 0b0110);
        assert_eq!(r.cons, (1 << 24) | 0b1001);
    }
}

#[test]
fn stops_at_a_fetch_abort_with_cerror_abt() {
    // 8 entries but only 5 are backed by memory: entry 5 cannot be read.
    let q = Cmdq::new(BASE, 3);
    let bytes = image(&(0..5).map(nh_all).collect::<Vec<_>>());
    let (r, seen) = walk(&q, &bytes, 7, 3);
    assert_eq!(seen, [(3, 3), (4, 4)]);
    assert_eq!(r.cons, (u32::from(CERROR_ABT) << 24) | 5);
    let e = r.error.unwrap();
    assert_eq!((e.code, e.hw), (CERROR_ABT, HwError::CerrorAbt));
    assert_eq!(e.mem.map(|m| m.addr), Some(BASE + 5 * 16));
}

#[test]
fn error_bits_of_cons_and_high_bits_of_prod() {
    let q = Cmdq::new(BASE, 2);
    let bytes = image(&[nh_all(0), nh_all(1), nh_all(2), nh_all(3)]);
    // A previous ERR stays when nothing fails; bits above the wrap bit are ignored.
    let (r, seen) = walk(&q, &bytes, 0xfff0_0002, 2 << 24);
    assert_eq!(seen.len(), 2);
    assert_eq!(r.cons, (2 << 24) | 2);
}

#[test]
fn base_register_and_limits() {
    // ADDR [55:5], LOG2SIZE [4:0]; RA (bit 62) and bits above 55 ignored.
    let base = |reg: u64| CmdqDevice::from_registers(reg, 0, 0).unwrap().cmdq;
    let q = base(0x4000_0000_1234_0005 | 1 << 62);
    assert_eq!(q.log2size, 5);
    assert_eq!(q.base, 0x1234_0000); // aligned to 32 entries * 16 bytes
    assert_eq!(q.ring().entries(), 32);
    // LOG2SIZE above 19 is taken as 19.
    let q = base(0x1f);
    assert_eq!(q.log2size, MAX_LOG2SIZE);
    // A one-entry queue: base aligned to 32 bytes.
    let q = Cmdq::new(0x1010, 0);
    assert_eq!(q.base, 0x1000);
    assert_eq!(q.ring().free(0, 1), 0);
    assert_eq!(q.ring().next(1), 0);
}

#[test]
fn iterator_matches_consume() {
    let q = Cmdq::new(BASE, 3);
    let mut cmds: Vec<_> = (0..8).map(nh_all).collect();
    cmds[2] = [0, 0];
    let bytes = image(&cmds);
    let mem = SliceMemory::new(BASE, &bytes);
    let mut d = CmdqDevice::new(q, 0b0111, 0b1100);
    let items: Vec<_> = d.commands(&mem).collect();
    let code = d.cons_err();
    let items: Vec<_> = items
        .into_iter()
        .map(|i| i.map_err(|f| cmdq_error(f, code)))
        .collect();
    assert_eq!(items.len(), 4); // 7, 0, 1, then the error at 2
    assert!(items[..3].iter().all(|i| i.is_ok()));
    match &items[3] {
        Err(e) => assert_eq!((e.code, e.rd), (CERROR_ILL, 0b1010)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn never_panics_on_any_registers() {
    let bytes = image(&(0..16).map(nh_all).collect::<Vec<_>>());
    let mem = SliceMemory::new(BASE, &bytes);
    for log2 in [0u8, 1, 4, 19, 31, 255] {
        let q = Cmdq::new(BASE, log2);
        for (p, c) in [
            (0u32, 0u32),
            (u32::MAX, 0),
            (0, u32::MAX),
            (12345, 54321),
            (1 << 20, 3),
        ] {
            let r = consume(&q, &mem, p, c, |_, _| {});
            // A PROD more than a queue ahead of CONS is software's error: the
            // walk still ends when RD reaches WR.
            assert!(u64::from(r.count) < 2 * q.ring().entries());
        }
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The consumer agrees with decoding the entries one by one: it hands
        /// over exactly the valid prefix and stops at the first bad entry.
        #[test]
        fn consume_matches_decoding_each_entry(
            raw in proptest::collection::vec((any::<u8>(), any::<u64>(), any::<u64>(), any::<bool>()), 16),
            prod in any::<u32>(),
            cons in any::<u32>(),
            log2 in 0u8..5,
        ) {
            // Half of the entries are made valid (CMD_SYNC cs = 0 with MSI data).
            let cmds: Vec<[u64; 2]> = raw
                .iter()
                .map(|&(op, a, b, good)| if good { [0x46 | (a & 0xffff_ffff_0000_0000), 0] } else { [(a & !0xff) | u64::from(op), b] })
                .collect();
            let bytes = image(&cmds);
            let q = Cmdq::new(BASE, log2);
            let mem = SliceMemory::new(BASE, &bytes);
            let mut seen = Vec::new();
            let r = consume(&q, &mem, prod, cons, |rd, _| seen.push(rd));
            let mut rd = q.ring().pos(cons);
            let mut expect = Vec::new();
            let mut stop = None;
            for _ in 0..q.ring().pending(cons, prod) {
                let w = cmds[q.ring().index(rd) as usize];
                if Command::decode(&w).is_err() {
                    stop = Some(rd);
                    break;
                }
                expect.push(rd);
                rd = q.ring().next(rd);
            }
            prop_assert_eq!(&seen, &expect);
            match stop {
                Some(bad) => {
                    prop_assert_eq!(r.cons, (1 << 24) | bad);
                    prop_assert_eq!(r.error.map(|e| e.rd), Some(bad));
                }
                None => {
                    prop_assert_eq!(r.cons & 0xf_ffff, q.ring().pos(prod));
                    prop_assert!(r.error.is_none());
                }
            }
        }
    }
}
