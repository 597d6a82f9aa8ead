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

use crate::event::{kind, names, ranges, Fd};
use iommu_inval_core::record::{Kind, PageRequestFields};
use iommu_inval_core::{record_format, ArchId};

const SID: Fd = ("sid", 0, 31, 0, 0);
const SSID: Fd = ("ssid", 0, 51, 32, 0);
const PRIV: Fd = ("priv", 0, 58, 58, 0);
const EXEC: Fd = ("exec", 0, 59, 59, 0);
const READ: Fd = ("read", 0, 60, 60, 0);
const WRITE: Fd = ("write", 0, 61, 61, 0);
const LAST: Fd = ("last", 0, 62, 62, 0);
const SSV: Fd = ("ssv", 0, 63, 63, 0);
const PRG_INDEX: Fd = ("prg_index", 1, 8, 0, 0);
const ADDRESS: Fd = ("address", 1, 63, 12, 12);

record_format!(
    /// The PRI queue entry layout ([`PriRecord`]).
    PriFormat,
    /// One SMMUv3 PRI queue entry (IHI0070 §8): read and build it by field
    /// name ([`NativeCommand`](iommu_inval_core::NativeCommand)) or through
    /// the model ([`EventArch`](iommu_inval_core::arch::EventArch)).
    ///
    /// ```
    /// use iommu_inval_arm::PriRecord;
    /// use iommu_inval_core::NativeCommand;
    /// // StreamID 0x10, SubstreamID 5, a last read request, group 3, page 0x7000.
    /// let w = [0xd000_0005_0000_0010, 0x7003];
    /// let r = PriRecord::decode(&w).unwrap();
    /// assert_eq!(r.op(), "PRI_PAGE_REQUEST");
    /// assert_eq!(NativeCommand::words(&r), 2);
    /// ```
    PriRecord: ArchId::Smmuv3, crate::Features, 2, page_request = FIELDS,
    // "If SSV == 0, ... X and Priv are 0" (§8): priv (2) and exec (3) need ssv (7).
    [kind!("PRI_PAGE_REQUEST", 0, [SID, SSID, PRIV, EXEC, READ, WRITE, LAST, SSV, PRG_INDEX, ADDRESS])
        .with_guard(7, &[2, 3], "exec/priv with ssv=0")]
);

/// The entry's fields as a [`PageRequest`](iommu_inval_core::event::PageRequest)'s:
/// SMMUv3's CMD_PRI_RESP carries the request's SubstreamID, so the response
/// carries the PASID whenever the request had one.
///
/// The PRG response the SMMU itself sends for a discarded entry (IHI0070
/// §8.1, §8.2): on a full or overflowed queue a request with Last = 1 is
/// answered Success with its PASID (SMMU_IDR3.PPS or STE.PPAR assumed) and
/// one with Last = 0 is ignored (§8.1); with PRIQEN = 0 or a write that
/// aborts, every request, Last or not, is answered Response Failure
/// without a PASID (§8.2: "All incoming PPRs"); a Stop Marker never is.
pub(crate) const FIELDS: PageRequestFields = PageRequestFields::new(
    "PRI_PAGE_REQUEST",
    [
        "sid",
        "ssv",
        "ssid",
        "read",
        "write",
        "exec",
        "priv",
        "last",
        "prg_index",
        "address",
    ],
)
.failure_answers_every_request();

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Smmuv3;
    use iommu_inval_core::arch::EventArch;
    use iommu_inval_core::event::{Access, PageRequest};
    use iommu_inval_core::event::{Event, Record};
    use iommu_inval_core::model::RespCode;
    use iommu_inval_core::native::word;
    use iommu_inval_core::record::FormatRecord;
    use iommu_inval_core::record::RecordFormat;
    use iommu_inval_core::NativeCommand;
    use iommu_inval_core::{ErrorKind, FieldValue, IdentityContext, LowerError};

    use crate::event::tests::Bits;
    const SSV: Bits = Bits("ssv", 0, 63, 1);
    const SSID: Bits = Bits("ssid", 0, 32, 20);
    /// A test view of the entry's table: the bits it may set per word.
    struct Layout;
    impl Layout {
        fn valid(&self, i: usize, _fixed: [u64; 4]) -> u64 {
            let k = &PriFormat::KINDS[0];
            (0..k.fields().len())
                .flat_map(|f| k.ranges_of(f))
                .filter(|r| usize::from(r.0) == i)
                .fold(0, |m, r| m | word::mask(r.1.into(), r.2.into()))
        }
    }
    const LAYOUT: Layout = Layout;
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

    /// The entries that decode among `n` random words with no reserved bit
    /// set, with their words.
    fn random_entries(seed: u64, n: usize) -> impl Iterator<Item = ([u64; 2], PriRecord)> {
        let mut rnd = iommu_inval_core::arb::xorshift(seed);
        (0..n).filter_map(move |_| {
            let w = [
                rnd() & LAYOUT.valid(0, [0; 4]),
                rnd() & LAYOUT.valid(1, [0; 4]),
            ];
            PriRecord::decode(&w).ok().map(|r| (w, r))
        })
    }

    /// R1, and lift ∘ lower: every valid entry re-encodes to its words,
    /// rebuilds from its named fields, and lowers back from its lift (up
    /// to the SubstreamID without SSV, which is UNKNOWN).
    #[test]
    fn r1_and_round_trip() {
        let mut ok = 0;
        for (w, r) in random_entries(0xbb67_ae85_84ca_a73b, 100_000) {
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
            assert_eq!(back.words(), want);
        }
        assert!(ok > 20_000);
    }

    /// The automatic response over random entries (IHI0070 §8.1, §8.2):
    /// full or overflowed, Success with the PASID to a last request only;
    /// disabled or aborted, Failure without a PASID to every request; never
    /// to a Stop Marker; always to the entry's StreamID and group.
    #[test]
    fn automatic_response_rule() {
        use iommu_inval_core::event::Fate;
        use iommu_inval_core::MemError;
        let mut seen = [0; 2];
        for (_, r) in random_entries(0x3c6e_f372_fe94_f82b, 20_000) {
            let q = lift_q(&r);
            let abort = Fate::Aborted(MemError::write(0));
            for fate in [
                Fate::Full { flagged: true },
                Fate::Overflowed,
                Fate::Disabled,
                abort,
            ] {
                let got = r.owed_response(&fate);
                let failure = fate.response_code() == Some(RespCode::Failure);
                let owed = !q.is_stop_marker() && (failure || q.last);
                assert_eq!(got.is_some(), owed, "{q:?} {fate:?}");
                let Some(a) = got else { continue };
                seen[usize::from(failure)] += 1;
                let (code, pasid) = if failure {
                    (RespCode::Failure, None)
                } else {
                    (RespCode::Success, q.pasid)
                };
                assert_eq!(
                    (a.device, a.prg_index, a.code, a.pasid),
                    (q.device, q.prg_index, code, pasid)
                );
            }
            assert_eq!(r.owed_response(&Fate::Written), None);
        }
        assert!(seen[0] > 1000 && seen[1] > 1000, "{seen:?}");
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
