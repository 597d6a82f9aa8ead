//! Structure-aware fuzz input (feature `arbitrary`): valid descriptors with
//! field values biased to their edges, and raw words that often hit invalid
//! encodings.

use crate::desc::*;
use arbitrary::{Arbitrary, Result, Unstructured};

/// A value of `bits` bits, biased to 0, 1, the maximum and its neighbours.
fn edge(u: &mut Unstructured<'_>, bits: u32) -> Result<u64> {
    let max = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    Ok(match u.int_in_range(0u8..=5)? {
        0 => 0,
        1 => max,
        2 => 1 & max,
        3 => max >> 1,
        _ => u.arbitrary::<u64>()? & max,
    })
}

/// A page address biased to range-encoding edges: 0, all ones, aligned
/// blocks, ATS size patterns (ones below a zero bit).
fn address(u: &mut Unstructured<'_>) -> Result<u64> {
    let a = match u.int_in_range(0u8..=6)? {
        0 => 0,
        1 => u64::MAX,
        2 => 0x7fff_ffff_ffff_f000,
        3 => {
            let z = u.int_in_range(12u32..=62)?;
            let base: u64 = u.arbitrary()?;
            (base & !((1u64 << (z + 1)) - 1)) | (((1u64 << z) - 1) & !0xfff)
        }
        4 => {
            let o = u.int_in_range(12u32..=63)?;
            u.arbitrary::<u64>()? & !((1u64 << o) - 1)
        }
        _ => u.arbitrary()?,
    };
    Ok(a & !0xfff)
}

fn g_of(u: &mut Unstructured<'_>, valid: &[u8]) -> Result<u8> {
    Ok(*u.choose(valid)?)
}

impl<'a> Arbitrary<'a> for Command {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let wide: bool = u.arbitrary()?;
        Ok(match u.int_in_range(1u8..=9)? {
            1 => Command::CcInv(CcInv {
                g: g_of(u, &[1, 2, 3])?,
                did: edge(u, 16)? as u16,
                sid: edge(u, 16)? as u16,
                fm: edge(u, 2)? as u8,
                wide,
            }),
            2 => Command::IotlbInv(IotlbInv {
                g: g_of(u, &[1, 2, 3])?,
                dw: u.arbitrary()?,
                dr: u.arbitrary()?,
                did: edge(u, 16)? as u16,
                am: edge(u, 6)? as u8,
                ih: u.arbitrary()?,
                address: address(u)?,
                wide,
            }),
            3 => Command::DevTlbInv(DevTlbInv {
                pfsid: edge(u, 16)? as u16,
                mip: edge(u, 5)? as u8,
                sid: edge(u, 16)? as u16,
                s: u.arbitrary()?,
                address: address(u)?,
                wide,
            }),
            4 => Command::IecInv(IecInv {
                g: u.arbitrary()?,
                im: edge(u, 5)? as u8,
                iidx: edge(u, 16)? as u16,
                wide,
            }),
            5 => Command::InvWait(InvWait {
                r#if: u.arbitrary()?,
                sw: u.arbitrary()?,
                r#fn: u.arbitrary()?,
                pd: u.arbitrary()?,
                status_data: edge(u, 32)? as u32,
                status_address: edge(u, 64)? & !3,
                wide,
            }),
            6 => Command::PIotlbInv(PIotlbInv {
                g: g_of(u, &[2, 3])?,
                did: edge(u, 16)? as u16,
                pasid: edge(u, 20)? as u32,
                am: edge(u, 6)? as u8,
                ih: u.arbitrary()?,
                address: address(u)?,
                wide,
            }),
            7 => Command::PcInv(PcInv {
                g: g_of(u, &[0, 1, 3])?,
                did: edge(u, 16)? as u16,
                pasid: edge(u, 20)? as u32,
                wide,
            }),
            8 => Command::PDevTlbInv(PDevTlbInv {
                mip: edge(u, 5)? as u8,
                pfsid: edge(u, 16)? as u16,
                sid: edge(u, 16)? as u16,
                pasid: edge(u, 20)? as u32,
                g: u.arbitrary()?,
                s: u.arbitrary()?,
                address: address(u)?,
                wide,
            }),
            _ => Command::PageGrpResp(PageGrpResp {
                pasid_present: u.arbitrary()?,
                priv_data_present: u.arbitrary()?,
                // Reserved codes 2..=0xe are valid descriptors (lift refuses them).
                resp_code: g_of(u, &[0, 1, 0xf, 2, 0xe])?,
                rid: edge(u, 16)? as u16,
                pasid: edge(u, 20)? as u32,
                lpig: u.arbitrary()?,
                prg_index: edge(u, 9)? as u16,
                priv_data: if wide {
                    Some([edge(u, 64)?, edge(u, 64)?])
                } else {
                    None
                },
            }),
        })
    }
}

/// Raw descriptor words (use the first 2 for a 128-bit descriptor, all 4
/// for a 256-bit one) that often hit invalid encodings: reserved bits,
/// unknown types (including the high type bits `w0[11:9]`), invalid
/// granularities and response codes, non-zero `w2`/`w3`.
pub fn arbitrary_words(u: &mut Unstructured<'_>) -> Result<[u64; 4]> {
    let c: Command = u.arbitrary()?;
    let mut w = c.with_width(true).encode();
    match u.int_in_range(0u8..=7)? {
        0 => {}
        1 => {
            let i = u.int_in_range(0usize..=3)?;
            let b = u.int_in_range(0u32..=63)?;
            if let Some(x) = w.get_mut(i) {
                *x ^= 1 << b;
            }
        }
        2 => {
            // Any type, low and high bits.
            let t: u8 = u.arbitrary()?;
            w[0] = (w[0] & !0xe0f) | u64::from(t & 0xf) | (u64::from(t >> 4 & 7) << 9);
        }
        3 => {
            // Any granularity / low w0 bits.
            w[0] ^= u64::from(u.int_in_range(1u8..=0xf)?) << 4;
        }
        4 => {
            // Any response code.
            w[0] = (w[0] & !0xf000) | (u64::from(u.int_in_range(0u8..=0xf)?) << 12);
        }
        5 => {
            let i = u.int_in_range(2usize..=3)?;
            if let Some(x) = w.get_mut(i) {
                *x = edge(u, 64)?.max(1);
            }
        }
        _ => {
            for x in w.iter_mut() {
                *x = u.arbitrary()?;
            }
        }
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::ErrorKind;
    use iommu_inval_core::NativeCommand;

    /// Deterministic pseudo-random bytes.
    fn bytes(seed: u64, n: usize) -> std::vec::Vec<u8> {
        let rnd = iommu_inval_core::arb::xorshift(seed | 1);
        core::iter::repeat_with(rnd)
            .map(|x| x as u8)
            .take(n)
            .collect()
    }

    #[test]
    fn arbitrary_commands_are_valid() {
        for seed in 0..2000u64 {
            let b = bytes(seed, 256);
            let mut u = Unstructured::new(&b);
            let Ok(c) = Command::arbitrary(&mut u) else {
                continue;
            };
            let w = c.encode();
            assert_eq!(Command::decode(&w[..c.words()]), Ok(c), "seed {seed}");
        }
    }

    #[test]
    fn arbitrary_words_hit_every_error_kind() {
        let mut seen = [false; 4];
        for seed in 0..4000u64 {
            let b = bytes(seed, 256);
            let mut u = Unstructured::new(&b);
            let Ok(w) = arbitrary_words(&mut u) else {
                continue;
            };
            for n in [2usize, 4] {
                match Command::decode(&w[..n]) {
                    Ok(c) => {
                        seen[0] = true;
                        assert_eq!(&c.encode()[..n], &w[..n]);
                    }
                    Err(e) => match e.kind {
                        ErrorKind::UnknownOpcode => seen[1] = true,
                        ErrorKind::ReservedBits => seen[2] = true,
                        ErrorKind::InvalidField => seen[3] = true,
                        k => panic!("unexpected {k:?}"),
                    },
                }
            }
        }
        assert_eq!(seen, [true; 4]);
    }
}
