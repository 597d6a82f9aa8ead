//! Structure-aware fuzz input (feature `arbitrary`).
//!
//! [`Command`]'s `Arbitrary` gives *valid* commands only, with field values
//! biased to edges (0, field maximum, range-encoding edges, the all-pages
//! address, all-ones addresses). [`arbitrary_words`] gives raw words that
//! often hit invalid encodings (reserved bits, unknown opcodes).

use crate::cmd::*;
use arbitrary::{Arbitrary, Result, Unstructured};
use iommu_inval_core::arb::{ats_addr_s, edge, raw_words, RawShape};

/// An (address, `s`) pair: all pages, single pages, aligned blocks of every
/// order, all-ones, or random.
fn addr_s(u: &mut Unstructured<'_>) -> Result<(u64, bool)> {
    ats_addr_s(u, ALL_PAGES_ADDRESS, ADDR_MASK)
}

impl<'a> Arbitrary<'a> for Command {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let p20 = u64::from(PASID_MAX);
        Ok(match u.int_in_range(1u8..=10)? {
            OP_COMPLETION_WAIT => Command::CompletionWait(CompletionWait {
                s: u.arbitrary()?,
                i: u.arbitrary()?,
                f: u.arbitrary()?,
                store_address: edge(u, STORE_ADDR_MASK)? & STORE_ADDR_MASK,
                store_data: edge(u, u64::MAX)?,
            }),
            OP_INVALIDATE_DEVTAB_ENTRY => Command::InvalidateDevtabEntry(InvalidateDevtabEntry {
                device_id: edge(u, 0xffff)? as u16,
            }),
            OP_INVALIDATE_IOMMU_PAGES => {
                let (address, s) = addr_s(u)?;
                Command::InvalidateIommuPages(InvalidateIommuPages {
                    pasid: edge(u, p20)? as u32,
                    domain_id: edge(u, 0xffff)? as u16,
                    s,
                    pde: u.arbitrary()?,
                    gn: u.arbitrary()?,
                    address,
                })
            }
            OP_INVALIDATE_IOTLB_PAGES => {
                let (address, s) = addr_s(u)?;
                Command::InvalidateIotlbPages(InvalidateIotlbPages {
                    device_id: edge(u, 0xffff)? as u16,
                    pasid: edge(u, p20)? as u32,
                    maxpend: edge(u, 0xff)? as u8,
                    queue_id: edge(u, 0xffff)? as u16,
                    s,
                    gn: u.arbitrary()?,
                    inv_type: u.int_in_range(0u8..=3)?,
                    address,
                })
            }
            OP_INVALIDATE_INTERRUPT_TABLE => {
                Command::InvalidateInterruptTable(InvalidateInterruptTable {
                    device_id: edge(u, 0xffff)? as u16,
                })
            }
            OP_PREFETCH_IOMMU_PAGES => {
                let (address, s) = addr_s(u)?;
                Command::PrefetchIommuPages(PrefetchIommuPages {
                    device_id: edge(u, 0xffff)? as u16,
                    pfcount: edge(u, 0xff)? as u8,
                    pasid: edge(u, p20)? as u32,
                    s,
                    gn: u.arbitrary()?,
                    inv: u.arbitrary()?,
                    address,
                })
            }
            OP_COMPLETE_PPR_REQUEST => Command::CompletePprRequest(CompletePprRequest {
                device_id: edge(u, 0xffff)? as u16,
                pasid: edge(u, p20)? as u32,
                gn: u.arbitrary()?,
                tag: edge(u, 0x1ff)? as u16,
                status: *u.choose(&[0u8, 1, 0xf, 0x2, 0xe])?,
            }),
            OP_INSERT_GUEST_EVENT => Command::InsertGuestEvent(InsertGuestEvent {
                guest_id: edge(u, 0xffff)? as u16,
            }),
            OP_RESET_VMMIO => Command::ResetVmmio(ResetVmmio {
                guest_id: edge(u, 0xffff)? as u16,
                all: u.arbitrary()?,
                vcmd: u.arbitrary()?,
            }),
            _ => Command::InvalidateIommuAll(InvalidateIommuAll),
        })
    }
}

/// Raw command words, often invalid: a valid command with reserved bits
/// flipped on, an unknown or random opcode, or fully random words.
///
/// ```
/// use arbitrary::Unstructured;
/// use iommu_inval_amd::{arbitrary_words, Command};
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
            op_shift: 60,
            op_mask: 0xf,
            bad_ops: &[0, 9, 0xa, 0xb, 0xf],
            top_bit: 59,
            flip: false,
        },
    )
}
