//! The laws of the record codecs (issue 32 item 1: VT-d, AMD-Vi and RISC-V
//! records over `iommu_inval_core::record`), written once for every
//! format: R1 both ways (decode ∘ encode is the identity on words,
//! encode ∘ decode on records), named fields rebuild the record,
//! `check_words` agrees with `decode`, and a refusal is a typed error that
//! points at bits actually set. [`decode_records`] is the body of the
//! `decode_records` fuzz target.

use arbitrary::Unstructured;
use iommu_inval_core::record::{Record, RecordFormat};
use iommu_inval_core::{ErrorKind, FieldValue, NativeCommand};

use crate::bodies::words_of;
use crate::{encode_words, fields_of, hex};

/// Every record format of the three architectures, by name (the fuzz
/// target's selector byte picks one, `% 6`).
pub const FORMATS: [&str; 6] = [
    "vtd fault",
    "vtd page_req_dsc",
    "amd event",
    "amd ppr",
    "riscv fault",
    "riscv page_request",
];

/// R1 on raw words of format `F` (any count): accepted words re-encode to
/// themselves and satisfy [`check_record`]; refused ones are a typed error
/// naming set bits (or the length), the same from `check_words`.
pub fn check_record_words<F: RecordFormat>(words: &[u64]) -> Result<(), String> {
    let decoded = Record::<F>::decode(words);
    if Record::<F>::check_words(words) != decoded.map(|_| ()) {
        return Err(format!(
            "{} [{}]: check_words disagrees with decode",
            F::ARCH,
            hex(words)
        ));
    }
    let e = match decoded {
        Ok(r) if r.words() == words => return check_record(&r),
        Ok(r) => {
            return Err(format!(
                "[{}] decodes to {r:?} with words [{}]",
                hex(words),
                hex(r.words())
            ))
        }
        Err(e) => e,
    };
    let at = words.get(usize::from(e.word)).copied().unwrap_or(0);
    let named = match e.kind {
        ErrorKind::BadLength => words.len() != F::WORDS,
        ErrorKind::ReservedBits => e.mask != 0 && e.mask & !at == 0,
        ErrorKind::InvalidField => e.mask & at != 0 || !e.field.is_empty(),
        ErrorKind::UnknownOpcode => words.len() == F::WORDS,
        _ => false,
    };
    if named {
        Ok(())
    } else {
        Err(format!(
            "{} [{}]: error {e:?} names nothing of the words",
            F::ARCH,
            hex(words)
        ))
    }
}

/// The laws of a valid record: it encodes to [`RecordFormat::WORDS`] words
/// that decode back to it (encode ∘ decode); `validate` passes; its op is
/// an op name whose field names are the fields visited, in order; and
/// `from_fields` of those fields rebuilds it.
pub fn check_record<F: RecordFormat>(r: &Record<F>) -> Result<(), String> {
    let w = encode_words(r)?;
    if w.len() != F::WORDS || Record::<F>::decode(&w) != Ok(*r) || r.validate().is_err() {
        return Err(format!(
            "{r:?} encodes to [{}], which does not decode to it",
            hex(&w)
        ));
    }
    let fields: Vec<(&'static str, FieldValue)> = fields_of(r);
    let names: Vec<&str> = fields.iter().map(|f| f.0).collect();
    let op = r.op();
    if !Record::<F>::op_names().contains(&op) || Record::<F>::field_names(op) != Some(&names[..]) {
        return Err(format!(
            "{r:?}: op {op} or its field names {names:?} not in the tables"
        ));
    }
    let mut it = fields.iter().copied();
    match Record::<F>::from_fields(op, &mut it, F::WORDS) {
        Ok(back) if back == *r => Ok(()),
        other => Err(format!("from_fields of {r:?} gives {other:?}")),
    }
}

/// One format's case: the bytes as words (any count, then the record's
/// count), a valid record from the generic `Arbitrary`, and raw words from
/// its generator.
fn format_case<F: RecordFormat>(data: &[u8]) -> Result<(), String> {
    let words = words_of(data);
    check_record_words::<F>(&words)?;
    if let Some(w) = words.get(..F::WORDS) {
        check_record_words::<F>(w)?;
    }
    let mut u = Unstructured::new(data);
    if let Ok(r) = u.arbitrary::<Record<F>>() {
        check_record(&r)?;
    }
    if let Ok(w) = Record::<F>::arbitrary_words(&mut u) {
        check_record_words::<F>(w.get(..F::WORDS).unwrap_or(&w))?;
    }
    Ok(())
}

/// `decode_records`: the first byte picks a format of [`FORMATS`], the rest
/// drives [`check_record_words`] and [`check_record`].
pub fn decode_records(data: &[u8]) -> Result<(), String> {
    let Some((&sel, rest)) = data.split_first() else {
        return Ok(());
    };
    match sel % 6 {
        0 => format_case::<iommu_inval_vtd::fault::FaultFormat>(rest),
        1 => format_case::<iommu_inval_vtd::prq::PageReqFormat>(rest),
        2 => format_case::<iommu_inval_amd::event::EventFormat>(rest),
        3 => format_case::<iommu_inval_amd::ppr::PprFormat>(rest),
        4 => format_case::<iommu_inval_riscv::fault::FaultFormat>(rest),
        _ => format_case::<iommu_inval_riscv::pq::PageRequestFormat>(rest),
    }
}
