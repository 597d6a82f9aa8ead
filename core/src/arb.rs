//! Building blocks of the architectures' structure-aware fuzz input
//! (feature `arbitrary`): field values biased to their edges, and page
//! addresses in the PCIe ATS size encoding that several command formats
//! share (an address whose low set bits encode the size, with an `s` flag).

use crate::range::{ats_encode_block, Block};
use arbitrary::{Result, Unstructured};

/// A value in `0..=max` biased to its edges: 0, `max`, 1, `max >> 1`,
/// `(max >> 1) + 1`, or random below `max`.
pub fn edge(u: &mut Unstructured<'_>, max: u64) -> Result<u64> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => 0,
        1 => max,
        2 => 1.min(max),
        3 => max >> 1,
        4 => ((max >> 1) + 1).min(max),
        _ => u.arbitrary::<u64>()? & max,
    })
}

/// An (address, `s`) pair of an ATS-encoded page range, the address within
/// `mask` (a page-aligned mask): `all_pages` (with `s` = 1), `mask` or 0
/// (single pages), aligned blocks of every order, or random.
pub fn ats_addr_s(u: &mut Unstructured<'_>, all_pages: u64, mask: u64) -> Result<(u64, bool)> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => (all_pages, true),
        1 => (mask, u.arbitrary()?),
        2 => (0, u.arbitrary()?),
        3 | 4 => {
            let order = u.int_in_range(12u32..=64)?;
            let a = u.arbitrary::<u64>()?;
            let addr = if order >= 64 {
                0
            } else {
                a & !((1u64 << order) - 1)
            };
            ats_encode_block(Block { addr, order })
        }
        _ => (u.arbitrary::<u64>()? & mask, u.arbitrary()?),
    })
}

/// Where a 2-word command format keeps its opcode, and how
/// [`raw_words`] damages a valid command.
#[derive(Debug, Clone, Copy)]
pub struct RawShape {
    /// The opcode field of `w0`: its lowest bit.
    pub op_shift: u32,
    /// The opcode field of `w0`: its mask, unshifted.
    pub op_mask: u64,
    /// Opcode values that name no command.
    pub bad_ops: &'static [u64],
    /// The highest bit position of a word a damaged command changes.
    pub top_bit: u32,
    /// Whether that bit is flipped (`true`) or set.
    pub flip: bool,
}

/// Raw words of a 2-word command format, often invalid: a `valid`
/// command's words, the same with one bit changed (reserved bits), with
/// an opcode of `shape.bad_ops`, a random opcode over random words, or
/// fully random words.
pub fn raw_words<'a>(
    u: &mut Unstructured<'a>,
    mut valid: impl FnMut(&mut Unstructured<'a>) -> Result<[u64; 2]>,
    shape: &RawShape,
) -> Result<[u64; 2]> {
    let op_bits = shape.op_mask << shape.op_shift;
    Ok(match u.int_in_range(0u8..=4)? {
        0 => valid(u)?,
        1 => {
            let mut w = valid(u)?;
            let word = usize::from(u.arbitrary::<bool>()?);
            let bit = u.int_in_range(0u32..=shape.top_bit.min(63))?;
            if let Some(x) = w.get_mut(word) {
                if shape.flip {
                    *x ^= 1 << bit;
                } else {
                    *x |= 1 << bit;
                }
            }
            w
        }
        2 => {
            let mut w = valid(u)?;
            let op = *u.choose(shape.bad_ops)?;
            w[0] = (w[0] & !op_bits) | (op << shape.op_shift);
            w
        }
        3 => {
            let op = u.int_in_range(0u64..=shape.op_mask)?;
            [
                (u.arbitrary::<u64>()? & !op_bits) | (op << shape.op_shift),
                u.arbitrary()?,
            ]
        }
        _ => [u.arbitrary()?, u.arbitrary()?],
    })
}

/// Deterministic pseudo-random words: xorshift64 (Marsaglia, "Xorshift
/// RNGs", 2003; shifts 13, 7, 17) from `seed`, which must not be 0 (0 stays
/// 0). Reproducible input for tests that fuzz without a fuzzer:
/// `core::iter::repeat_with(xorshift(seed | 1)).map(|x| x as u8)` are the
/// bytes of an `Unstructured`.
pub fn xorshift(mut seed: u64) -> impl FnMut() -> u64 + Clone {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every choice of `edge` stays in `0..=max`, including `max` = 0 and 1,
    /// where `(max >> 1) + 1` would step over it.
    #[test]
    fn edge_stays_within_max() {
        for max in [0, 1, 2, 3, 0xff, u64::MAX - 1, u64::MAX] {
            for choice in 0u8..=5 {
                let bytes = [choice, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
                let mut u = Unstructured::new(&bytes);
                let v = edge(&mut u, max).expect("enough bytes");
                assert!(v <= max, "edge(max {max:#x}) choice {choice} gave {v:#x}");
            }
        }
    }
}
