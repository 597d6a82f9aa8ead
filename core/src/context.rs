//! Resolving hardware ids.
//!
//! Native commands name hardware ids (SMMU VMID/ASID/StreamID, VT-d
//! DID/source-id, AMD DomainID/DeviceID). Lifting and lowering ask a
//! [`Context`] how those relate to the generic ids: domains, PASIDs and
//! devices (PCI requester ids, which every architecture uses as its device
//! id). An emulator implements it from its own state; the CLI uses
//! [`Topology`] (feature `std`), loaded from the JSON topology file.
//!
//! An id the context does not know is answered with `None` / `false`; the
//! caller then widens (rule 1 of DESIGN.md) and reports it.

use crate::model::DomainSel;
use crate::native::ArchId;

/// Answers questions about ids. All methods are cheap and never allocate.
pub trait Context {
    /// The generic domain of native domain id `native` (VMID, DID, DomainID).
    fn domain_from_native(&self, arch: ArchId, native: u32) -> Option<u32>;
    /// The native domain id of generic domain `domain` on `arch`.
    fn domain_to_native(&self, arch: ArchId, domain: u32) -> Option<u32>;
    /// Calls `f` with each PASID whose SMMU context descriptor uses `asid`
    /// (in `domain`, or in any domain). Returns `false` when the ASID is unknown.
    fn pasids_of_asid(&self, domain: DomainSel, asid: u16, f: &mut dyn FnMut(u32)) -> bool;
    /// The SMMU ASID used by `pasid` in `domain` (or in any domain).
    fn asid_of_pasid(&self, domain: DomainSel, pasid: u32) -> Option<u16>;
    /// Calls `f` with each SMMU ASID that `pasid` uses in `domain` (or in
    /// any domain): one PASID may use different ASIDs on different devices.
    /// Returns `false` when the ASID of some use is unknown. The default
    /// reports [`Context::asid_of_pasid`].
    fn asids_of_pasid(&self, domain: DomainSel, pasid: u32, f: &mut dyn FnMut(u16)) -> bool {
        match self.asid_of_pasid(domain, pasid) {
            Some(a) => {
                f(a);
                true
            }
            None => false,
        }
    }
    /// Calls `f` with each device (requester id) of `domain`. Returns `false`
    /// when the domain's devices are unknown.
    fn devices_of_domain(&self, domain: u32, f: &mut dyn FnMut(u32)) -> bool;
    /// The generic domain of a device.
    fn domain_of_device(&self, rid: u32) -> Option<u32>;
    /// Whether the device has ATS enabled (a device TLB). Unknown devices: `true`
    /// (assume a device TLB, so that nothing is under-invalidated).
    fn ats_enabled(&self, rid: u32) -> bool;
}

/// The context of an unconfigured system: every native domain id *is* the
/// generic domain id, an SMMU ASID is numerically the PASID, and nothing is
/// known of which devices a domain holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdentityContext;

impl Context for IdentityContext {
    fn domain_from_native(&self, _arch: ArchId, native: u32) -> Option<u32> {
        Some(native)
    }
    fn domain_to_native(&self, _arch: ArchId, domain: u32) -> Option<u32> {
        Some(domain)
    }
    fn pasids_of_asid(&self, _domain: DomainSel, asid: u16, f: &mut dyn FnMut(u32)) -> bool {
        f(u32::from(asid));
        true
    }
    fn asid_of_pasid(&self, _domain: DomainSel, pasid: u32) -> Option<u16> {
        u16::try_from(pasid).ok()
    }
    fn devices_of_domain(&self, _domain: u32, _f: &mut dyn FnMut(u32)) -> bool {
        false
    }
    fn domain_of_device(&self, _rid: u32) -> Option<u32> {
        None
    }
    fn ats_enabled(&self, _rid: u32) -> bool {
        true
    }
}

impl<C: Context + ?Sized> Context for &C {
    fn domain_from_native(&self, arch: ArchId, native: u32) -> Option<u32> {
        (**self).domain_from_native(arch, native)
    }
    fn domain_to_native(&self, arch: ArchId, domain: u32) -> Option<u32> {
        (**self).domain_to_native(arch, domain)
    }
    fn pasids_of_asid(&self, domain: DomainSel, asid: u16, f: &mut dyn FnMut(u32)) -> bool {
        (**self).pasids_of_asid(domain, asid, f)
    }
    fn asid_of_pasid(&self, domain: DomainSel, pasid: u32) -> Option<u16> {
        (**self).asid_of_pasid(domain, pasid)
    }
    fn asids_of_pasid(&self, domain: DomainSel, pasid: u32, f: &mut dyn FnMut(u16)) -> bool {
        (**self).asids_of_pasid(domain, pasid, f)
    }
    fn devices_of_domain(&self, domain: u32, f: &mut dyn FnMut(u32)) -> bool {
        (**self).devices_of_domain(domain, f)
    }
    fn domain_of_device(&self, rid: u32) -> Option<u32> {
        (**self).domain_of_device(rid)
    }
    fn ats_enabled(&self, rid: u32) -> bool {
        (**self).ats_enabled(rid)
    }
}

#[cfg(feature = "std")]
pub use topology::*;

#[cfg(feature = "std")]
mod topology {
    use super::*;
    use serde::{Deserialize, Serialize};
    use std::string::{String, ToString};
    use std::vec::Vec;

    /// Native ids of a domain on SMMUv3.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SmmuIds {
        /// VMID (16 bits).
        pub vmid: u16,
    }
    /// Native ids of a domain on VT-d.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct VtdIds {
        /// Domain id (16 bits).
        pub did: u16,
    }
    /// Native ids of a domain on AMD-Vi.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct AmdIds {
        /// DomainID (16 bits).
        pub domain_id: u16,
    }

    /// One domain of the topology file.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct DomainEntry {
        /// Generic domain id.
        pub id: u32,
        /// SMMUv3 ids, if the domain exists there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub smmuv3: Option<SmmuIds>,
        /// VT-d ids.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub vtd: Option<VtdIds>,
        /// AMD-Vi ids.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub amd: Option<AmdIds>,
    }

    /// A PASID of a device and the SMMU ASID its context descriptor uses.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PasidEntry {
        /// PASID (20 bits).
        pub pasid: u32,
        /// SMMU ASID (16 bits), if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub asid: Option<u16>,
    }

    /// One device of the topology file.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct DeviceEntry {
        /// PCI requester id (SMMU StreamID, VT-d source-id, AMD DeviceID).
        pub rid: u32,
        /// Generic domain id.
        pub domain: u32,
        /// ATS enabled.
        #[serde(default)]
        pub ats: bool,
        /// PASIDs in use.
        #[serde(default)]
        pub pasids: Vec<PasidEntry>,
    }

    /// The topology file (see DESIGN.md): domains with their native ids, and
    /// devices with their domain, ATS and PASIDs.
    ///
    /// ```
    /// use iommu_inval_core::context::{Context, Topology};
    /// use iommu_inval_core::ArchId;
    /// let t = Topology::from_json(r#"{
    ///   "domains": [{"id": 1, "smmuv3": {"vmid": 3}, "vtd": {"did": 7}}],
    ///   "devices": [{"rid": 16, "domain": 1, "ats": true, "pasids": [{"pasid": 1, "asid": 5}]}]
    /// }"#).unwrap();
    /// assert_eq!(t.domain_from_native(ArchId::Smmuv3, 3), Some(1));
    /// assert_eq!(t.domain_to_native(ArchId::Vtd, 1), Some(7));
    /// assert_eq!(t.domain_to_native(ArchId::Amd, 1), None);
    /// ```
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Topology {
        /// Domains.
        #[serde(default)]
        pub domains: Vec<DomainEntry>,
        /// Devices.
        #[serde(default)]
        pub devices: Vec<DeviceEntry>,
        /// The host's iommufd vIOMMU state, for the iommufd targets
        /// (optional; see [`IommufdTopology`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub iommufd: Option<IommufdTopology>,
    }

    /// One vDEVICE of a vIOMMU (`IOMMU_VDEVICE_ALLOC`): the virtual
    /// StreamID the guest uses and the device's physical StreamID.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct VdeviceEntry {
        /// Virtual StreamID (the guest's).
        pub vsid: u32,
        /// Physical StreamID (the host's).
        pub psid: u32,
    }

    /// The iommufd section of the topology file: what the kernel uses when
    /// it rewrites a guest's commands for a vSMMU.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct IommufdTopology {
        /// The vSMMU's VMID (its stage-2 parent's), written into the guest's
        /// TLBIs; 0 when left out.
        #[serde(default)]
        pub vsmmu_vmid: u16,
        /// The vDEVICE table (vSID → pSID).
        #[serde(default)]
        pub vdevices: Vec<VdeviceEntry>,
    }

    impl IommufdTopology {
        /// The physical StreamID of virtual StreamID `vsid`.
        pub fn psid_of_vsid(&self, vsid: u32) -> Option<u32> {
            self.vdevices
                .iter()
                .find(|v| v.vsid == vsid)
                .map(|v| v.psid)
        }

        /// Each vSID and each pSID at most once (the kernel keeps one
        /// vDEVICE per virtual id, and one StreamID per device).
        pub fn validate(&self) -> Result<(), TopologyError> {
            for (i, v) in self.vdevices.iter().enumerate() {
                for o in &self.vdevices[..i] {
                    if o.vsid == v.vsid {
                        return Err(TopologyError::Inconsistent(std::format!(
                            "iommufd: vsid {} listed twice",
                            v.vsid
                        )));
                    }
                    if o.psid == v.psid {
                        return Err(TopologyError::Inconsistent(std::format!(
                            "iommufd: psid {} has two vsids",
                            v.psid
                        )));
                    }
                }
            }
            Ok(())
        }
    }

    /// A topology file that cannot be used.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum TopologyError {
        /// Not JSON, or not of the expected shape.
        #[error("malformed topology: {0}")]
        Malformed(String),
        /// JSON of the right shape that contradicts itself.
        #[error("inconsistent topology: {0}")]
        Inconsistent(String),
    }

    impl Topology {
        /// Parse and check a topology file.
        pub fn from_json(text: &str) -> Result<Self, TopologyError> {
            let malformed = |e: serde_json::Error| TopologyError::Malformed(e.to_string());
            let v: serde_json::Value = serde_json::from_str(text).map_err(malformed)?;
            if !v.is_object() {
                return Err(TopologyError::Malformed(
                    "the top level must be a JSON object".into(),
                ));
            }
            let t: Topology = serde_json::from_value(v).map_err(malformed)?;
            t.validate()?;
            Ok(t)
        }

        /// Check ids: unique domains and native ids, devices in known
        /// domains, PASIDs within 20 bits, each rid once.
        pub fn validate(&self) -> Result<(), TopologyError> {
            let bad = |m: String| Err(TopologyError::Inconsistent(m));
            for (i, d) in self.domains.iter().enumerate() {
                for e in &self.domains[..i] {
                    if e.id == d.id {
                        return bad(std::format!("domain {} listed twice", d.id));
                    }
                    for arch in ArchId::ALL {
                        let (a, b) = (native_of(d, arch), native_of(e, arch));
                        if a.is_some() && a == b {
                            return bad(std::format!(
                                "domains {} and {} share {} id {}",
                                e.id,
                                d.id,
                                arch,
                                a.unwrap_or_default()
                            ));
                        }
                    }
                }
            }
            for (i, dev) in self.devices.iter().enumerate() {
                if self.devices[..i].iter().any(|o| o.rid == dev.rid) {
                    return bad(std::format!("device rid {} listed twice", dev.rid));
                }
                if !self.domains.iter().any(|d| d.id == dev.domain) {
                    return bad(std::format!(
                        "device rid {} names unknown domain {}",
                        dev.rid,
                        dev.domain
                    ));
                }
                if let Some(p) = dev.pasids.iter().find(|p| p.pasid >= 1 << 20) {
                    return bad(std::format!(
                        "device rid {}: pasid {} is wider than 20 bits",
                        dev.rid,
                        p.pasid
                    ));
                }
            }
            if let Some(i) = &self.iommufd {
                i.validate()?;
            }
            Ok(())
        }

        fn domain(&self, id: u32) -> Option<&DomainEntry> {
            self.domains.iter().find(|d| d.id == id)
        }

        fn pasid_entries(&self, domain: DomainSel) -> impl Iterator<Item = &PasidEntry> + '_ {
            self.devices
                .iter()
                .filter(move |d| match domain {
                    DomainSel::All => true,
                    DomainSel::One(id) => d.domain == id,
                })
                .flat_map(|d| d.pasids.iter())
        }
    }

    fn native_of(d: &DomainEntry, arch: ArchId) -> Option<u32> {
        match arch {
            ArchId::Smmuv3 => d.smmuv3.map(|x| u32::from(x.vmid)),
            ArchId::Vtd => d.vtd.map(|x| u32::from(x.did)),
            ArchId::Amd => d.amd.map(|x| u32::from(x.domain_id)),
        }
    }

    impl Context for Topology {
        fn domain_from_native(&self, arch: ArchId, native: u32) -> Option<u32> {
            self.domains
                .iter()
                .find(|d| native_of(d, arch) == Some(native))
                .map(|d| d.id)
        }
        fn domain_to_native(&self, arch: ArchId, domain: u32) -> Option<u32> {
            self.domain(domain).and_then(|d| native_of(d, arch))
        }
        fn pasids_of_asid(&self, domain: DomainSel, asid: u16, f: &mut dyn FnMut(u32)) -> bool {
            let mut found = false;
            // Each PASID once, even when several devices share it.
            let entries = || self.pasid_entries(domain).filter(|p| p.asid == Some(asid));
            for (i, p) in entries().enumerate() {
                if entries().take(i).all(|q| q.pasid != p.pasid) {
                    f(p.pasid);
                    found = true;
                }
            }
            found
        }
        fn asid_of_pasid(&self, domain: DomainSel, pasid: u32) -> Option<u16> {
            self.pasid_entries(domain)
                .find(|p| p.pasid == pasid)
                .and_then(|p| p.asid)
        }
        fn asids_of_pasid(&self, domain: DomainSel, pasid: u32, f: &mut dyn FnMut(u16)) -> bool {
            let uses = || self.pasid_entries(domain).filter(|p| p.pasid == pasid);
            // A use without a known ASID: the caller must widen.
            if uses().next().is_none() || uses().any(|p| p.asid.is_none()) {
                return false;
            }
            // Each ASID once.
            for (i, p) in uses().enumerate() {
                if uses().take(i).all(|q| q.asid != p.asid) {
                    if let Some(a) = p.asid {
                        f(a);
                    }
                }
            }
            true
        }
        fn devices_of_domain(&self, domain: u32, f: &mut dyn FnMut(u32)) -> bool {
            if self.domain(domain).is_none() {
                return false;
            }
            self.devices
                .iter()
                .filter(|d| d.domain == domain)
                .for_each(|d| f(d.rid));
            true
        }
        fn domain_of_device(&self, rid: u32) -> Option<u32> {
            self.devices.iter().find(|d| d.rid == rid).map(|d| d.domain)
        }
        fn ats_enabled(&self, rid: u32) -> bool {
            // Unknown devices are assumed to have a device TLB.
            !self.devices.iter().any(|d| d.rid == rid && !d.ats)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const SAMPLE: &str = r#"{
          "domains": [
            {"id": 1, "smmuv3": {"vmid": 1}, "vtd": {"did": 1}, "amd": {"domain_id": 1}},
            {"id": 2, "smmuv3": {"vmid": 9}, "vtd": {"did": 4}}
          ],
          "devices": [
            {"rid": 16, "domain": 1, "ats": true, "pasids": [{"pasid": 1, "asid": 5}]},
            {"rid": 17, "domain": 1, "pasids": [{"pasid": 1, "asid": 5}, {"pasid": 2, "asid": 6}]},
            {"rid": 32, "domain": 2}
          ]
        }"#;

        #[test]
        fn resolves_ids() {
            let t = Topology::from_json(SAMPLE).unwrap();
            assert_eq!(t.domain_from_native(ArchId::Smmuv3, 9), Some(2));
            assert_eq!(t.domain_from_native(ArchId::Amd, 9), None);
            assert_eq!(t.domain_to_native(ArchId::Vtd, 2), Some(4));
            let mut p = Vec::new();
            assert!(t.pasids_of_asid(DomainSel::One(1), 5, &mut |x| p.push(x)));
            assert_eq!(p, [1], "shared PASID reported once");
            assert!(!t.pasids_of_asid(DomainSel::One(2), 5, &mut |_| ()));
            assert_eq!(t.asid_of_pasid(DomainSel::One(1), 2), Some(6));
            let mut a = Vec::new();
            assert!(t.asids_of_pasid(DomainSel::One(1), 1, &mut |x| a.push(x)));
            assert_eq!(a, [5], "shared ASID reported once");
            let two = Topology::from_json(
                r#"{"domains":[{"id":1}],"devices":[{"rid":1,"domain":1,"pasids":[{"pasid":7,"asid":1}]},{"rid":2,"domain":1,"pasids":[{"pasid":7,"asid":2}]},{"rid":3,"domain":1,"pasids":[{"pasid":8}]}]}"#,
            )
            .unwrap();
            let mut a = Vec::new();
            assert!(two.asids_of_pasid(DomainSel::All, 7, &mut |x| a.push(x)));
            assert_eq!(a, [1, 2]);
            assert!(!two.asids_of_pasid(DomainSel::All, 8, &mut |_| ()));
            assert!(!two.asids_of_pasid(DomainSel::All, 9, &mut |_| ()));
            let mut d = Vec::new();
            assert!(t.devices_of_domain(1, &mut |x| d.push(x)));
            assert_eq!(d, [16, 17]);
            assert!(!t.devices_of_domain(3, &mut |_| ()));
            assert!(t.ats_enabled(16));
            assert!(!t.ats_enabled(17));
            assert!(
                t.ats_enabled(999),
                "unknown devices are assumed to have a device TLB"
            );
        }

        #[test]
        fn iommufd_section() {
            let t = Topology::from_json(
                r#"{"iommufd": {"vsmmu_vmid": 3, "vdevices": [{"vsid": 16, "psid": 256}]}}"#,
            )
            .unwrap();
            let i = t.iommufd.as_ref().unwrap();
            assert_eq!(
                (i.vsmmu_vmid, i.psid_of_vsid(16), i.psid_of_vsid(17)),
                (3, Some(256), None)
            );
            assert_eq!(Topology::from_json(SAMPLE).unwrap().iommufd, None);
            for bad in [
                r#"{"iommufd": {"vdevices": [{"vsid": 1, "psid": 2}, {"vsid": 1, "psid": 3}]}}"#,
                r#"{"iommufd": {"vdevices": [{"vsid": 1, "psid": 2}, {"vsid": 4, "psid": 2}]}}"#,
            ] {
                assert!(
                    matches!(
                        Topology::from_json(bad),
                        Err(TopologyError::Inconsistent(_))
                    ),
                    "{bad}"
                );
            }
            assert!(matches!(
                Topology::from_json(r#"{"iommufd": {"vmid": 1}}"#),
                Err(TopologyError::Malformed(_))
            ));
        }

        #[test]
        fn malformed_files_are_errors() {
            for bad in [
                "",
                "[]",
                "{\"domains\": 3}",
                "{\"domains\": [{\"id\": -1}]}",
                "{\"dommains\": []}",
            ] {
                assert!(
                    matches!(Topology::from_json(bad), Err(TopologyError::Malformed(_))),
                    "{bad}"
                );
            }
            let dup = r#"{"domains": [{"id": 1}, {"id": 1}]}"#;
            assert!(matches!(
                Topology::from_json(dup),
                Err(TopologyError::Inconsistent(_))
            ));
            let orphan = r#"{"devices": [{"rid": 1, "domain": 5}]}"#;
            assert!(matches!(
                Topology::from_json(orphan),
                Err(TopologyError::Inconsistent(_))
            ));
            let wide = r#"{"domains": [{"id": 1}], "devices": [{"rid": 1, "domain": 1, "pasids": [{"pasid": 1048576}]}]}"#;
            assert!(matches!(
                Topology::from_json(wide),
                Err(TopologyError::Inconsistent(_))
            ));
            let shared =
                r#"{"domains": [{"id": 1, "vtd": {"did": 2}}, {"id": 2, "vtd": {"did": 2}}]}"#;
            assert!(matches!(
                Topology::from_json(shared),
                Err(TopologyError::Inconsistent(_))
            ));
        }
    }
}
