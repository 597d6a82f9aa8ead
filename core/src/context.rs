//! Resolving hardware ids.
//!
//! Native commands name hardware ids (SMMU VMID/ASID/StreamID, VT-d
//! DID/source-id, AMD DomainID/DeviceID). Lifting and lowering ask a
//! [`Context`] how those relate to the generic ids: domains, PASIDs and
//! devices (PCI requester ids, which every architecture uses as its device
//! id). An emulator implements it from its own state; the CLI uses
//! [`Topology`] (feature `json`), loaded from the JSON topology file.
//!
//! An id the context does not know is answered with `None` / `false`; the
//! caller then widens (rule 1 of docs/ARCHITECTURE.md) and reports it.

use crate::model::{DomainSel, PasidSel};
use crate::native::ArchId;

/// The native tag of requests without PASID where no configuration says
/// otherwise: Linux's `IOMMU_NO_PASID` (the VT-d RID_PASID it programs, the
/// AMD-Vi GCR3 entry of such requests), SMMU CD 0.
pub(crate) const NO_PASID_TAG: u32 = 0;

/// The largest native address-space tag of `arch`: 16-bit SMMU ASIDs,
/// 20-bit PASIDs and PSCIDs elsewhere.
pub(crate) const fn tag_max(arch: ArchId) -> u32 {
    match arch {
        ArchId::Smmuv3 => 0xffff,
        ArchId::Vtd | ArchId::Amd | ArchId::Riscv | ArchId::VirtioIommu => 0xf_ffff,
    }
}

/// Answers questions about ids. All methods are cheap and never allocate.
pub trait Context {
    /// The generic domain of native domain id `native` (VMID, DID, DomainID).
    fn domain_from_native(&self, arch: ArchId, native: u32) -> Option<u32>;
    /// The native domain id of generic domain `domain` on `arch`.
    fn domain_to_native(&self, arch: ArchId, domain: u32) -> Option<u32>;
    /// Calls `f` with each PASID selection — [`PasidSel::One`] or
    /// [`PasidSel::NoPasid`], never [`PasidSel::All`] — whose stage-1
    /// entries carry the native address-space tag `tag` on `arch` (in
    /// `domain`, or in any domain), so that a command naming the tag
    /// removes those entries:
    ///
    /// | `arch` | tag | requests without PASID |
    /// |---|---|---|
    /// | SMMUv3 | ASID of a context descriptor | the ASID of CD 0 (`STE.S1DSS` = SSID0) |
    /// | VT-d | PASID of `p_iotlb_inv_dsc` | the RID_PASID (Linux: `IOMMU_NO_PASID`, 0) |
    /// | AMD-Vi | PASID of `INVALIDATE_IOMMU_PAGES` gn = 1 | GCR3 entry 0 |
    /// | RISC-V | PSCID of a process context | the PSCID of the device context's `ta` |
    ///
    /// Returns `false` when the tag is unknown (the caller widens to every
    /// PASID). Several selections share one tag when the context says so.
    fn pasids_of_tag(
        &self,
        arch: ArchId,
        domain: DomainSel,
        tag: u32,
        f: &mut dyn FnMut(PasidSel),
    ) -> bool;
    /// Calls `f` with each native tag (as in [`Context::pasids_of_tag`])
    /// that the entries of `pasid` (one PASID, or requests without PASID)
    /// carry on `arch` in `domain` (or in any domain): one PASID may use
    /// different tags on different devices. Returns `false` when the tag of
    /// some use is unknown, and for [`PasidSel::All`] (no one tag).
    fn tags_of_pasid(
        &self,
        arch: ArchId,
        domain: DomainSel,
        pasid: PasidSel,
        f: &mut dyn FnMut(u32),
    ) -> bool;
    /// Calls `f` with each device (requester id) of `domain`. Returns `false`
    /// when the domain's devices are unknown.
    fn devices_of_domain(&self, domain: u32, f: &mut dyn FnMut(u32)) -> bool;
    /// Calls `f` with each PASID the context lists in `domain` (each once,
    /// without allocating). Returns `false` when they are unknown (the
    /// default), so that a caller must cover every PASID.
    fn pasids_of_domain(&self, domain: u32, f: &mut dyn FnMut(u32)) -> bool {
        let _ = (domain, f);
        false
    }
    /// The generic domain of a device.
    fn domain_of_device(&self, rid: u32) -> Option<u32>;
    /// Whether the device has ATS enabled (a device TLB). Unknown devices: `true`
    /// (assume a device TLB, so that nothing is under-invalidated).
    fn ats_enabled(&self, rid: u32) -> bool;
    /// The guest's id of host device `host` (pSID → vSID, host RID → guest
    /// RID), for the records that travel from the host to the guest
    /// ([`EventArch`](crate::arch::EventArch)); `None` when the guest does
    /// not see the device. The default is the same id.
    fn guest_device(&self, host: u32) -> Option<u32> {
        Some(host)
    }
}

/// The context of an unconfigured system: every native domain id *is* the
/// generic domain id, every native address-space tag (SMMU ASID, VT-d and
/// AMD-Vi PASID, RISC-V PSCID) is numerically the PASID, and nothing is
/// known of which devices a domain holds.
///
/// Requests without PASID carry tag 0 on every architecture, shared with
/// PASID 0: SubstreamID 0 is CD 0 (the context descriptor of traffic
/// without SubstreamID when `STE.S1DSS` = SSID0), Linux's `IOMMU_NO_PASID`
/// is the VT-d RID_PASID and the AMD-Vi GCR3 entry of such requests, and a
/// RISC-V device context with `DPE` = 1 uses process_id 0. A command on tag
/// 0 therefore lifts to both, and lowering either reports the other as
/// widened: the safe side when nothing says that PASID 0 is unused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdentityContext;

impl Context for IdentityContext {
    fn domain_from_native(&self, _arch: ArchId, native: u32) -> Option<u32> {
        Some(native)
    }
    fn domain_to_native(&self, _arch: ArchId, domain: u32) -> Option<u32> {
        Some(domain)
    }
    fn pasids_of_tag(
        &self,
        _arch: ArchId,
        _domain: DomainSel,
        tag: u32,
        f: &mut dyn FnMut(PasidSel),
    ) -> bool {
        if tag == NO_PASID_TAG {
            f(PasidSel::NoPasid);
        }
        f(PasidSel::One(tag));
        true
    }
    fn tags_of_pasid(
        &self,
        arch: ArchId,
        _domain: DomainSel,
        pasid: PasidSel,
        f: &mut dyn FnMut(u32),
    ) -> bool {
        let tag = match pasid {
            PasidSel::All => return false,
            PasidSel::NoPasid => NO_PASID_TAG,
            PasidSel::One(p) => p,
        };
        if tag > tag_max(arch) {
            return false;
        }
        f(tag);
        true
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
    fn pasids_of_tag(
        &self,
        arch: ArchId,
        domain: DomainSel,
        tag: u32,
        f: &mut dyn FnMut(PasidSel),
    ) -> bool {
        (**self).pasids_of_tag(arch, domain, tag, f)
    }
    fn tags_of_pasid(
        &self,
        arch: ArchId,
        domain: DomainSel,
        pasid: PasidSel,
        f: &mut dyn FnMut(u32),
    ) -> bool {
        (**self).tags_of_pasid(arch, domain, pasid, f)
    }
    fn devices_of_domain(&self, domain: u32, f: &mut dyn FnMut(u32)) -> bool {
        (**self).devices_of_domain(domain, f)
    }
    fn pasids_of_domain(&self, domain: u32, f: &mut dyn FnMut(u32)) -> bool {
        (**self).pasids_of_domain(domain, f)
    }
    fn domain_of_device(&self, rid: u32) -> Option<u32> {
        (**self).domain_of_device(rid)
    }
    fn ats_enabled(&self, rid: u32) -> bool {
        (**self).ats_enabled(rid)
    }
    fn guest_device(&self, host: u32) -> Option<u32> {
        (**self).guest_device(host)
    }
}

#[cfg(feature = "json")]
pub use topology::*;

#[cfg(feature = "json")]
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
        /// The RID_PASID of the domain's devices (20 bits; default 0, Linux's
        /// `IOMMU_NO_PASID`): the PASID that the scalable-mode context entry
        /// gives requests without PASID (VT-d spec §9.4), and so the PASID
        /// that `p_iotlb_inv_dsc` (tagged DID + PASID) names them by. Per
        /// domain, because that tag is: devices of one DID with different
        /// RID_PASIDs would need one descriptor each anyway.
        #[serde(default, skip_serializing_if = "is_zero")]
        pub rid_pasid: u32,
    }

    fn is_zero(x: &u32) -> bool {
        *x == 0
    }
    /// Native ids of a domain on AMD-Vi.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct AmdIds {
        /// DomainID (16 bits).
        pub domain_id: u16,
    }

    /// Native ids of a domain on the RISC-V IOMMU.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RiscvIds {
        /// GSCID (16 bits): the guest soft-context id of the domain's
        /// second-stage (`iohgatp.GSCID`).
        pub gscid: u16,
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
        /// RISC-V IOMMU ids.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub riscv: Option<RiscvIds>,
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
        /// RISC-V PSCID (20 bits) of the process context of that PASID, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub pscid: Option<u32>,
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
        /// SMMU ASID (16 bits) of the device's CD 0, if known: the address
        /// space of its requests without PASID (substream 0 traffic with
        /// `STE.S1DSS` = SSID0, as Linux configures it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub asid: Option<u16>,
        /// RISC-V PSCID (20 bits) of the device context's `ta`, if known: the
        /// address space of its requests without process_id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub pscid: Option<u32>,
        /// PASIDs in use.
        #[serde(default)]
        pub pasids: Vec<PasidEntry>,
    }

    /// The topology file as written (docs/CLI.md "Topology"): domains with their
    /// native ids, and devices with their domain, ATS and PASIDs. Build a
    /// [`Topology`] from it to check and index it.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct TopologyFile {
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
        /// The host SMMU's features the kernel's vSMMU checks depend on
        /// (defaults: [`IommufdHost::default`]).
        #[serde(default)]
        pub host: IommufdHost,
    }

    /// The features of the host SMMU behind a vSMMU that the kernel's
    /// checks of a guest command read (`arm_vsmmu_validate_user_cmd`); a
    /// VMM reads them from `IOMMU_GET_HW_INFO` (SMMU_IDR0..IDR5). A field
    /// left out takes its default: a modern host with 16-bit ASIDs, range
    /// invalidation, ATS and 20-bit SubstreamIDs, without DS.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    pub struct IommufdHost {
        /// SMMU_IDR5.DS (`ARM_SMMU_FEAT_DS`): SCALE above 31 and TTL = 1
        /// with a 16 KiB granule. Default false.
        pub ds: bool,
        /// Range invalidation (SMMU_IDR3.RIL, `ARM_SMMU_FEAT_RANGE_INV`).
        /// Default true.
        pub range_inv: bool,
        /// ASID width, 8 or 16 (SMMU_IDR0.ASID16). Default 16.
        pub asid_bits: u8,
        /// SubstreamID width, 0..=20 (SMMU_IDR1.SSIDSIZE; 0: no
        /// substreams). Default 20.
        pub ssid_bits: u8,
        /// ATS (`ARM_SMMU_FEAT_ATS`): CMD_ATC_INV is legal. Default true.
        pub ats: bool,
    }

    impl Default for IommufdHost {
        fn default() -> Self {
            IommufdHost {
                ds: false,
                range_inv: true,
                asid_bits: 16,
                ssid_bits: 20,
                ats: true,
            }
        }
    }

    impl IommufdTopology {
        /// The physical StreamID of virtual StreamID `vsid`.
        #[cfg(test)]
        fn psid_of_vsid(&self, vsid: u32) -> Option<u32> {
            self.vdevices
                .iter()
                .find(|v| v.vsid == vsid)
                .map(|v| v.psid)
        }

        /// Each vSID and each pSID at most once (the kernel keeps one
        /// vDEVICE per virtual id, and one StreamID per device); host
        /// widths an SMMU can have (8- or 16-bit ASIDs, at most 20-bit
        /// SubstreamIDs).
        pub(crate) fn validate(&self) -> Result<(), TopologyError> {
            // The widths an SMMU can have (SMMU_IDR0.ASID16, SMMU_IDR1.SSIDSIZE).
            if !matches!(self.host.asid_bits, 8 | 16) {
                return Err(TopologyError::Inconsistent(std::format!(
                    "iommufd: host.asid_bits {} is neither 8 nor 16",
                    self.host.asid_bits
                )));
            }
            if self.host.ssid_bits > 20 {
                return Err(TopologyError::Inconsistent(std::format!(
                    "iommufd: host.ssid_bits {} is above 20",
                    self.host.ssid_bits
                )));
            }
            // Sorted copies: O(n log n), as the rest of the file is checked.
            let ids = |id: fn(&VdeviceEntry) -> u32| -> Vec<u32> {
                self.vdevices.iter().map(id).collect()
            };
            let bad = |m| Err(TopologyError::Inconsistent(m));
            if let Some((x, _)) = sort_find_repeat(&mut ids(|d| d.vsid), |&x: &u32| x) {
                return bad(std::format!("iommufd: vsid {x} listed twice"));
            }
            if let Some((x, _)) = sort_find_repeat(&mut ids(|d| d.psid), |&x: &u32| x) {
                return bad(std::format!("iommufd: psid {x} has two vsids"));
            }
            Ok(())
        }
    }

    /// Sorts `v` by `key`, stably (a repeat comes right after its first
    /// appearance), and returns the first two entries sharing a key.
    /// O(n log n).
    fn sort_find_repeat<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) -> Option<(&T, &T)> {
        v.sort_by_key(|e| key(e));
        v.windows(2)
            .find(|w| key(&w[0]) == key(&w[1]))
            .map(|w| (&w[0], &w[1]))
    }

    /// The largest topology file [`Topology::from_json`] reads (bytes):
    /// about 3 million devices. Loading takes memory proportional to the
    /// file (the entries plus their indexes).
    pub const MAX_TOPOLOGY_BYTES: usize = 256 << 20;

    /// Values grouped by key, each value once per key, in first-appearance
    /// order: a sorted key table over one flat value pool.
    #[derive(Debug, Clone)]
    struct Groups<K, V> {
        keys: Vec<(K, u32, u32)>,
        vals: Vec<V>,
    }

    impl<K, V> Default for Groups<K, V> {
        fn default() -> Self {
            Groups {
                keys: Vec::new(),
                vals: Vec::new(),
            }
        }
    }

    impl<K: Ord + Copy, V: Ord + Copy> Groups<K, V> {
        /// From `(key, value)` pairs in file order. O(n log n).
        fn build(mut pairs: Vec<(K, usize, V)>) -> Self {
            // Stable by key, then by appearance; duplicates of a value
            // within a key dropped (the later ones).
            pairs.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            // Both tables allocated once, at their final size.
            let n_keys = pairs.windows(2).filter(|w| w[0].0 != w[1].0).count()
                + usize::from(!pairs.is_empty());
            let mut g = Groups {
                keys: Vec::with_capacity(n_keys),
                vals: Vec::with_capacity(pairs.len()),
            };
            let mut i = 0;
            while i < pairs.len() {
                let key = pairs[i].0;
                let start = g.vals.len();
                let mut j = i;
                while j < pairs.len() && pairs[j].0 == key {
                    g.vals.push(pairs[j].2);
                    j += 1;
                }
                dedup_keep_first(&mut g.vals, start);
                let len = g.vals.len() - start;
                g.keys.push((key, start as u32, len as u32));
                i = j;
            }
            g
        }
        #[inline]
        fn get(&self, key: &K) -> Option<&[V]> {
            let i = self.keys.binary_search_by(|e| e.0.cmp(key)).ok()?;
            let (_, start, len) = self.keys[i];
            self.vals.get(start as usize..(start + len) as usize)
        }
    }

    /// Drops the later repeats among `v[start..]`, keeping the first
    /// appearance of each value in order: O(m log m) for m values.
    fn dedup_keep_first<V: Ord + Copy>(v: &mut Vec<V>, start: usize) {
        let m = v.len() - start;
        if m < 2 {
            return;
        }
        if m <= 8 {
            let mut k = start;
            for i in start..v.len() {
                let x = v[i];
                if !v[start..k].contains(&x) {
                    v[k] = x;
                    k += 1;
                }
            }
            v.truncate(k);
            return;
        }
        let mut order: Vec<(V, usize)> = v[start..]
            .iter()
            .enumerate()
            .map(|(i, &x)| (x, i))
            .collect();
        order.sort_unstable();
        let mut keep = std::vec![false; m];
        for (j, &(x, i)) in order.iter().enumerate() {
            if j == 0 || order[j - 1].0 != x {
                keep[i] = true;
            }
        }
        let mut k = start;
        for i in 0..m {
            if keep[i] {
                v[k] = v[start + i];
                k += 1;
            }
        }
        v.truncate(k);
    }

    /// u32 ids → their entries' positions: a direct table for the ids
    /// below its length (one load), a sorted table of the others (binary
    /// search). The direct table is at most [`DIRECT_SLACK`] words per id
    /// plus [`DIRECT_MIN`], so it stays proportional to the entries, and
    /// the answer is exact for any ids.
    #[derive(Debug, Clone, Default)]
    struct IdMap {
        /// `direct[id]`: the position of `id` plus one; 0 when absent.
        direct: Vec<u32>,
        /// (id, position) of the ids past `direct`, sorted by id.
        sorted: Vec<(u32, u32)>,
    }

    /// Direct-table words of an [`IdMap`] however few its ids.
    const DIRECT_MIN: usize = 256;
    /// Direct-table words an [`IdMap`] may spend per id.
    const DIRECT_SLACK: usize = 8;

    impl IdMap {
        /// From (id, position) pairs of distinct ids, sorted by id.
        fn new(sorted: Vec<(u32, u32)>) -> Self {
            let cap = DIRECT_MIN + DIRECT_SLACK * sorted.len();
            let len = sorted
                .iter()
                .map(|e| (e.0 as usize).saturating_add(1))
                .take_while(|&l| l <= cap)
                .last()
                .unwrap_or(0);
            let mut direct = std::vec![0u32; len];
            for &(id, at) in &sorted {
                if let Some(d) = direct.get_mut(id as usize) {
                    *d = at + 1;
                }
            }
            let sorted = sorted.into_iter().filter(|e| e.0 as usize >= len).collect();
            IdMap { direct, sorted }
        }

        /// The map of the ids of a list of entries to their positions;
        /// `Err` with the first id listed twice. O(n log n).
        fn unique(ids: impl Iterator<Item = u32>) -> Result<Self, u32> {
            // Sorted with their positions, so that a repeat is found next
            // to its first use.
            let mut v: Vec<(u32, u32)> = ids.enumerate().map(|(i, x)| (x, i as u32)).collect();
            match sort_find_repeat(&mut v, |e| e.0) {
                Some((a, _)) => Err(a.0),
                None => Ok(IdMap::new(v)),
            }
        }

        /// The position of `id`'s entry.
        #[inline]
        fn get(&self, id: u32) -> Option<usize> {
            match self.direct.get(id as usize) {
                Some(&at) => (at as usize).checked_sub(1),
                None => {
                    let s = &self.sorted;
                    let i = s.binary_search_by_key(&id, |e| e.0).ok()?;
                    s.get(i).map(|e| e.1 as usize)
                }
            }
        }
    }

    /// What a domain's VT-d and AMD-Vi tag questions need
    /// ([`Context::pasids_of_tag`] and `tags_of_pasid` for requests without
    /// PASID), computed once.
    #[derive(Debug, Clone, Copy, Default)]
    struct NoPasidTags {
        /// The VT-d RID_PASID (0 unless the file says).
        vtd: u32,
        /// Whether PASID `vtd` is also in use: the domain lists no PASIDs
        /// (any may be), or lists that one.
        vtd_shared: bool,
        /// The same of AMD-Vi's GCR3 entry 0.
        amd_shared: bool,
    }

    /// The indexes of a checked topology (all lookups O(log n), one load
    /// for small ids).
    #[derive(Debug, Clone, Default)]
    struct Index {
        /// Domain id → its position in the file.
        domain: IdMap,
        /// Per domain (file order): its requests without PASID on VT-d and AMD-Vi.
        no_pasid: Vec<NoPasidTags>,
        /// Native domain id → the domain's position in the file, per architecture.
        native: [IdMap; 5],
        /// Device rid → its position in the file.
        device: IdMap,
        /// Domain → its devices' rids, in file order.
        devices_of: Groups<u32, u32>,
        /// Domain → its PASIDs, in file order.
        pasids_of: Groups<u32, u32>,
        /// The SMMU ASIDs: of context descriptors (PASIDs) and of CD 0
        /// (requests without PASID).
        asid: TagIndex<u16>,
        /// The RISC-V PSCIDs: of process contexts (PASIDs) and of device
        /// contexts (requests without PASID).
        pscid: TagIndex<u32>,
        /// Every VT-d RID_PASID of the file, and 0 (sorted, each once).
        rid_pasids: Vec<u32>,
    }

    /// The indexes of one kind of address-space tag `T` a PASID use or a
    /// device names (SMMU ASID, RISC-V PSCID); "domain or ALL" keys hold a
    /// domain's entries and, under [`ALL`], every domain's.
    #[derive(Debug, Clone, Default)]
    struct TagIndex<T> {
        /// [`tag_key`] (tag, domain or ALL) → the answer of
        /// [`Context::pasids_of_tag`]: `NoPasid` when a device names the tag
        /// for its requests without PASID, then the PASIDs whose uses name
        /// it, each once, in file order. One look-up per lift.
        answers: Groups<u64, PasidSel>,
        /// (domain or ALL, PASID) → the tags its uses name (None: a use
        /// without a known tag).
        tags_of_pasid: Groups<(u64, u32), Option<T>>,
        /// (domain or ALL) → each device's tag for requests without PASID
        /// (None: unknown).
        device_tags: Groups<u64, Option<T>>,
    }

    /// The key of (tag, domain or ALL) in [`TagIndex::answers`]; `None` for
    /// a tag wider than 20 bits, which no entry names (the build refuses
    /// wider PSCIDs, and ASIDs are 16 bits).
    #[inline(always)]
    fn tag_key(domain: u64, tag: u32) -> Option<u64> {
        (tag < 1 << 20).then_some(domain << 20 | u64::from(tag))
    }

    impl<T: Ord + Copy + Into<u32>> TagIndex<T> {
        /// From the tag each PASID use (`of_use`) and each device
        /// (`of_device`) names. O(n log n).
        fn build(
            f: &TopologyFile,
            of_use: impl Fn(&PasidEntry) -> Option<T>,
            of_device: impl Fn(&DeviceEntry) -> Option<T>,
        ) -> Self {
            let uses = || {
                f.devices
                    .iter()
                    .flat_map(|d| d.pasids.iter().map(move |p| (d.domain, p)))
            };
            // One temporary table at a time keeps the peak memory down;
            // each is allocated once, at most at its final size.
            // Requests without PASID come first (order 0), then the PASIDs
            // in file order.
            let (n_dev, n_use) = (f.devices.len(), uses().count());
            let mut answers = Vec::with_capacity(2 * (n_dev + n_use));
            let mut tags = Vec::with_capacity(2 * n_dev);
            for d in &f.devices {
                let tag = of_device(d);
                for k in [u64::from(d.domain), ALL] {
                    if let Some(key) = tag.and_then(|t| tag_key(k, t.into())) {
                        answers.push((key, 0, PasidSel::NoPasid));
                    }
                    tags.push((k, 0, tag));
                }
            }
            for (i, (dom, p)) in uses().enumerate() {
                for k in [u64::from(dom), ALL] {
                    if let Some(key) = of_use(p).and_then(|t| tag_key(k, t.into())) {
                        answers.push((key, i + 1, PasidSel::One(p.pasid)));
                    }
                }
            }
            let answers = Groups::build(answers);
            let mut by_pasid = Vec::with_capacity(2 * n_use);
            for (i, (dom, p)) in uses().enumerate() {
                by_pasid.push(((u64::from(dom), p.pasid), i, of_use(p)));
                by_pasid.push(((ALL, p.pasid), i, of_use(p)));
            }
            TagIndex {
                answers,
                tags_of_pasid: Groups::build(by_pasid),
                device_tags: Groups::build(tags),
            }
        }

        /// Calls `f` with each PASID whose uses name `tag` in `domain`;
        /// `false` when none does.
        #[cfg(test)]
        fn pasids(&self, domain: DomainSel, tag: T, f: &mut dyn FnMut(u32)) -> bool {
            let mut any = false;
            self.pasids_of_tag(domain, tag.into(), &mut |p| {
                if let PasidSel::One(x) = p {
                    any = true;
                    f(x);
                }
            });
            any
        }

        /// Calls `f` with each tag of `tags`; `false` when there is none or
        /// one is unknown (the caller must widen).
        fn each_known(tags: Option<&[Option<T>]>, f: &mut dyn FnMut(T)) -> bool {
            match tags {
                Some(a) if !a.is_empty() && !a.contains(&None) => {
                    a.iter().flatten().for_each(|&x| f(x));
                    true
                }
                _ => false,
            }
        }

        /// Calls `f` with each tag that `pasid` uses in `domain`; `false`
        /// when the tag of some use is unknown.
        fn tags_of(&self, domain: DomainSel, pasid: u32, f: &mut dyn FnMut(T)) -> bool {
            Self::each_known(self.tags_of_pasid.get(&(sel_key(domain), pasid)), f)
        }

        /// The PASIDs naming `tag`, and requests without PASID when a
        /// device names it ([`Context::pasids_of_tag`]).
        #[inline]
        fn pasids_of_tag(&self, domain: DomainSel, tag: u32, f: &mut dyn FnMut(PasidSel)) -> bool {
            match tag_key(sel_key(domain), tag).and_then(|k| self.answers.get(&k)) {
                Some(a) => {
                    a.iter().for_each(|&p| f(p));
                    true
                }
                None => false,
            }
        }

        /// The devices' tags for requests without PASID in `domain`.
        fn no_pasid_tags(&self, domain: DomainSel, f: &mut dyn FnMut(T)) -> bool {
            Self::each_known(self.device_tags.get(&sel_key(domain)), f)
        }
    }

    /// Key of "every domain" in the (domain, ...) indexes (domain ids are u32).
    const ALL: u64 = 1 << 32;

    #[inline(always)]
    fn sel_key(d: DomainSel) -> u64 {
        match d {
            DomainSel::All => ALL,
            DomainSel::One(id) => u64::from(id),
        }
    }

    fn arch_slot(arch: ArchId) -> usize {
        match arch {
            ArchId::Smmuv3 => 0,
            ArchId::Vtd => 1,
            ArchId::Amd => 2,
            ArchId::Riscv => 3,
            ArchId::VirtioIommu => 4,
        }
    }

    /// A checked, indexed topology (see [`TopologyFile`]): the CLI's
    /// [`Context`]. Checking is O(n log n) in the number of entries and
    /// every lookup O(log n), without allocating.
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
    #[derive(Debug, Clone, Default)]
    pub struct Topology {
        file: TopologyFile,
        index: Index,
    }

    impl PartialEq for Topology {
        fn eq(&self, other: &Self) -> bool {
            self.file == other.file
        }
    }
    impl Eq for Topology {}

    impl Serialize for Topology {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.file.serialize(s)
        }
    }

    /// A topology file that cannot be used.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    #[non_exhaustive]
    pub enum TopologyError {
        /// Not JSON, or not of the expected shape (a key twice included).
        #[error("malformed topology: {0}")]
        Malformed(String),
        /// JSON of the right shape that contradicts itself.
        #[error("inconsistent topology: {0}")]
        Inconsistent(String),
        /// Larger than [`MAX_TOPOLOGY_BYTES`].
        #[error("topology of at least {0} bytes is over the limit of 256 MiB ({MAX_TOPOLOGY_BYTES} bytes)")]
        TooLarge(usize),
    }

    impl Topology {
        /// Parse, check and index a topology file. The JSON is read straight
        /// into the entries (memory proportional to the file); a key given
        /// twice is refused, naming it.
        pub fn from_json(text: &str) -> Result<Self, TopologyError> {
            if text.len() > MAX_TOPOLOGY_BYTES {
                return Err(TopologyError::TooLarge(text.len()));
            }
            if !text.trim_start().starts_with('{') {
                return Err(TopologyError::Malformed(
                    "the top level must be a JSON object".into(),
                ));
            }
            // serde's derived structs refuse a repeated field ("duplicate
            // field `domains`") instead of keeping the last one.
            let f: TopologyFile =
                serde_json::from_str(text).map_err(|e| TopologyError::Malformed(same_words(e)))?;
            Topology::new(f)
        }

        /// Check and index `file`: unique domain ids and native ids per
        /// architecture, devices in known domains, each rid once, PASIDs
        /// within 20 bits. O(n log n).
        pub fn new(file: TopologyFile) -> Result<Self, TopologyError> {
            let index = Index::build(&file)?;
            if let Some(i) = &file.iommufd {
                i.validate()?;
            }
            Ok(Topology { file, index })
        }

        /// The file it was built from.
        pub fn file(&self) -> &TopologyFile {
            &self.file
        }

        #[inline]
        fn domain(&self, id: u32) -> Option<&DomainEntry> {
            self.file.domains.get(self.index.domain.get(id)?)
        }

        #[inline]
        fn device(&self, rid: u32) -> Option<&DeviceEntry> {
            self.file.devices.get(self.index.device.get(rid)?)
        }
    }

    /// serde's "duplicate field `k`" in the words of the other JSON inputs
    /// (`strict_json`): "duplicate key \"k\"".
    fn same_words(e: serde_json::Error) -> String {
        let m = e.to_string();
        match m
            .strip_prefix("duplicate field `")
            .and_then(|r| r.split_once('`'))
        {
            Some((k, rest)) => std::format!("duplicate key \"{k}\"{rest}"),
            None => m,
        }
    }

    fn native_of(d: &DomainEntry, arch: ArchId) -> Option<u32> {
        match arch {
            ArchId::Smmuv3 => d.smmuv3.map(|x| u32::from(x.vmid)),
            ArchId::Vtd => d.vtd.map(|x| u32::from(x.did)),
            ArchId::Amd => d.amd.map(|x| u32::from(x.domain_id)),
            ArchId::Riscv => d.riscv.map(|x| u32::from(x.gscid)),
            // virtio-iommu domains are the topology's domains.
            ArchId::VirtioIommu => Some(d.id),
        }
    }

    impl Index {
        fn build(f: &TopologyFile) -> Result<Index, TopologyError> {
            let bad = |m: String| Err(TopologyError::Inconsistent(m));
            // Domains: unique ids.
            let domain = IdMap::unique(f.domains.iter().map(|d| d.id)).map_err(|x| {
                TopologyError::Inconsistent(std::format!("domain {x} listed twice"))
            })?;
            let mut ix = Index {
                domain,
                ..Index::default()
            };
            for arch in ArchId::ALL {
                let mut n: Vec<(u32, u32, u32)> = f
                    .domains
                    .iter()
                    .enumerate()
                    .filter_map(|(i, d)| native_of(d, arch).map(|x| (x, i as u32, d.id)))
                    .collect();
                if let Some((a, b)) = sort_find_repeat(&mut n, |e| e.0) {
                    return bad(std::format!(
                        "domains {} and {} share {} id {}",
                        a.2,
                        b.2,
                        arch,
                        a.0
                    ));
                }
                ix.native[arch_slot(arch)] =
                    IdMap::new(n.into_iter().map(|(x, at, _)| (x, at)).collect());
            }
            // Devices: unique rids, known domains, 20-bit PASIDs.
            let dev = IdMap::unique(f.devices.iter().map(|d| d.rid)).map_err(|x| {
                TopologyError::Inconsistent(std::format!("device rid {x} listed twice"))
            })?;
            for d in &f.devices {
                if ix.domain.get(d.domain).is_none() {
                    return bad(std::format!(
                        "device rid {} names unknown domain {}",
                        d.rid,
                        d.domain
                    ));
                }
                if let Some(p) = d.pasids.iter().find(|p| p.pasid >= 1 << 20) {
                    return bad(std::format!(
                        "device rid {}: pasid {} is wider than 20 bits",
                        d.rid,
                        p.pasid
                    ));
                }
                if let Some(x) = d.pscid.filter(|&x| x >= 1 << 20) {
                    return bad(std::format!(
                        "device rid {}: pscid {x} is wider than 20 bits",
                        d.rid
                    ));
                }
                if let Some(p) = d
                    .pasids
                    .iter()
                    .find(|p| p.pscid.is_some_and(|x| x >= 1 << 20))
                {
                    return bad(std::format!(
                        "device rid {}: pscid {} is wider than 20 bits",
                        d.rid,
                        p.pscid.unwrap_or_default()
                    ));
                }
            }
            ix.device = dev;
            ix.devices_of = Groups::build(
                f.devices
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (d.domain, i, d.rid))
                    .collect(),
            );
            let mut uses = Vec::with_capacity(f.devices.iter().map(|d| d.pasids.len()).sum());
            uses.extend(
                f.devices
                    .iter()
                    .flat_map(|d| d.pasids.iter().map(move |p| (d.domain, p.pasid)))
                    .enumerate()
                    .map(|(i, (dom, pasid))| (dom, i, pasid)),
            );
            ix.pasids_of = Groups::build(uses);
            ix.asid = TagIndex::build(f, |p| p.asid, |d| d.asid);
            ix.pscid = TagIndex::build(f, |p| p.pscid, |d| d.pscid);
            for d in &f.domains {
                if let Some(v) = d.vtd {
                    if v.rid_pasid >= 1 << 20 {
                        return bad(std::format!(
                            "domain {}: vtd rid_pasid {} is wider than 20 bits",
                            d.id,
                            v.rid_pasid
                        ));
                    }
                }
            }
            let mut rid: Vec<u32> = f
                .domains
                .iter()
                .filter_map(|d| d.vtd.map(|v| v.rid_pasid))
                .chain([NO_PASID_TAG])
                .collect();
            rid.sort_unstable();
            rid.dedup();
            ix.rid_pasids = rid;
            // A domain's no-PASID tag is shared with the PASID of that
            // number unless the domain lists its PASIDs without it.
            let shared = |d: u32, pasid: u32| {
                let lists = ix.pasids_of.get(&d).is_some_and(|p| !p.is_empty());
                !lists || ix.asid.tags_of_pasid.get(&(u64::from(d), pasid)).is_some()
            };
            ix.no_pasid = f
                .domains
                .iter()
                .map(|d| {
                    let vtd = d.vtd.map_or(NO_PASID_TAG, |v| v.rid_pasid);
                    NoPasidTags {
                        vtd,
                        vtd_shared: shared(d.id, vtd),
                        amd_shared: shared(d.id, NO_PASID_TAG),
                    }
                })
                .collect();
            Ok(ix)
        }
    }

    /// The per-domain tags (the [`Context`] methods `pasids_of_tag` /
    /// `tags_of_pasid` answer every tag question by architecture).
    impl Topology {
        /// The VT-d RID_PASID (or AMD-Vi GCR3 entry, always 0) that names
        /// requests without PASID in domain `d`, and whether the PASID of
        /// that number is in use too (an unknown domain: tag 0, shared).
        #[inline]
        fn no_pasid_tag(&self, arch: ArchId, d: u32) -> (u32, bool) {
            let t = self
                .index
                .domain
                .get(d)
                .and_then(|i| self.index.no_pasid.get(i))
                .copied()
                .unwrap_or(NoPasidTags {
                    vtd: NO_PASID_TAG,
                    vtd_shared: true,
                    amd_shared: true,
                });
            match arch {
                ArchId::Vtd => (t.vtd, t.vtd_shared),
                _ => (NO_PASID_TAG, t.amd_shared),
            }
        }
        /// Calls `f` with each value `group` lists for `domain`; `false`
        /// when the topology has no such domain.
        fn each_in_domain(
            &self,
            group: &Groups<u32, u32>,
            domain: u32,
            f: &mut dyn FnMut(u32),
        ) -> bool {
            if self.domain(domain).is_none() {
                return false;
            }
            if let Some(v) = group.get(&domain) {
                v.iter().for_each(|&x| f(x));
            }
            true
        }
        /// The SMMU ASID used by the first use of `pasid` in `domain`.
        #[cfg(test)]
        fn asid_of_pasid(&self, domain: DomainSel, pasid: u32) -> Option<u16> {
            // The first use's ASID, as the file lists it.
            self.index
                .asid
                .tags_of_pasid
                .get(&(sel_key(domain), pasid))
                .and_then(|a| a.first().copied().flatten())
        }
    }

    impl Context for Topology {
        #[inline]
        fn domain_from_native(&self, arch: ArchId, native: u32) -> Option<u32> {
            let i = self.index.native[arch_slot(arch)].get(native)?;
            self.file.domains.get(i).map(|d| d.id)
        }
        fn domain_to_native(&self, arch: ArchId, domain: u32) -> Option<u32> {
            self.domain(domain).and_then(|d| native_of(d, arch))
        }
        #[inline]
        fn pasids_of_tag(
            &self,
            arch: ArchId,
            domain: DomainSel,
            tag: u32,
            f: &mut dyn FnMut(PasidSel),
        ) -> bool {
            match arch {
                ArchId::Smmuv3 => {
                    tag <= tag_max(arch) && self.index.asid.pasids_of_tag(domain, tag, f)
                }
                ArchId::Riscv => self.index.pscid.pasids_of_tag(domain, tag, f),
                // The vSVA drafts' INVALIDATE names the PASID itself, and has
                // no tag for requests without PASID.
                ArchId::VirtioIommu => {
                    if tag <= tag_max(arch) {
                        f(PasidSel::One(tag));
                    }
                    true
                }
                ArchId::Vtd | ArchId::Amd => {
                    // The tag is the PASID; the domain's no-PASID tag is
                    // shared with the PASID of that number unless the
                    // domain's PASIDs are listed without it.
                    let (no_pasid, shared) = match domain {
                        DomainSel::One(d) => {
                            let (t, shared) = self.no_pasid_tag(arch, d);
                            (t == tag, shared)
                        }
                        DomainSel::All => (
                            arch == ArchId::Amd && tag == NO_PASID_TAG
                                || arch == ArchId::Vtd
                                    && self.index.rid_pasids.binary_search(&tag).is_ok(),
                            true,
                        ),
                    };
                    if no_pasid {
                        f(PasidSel::NoPasid);
                    }
                    if !no_pasid || shared {
                        f(PasidSel::One(tag));
                    }
                    true
                }
            }
        }
        fn tags_of_pasid(
            &self,
            arch: ArchId,
            domain: DomainSel,
            pasid: PasidSel,
            f: &mut dyn FnMut(u32),
        ) -> bool {
            match (arch, pasid) {
                (_, PasidSel::All) => false,
                (ArchId::Smmuv3, PasidSel::One(p)) => {
                    self.index.asid.tags_of(domain, p, &mut |a| f(u32::from(a)))
                }
                (ArchId::Riscv, PasidSel::One(p)) => self.index.pscid.tags_of(domain, p, f),
                (ArchId::Vtd | ArchId::Amd | ArchId::VirtioIommu, PasidSel::One(p)) => {
                    if p > tag_max(arch) {
                        return false;
                    }
                    f(p);
                    true
                }
                (ArchId::Smmuv3, PasidSel::NoPasid) => self
                    .index
                    .asid
                    .no_pasid_tags(domain, &mut |a| f(u32::from(a))),
                (ArchId::Riscv, PasidSel::NoPasid) => self.index.pscid.no_pasid_tags(domain, f),
                (ArchId::VirtioIommu, PasidSel::NoPasid) => false,
                (ArchId::Vtd | ArchId::Amd, PasidSel::NoPasid) => {
                    match domain {
                        DomainSel::One(d) => f(self.no_pasid_tag(arch, d).0),
                        DomainSel::All if arch == ArchId::Vtd => {
                            self.index.rid_pasids.iter().for_each(|&x| f(x))
                        }
                        DomainSel::All => f(NO_PASID_TAG),
                    }
                    true
                }
            }
        }
        fn devices_of_domain(&self, domain: u32, f: &mut dyn FnMut(u32)) -> bool {
            self.each_in_domain(&self.index.devices_of, domain, f)
        }
        fn pasids_of_domain(&self, domain: u32, f: &mut dyn FnMut(u32)) -> bool {
            self.each_in_domain(&self.index.pasids_of, domain, f)
        }
        #[inline]
        fn domain_of_device(&self, rid: u32) -> Option<u32> {
            self.device(rid).map(|d| d.domain)
        }
        #[inline]
        fn ats_enabled(&self, rid: u32) -> bool {
            // Unknown devices are assumed to have a device TLB.
            self.device(rid).is_none_or(|d| d.ats)
        }
        /// The vSID of the iommufd section's vDEVICE of pSID `host`
        /// (`None` for a pSID it does not list); without the section, the
        /// same id.
        fn guest_device(&self, host: u32) -> Option<u32> {
            match &self.file.iommufd {
                Some(i) => i.vdevices.iter().find(|v| v.psid == host).map(|v| v.vsid),
                None => Some(host),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The kind of error `from_json` refuses `text` with, if any.
        fn refusal(text: &str) -> Option<&'static str> {
            match Topology::from_json(text) {
                Ok(_) => None,
                Err(TopologyError::Malformed(_)) => Some("Malformed"),
                Err(TopologyError::Inconsistent(_)) => Some("Inconsistent"),
                Err(TopologyError::TooLarge(_)) => Some("TooLarge"),
            }
        }

        /// `pasids` (`TagIndex::pasids` of the ASID or PSCID index) against a linear
        /// scan of `uses` for each tag of `tags`.
        fn check_pasids_of<T: Copy + PartialEq + core::fmt::Debug>(
            uses: &[PasidEntry],
            d: DomainSel,
            tags: impl Iterator<Item = T>,
            tag_of: fn(&PasidEntry) -> Option<T>,
            pasids: impl Fn(DomainSel, T, &mut dyn FnMut(u32)) -> bool,
        ) {
            for tag in tags {
                let want = first_each(
                    uses.iter()
                        .filter(|p| tag_of(p) == Some(tag))
                        .map(|p| p.pasid),
                );
                let mut got = Vec::new();
                let known = pasids(d, tag, &mut |x| got.push(x));
                assert_eq!((known, got), (!want.is_empty(), want), "{d:?} tag {tag:?}");
            }
        }

        /// `tags` (`TagIndex::tags_of` of the ASID or PSCID index) of `pasid` against
        /// its uses `of`: known only when every use names a tag.
        fn check_tags_of<T: Copy + PartialEq + core::fmt::Debug>(
            of: &[&PasidEntry],
            d: DomainSel,
            pasid: u32,
            tag_of: fn(&PasidEntry) -> Option<T>,
            tags: impl Fn(DomainSel, u32, &mut dyn FnMut(T)) -> bool,
        ) {
            let mut got = Vec::new();
            let known = tags(d, pasid, &mut |x| got.push(x));
            let ok = !of.is_empty() && of.iter().all(|p| tag_of(p).is_some());
            assert_eq!(known, ok, "{d:?} pasid {pasid}");
            if ok {
                assert_eq!(got, first_each(of.iter().filter_map(|p| tag_of(p))));
            }
        }

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
            assert!(t
                .index
                .asid
                .pasids(DomainSel::One(1), 5, &mut |x| p.push(x)));
            assert_eq!(p, [1], "shared PASID reported once");
            assert!(!t.index.asid.pasids(DomainSel::One(2), 5, &mut |_| ()));
            assert_eq!(t.asid_of_pasid(DomainSel::One(1), 2), Some(6));
            let mut a = Vec::new();
            assert!(t
                .index
                .asid
                .tags_of(DomainSel::One(1), 1, &mut |x| a.push(x)));
            assert_eq!(a, [5], "shared ASID reported once");
            let two = Topology::from_json(
                r#"{"domains":[{"id":1}],"devices":[{"rid":1,"domain":1,"pasids":[{"pasid":7,"asid":1}]},{"rid":2,"domain":1,"pasids":[{"pasid":7,"asid":2}]},{"rid":3,"domain":1,"pasids":[{"pasid":8}]}]}"#,
            )
            .unwrap();
            let mut a = Vec::new();
            assert!(two
                .index
                .asid
                .tags_of(DomainSel::All, 7, &mut |x| a.push(x)));
            assert_eq!(a, [1, 2]);
            assert!(!two.index.asid.tags_of(DomainSel::All, 8, &mut |_| ()));
            assert!(!two.index.asid.tags_of(DomainSel::All, 9, &mut |_| ()));
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
        fn resolves_riscv_ids() {
            let t = Topology::from_json(
                r#"{"domains":[{"id":1,"riscv":{"gscid":7}}],"devices":[{"rid":1,"domain":1,"pasids":[{"pasid":3,"pscid":9},{"pasid":4}]},{"rid":2,"domain":1,"pasids":[{"pasid":5,"pscid":9}]}]}"#,
            )
            .unwrap();
            assert_eq!(t.domain_from_native(ArchId::Riscv, 7), Some(1));
            assert_eq!(t.domain_to_native(ArchId::Riscv, 1), Some(7));
            let mut p = Vec::new();
            assert!(t
                .index
                .pscid
                .pasids(DomainSel::One(1), 9, &mut |x| p.push(x)));
            assert_eq!(p, [3, 5]);
            assert!(!t.index.pscid.pasids(DomainSel::All, 8, &mut |_| ()));
            let mut q = Vec::new();
            assert!(t.index.pscid.tags_of(DomainSel::All, 3, &mut |x| q.push(x)));
            assert_eq!(q, [9]);
            assert!(
                !t.index.pscid.tags_of(DomainSel::All, 4, &mut |_| ()),
                "pscid unknown"
            );
            let wide = r#"{"domains":[{"id":1}],"devices":[{"rid":1,"domain":1,"pasids":[{"pasid":1,"pscid":1048576}]}]}"#;
            assert_eq!(refusal(wide), Some("Inconsistent"));
            // Through a reference, the RISC-V methods are forwarded.
            let r: &dyn Context = &t;
            assert!((&r).pasids_of_tag(ArchId::Riscv, DomainSel::All, 9, &mut |_| ()));
        }

        #[test]
        fn iommufd_section() {
            let t = Topology::from_json(
                r#"{"iommufd": {"vsmmu_vmid": 3, "vdevices": [{"vsid": 16, "psid": 256}]}}"#,
            )
            .unwrap();
            let i = t.file().iommufd.as_ref().unwrap();
            assert_eq!(
                (i.vsmmu_vmid, i.psid_of_vsid(16), i.psid_of_vsid(17)),
                (3, Some(256), None)
            );
            assert_eq!(Topology::from_json(SAMPLE).unwrap().file().iommufd, None);
            for bad in [
                r#"{"iommufd": {"vdevices": [{"vsid": 1, "psid": 2}, {"vsid": 1, "psid": 3}]}}"#,
                r#"{"iommufd": {"vdevices": [{"vsid": 1, "psid": 2}, {"vsid": 4, "psid": 2}]}}"#,
            ] {
                assert_eq!(refusal(bad), Some("Inconsistent"), "{bad}");
            }
            assert_eq!(refusal(r#"{"iommufd": {"vmid": 1}}"#), Some("Malformed"));
        }

        #[test]
        fn iommufd_host_features() {
            let t = Topology::from_json(r#"{"iommufd": {}}"#).unwrap();
            assert_eq!(
                t.file().iommufd.as_ref().unwrap().host,
                IommufdHost::default()
            );
            let t = Topology::from_json(
                r#"{"iommufd": {"host": {"ds": true, "asid_bits": 8, "ssid_bits": 0}}}"#,
            )
            .unwrap();
            assert_eq!(
                t.file().iommufd.as_ref().unwrap().host,
                IommufdHost {
                    ds: true,
                    asid_bits: 8,
                    ssid_bits: 0,
                    ..IommufdHost::default()
                }
            );
            for bad in [
                r#"{"iommufd": {"host": {"asid_bits": 12}}}"#,
                r#"{"iommufd": {"host": {"ssid_bits": 21}}}"#,
            ] {
                assert_eq!(refusal(bad), Some("Inconsistent"), "{bad}");
            }
            assert_eq!(
                refusal(r#"{"iommufd": {"host": {"dss": true}}}"#),
                Some("Malformed")
            );
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
                assert_eq!(refusal(bad), Some("Malformed"), "{bad}");
            }
            let dup = r#"{"domains": [{"id": 1}, {"id": 1}]}"#;
            assert_eq!(refusal(dup), Some("Inconsistent"));
            let orphan = r#"{"devices": [{"rid": 1, "domain": 5}]}"#;
            assert_eq!(refusal(orphan), Some("Inconsistent"));
            let wide = r#"{"domains": [{"id": 1}], "devices": [{"rid": 1, "domain": 1, "pasids": [{"pasid": 1048576}]}]}"#;
            assert_eq!(refusal(wide), Some("Inconsistent"));
            let shared =
                r#"{"domains": [{"id": 1, "vtd": {"did": 2}}, {"id": 2, "vtd": {"did": 2}}]}"#;
            assert_eq!(refusal(shared), Some("Inconsistent"));
        }

        #[test]
        fn pasids_of_domain_and_duplicate_keys() {
            let t = Topology::from_json(SAMPLE).unwrap();
            let mut p = Vec::new();
            assert!(t.pasids_of_domain(1, &mut |x| p.push(x)));
            assert_eq!(p, [1, 2], "each PASID once, in file order");
            let mut p = Vec::new();
            assert!(
                t.pasids_of_domain(2, &mut |x| p.push(x)),
                "known, no PASIDs"
            );
            assert!(p.is_empty());
            assert!(!t.pasids_of_domain(3, &mut |_| ()), "unknown domain");
            assert!(!IdentityContext.pasids_of_domain(1, &mut |_| ()));
            let e = Topology::from_json(r#"{"domains":[{"id":1}],"domains":[],"devices":[]}"#)
                .unwrap_err();
            assert!(e.to_string().contains("duplicate key \"domains\""), "{e}");
            let e = Topology::from_json(r#"{"domains":[{"id":1,"id":2}]}"#).unwrap_err();
            assert!(e.to_string().contains("duplicate key \"id\""), "{e}");
            let big = " ".repeat(MAX_TOPOLOGY_BYTES + 1);
            assert_eq!(refusal(&big), Some("TooLarge"));
        }

        /// The old linear-scan answers, as the reference for the indexes.
        fn naive_uses(f: &TopologyFile, d: DomainSel) -> Vec<PasidEntry> {
            f.devices
                .iter()
                .filter(|x| match d {
                    DomainSel::All => true,
                    DomainSel::One(id) => x.domain == id,
                })
                .flat_map(|x| x.pasids.iter().copied())
                .collect()
        }

        fn first_each<T: PartialEq + Copy>(it: impl Iterator<Item = T>) -> Vec<T> {
            let mut v = Vec::new();
            for x in it {
                if !v.contains(&x) {
                    v.push(x);
                }
            }
            v
        }

        /// `pasids_of_tag` / `tags_of_pasid` against linear scans of the file.
        fn check_tags(f: &TopologyFile, t: &Topology, d: DomainSel) {
            let devs: Vec<&DeviceEntry> = f
                .devices
                .iter()
                .filter(|x| match d {
                    DomainSel::All => true,
                    DomainSel::One(id) => x.domain == id,
                })
                .collect();
            let uses = naive_uses(f, d);
            for tag in 0..6u32 {
                // SMMU ASIDs and RISC-V PSCIDs: the devices' own tag names
                // no PASID, the PASIDs' tags their PASIDs.
                for arch in [ArchId::Smmuv3, ArchId::Riscv] {
                    let dev_tag = |x: &DeviceEntry| match arch {
                        ArchId::Smmuv3 => x.asid.map(u32::from),
                        _ => x.pscid,
                    };
                    let use_tag = |p: &PasidEntry| match arch {
                        ArchId::Smmuv3 => p.asid.map(u32::from),
                        _ => p.pscid,
                    };
                    let mut want = Vec::new();
                    if devs.iter().any(|x| dev_tag(x) == Some(tag)) {
                        want.push(PasidSel::NoPasid);
                    }
                    want.extend(first_each(
                        uses.iter()
                            .filter(|p| use_tag(p) == Some(tag))
                            .map(|p| PasidSel::One(p.pasid)),
                    ));
                    let mut got = Vec::new();
                    let known = t.pasids_of_tag(arch, d, tag, &mut |x| got.push(x));
                    assert_eq!((known, got), (!want.is_empty(), want), "{arch} {d:?} {tag}");
                    let mut got = Vec::new();
                    let known = t.tags_of_pasid(arch, d, PasidSel::NoPasid, &mut |x| got.push(x));
                    let ok = !devs.is_empty() && devs.iter().all(|x| dev_tag(x).is_some());
                    assert_eq!(known, ok, "{arch} {d:?} no pasid");
                    if ok {
                        assert_eq!(got, first_each(devs.iter().filter_map(|x| dev_tag(x))));
                    }
                }
                // VT-d and AMD-Vi: the tag is the PASID, RID_PASID (GCR3
                // entry 0) names no PASID.
                if let DomainSel::One(id) = d {
                    for arch in [ArchId::Vtd, ArchId::Amd] {
                        let rid = f
                            .domains
                            .iter()
                            .find(|x| x.id == id)
                            .and_then(|x| x.vtd)
                            .filter(|_| arch == ArchId::Vtd)
                            .map_or(0, |v| v.rid_pasid);
                        let lists = !uses.is_empty();
                        let listed = uses.iter().any(|p| p.pasid == tag);
                        let mut want = Vec::new();
                        if tag == rid {
                            want.push(PasidSel::NoPasid);
                        }
                        if tag != rid || !lists || listed {
                            want.push(PasidSel::One(tag));
                        }
                        let mut got = Vec::new();
                        assert!(t.pasids_of_tag(arch, d, tag, &mut |x| got.push(x)));
                        assert_eq!(got, want, "{arch} {d:?} {tag}");
                        let mut got = Vec::new();
                        assert!(t.tags_of_pasid(arch, d, PasidSel::NoPasid, &mut |x| got.push(x)));
                        assert_eq!(got, [rid]);
                    }
                }
            }
        }

        #[test]
        fn no_pasid_tags() {
            use std::vec;
            let t = Topology::from_json(
                r#"{"domains":[{"id":1,"smmuv3":{"vmid":1},"vtd":{"did":7,"rid_pasid":9},"amd":{"domain_id":3}},{"id":2,"vtd":{"did":8}}],
                    "devices":[{"rid":16,"domain":1,"asid":4,"pscid":11,"pasids":[{"pasid":1,"asid":5},{"pasid":2,"asid":4}]},
                               {"rid":17,"domain":2}]}"#,
            )
            .unwrap();
            let tags = |arch, d, p| {
                let mut v = Vec::new();
                let known = t.tags_of_pasid(arch, d, p, &mut |x| v.push(x));
                (known, v)
            };
            let pasids = |arch, d, tag| {
                let mut v = Vec::new();
                let known = t.pasids_of_tag(arch, d, tag, &mut |x| v.push(x));
                (known, v)
            };
            let one = DomainSel::One(1);
            // SMMU: CD 0 uses ASID 4, shared with PASID 2.
            assert_eq!(
                tags(ArchId::Smmuv3, one, PasidSel::NoPasid),
                (true, vec![4])
            );
            assert_eq!(
                pasids(ArchId::Smmuv3, one, 4),
                (true, vec![PasidSel::NoPasid, PasidSel::One(2)])
            );
            assert_eq!(
                pasids(ArchId::Smmuv3, one, 5),
                (true, vec![PasidSel::One(1)])
            );
            assert!(!pasids(ArchId::Smmuv3, one, 6).0);
            // Domain 2's device has no CD 0 ASID: unknown.
            assert!(!tags(ArchId::Smmuv3, DomainSel::One(2), PasidSel::NoPasid).0);
            assert!(!tags(ArchId::Smmuv3, one, PasidSel::All).0);
            // RISC-V: the device context's PSCID.
            assert_eq!(
                tags(ArchId::Riscv, one, PasidSel::NoPasid),
                (true, vec![11])
            );
            assert_eq!(
                pasids(ArchId::Riscv, one, 11),
                (true, vec![PasidSel::NoPasid])
            );
            // VT-d: RID_PASID 9 in domain 1 (not a listed PASID: exclusive),
            // 0 by default in domain 2 (no PASIDs listed: shared with PASID 0).
            assert_eq!(tags(ArchId::Vtd, one, PasidSel::NoPasid), (true, vec![9]));
            assert_eq!(pasids(ArchId::Vtd, one, 9), (true, vec![PasidSel::NoPasid]));
            assert_eq!(pasids(ArchId::Vtd, one, 0), (true, vec![PasidSel::One(0)]));
            assert_eq!(
                pasids(ArchId::Vtd, DomainSel::One(2), 0),
                (true, vec![PasidSel::NoPasid, PasidSel::One(0)])
            );
            assert_eq!(
                tags(ArchId::Vtd, DomainSel::All, PasidSel::NoPasid),
                (true, vec![0, 9])
            );
            // AMD-Vi: GCR3 entry 0.
            assert_eq!(tags(ArchId::Amd, one, PasidSel::NoPasid), (true, vec![0]));
            assert_eq!(pasids(ArchId::Amd, one, 0), (true, vec![PasidSel::NoPasid]));
            assert_eq!(tags(ArchId::Amd, one, PasidSel::One(2)), (true, vec![2]));
            // Without a topology tag 0 is shared by no PASID and PASID 0.
            let mut v = Vec::new();
            assert!(IdentityContext.pasids_of_tag(ArchId::Smmuv3, one, 0, &mut |x| v.push(x)));
            assert_eq!(v, [PasidSel::NoPasid, PasidSel::One(0)]);
            let mut v = Vec::new();
            assert!(IdentityContext.tags_of_pasid(
                ArchId::Riscv,
                one,
                PasidSel::NoPasid,
                &mut |x| v.push(x)
            ));
            assert_eq!(v, [0]);
            assert!(!IdentityContext.tags_of_pasid(
                ArchId::Smmuv3,
                one,
                PasidSel::One(1 << 16),
                &mut |_| ()
            ));
            // Widths are checked.
            for bad in [
                r#"{"domains":[{"id":1,"vtd":{"did":1,"rid_pasid":1048576}}]}"#,
                r#"{"domains":[{"id":1}],"devices":[{"rid":1,"domain":1,"pscid":1048576}]}"#,
            ] {
                assert_eq!(refusal(bad), Some("Inconsistent"), "{bad}");
            }
            assert_eq!(
                refusal(r#"{"domains":[{"id":1}],"devices":[{"rid":1,"domain":1,"asid":65536}]}"#),
                Some("Malformed")
            );
        }

        /// A pseudo-random `next(n)` in `0..n` from `seed` (an LCG).
        fn lcg(mut seed: u64) -> impl FnMut(u64) -> u64 {
            move |n| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                (seed >> 33) % n
            }
        }

        #[test]
        fn id_maps_answer_as_a_linear_scan() {
            let mut next = lcg(11);
            for round in 0..40u32 {
                // Small ids (the direct table), ids just past its bound,
                // and ids anywhere up to u32::MAX.
                let n = next(60) as usize;
                let mut ids: Vec<u32> = (0..n)
                    .map(|_| match next(3) {
                        0 => next(300) as u32,
                        1 => (DIRECT_MIN + DIRECT_SLACK * n) as u32 + next(8) as u32 - 4,
                        _ => u32::MAX - next(1 << 32) as u32,
                    })
                    .collect();
                if round % 5 == 0 {
                    ids.push(u32::MAX);
                }
                ids.sort_unstable();
                ids.dedup();
                let pairs: Vec<(u32, u32)> = ids.iter().map(|&x| (x, x ^ round)).collect();
                let m = IdMap::new(pairs.clone());
                assert!(m.direct.len() <= DIRECT_MIN + DIRECT_SLACK * pairs.len());
                let probe = ids
                    .iter()
                    .flat_map(|&x| [x, x.wrapping_add(1), x.wrapping_sub(1)])
                    .chain((0..50).map(|_| next(1 << 32) as u32))
                    .chain([0, u32::MAX]);
                for x in probe {
                    let want = pairs.iter().find(|e| e.0 == x).map(|e| e.1 as usize);
                    assert_eq!(m.get(x), want, "round {round} id {x}");
                }
            }
        }

        #[test]
        fn wide_ids_resolve() {
            let t = Topology::from_json(
                r#"{"domains":[{"id":4294967295,"smmuv3":{"vmid":65535},"vtd":{"did":65535,"rid_pasid":5}},
                               {"id":0,"smmuv3":{"vmid":0},"amd":{"domain_id":65535}}],
                    "devices":[{"rid":16777215,"domain":4294967295,"asid":65535,"pasids":[{"pasid":1048575,"asid":3}]},
                               {"rid":0,"domain":0,"ats":true}]}"#,
            )
            .unwrap();
            assert_eq!(t.domain_from_native(ArchId::Smmuv3, 65535), Some(u32::MAX));
            assert_eq!(t.domain_from_native(ArchId::Smmuv3, 0), Some(0));
            assert_eq!(t.domain_from_native(ArchId::Smmuv3, 1), None);
            assert_eq!(t.domain_from_native(ArchId::Amd, 65535), Some(0));
            assert_eq!(
                t.domain_from_native(ArchId::VirtioIommu, u32::MAX),
                Some(u32::MAX)
            );
            assert_eq!(t.domain_to_native(ArchId::Vtd, u32::MAX), Some(65535));
            assert_eq!(t.domain_of_device(16777215), Some(u32::MAX));
            assert!(!t.ats_enabled(16777215));
            assert!(t.ats_enabled(0) && t.ats_enabled(16777214));
            let pasids = |arch, d, tag| {
                let mut v = Vec::new();
                let known = t.pasids_of_tag(arch, d, tag, &mut |x| v.push(x));
                (known, v)
            };
            let top = DomainSel::One(u32::MAX);
            assert_eq!(
                pasids(ArchId::Smmuv3, top, 65535),
                (true, std::vec![PasidSel::NoPasid])
            );
            assert_eq!(
                pasids(ArchId::Smmuv3, top, 3),
                (true, std::vec![PasidSel::One(1048575)])
            );
            assert!(!pasids(ArchId::Smmuv3, top, 65536).0);
            assert!(!pasids(ArchId::Smmuv3, DomainSel::One(0), 3).0);
            // VT-d: RID_PASID 5 of the top domain, not among its PASIDs.
            assert_eq!(
                pasids(ArchId::Vtd, top, 5),
                (true, std::vec![PasidSel::NoPasid])
            );
        }

        #[test]
        fn indexes_answer_as_the_linear_scans() {
            // A topology with many repeats: 40 devices over 5 domains, each
            // with up to 12 uses of few PASIDs and ASIDs (some unknown).
            let mut next = lcg(7);
            let mut f = TopologyFile::default();
            for id in 0..5u32 {
                f.domains.push(DomainEntry {
                    id: id * 3,
                    smmuv3: Some(SmmuIds {
                        vmid: (10 - id) as u16,
                    }),
                    vtd: (id % 2 == 0).then_some(VtdIds {
                        did: id as u16,
                        rid_pasid: id % 4,
                    }),
                    amd: None,
                    riscv: (id % 3 != 1).then_some(RiscvIds {
                        gscid: 11 - id as u16,
                    }),
                });
            }
            for rid in 0..40u32 {
                let pasids = (0..next(13))
                    .map(|_| PasidEntry {
                        pasid: next(6) as u32,
                        asid: (next(4) != 0).then(|| next(5) as u16),
                        pscid: (next(4) != 0).then(|| next(5) as u32),
                    })
                    .collect();
                f.devices.push(DeviceEntry {
                    rid: rid * 7 % 41,
                    domain: next(5) as u32 * 3,
                    ats: next(2) == 0,
                    asid: (next(3) != 0).then(|| next(5) as u16),
                    pscid: (next(3) != 0).then(|| next(5) as u32),
                    pasids,
                });
            }
            let t = Topology::new(f.clone()).unwrap();
            let sels: Vec<DomainSel> = (0..6u32)
                .map(|i| DomainSel::One(i * 3))
                .chain([DomainSel::All])
                .collect();
            for &d in &sels {
                let uses = naive_uses(&f, d);
                check_pasids_of(
                    &uses,
                    d,
                    0..6u16,
                    |p| p.asid,
                    |d, a, f| t.index.asid.pasids(d, a, f),
                );
                check_pasids_of(
                    &uses,
                    d,
                    0..6u32,
                    |p| p.pscid,
                    |d, x, f| t.index.pscid.pasids(d, x, f),
                );
                for pasid in 0..7u32 {
                    let of: Vec<&PasidEntry> = uses.iter().filter(|p| p.pasid == pasid).collect();
                    check_tags_of(
                        &of,
                        d,
                        pasid,
                        |p| p.pscid,
                        |d, p, f| t.index.pscid.tags_of(d, p, f),
                    );
                    assert_eq!(
                        t.asid_of_pasid(d, pasid),
                        of.first().and_then(|p| p.asid),
                        "{d:?} pasid {pasid}"
                    );
                    check_tags_of(
                        &of,
                        d,
                        pasid,
                        |p| p.asid,
                        |d, p, f| t.index.asid.tags_of(d, p, f),
                    );
                }
                if let DomainSel::One(id) = d {
                    let known = f.domains.iter().any(|x| x.id == id);
                    let mut got = Vec::new();
                    assert_eq!(t.devices_of_domain(id, &mut |x| got.push(x)), known);
                    let want: Vec<u32> = f
                        .devices
                        .iter()
                        .filter(|x| x.domain == id)
                        .map(|x| x.rid)
                        .collect();
                    assert_eq!(got, if known { want } else { Vec::new() });
                    let mut got = Vec::new();
                    assert_eq!(t.pasids_of_domain(id, &mut |x| got.push(x)), known);
                    assert_eq!(got, first_each(uses.iter().map(|p| p.pasid)));
                }
            }
            for &d in &sels {
                check_tags(&f, &t, d);
            }
            for rid in 0..45u32 {
                let dev = f.devices.iter().find(|x| x.rid == rid);
                assert_eq!(t.domain_of_device(rid), dev.map(|x| x.domain));
                assert_eq!(t.ats_enabled(rid), dev.is_none_or(|x| x.ats));
            }
            for arch in ArchId::ALL {
                for n in 0..12u32 {
                    let want = f
                        .domains
                        .iter()
                        .find(|x| native_of(x, arch) == Some(n))
                        .map(|x| x.id);
                    assert_eq!(t.domain_from_native(arch, n), want, "{arch} {n}");
                }
            }
        }
    }
}
