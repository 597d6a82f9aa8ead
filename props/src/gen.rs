//! Edge-biased generators of generic operations.
//!
//! `Op`'s derived `Arbitrary` draws ids and addresses uniformly, which
//! almost never hits the values that break encoders: 0, field maxima, the
//! PASID and device-id width limits, the top page of the address space,
//! ranges that are exactly one encodable block or one byte more. These
//! generators pick such values most of the time, and uniform ones otherwise.

use arbitrary::{Result, Unstructured};
use iommu_inval_core::model::{
    Barrier, Caches, DeviceSel, DomainSel, Hints, Inval, Op, PageResponse, PasidSel, Prefetch,
    Regime, RespCode, Stages, StallAction, Store,
};
use iommu_inval_core::AddrRange;
use iommu_inval_core::Flags;

/// A value of at most `bits` bits (`bits` ≤ 64), biased to edges:
/// 0, 1, max, max − 1, powers of two and their neighbours.
pub fn edge_u64(u: &mut Unstructured<'_>, bits: u32) -> Result<u64> {
    let max = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let k = u.int_in_range(0u32..=bits.saturating_sub(1))?;
    let p = 1u64 << k.min(63);
    Ok(match u.int_in_range(0u8..=9)? {
        0 => 0,
        1 => 1,
        2 => max,
        3 => max - 1,
        4 => p,
        5 => p - 1,
        6 => (p + 1) & max,
        7 => u.int_in_range(0..=15)?,
        _ => u.arbitrary::<u64>()? & max,
    })
}

/// [`edge_u64`] for up to 32 bits.
pub fn edge_u32(u: &mut Unstructured<'_>, bits: u32) -> Result<u32> {
    Ok(u32::try_from(edge_u64(u, bits.min(32))?).unwrap_or(u32::MAX))
}

/// A 4 KiB-aligned address, biased to 0, the top page, the ATS "all"
/// encoding and power-of-two boundaries.
pub fn edge_addr(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => 0,
        1 => !0xfff,
        2 => 0x7fff_ffff_ffff_f000,
        3 => (1u64 << u.int_in_range(12u32..=63)?) & !0xfff,
        4 => ((1u64 << u.int_in_range(12u32..=63)?) - 0x1000) & !0xfff,
        5 => (edge_u64(u, 52)? << 12) & !0xfff,
        6 => (u.arbitrary::<u64>()? & ((1u64 << 48) - 1)) & !0xfff,
        _ => u.arbitrary::<u64>()? & !0xfff,
    })
}

/// An address range biased to encoding edges: everything, one page,
/// aligned power-of-two blocks (every order), a block plus or minus one
/// page, unaligned byte spans, spans touching the top of the space.
pub fn edge_range(u: &mut Unstructured<'_>) -> Result<AddrRange> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => AddrRange::All,
        1 => AddrRange::block(edge_addr(u)?, 12),
        2 => {
            let order = u.int_in_range(12u32..=64)?;
            AddrRange::block(edge_addr(u)?, order)
        }
        3 | 4 => {
            // n pages from an aligned address: n around block sizes and SMMU (num+1)*2^scale edges.
            let a = edge_addr(u)?;
            let n = match u.int_in_range(0u8..=3)? {
                0 => u64::from(u.int_in_range(1u32..=64)?),
                1 => (1u64 << u.int_in_range(0u32..=40)?) + 1,
                2 => (1u64 << u.int_in_range(1u32..=40)?) - 1,
                _ => (u64::from(u.int_in_range(1u32..=32)?)) << u.int_in_range(0u32..=31)?,
            };
            span(a, n.saturating_mul(4096))
        }
        5 => {
            // Unaligned byte span.
            let a: u64 = u.arbitrary()?;
            let len = edge_u64(u, 40)?.max(1);
            span(a & ((1 << 48) - 1), len)
        }
        6 => {
            // Touching the top.
            let len = edge_u64(u, 63)?.max(1);
            AddrRange::inclusive(u64::MAX - (len - 1), u64::MAX).unwrap_or(AddrRange::All)
        }
        7 => AddrRange::inclusive(0, edge_u64(u, 64)?).unwrap_or(AddrRange::All),
        _ => u.arbitrary()?,
    })
}

fn span(first: u64, len: u64) -> AddrRange {
    AddrRange::new(first, len.max(1))
        .unwrap_or_else(|_| AddrRange::inclusive(first, u64::MAX).unwrap_or(AddrRange::All))
}

/// A PASID selection: mostly valid 20-bit PASIDs at the edges, sometimes
/// wider than 20 or 16 bits (which must be widened, never truncated).
pub fn edge_pasid(u: &mut Unstructured<'_>) -> Result<PasidSel> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => PasidSel::All,
        1 => PasidSel::NoPasid,
        2 => PasidSel::One(edge_u32(u, 32)?),
        3 => PasidSel::One(edge_u32(u, 16)?),
        _ => PasidSel::One(edge_u32(u, 20)?),
    })
}

/// A domain selection with small ids, 16-bit edges and wide ids.
pub fn edge_domain(u: &mut Unstructured<'_>) -> Result<DomainSel> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => DomainSel::All,
        1 => DomainSel::One(edge_u32(u, 32)?),
        _ => DomainSel::One(edge_u32(u, 16)?),
    })
}

/// A device selection: one requester id (16-bit edges, sometimes a 32-bit
/// StreamID), a range (ordered or not, aligned or not), or all.
pub fn edge_device(u: &mut Unstructured<'_>) -> Result<DeviceSel> {
    Ok(match u.int_in_range(0u8..=6)? {
        0 => DeviceSel::All,
        1 => DeviceSel::One(edge_u32(u, 32)?),
        2 | 3 => DeviceSel::One(edge_u32(u, 16)?),
        // Ranges of at most 64 devices: lowerings that enumerate devices
        // (device TLBs) emit one command each, and footprints of thousands
        // of boxes make a case take seconds.
        4 => {
            let order = u.int_in_range(0u32..=6)?;
            let base = edge_u32(u, 16)? & !((1u32 << order) - 1);
            DeviceSel::Range {
                first: base,
                last: base | ((1u32 << order) - 1),
            }
        }
        _ => {
            let first = edge_u32(u, 16)?;
            let len = edge_u32(u, 6)?;
            let last = first.saturating_add(len);
            if u.ratio(1, 8)? {
                DeviceSel::Range {
                    first: last,
                    last: first,
                }
            } else {
                DeviceSel::Range { first, last }
            }
        }
    })
}

/// Hints with the values the encoders care about.
pub fn edge_hints(u: &mut Unstructured<'_>) -> Result<Hints> {
    Ok(Hints {
        leaf_shift: *u.choose(&[0u8, 0, 12, 14, 16, 21, 25, 29, 30, 39, 42, 63, 64, 255])?,
        tg_shift: *u.choose(&[0u8, 0, 12, 14, 16, 13, 255])?,
        level: u.int_in_range(0u8..=4)?,
        drain_reads: u.arbitrary()?,
        drain_writes: u.arbitrary()?,
        pfsid: u16::try_from(edge_u32(u, 16)?).unwrap_or(u16::MAX),
        max_pending: u8::try_from(edge_u32(u, 8)?).unwrap_or(u8::MAX),
        queue_id: u16::try_from(edge_u32(u, 16)?).unwrap_or(u16::MAX),
    })
}

/// An invalidation with edge-biased fields. Cache sets favour the single
/// caches and the usual pairs, sometimes any subset.
pub fn edge_inval(u: &mut Unstructured<'_>) -> Result<Inval> {
    let caches = match u.int_in_range(0u8..=7)? {
        0 => Caches::IOTLB,
        1 => Caches::IOTLB | Caches::LEAF,
        2 => Caches::DEV_TLB,
        3 => *u.choose(&[
            Caches::CONFIG_DEVICE,
            Caches::CONFIG_PASID,
            Caches::CONFIG,
            Caches::INTR_REMAP,
        ])?,
        _ => Caches::from_bits_truncate(u.arbitrary()?),
    };
    let stages = *u.choose(&[Stages::S1, Stages::S2, Stages::all()])?;
    let regime = match u.int_in_range(0u8..=7)? {
        0 => Regime::Hyp,
        1 => Regime::Secure,
        2 => Regime::SecureHyp,
        3 => Regime::SecureGuest,
        _ => Regime::Guest,
    };
    Ok(Inval {
        caches,
        regime,
        stages,
        domain: edge_domain(u)?,
        pasid: edge_pasid(u)?,
        global: u.arbitrary()?,
        device: edge_device(u)?,
        range: edge_range(u)?,
        hints: edge_hints(u)?,
    })
}

/// A sync: each signal, store addresses aligned to 4 bytes or not, 32-bit
/// and wider data.
pub fn edge_sync(u: &mut Unstructured<'_>) -> Result<Barrier> {
    let store = if u.ratio(1, 2)? {
        let address = match u.int_in_range(0u8..=3)? {
            0 => edge_u64(u, 52)? & !3,
            1 => edge_u64(u, 64)? & !7,
            2 => edge_u64(u, 64)?,
            _ => u.arbitrary::<u64>()? & ((1 << 48) - 1) & !7,
        };
        let data = if u.ratio(3, 4)? {
            edge_u64(u, 32)?
        } else {
            edge_u64(u, 64)?
        };
        Some(Store { address, data })
    } else {
        None
    };
    Ok(Barrier {
        interrupt: u.arbitrary()?,
        store,
        sev: u.ratio(1, 4)?,
        fence: u.arbitrary()?,
        drain_page_requests: u.ratio(1, 4)?,
        msi_msh: if u.ratio(3, 4)? {
            0
        } else {
            u.int_in_range(0u8..=3)?
        },
        msi_attr: if u.ratio(3, 4)? {
            0
        } else {
            u.int_in_range(0u8..=15)?
        },
    })
}

/// `Some` of `f` half the time (the choice drawn first), else `None`.
fn maybe<T>(
    u: &mut Unstructured<'_>,
    f: impl FnOnce(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Option<T>> {
    Ok(if u.arbitrary()? { Some(f(u)?) } else { None })
}

/// A device id: a 16-bit requester id, sometimes a 32-bit StreamID
/// (wider than AMD-Vi's 16 and RISC-V's 24 bits).
fn edge_rid(u: &mut Unstructured<'_>) -> Result<u32> {
    let bits = if u.ratio(1, 8)? { 32 } else { 16 };
    edge_u32(u, bits)
}

/// Any generic operation, invalidations most often.
pub fn edge_op(u: &mut Unstructured<'_>) -> Result<Op> {
    Ok(match u.int_in_range(0u8..=15)? {
        0..=9 => Op::Inval(edge_inval(u)?),
        10 | 11 => Op::Sync(edge_sync(u)?),
        12 => Op::Prefetch(Prefetch {
            device: edge_rid(u)?,
            pasid: maybe(u, |u| edge_u32(u, 20))?,
            secure: u.ratio(1, 4)?,
            range: maybe(u, edge_range)?,
            size: u.int_in_range(0u8..=31)?,
            stride: u.int_in_range(0u8..=31)?,
            count: u.arbitrary()?,
        }),
        13 => Op::PageResponse(PageResponse {
            device: edge_rid(u)?,
            pasid: maybe(u, |u| edge_u32(u, 20))?,
            prg_index: u16::try_from(edge_u32(u, 9)?).unwrap_or(0),
            code: *u.choose(&[RespCode::Success, RespCode::Invalid, RespCode::Failure])?,
            last: u.arbitrary()?,
            priv_data: if u.ratio(1, 4)? {
                Some([u.arbitrary()?, u.arbitrary()?])
            } else {
                None
            },
            guest: u.arbitrary()?,
        }),
        14 => Op::Resume {
            device: edge_u32(u, 32)?,
            stag: u.arbitrary()?,
            action: *u.choose(&[
                StallAction::Terminate,
                StallAction::Retry,
                StallAction::Abort,
            ])?,
        },
        _ => Op::StallTerminate {
            device: edge_u32(u, 32)?,
        },
    })
}

/// Either an edge-biased op or one from `Op`'s own `Arbitrary` (so that the
/// core's generator is exercised too).
pub fn any_op(u: &mut Unstructured<'_>) -> Result<Op> {
    if u.ratio(1, 5)? {
        u.arbitrary()
    } else {
        edge_op(u)
    }
}

/// The shape of one field, learnt by probing `NativeCommand::from_fields`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldShape {
    /// A 1-bit field.
    Bool,
    /// An integer field holding bits `lo..=hi` (addresses: `lo` = 12 or 2).
    Bits {
        /// Lowest settable bit.
        lo: u32,
        /// Highest settable bit.
        hi: u32,
    },
    /// Two words (VT-d `priv_data`).
    Pair,
}

/// A generator of valid native commands that needs nothing from the arch
/// crate but `NativeCommand`: it learns every op's fields and their widths
/// from `field_names` and `from_fields`, then fills them with edge values.
/// Independent of the crate's own `Arbitrary`, so each checks the other.
#[derive(Debug, Clone)]
pub struct NativeGen<C> {
    ops: Vec<(&'static str, Vec<(&'static str, FieldShape)>)>,
    widths: &'static [usize],
    _c: core::marker::PhantomData<C>,
}

impl<C: iommu_inval_core::NativeCommand> NativeGen<C> {
    /// Probe every op of `C` (valid command lengths `widths`).
    pub fn new(widths: &'static [usize]) -> Self {
        use iommu_inval_core::FieldValue;
        let wmax = widths.iter().copied().max().unwrap_or(2);
        let accepts = |op: &str, name: &str, v: FieldValue| {
            let mut it = core::iter::once((name, v));
            // `Invalid`: the value fits, only the combination is refused.
            matches!(
                C::from_fields(op, &mut it, wmax),
                Ok(_) | Err(iommu_inval_core::FieldError::Invalid(_))
            )
        };
        let mut ops = Vec::new();
        for &op in C::op_names() {
            let mut fields = Vec::new();
            for &name in C::field_names(op).unwrap_or(&[]) {
                let shape = if accepts(op, name, FieldValue::Bool(true)) {
                    FieldShape::Bool
                } else if accepts(op, name, FieldValue::Pair([1, 1])) {
                    FieldShape::Pair
                } else {
                    let ok: Vec<u32> = (0..64)
                        .filter(|&b| accepts(op, name, FieldValue::Uint(1u64 << b)))
                        .collect();
                    match (ok.first(), ok.last()) {
                        (Some(&lo), Some(&hi)) => FieldShape::Bits { lo, hi },
                        _ => continue,
                    }
                };
                fields.push((name, shape));
            }
            ops.push((op, fields));
        }
        NativeGen {
            ops,
            widths,
            _c: core::marker::PhantomData,
        }
    }

    /// The learnt ops and field shapes.
    pub fn shapes(&self) -> &[(&'static str, Vec<(&'static str, FieldShape)>)] {
        &self.ops
    }

    /// A command of op `op_index % ops`, fields at edge values; `Ok(None)`
    /// when the chosen values make no valid command (e.g. SMMU `tg` = 0 with
    /// `num` ≠ 0, or a reserved enumeration value).
    pub fn generate(&self, u: &mut Unstructured<'_>) -> Result<Option<C>> {
        use iommu_inval_core::FieldValue;
        let Some((op, fields)) = self.ops.get(u.choose_index(self.ops.len().max(1))?) else {
            return Ok(None);
        };
        let words = *u.choose(self.widths)?;
        let mut vals = Vec::with_capacity(fields.len());
        for &(name, shape) in fields {
            let v = match shape {
                FieldShape::Bool => FieldValue::Bool(u.arbitrary()?),
                FieldShape::Pair => FieldValue::Pair(if words < 4 {
                    [0, 0]
                } else {
                    [edge_u64(u, 64)?, edge_u64(u, 64)?]
                }),
                FieldShape::Bits { lo, hi } => {
                    let v = if u.ratio(1, 4)? {
                        0
                    } else {
                        edge_u64(u, hi - lo + 1)?
                    };
                    FieldValue::Uint(v << lo)
                }
            };
            vals.push((name, v));
        }
        let mut it = vals.iter().map(|(n, v)| (*n, *v));
        Ok(C::from_fields(op, &mut it, words).ok())
    }
}
