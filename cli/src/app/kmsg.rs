//! What the Linux IOMMU drivers print when they report a record, read back
//! as the record (`decode --queue`, `convert --queue`). Each form is a small
//! parser of one line that returns the record's words or its named fields;
//! records.rs turns either into words and runs them through the one record
//! pipeline. A field the message does not carry is 0, and named
//! ([`Kmsg::Words`] / [`Kmsg::Fields`]: `missing`), never guessed.
//!
//! The formats are facts read from Linux (GPL; no code copied), cited per
//! parser by function: drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c,
//! drivers/iommu/intel/dmar.c and prq.c, drivers/iommu/amd/iommu.c,
//! drivers/iommu/riscv/iommu.c.

/// What one line of a kernel log gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kmsg {
    /// A line of a form that carries no field itself (the header before
    /// the line that does).
    Header,
    /// The header of a word dump (`event 0x%02x received:`): the record's
    /// words follow, one per line; the number is the record type the
    /// header names, which word 0's bits 7:0 must hold.
    Dump(u64),
    /// One record by its words, and the fields the message lacks (0).
    Words(Vec<u64>, Vec<&'static str>),
    /// One record by op and named field values (the others 0; a flag is
    /// 0 or 1), and the fields the message lacks.
    Fields(&'static str, Vec<(&'static str, u64)>, Vec<&'static str>),
}

/// A parser of one form: `None` when the line is not of the form, an
/// error (exit status 1) when it is but does not read.
pub type Parser = fn(&str) -> Option<Result<Kmsg, String>>;

/// A number as printed: `0x` and hex digits, or hex digits (`%llx`).
fn hex(s: &str) -> Option<u64> {
    let s = s.trim_end_matches([',', ']', ':']);
    let h = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if h.is_empty() || h.len() > 16 {
        return None;
    }
    u64::from_str_radix(h, 16).ok()
}

/// `bb:dd.f` or `ssss:bb:dd.f` (segment dropped: no record holds it) as a
/// requester id `bus << 8 | dev << 3 | fn`; the pre-5.15 VT-d form
/// `0xbb:0xdd.f` too.
fn pci_rid(s: &str) -> Option<u64> {
    let s = s.trim_end_matches([',', ']', ':']);
    let mut parts: Vec<&str> = s.split(':').collect();
    if parts.len() == 3 {
        hex(parts.remove(0))?;
    }
    let [bus, devfn] = parts.as_slice() else {
        return None;
    };
    let (dev, func) = devfn.split_once('.')?;
    let (bus, dev) = (hex(bus)?, hex(dev)?);
    let func: u64 = func.parse().ok()?;
    (bus <= 0xff && dev <= 0x1f && func <= 7).then_some(bus << 8 | dev << 3 | func)
}

/// The text after `anchor` in `line`.
fn after<'a>(line: &'a str, anchor: &str) -> Option<&'a str> {
    line.find(anchor).and_then(|i| line.get(i + anchor.len()..))
}

fn bad(form: &str, what: &str) -> Option<Result<Kmsg, String>> {
    Some(Err(format!("{form}: cannot read {what}")))
}

/// The record of kind `op` with `fields`, the message lacking `missing`.
fn fields(
    op: &'static str,
    fields: &[(&'static str, u64)],
    missing: &[&'static str],
) -> Option<Result<Kmsg, String>> {
    Some(Ok(Kmsg::Fields(op, fields.to_vec(), missing.to_vec())))
}

/// SMMUv3 event queue: `"event 0x%02x received:"` (`arm_smmu_evtq_thread`,
/// and `arm_smmu_dump_raw_event` in kernels with `arm_smmu_dump_event`,
/// which the driver has by the iommufd vEVENTQ patches of March 2025),
/// then one `"\t0x%016llx"` line per word. The decoded lines newer kernels
/// print after the words (`event: %s client: %s sid: %#x ...`) carry
/// nothing the words lack and are skipped.
pub fn smmuv3_event(line: &str) -> Option<Result<Kmsg, String>> {
    let rest = line.trim_end().strip_suffix("received:")?.trim_end();
    let num = rest.rsplit_once("event 0x")?.1;
    let id = (num.len() == 2)
        .then(|| u64::from_str_radix(num, 16).ok())
        .flatten()?;
    Some(Ok(Kmsg::Dump(id)))
}

/// SMMUv3 PRI queue (`arm_smmu_handle_ppr`): `"unexpected PRI request
/// received:"`, then `"\tsid 0x%08x.0x%05x: [%u%s] %sprivileged %s%s%s
/// access at iova 0x%016llx"` (SID.SSID, the group index with `L` when
/// last, `un` when not privileged, `R` `W` `X`, the page address). The
/// SSID is printed 0 without SSV: SSV is read as set when the SSID is not
/// 0 or the request is privileged or executes (§8: those need SSV); SSV
/// and the SSID are named as not in the message otherwise.
pub fn smmuv3_pri(line: &str) -> Option<Result<Kmsg, String>> {
    if line
        .trim_end()
        .ends_with("unexpected PRI request received:")
    {
        return Some(Ok(Kmsg::Header));
    }
    let rest = after(line, "sid 0x")?;
    let (ids, rest) = rest.split_once(": [")?;
    let (group, rest) = rest.split_once("] ")?;
    let rest = rest.strip_suffix('\n').unwrap_or(rest).trim_end();
    let (perm, iova) = rest.split_once(" access at iova ")?;
    let form = "PRI request";
    let Some((sid, ssid)) = ids.split_once(".0x") else {
        return bad(form, "sid.ssid");
    };
    let (Some(sid), Some(ssid)) = (hex(sid), hex(ssid)) else {
        return bad(form, "sid.ssid");
    };
    let (index, last) = match group.strip_suffix('L') {
        Some(i) => (i, true),
        None => (group, false),
    };
    let Ok(index) = index.parse::<u64>() else {
        return bad(form, "the group index");
    };
    let Some((privilege, rwx)) = perm.split_once("privileged") else {
        return bad(form, "the permissions");
    };
    let privileged = match privilege {
        "" => true,
        "un" => false,
        _ => return bad(form, "the permissions"),
    };
    let rwx = rwx.trim();
    if rwx.chars().any(|c| !"RWX".contains(c)) {
        return bad(form, "the permissions");
    }
    let Some(addr) = hex(iova) else {
        return bad(form, "the iova");
    };
    let [read, write, exec] = ['R', 'W', 'X'].map(|c| u64::from(rwx.contains(c)));
    let ssv = u64::from(ssid != 0 || privileged || exec == 1);
    fields(
        "PRI_PAGE_REQUEST",
        &[
            ("sid", sid),
            ("ssid", ssid),
            ("priv", u64::from(privileged)),
            ("exec", exec),
            ("read", read),
            ("write", write),
            ("last", u64::from(last)),
            ("ssv", ssv),
            ("prg_index", index),
            ("address", addr),
        ],
        if ssv == 1 { &[] } else { &["ssv", "ssid"] },
    )
}

/// VT-d fault recording (`dmar_fault_do_one`, Linux 5.15 and later):
/// `"[%s NO_PASID] Request device [%02x:%02x.%d] fault addr 0x%llx [fault
/// reason 0x%02x] %s"`, `"[%s PASID 0x%x] Request device ..."` (`%s` is
/// `DMA Read` when the record's T1 bit is set, else `DMA Write`; PV is
/// not printed without PP), and
/// `"[INTR-REMAP] Request device [..] fault index 0x%llx [fault reason
/// 0x%02x] %s"`. The message has no T2, PRIV, EXE or AT: they are 0.
pub fn vtd_fault(line: &str) -> Option<Result<Kmsg, String>> {
    let head = line.find("] Request device [")?;
    let open = line.get(..head)?.rfind('[')?;
    let kind = line.get(open + 1..head)?;
    let rest = line.get(head + "] Request device [".len()..)?;
    let form = "DMAR fault";
    let Some((dev, rest)) = rest.split_once("] ") else {
        return bad(form, "the device");
    };
    let Some(sid) = pci_rid(dev) else {
        return bad(form, "the device");
    };
    let Some(reason) = after(rest, "[fault reason ").and_then(|r| r.split(']').next()) else {
        return bad(form, "the fault reason");
    };
    let Some(fr) = hex(reason) else {
        return bad(form, "the fault reason");
    };
    if kind == "INTR-REMAP" {
        let Some(index) = after(rest, "fault index ").and_then(|r| r.split(' ').next()) else {
            return bad(form, "the fault index");
        };
        let Some(index) = hex(index) else {
            return bad(form, "the fault index");
        };
        return fields(
            "ir_fault",
            &[("index", index), ("sid", sid), ("fr", fr), ("f", 1)],
            &["t2", "priv", "exe", "pp", "pv", "at", "t1"],
        );
    }
    let (read, pasid) = match kind.split_once(' ').map(|(a, b)| (a, b.split_once(' '))) {
        Some(("DMA", Some(("Read", p)))) => (1, p),
        Some(("DMA", Some(("Write", p)))) => (0, p),
        _ => return bad(form, "the request type"),
    };
    let pasid = match pasid.strip_prefix("PASID ") {
        _ if pasid == "NO_PASID" => None,
        Some(p) => match hex(p) {
            Some(p) => Some(p),
            None => return bad(form, "the PASID"),
        },
        None => return bad(form, "the PASID"),
    };
    let Some(addr) = after(rest, "fault addr ")
        .and_then(|r| r.split(' ').next())
        .and_then(hex)
    else {
        return bad(form, "the fault address");
    };
    let pp = u64::from(pasid.is_some());
    fields(
        "dma_fault",
        &[
            ("fi", addr),
            ("sid", sid),
            ("t1", read),
            ("pp", pp),
            ("pv", pasid.unwrap_or(0)),
            ("fr", fr),
            ("f", 1),
        ],
        match pasid {
            Some(_) => &["t2", "priv", "exe", "at"],
            None => &["t2", "priv", "exe", "pv", "at"],
        },
    )
}

/// VT-d page requests: the driver prints the first two words of a request
/// it refuses (`handle_bad_prq_event`, drivers/iommu/intel/prq.c, formerly
/// svm.c): `"%s: Invalid page request: %08llx %08llx"`. The private data
/// (words 2 and 3) is not printed: 0.
pub fn vtd_prq(line: &str) -> Option<Result<Kmsg, String>> {
    let rest = after(line, "Invalid page request: ")?;
    let mut w = rest.split_whitespace().map(hex);
    match (w.next(), w.next(), w.next()) {
        (Some(Some(w0)), Some(Some(w1)), None) => {
            Some(Ok(Kmsg::Words(vec![w0, w1, 0, 0], vec!["priv_data"])))
        }
        _ => bad("invalid page request", "its two words"),
    }
}

/// AMD-Vi event log (`iommu_print_event`, `amd_iommu_report_page_fault`,
/// `amd_iommu_report_rmp_fault`, `amd_iommu_report_rmp_hw_error`):
/// `"Event logged [KIND key=value ...]"`. The driver prints slices of the
/// entry's words: `device` = w0\[15:0\] (`seg:bus:dev.fn`, or `bus:dev.fn`
/// before segments; for a device the driver knows, in the `pci_err`
/// prefix instead), `pasid` / `domain` = w0\[19:16\]:w0\[47:32\] (the
/// IO_PAGE_FAULT domain cut to 16 bits by `u16 domain_id`), `flags` =
/// w0\[59:48\], `address` / `gpa` / `spa` = w1, INVALID_PPR_REQUEST's
/// `pasid` = w0\[45:42\]:w0\[31:16\] and `tag` = w0\[41:32\], the RMP
/// events' `vmg_tag` = w0\[47:32\] and `flags_rmp` = w0\[23:16\]; and for an
/// event it does not name, `"[UNKNOWN event[0]=0x%08x event[1]=0x%08x
/// event[2]=0x%08x event[3]=0x%08x"`, the four 32-bit halves.
pub fn amd_event(line: &str) -> Option<Result<Kmsg, String>> {
    let (prefix, rest) = line.split_once("Event logged [")?;
    let body = rest.trim_end().trim_end_matches(']');
    let mut tokens = body.split_whitespace();
    let kind = tokens.next()?;
    let form = "AMD-Vi event";
    if kind == "UNKNOWN" {
        let mut e = [0u64; 4];
        let mut n = 0;
        for (i, t) in tokens.enumerate() {
            n += 1;
            let v = t
                .strip_prefix("event[")
                .and_then(|t| t.split_once("]="))
                .filter(|(n, _)| n.parse() == Ok(i))
                .and_then(|(_, v)| hex(v));
            match (e.get_mut(i), v) {
                (Some(slot), Some(v)) if v <= u64::from(u32::MAX) => *slot = v,
                _ => return bad(form, "event[0..3]"),
            }
        }
        if n != 4 {
            return bad(form, "event[0..3]");
        }
        return Some(Ok(Kmsg::Words(
            vec![e[1] << 32 | e[0], e[3] << 32 | e[2]],
            vec![],
        )));
    }
    let Some(code) = amd_code(kind) else {
        return bad(form, "the event kind");
    };
    let mut w0 = code << 60;
    let mut w1 = 0u64;
    let mut device = false;
    for t in tokens {
        let Some((key, value)) = t.split_once('=') else {
            return bad(form, t);
        };
        let v = if key == "device" {
            pci_rid(value)
        } else {
            hex(value)
        };
        let Some(v) = v else {
            return bad(form, key);
        };
        // (the widest value, where it goes in w0)
        let (max, shifted) = match key {
            "device" => (0xffff, v),
            "pasid" if kind == "INVALID_PPR_REQUEST" => {
                (0xf_ffff, (v >> 16) << 42 | (v & 0xffff) << 16)
            }
            "pasid" | "domain" => (0xf_ffff, (v >> 16) << 16 | (v & 0xffff) << 32),
            "tag" => (0x3ff, v << 32),
            "vmg_tag" => (0xffff, v << 32),
            "flags_rmp" => (0xff, v << 16),
            "flags" => (0xfff, v << 48),
            "address" | "gpa" | "spa" => {
                w1 = v;
                continue;
            }
            _ => return bad(form, key),
        };
        if v > max {
            return bad(form, key);
        }
        device |= key == "device";
        w0 |= shifted;
    }
    let mut missing = vec![];
    if !device && HAS_DEVICE.contains(&kind) {
        match prefix_device(prefix) {
            Some(rid) => w0 |= rid,
            None => missing.push("device_id"),
        }
    }
    if kind == "IO_PAGE_FAULT" {
        missing.push("domain_or_pasid[19:16]");
    }
    Some(Ok(Kmsg::Words(vec![w0, w1], missing)))
}

/// The kinds whose entry names a device (the others print none).
const HAS_DEVICE: [&str; 9] = [
    "ILLEGAL_DEV_TABLE_ENTRY",
    "IO_PAGE_FAULT",
    "DEV_TAB_HARDWARE_ERROR",
    "PAGE_TAB_HARDWARE_ERROR",
    "IOTLB_INV_TIMEOUT",
    "INVALID_DEVICE_REQUEST",
    "INVALID_PPR_REQUEST",
    "RMP_PAGE_FAULT",
    "RMP_HW_ERROR",
];

/// The event code of `kind` (the codec's table, arch-amd event.rs).
fn amd_code(kind: &str) -> Option<u64> {
    use iommu_inval::amd::event::EventFormat;
    use iommu_inval::core::record::RecordFormat;
    EventFormat::KINDS
        .iter()
        .find(|k| k.name() == kind)
        .map(|k| k.code())
}

/// The device of a `pci_err` prefix: the last `ssss:bb:dd.f:` token.
fn prefix_device(prefix: &str) -> Option<u64> {
    prefix
        .split_whitespace()
        .rev()
        .find_map(|t| t.strip_suffix(':').and_then(pci_rid))
}

/// RISC-V fault queue (`riscv_iommu_fault`): `"Fault %d devid: 0x%x
/// iotval: %llx iotval2: %llx"` (CAUSE in decimal, DID, iotval, iotval2).
/// The message has no TTYP, PID, PV, PRIV or custom bits: they are 0 (so
/// a fault with an iotval has no transaction and does not lift).
pub fn riscv_fault(line: &str) -> Option<Result<Kmsg, String>> {
    let rest = after(line, "Fault ")?;
    let (cause, rest) = rest.split_once(" devid: ")?;
    let form = "RISC-V fault";
    let mut t = rest.split_whitespace();
    let (Some(did), Some("iotval:"), Some(v), Some("iotval2:"), Some(v2), None) =
        (t.next(), t.next(), t.next(), t.next(), t.next(), t.next())
    else {
        return bad(form, "devid, iotval and iotval2");
    };
    let (Ok(cause), Some(did), Some(v), Some(v2)) = (cause.parse(), hex(did), hex(v), hex(v2))
    else {
        return bad(form, "its numbers");
    };
    fields(
        "fault_record",
        &[
            ("cause", cause),
            ("did", did),
            ("iotval", v),
            ("iotval2", v2),
        ],
        &["pid", "pv", "priv", "ttyp", "custom"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_addresses() {
        for (s, rid) in [
            ("00:02.0", Some(0x10)),
            ("0000:03:00.1]", Some(0x301)),
            ("0x00:0x1e.3", Some(0xf3)),
            ("00:20.0", None),
            ("00:02.8", None),
        ] {
            assert_eq!(pci_rid(s), rid, "{s}");
        }
    }

    #[test]
    fn amd_fields_are_word_slices() {
        let k = amd_event("AMD-Vi: Event logged [INVALID_PPR_REQUEST device=0000:00:02.0 pasid=0xabcde address=0x1000 flags=0x0000 tag=0x1ff]");
        let Some(Ok(Kmsg::Words(w, missing))) = k else {
            panic!("{k:?}")
        };
        assert_eq!(
            w,
            [
                0x9 << 60 | 0xa << 42 | 0x1ff << 32 | 0xbcde << 16 | 0x10,
                0x1000
            ]
        );
        assert!(missing.is_empty());
        // A value wider than its slice is refused, not cut; an UNKNOWN entry
        // needs its four halves.
        assert!(matches!(
            amd_event("Event logged [IO_PAGE_FAULT device=00:02.0 domain=0x100000 address=0x0 flags=0x0000]"),
            Some(Err(_))
        ));
        assert!(matches!(
            amd_event("Event logged [UNKNOWN event[0]=0x00000000 event[1]=0xa0000000"),
            Some(Err(_))
        ));
    }
}
