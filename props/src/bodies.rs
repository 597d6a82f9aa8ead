//! The bodies of the fuzz targets, shared with the in-tree tests: each takes
//! raw fuzzer bytes and returns `Err` with a description of a violated
//! property. The fuzz targets panic on `Err`; the tests feed them
//! deterministic pseudo-random bytes and the seed corpora.

use arbitrary::Unstructured;
use iommu_inval_core::{ArchId, CopyError, FeatureSet, IdentityContext, NativeCommand};

use crate::{
    arbitrary_topology, check_r1, check_r1_cmd, check_r2, check_r3_to, check_r4, gen, AllCaps, Amd,
    Arch, NamedIds, NativeAny, Riscv, Smmu, Vtd,
};

/// Little-endian 64-bit words of `data` (a trailing partial word is dropped).
pub fn words_of(data: &[u8]) -> Vec<u64> {
    data.chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect()
}

/// First byte of a *raw-mode* input of the roundtrip and convert targets:
/// `RAW`, (convert only: an architecture byte, `% 4` = smmuv3, vtd, amd, riscv),
/// a width byte (`4` = four words, else two), the words little-endian, then
/// the bytes that drive the topology. Lets the seed corpora hold spec-table
/// vectors, which libFuzzer then mutates bit by bit.
pub const RAW: u8 = b'W';

/// A raw-mode command: `[width, words (LE)..., rest...]` with width 4 = four
/// words (VT-d 256-bit), else two. `None` when too short or not valid.
pub fn raw_command<A: Arch>(data: &[u8]) -> Option<(A::Command, &[u8])> {
    let (&width, rest) = data.split_first()?;
    let n = if width == 4 && A::WIDTHS.contains(&4) {
        4
    } else {
        2
    };
    let words = words_of(rest.get(..n * 8)?);
    let cmd = <A::Command as iommu_inval_core::NativeCommand>::decode(&words).ok()?;
    Some((cmd, rest.get(n * 8..).unwrap_or(&[])))
}

/// `copy_checked`: a guest queue of one architecture (the first byte picks
/// it, the second the stride: mostly a valid one, sometimes 4 where the
/// architecture has only 2, or a stride no queue has) made of valid
/// commands from the crate's `Arbitrary`, raw words from its generator and
/// random words, sometimes with a trailing partial command; then
/// [`check_copy`](crate::check_copy) against decode + encode.
pub fn copy_checked(data: &[u8]) -> Result<(), String> {
    copy_case(data).map(|_| ())
}

/// [`copy_checked`], returning the architecture and the agreed result.
pub fn copy_case(data: &[u8]) -> Result<CopyCase, String> {
    let mut u = Unstructured::new(data);
    match u.arbitrary::<u8>().unwrap_or(0) % 4 {
        0 => copy_queue::<Smmu>(&mut u),
        1 => copy_queue::<Vtd>(&mut u),
        2 => copy_queue::<Amd>(&mut u),
        _ => copy_queue::<Riscv>(&mut u),
    }
}

/// One queue of architecture `A` from `u`, checked; its agreed result.
type CopyCase = (ArchId, Result<usize, CopyError>);

fn copy_queue<A: Arch>(u: &mut Unstructured<'_>) -> Result<CopyCase, String> {
    // Mostly a stride of the architecture; sometimes 4 where it has only
    // 2, or 3, which no queue has.
    let stride = match u.arbitrary::<u8>().unwrap_or(0) {
        0..=7 => 4,
        8..=11 => 3,
        b => A::WIDTHS
            .get(usize::from(b) % A::WIDTHS.len())
            .copied()
            .unwrap_or(2),
    };
    let mut src: Vec<u64> = Vec::new();
    while !u.is_empty() && src.len() < 64 * stride {
        let words = match u.int_in_range(0u8..=9).unwrap_or(0) {
            0 => (0..stride)
                .map(|_| u.arbitrary::<u64>().unwrap_or(0))
                .collect(),
            1 | 2 => A::arbitrary_words(u).unwrap_or_default(),
            _ => match u.arbitrary::<A::Command>() {
                Ok(c) => crate::encode_words(&c)?,
                Err(_) => break,
            },
        };
        if words.len() == stride {
            src.extend(words);
        }
    }
    if u.arbitrary::<u8>().unwrap_or(0) == 0xff {
        src.push(u.arbitrary::<u64>().unwrap_or(0));
    }
    crate::check_copy::<A>(&src, stride).map(|r| (A::ID, r))
}

/// `decode_<arch>`: the bytes as words (any count, so wrong lengths too), then
/// the same bytes through the crate's raw-word generator; R1 on both.
pub fn decode<A: Arch>(data: &[u8]) -> Result<(), String> {
    let words = words_of(data);
    check_r1::<A>(&words)?;
    // Every valid width cut from the same words.
    for &n in A::WIDTHS {
        if let Some(w) = words.get(..n) {
            check_r1::<A>(w)?;
        }
    }
    let mut u = Unstructured::new(data);
    if let Ok(w) = A::arbitrary_words(&mut u) {
        check_r1::<A>(&w)?;
    }
    Ok(())
}

/// `roundtrip_<arch>`: a valid command from the crate's `Arbitrary`; R1 on it,
/// R2 with the identity context and with a generated topology that often
/// knows the command's ids.
pub fn roundtrip<A: Arch>(data: &[u8]) -> Result<(), String>
where
    NativeAny: From<A::Command>,
{
    let raw = match data.split_first() {
        Some((&RAW, rest)) => raw_command::<A>(rest),
        _ => None,
    };
    let (cmd, rest) = match raw {
        Some(x) => x,
        None => {
            let mut u = Unstructured::new(data);
            let Ok(cmd) = u.arbitrary::<A::Command>() else {
                return Ok(());
            };
            (cmd, u.take_rest())
        }
    };
    let mut u = Unstructured::new(rest);
    check_r1_cmd::<A>(&cmd)?;
    check_r2::<A>(&cmd, &IdentityContext)?;
    let ids = NamedIds::of(&NativeAny::from(cmd));
    if let Ok(topo) = arbitrary_topology(&mut u, &ids) {
        check_r2::<A>(&cmd, &topo).map_err(in_topology(&topo))?;
    }
    Ok(())
}

/// The check an input of a sampled target runs: its last byte (0 when
/// empty) modulo `n`. The fuzzer owns that byte, so over a campaign every
/// check runs; one input pays for one.
fn sample(data: &[u8], n: u8) -> u8 {
    data.last().map_or(0, |b| b % n)
}

/// lower_lift: R3 of an edge-biased generic op through one architecture,
/// with the identity context or a generated topology (falling back to the
/// identity context when the input has no bytes left for one).
///
/// The last byte picks the pair (`sample` of 10: the architecture in
/// [`ArchId::ALL`] order, then the context). Before, every input ran all
/// ten (five architectures with each context), at a tenth of the rate;
/// the properties checked over a campaign are the same.
pub fn lower_lift(data: &[u8]) -> Result<(), String> {
    let mut u = Unstructured::new(data);
    let Ok(op) = gen::any_op(&mut u) else {
        return Ok(());
    };
    let k = sample(data, 10);
    let to = ArchId::ALL[usize::from(k % 5)];
    let caps = AllCaps::default();
    if k < 5 {
        return check_r3_to(to, &op, &caps, &IdentityContext).map(drop);
    }
    match arbitrary_topology(&mut u, &NamedIds::default()) {
        Ok(topo) => check_r3_to(to, &op, &caps, &topo)
            .map(drop)
            .map_err(in_topology(&topo)),
        Err(_) => check_r3_to(to, &op, &caps, &IdentityContext).map(drop),
    }
}

/// lower_caps: an edge-biased generic op lowered to every architecture
/// with arbitrary host capabilities (`crate::caps`: any feature off, narrow
/// ids, any command cap), into bounded sinks of arbitrary room, with the
/// identity context or a generated topology that often describes the op's
/// own domain ([`NamedIds::of_op`]): its PASIDs, and the tags of its
/// requests without PASID named or not (`"pasid":"none"` and `"all"` are
/// among the generated selections).
pub fn lower_caps(data: &[u8]) -> Result<(), String> {
    use crate::caps::{arbitrary_all_caps, check_r3_caps};
    let mut u = Unstructured::new(data);
    let (Ok(op), Ok(caps), Ok(room), Ok(lift_room)) = (
        gen::any_op(&mut u),
        arbitrary_all_caps(&mut u),
        u.int_in_range(0usize..=40),
        u.int_in_range(0usize..=iommu_inval_core::device::MAX_LIFT_OPS),
    ) else {
        return Ok(());
    };
    let topo = if u.arbitrary().unwrap_or(false) {
        arbitrary_topology(&mut u, &NamedIds::of_op(&op)).ok()
    } else {
        None
    };
    let ctx: &dyn iommu_inval_core::Context = match &topo {
        Some(t) => t,
        None => &IdentityContext,
    };
    let with_topo = |e: String| match &topo {
        Some(t) => in_topology(t)(e),
        None => e,
    };
    check_r3_caps::<Smmu>(&op, &caps.smmu, ctx, room, lift_room).map_err(with_topo)?;
    check_r3_caps::<Vtd>(&op, &caps.vtd, ctx, room, lift_room).map_err(with_topo)?;
    check_r3_caps::<Amd>(&op, &caps.amd, ctx, room, lift_room).map_err(with_topo)?;
    check_r3_caps::<Riscv>(&op, &caps.riscv, ctx, room, lift_room).map_err(with_topo)?;
    // SMMUv3 for a vSMMU of an arbitrary iommufd host (its features).
    crate::iommufd::check_vsmmu_lowering(&mut u, &op, ctx)
        .map(drop)
        .map_err(with_topo)
}

/// convert: a valid command of any architecture and a generated topology
/// (which names, or does not, the tags of requests without PASID: device
/// CD 0 ASIDs and device-context PSCIDs, VT-d RID_PASIDs, often the
/// command's own, so that its lift is `PasidSel::NoPasid` on every source);
/// then one check, picked by the last byte (`sample` of 6): R4 to one
/// architecture of [`ArchId::ALL`] (its own too, through the topology), or
/// the iommufd targets (vSMMU entries, VT-d stage-1 entries, CMDQV).
///
/// Before, every input ran all six, at a sixth of the rate; the
/// properties checked over a campaign are the same.
pub fn convert(data: &[u8]) -> Result<(), String> {
    let raw = match data {
        [RAW, arch, rest @ ..] => match arch % 4 {
            0 => raw_command::<Smmu>(rest).map(|(c, r)| (NativeAny::Smmuv3(c), r)),
            1 => raw_command::<Vtd>(rest).map(|(c, r)| (NativeAny::Vtd(c), r)),
            2 => raw_command::<Amd>(rest).map(|(c, r)| (NativeAny::Amd(c), r)),
            _ => raw_command::<Riscv>(rest).map(|(c, r)| (NativeAny::Riscv(c), r)),
        },
        _ => None,
    };
    let (cmd, rest) = match raw {
        Some(x) => x,
        None => {
            let mut u = Unstructured::new(data);
            let Ok(cmd) = u.arbitrary::<NativeAny>() else {
                return Ok(());
            };
            (cmd, u.take_rest())
        }
    };
    let mut u = Unstructured::new(rest);
    let Ok(topo) = arbitrary_topology(&mut u, &NamedIds::of(&cmd)) else {
        return Ok(());
    };
    match ArchId::ALL.get(usize::from(sample(data, 6))) {
        Some(&to) => check_r4(to, &cmd, &AllCaps::default(), &topo).map(drop),
        None => crate::iommufd::check_iommufd(&mut u, &cmd, &topo).map(drop),
    }
    .map_err(in_topology(&topo))
}

/// The topology as JSON, for reproducers.
fn topo_json(t: &iommu_inval_core::context::Topology) -> String {
    serde_json::to_string(t).unwrap_or_else(|e| format!("<{e}>"))
}

/// An oracle's failure message with topology `t` after it (as JSON), so
/// that the case can be reproduced: `.map_err(in_topology(&topo))`.
pub fn in_topology(t: &iommu_inval_core::context::Topology) -> impl Fn(String) -> String + '_ {
    move |e| format!("{e}\n  topology: {}", topo_json(t))
}

/// An SMMUv3 [`Features`](iommu_inval_arm::Features) drawn from `u`.
fn smmu_features(u: &mut Unstructured<'_>) -> arbitrary::Result<iommu_inval_arm::Features> {
    Ok(iommu_inval_arm::Features {
        s1p: u.arbitrary()?,
        s2p: u.arbitrary()?,
        hyp: u.arbitrary()?,
        ats: u.arbitrary()?,
        pri: u.arbitrary()?,
        stall: u.arbitrary()?,
        ril: u.arbitrary()?,
        ds: u.arbitrary()?,
        d128: u.arbitrary()?,
        mpam: u.arbitrary()?,
        dpt: u.arbitrary()?,
        pa_bits: *u.choose(&[48u8, 52, 56])?,
        stride: u.arbitrary()?,
        secure_queue: u.arbitrary()?,
        sel2: u.arbitrary()?,
        rme_impl: u.arbitrary()?,
        ..iommu_inval_arm::Features::LATEST
    })
}

fn vtd_features(u: &mut Unstructured<'_>) -> arbitrary::Result<iommu_inval_vtd::Features> {
    Ok(iommu_inval_vtd::Features {
        psi: u.arbitrary()?,
        mamv: u.int_in_range(0..=63)?,
        drain_read: u.arbitrary()?,
        drain_write: u.arbitrary()?,
        dt: u.arbitrary()?,
        ir: u.arbitrary()?,
        smts: u.arbitrary()?,
        prs: u.arbitrary()?,
        pds: u.arbitrary()?,
        priv_data: u.arbitrary()?,
        ..iommu_inval_vtd::Features::LATEST
    })
}

fn amd_features(u: &mut Unstructured<'_>) -> arbitrary::Result<iommu_inval_amd::Features> {
    Ok(iommu_inval_amd::Features {
        pref_sup: u.arbitrary()?,
        ppr_sup: u.arbitrary()?,
        gt_sup: u.arbitrary()?,
        ia_sup: u.arbitrary()?,
        viommu: u.arbitrary()?,
        // 20-bit IOTLB PASIDs (revision 3.x) or 16.
        pasid_bits: if u.arbitrary()? { 20 } else { 16 },
        ..iommu_inval_amd::Features::LATEST
    })
}

/// A RISC-V [`Features`](iommu_inval_riscv::Features) drawn from `u`: any
/// capabilities and `fctl` bits, a process-id width in `pid_bits`.
pub fn riscv_features(
    u: &mut Unstructured<'_>,
    pid_bits: core::ops::RangeInclusive<u8>,
) -> arbitrary::Result<iommu_inval_riscv::Features> {
    Ok(iommu_inval_riscv::Features {
        ats: u.arbitrary()?,
        nl: u.arbitrary()?,
        s: u.arbitrary()?,
        wsi: u.arbitrary()?,
        pid_bits: u.int_in_range(pid_bits)?,
        msi_flat: u.arbitrary()?,
        end: u.arbitrary()?,
        be: u.arbitrary()?,
    })
}

/// The oracle of decoding by features on one command's words: never a
/// panic; every feature set accepts a subset of what `decode` accepts, and
/// the same command; the everything-preset (`LATEST`) is `decode`.
fn features_oracle<C: PartialEq + core::fmt::Debug, E: core::fmt::Debug>(
    words: &[u64],
    plain: Result<C, E>,
    with: Result<C, E>,
    latest: Result<C, E>,
) -> Result<(), String> {
    match (&plain, &with) {
        (Ok(a), Ok(b)) if a != b => {
            return Err(format!("{words:#x?}: decode_with gave {b:?}, decode {a:?}"))
        }
        (Err(_), Ok(b)) => {
            return Err(format!(
                "{words:#x?}: decode_with accepted {b:?} that decode refuses"
            ))
        }
        _ => {}
    }
    match (&plain, &latest) {
        (Ok(a), Ok(b)) if a == b => Ok(()),
        (Err(_), Err(_)) => Ok(()),
        _ => Err(format!(
            "{words:#x?}: LATEST features disagree with decode: {latest:?} vs {plain:?}"
        )),
    }
}

/// [`features_oracle`] of [`NativeCommand::decode_with`] for any
/// architecture.
fn features_oracle_of<C: NativeCommand>(words: &[u64], f: &C::Features) -> Result<(), String> {
    features_oracle(
        words,
        C::decode(words),
        C::decode_with(words, f),
        C::decode_with(words, &C::Features::LATEST),
    )
}

/// decode_features: words of every architecture decoded with arbitrary
/// emulated-IOMMU features (SMMU_IDR*, VT-d CAP/ECAP, AMD EFR, RISC-V
/// `capabilities` / `fctl`).
pub fn decode_features(data: &[u8]) -> Result<(), String> {
    let mut u = Unstructured::new(data);
    let (Ok(sel), Ok(w)) = (
        u.int_in_range(0u8..=3),
        iommu_inval_arm::arbitrary_words(&mut u),
    ) else {
        return Ok(());
    };
    match sel {
        0 => {
            let Ok(f) = smmu_features(&mut u) else {
                return Ok(());
            };
            features_oracle_of::<iommu_inval_arm::Command>(&w, &f)
        }
        1 => {
            let Ok(v4) = iommu_inval_vtd::arbitrary_words(&mut u) else {
                return Ok(());
            };
            let n = if u.arbitrary().unwrap_or(false) { 4 } else { 2 };
            let v = v4.get(..n).unwrap_or(&v4);
            let Ok(f) = vtd_features(&mut u) else {
                return Ok(());
            };
            features_oracle_of::<iommu_inval_vtd::Command>(v, &f)
        }
        3 => {
            // RISC-V: the IOMMU's capabilities (`decode_with`,
            // cqcsr.cmd_ill when absent), then the device-id width of its
            // `ddtp.iommu_mode` (queue state, not a feature).
            let Ok(v) = iommu_inval_riscv::arbitrary_words(&mut u) else {
                return Ok(());
            };
            let (Ok(f), Ok(m)) = (riscv_features(&mut u, 0..=24), u.int_in_range(0u64..=4)) else {
                return Ok(());
            };
            use iommu_inval_riscv::{Command, DdtMode, Features};
            let mode = DdtMode::from_ddtp(m).unwrap_or_default();
            let with = |f: &Features, mode| {
                Command::decode_with(&v, f).and_then(|c| c.check_device_id(mode, f).map(|()| c))
            };
            features_oracle_of::<Command>(&v, &f)?;
            features_oracle(
                &v,
                Command::decode(&v),
                with(&f, mode),
                with(&Features::LATEST, DdtMode::ThreeLevel),
            )
        }
        _ => {
            let Ok(v) = iommu_inval_amd::arbitrary_words(&mut u) else {
                return Ok(());
            };
            let Ok(f) = amd_features(&mut u) else {
                return Ok(());
            };
            features_oracle_of::<iommu_inval_amd::Command>(&v, &f)
        }
    }
}

/// named_fields: the named-field and checked-encode surface of every
/// architecture (what the CLI's JSON input and a hand-built command go
/// through): `from_fields` of an op name (real or not) with fields (real
/// names or not, edge-biased values of every type, repeated or missing),
/// then `validate`, `encode_checked_into`, `encode_into` into too-short
/// buffers and, for SMMUv3, `check_values`, `validate` + `encode` and `Display`.
pub fn named_fields(data: &[u8]) -> Result<(), String> {
    let mut u = Unstructured::new(data);
    let r = match u.int_in_range(0u8..=6) {
        Ok(0) => named_fields_of::<Smmu>(&mut u),
        Ok(1) => named_fields_of::<Vtd>(&mut u),
        Ok(2) => named_fields_of::<Amd>(&mut u),
        Ok(3) => named_fields_of::<Riscv>(&mut u),
        Ok(4) => hand_built_smmu(&mut u),
        Ok(5) => hand_built_amd(&mut u),
        Ok(_) => hand_built_riscv(&mut u),
        Err(_) => return Ok(()),
    };
    match r {
        Ok(r) => r,
        // The input ran out: nothing to check.
        Err(_) => Ok(()),
    }
}

/// A raw field value for a struct literal: edge-biased, any width.
fn raw(u: &mut Unstructured<'_>) -> arbitrary::Result<u64> {
    let bits = u.int_in_range(1u32..=64)?;
    gen::edge_u64(&mut *u, bits)
}

/// Whether `encode` then `decode` gives `c` back: the command is exactly
/// representable and legal.
fn exact<A: Arch>(c: &A::Command) -> bool {
    use iommu_inval_core::NativeCommand;
    let mut w = [0u64; iommu_inval_core::native::MAX_WORDS];
    match c.encode_into(&mut w) {
        Ok(n) => w.get(..n).is_some_and(|w| {
            A::Command::decode_with(w, &A::full_host(c).features).as_ref() == Ok(c)
        }),
        Err(_) => false,
    }
}

/// The verdict of a hand-built command: `check` (the crate's own test of
/// it) accepts exactly what [`exact`] round-trips.
fn check_agrees<A: Arch, T: core::fmt::Debug, E: core::fmt::Debug>(
    c: &A::Command,
    what: &str,
    check: &Result<T, E>,
) -> Result<(), String> {
    let ok = exact::<A>(c);
    if check.is_ok() != ok {
        return Err(format!(
            "{} {c:?}: {what} {check:?}, round trip exact: {ok}",
            A::ID
        ));
    }
    Ok(())
}

/// A struct literal an emulator might build by hand: a valid SMMUv3
/// command with one field set to a raw value. `validate` then `encode` accepts
/// exactly what decodes back to the command, and `check_values` never
/// refuses what that accepts.
fn hand_built_smmu(u: &mut Unstructured<'_>) -> arbitrary::Result<Result<(), String>> {
    use iommu_inval_arm::Command as C;
    let mut c: C = u.arbitrary()?;
    let v = raw(u)?;
    match &mut c {
        C::TlbiNhVa(t) => match v % 4 {
            0 => t.num = (v >> 2) as u8,
            1 => t.scale = (v >> 2) as u8,
            2 => t.ttl = (v >> 2) as u8,
            _ => t.tg = (v >> 2) as u8,
        },
        C::TlbiS2Ipa(t) => t.ttl128 = v & 1 == 1,
        C::CmdSync(t) => t.cs = v as u8,
        C::PriResp(t) => t.resp = v as u8,
        C::CfgiSteRange(t) => t.range = v as u8,
        // NS is RES0 with SSec = 0 (IHI0070 §4.2.2).
        C::PrefetchAddr(t) => (t.ns, t.ssec) = (v & 1 == 1, v & 2 == 2),
        _ => {}
    }
    let checked = c.validate().map(|()| c.encode());
    if let Err(e) = check_agrees::<Smmu, _, _>(&c, "encode_checked", &checked) {
        return Ok(Err(e));
    }
    // Always asked (also of commands it must refuse).
    let values = c.check_values();
    if checked.is_ok() && values.is_err() {
        return Ok(Err(format!(
            "smmuv3 {c:?}: encodes exactly, check_values {values:?}"
        )));
    }
    Ok(Ok(()))
}

/// As [`hand_built_smmu`] for AMD-Vi: `check` accepts exactly the commands
/// that encode and decode back to themselves (AMD-Vi has no operand rules).
fn hand_built_amd(u: &mut Unstructured<'_>) -> arbitrary::Result<Result<(), String>> {
    use iommu_inval_amd::Command as C;
    let mut c: C = u.arbitrary()?;
    let v = raw(u)?;
    match &mut c {
        C::CompletionWait(t) => t.store_address = v,
        C::InvalidateIommuPages(t) if v & 1 == 0 => t.pasid = (v >> 1) as u32,
        C::InvalidateIommuPages(t) => t.address = v,
        C::InvalidateIotlbPages(t) if v & 1 == 0 => t.pasid = (v >> 1) as u32,
        C::InvalidateIotlbPages(t) => t.address = v,
        C::PrefetchIommuPages(t) if v & 1 == 0 => t.pasid = (v >> 1) as u32,
        C::PrefetchIommuPages(t) => t.address = v,
        C::CompletePprRequest(t) => match v % 3 {
            0 => t.pasid = (v >> 2) as u32,
            1 => t.tag = (v >> 2) as u16,
            _ => t.status = (v >> 2) as u8,
        },
        _ => {}
    }
    Ok(check_agrees::<Amd, _, _>(&c, "check", &c.check()))
}

/// As [`hand_built_smmu`] for RISC-V: `check` accepts exactly the commands
/// that encode and decode back to themselves (widths and legality).
fn hand_built_riscv(u: &mut Unstructured<'_>) -> arbitrary::Result<Result<(), String>> {
    use iommu_inval_riscv::Command as C;
    let mut c: C = u.arbitrary()?;
    let v = raw(u)?;
    match &mut c {
        C::IotinvalVma(t) | C::IotinvalGvma(t) => match v % 3 {
            0 => t.pscid = (v >> 2) as u32,
            1 => t.addr = v,
            _ => t.pscv = v & 4 != 0,
        },
        C::IofenceC(t) => t.addr = v,
        C::IodirInvalDdt(t) => t.did = v as u32,
        C::IodirInvalPdt(t) if v & 1 == 0 => t.pid = (v >> 1) as u32,
        C::IodirInvalPdt(t) => t.dv = v & 2 != 0,
        C::AtsInval(t) if v & 1 == 0 => t.pid = (v >> 1) as u32,
        C::AtsInval(t) => t.addr = v,
        C::AtsPrgr(t) => match v % 3 {
            0 => t.pid = (v >> 2) as u32,
            1 => t.prg_index = (v >> 2) as u16,
            _ => t.resp_code = (v >> 2) as u8,
        },
    }
    Ok(check_agrees::<Riscv, _, _>(&c, "check", &c.check()))
}

/// A field value: the field's own type most of the time, edge-biased.
fn arbitrary_value(u: &mut Unstructured<'_>) -> arbitrary::Result<iommu_inval_core::FieldValue> {
    use iommu_inval_core::FieldValue;
    Ok(match u.int_in_range(0u8..=7)? {
        0 | 1 => FieldValue::Bool(u.arbitrary()?),
        2 => FieldValue::Pair([gen::edge_u64(&mut *u, 64)?, gen::edge_u64(&mut *u, 64)?]),
        3 => FieldValue::Uint(gen::edge_addr(&mut *u)?),
        _ => {
            let bits = u.int_in_range(1u32..=64)?;
            FieldValue::Uint(gen::edge_u64(&mut *u, bits)?)
        }
    })
}

fn named_fields_of<A: Arch>(u: &mut Unstructured<'_>) -> arbitrary::Result<Result<(), String>> {
    use iommu_inval_core::{FieldError, FieldValue, NativeCommand};
    let ops = <A::Command as NativeCommand>::op_names();
    let op: String = if u.ratio(1u8, 16)? {
        u.arbitrary()?
    } else {
        (*u.choose(ops)?).to_string()
    };
    let known = <A::Command as NativeCommand>::field_names(&op).unwrap_or(&[]);
    let n = u.int_in_range(0..=known.len() + 2)?;
    let mut fields: Vec<(String, FieldValue)> = Vec::with_capacity(n);
    for _ in 0..n {
        let name = if known.is_empty() || u.ratio(1u8, 16)? {
            u.arbitrary::<String>()?
        } else {
            (*u.choose(known)?).to_string()
        };
        fields.push((name, arbitrary_value(u)?));
    }
    let words = *u.choose(&[2usize, 2, 4, 0, 1, 3, 5])?;
    let mut it = fields.iter().map(|(k, v)| (k.as_str(), *v));
    let built = <A::Command as NativeCommand>::from_fields(&op, &mut it, words);
    let c = match built {
        Ok(c) => c,
        Err(FieldError::UnknownOp) if !ops.contains(&op.as_str()) => return Ok(Ok(())),
        // A name outside the table, or one the chosen width lacks (VT-d
        // `priv_data` in a 128-bit descriptor).
        Err(FieldError::UnknownField(name))
            if fields
                .iter()
                .any(|(k, _)| k == name || !known.contains(&k.as_str())) =>
        {
            return Ok(Ok(()))
        }
        Err(FieldError::TooWide(name)) if !name.is_empty() => return Ok(Ok(())),
        Err(FieldError::Invalid(e)) if !e.field.is_empty() => return Ok(Ok(())),
        Err(e) => {
            return Ok(Err(format!(
                "{} from_fields({op:?}, {fields:?}, {words}): unexpected {e:?}",
                A::ID
            )))
        }
    };
    Ok(built_command_checks::<A>(&c, &op, &fields, words))
}

/// What a command `from_fields` built must satisfy.
fn built_command_checks<A: Arch>(
    c: &A::Command,
    op: &str,
    fields: &[(String, iommu_inval_core::FieldValue)],
    words: usize,
) -> Result<(), String> {
    use iommu_inval_core::{ErrorKind, NativeCommand};
    let what = || format!("{} from_fields({op:?}, {fields:?}, {words})", A::ID);
    if c.op() != op {
        return Err(format!("{}: built a {}", what(), c.op()));
    }
    c.validate()
        .map_err(|e| format!("{}: built but validate refuses: {e:?}", what()))?;
    crate::check_valid_cmd::<A>(c, None).map_err(|e| format!("{}: {e}", what()))?;
    let mut full = [0u64; iommu_inval_core::native::MAX_WORDS];
    let mut checked = [0u64; iommu_inval_core::native::MAX_WORDS];
    let n = c
        .encode_into(&mut full)
        .map_err(|e| format!("{}: encode_into: {e:?}", what()))?;
    c.encode_checked_into(&mut checked)
        .map_err(|e| format!("{}: encode_checked_into: {e:?}", what()))?;
    if full != checked {
        return Err(format!("{}: checked encode differs", what()));
    }
    for short in 0..n {
        let mut buf = [0u64; iommu_inval_core::native::MAX_WORDS];
        let slot = buf.get_mut(..short).unwrap_or(&mut []);
        for r in [c.encode_into(slot), c.encode_checked_into(slot)] {
            match r {
                Err(e) if e.kind == ErrorKind::BadLength => {}
                r => {
                    return Err(format!(
                        "{}: encode into {short} of {n} words gives {r:?}, not bad_length",
                        what()
                    ))
                }
            }
        }
    }
    if let Some(s) = (c as &dyn core::any::Any).downcast_ref::<iommu_inval_arm::Command>() {
        s.check_values()
            .map_err(|e| format!("{}: check_values refuses: {e:?}", what()))?;
        match s.validate().map(|()| s.encode()) {
            Ok(w) if w == s.encode() => {}
            r => return Err(format!("{}: encode_checked gives {r:?}", what())),
        }
        let shown = s.to_string();
        if !shown.starts_with(s.op()) {
            return Err(format!(
                "{}: Display {shown:?} does not start with the op",
                what()
            ));
        }
    }
    Ok(())
}
