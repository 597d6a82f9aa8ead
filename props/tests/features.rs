//! The decode_features fuzz body on deterministic pseudo-random bytes:
//! decoding by an emulated IOMMU's features only ever refuses, never
//! changes a command, and the everything preset is `decode`.

use iommu_inval_props::{bodies, run_cases};

#[test]
fn decode_with_features_only_refuses() {
    let r = run_cases(0xfea7, 30_000, 96, |u| {
        let bytes: Vec<u8> = (0..96).map(|_| u.arbitrary::<u8>().unwrap_or(0)).collect();
        bodies::decode_features(&bytes)
    });
    if let Err(e) = r {
        panic!("{e}");
    }
}

use iommu_inval_core::{ErrorKind, FeatureSet, NativeCommand};
use iommu_inval_props::{Amd, Arch, Riscv, Smmu, Vtd};

/// The decoding features are one contract for every architecture
/// ([`NativeCommand::Features`]): named presets oldest first with `latest`
/// last, `LATEST` the default, and `decode_with` of any preset a subset of
/// `decode` that `LATEST` does not narrow, on raw words of every shape.
fn features_contract<A: Arch>() {
    type F<A> = <<A as iommu_inval_core::arch::Arch>::Command as NativeCommand>::Features;
    let names: Vec<&str> = F::<A>::preset_names().collect();
    assert_eq!(names.last(), Some(&"latest"), "{:?}", A::ID);
    assert_eq!(F::<A>::preset("latest"), Some(F::<A>::LATEST));
    assert_eq!(F::<A>::default(), F::<A>::LATEST);
    assert_eq!(F::<A>::preset("no-such-preset"), None);
    let r = run_cases(0xca95 ^ A::ID as u64, 3_000, 64, |u| {
        let w = A::arbitrary_words(u).map_err(|e| e.to_string())?;
        let plain = A::Command::decode(&w);
        if A::Command::decode_with(&w, &F::<A>::LATEST) != plain {
            return Err(format!("{w:#x?}: decode_with(LATEST) is not decode"));
        }
        for name in F::<A>::preset_names() {
            let f = F::<A>::preset(name).ok_or("a listed preset is missing")?;
            match (A::Command::decode_with(&w, &f), &plain) {
                (Ok(c), Ok(d)) if c == *d => {}
                (Err(_), _) => {}
                (with, _) => return Err(format!("{w:#x?} {name}: {with:?} vs {plain:?}")),
            }
        }
        Ok(())
    });
    if let Err(e) = r {
        panic!("{e}");
    }
}

#[test]
fn one_features_contract_for_every_architecture() {
    features_contract::<Smmu>();
    features_contract::<Vtd>();
    features_contract::<Amd>();
    features_contract::<Riscv>();
}

/// RISC-V decodes by its features like the others: `riscv-1.0` (no NL or S
/// operand, §9.2, §9.3) refuses IOTINVAL.VMA `NL` = 1 as reserved, which
/// `latest` accepts.
#[test]
fn riscv_decode_with_presets() {
    use iommu_inval_riscv::{Command, Features, Iotinval};
    let w = Command::IotinvalVma(Iotinval {
        nl: true,
        ..Default::default()
    })
    .encode();
    let v1 = Features::preset("riscv-1.0").unwrap();
    assert_eq!(
        Command::decode_with(&w, &v1).unwrap_err().kind,
        ErrorKind::ReservedBits
    );
    assert_eq!(
        Command::decode_with(&w, &Features::LATEST),
        Command::decode(&w)
    );
}
