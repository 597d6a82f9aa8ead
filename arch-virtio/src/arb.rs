//! Structure-aware fuzz input (feature `arbitrary`).
//!
//! [`Command`]'s `Arbitrary` gives *valid* requests only (what
//! [`Command::decode_bytes`] — or, for the 2018 layouts,
//! `decode_bytes_with` a 2018 device — gives back unchanged), with values
//! biased to their edges. [`arbitrary_bytes`] gives raw readable parts that
//! often are not: a valid request with a byte changed, one byte more or
//! less, or random bytes of a random length.

use crate::cmd::*;
use arbitrary::{Arbitrary, Result, Unstructured};
use iommu_inval_core::arb::edge;

fn u32e(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(edge(u, u32::MAX.into())? as u32)
}

fn u64e(u: &mut Unstructured<'_>) -> Result<u64> {
    edge(u, u64::MAX)
}

/// `(virt_start, nr_pages, granule)` of a range-scoped draft request.
fn va(u: &mut Unstructured<'_>) -> Result<(u64, u64, u8)> {
    let granule = *u.choose(&[12u8, 21, 30, 0, 63])?;
    Ok((u64e(u)?, edge(u, u64::MAX)?.max(1), granule))
}

impl<'a> Arbitrary<'a> for Command {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let head_reserved: [u8; 3] = u.arbitrary()?;
        Ok(match u.int_in_range(0u8..=8)? {
            0 => Attach {
                head_reserved,
                domain: u32e(u)?,
                endpoint: u32e(u)?,
                flags: u32::from(u.arbitrary::<bool>()?) * ATTACH_F_BYPASS,
            }
            .into(),
            1 => Detach {
                head_reserved,
                domain: u32e(u)?,
                endpoint: u32e(u)?,
                reserved: u.arbitrary()?,
            }
            .into(),
            2 => {
                let virt_start = edge(u, u64::MAX - 1)?;
                // `edge` may return 1 for a maximum of 0.
                let room = u64::MAX - virt_start - 1;
                let virt_end = virt_start + 1 + edge(u, room)?.min(room);
                Map {
                    head_reserved,
                    domain: u32e(u)?,
                    virt_start,
                    virt_end,
                    phys_start: u64e(u)?,
                    flags: u.int_in_range(0..=7)?,
                }
                .into()
            }
            3 => Unmap {
                head_reserved,
                domain: u32e(u)?,
                virt_start: u64e(u)?,
                virt_end: u64e(u)?,
                reserved: u.arbitrary()?,
            }
            .into(),
            4 => Probe {
                head_reserved,
                endpoint: u32e(u)?,
                reserved: u.arbitrary()?,
            }
            .into(),
            5 => AttachTable {
                head_reserved,
                domain: u32e(u)?,
                endpoint: u32e(u)?,
                table: if u.arbitrary()? {
                    Table::PstArm {
                        s1fmt: u.int_in_range(0..=2)?,
                        s1dss: u.int_in_range(0..=2)?,
                        s1contextptr: u64e(u)?,
                        s1cdmax: u32e(u)?,
                    }
                } else {
                    Table::PgtArm {
                        asid: edge(u, 0xffff)? as u16,
                        tcr: u64e(u)?,
                        ttbr0: u64e(u)?,
                        ttbr1: u64e(u)?,
                        mair: u64e(u)?,
                    }
                },
            }
            .into(),
            6 | 7 => {
                let inv_gran = *u.choose(&[INVAL_G_DOMAIN, INVAL_G_PASID, INVAL_G_VA])?;
                let mut flags = u.int_in_range(0..=7)?;
                if inv_gran != INVAL_G_DOMAIN && flags & (INVAL_F_PASID | INVAL_F_ARCHID) == 0 {
                    flags |= INVAL_F_PASID;
                }
                let (virt_start, nr_pages, granule) = if inv_gran == INVAL_G_VA {
                    va(u)?
                } else {
                    (u64e(u)?, u64e(u)?, u.arbitrary()?)
                };
                Invalidate {
                    head_reserved,
                    inv_gran,
                    inv_type: u.int_in_range(1..=7)?,
                    flags,
                    domain: u32e(u)?,
                    pasid: edge(u, 0xf_ffff)? as u32,
                    archid: edge(u, 0xffff)?,
                    virt_start,
                    nr_pages,
                    granule,
                }
                .into()
            }
            _ => {
                let scope = *u.choose(&[INVAL_S_DOMAIN, INVAL_S_PASID, INVAL_S_VA])?;
                let (virt_start, nr_pages, granule) = if scope == INVAL_S_VA {
                    va(u)?
                } else {
                    (u64e(u)?, u64e(u)?, u.arbitrary()?)
                };
                Invalidate2018 {
                    head_reserved,
                    scope,
                    flags: u.int_in_range(0..=3)?,
                    domain: u32e(u)?,
                    pasid: edge(u, 0xf_ffff)? as u32,
                    id: edge(u, 0xffff)?,
                    virt_start,
                    nr_pages,
                    granule,
                }
                .into()
            }
        })
    }
}

/// A raw readable part, often invalid: `(buffer, length)` where the
/// request is `buffer[..length]` (a valid request with one byte changed,
/// one byte more or less, an unknown type, or random bytes).
///
/// ```
/// use arbitrary::Unstructured;
/// use iommu_inval_virtio::{arbitrary_bytes, Command};
/// let mut u = Unstructured::new(&[7u8; 128]);
/// let (b, n) = arbitrary_bytes(&mut u).unwrap();
/// // Whatever the bytes, decoding never panics.
/// let _ = Command::decode_bytes(&b[..n]);
/// ```
pub fn arbitrary_bytes(u: &mut Unstructured<'_>) -> Result<([u8; MAX_BYTES + 8], usize)> {
    let mut b = [0u8; MAX_BYTES + 8];
    let c = Command::arbitrary(u)?;
    let (r, n) = c.readable();
    b[..MAX_BYTES].copy_from_slice(&r);
    let n = match u.int_in_range(0u8..=5)? {
        0 => n,
        1 => {
            let k = u.int_in_range(0..=n - 1)?;
            b[k] ^= u.int_in_range(1..=255)?;
            n
        }
        2 => n - 1,
        3 => n + 1,
        4 => {
            b[0] = *u.choose(&[0u8, 8, 9, 0x80, 0xff])?;
            n
        }
        _ => {
            u.fill_buffer(&mut b)?;
            u.int_in_range(0..=b.len())?
        }
    };
    Ok((b, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{Draft, Features};

    /// Every arbitrary request decodes back to itself, with its draft's layout.
    #[test]
    fn arbitrary_requests_are_valid() {
        let mut seed = iommu_inval_core::arb::xorshift(0x5eed);
        for _ in 0..4000 {
            let raw: [u8; 256] = core::array::from_fn(|_| seed() as u8);
            let mut u = Unstructured::new(&raw);
            let Ok(c) = Command::arbitrary(&mut u) else {
                continue;
            };
            assert_eq!(c.check_valid(), Ok(()), "{c:?}");
            let f = Features {
                draft: match c.draft() {
                    Draft::None => Draft::Rfc2021,
                    d => d,
                },
                ..Features::ALL
            };
            let (b, n) = c.readable();
            assert_eq!(Command::decode_bytes_with(&b[..n], &f), Ok(c));
            let mut u = Unstructured::new(&raw[128..]);
            if let Ok((b, n)) = arbitrary_bytes(&mut u) {
                let _ = Command::decode_bytes(&b[..n]);
            }
        }
    }
}
