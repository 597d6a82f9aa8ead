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
        4 => (max >> 1) + 1,
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
