//! SMMUv3 PRI queue entries (IHI0070 §8): 16 bytes, two little-endian
//! 64-bit words, one PCIe Page Request each (a Stop Marker is a request
//! with Last = 1, Read = Write = 0 and a SubstreamID). The codec on
//! [`NativeCommand`](iommu_inval_core::NativeCommand) (one op, `PRI_PAGE_REQUEST`) and the lift and lower of
//! [`EventArch`](iommu_inval_core::arch::EventArch) for [`Smmuv3`](crate::Smmuv3).
//!
//! Layout: §8 gives the fields and their rules but its figure is lost in
//! the text; the positions are Linux's (`arm-smmu-v3.h`: `PRIQ_0_SID`
//! `[31:0]`, `PRIQ_0_SSID` `[51:32]`, `PRIQ_0_PERM_PRIV` `[58]`,
//! `PRIQ_0_PERM_EXEC` `[59]`, `PRIQ_0_PERM_READ` `[60]`,
//! `PRIQ_0_PERM_WRITE` `[61]`, `PRIQ_0_PRG_LAST` `[62]`, `PRIQ_0_SSID_V`
//! `[63]`; `PRIQ_1_PRG_IDX` `w1[8:0]`, `PRIQ_1_ADDR_MASK` `w1[63:12]`); the
//! bits between them are RES0. "If SSV == 0, ... X and Priv are 0" (§8):
//! either set without SSV is `invalid_field`.

use crate::event::{guest_device, layouts, record_codec, ssid_of, Fd, Kind, Layout};
use iommu_inval_core::event::{Access, PageRequest};
use iommu_inval_core::{Context, DecodeError, FieldError, FieldValue, LowerError};

const SID: Fd = Fd::new("sid", 0, 0, 32, Kind::Uint);
const SSID: Fd = Fd::new("ssid", 0, 32, 20, Kind::Uint);
const PRG_INDEX: Fd = Fd::new("prg_index", 1, 0, 9, Kind::Uint);
const ADDRESS: Fd = Fd::new("address", 1, 12, 52, Kind::Addr);

/// A one-bit field of `w0`: the request's attributes are `w0[63:58]`.
const fn flag(name: &'static str, bit: u8) -> Fd {
    Fd::new(name, 0, bit, 1, Kind::Bool)
}
const PRIV: Fd = flag("priv", 58);
const EXEC: Fd = flag("exec", 59);
const READ: Fd = flag("read", 60);
const WRITE: Fd = flag("write", 61);
const LAST: Fd = flag("last", 62);
const SSV: Fd = flag("ssv", 63);

layouts! {
    /// The one PRI queue entry type.
    PRI, PRI_NAMES:
    0 "PRI_PAGE_REQUEST" [SID, SSID, PRIV, EXEC, READ, WRITE, LAST, SSV, PRG_INDEX, ADDRESS],
}

/// The entry's layout.
const LAYOUT: &Layout = &PRI[0];

/// One SMMUv3 PRI queue entry (IHI0070 §8), as validated words: read and
/// build it by field name ([`NativeCommand`](iommu_inval_core::NativeCommand)) or through the model
/// ([`EventArch`](iommu_inval_core::arch::EventArch)).
///
/// ```
/// use iommu_inval_arm::PriRecord;
/// use iommu_inval_core::NativeCommand;
/// // StreamID 0x10, SubstreamID 5, a last read request, group 3, page 0x7000.
/// let w = [0xd000_0005_0000_0010, 0x7003];
/// let r = PriRecord::decode(&w).unwrap();
/// assert_eq!(r.op(), "PRI_PAGE_REQUEST");
/// assert_eq!(r.words(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PriRecord {
    w: [u64; 2],
}

impl PriRecord {
    /// The one layout.
    const fn layout(&self) -> Option<&'static Layout> {
        Some(LAYOUT)
    }
    fn decode_words(w: [u64; 2]) -> Result<Self, DecodeError> {
        LAYOUT.check_reserved(&w, [0; 4])?;
        if SSV.get(&w) == 0 && (PRIV.get(&w) | EXEC.get(&w)) != 0 {
            return Err(DecodeError::invalid(
                0,
                PRIV.mask() | EXEC.mask(),
                "exec/priv with ssv=0",
            ));
        }
        Ok(PriRecord { w })
    }
}

record_codec!(PriRecord, 2, PRI, PRI_NAMES);

/// A host PRI entry → the model: the guest's device, the PASID when SSV;
/// SMMUv3's CMD_PRI_RESP carries the request's SubstreamID, so the
/// response carries the PASID whenever the request had one.
pub(crate) fn lift<C: Context + ?Sized>(r: &PriRecord, ctx: &C) -> Result<PageRequest, LowerError> {
    let g = |f: Fd| f.get(&r.w);
    let pasid = (g(SSV) != 0).then_some(g(SSID) as u32);
    Ok(PageRequest {
        device: guest_device(ctx, g(SID))?,
        pasid,
        addr: g(ADDRESS),
        access: Access {
            read: g(READ) != 0,
            write: g(WRITE) != 0,
            exec: g(EXEC) != 0,
            privileged: g(PRIV) != 0,
        },
        prg_index: g(PRG_INDEX) as u16,
        last: g(LAST) != 0,
        response_pasid: pasid.is_some(),
        priv_data: None,
    })
}

/// The model → a PRI entry: what the entry cannot hold (private data, a
/// PASID wider than 20 bits, an unaligned page, an index wider than 9
/// bits, execute or privileged without a PASID) is `NoEquivalent`.
pub(crate) fn lower(q: &PageRequest) -> Result<PriRecord, LowerError> {
    if q.priv_data.is_some() {
        return Err(LowerError::NoEquivalent("private data in a PRI entry"));
    }
    if !ADDRESS.fits(q.addr) || !PRG_INDEX.fits(u64::from(q.prg_index)) {
        return Err(LowerError::NoEquivalent(
            "page address not 4 KiB aligned, or group index wider than 9 bits",
        ));
    }
    let (ssv, ssid) = ssid_of(q.pasid)?;
    let mut w = [0; 2];
    for (f, v) in [
        (SID, u64::from(q.device)),
        (SSID, ssid),
        (PRIV, u64::from(q.access.privileged)),
        (EXEC, u64::from(q.access.exec)),
        (READ, u64::from(q.access.read)),
        (WRITE, u64::from(q.access.write)),
        (LAST, u64::from(q.last)),
        (SSV, u64::from(ssv)),
        (PRG_INDEX, u64::from(q.prg_index)),
        (ADDRESS, q.addr),
    ] {
        f.put(&mut w, v);
    }
    PriRecord::decode_words(w)
        .map_err(|_| LowerError::NoEquivalent("execute or privileged without a PASID"))
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for PriRecord {
    /// A valid entry, its fields biased to their edges.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut w = [0; 2];
        for f in LAYOUT.fields {
            let v = iommu_inval_core::arb::edge(u, f.mask() >> f.lo)?;
            f.put(&mut w, if f.kind == Kind::Addr { v << f.lo } else { v });
        }
        if SSV.get(&w) == 0 {
            PRIV.put(&mut w, 0);
            EXEC.put(&mut w, 0);
        }
        Self::decode_words(w).map_err(|_| arbitrary::Error::IncorrectFormat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Smmuv3;
    use iommu_inval_core::arch::EventArch;
    use iommu_inval_core::event::{Event, Record};
    use iommu_inval_core::NativeCommand;
    use iommu_inval_core::{ErrorKind, IdentityContext};
    use std::vec;

    /// The entry's lift, through the contract.
    fn lift_q(r: &PriRecord) -> PageRequest {
        match Smmuv3::lift_record(&Record::PageRequest(*r), &IdentityContext) {
            Ok(Event::PageRequest(q)) => q,
            e => panic!("{e:?}"),
        }
    }

    /// A page request's lowering, through the contract.
    fn lower_q(q: &PageRequest) -> Result<PriRecord, LowerError> {
        match Smmuv3::lower_record(&Event::PageRequest(*q), &IdentityContext)? {
            Record::PageRequest(p) => Ok(p),
            Record::Event(e) => panic!("{e:?}"),
        }
    }

    /// The Linux `PRIQ_*` positions (IHI0070 §8's fields).
    #[test]
    fn bit_positions_match_the_spec() {
        let at = |name: &str, v: FieldValue| {
            let mut f = [(name, v)].into_iter();
            let base = if name == "exec" || name == "priv" {
                vec![("ssv", FieldValue::Bool(true))]
            } else {
                vec![]
            };
            let r =
                PriRecord::from_fields("PRI_PAGE_REQUEST", &mut base.into_iter().chain(&mut f), 2)
                    .unwrap();
            let mut w = [0; 2];
            r.encode_into(&mut w).unwrap();
            w
        };
        let t = FieldValue::Bool(true);
        assert_eq!(at("sid", FieldValue::Uint(0xffff_ffff)), [0xffff_ffff, 0]);
        assert_eq!(
            at("ssid", FieldValue::Uint(0xfffff)),
            [0x000f_ffff_0000_0000, 0]
        );
        assert_eq!(at("priv", t), [1 << 63 | 1 << 58, 0]);
        assert_eq!(at("exec", t), [1 << 63 | 1 << 59, 0]);
        assert_eq!(at("read", t), [1 << 60, 0]);
        assert_eq!(at("write", t), [1 << 61, 0]);
        assert_eq!(at("last", t), [1 << 62, 0]);
        assert_eq!(at("ssv", t), [1 << 63, 0]);
        assert_eq!(at("prg_index", FieldValue::Uint(0x1ff)), [0, 0x1ff]);
        assert_eq!(at("address", FieldValue::Uint(!0xfff)), [0, !0xfff]);
    }

    #[test]
    fn invalid_entries_are_typed_errors() {
        let kind = |w: &[u64]| PriRecord::decode(w).map(|_| ()).map_err(|e| e.kind);
        assert_eq!(kind(&[1 << 52, 0]), Err(ErrorKind::ReservedBits));
        assert_eq!(kind(&[0, 1 << 9]), Err(ErrorKind::ReservedBits));
        assert_eq!(kind(&[1 << 59, 0]), Err(ErrorKind::InvalidField));
        assert_eq!(kind(&[1 << 58, 0]), Err(ErrorKind::InvalidField));
        assert_eq!(kind(&[0]), Err(ErrorKind::BadLength));
    }

    /// R1, and lift ∘ lower: every valid entry re-encodes to its words,
    /// rebuilds from its named fields, and lowers back from its lift (up
    /// to the SubstreamID without SSV, which is UNKNOWN).
    #[test]
    fn r1_and_round_trip() {
        let mut rnd = iommu_inval_core::arb::xorshift(0xbb67_ae85_84ca_a73b);
        let mut ok = 0;
        for _ in 0..100_000 {
            let w = [
                rnd() & LAYOUT.valid(0, [0; 4]),
                rnd() & LAYOUT.valid(1, [0; 4]),
            ];
            let Ok(r) = PriRecord::decode(&w) else {
                continue;
            };
            ok += 1;
            let mut out = [0; 2];
            assert_eq!(r.encode_into(&mut out), Ok(2));
            assert_eq!(out, w);
            let mut f = vec![];
            r.for_each_field(&mut |n, v| f.push((n, v)));
            assert_eq!(PriRecord::from_fields(r.op(), &mut f.into_iter(), 2), Ok(r));
            let q = lift_q(&r);
            let back = lower_q(&q).unwrap();
            let mut want = w;
            if SSV.get(&w) == 0 {
                SSID.put(&mut want, 0);
            }
            assert_eq!(back.w, want);
        }
        assert!(ok > 20_000);
    }

    #[test]
    fn stop_marker_and_refusals() {
        // Last, no R/W, with a SubstreamID: a Stop Marker.
        let r = PriRecord::decode(&[1 << 63 | 1 << 62 | 7 << 32 | 0x10, 0x5]).unwrap();
        let q = lift_q(&r);
        assert!(q.is_stop_marker());
        assert_eq!((q.pasid, q.prg_index, q.response_pasid), (Some(7), 5, true));
        let bad = [
            PageRequest {
                priv_data: Some([1, 2]),
                ..q
            },
            PageRequest { addr: 0x1001, ..q },
            PageRequest {
                prg_index: 0x200,
                ..q
            },
            PageRequest {
                pasid: Some(1 << 20),
                ..q
            },
            PageRequest {
                pasid: None,
                access: Access {
                    exec: true,
                    ..q.access
                },
                ..q
            },
        ];
        for b in bad {
            assert!(
                matches!(lower_q(&b), Err(LowerError::NoEquivalent(_))),
                "{b:?}"
            );
        }
    }
}
