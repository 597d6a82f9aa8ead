//! R1 (bytes): every valid command re-encodes to its words; every invalid one
//! is a typed error pointing at its bits. Over the crates' `Arbitrary`
//! commands, the probe-based `NativeGen`, raw words from `arbitrary_words`,
//! single-bit mutations of valid commands, and uniformly random words.

mod common;

use common::{assert_every_op, ok, scale, tests};
use iommu_inval_core::{ErrorKind, NativeCommand};
use iommu_inval_props::gen::NativeGen;
use iommu_inval_props::{
    check_r1, check_r1_cmd, encode_words, run_cases, Amd, Arch, Riscv, Smmu, Tally, Virtio, Vtd,
};

/// Valid commands from the crate's `Arbitrary`: R1, and every op generated
/// at least `min` times.
fn arbitrary_commands<A: Arch>(seed: u64, cases: usize, min: usize) {
    let mut t = Tally::default();
    ok(run_cases(seed, cases, 96, |u| {
        let c: A::Command = u.arbitrary().map_err(|e| format!("arbitrary: {e}"))?;
        t.add(c.op());
        check_r1_cmd::<A>(&c)
    }));
    assert_every_op::<A::Command>(&t, min, "Arbitrary commands");
}

/// Valid commands from the probing generator: R1, every op at least `min` times.
fn probed_commands<A: Arch>(seed: u64, cases: usize, min: usize) {
    let g = NativeGen::<A::Command>::new(A::WIDTHS);
    let mut t = Tally::default();
    ok(run_cases(seed, cases, 96, |u| {
        if let Some(c) = g.generate(u).map_err(|e| e.to_string())? {
            t.add(c.op());
            check_r1_cmd::<A>(&c)?;
        }
        Ok(())
    }));
    assert_every_op::<A::Command>(&t, min, "probed commands");
}

/// Raw words: the crate's generator, bit flips of valid commands, uniform
/// words. Every error kind but no_equivalent must show up.
fn raw_words<A: Arch>(seed: u64, cases: usize) {
    let mut kinds = Tally::default();
    ok(run_cases(seed, cases, 96, |u| {
        let words = match u.int_in_range(0u8..=2).map_err(|e| e.to_string())? {
            0 => A::arbitrary_words(u).map_err(|e| e.to_string())?,
            1 => {
                let c: A::Command = u.arbitrary().map_err(|e| e.to_string())?;
                let mut w = encode_words(&c)?;
                let bit = u
                    .int_in_range(0..=w.len() * 64 - 1)
                    .map_err(|e| e.to_string())?;
                if let Some(x) = w.get_mut(bit / 64) {
                    *x ^= 1 << (bit % 64);
                }
                w
            }
            _ => {
                let n = *u
                    .choose(&[0usize, 1, 2, 2, 2, 3, 4, 4, 5])
                    .map_err(|e| e.to_string())?;
                (0..n)
                    .map(|_| u.arbitrary::<u64>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?
            }
        };
        match <A::Command as NativeCommand>::decode(&words) {
            Ok(c) => kinds.add(format!("ok {}", c.op())),
            Err(e) => kinds.add(e.kind.as_str()),
        }
        check_r1::<A>(&words)
    }));
    for k in [
        ErrorKind::UnknownOpcode,
        ErrorKind::ReservedBits,
        ErrorKind::BadLength,
    ] {
        assert!(
            kinds.get(k.as_str()) > 0,
            "{}: no {k} error in {:?}",
            A::ID,
            kinds.0
        );
    }
    assert!(
        kinds.0.keys().any(|k| k.starts_with("ok ")),
        "{}: no raw word decoded: {:?}",
        A::ID,
        kinds.0
    );
}

tests! {
    r1_smmuv3_arbitrary_commands => arbitrary_commands::<Smmu>(0x5111, 60_000 * scale(), 1000 * scale());
    r1_vtd_arbitrary_commands => arbitrary_commands::<Vtd>(0x7d71, 30_000 * scale(), 1000 * scale());
    r1_amd_arbitrary_commands => arbitrary_commands::<Amd>(0xa3d1, 25_000 * scale(), 1000 * scale());
    r1_riscv_arbitrary_commands => arbitrary_commands::<Riscv>(0x5cd1, 25_000 * scale(), 1000 * scale());
    r1_riscv_probed_commands => probed_commands::<Riscv>(0x5cd2, 25_000 * scale(), 1000 * scale());
    r1_riscv_raw_words => raw_words::<Riscv>(0x5cd3, 20_000 * scale());
    r1_smmuv3_probed_commands => probed_commands::<Smmu>(0x5112, 120_000 * scale(), 1000 * scale());
    r1_vtd_probed_commands => probed_commands::<Vtd>(0x7d72, 45_000 * scale(), 1000 * scale());
    r1_amd_probed_commands => probed_commands::<Amd>(0xa3d2, 25_000 * scale(), 1000 * scale());
    r1_smmuv3_raw_words => raw_words::<Smmu>(0x5113, 20_000 * scale());
    r1_vtd_raw_words => raw_words::<Vtd>(0x7d73, 20_000 * scale());
    r1_amd_raw_words => raw_words::<Amd>(0xa3d3, 20_000 * scale());
    // virtio-iommu: requests of every type and both drafts, and raw
    // readable parts (a byte changed, one more or less, random).
    r1_virtio_arbitrary_commands => arbitrary_commands::<Virtio>(0x7101, 25_000 * scale(), 500 * scale());
    r1_virtio_raw_words => raw_words::<Virtio>(0x7103, 20_000 * scale());
}

/// Exhaustive over the opcode/type byte: every value either decodes (and
/// round-trips) or is a typed error, with every other bit clear and set.
fn every_opcode<A: Arch>(opcode_word_shift: u32, opcode_bits: u32) {
    for op in 0..(1u64 << opcode_bits) {
        for fill in [0u64, u64::MAX] {
            for &n in A::WIDTHS {
                let mut w = vec![fill; n];
                if let Some(w0) = w.first_mut() {
                    let mask = ((1u64 << opcode_bits) - 1) << opcode_word_shift;
                    *w0 = (*w0 & !mask) | (op << opcode_word_shift);
                }
                ok(check_r1::<A>(&w));
            }
        }
    }
}

#[test]
fn r1_every_opcode() {
    every_opcode::<Smmu>(0, 8);
    every_opcode::<Amd>(60, 4);
    // RISC-V opcode w0[6:0] and func3 w0[9:7].
    every_opcode::<Riscv>(0, 10);
    // virtio-iommu's type byte, at every request length.
    every_opcode::<Virtio>(0, 8);
    // VT-d type: w0[3:0] and w0[11:9]; iterate the low byte and bits 9..11 together.
    for t in 0..128u64 {
        let lo = t & 0xf;
        let hi = t >> 4;
        for &n in Vtd::WIDTHS {
            let mut w = vec![0u64; n];
            w[0] = lo | (hi << 9);
            ok(check_r1::<Vtd>(&w));
        }
    }
}
