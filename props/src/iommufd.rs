//! Oracles for the iommufd targets (crate `iommu-inval-iommufd`):
//!
//! * **vSMMU entries**: a command the library accepts has a permitted
//!   opcode, its entry is the guest's words, the command the host runs
//!   (after the kernel's rewriting) decodes, carries the vSMMU's VMID / the
//!   vDEVICE's pSID, and never under-invalidates what the guest owns (R4);
//!   a refusal is confirmed independently (the offending bits are set, the
//!   vSID is unknown, the host lacks the feature, the opcode is not
//!   permitted); and every permitted command without a disallowed bit on a
//!   full-featured host with its vSID mapped is accepted.
//! * **VT-d stage-1 entries**: every entry passes the kernel's checks, its
//!   footprint covers the stage-1 IOTLB part of its op (R4), and every other
//!   part of the op is reported in `VmmWork` (nothing silently dropped).
//! * **CMDQV**: what goes to a VCMDQ is a CMD_SYNC or a permitted opcode.

use arbitrary::Unstructured;
use iommu_inval::{AnyCommand, NativeAny};
use iommu_inval_arm::Command;
use iommu_inval_core::context::{IommufdHost, Topology};
use iommu_inval_core::footprint::Relation;
use iommu_inval_core::model::{Caches, DomainSel, Op, PasidSel, Regime, Stages, Widened};
use iommu_inval_core::Flags;
use iommu_inval_core::{ArchId, Context, FieldValue, NativeCommand};
use iommu_inval_iommufd::cmdqv;
use iommu_inval_iommufd::explain::{smmuv3_relation, vtd_relation};
use iommu_inval_iommufd::smmuv3::{HostFeature, HostFeatures, Refusal, VdevTable, Vsmmu};
use iommu_inval_iommufd::vtd::{s1_entry, S1Options, VmmWork};

/// The opcodes the kernel's vSMMU permits (the uAPI header's list).
pub const PERMITTED: [u8; 8] = [0x30, 0x12, 0x13, 0x10, 0x11, 0x40, 0x05, 0x06];

/// A vSMMU and vDEVICE table drawn from `u` around the topology's ids.
pub fn arbitrary_vsmmu(
    u: &mut Unstructured<'_>,
    topo: &Topology,
    cmd: &Command,
) -> arbitrary::Result<(Vsmmu, Vec<(u32, u32)>)> {
    let vmids: Vec<u16> = topo
        .file()
        .domains
        .iter()
        .filter_map(|d| d.smmuv3.map(|s| s.vmid))
        .collect();
    let vmid = if !vmids.is_empty() && u.arbitrary::<bool>()? {
        *u.choose(&vmids)?
    } else {
        u.arbitrary()?
    };
    let full = u.ratio(1u8, 2)?;
    // The host features as the topology's `iommufd.host` section gives
    // them to the CLI (through its JSON form, defaults included).
    let host = if full {
        IommufdHost {
            ds: true,
            ..IommufdHost::default()
        }
    } else {
        arbitrary_host(u)?
    };
    let features = HostFeatures::from(&host);
    let mut vdevs = Vec::new();
    let vsid = (cmd.encode()[0] >> 32) as u32;
    let mut psids = topo
        .file()
        .devices
        .iter()
        .map(|d| d.rid)
        .collect::<Vec<_>>();
    psids.push(vsid);
    if full || u.arbitrary::<bool>()? {
        let p = *u.choose(&psids)?;
        vdevs.push((vsid, p));
    }
    Ok((Vsmmu::new(vmid, features), vdevs))
}

/// The `iommufd.host` section of a topology, drawn from `u`: each feature
/// on or off, ASIDs of 8 or 16 bits, 0..=20 SubstreamID bits, and read back
/// through its JSON form (a field left out is its default).
pub fn arbitrary_host(u: &mut Unstructured<'_>) -> arbitrary::Result<IommufdHost> {
    let h = IommufdHost {
        ds: u.arbitrary()?,
        range_inv: u.arbitrary()?,
        asid_bits: if u.arbitrary()? { 8 } else { 16 },
        ssid_bits: u.int_in_range(0..=20)?,
        ats: u.arbitrary()?,
    };
    let mut v = serde_json::to_value(h).map_err(|_| arbitrary::Error::IncorrectFormat)?;
    if let Some(m) = v.as_object_mut() {
        // Leave out the fields equal to their default: the file may.
        let d = serde_json::to_value(IommufdHost::default())
            .map_err(|_| arbitrary::Error::IncorrectFormat)?;
        m.retain(|k, x| d.get(k) != Some(x) || u.arbitrary().unwrap_or(false));
    }
    let text = serde_json::json!({ "iommufd": { "host": v } }).to_string();
    let t = Topology::from_json(&text).map_err(|_| arbitrary::Error::IncorrectFormat)?;
    Ok(t.file()
        .iommufd
        .as_ref()
        .map(|i| i.host)
        .unwrap_or_default())
}

/// The value of `cmd`'s field `name` (0 when its op has none): fields by
/// name, as the command tables spell them.
fn named(cmd: &Command, name: &str) -> u64 {
    let mut v = 0;
    NativeCommand::for_each_field(cmd, &mut |n, x| {
        if n == name {
            v = match x {
                FieldValue::Bool(b) => u64::from(b),
                FieldValue::Uint(u) => u,
                FieldValue::Pair(_) => 0,
            };
        }
    });
    v
}

/// The fields of an accepted command that need a host feature are only
/// used on a host with it (issue 28 item 2: the kernel refuses them, and
/// the whole batch with them, otherwise).
fn check_features_used(cmd: &Command, f: &HostFeatures) -> Result<(), String> {
    let w = cmd.encode();
    let name = NativeCommand::op(cmd);
    let op = cmd.opcode();
    let need = |used: bool, has: bool, what: &str| {
        if used && !has {
            Err(format!(
                "{name} {w:#x?}: accepted with {what} on a host without it ({f:?})"
            ))
        } else {
            Ok(())
        }
    };
    if matches!(op, 0x12 | 0x13) {
        let scale = named(cmd, "scale");
        let ranged = named(cmd, "num") | scale | named(cmd, "tg") | named(cmd, "ttl") != 0;
        need(ranged, f.range_inv, "range fields")?;
        need(scale >= 32, f.ds, "SCALE above 31 (DS)")?;
        need(
            named(cmd, "tg") == 2 && named(cmd, "ttl") == 1,
            f.ds,
            "TTL 1 with a 16 KiB granule (DS)",
        )?;
    }
    if matches!(op, 0x11 | 0x12) {
        need(
            named(cmd, "asid") > 0xff,
            f.asid_bits >= 16,
            "a 16-bit ASID",
        )?;
    }
    if op == 0x40 {
        need(true, f.ats, "ATC_INV (ATS)")?;
        let sub = named(cmd, "ssv") | named(cmd, "ssid") | named(cmd, "global") != 0;
        need(sub, f.ssid_bits != 0, "SSV/SSID/Global (substreams)")?;
    }
    if op == 0x05 {
        need(
            named(cmd, "ssid") != 0,
            f.ssid_bits != 0,
            "an SSID (substreams)",
        )?;
    }
    Ok(())
}

/// The vSMMU properties for one SMMUv3 command.
pub fn check_vsmmu(
    cmd: &Command,
    vsmmu: &Vsmmu,
    vdevs: &[(u32, u32)],
    ctx: &dyn Context,
) -> Result<&'static str, String> {
    let w = cmd.encode();
    let op = cmd.opcode();
    let permitted = PERMITTED.contains(&op);
    let name = NativeCommand::op(cmd);
    match vsmmu.guest_entry(cmd, vdevs) {
        Ok(e) => {
            if !permitted {
                return Err(format!("{name}: accepted but not a permitted opcode"));
            }
            if e.cmd != w {
                return Err(format!(
                    "{name}: entry {:x?} is not the guest's words {w:x?}",
                    e.cmd
                ));
            }
            let host = vsmmu
                .host_command(cmd, vdevs)
                .map_err(|r| format!("{name}: entry but no host command: {r}"))?;
            let hc = Command::decode(&host)
                .map_err(|e| format!("{name}: host command {host:x?} does not decode: {e}"))?;
            match hc {
                Command::TlbiNhAll(_)
                | Command::TlbiNhAsid(_)
                | Command::TlbiNhVa(_)
                | Command::TlbiNhVaa(_) => {
                    if named(&hc, "vmid") != u64::from(vsmmu.vmid) {
                        return Err(format!("{name}: host VMID is not the vSMMU's"));
                    }
                }
                Command::AtcInv(_) | Command::CfgiCd(_) | Command::CfgiCdAll(_) => {
                    let vsid = (w[0] >> 32) as u32;
                    if Some((host[0] >> 32) as u32) != vdevs.psid(vsid) {
                        return Err(format!("{name}: host SID is not the vDEVICE's pSID"));
                    }
                }
                other => return Err(format!("{name}: host runs {}", NativeCommand::op(&other))),
            }
            check_features_used(cmd, &vsmmu.features)?;
            match smmuv3_relation(cmd, vsmmu, vdevs, ctx) {
                Ok(Relation::Under { missing }) => Err(format!(
                    "{name} {w:#x?}: R4: host command {host:#x?} leaves {missing} box(es) of the guest's request"
                )),
                Ok(_) => Ok("accepted"),
                Err(r) => Err(format!("{name}: relation refused after acceptance: {r}")),
            }
        }
        Err(r) => {
            if r.reason().is_empty() || r.action().is_empty() {
                return Err(format!("{name}: refusal without reason"));
            }
            confirm_refusal(cmd, vsmmu, vdevs, &r).map_err(|e| format!("{name}: {r:?}: {e}"))?;
            if r == Refusal::NoAts {
                return Ok("refused: host lacks ATS");
            }
            if let Refusal::HostLacks { feature, .. } = r {
                return Ok(match feature {
                    HostFeature::Ds => "refused: host lacks DS",
                    HostFeature::RangeInv => "refused: host lacks range invalidation",
                    HostFeature::Asid16 => "refused: host lacks 16-bit ASIDs",
                    HostFeature::Substreams => "refused: host lacks substreams",
                    HostFeature::Ats => "refused: host lacks ATS",
                });
            }
            // Every permitted command passes on a full host with its vSID
            // mapped, once it has no Secure bit and a legal ATC Size.
            let f = vsmmu.features;
            let full = f.asid_bits == 16 && f.range_inv && f.ds && f.ats && f.ssid_bits > 0;
            // The kernel's masks have no TTL128 (w1[7], IHI0070 §4.4.1.1:
            // newer than the vSMMU rules), so a TLBI with it is refused.
            let ttl128 = matches!(op, 0x12 | 0x13) && w[1] & 0x80 != 0;
            let clean = named(cmd, "ssec") == 0 && !ttl128;
            let atc_ok = op != 0x40 || named(cmd, "size") <= 52;
            let sid_ok =
                !matches!(op, 0x40 | 0x05 | 0x06) || vdevs.psid((w[0] >> 32) as u32).is_some();
            if permitted && full && clean && atc_ok && sid_ok {
                return Err(format!(
                    "{name} {w:#x?}: a clean permitted command was refused: {r}"
                ));
            }
            Ok("refused")
        }
    }
}

/// `Ok` when `holds`, else the refusal's mismatch `why`.
fn holds_or(holds: bool, why: &'static str) -> Result<(), &'static str> {
    holds.then_some(()).ok_or(why)
}

fn confirm_refusal(
    cmd: &Command,
    vsmmu: &Vsmmu,
    vdevs: &[(u32, u32)],
    r: &Refusal,
) -> Result<(), String> {
    let w = cmd.encode();
    let op = cmd.opcode();
    let permitted = PERMITTED.contains(&op);
    match r {
        Refusal::Sync => holds_or(op == 0x46, "Barrier for another op"),
        Refusal::SteConfig => holds_or(matches!(op, 0x03 | 0x04), "not CFGI_STE*"),
        Refusal::Prefetch => holds_or(matches!(op, 0x01 | 0x02), "not a prefetch"),
        Refusal::PageResponse => holds_or(op == 0x41, "not PRI_RESP"),
        Refusal::Stall => holds_or(matches!(op, 0x44 | 0x45), "not a stall command"),
        Refusal::Stage2 => holds_or(matches!(op, 0x28 | 0x2a), "not a stage-2 TLBI"),
        Refusal::OtherRegime => holds_or(
            matches!(op, 0x18 | 0x1a | 0x20..=0x23 | 0x50..=0x53 | 0x58 | 0x5a | 0x60),
            "not an EL2/EL3/Secure TLBI",
        ),
        Refusal::HostState => holds_or(matches!(op, 0x07 | 0x70), "not CFGI_VMS_PIDM / DPTI_ALL"),
        Refusal::DisallowedBits { word, bits } => {
            let v = w.get(usize::from(*word)).copied().unwrap_or(0);
            holds_or(
                permitted && *bits != 0 && v & bits == *bits,
                "the named bits are not set",
            )
        }
        Refusal::HostLacks {
            feature,
            word,
            bits,
        } => {
            // The host lacks the feature, the bits are set, and a host with
            // the feature allows them.
            let v = w.get(usize::from(*word)).copied().unwrap_or(0);
            let mask = |f: HostFeatures| {
                Vsmmu::new(vsmmu.vmid, f)
                    .allowed(op)
                    .ok()
                    .and_then(|m| m.get(usize::from(*word)).copied())
                    .unwrap_or(0)
            };
            let with = mask(vsmmu.features.with(*feature));
            let now = mask(vsmmu.features);
            // TTL 1 with a 16 KiB granule: DS by arm_vsmmu_validate_range.
            let ttl_ds = *feature == HostFeature::Ds
                && *word == 1
                && named(cmd, "tg") == 2
                && named(cmd, "ttl") == 1;
            holds_or(
                permitted
                    && !vsmmu.features.has(*feature)
                    && *bits != 0
                    && v & bits == *bits
                    && ((bits & with == *bits && bits & now == 0) || ttl_ds),
                "the host has the feature, or the bits are not set or not the feature's",
            )
        }
        Refusal::ReservedRange => holds_or(
            permitted && vsmmu.features.range_inv,
            "range refused without range invalidation",
        ),
        Refusal::NoAts => holds_or(op == 0x40 && !vsmmu.features.ats, "NoAts on an ATS host"),
        Refusal::AtcSize => holds_or(
            op == 0x40 && named(cmd, "size") > 52,
            "AtcSize with size <= 52",
        ),
        Refusal::UnknownVsid(v) => holds_or(
            vdevs.psid(*v).is_none() && *v == (w[0] >> 32) as u32,
            "the vSID is mapped",
        ),
        Refusal::Illegal(_) => Err("a decoded command refused as illegal"),
        _ => Err("a refusal this check does not know"),
    }
    .map_err(str::to_owned)
}

/// The CMDQV property: what goes to a VCMDQ is a sync or a permitted opcode.
pub fn check_cmdqv(cmd: &Command) -> Result<(), String> {
    let r = cmdqv::route(cmd);
    if r == cmdqv::Route::Vcmdq && cmd.opcode() != 0x46 && !PERMITTED.contains(&cmd.opcode()) {
        return Err(format!(
            "{}: to a VCMDQ but not a vSMMU opcode",
            NativeCommand::op(cmd)
        ));
    }
    Ok(())
}

/// The VT-d stage-1 properties for one generic op.
pub fn check_vtd_op(op: &Op, opts: &S1Options, ctx: &dyn Context) -> Result<(), String> {
    let r = s1_entry(op, opts);
    if let Some(e) = &r.entry {
        e.entry.check().map_err(|k| {
            format!(
                "entry {:?} refused by the kernel: {k:?} (op {op:?})",
                e.entry
            )
        })?;
    }
    if let Relation::Under { missing } = vtd_relation(op, r.entry.as_ref(), opts, ctx) {
        return Err(format!(
            "R4: VT-d stage-1 entry {:?} leaves {missing} box(es) of {op:?}",
            r.entry
        ));
    }
    let Op::Inval(i) = op else {
        return if r.vmm.is_empty() || r.entry.is_some() {
            Err(format!("{op:?}: not an invalidation and not reported"))
        } else {
            Ok(())
        };
    };
    let c = i.caches;
    let need = |cache: Caches, flag: VmmWork| !c.contains(cache) || r.vmm.contains(flag);
    if !need(Caches::CONFIG_DEVICE, VmmWork::CONFIG_DEVICE)
        || !need(Caches::CONFIG_PASID, VmmWork::CONFIG_PASID)
        || !need(Caches::INTR_REMAP, VmmWork::INTR_REMAP)
    {
        return Err(format!(
            "{op:?}: a configuration or interrupt part not reported ({:?})",
            r.vmm
        ));
    }
    if c.contains(Caches::IOTLB) {
        let s1 = i.regime == Regime::Guest && i.stages.contains(Stages::S1);
        let s2 = i.regime == Regime::Guest && i.stages.contains(Stages::S2);
        if s1 && r.entry.is_none() {
            return Err(format!("{op:?}: stage-1 IOTLB without entry"));
        }
        if s2 && !opts.nest_stage2 && !r.vmm.contains(VmmWork::STAGE2) {
            return Err(format!("{op:?}: stage-2 IOTLB neither nested nor reported"));
        }
        if i.regime != Regime::Guest && !r.vmm.contains(VmmWork::OTHER_REGIME) {
            return Err(format!("{op:?}: EL2/Secure IOTLB not reported"));
        }
    }
    if c.contains(Caches::DEV_TLB) && r.entry.is_none() && !r.vmm.contains(VmmWork::DEV_TLB) {
        return Err(format!("{op:?}: device-TLB part not reported"));
    }
    Ok(())
}

/// Every iommufd property for one native command through a topology.
pub fn check_iommufd(
    u: &mut Unstructured<'_>,
    cmd: &NativeAny,
    topo: &Topology,
) -> Result<Vec<&'static str>, String> {
    let mut seen = Vec::new();
    let opts = S1Options {
        nest_stage2: u.arbitrary().unwrap_or(false),
        // The guest's architecture, or (sometimes) not said.
        guest: (!u.ratio(1u8, 8).unwrap_or(false)).then(|| cmd.arch_id()),
    };
    if let NativeAny::Smmuv3(c) = cmd {
        let (vsmmu, vdevs) = arbitrary_vsmmu(u, topo, c).map_err(|e| e.to_string())?;
        seen.push(check_vsmmu(c, &vsmmu, &vdevs, topo)?);
        check_cmdqv(c)?;
    }
    let mut ops = Vec::new();
    let lifted = cmd.lift(topo, &mut ops);
    if let Ok(o) = lifted {
        let unknown_domain = o.widened.contains(Widened::DOMAIN);
        for op in &ops {
            check_vtd_op(op, &opts, topo)?;
            seen.push("vtd-s1");
            if unknown_domain && check_unknown_domain(op, &opts, topo)? {
                seen.push("vtd-s1 unknown domain");
            }
        }
    }
    Ok(seen)
}

/// Issue 28 item 3: a stage-1 op of a domain the context does not know,
/// from a guest whose address-space tags are per domain (an SMMU ASID
/// under an unknown VMID, a RISC-V PSCID under an unknown GSCID), may be
/// any PASID: its entry covers the op with every PASID. True when the op
/// has such an entry.
pub fn check_unknown_domain(op: &Op, opts: &S1Options, ctx: &dyn Context) -> Result<bool, String> {
    let Op::Inval(i) = op else { return Ok(false) };
    let r = s1_entry(op, opts);
    let Some(e) = r.entry else { return Ok(false) };
    // (Stated here, not read from the library: VT-d and AMD-Vi guests name
    // the device's PASID; any other, or an unknown guest, a per-domain tag.)
    let per_domain = !matches!(opts.guest, Some(ArchId::Vtd | ArchId::Amd));
    if i.domain != DomainSel::All || !per_domain {
        return Ok(false);
    }
    let any: Op = i.pasid(PasidSel::All).into();
    if let Relation::Under { missing } = vtd_relation(&any, Some(&e), opts, ctx) {
        return Err(format!(
            "R4: unknown domain: entry {e:?} leaves {missing} box(es) of {op:?} over every PASID"
        ));
    }
    if i.pasid != PasidSel::All && !r.widened.contains(Widened::PASID) {
        return Err(format!("{op:?}: the PASID widened unreported"));
    }
    Ok(true)
}

/// lower_caps through a vSMMU (`backend::VsmmuBackend`): a guest-regime
/// generic op lowered to SMMUv3 for the vSMMU of a host drawn from `u` (the
/// topology's `iommufd.host`) gives only entries the kernel takes, or
/// commands it refuses by opcode alone (a sync, a configuration or stall
/// command, another regime): never one with a field the host lacks (issue
/// 28 item 2), a Reserved range or a disallowed bit, which would fail the
/// VMM's whole batch. The tally names of what it saw.
pub fn check_vsmmu_lowering(
    u: &mut Unstructured<'_>,
    op: &Op,
    ctx: &dyn Context,
) -> Result<Vec<&'static str>, String> {
    use iommu_inval_core::device::{Backend, BackendError};
    use iommu_inval_iommufd::backend::{
        Smmuv3Forwarder, ViommuInvalidator, VsmmuBackend, VsmmuWork,
    };
    use iommu_inval_iommufd::uapi::ViommuArmSmmuv3Invalidate;

    struct Sent(Vec<[u64; 2]>);
    impl ViommuInvalidator for Sent {
        fn invalidate_smmuv3(
            &mut self,
            e: &[ViommuArmSmmuv3Invalidate],
        ) -> Result<(), BackendError> {
            self.0.extend(e.iter().map(|x| x.cmd));
            Ok(())
        }
    }

    let mut seen = Vec::new();
    if let Op::Inval(i) = op {
        if i.regime != Regime::Guest {
            return Ok(seen);
        }
    }
    let host = arbitrary_host(u).map_err(|e| e.to_string())?;
    let features = HostFeatures::from(&host);
    let vsmmu = Vsmmu::new(u.arbitrary().map_err(|e| e.to_string())?, features);
    // Every StreamID has a vDEVICE (the VMM allocates them at attach).
    let vdevs = iommu_inval_iommufd::smmuv3::VdevFn(Some);
    let fwd = Smmuv3Forwarder::new(vsmmu, vdevs, Sent(Vec::new()));
    let mut work = Vec::new();
    let mut be = VsmmuBackend::new(fwd, ctx, |_: &Op, w: VsmmuWork| {
        work.push(w);
        Ok(())
    });
    be.execute(core::slice::from_ref(op))
        .and_then(|()| be.barrier(&iommu_inval_core::model::Barrier::default()))
        .map_err(|e| format!("{op:?}: the backend failed: {e:?}"))?;
    let sent = core::mem::take(&mut be.fwd.ioctl.0);
    drop(be);
    for w in &sent {
        vsmmu.validate(w).map_err(|r| {
            format!(
                "{op:?}: vSMMU host {features:?} was sent {w:#x?}, which the kernel refuses: {r}"
            )
        })?;
        seen.push("vsmmu lowering accepted");
    }
    for w in work {
        match w {
            VsmmuWork::Refused(
                Refusal::Sync
                | Refusal::SteConfig
                | Refusal::Prefetch
                | Refusal::PageResponse
                | Refusal::Stall
                | Refusal::OtherRegime
                | Refusal::HostState,
            ) => seen.push("vsmmu lowering refused by opcode"),
            VsmmuWork::Refused(r) => {
                return Err(format!(
                "{op:?} lowered for vSMMU host {features:?} to a command the kernel refuses: {r}"
            ))
            }
            VsmmuWork::Dropped(_) | VsmmuWork::NoEquivalent(_) => {}
        }
    }
    Ok(seen)
}
