//! `copy_checked` (the checked pass-through) against decode + encode of
//! each command, on guest queues of every architecture mixing valid
//! commands, the crates' raw words and random words, with wrong strides
//! and trailing partial commands: the same result, the same destination
//! words. Every outcome shows up: whole queues copied, queues stopped at a
//! later command by each error kind, and shape errors.

mod common;

use common::{ok, scale};
use iommu_inval_core::ErrorKind;
use iommu_inval_props::{bodies, run_cases, Tally};

#[test]
fn copy_checked_agrees_with_decode_encode() {
    let mut t = Tally::default();
    ok(run_cases(0xc0b7, 20_000 * scale(), 512, |u| {
        let len = u.int_in_range(0usize..=512).map_err(|e| e.to_string())?;
        let bytes = u.bytes(len.min(u.len())).map_err(|e| e.to_string())?;
        let (arch, r) = bodies::copy_case(bytes)?;
        t.add(match r {
            Ok(0) => format!("{arch} empty"),
            Ok(_) => format!("{arch} copied"),
            Err(e) if e.index > 0 => format!("{arch} stopped {}", e.error.kind),
            Err(e) => format!("{arch} first {}", e.error.kind),
        });
        Ok(())
    }));
    for arch in ["smmuv3", "vtd", "amd", "riscv"] {
        for k in [
            "copied".to_string(),
            format!("stopped {}", ErrorKind::ReservedBits),
            format!("stopped {}", ErrorKind::UnknownOpcode),
            format!("first {}", ErrorKind::BadLength),
        ] {
            let key = format!("{arch} {k}");
            assert!(t.get(&key) > 0, "no case of {key}: {:?}", t.0);
        }
    }
    // The value rules beyond reserved bits (SMMUv3 cs/resp/ranges, VT-d
    // granularities, RISC-V operand rules) stop queues too.
    for arch in ["smmuv3", "vtd", "riscv"] {
        let key = format!("{arch} stopped {}", ErrorKind::InvalidField);
        assert!(t.get(&key) > 0, "no case of {key}: {:?}", t.0);
    }
}

/// The corpus-free fuzz body on short and empty inputs.
#[test]
fn copy_checked_on_tiny_inputs() {
    for n in 0..4usize {
        for b in 0..=255u8 {
            ok(bodies::copy_checked(&vec![b; n]));
        }
    }
}
