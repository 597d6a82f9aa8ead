//! Footprints of the entries against their input (R4 of the design: never
//! under-invalidate), after the kernel's rewriting. Feature `std`.
//!
//! Ids are the host's: the guest's commands are read with the vSMMU's VMID
//! and the physical StreamIDs of the vDEVICE table (what the guest means on
//! this host), and only the part of the cache the guest owns is compared:
//! its stage-1 (NS-EL1) IOTLB entries in the vSMMU's domain, the CDs and
//! ATCs of its devices. A guest's CMD_TLBI_NSNH_ALL, "every NS-EL1 and
//! stage-2 entry", means that part on a vSMMU (stage 2 is the host's), and
//! the kernel's NH_ALL of the vSMMU's VMID removes exactly it.

use crate::smmuv3::field;
use crate::smmuv3::{Refusal, VdevTable, Vsmmu};
use crate::vtd::{footprint as vtd_fp, S1Entry, S1Options};
use iommu_inval_arm::{Command, Smmuv3};
use iommu_inval_core::footprint::{kind, Dim, FBox, Footprint, Relation};
use iommu_inval_core::model::{Caches, DomainSel, Inval, Op, Stages};
use iommu_inval_core::NativeCommand;
use iommu_inval_core::{arch::Arch, ArchId, Context};

/// The part of the cache a vSMMU guest owns: stage-1 IOTLB entries of the
/// guest regime in the vSMMU's domain (every domain when `ctx` does not know
/// the VMID), CDs and ATC entries.
pub(crate) fn guest_owned(vsmmu: &Vsmmu, ctx: &dyn Context) -> Footprint {
    let mut f = match ctx.domain_from_native(ArchId::Smmuv3, u32::from(vsmmu.vmid)) {
        // The domain's stage-1 entries as the context knows them (with the
        // PASIDs it lists for the domain, when it lists any).
        Some(d) => Footprint::of_inval(
            &Inval::new(Caches::IOTLB)
                .stage(Stages::S1)
                .domain(DomainSel::One(d)),
            ctx,
        ),
        None => {
            let mut f = Footprint::new();
            f.push(
                FBox::everything()
                    .with(Dim::Kind, kind(Caches::IOTLB), kind(Caches::IOTLB))
                    .with(Dim::Regime, 0, 0)
                    .with(Dim::Stage, 0, 0),
            );
            f
        }
    };
    f.push(FBox::everything().with(
        Dim::Kind,
        kind(Caches::CONFIG_PASID),
        kind(Caches::CONFIG_PASID),
    ));
    f.push(FBox::everything().with(Dim::Kind, kind(Caches::DEV_TLB), kind(Caches::DEV_TLB)));
    f
}

fn intersect(a: &Footprint, b: &Footprint) -> Footprint {
    a.minus(&a.minus(b))
}

/// What a guest command asks for, in host ids, within the part it owns.
/// Refused commands (no entry) ask nothing of the entries.
pub(crate) fn smmuv3_request<V: VdevTable + ?Sized>(
    cmd: &Command,
    vsmmu: &Vsmmu,
    vdevs: &V,
    ctx: &dyn Context,
) -> Footprint {
    let mut w = cmd.encode();
    match cmd {
        Command::TlbiNhVa(_)
        | Command::TlbiNhVaa(_)
        | Command::TlbiNhAll(_)
        | Command::TlbiNhAsid(_) => {
            w[0] = (w[0] & !field::vmid()) | (u64::from(vsmmu.vmid) << 32);
        }
        Command::AtcInv(_) | Command::CfgiCd(_) | Command::CfgiCdAll(_) => {
            let Some(p) = vdevs.psid((w[0] >> 32) as u32) else {
                return Footprint::new();
            };
            w[0] = (w[0] & !field::sid()) | (u64::from(p) << 32);
        }
        Command::TlbiNsnhAll => {}
        _ => return Footprint::new(),
    }
    match Command::decode(&w) {
        Ok(c) => intersect(&Smmuv3::footprint(&c, ctx), &guest_owned(vsmmu, ctx)),
        Err(_) => Footprint::new(),
    }
}

/// What the host removes for the command the kernel issues.
pub(crate) fn smmuv3_host(host_words: &[u64; 2], ctx: &dyn Context) -> Footprint {
    match Command::decode(host_words) {
        Ok(c) => Smmuv3::footprint(&c, ctx),
        Err(_) => Footprint::new(),
    }
}

/// The relation of the host's removal to the guest's request (or the refusal).
pub fn smmuv3_relation<V: VdevTable + ?Sized>(
    cmd: &Command,
    vsmmu: &Vsmmu,
    vdevs: &V,
    ctx: &dyn Context,
) -> Result<Relation, Refusal> {
    let host = vsmmu.host_command(cmd, vdevs)?;
    Ok(smmuv3_host(&host, ctx).relation_to(&smmuv3_request(cmd, vsmmu, vdevs, ctx)))
}

/// The relation of a VT-d stage-1 entry's removal to the part of `op` it
/// carries (the part the kernel must remove); an op without entry carries nothing.
pub fn vtd_relation(
    op: &Op,
    entry: Option<&S1Entry>,
    opts: &S1Options,
    ctx: &dyn Context,
) -> Relation {
    let asked = vtd_fp::carried_part(op, opts, ctx);
    let got = entry.map_or_else(Footprint::new, |e| vtd_fp::of_entry(e, ctx));
    got.relation_to(&asked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smmuv3::HostFeatures;
    use iommu_inval_arm::*;
    use iommu_inval_core::IdentityContext;

    #[test]
    fn nsnh_all_is_exact_on_the_guest_part() {
        let v = Vsmmu::new(3, HostFeatures::default());
        let c: Command = Command::TlbiNsnhAll;
        let r = smmuv3_relation(&c, &v, &[(1u32, 2u32)], &IdentityContext).unwrap();
        assert_eq!(r, Relation::Exact);
        // Against the raw (all-domain, all-stage) request it would be under:
        let raw = Smmuv3::footprint(&c, &IdentityContext);
        let host = smmuv3_host(
            &v.host_command(&c, &[(1u32, 2u32)]).unwrap(),
            &IdentityContext,
        );
        assert!(!host.covers(&raw));
    }

    #[test]
    fn atc_inv_is_exact_after_the_sid_translation() {
        let v = Vsmmu::new(3, HostFeatures::default());
        let c: Command = Command::AtcInv(AtcInv {
            global: false,
            ssv: false,
            ssid: 0,
            sid: 1,
            size: 3,
            address: 0x8000,
        });
        let r = smmuv3_relation(&c, &v, &[(1u32, 0x40u32)], &IdentityContext).unwrap();
        assert_eq!(r, Relation::Exact);
    }
}
