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
