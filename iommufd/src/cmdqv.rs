//! NVIDIA Tegra241 CMDQV: which guest SMMUv3 commands a guest-owned virtual
//! command queue (VCMDQ) takes, and which must go through the trapped path.
//!
//! With CMDQV a guest is given VCMDQs of a virtual interface (VINTF) in
//! user-owned mode (`hyp_own` = 0); the hardware consumes them directly,
//! with the VINTF's VMID and its StreamID match/replace table standing in
//! for the kernel's rewriting. Such a queue executes only a subset of the
//! commands: the driver's filter for guest-owned queues
//! (`tegra241_guest_vcmdq_supports_cmd`,
//! drivers/iommu/arm/arm-smmu-v3/tegra241-cmdqv.c) accepts
//! CMD_TLBI_NH_ASID, CMD_TLBI_NH_VA and CMD_ATC_INV and sends everything
//! else to the SMMU's main queue. CMD_SYNC is not filtered: the driver ends
//! every batch it issues to such a queue with one, so the queue takes it —
//! a guest's CMD_SYNC on its VCMDQ waits for the commands before it there.
//!
//! So a VMM that exposes VCMDQs must direct the guest (through the
//! capabilities it advertises, or its own trapping) to issue every other
//! command on the emulated main CMDQ, from which the VMM forwards what the
//! vSMMU permits ([`crate::smmuv3`]) and handles the rest itself.

use iommu_inval_arm::Command;

/// Where one guest command can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// The guest-owned VCMDQ takes it (hardware-consumed, no exit).
    Vcmdq,
    /// Not on a VCMDQ: the trapped path (emulated CMDQ → VMM → iommufd
    /// vSMMU, or the VMM's own handling); the reason.
    Trap(&'static str),
}

/// The route of one guest command (`tegra241_guest_vcmdq_supports_cmd`).
pub const fn route(cmd: &Command) -> Route {
    match cmd {
        Command::TlbiNhAsid(_) | Command::TlbiNhVa(_) | Command::AtcInv(_) | Command::CmdSync(_) => {
            Route::Vcmdq
        }
        Command::TlbiNhVaa(_) | Command::TlbiNhAll(_) | Command::TlbiNsnhAll => Route::Trap(
            "a guest VCMDQ takes only TLBI_NH_ASID, TLBI_NH_VA and ATC_INV of the TLBIs (tegra241_guest_vcmdq_supports_cmd): trap it and forward it to the vSMMU",
        ),
        Command::CfgiCd(_) | Command::CfgiCdAll(_) => Route::Trap(
            "CD invalidations are not taken by a guest VCMDQ (tegra241_guest_vcmdq_supports_cmd): trap it and forward it to the vSMMU",
        ),
        _ => Route::Trap(
            "not taken by a guest VCMDQ (tegra241_guest_vcmdq_supports_cmd) nor permitted by the vSMMU: the VMM handles it",
        ),
    }
}

/// The route of raw guest words (`None` when they do not decode).
#[cfg(test)]
fn route_words(words: &[u64]) -> Option<Route> {
    use iommu_inval_core::NativeCommand;
    Command::decode(words).ok().map(|c| route(&c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_arm::*;

    /// The opcodes a guest VCMDQ takes.
    const VCMDQ_OPCODES: [u8; 4] = [0x11, 0x12, 0x40, 0x46];

    #[test]
    fn the_vcmdq_subset() {
        let yes: [Command; 4] = [
            Command::TlbiNhAsid(TlbiScope { vmid: 0, asid: 1 }),
            Command::TlbiNhVa(TlbiAddr::default()),
            Command::AtcInv(AtcInv::default()),
            Command::CmdSync(CmdSync::default()),
        ];
        for c in yes {
            assert_eq!(route(&c), Route::Vcmdq, "{c:?}");
            assert!(VCMDQ_OPCODES.contains(&c.opcode()));
        }
        let no: [Command; 5] = [
            Command::TlbiNhVaa(TlbiAddr::default()),
            Command::TlbiNhAll(TlbiScope {
                vmid: 0,
                ..Default::default()
            }),
            Command::TlbiNsnhAll,
            Command::CfgiCd(Cfgi::default()),
            Command::CfgiSte(Cfgi::default()),
        ];
        for c in no {
            assert_ne!(route(&c), Route::Vcmdq, "{c:?}");
            assert!(!VCMDQ_OPCODES.contains(&c.opcode()));
        }
        assert_eq!(route_words(&[0xff, 0]), None);
    }
}
