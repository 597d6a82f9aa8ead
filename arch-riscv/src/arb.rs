//! Structure-aware fuzz input (feature `arbitrary`).
//!
//! [`Command`]'s `Arbitrary` gives *valid* commands only, with field values
//! biased to edges (0, field maximum, NAPOT range edges, the all-pages
//! address). [`arbitrary_words`] gives raw words that often hit invalid
//! encodings (reserved bits, unknown opcodes, the illegal combinations).

use crate::cmd::*;
use arbitrary::{Arbitrary, Result, Unstructured};
use iommu_inval_core::arb::{ats_addr_s, edge, raw_words, RawShape};

/// An (address, `s`) pair: all pages, single pages, aligned blocks of every
/// order, all-ones, or random.
fn addr_s(u: &mut Unstructured<'_>) -> Result<(u64, bool)> {
    ats_addr_s(u, ALL_PAGES_ADDR, PAGE_ADDR_MASK)
}

fn iotinval(u: &mut Unstructured<'_>, vma: bool) -> Result<Iotinval> {
    let (addr, s) = addr_s(u)?;
    Ok(Iotinval {
        av: u.arbitrary()?,
        pscid: edge(u, ID20_MAX.into())? as u32,
        pscv: vma && u.arbitrary()?,
        gv: u.arbitrary()?,
        nl: u.arbitrary()?,
        gscid: edge(u, 0xffff)? as u16,
        s,
        addr,
    })
}

impl<'a> Arbitrary<'a> for Command {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let id20 = u64::from(ID20_MAX);
        let did = u64::from(DID_MAX);
        Ok(match u.int_in_range(0u8..=6)? {
            0 => Command::IotinvalVma(iotinval(u, true)?),
            1 => Command::IotinvalGvma(iotinval(u, false)?),
            2 => Command::IofenceC(IofenceC {
                av: u.arbitrary()?,
                wsi: u.arbitrary()?,
                pr: u.arbitrary()?,
                pw: u.arbitrary()?,
                data: edge(u, u32::MAX.into())? as u32,
                addr: edge(u, u64::MAX)? & FENCE_ADDR_MASK,
            }),
            3 => Command::IodirInvalDdt(IodirInvalDdt {
                dv: u.arbitrary()?,
                did: edge(u, did)? as u32,
            }),
            4 => Command::IodirInvalPdt(IodirInvalPdt {
                pid: edge(u, id20)? as u32,
                dv: true,
                did: edge(u, did)? as u32,
            }),
            5 => {
                let (addr, s) = addr_s(u)?;
                Command::AtsInval(AtsInval {
                    pid: edge(u, id20)? as u32,
                    pv: u.arbitrary()?,
                    dsv: u.arbitrary()?,
                    rid: edge(u, 0xffff)? as u16,
                    dseg: edge(u, 0xff)? as u8,
                    g: u.arbitrary()?,
                    s,
                    addr,
                })
            }
            _ => Command::AtsPrgr(AtsPrgr {
                pid: edge(u, id20)? as u32,
                pv: u.arbitrary()?,
                dsv: u.arbitrary()?,
                rid: edge(u, 0xffff)? as u16,
                dseg: edge(u, 0xff)? as u8,
                prg_index: edge(u, 0x1ff)? as u16,
                resp_code: *u.choose(&[0u8, 1, 0xf, 0x2, 0xe])?,
            }),
        })
    }
}

/// Raw command words, often invalid: a valid command with a bit flipped,
/// an unknown opcode or function, or fully random words.
///
/// ```
/// use arbitrary::Unstructured;
/// use iommu_inval_riscv::{arbitrary_words, Command};
/// use iommu_inval_core::NativeCommand;
/// let mut u = Unstructured::new(&[7u8; 64]);
/// let w = arbitrary_words(&mut u).unwrap();
/// // Whatever the words, decoding never panics.
/// let _ = Command::decode(&w);
/// ```
pub fn arbitrary_words(u: &mut Unstructured<'_>) -> Result<[u64; 2]> {
    raw_words(
        u,
        |u| Ok(Command::arbitrary(u)?.encode()),
        &RawShape {
            op_shift: 0,
            op_mask: 0x3ff,
            bad_ops: &[0, 5, 0x7f, 0x40, 0x101, 0x181, 0x382, 0x204],
            top_bit: 63,
            flip: true,
        },
    )
}
