//! Structure-aware fuzz input (feature `arbitrary`).
//!
//! [`Command`]'s `Arbitrary` gives valid commands only, with field values
//! biased to the edges: 0, the field maximum, range-encoding edges
//! (`num`/`scale` 0 and 31, ATC `size` 0/51/52, STE `range` 30) and
//! all-ones addresses. [`arbitrary_words`] gives raw words that often hit
//! the invalid encodings: reserved bits, unknown opcodes, ILLEGAL fields.

use crate::cmd::{bits, Command, OP_NAMES};
use arbitrary::{Arbitrary, Result, Unstructured};

/// A field value biased to the edges of `bf`.
fn edge_value(u: &mut Unstructured<'_>, bf: bits::Bf) -> Result<u64> {
    // The largest value of the field (for an address: its mask).
    let max = if bf.addr {
        bf.mask()
    } else {
        (1u64 << bf.width) - 1
    };
    let v = match u.int_in_range(0u8..=7)? {
        0 => 0,
        1 => max,
        2 if bf.addr => max & 0xffff_ffff_ffff_f000,
        2 => max >> 1,
        3 if bf.addr => (u64::arbitrary(u)? & max) | (max & 0x0000_0000_001f_f000),
        3 => 1.min(max),
        4 if bf.width == 6 => *u.choose(&[51u64, 52, 53, 63])?,
        4 if bf.width == 5 => *u.choose(&[30u64, 31, 1, 16])?,
        _ => u64::arbitrary(u)?,
    };
    Ok(if bf.addr { v & bf.mask() } else { v & max })
}

/// Make the words of op `name` valid (the field rules of `Command::check_values`).
fn fix(w: &mut [u64; 2]) {
    use bits::*;
    let op = w[0] & 0xff;
    let clear = |w: &mut [u64; 2], bf: Bf| w[(bf.word & 1) as usize] &= !bf.mask();
    match op {
        0x12 | 0x13 | 0x1a | 0x22 | 0x23 | 0x2a | 0x52 | 0x53 | 0x5a => {
            if TG.get(w) == 0 {
                clear(w, NUM);
                clear(w, SCALE);
                clear(w, TTL);
            } else if NUM.get(w) == 0 && SCALE.get(w) == 0 {
                // A level hint makes a one-granule range legal.
                clear(w, TTL);
                TTL.put(w, 3);
            }
            if TTL.get(w) == 0 {
                // TTL128 is RES0 without a level hint (IHI0070 §4.4.1.1).
                clear(w, TTL128);
            }
        }
        // NS is RES0 with SSec = 0 (IHI0070 §4.2.2).
        0x02 if SSEC.get(w) == 0 => clear(w, PF_NS),
        0x46 if CS.get(w) == 3 => clear(w, CS),
        0x41 if PRI_RESP.get(w) == 3 => clear(w, PRI_RESP),
        _ => {}
    }
}

/// Words of op `name` built from raw values `r0`, `r1`: every field of the
/// op filled from them (cut to its bits), then the field rules applied, so
/// that they decode (CMD_CFGI_STE_RANGE keeps `range` below 31, which is
/// CMD_CFGI_ALL). `None` for an unknown op. The property tests' generator
/// of valid commands from two random words.
pub fn valid_words(name: &str, r0: u64, r1: u64) -> Option<[u64; 2]> {
    let (defs, _, opcode, fixed1) = Command::fields_of(name)?;
    let m = crate::cmd::valid_mask(defs, fixed1);
    let mut w = [
        u64::from(opcode) | (r0 & m[0] & !0xff),
        fixed1 | (r1 & m[1]),
    ];
    fix(&mut w);
    if name == "CMD_CFGI_STE_RANGE" && bits::RANGE.get(&w) == 31 {
        w[1] &= !1;
    }
    Some(w)
}

impl<'a> Arbitrary<'a> for Command {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let name = *u.choose(OP_NAMES)?;
        let (defs, _, opcode, fixed1) =
            Command::fields_of(name).ok_or(arbitrary::Error::IncorrectFormat)?;
        let mut w = [u64::from(opcode), fixed1];
        for d in defs {
            let v = edge_value(u, d.bf)?;
            d.bf.put(&mut w, v);
        }
        fix(&mut w);
        Command::decode_words(&w).map_err(|_| arbitrary::Error::IncorrectFormat)
    }
}

/// Raw command words for fuzzing the decoder: a valid command, often with
/// one defect (a reserved bit, an unknown opcode, an ILLEGAL field value),
/// or plain random words.
pub fn arbitrary_words(u: &mut Unstructured<'_>) -> Result<[u64; 2]> {
    let mut w = match u.int_in_range(0u8..=9)? {
        0 => return Ok([u.arbitrary()?, u.arbitrary()?]),
        _ => Command::arbitrary(u)?.encode(),
    };
    match u.int_in_range(0u8..=6)? {
        0 => {
            // A reserved bit of this op.
            let c = Command::decode_words(&w).map_err(|_| arbitrary::Error::IncorrectFormat)?;
            let (defs, _, _, fixed1) =
                Command::fields_of(c.op_name()).ok_or(arbitrary::Error::IncorrectFormat)?;
            let mask = crate::cmd::valid_mask(defs, fixed1);
            let word = usize::from(u.int_in_range(0u8..=1)?);
            let free = !mask[word];
            if free != 0 {
                let k = u.int_in_range(0..=free.count_ones() - 1)?;
                let mut rest = free;
                for _ in 0..k {
                    rest &= rest - 1;
                }
                w[word] |= rest & rest.wrapping_neg();
            }
        }
        1 => w[0] = (w[0] & !0xff) | u64::from(u8::arbitrary(u)?),
        2 => {
            use bits::*;
            // ILLEGAL values: tg = 0 with num/scale/ttl, num = scale = ttl = 0 with tg, cs = 3, resp = 3.
            match w[0] & 0xff {
                0x12 | 0x13 | 0x1a | 0x22 | 0x23 | 0x2a | 0x52 | 0x53 | 0x5a => {
                    w[1] &= !(TG.mask() | TTL.mask());
                    w[0] &= !(NUM.mask() | SCALE.mask());
                    if bool::arbitrary(u)? {
                        TG.put(&mut w, u.int_in_range(1..=3)?);
                    } else {
                        NUM.put(&mut w, u.int_in_range(1..=31)?);
                    }
                }
                0x46 => CS.put(&mut w, 3),
                0x41 => PRI_RESP.put(&mut w, 3),
                _ => {}
            }
        }
        _ => {}
    }
    Ok(w)
}
