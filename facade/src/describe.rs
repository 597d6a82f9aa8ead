//! The readable one-line meaning of a generic op, as the `iommu-inval`
//! command's `decode` prints it (e.g. `invalidate stage-1 IOTLB, 2 MiB at
//! 0x40000000, domain 1 PASID 5, leaf only`): for logs of a back end.

use core::fmt::Write as _;
use iommu_inval_core::model::{
    Caches, DeviceSel, DomainSel, Inval, Op, PasidSel, Regime, RespCode, Stages, StallAction,
};
use iommu_inval_core::AddrRange;

/// Append [`size_str`] of `bytes` to `s`.
fn write_size(s: &mut String, bytes: u128) {
    const UNITS: [(u32, &str); 6] = [
        (60, "EiB"),
        (50, "PiB"),
        (40, "TiB"),
        (30, "GiB"),
        (20, "MiB"),
        (10, "KiB"),
    ];
    if bytes == 0 {
        s.push_str("0 bytes");
        return;
    }
    for (shift, unit) in UNITS {
        let u = 1u128 << shift;
        if bytes >= u && bytes.is_multiple_of(u) {
            let _ = write!(s, "{} {unit}", bytes / u);
            return;
        }
        if bytes >= u << 4 {
            // Large and not a whole number of units: about how much.
            let _ = write!(s, "~{:.1} {unit}", bytes as f64 / u as f64);
            return;
        }
    }
    let _ = write!(s, "{bytes:#x} bytes");
}

/// A byte count as `4 KiB`, `2 MiB`, `16 EiB`, `~32.0 TiB` (large, not a whole
/// number of units), or `0x1234 bytes`.
pub fn size_str(bytes: u128) -> String {
    let mut s = String::new();
    write_size(&mut s, bytes);
    s
}

/// Append `rid` to `s` as a PCI requester id `bb:dd.f` (hex when wider).
fn write_bdf(s: &mut String, rid: u32) {
    let _ = if rid > 0xffff {
        write!(s, "{rid:#x}")
    } else {
        write!(s, "{:02x}:{:02x}.{}", rid >> 8, (rid >> 3) & 0x1f, rid & 7)
    };
}

/// A PCI requester id as `bb:dd.f`.
#[cfg(test)]
pub fn bdf(rid: u32) -> String {
    let mut s = String::new();
    write_bdf(&mut s, rid);
    s
}

fn write_range(s: &mut String, r: &AddrRange) {
    if r.is_all() {
        s.push_str("all addresses");
    } else {
        write_size(s, r.size());
        let _ = write!(s, " at {:#x}", r.first());
    }
}

/// Append `part` to `s`, after `sep` unless it is the first part written
/// since `start`.
fn part(s: &mut String, start: usize, sep: &str, part: &str) {
    if s.len() > start {
        s.push_str(sep);
    }
    s.push_str(part);
}

fn write_caches(s: &mut String, i: &Inval) {
    let start = s.len();
    if i.caches.contains(Caches::CONFIG_DEVICE) {
        part(s, start, " + ", "device config");
    }
    if i.caches.contains(Caches::CONFIG_PASID) {
        part(s, start, " + ", "PASID config");
    }
    if i.caches.contains(Caches::IOTLB) {
        let st = if i.stages == Stages::S1 {
            "stage-1 "
        } else if i.stages == Stages::S2 {
            "stage-2 "
        } else {
            ""
        };
        let rg = match i.regime {
            Regime::Guest => "",
            Regime::Hyp => "EL2/host ",
            Regime::Secure => "secure ",
            Regime::SecureHyp => "S-EL2 ",
            Regime::SecureGuest => "secure EL1 ",
        };
        part(s, start, " + ", rg);
        s.push_str(st);
        s.push_str("IOTLB");
    }
    if i.caches.contains(Caches::DEV_TLB) {
        part(s, start, " + ", "device TLB");
    }
    if i.caches.contains(Caches::INTR_REMAP) {
        part(s, start, " + ", "interrupt remapping");
    }
}

/// Append the one-line meaning of `i` to `s`.
fn write_inval(s: &mut String, i: &Inval) {
    s.push_str("invalidate ");
    write_caches(s, i);
    let addressed = i.caches.intersects(Caches::IOTLB | Caches::DEV_TLB);
    if i.caches.contains(Caches::INTR_REMAP) && !addressed {
        if !i.range.is_all() {
            let n = i.range.size();
            let _ = write!(
                s,
                ", {n} entr{} from index {}",
                if n == 1 { "y" } else { "ies" },
                i.range.first()
            );
        }
    } else if addressed {
        s.push_str(", ");
        write_range(s, &i.range);
    }
    // The "whose" parts, joined by spaces after ", ".
    let mut first = true;
    let mut whose = |s: &mut String| {
        s.push_str(if first { ", " } else { " " });
        first = false;
    };
    match i.domain {
        DomainSel::One(d) => {
            whose(s);
            let _ = write!(s, "domain {d}");
        }
        DomainSel::All => {
            if i.caches.contains(Caches::IOTLB) && i.regime == Regime::Guest {
                whose(s);
                s.push_str("all domains");
            }
        }
    }
    let pasid_tagged = i.caches.intersects(Caches::CONFIG_PASID | Caches::DEV_TLB)
        || (i.caches.contains(Caches::IOTLB) && i.stages.contains(Stages::S1));
    if pasid_tagged {
        whose(s);
        let _ = match i.pasid {
            PasidSel::One(p) => write!(s, "PASID {p}"),
            PasidSel::NoPasid => s.write_str("without PASID"),
            PasidSel::All => s.write_str("all PASIDs"),
        };
    }
    let device_tagged = i
        .caches
        .intersects(Caches::CONFIG | Caches::DEV_TLB | Caches::INTR_REMAP);
    if device_tagged {
        whose(s);
        match i.device {
            DeviceSel::All => s.push_str("all devices"),
            DeviceSel::One(d) => {
                s.push_str("device ");
                write_bdf(s, d);
            }
            DeviceSel::Range { first, last } => {
                s.push_str("devices ");
                write_bdf(s, first);
                s.push_str("..");
                write_bdf(s, last);
            }
        }
    }
    if i.global {
        s.push_str(", with global entries");
    }
    if i.leaf_only() {
        s.push_str(", leaf only");
    }
}

/// The meaning of an invalidation.
#[cfg(test)]
pub fn describe_inval(i: &Inval) -> String {
    let mut s = String::new();
    write_inval(&mut s, i);
    s
}

fn write_pasid(s: &mut String, p: Option<u32>) {
    if let Some(x) = p {
        let _ = write!(s, " PASID {x}");
    }
}

/// Append the one-line meaning of `op` to `s`.
pub fn write_op(s: &mut String, op: &Op) {
    match op {
        Op::Inval(i) => write_inval(s, i),
        Op::Sync(y) => {
            s.push_str("sync");
            if y.interrupt {
                s.push_str(", interrupt");
            }
            if let Some(st) = y.store {
                let _ = write!(s, ", store {:#x} to {:#x}", st.data, st.address);
            }
            if y.sev {
                s.push_str(", send event");
            }
            if y.fence {
                s.push_str(", fence");
            }
            if y.drain_page_requests {
                s.push_str(", drain page requests");
            }
        }
        Op::Prefetch(p) => {
            match p.range {
                None => s.push_str("prefetch configuration"),
                Some(r) => {
                    s.push_str("prefetch ");
                    write_range(s, &r);
                }
            }
            s.push_str(" of device ");
            write_bdf(s, p.device);
            write_pasid(s, p.pasid);
        }
        Op::PageResponse(r) => {
            let code = match r.code {
                RespCode::Success => "success",
                RespCode::Invalid => "invalid request",
                RespCode::Failure => "failure",
            };
            let _ = write!(s, "page response {code} to device ");
            write_bdf(s, r.device);
            write_pasid(s, r.pasid);
            let _ = write!(s, ", group {}", r.prg_index);
            if r.last {
                s.push_str(", last");
            }
        }
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
            let _ = write!(s, "{a} stalled transaction {stag} of device ");
            write_bdf(s, *device);
        }
        Op::StallTerminate { device } => {
            s.push_str("terminate every stalled transaction of device ");
            write_bdf(s, *device);
        }
    }
}

/// The meaning of one generic op, as `decode` prints it.
pub fn describe_op(op: &Op) -> String {
    let mut s = String::new();
    write_op(&mut s, op);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::model::{Store, Sync};

    #[test]
    fn sizes_and_ids_read_naturally() {
        assert_eq!(size_str(0x1000), "4 KiB");
        assert_eq!(size_str(0x20_0000), "2 MiB");
        assert_eq!(size_str(0x3000), "12 KiB");
        assert_eq!(size_str(1 << 64), "16 EiB");
        assert_eq!(size_str(0x1001), "0x1001 bytes");
        assert_eq!(size_str((1 << 45) - 0x20_0000), "~32.0 TiB");
        assert_eq!(bdf(0x0010), "00:02.0");
        assert_eq!(bdf(0x1a0f), "1a:01.7");
    }

    #[test]
    fn meanings_name_scope_size_and_leaf() {
        let i = Inval::new(Caches::IOTLB | Caches::LEAF)
            .stage(Stages::S1)
            .domain(DomainSel::One(1))
            .pasid(PasidSel::One(5))
            .range(AddrRange::new(0x4000_0000, 0x20_0000).unwrap());
        assert_eq!(
            describe_inval(&i),
            "invalidate stage-1 IOTLB, 2 MiB at 0x40000000, domain 1 PASID 5, leaf only"
        );
        let d = Inval::new(Caches::DEV_TLB)
            .device(DeviceSel::One(16))
            .pasid(PasidSel::All);
        assert_eq!(
            describe_inval(&d),
            "invalidate device TLB, all addresses, all PASIDs device 00:02.0"
        );
        let s = Sync {
            store: Some(Store {
                address: 0x1000,
                data: 1,
            }),
            ..Sync::default()
        };
        assert_eq!(describe_op(&Op::Sync(s)), "sync, store 0x1 to 0x1000");
    }
}
