//! SMMUv3 event queue records and PRI queue entries (issue 32): bytes as
//! little-endian words (the first 4 as an event record, the first 2 as a
//! PRI entry, all of them for the length check) and the crate's raw-record
//! generator's output. R1: valid → re-encodes to the same words, rebuilds
//! from its named fields, `validate` passes, and lift then lower (identity
//! context) gives a record that lifts to the same event; invalid → a typed
//! error naming set bits. Never panics.
#![no_main]
use arbitrary::Unstructured;
use iommu_inval_arm::{EventRecord, PriRecord, Smmuv3};
use iommu_inval_core::arch::EventArch;
use iommu_inval_core::event::Record;
use iommu_inval_core::{ErrorKind, FieldValue, IdentityContext, NativeCommand};
use libfuzzer_sys::fuzz_target;

/// R1 and the error rules on `words` as a record of type `R` (`n` words).
fn r1<R: NativeCommand>(words: &[u64], n: usize) -> Option<R> {
    match R::decode(words) {
        Ok(r) => {
            let mut out = [0u64; 4];
            assert_eq!(r.encode_into(&mut out), Ok(n));
            assert_eq!(&out[..n], words, "{r:?}");
            let mut f: Vec<(&str, FieldValue)> = Vec::new();
            r.for_each_field(&mut |k, v| f.push((k, v)));
            assert_eq!(R::from_fields(r.op(), &mut f.into_iter(), n), Ok(r));
            assert_eq!(r.validate(), Ok(()));
            assert!(R::op_names().contains(&r.op()));
            Some(r)
        }
        Err(e) => {
            if words.len() != n {
                assert_eq!(e.kind, ErrorKind::BadLength);
            } else {
                assert_ne!(e.kind, ErrorKind::BadLength);
                let w = words[usize::from(e.word)];
                if e.kind == ErrorKind::ReservedBits {
                    assert!(e.mask != 0 && e.mask & w == e.mask, "{e:?} {w:#x}");
                }
            }
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let words: Vec<u64> = data
        .chunks(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect();
    r1::<EventRecord>(&words, 4);
    r1::<PriRecord>(&words, 2);
    let event = words.get(..4).and_then(|w| r1::<EventRecord>(w, 4));
    let pri = words.get(..2).and_then(|w| r1::<PriRecord>(w, 2));
    let records = [event.map(Record::Event), pri.map(Record::PageRequest)];
    for rec in records.into_iter().flatten() {
        let Ok(ev) = Smmuv3::lift_record(&rec, &IdentityContext) else {
            assert!(matches!(rec, Record::Event(_)), "a PRI entry always lifts");
            continue;
        };
        let back = Smmuv3::lower_record(&ev, &IdentityContext).expect("a lifted record lowers");
        assert_eq!(
            std::mem::discriminant(&back),
            std::mem::discriminant(&rec),
            "to the same queue"
        );
        assert_eq!(Smmuv3::lift_record(&back, &IdentityContext), Ok(ev));
    }
    let mut u = Unstructured::new(data);
    if let Ok(w) = iommu_inval_arm::arbitrary_event_words(&mut u) {
        r1::<EventRecord>(&w, 4);
    }
    if let Ok(r) = u.arbitrary::<PriRecord>() {
        let mut w = [0u64; 2];
        let _ = r.encode_into(&mut w);
        assert!(r1::<PriRecord>(&w, 2).is_some());
    }
});
