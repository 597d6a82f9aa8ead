//! The generic JSON form of an [`Op`] (one object per line), as printed by
//! `lift` and read by `lower`. The schema is documented in docs/GENERIC_JSON.md.
//!
//! Every object has `"op"`: `inval`, `sync`, `prefetch`, `page_response`,
//! `resume` or `stall_terminate`. On input, keys that are left out take the
//! *widest* value for selections (every domain, PASID, device and address;
//! both stages) and 0/false/null for everything else; unknown keys are
//! errors (a typo must not widen or narrow an invalidation silently).
//! Integers may also be given as hex strings (`"0x40000000"`).
//!
//! Example: the test `example::module_example` at the end of this file.

use super::jsonval::{get_bool, get_u64, get_uint, parse_line, JsonError};
use iommu_inval::core::model::{
    Barrier, Caches, DeviceSel, DomainSel, Hints, Inval, Op, PageResponse, PasidSel, Prefetch,
    Regime, RespCode, Stages, StallAction, Store,
};
use iommu_inval::core::AddrRange;
use iommu_inval::core::Flags;
use serde_json::{json, Map, Value};

/// Names of the cache flags, in bit order.
pub const CACHE_NAMES: [(Caches, &str); 6] = [
    (Caches::CONFIG_DEVICE, "config_device"),
    (Caches::CONFIG_PASID, "config_pasid"),
    (Caches::IOTLB, "iotlb"),
    (Caches::DEV_TLB, "dev_tlb"),
    (Caches::INTR_REMAP, "intr_remap"),
    (Caches::LEAF, "leaf"),
];

/// Cache names accepted on input: [`CACHE_NAMES`] plus `config` (both
/// configuration caches, the seed proposal's CONFIG flag) and `all` (every kind).
pub const CACHE_INPUT_NAMES: [(Caches, &str); 8] = {
    let mut names = [(Caches::LEAF, ""); 8]; // every slot is set below
    let mut i = 0;
    while i < CACHE_NAMES.len() {
        names[i] = CACHE_NAMES[i];
        i += 1;
    }
    names[6] = (Caches::CONFIG, "config");
    names[7] = (Caches::ALL_KINDS, "all");
    names
};

/// Names of the stages.
pub const STAGE_NAMES: [(Stages, &str); 2] = [(Stages::S1, "s1"), (Stages::S2, "s2")];

fn flags_json<T: Copy>(names: &[(T, &'static str)], has: impl Fn(T) -> bool) -> Value {
    Value::Array(
        names
            .iter()
            .filter(|(f, _)| has(*f))
            .map(|(_, n)| json!(n))
            .collect(),
    )
}

/// A range as JSON: `"all"`, or `{"iova": I, "size": S}` (the only range
/// whose size does not fit 64 bits, `0..=u64::MAX` spelled as a span, is
/// `{"first": 0, "last": 18446744073709551615}`).
pub fn range_json(r: &AddrRange) -> Value {
    match r {
        AddrRange::All => json!("all"),
        AddrRange::Span { first, last } => match r.len() {
            Some(size) => json!({"iova": first, "size": size}),
            None => json!({"first": first, "last": last}),
        },
    }
}

fn opt_u32(p: Option<u32>) -> Value {
    p.map_or(Value::Null, |x| json!(x))
}

/// The JSON object of a generic operation.
pub fn op_to_json(op: &Op) -> Value {
    match op {
        Op::Inval(i) => {
            let mut m = Map::new();
            m.insert("op".into(), json!("inval"));
            m.insert(
                "caches".into(),
                flags_json(&CACHE_NAMES, |f| i.caches.contains(f)),
            );
            m.insert("regime".into(), json!(regime_name(i.regime)));
            m.insert(
                "stages".into(),
                flags_json(&STAGE_NAMES, |f| i.stages.contains(f)),
            );
            m.insert(
                "domain".into(),
                match i.domain {
                    DomainSel::All => json!("all"),
                    DomainSel::One(d) => json!(d),
                },
            );
            m.insert(
                "pasid".into(),
                match i.pasid {
                    PasidSel::All => json!("all"),
                    PasidSel::NoPasid => json!("none"),
                    PasidSel::One(p) => json!(p),
                },
            );
            m.insert("global".into(), json!(i.global));
            m.insert(
                "device".into(),
                match i.device {
                    DeviceSel::All => json!("all"),
                    DeviceSel::One(d) => json!(d),
                    DeviceSel::Range { first, last } => json!({"first": first, "last": last}),
                },
            );
            m.insert("range".into(), range_json(&i.range));
            if i.hints != Hints::default() {
                let h = &i.hints;
                m.insert(
                    "hints".into(),
                    json!({
                        "leaf_shift": h.leaf_shift, "tg_shift": h.tg_shift, "level": h.level,
                        "drain_reads": h.drain_reads, "drain_writes": h.drain_writes,
                        "pfsid": h.pfsid, "max_pending": h.max_pending, "queue_id": h.queue_id,
                    }),
                );
            }
            Value::Object(m)
        }
        Op::Sync(s) => json!({
            "op": "sync",
            "interrupt": s.interrupt,
            "store": s.store.map_or(Value::Null, |st| json!({"address": st.address, "data": st.data})),
            "sev": s.sev,
            "fence": s.fence,
            "drain_page_requests": s.drain_page_requests,
            "msi_msh": s.msi_msh,
            "msi_attr": s.msi_attr,
        }),
        Op::Prefetch(p) => json!({
            "op": "prefetch",
            "device": p.device,
            "pasid": opt_u32(p.pasid),
            "secure": p.secure,
            "range": p.range.as_ref().map_or(Value::Null, range_json),
            "size": p.size,
            "stride": p.stride,
            "count": p.count,
        }),
        Op::PageResponse(r) => json!({
            "op": "page_response",
            "device": r.device,
            "pasid": opt_u32(r.pasid),
            "prg_index": r.prg_index,
            "code": code_name(r.code),
            "last": r.last,
            "priv_data": r.priv_data.map_or(Value::Null, |d| json!([d[0], d[1]])),
            "guest": r.guest,
        }),
        Op::Resume {
            device,
            stag,
            action,
        } => json!({
            "op": "resume",
            "device": device,
            "stag": stag,
            "action": action_name(*action),
        }),
        Op::StallTerminate { device } => json!({"op": "stall_terminate", "device": device}),
    }
}

/// The values of a named enum: every one, its name, and the expected
/// text of an error.
struct Names<T: 'static> {
    all: &'static [T],
    name: fn(T) -> &'static str,
    expected: &'static str,
}

const REGIME: Names<Regime> = Names {
    all: &REGIMES,
    name: regime_name,
    expected: "\"guest\", \"hyp\", \"secure\", \"secure_hyp\" or \"secure_guest\"",
};

const CODE: Names<RespCode> = Names {
    all: &CODES,
    name: code_name,
    expected: "\"success\", \"invalid\" or \"failure\"",
};

const ACTION: Names<StallAction> = Names {
    all: &ACTIONS,
    name: action_name,
    expected: "\"terminate\", \"retry\" or \"abort\"",
};

const REGIMES: [Regime; 5] = [
    Regime::Guest,
    Regime::Hyp,
    Regime::Secure,
    Regime::SecureHyp,
    Regime::SecureGuest,
];

fn regime_name(r: Regime) -> &'static str {
    match r {
        Regime::Guest => "guest",
        Regime::Hyp => "hyp",
        Regime::Secure => "secure",
        Regime::SecureHyp => "secure_hyp",
        Regime::SecureGuest => "secure_guest",
    }
}

const CODES: [RespCode; 3] = [RespCode::Success, RespCode::Invalid, RespCode::Failure];

fn code_name(c: RespCode) -> &'static str {
    match c {
        RespCode::Success => "success",
        RespCode::Invalid => "invalid",
        RespCode::Failure => "failure",
    }
}

const ACTIONS: [StallAction; 3] = [
    StallAction::Terminate,
    StallAction::Retry,
    StallAction::Abort,
];

fn action_name(a: StallAction) -> &'static str {
    match a {
        StallAction::Terminate => "terminate",
        StallAction::Retry => "retry",
        StallAction::Abort => "abort",
    }
}

/// Parse one generic JSON line. Never panics.
#[allow(dead_code)] // an entry point of the tests and the fuzz harness
pub fn parse_op_json(line: &str) -> Result<Op, JsonError> {
    parse_op_value(&parse_line(line)?)
}

fn word<'v>(key: &str, v: &'v Value) -> Result<&'v str, JsonError> {
    v.as_str().ok_or_else(|| bad(key, "a string"))
}

fn bad(key: &str, expected: &'static str) -> JsonError {
    JsonError::BadValue {
        key: key.to_owned(),
        expected,
    }
}

/// Key lookup that also records which keys were used, to refuse unknown ones.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    allowed: &'static [&'static str],
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, allowed: &'static [&'static str]) -> Result<Self, JsonError> {
        let map = v.as_object().ok_or(JsonError::NotObject)?;
        if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(JsonError::UnknownKey(k.clone()));
        }
        Ok(Obj { map, allowed })
    }
    /// The value of `key`, `None` when absent or null.
    fn get(&self, key: &str) -> Option<&'a Value> {
        debug_assert!(self.allowed.contains(&key));
        self.map.get(key).filter(|v| !v.is_null())
    }
    fn bool(&self, key: &str) -> Result<bool, JsonError> {
        self.get(key).map_or(Ok(false), |v| get_bool(key, v))
    }
    fn uint(&self, key: &str, max: u64, expected: &'static str) -> Result<u64, JsonError> {
        self.get(key)
            .map_or(Ok(0), |v| get_uint(key, v, max, expected))
    }
    fn u8(&self, key: &str) -> Result<u8, JsonError> {
        Ok(self.uint(key, u8::MAX.into(), "an integer of 8 bits")? as u8)
    }
    fn u16(&self, key: &str) -> Result<u16, JsonError> {
        Ok(self.uint(key, u16::MAX.into(), "an integer of 16 bits")? as u16)
    }
    fn u32(&self, key: &str) -> Result<u32, JsonError> {
        Ok(self.uint(key, u32::MAX.into(), "an integer of 32 bits")? as u32)
    }
    /// The value of `names` the string of `key` names; `None` when absent
    /// or null.
    fn one_of<T: Copy>(&self, key: &str, names: &Names<T>) -> Result<Option<T>, JsonError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let w = word(key, v)?;
        let found = names.all.iter().copied().find(|&x| (names.name)(x) == w);
        found.map(Some).ok_or_else(|| bad(key, names.expected))
    }
    /// A PASID (PCIe: 20 bits) or `null`.
    fn opt_pasid(&self, key: &str) -> Result<Option<u32>, JsonError> {
        self.get(key)
            .map(|v| {
                get_uint(key, v, PASID_MAX.into(), "null or a PASID of 20 bits").map(|x| x as u32)
            })
            .transpose()
    }
}

/// The largest PASID: PCIe PASIDs (SMMU SubstreamIDs) are 20 bits.
pub const PASID_MAX: u32 = (1 << 20) - 1;

/// Parse a range: `"all"`, `{"iova": I, "size": S}` or `{"first": F, "last": L}` (inclusive).
pub fn parse_range(key: &str, v: &Value) -> Result<AddrRange, JsonError> {
    if v.as_str() == Some("all") {
        return Ok(AddrRange::All);
    }
    const EXPECT: &str = "\"all\", {\"iova\", \"size\"} or {\"first\", \"last\"}";
    let o = v.as_object().ok_or_else(|| bad(key, EXPECT))?;
    let field = |k: &str| {
        o.get(k)
            .map(|x| get_u64(&format!("{key}.{k}"), x))
            .transpose()
    };
    let (iova, size, first, last) = (
        field("iova")?,
        field("size")?,
        field("first")?,
        field("last")?,
    );
    if let Some(k) = o
        .keys()
        .find(|k| !["iova", "size", "first", "last"].contains(&k.as_str()))
    {
        return Err(JsonError::UnknownKey(format!("{key}.{k}")));
    }
    match (iova, size, first, last) {
        (Some(i), Some(s), None, None) => AddrRange::new(i, s)
            .map_err(|_| bad(key, "a non-empty range that ends at or below 2^64")),
        (None, None, Some(f), Some(l)) => {
            AddrRange::inclusive(f, l).map_err(|_| bad(key, "a range with first <= last"))
        }
        _ => Err(bad(key, EXPECT)),
    }
}

fn parse_flags<T: Copy>(
    key: &str,
    v: &Value,
    names: &[(T, &'static str)],
    expected: &'static str,
) -> Result<Vec<T>, JsonError> {
    let arr = v.as_array().ok_or_else(|| bad(key, expected))?;
    arr.iter()
        .map(|x| {
            let s = x.as_str().ok_or_else(|| bad(key, expected))?;
            names
                .iter()
                .find(|(_, n)| *n == s)
                .map(|(f, _)| *f)
                .ok_or_else(|| bad(key, expected))
        })
        .collect()
}

const INVAL_KEYS: &[&str] = &[
    "op", "caches", "regime", "stages", "domain", "pasid", "global", "device", "range", "hints",
];
const HINT_KEYS: &[&str] = &[
    "leaf_shift",
    "tg_shift",
    "level",
    "drain_reads",
    "drain_writes",
    "pfsid",
    "max_pending",
    "queue_id",
];
const SYNC_KEYS: &[&str] = &[
    "op",
    "interrupt",
    "store",
    "sev",
    "fence",
    "drain_page_requests",
    "msi_msh",
    "msi_attr",
];
const PREFETCH_KEYS: &[&str] = &[
    "op", "device", "pasid", "secure", "range", "size", "stride", "count",
];
const RESP_KEYS: &[&str] = &[
    "op",
    "device",
    "pasid",
    "prg_index",
    "code",
    "last",
    "priv_data",
    "guest",
];
const RESUME_KEYS: &[&str] = &["op", "device", "stag", "action"];
const TERM_KEYS: &[&str] = &["op", "device"];

/// Parse a generic JSON value.
pub fn parse_op_value(v: &Value) -> Result<Op, JsonError> {
    let map = v.as_object().ok_or(JsonError::NotObject)?;
    let kind = match map.get("op") {
        None => return Err(JsonError::Missing("op")),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(bad("op", "a string")),
    };
    match kind {
        "inval" => parse_inval(&Obj::new(v, INVAL_KEYS)?).map(Op::Inval),
        "sync" => {
            let o = Obj::new(v, SYNC_KEYS)?;
            let store = match o.get("store") {
                None => None,
                Some(s) => {
                    let so = Obj::new(s, &["address", "data"]).map_err(|e| match e {
                        JsonError::NotObject => bad("store", "null or {\"address\", \"data\"}"),
                        e => e,
                    })?;
                    let address = so
                        .get("address")
                        .ok_or(JsonError::Missing("store.address"))?;
                    Some(Store {
                        address: get_u64("store.address", address)?,
                        data: so.get("data").map_or(Ok(0), |d| get_u64("store.data", d))?,
                    })
                }
            };
            Ok(Op::Sync(Barrier {
                interrupt: o.bool("interrupt")?,
                store,
                sev: o.bool("sev")?,
                fence: o.bool("fence")?,
                drain_page_requests: o.bool("drain_page_requests")?,
                msi_msh: o.u8("msi_msh")?,
                msi_attr: o.u8("msi_attr")?,
            }))
        }
        "prefetch" => {
            let o = Obj::new(v, PREFETCH_KEYS)?;
            Ok(Op::Prefetch(Prefetch {
                device: o.u32("device")?,
                pasid: o.opt_pasid("pasid")?,
                secure: o.bool("secure")?,
                range: o
                    .get("range")
                    .map(|r| parse_range("range", r))
                    .transpose()?,
                size: o.u8("size")?,
                stride: o.u8("stride")?,
                count: o.u8("count")?,
            }))
        }
        "page_response" => {
            let o = Obj::new(v, RESP_KEYS)?;
            let code = o.one_of("code", &CODE)?.unwrap_or(RespCode::Success);
            let priv_data = match o.get("priv_data") {
                None => None,
                Some(p) => match p.as_array().map(Vec::as_slice) {
                    Some([a, b]) => Some([get_u64("priv_data", a)?, get_u64("priv_data", b)?]),
                    _ => return Err(bad("priv_data", "null or a list of two 64-bit integers")),
                },
            };
            Ok(Op::PageResponse(PageResponse {
                device: o.u32("device")?,
                pasid: o.opt_pasid("pasid")?,
                prg_index: o.u16("prg_index")?,
                code,
                last: o.bool("last")?,
                priv_data,
                guest: o.bool("guest")?,
            }))
        }
        "resume" => {
            let o = Obj::new(v, RESUME_KEYS)?;
            let action = o
                .one_of("action", &ACTION)?
                .unwrap_or(StallAction::Terminate);
            Ok(Op::Resume {
                device: o.u32("device")?,
                stag: o.u16("stag")?,
                action,
            })
        }
        "stall_terminate" => {
            let o = Obj::new(v, TERM_KEYS)?;
            Ok(Op::StallTerminate {
                device: o.u32("device")?,
            })
        }
        other => Err(JsonError::UnknownOp(other.to_owned())),
    }
}

fn parse_inval(o: &Obj<'_>) -> Result<Inval, JsonError> {
    let caches = match o.get("caches") {
        None => return Err(JsonError::Missing("caches")),
        Some(v) => parse_flags("caches", v, &CACHE_INPUT_NAMES, "a list of cache names")?
            .into_iter()
            .fold(Caches::empty(), |a, b| a | b),
    };
    if (caches - Caches::LEAF).is_empty() {
        return Err(bad("caches", "at least one cache besides \"leaf\""));
    }
    let mut i = Inval::new(caches);
    i.regime = o.one_of("regime", &REGIME)?.unwrap_or(i.regime);
    if let Some(v) = o.get("stages") {
        let s = parse_flags("stages", v, &STAGE_NAMES, "a list of \"s1\", \"s2\"")?
            .into_iter()
            .fold(Stages::empty(), |a, b| a | b);
        if s.is_empty() {
            return Err(bad("stages", "a non-empty list of \"s1\", \"s2\""));
        }
        i.stages = s;
    }
    if let Some(v) = o.get("domain") {
        i.domain = if v.as_str() == Some("all") {
            DomainSel::All
        } else {
            DomainSel::One(get_uint("domain", v, u32::MAX.into(), "\"all\" or a domain id")? as u32)
        };
    }
    if let Some(v) = o.get("pasid") {
        i.pasid = match v.as_str() {
            Some("all") => PasidSel::All,
            Some("none") => PasidSel::NoPasid,
            _ => PasidSel::One(get_uint(
                "pasid",
                v,
                PASID_MAX.into(),
                "\"all\", \"none\" or a PASID of 20 bits",
            )? as u32),
        };
    }
    i.global = o.bool("global")?;
    if let Some(v) = o.get("device") {
        const EXPECT: &str = "\"all\", a requester id or {\"first\", \"last\"}";
        i.device = if v.as_str() == Some("all") {
            DeviceSel::All
        } else if v.is_object() {
            let dev = Obj::new(v, &["first", "last"])?;
            let first = dev.get("first").ok_or_else(|| bad("device", EXPECT))?;
            let last = dev.get("last").ok_or_else(|| bad("device", EXPECT))?;
            let first = get_uint("device.first", first, u32::MAX.into(), "a requester id")? as u32;
            let last = get_uint("device.last", last, u32::MAX.into(), "a requester id")? as u32;
            if first > last {
                return Err(bad("device", "a range with first <= last"));
            }
            DeviceSel::Range { first, last }
        } else {
            DeviceSel::One(get_uint("device", v, u32::MAX.into(), EXPECT)? as u32)
        };
    }
    if let Some(v) = o.get("range") {
        i.range = parse_range("range", v)?;
    }
    if let Some(v) = o.get("hints") {
        let h = Obj::new(v, HINT_KEYS).map_err(|e| match e {
            JsonError::NotObject => bad("hints", "an object"),
            e => e,
        })?;
        i.hints = Hints {
            leaf_shift: h.u8("leaf_shift")?,
            tg_shift: h.u8("tg_shift")?,
            level: h.u8("level")?,
            drain_reads: h.bool("drain_reads")?,
            drain_writes: h.bool("drain_writes")?,
            pfsid: h.u16("pfsid")?,
            max_pending: h.u8("max_pending")?,
            queue_id: h.u16("queue_id")?,
        };
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(op: Op) {
        let j = op_to_json(&op).to_string();
        assert_eq!(parse_op_json(&j), Ok(op), "{j}");
    }

    #[test]
    fn every_kind_round_trips() {
        let inval = Inval::new(Caches::IOTLB | Caches::LEAF)
            .stage(Stages::S1)
            .domain(DomainSel::One(3))
            .pasid(PasidSel::One(0xfffff))
            .device(DeviceSel::Range { first: 8, last: 15 })
            .range(AddrRange::new(0x4000_0000, 0x20_0000).unwrap())
            .global(true)
            .hints(Hints {
                leaf_shift: 21,
                tg_shift: 12,
                level: 2,
                pfsid: 7,
                ..Hints::default()
            });
        rt(Op::Inval(inval));
        rt(Op::Inval(
            Inval::new(Caches::ALL_KINDS).regime(Regime::Secure),
        ));
        rt(Op::Inval(
            Inval::new(Caches::DEV_TLB)
                .pasid(PasidSel::NoPasid)
                .device(DeviceSel::One(16)),
        ));
        rt(Op::Inval(Inval::new(Caches::IOTLB).range(
            AddrRange::Span {
                first: 0,
                last: u64::MAX,
            },
        )));
        rt(Op::Inval(Inval::new(Caches::IOTLB).range(
            AddrRange::Span {
                first: 1,
                last: u64::MAX,
            },
        )));
        rt(Op::Sync(Barrier::default()));
        rt(Op::Sync(Barrier {
            interrupt: true,
            store: Some(Store {
                address: 0x1000,
                data: u64::MAX,
            }),
            sev: true,
            fence: true,
            drain_page_requests: true,
            msi_msh: 3,
            msi_attr: 0xf,
        }));
        rt(Op::Prefetch(Prefetch {
            device: 16,
            pasid: Some(2),
            secure: true,
            range: Some(AddrRange::new(0x1000, 0x1000).unwrap()),
            size: 3,
            stride: 4,
            count: 5,
        }));
        rt(Op::Prefetch(Prefetch::default()));
        rt(Op::PageResponse(PageResponse {
            device: 16,
            pasid: Some(1),
            prg_index: 0x1ff,
            code: RespCode::Failure,
            last: true,
            priv_data: Some([1, u64::MAX]),
            guest: true,
        }));
        for action in ACTIONS {
            rt(Op::Resume {
                device: u32::MAX,
                stag: 0xffff,
                action,
            });
        }
        rt(Op::StallTerminate { device: 5 });
        for regime in REGIMES {
            rt(Op::Inval(Inval::new(Caches::IOTLB).regime(regime)));
        }
        for code in CODES {
            rt(Op::PageResponse(PageResponse {
                device: 1,
                pasid: None,
                prg_index: 0,
                code,
                last: false,
                priv_data: None,
                guest: false,
            }));
        }
    }

    #[test]
    fn omitted_selections_are_widest() {
        let op = parse_op_json(r#"{"op":"inval","caches":["iotlb"]}"#).unwrap();
        assert_eq!(op, Op::Inval(Inval::new(Caches::IOTLB)));
        let op = parse_op_json(r#"{"op":"inval","caches":["dev_tlb"],"device":16,"pasid":"none","range":{"first":4096,"last":8191}}"#)
            .unwrap();
        let want = Inval::new(Caches::DEV_TLB)
            .device(DeviceSel::One(16))
            .pasid(PasidSel::NoPasid)
            .range(AddrRange::new(0x1000, 0x1000).unwrap());
        assert_eq!(op, Op::Inval(want));
    }

    #[test]
    fn bad_objects_are_typed_errors() {
        let cases: &[(&str, JsonError)] = &[
            ("[]", JsonError::NotObject),
            ("{}", JsonError::Missing("op")),
            (r#"{"op":"flush"}"#, JsonError::UnknownOp("flush".into())),
            (r#"{"op":"inval"}"#, JsonError::Missing("caches")),
            (
                r#"{"op":"inval","caches":["iotlb"],"domian":1}"#,
                JsonError::UnknownKey("domian".into()),
            ),
            (
                r#"{"op":"stall_terminate","device":5,"x":1}"#,
                JsonError::UnknownKey("x".into()),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse_op_json(line).as_ref(), Err(want), "{line}");
        }
        for line in [
            "",
            "not json",
            r#"{"op":5}"#,
            r#"{"op":"inval","caches":["leaf"]}"#,
            r#"{"op":"inval","caches":["tlb"]}"#,
            r#"{"op":"inval","caches":["iotlb"],"stages":[]}"#,
            r#"{"op":"inval","caches":["iotlb"],"range":{"iova":0,"size":0}}"#,
            r#"{"op":"inval","caches":["iotlb"],"range":{"iova":18446744073709551615,"size":2}}"#,
            r#"{"op":"inval","caches":["iotlb"],"range":{"first":2,"last":1}}"#,
            r#"{"op":"inval","caches":["iotlb"],"range":{"iova":1}}"#,
            r#"{"op":"inval","caches":["iotlb"],"domain":4294967296}"#,
            r#"{"op":"inval","caches":["iotlb"],"domain":-1}"#,
            r#"{"op":"inval","caches":["iotlb"],"device":{"first":3,"last":2}}"#,
            r#"{"op":"inval","caches":["iotlb"],"hints":{"level":256}}"#,
            r#"{"op":"inval","caches":["iotlb"],"hints":[]}"#,
            r#"{"op":"sync","store":{"data":1}}"#,
            r#"{"op":"sync","store":5}"#,
            r#"{"op":"page_response","priv_data":[1]}"#,
            r#"{"op":"page_response","code":"maybe"}"#,
            r#"{"op":"resume","stag":65536}"#,
            r#"{"op":"resume","action":"retry!"}"#,
        ] {
            assert!(parse_op_json(line).is_err(), "{line}");
        }
    }
}

/// The module documentation's example, as a test (a binary has no doc tests).
#[cfg(test)]
mod example {
    use super::*;

    #[test]
    fn module_example() {
        let op = parse_op_json(
            r#"{"op":"inval","caches":["iotlb","leaf"],"stages":["s1"],
            "domain":1,"pasid":5,"range":{"iova":"0x40000000","size":"0x200000"}}"#,
        )
        .unwrap();
        let back = parse_op_json(&op_to_json(&op).to_string()).unwrap();
        assert_eq!(op, back);
    }
}
