//! The readable one-line meaning of a generic op (`Display` for [`Op`] and
//! its parts), as the `iommu-inval` command's `decode` prints it, e.g.
//! `invalidate stage-1 IOTLB, 2 MiB at 0x40000000, domain 1 PASID 5, leaf
//! only`: for the logs of a back end. Allocation-free.
//!
//! ```
//! use iommu_inval_core::model::*;
//! use iommu_inval_core::AddrRange;
//! let i = Inval::new(Caches::IOTLB | Caches::LEAF)
//!     .stage(Stages::S1)
//!     .domain(DomainSel::One(1))
//!     .pasid(PasidSel::One(5))
//!     .range(AddrRange::new(0x4000_0000, 0x20_0000).unwrap());
//! assert_eq!(
//!     Op::Inval(i).to_string(),
//!     "invalidate stage-1 IOTLB, 2 MiB at 0x40000000, domain 1 PASID 5, leaf only"
//! );
//! ```

use crate::Flags;
use core::fmt::{self, Display, Formatter};

use crate::model::{
    Barrier, Caches, DeviceSel, DomainSel, Inval, Op, PageResponse, PasidSel, Prefetch, Regime,
    RespCode, Stages, StallAction,
};
use crate::range::AddrRange;

/// A byte count as `4 KiB`, `2 MiB`, `16 EiB`, `~32.0 TiB` (large, not a
/// whole number of units), or `0x1234 bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u128);

impl Display for Size {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        const UNITS: [(u32, &str); 6] = [
            (60, "EiB"),
            (50, "PiB"),
            (40, "TiB"),
            (30, "GiB"),
            (20, "MiB"),
            (10, "KiB"),
        ];
        let bytes = self.0;
        if bytes == 0 {
            return f.write_str("0 bytes");
        }
        for (shift, unit) in UNITS {
            let u = 1u128 << shift;
            if bytes >= u && bytes.is_multiple_of(u) {
                return write!(f, "{} {unit}", bytes / u);
            }
            if bytes >= u << 4 {
                // Large and not a whole number of units: about how much.
                return write!(f, "~{:.1} {unit}", bytes as f64 / u as f64);
            }
        }
        write!(f, "{bytes:#x} bytes")
    }
}

/// A PCI requester id as `bb:dd.f` (hex when wider than 16 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bdf(pub u32);

impl Display for Bdf {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let rid = self.0;
        if rid > 0xffff {
            write!(f, "{rid:#x}")
        } else {
            write!(f, "{:02x}:{:02x}.{}", rid >> 8, (rid >> 3) & 0x1f, rid & 7)
        }
    }
}

/// `all addresses`, or the size and first address (`2 MiB at 0x40000000`).
impl Display for AddrRange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            f.write_str("all addresses")
        } else {
            write!(f, "{} at {:#x}", Size(self.size()), self.first())
        }
    }
}

fn write_caches(f: &mut Formatter<'_>, i: &Inval) -> fmt::Result {
    // The named caches in declaration order, joined by ` + `.
    let named = Caches::NAMED.iter().filter(|(c, _)| i.caches.contains(*c));
    for (n, (c, name)) in named.enumerate() {
        if n > 0 {
            f.write_str(" + ")?;
        }
        if *c == Caches::IOTLB {
            // Its regime, then its stage.
            f.write_str(match i.regime {
                Regime::Guest => "",
                Regime::Hyp => "EL2/host ",
                Regime::Secure => "secure ",
                Regime::SecureHyp => "S-EL2 ",
                Regime::SecureGuest => "secure EL1 ",
            })?;
            if i.stages == Stages::S1 {
                f.write_str("stage-1 ")?;
            } else if i.stages == Stages::S2 {
                f.write_str("stage-2 ")?;
            }
        }
        f.write_str(name)?;
    }
    Ok(())
}

/// `invalidate <caches>`, the range (or interrupt-entry span), then the
/// domain, PASID and device selections that tag those caches, `global` and
/// `leaf only`.
impl Display for Inval {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let i = self;
        f.write_str("invalidate ")?;
        write_caches(f, i)?;
        let addressed = i.caches.intersects(Caches::IOTLB | Caches::DEV_TLB);
        if i.caches.contains(Caches::INTR_REMAP) && !addressed {
            if !i.range.is_all() {
                let n = i.range.size();
                write!(
                    f,
                    ", {n} entr{} from index {}",
                    if n == 1 { "y" } else { "ies" },
                    i.range.first()
                )?;
            }
        } else if addressed {
            write!(f, ", {}", i.range)?;
        }
        // The "whose" parts, joined by spaces after ", ".
        let mut first = true;
        let mut next = |f: &mut Formatter<'_>| {
            let sep = if first { ", " } else { " " };
            first = false;
            f.write_str(sep)
        };
        match i.domain {
            DomainSel::One(d) => {
                next(f)?;
                write!(f, "domain {d}")?;
            }
            DomainSel::All => {
                if i.caches.contains(Caches::IOTLB) && i.regime == Regime::Guest {
                    next(f)?;
                    f.write_str("all domains")?;
                }
            }
        }
        let pasid_tagged = i.caches.intersects(Caches::CONFIG_PASID | Caches::DEV_TLB)
            || (i.caches.contains(Caches::IOTLB) && i.stages.contains(Stages::S1));
        if pasid_tagged {
            next(f)?;
            match i.pasid {
                PasidSel::One(p) => write!(f, "PASID {p}")?,
                PasidSel::NoPasid => f.write_str("without PASID")?,
                PasidSel::All => f.write_str("all PASIDs")?,
            }
        }
        let device_tagged = i
            .caches
            .intersects(Caches::CONFIG | Caches::DEV_TLB | Caches::INTR_REMAP);
        if device_tagged {
            next(f)?;
            match i.device {
                DeviceSel::All => f.write_str("all devices")?,
                DeviceSel::One(d) => write!(f, "device {}", Bdf(d))?,
                DeviceSel::Range { first, last } => {
                    write!(f, "devices {}..{}", Bdf(first), Bdf(last))?
                }
            }
        }
        if i.global {
            f.write_str(", with global entries")?;
        }
        if i.leaf_only() {
            f.write_str(", leaf only")?;
        }
        Ok(())
    }
}

/// `sync`, then what it does on completion.
impl Display for Barrier {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("sync")?;
        if self.interrupt {
            f.write_str(", interrupt")?;
        }
        if let Some(st) = self.store {
            write!(f, ", store {:#x} to {:#x}", st.data, st.address)?;
        }
        if self.sev {
            f.write_str(", send event")?;
        }
        if self.fence {
            f.write_str(", fence")?;
        }
        if self.drain_page_requests {
            f.write_str(", drain page requests")?;
        }
        Ok(())
    }
}

fn write_pasid(f: &mut Formatter<'_>, p: Option<u32>) -> fmt::Result {
    match p {
        Some(x) => write!(f, " PASID {x}"),
        None => Ok(()),
    }
}

/// `prefetch configuration` or `prefetch <range>`, of a device (and PASID).
impl Display for Prefetch {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.range {
            None => f.write_str("prefetch configuration")?,
            Some(r) => write!(f, "prefetch {r}")?,
        }
        write!(f, " of device {}", Bdf(self.device))?;
        write_pasid(f, self.pasid)
    }
}

/// `page response <code> to device <bdf>`, the PASID, group and `last`.
impl Display for PageResponse {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let code = match self.code {
            RespCode::Success => "success",
            RespCode::Invalid => "invalid request",
            RespCode::Failure => "failure",
        };
        write!(f, "page response {code} to device {}", Bdf(self.device))?;
        write_pasid(f, self.pasid)?;
        write!(f, ", group {}", self.prg_index)?;
        if self.last {
            f.write_str(", last")?;
        }
        Ok(())
    }
}

/// The meaning of the op, as the CLI's `decode` prints it.
impl Display for Op {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Op::Inval(i) => i.fmt(f),
            Op::Sync(y) => y.fmt(f),
            Op::Prefetch(p) => p.fmt(f),
            Op::PageResponse(r) => r.fmt(f),
            Op::Resume {
                device,
                stag,
                action,
            } => {
                let a = match action {
                    StallAction::Terminate => "terminate",
                    StallAction::Retry => "retry",
                    StallAction::Abort => "abort",
                };
                write!(
                    f,
                    "{a} stalled transaction {stag} of device {}",
                    Bdf(*device)
                )
            }
            Op::StallTerminate { device } => write!(
                f,
                "terminate every stalled transaction of device {}",
                Bdf(*device)
            ),
        }
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use crate::model::Store;
    use alloc::string::ToString;

    #[test]
    fn sizes_and_ids_read_naturally() {
        assert_eq!(Size(0x1000).to_string(), "4 KiB");
        assert_eq!(Size(0x20_0000).to_string(), "2 MiB");
        assert_eq!(Size(0x3000).to_string(), "12 KiB");
        assert_eq!(Size(1 << 64).to_string(), "16 EiB");
        assert_eq!(Size(0x1001).to_string(), "0x1001 bytes");
        assert_eq!(Size((1 << 45) - 0x20_0000).to_string(), "~32.0 TiB");
        assert_eq!(Size(0).to_string(), "0 bytes");
        assert_eq!(Bdf(0x0010).to_string(), "00:02.0");
        assert_eq!(Bdf(0x1a0f).to_string(), "1a:01.7");
        assert_eq!(Bdf(0x1_0000).to_string(), "0x10000");
    }

    #[test]
    fn meanings_name_scope_size_and_leaf() {
        // (Stage, domain, PASID, size and leaf: the module example.)
        let d = Inval::new(Caches::DEV_TLB)
            .device(DeviceSel::One(16))
            .pasid(PasidSel::All);
        assert_eq!(
            d.to_string(),
            "invalidate device TLB, all addresses, all PASIDs device 00:02.0"
        );
        let s = Barrier {
            store: Some(Store {
                address: 0x1000,
                data: 1,
            }),
            ..Barrier::default()
        };
        assert_eq!(Op::Sync(s).to_string(), "sync, store 0x1 to 0x1000");
    }

    #[test]
    fn caches_join_with_plus_and_regime_prefixes_the_iotlb() {
        let i = Inval::new(Caches::CONFIG_DEVICE | Caches::IOTLB)
            .regime(Regime::Hyp)
            .device(DeviceSel::Range {
                first: 0x10,
                last: 0x17,
            });
        assert_eq!(
            i.to_string(),
            "invalidate device config + EL2/host IOTLB, all addresses, all PASIDs devices 00:02.0..00:02.7"
        );
        let ir = Inval::new(Caches::INTR_REMAP).range(AddrRange::new(4, 1).unwrap());
        assert_eq!(
            ir.to_string(),
            "invalidate interrupt remapping, 1 entry from index 4, all devices"
        );
    }
}
