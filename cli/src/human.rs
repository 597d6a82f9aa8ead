//! The readable one-line form of `decode` (without `--json`): the op, its
//! fields, and a short meaning taken from the generic ops the command lifts
//! to, e.g. `invalidate stage-1 IOTLB, 2 MiB at 0x40000000, domain 1 PASID 5, leaf only`.
//!
//! Columns are fixed-width (the op column is as wide as the architecture's
//! longest op name) so that a stream lines up without buffering.

use crate::AnyCommand;
use iommu_inval_core::model::{
    Caches, DeviceSel, DomainSel, Inval, Op, PasidSel, Regime, RespCode, Stages, StallAction,
};
use iommu_inval_core::{AddrRange, FieldValue, Outcome};

/// Width of the fields column.
pub const FIELDS_WIDTH: usize = 72;

/// Fields whose values read best in hex.
fn is_hex_field(name: &str) -> bool {
    name.contains("address") || name.contains("data")
}

/// `name=value` pairs: 1-bit fields as 0/1, addresses and data in hex, the rest decimal.
pub fn format_fields(cmd: &dyn AnyCommand) -> String {
    let mut s = String::new();
    cmd.visit_fields(&mut |name, v| {
        if !s.is_empty() {
            s.push(' ');
        }
        let val = match v {
            FieldValue::Bool(b) => u8::from(b).to_string(),
            FieldValue::Uint(x) if is_hex_field(name) || x > 0xffff => format!("{x:#x}"),
            FieldValue::Uint(x) => x.to_string(),
            FieldValue::Pair([a, b]) => format!("[{a:#x},{b:#x}]"),
        };
        s.push_str(name);
        s.push('=');
        s.push_str(&val);
    });
    s
}

/// A byte count as `4 KiB`, `2 MiB`, `16 EiB`, `~32.0 TiB` (large, not a whole
/// number of units), or `0x1234 bytes`.
pub fn size_str(bytes: u128) -> String {
    const UNITS: [(u32, &str); 6] = [
        (60, "EiB"),
        (50, "PiB"),
        (40, "TiB"),
        (30, "GiB"),
        (20, "MiB"),
        (10, "KiB"),
    ];
    if bytes == 0 {
        return "0 bytes".into();
    }
    for (shift, unit) in UNITS {
        let u = 1u128 << shift;
        if bytes >= u && bytes % u == 0 {
            return format!("{} {unit}", bytes / u);
        }
        if bytes >= u << 4 {
            // Large and not a whole number of units: about how much.
            return format!("~{:.1} {unit}", bytes as f64 / u as f64);
        }
    }
    format!("{bytes:#x} bytes")
}

/// A PCI requester id as `bb:dd.f`.
pub fn bdf(rid: u32) -> String {
    if rid > 0xffff {
        return format!("{rid:#x}");
    }
    format!("{:02x}:{:02x}.{}", rid >> 8, (rid >> 3) & 0x1f, rid & 7)
}

fn range_str(r: &AddrRange) -> String {
    if r.is_all() {
        "all addresses".into()
    } else {
        format!("{} at {:#x}", size_str(r.size()), r.first())
    }
}

fn caches_str(i: &Inval) -> String {
    let mut parts = Vec::new();
    if i.caches.contains(Caches::CONFIG_DEVICE) {
        parts.push("device config".to_owned());
    }
    if i.caches.contains(Caches::CONFIG_PASID) {
        parts.push("PASID config".to_owned());
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
            Regime::Hyp => "EL2 ",
            Regime::Secure => "secure ",
            Regime::SecureHyp => "S-EL2 ",
            Regime::SecureGuest => "secure EL1 ",
        };
        parts.push(format!("{rg}{st}IOTLB"));
    }
    if i.caches.contains(Caches::DEV_TLB) {
        parts.push("device TLB".to_owned());
    }
    if i.caches.contains(Caches::INTR_REMAP) {
        parts.push("interrupt remapping".to_owned());
    }
    parts.join(" + ")
}

/// The meaning of an invalidation.
pub fn describe_inval(i: &Inval) -> String {
    let mut s = format!("invalidate {}", caches_str(i));
    let addressed = i.caches.intersects(Caches::IOTLB | Caches::DEV_TLB);
    if i.caches.contains(Caches::INTR_REMAP) && !addressed {
        if !i.range.is_all() {
            let n = i.range.size();
            s.push_str(&format!(
                ", {n} entr{} from index {}",
                if n == 1 { "y" } else { "ies" },
                i.range.first()
            ));
        }
    } else if addressed {
        s.push_str(", ");
        s.push_str(&range_str(&i.range));
    }
    let mut whose = Vec::new();
    match i.domain {
        DomainSel::One(d) => whose.push(format!("domain {d}")),
        DomainSel::All => {
            if i.caches.contains(Caches::IOTLB) && i.regime == Regime::Guest {
                whose.push("all domains".into());
            }
        }
    }
    let pasid_tagged = i.caches.intersects(Caches::CONFIG_PASID | Caches::DEV_TLB)
        || (i.caches.contains(Caches::IOTLB) && i.stages.contains(Stages::S1));
    if pasid_tagged {
        match i.pasid {
            PasidSel::One(p) => whose.push(format!("PASID {p}")),
            PasidSel::NoPasid => whose.push("without PASID".into()),
            PasidSel::All => whose.push("all PASIDs".into()),
        }
    }
    let device_tagged = i
        .caches
        .intersects(Caches::CONFIG | Caches::DEV_TLB | Caches::INTR_REMAP);
    if device_tagged {
        match i.device {
            DeviceSel::All => whose.push("all devices".into()),
            DeviceSel::One(d) => whose.push(format!("device {}", bdf(d))),
            DeviceSel::Range { first, last } => {
                whose.push(format!("devices {}..{}", bdf(first), bdf(last)))
            }
        }
    }
    if !whose.is_empty() {
        s.push_str(", ");
        s.push_str(&whose.join(" "));
    }
    if i.global {
        s.push_str(", with global entries");
    }
    if i.leaf_only() {
        s.push_str(", leaf only");
    }
    s
}

/// The meaning of one generic op.
pub fn describe_op(op: &Op) -> String {
    match op {
        Op::Inval(i) => describe_inval(i),
        Op::Sync(s) => {
            let mut parts = vec!["sync".to_owned()];
            if s.interrupt {
                parts.push("interrupt".into());
            }
            if let Some(st) = s.store {
                parts.push(format!("store {:#x} to {:#x}", st.data, st.address));
            }
            if s.sev {
                parts.push("send event".into());
            }
            if s.fence {
                parts.push("fence".into());
            }
            if s.drain_page_requests {
                parts.push("drain page requests".into());
            }
            parts.join(", ")
        }
        Op::Prefetch(p) => {
            let pasid = p.pasid.map(|x| format!(" PASID {x}")).unwrap_or_default();
            match p.range {
                None => format!("prefetch configuration of device {}{pasid}", bdf(p.device)),
                Some(r) => format!(
                    "prefetch {} of device {}{pasid}",
                    range_str(&r),
                    bdf(p.device)
                ),
            }
        }
        Op::PageResponse(r) => {
            let code = match r.code {
                RespCode::Success => "success",
                RespCode::Invalid => "invalid request",
                RespCode::Failure => "failure",
            };
            let pasid = r.pasid.map(|x| format!(" PASID {x}")).unwrap_or_default();
            let last = if r.last { ", last" } else { "" };
            format!(
                "page response {code} to device {}{pasid}, group {}{last}",
                bdf(r.device),
                r.prg_index
            )
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
            format!("{a} stalled transaction {stag} of device {}", bdf(*device))
        }
        Op::StallTerminate { device } => format!(
            "terminate every stalled transaction of device {}",
            bdf(*device)
        ),
    }
}

/// Native ids the generic meaning renames: an SMMU `asid` (the generic
/// model names the PASIDs that use it), as ` (ASID 5)`; empty otherwise.
pub fn native_note(cmd: &dyn AnyCommand) -> String {
    let mut note = String::new();
    cmd.visit_fields(&mut |name, v| {
        if let ("asid", FieldValue::Uint(a)) = (name, v) {
            note = format!(" (ASID {a})");
        }
    });
    note
}

/// The meaning of a lifted command: its ops joined by `; `, plus what the
/// lift widened (an id the context does not know).
pub fn describe_ops(ops: &[Op], outcome: &Outcome) -> String {
    let mut s = ops.iter().map(describe_op).collect::<Vec<_>>().join("; ");
    if ops.is_empty() {
        s.push_str("no generic effect");
    }
    if !outcome.widened.is_empty() {
        s.push_str(&format!(
            " (widened: {})",
            outcome.widened.names().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(d) = outcome.dropped {
        s.push_str(&format!(" (dropped: {d})"));
    }
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
