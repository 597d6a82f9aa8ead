//! Known answers from the spec tables (props/src/vectors.rs, hand-computed):
//! each valid vector decodes to its op with exactly the listed fields, and
//! passes R1; each invalid vector is the listed error kind.

mod common;

use common::tests;
use iommu_inval_core::{FieldValue, NativeCommand};
use iommu_inval_props::vectors::{
    Bad, Vector, AMD, AMD_BAD, RISCV, RISCV_BAD, SMMUV3, SMMUV3_BAD, VTD, VTD_BAD,
};
use iommu_inval_props::{check_r1, fields_of, hex, Amd, Arch, Riscv, Smmu, Vtd};

/// Fails with every failure listed, if there is one.
fn assert_none<A: Arch>(what: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} {what} failures:\n{}",
        A::ID,
        failures.join("\n")
    );
}

fn good<A: Arch>(vectors: &[Vector]) {
    let mut failures = Vec::new();
    for (op, words, want) in vectors {
        let c = match <A::Command as NativeCommand>::decode(words) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{op} [{}]: decode error {e:?}", hex(words)));
                continue;
            }
        };
        if c.op() != *op {
            failures.push(format!(
                "[{}]: decoded as {}, want {op}",
                hex(words),
                c.op()
            ));
            continue;
        }
        for (name, v) in fields_of(&c) {
            let expect = want.iter().find(|(n, _)| *n == name).map_or(0, |(_, x)| *x);
            let fine = match v {
                FieldValue::Bool(b) => u64::from(b) == expect,
                FieldValue::Uint(x) => x == expect,
                // VT-d priv_data: [w2, w3] of a 256-bit descriptor.
                FieldValue::Pair(p) => p.as_slice() == words.get(2..4).unwrap_or(&[0, 0]),
            };
            if !fine {
                failures.push(format!(
                    "{op} [{}]: field {name} = {v:?}, want {expect:#x}",
                    hex(words)
                ));
            }
        }
        for (name, _) in want.iter() {
            if !fields_of(&c).iter().any(|(n, _)| n == name) {
                failures.push(format!("{op} [{}]: no field {name}", hex(words)));
            }
        }
        if let Err(e) = check_r1::<A>(words) {
            failures.push(e);
        }
    }
    assert_none::<A>("known-answer", &failures);
}

fn bad<A: Arch>(vectors: &[Bad]) {
    let mut failures = Vec::new();
    for (what, words, kinds) in vectors {
        match <A::Command as NativeCommand>::decode(words) {
            Ok(c) => failures.push(format!("{what} [{}]: decodes as {}", hex(words), c.op())),
            Err(e) if kinds.split('|').any(|k| k == e.kind.as_str()) => {}
            Err(e) => failures.push(format!("{what} [{}]: {}, want {kinds}", hex(words), e.kind)),
        }
        if let Err(e) = check_r1::<A>(words) {
            failures.push(e);
        }
    }
    assert_none::<A>("invalid-vector", &failures);
}

tests! {
    smmuv3_known_answers => good::<Smmu>(SMMUV3);
    vtd_known_answers => good::<Vtd>(VTD);
    amd_known_answers => good::<Amd>(AMD);
    riscv_known_answers => good::<Riscv>(RISCV);
    riscv_invalid_vectors => bad::<Riscv>(RISCV_BAD);
    smmuv3_invalid_vectors => bad::<Smmu>(SMMUV3_BAD);
    vtd_invalid_vectors => bad::<Vtd>(VTD_BAD);
    amd_invalid_vectors => bad::<Amd>(AMD_BAD);
}

/// Every op of every architecture has at least one known-answer vector.
#[test]
fn vectors_cover_every_op() {
    fn cover<A: Arch>(v: &[Vector]) {
        for op in <A::Command as NativeCommand>::op_names() {
            assert!(
                v.iter().any(|(o, _, _)| o == op),
                "{}: no vector for {op}",
                A::ID
            );
        }
    }
    cover::<Smmu>(SMMUV3);
    cover::<Vtd>(VTD);
    cover::<Amd>(AMD);
    cover::<Riscv>(RISCV);
}
