//! One encode contract for the four architectures (`NativeCommand`):
//! fields are validated where a command is built (`decode`, `from_fields`),
//! `encode_into` writes the fields' low bits without re-checking, and
//! `validate` tells whether a command is one `decode` could return.

mod common;

use common::{ok, scale};
use iommu_inval_core::NativeCommand;
use iommu_inval_props::{run_cases, Amd, Arch, Riscv, Smmu, Vtd};

/// Every decoded command validates and encodes to its words through both
/// paths; a command whose encoding decodes to something else does not
/// validate.
fn contract<A: Arch>(seed: u64) {
    ok(run_cases(seed, 20_000 * scale(), 64, |u| {
        let w = A::arbitrary_words(u).map_err(|e| e.to_string())?;
        let Ok(c) = A::Command::decode(&w) else {
            return Ok(());
        };
        c.validate()
            .map_err(|e| format!("decoded {c:?} does not validate: {e}"))?;
        let mut out = [0u64; 4];
        let n = c.encode_checked_into(&mut out).map_err(|e| e.to_string())?;
        if out.get(..n) != Some(&w[..]) {
            return Err(format!("{c:?}: checked encode differs from its words"));
        }
        Ok(())
    }));
}

#[test]
fn decoded_commands_validate() {
    contract::<Smmu>(0xec_0001);
    contract::<Vtd>(0xec_0002);
    contract::<Amd>(0xec_0003);
    contract::<Riscv>(0xec_0004);
}

#[test]
fn over_wide_struct_literals_truncate_and_do_not_validate() {
    use iommu_inval_amd::{Command as A, InvalidateDevtabEntry};
    use iommu_inval_arm::{Cfgi, Command as S};
    use iommu_inval_vtd::{Command as V, PIotlbInv};
    let mut out = [0u64; 4];
    // SMMUv3 CMD_CFGI_CD with a 21-bit SSID.
    let s: S = S::CfgiCd(Cfgi {
        ssec: false,
        ssid: 1 << 20,
        sid: 0,
        leaf: false,
        ..Default::default()
    });
    assert_eq!(s.encode_into(&mut out), Ok(2));
    assert!(s.validate().is_err() && s.encode_checked_into(&mut out).is_err());
    // VT-d p_iotlb_inv_dsc with a 21-bit PASID.
    let v = V::PIotlbInv(PIotlbInv {
        g: 2,
        am: 0,
        wide: false,
        ih: false,
        did: 1,
        address: 0,
        pasid: 1 << 20,
    });
    assert_eq!(v.encode_into(&mut out), Ok(2));
    assert!(v.validate().is_err());
    // AMD-Vi INVALIDATE_DEVTAB_ENTRY cannot be over-wide (u16 device id): it validates.
    let a = A::InvalidateDevtabEntry(InvalidateDevtabEntry { device_id: 0xffff });
    assert_eq!(a.validate(), Ok(()));
    assert_eq!(a.encode_checked_into(&mut out), Ok(2));
    // RISC-V IODIR.INVAL_DDT with a 25-bit DID, and an IOTINVAL.GVMA
    // literal with PSCV (illegal): both encode, neither validates.
    use iommu_inval_riscv::{Command as R, IodirInvalDdt, Iotinval};
    let r = R::IodirInvalDdt(IodirInvalDdt {
        dv: true,
        did: 1 << 24,
    });
    assert_eq!(r.encode_into(&mut out), Ok(2));
    assert!(r.validate().is_err());
    let g = R::IotinvalGvma(Iotinval {
        pscv: true,
        ..Default::default()
    });
    assert_eq!(g.encode_into(&mut out), Ok(2));
    assert!(g.validate().is_err() && g.encode_checked_into(&mut out).is_err());
}
