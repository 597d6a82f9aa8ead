//! The fuzz generators (feature `arbitrary`): valid commands only from
//! `Command::arbitrary`, and raw words that reach every error kind.
#![cfg(feature = "arbitrary")]

use arbitrary::{Arbitrary, Unstructured};
use iommu_inval_arm::{arbitrary_words, Command};
use iommu_inval_core::ErrorKind;
use iommu_inval_core::NativeCommand;
use std::collections::HashSet;

/// Deterministic pseudo-random bytes.
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let rnd = iommu_inval_core::arb::xorshift(seed | 1);
    std::iter::repeat_with(rnd)
        .map(|x| x as u8)
        .take(n)
        .collect()
}

#[test]
fn arbitrary_commands_are_valid_and_cover_every_op() {
    let mut ops = HashSet::new();
    for seed in 0..3000 {
        let data = bytes(seed, 256);
        let mut u = Unstructured::new(&data);
        if let Ok(c) = Command::arbitrary(&mut u) {
            assert_eq!(Command::decode(&c.encode()), Ok(c));
            ops.insert(c.op());
        }
    }
    assert_eq!(ops.len(), 34, "{ops:?}");
}

#[test]
fn arbitrary_words_reach_every_error_kind() {
    let mut kinds = HashSet::new();
    let mut ok = 0;
    for seed in 0..3000 {
        let data = bytes(seed, 256);
        let mut u = Unstructured::new(&data);
        if let Ok(w) = arbitrary_words(&mut u) {
            match Command::decode(&w) {
                Ok(c) => {
                    assert_eq!(c.encode(), w);
                    ok += 1;
                }
                Err(e) => {
                    kinds.insert(e.kind);
                }
            }
        }
    }
    assert!(ok > 100);
    for k in [
        ErrorKind::UnknownOpcode,
        ErrorKind::ReservedBits,
        ErrorKind::InvalidField,
    ] {
        assert!(kinds.contains(&k), "{k:?} never produced");
    }
}
