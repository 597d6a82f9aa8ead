//! R1 for the VT-d, AMD-Vi and RISC-V record codecs (issue 32 item 1):
//! decode ∘ encode and encode ∘ decode, named fields, typed refusals, over
//! every record type: valid records from the generic `Arbitrary`, raw words
//! from its generator, single-bit flips of valid records and random words.

mod common;

use common::{ok, scale, tests};
use iommu_inval_core::record::{Record, RecordFormat};
use iommu_inval_core::NativeCommand;
use iommu_inval_props::records::{check_record, check_record_words, decode_records};
use iommu_inval_props::{run_cases, Tally};

/// Valid records of `F` (R1 both ways) with every kind generated at least
/// `min` times, then every single-bit flip of each (R1 on raw words).
fn every_kind<F: RecordFormat>(seed: u64, min: usize) {
    let mut t = Tally::default();
    ok(run_cases(seed, 800 * scale(), 64, |u| {
        let r: Record<F> = u.arbitrary().map_err(|e| e.to_string())?;
        t.add(r.op());
        check_record(&r)?;
        for i in 0..F::WORDS * 64 {
            let mut w = r.words().to_vec();
            w[i / 64] ^= 1 << (i % 64);
            check_record_words::<F>(&w)?;
        }
        Ok(())
    }));
    for op in Record::<F>::op_names() {
        assert!(
            t.get(op) >= min,
            "{}: {op} generated {} times",
            F::ARCH,
            t.get(op)
        );
    }
}

tests! {
    vtd_fault_records => every_kind::<iommu_inval_vtd::fault::FaultFormat>(0x7d01, 50);
    vtd_page_requests => every_kind::<iommu_inval_vtd::prq::PageReqFormat>(0x7d02, 50);
    amd_events => every_kind::<iommu_inval_amd::event::EventFormat>(0xa301, 20);
    amd_ppr_entries => every_kind::<iommu_inval_amd::ppr::PprFormat>(0xa302, 50);
    riscv_fault_records => every_kind::<iommu_inval_riscv::fault::FaultFormat>(0x5c01, 50);
    riscv_page_requests => every_kind::<iommu_inval_riscv::pq::PageRequestFormat>(0x5c02, 50);
}

/// The fuzz target's body on random bytes and on the committed seeds.
#[test]
fn decode_records_body() {
    ok(run_cases(0xdec0, 6000 * scale(), 80, |u| {
        let n = u.len();
        decode_records(u.bytes(n).map_err(|e| e.to_string())?)
    }));
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/decode_records");
    for e in std::fs::read_dir(dir).expect("seed corpus").flatten() {
        let data = std::fs::read(e.path()).expect("seed");
        ok(decode_records(&data));
    }
}
