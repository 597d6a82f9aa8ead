//! What the emulated RISC-V IOMMU implements, for decoding: [`Features`]
//! (its `capabilities` and `fctl` registers, §5.3, §5.4).
//!
//! [`Command::decode`](iommu_inval_core::NativeCommand::decode) accepts every command and operand of the ratified
//! specification with its extensions. An emulator of a particular IOMMU
//! decodes with [`Command::decode_with`](iommu_inval_core::NativeCommand::decode_with): a command that IOMMU does not
//! support sets `cqcsr.cmd_ill` (§3.1), and the [`DecodeError`] says which
//! field ([`check_features`](iommu_inval_core::NativeCommand::check_features)). The `DID` width its
//! `ddtp.iommu_mode` allows is queue state, checked apart
//! ([`Command::check_device_id`]).
//!
//! | feature | register | refuses when absent |
//! |---|---|---|
//! | `ats` | `capabilities.ATS` | ATS.INVAL, ATS.PRGR (§3.1.4) |
//! | `nl` | `capabilities.NL` | IOTINVAL `NL` = 1 (reserved, §9.2) |
//! | `s` | `capabilities.S` | IOTINVAL `S` = 1 (reserved, §9.3) |
//! | `wsi` | `fctl.WSI` | IOFENCE.C `WSI` = 1 (reserved, §3.1.2) |
//! | `pid_bits` | `capabilities.PD8` / `PD17` / `PD20` | IODIR.INVAL_PDT `PID` wider (§3.1.3) |
//!
//! The same type describes a *host* IOMMU to `Arch::lower`: it
//! sends `S`, `NL`, ATS commands and wired-interrupt fences only when the
//! host has them, and PIDs within `pid_bits`.

use crate::cmd::ID20_MAX;
#[cfg(doc)]
use crate::Command;
#[cfg(doc)]
use iommu_inval_core::DecodeError;

/// What optional parts of the specification an IOMMU implements, as its
/// `capabilities` and `fctl` registers say (§5.3, §5.4, §9.2, §9.3), and
/// the byte order its in-memory queues use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Features {
    /// `capabilities.ATS`: ATS.INVAL and ATS.PRGR exist.
    pub ats: bool,
    /// `capabilities.NL` (bit 42): the IOTINVAL `NL` operand exists.
    pub nl: bool,
    /// `capabilities.S` (bit 43): the IOTINVAL `S` operand exists.
    pub s: bool,
    /// `fctl.WSI` (wired interrupts supported and enabled): IOFENCE.C `WSI` exists.
    pub wsi: bool,
    /// Width of the `process_id`s the IOMMU supports: 20 with
    /// `capabilities.PD20` (bit 40), 17 with `PD17` (bit 39), 8 with `PD8`
    /// (bit 38). An IODIR.INVAL_PDT whose `PID` is wider is illegal
    /// (§3.1.3). Values above 20 mean 20.
    pub pid_bits: u8,
    /// `capabilities.MSI_FLAT` (bit 22): device contexts have the extended
    /// format, whose `device_id` splits 6 / 9 / 9 bits over the directory
    /// levels (base format: 7 / 9 / 8), which sets the device-id width each
    /// `ddtp.iommu_mode` allows.
    pub msi_flat: bool,
    /// `capabilities.END` (bit 27): the IOMMU supports both byte orders and
    /// `fctl.BE` is writable; without it `fctl.BE` keeps the one order the
    /// IOMMU has (WARL, §5.4).
    pub end: bool,
    /// `fctl.BE` (bit 0): the IOMMU's accesses to its in-memory queues are
    /// big-endian — the two doublewords of each command (§3.1) and the
    /// IOFENCE.C `DATA` store (§3.1.2).
    pub be: bool,
}

impl Features {
    /// Everything implemented: ATS, `NL`, `S`, wired interrupts, 20-bit
    /// PIDs, base-format device contexts, both byte orders, little-endian
    /// selected.
    pub const ALL: Features = Features {
        ats: true,
        nl: true,
        s: true,
        wsi: true,
        pid_bits: 20,
        msi_flat: false,
        end: true,
        be: false,
    };

    /// The features of an IOMMU whose `capabilities` (§5.3) and `fctl`
    /// (§5.4) registers read these values. Without `PD20` or `PD17` the PID
    /// width is 8 (with `PD8`, and also without any `PDx`, as the
    /// specification's reference model checks it: it names no narrower
    /// width).
    ///
    /// ```
    /// use iommu_inval_riscv::Features;
    /// // ATS, PD17, END; fctl.BE = 1.
    /// let f = Features::from_registers(1 << 25 | 1 << 39 | 1 << 27, 1);
    /// assert_eq!((f.ats, f.nl, f.pid_bits, f.end, f.be), (true, false, 17, true, true));
    /// ```
    pub const fn from_registers(capabilities: u64, fctl: u32) -> Features {
        Features {
            ats: bit(capabilities, CAP_ATS),
            nl: bit(capabilities, CAP_NL),
            s: bit(capabilities, CAP_S),
            wsi: fctl & FCTL_WSI != 0,
            pid_bits: if bit(capabilities, CAP_PD20) {
                20
            } else if bit(capabilities, CAP_PD17) {
                17
            } else {
                8
            },
            msi_flat: bit(capabilities, CAP_MSI_FLAT),
            end: bit(capabilities, CAP_END),
            be: fctl & FCTL_BE != 0,
        }
    }

    /// The largest `PID` an IODIR.INVAL_PDT may name.
    pub(crate) const fn pid_max(&self) -> u32 {
        if self.pid_bits >= 20 {
            ID20_MAX
        } else {
            (1 << self.pid_bits) - 1
        }
    }

    /// A write of `fctl` to the features: `BE` follows it when the IOMMU
    /// supports both byte orders (`capabilities.END`), else keeps its value
    /// (WARL). `WSI` is not changed: whether it is writable depends on
    /// `capabilities.IGS`, which is the caller's to model ([`Features::wsi`]).
    pub(crate) const fn write_fctl(self, fctl: u32) -> Features {
        let mut f = self;
        if f.end {
            f.be = fctl & FCTL_BE != 0;
        }
        f
    }
}

// capabilities bits (§5.3) and fctl bits (§5.4).
const CAP_MSI_FLAT: u32 = 22;
const CAP_ATS: u32 = 25;
const CAP_END: u32 = 27;
const CAP_PD17: u32 = 39;
const CAP_PD20: u32 = 40;
const CAP_NL: u32 = 42;
const CAP_S: u32 = 43;
/// `fctl.BE`.
pub(crate) const FCTL_BE: u32 = 1 << 0;
/// `fctl.WSI`.
pub(crate) const FCTL_WSI: u32 = 1 << 1;

iommu_inval_core::feature_set!(Features {
    latest: Features::ALL,
    /// [`Features::ALL`].
    host: Features::ALL,
    /// `riscv-1.0` is the ratified specification without its later
    /// extensions (no `NL` or `S` operand: §9.2, §9.3), with ATS and wired
    /// interrupts; `latest` has every operand.
    presets: ["riscv-1.0" => Features { nl: false, s: false, ..Features::ALL }],
});

#[inline(always)]
const fn bit(w: u64, n: u32) -> bool {
    (w >> n) & 1 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `capabilities` and `fctl` bits where §5.3 / §5.4 put them.
    #[test]
    fn features_from_registers() {
        assert_eq!(
            Features::from_registers(0, 0),
            Features {
                ats: false,
                nl: false,
                s: false,
                wsi: false,
                pid_bits: 8,
                msi_flat: false,
                end: false,
                be: false,
            }
        );
        let all = 1 << 22 | 1 << 25 | 1 << 27 | 7 << 38 | 1 << 42 | 1 << 43;
        assert_eq!(
            Features::from_registers(all, FCTL_BE | FCTL_WSI),
            Features {
                msi_flat: true,
                be: true,
                ..Features::ALL
            }
        );
        assert_eq!(Features::from_registers(1 << 38 | 1 << 39, 0).pid_bits, 17);
        // Other bits change nothing.
        assert_eq!(
            Features::from_registers(!all, !(FCTL_BE | FCTL_WSI)),
            Features::from_registers(0, 0)
        );
    }
}
