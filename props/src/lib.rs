//! Shared generators and oracles for the R1-R4 property tests and the fuzz targets.
//!
//! The properties (R1-R4 of the README, "Properties"):
//!
//! * **R1 bytes**: `encode(decode(w)) == w` for every valid native command,
//!   a typed error (never a panic) for every invalid one ([`check_r1`]).
//! * **R2 same-arch**: `lower_A(lift_A(n))` has the footprint of `n` ([`check_r2`]).
//! * **R3 generic**: `lift(lower(g))` covers `g`, exactly or as a *reported*
//!   superset ([`check_r3`]).
//! * **R4 cross-arch**: `lift_B(convert(A → B)(n))` covers `lift_A(n)` after
//!   id mapping, on every cache `B` has ([`check_r4`]).
//!
//! Every oracle returns `Err(String)` describing the violation, so that the
//! in-tree tests (props/tests) and the cargo-fuzz targets (fuzz/) share one
//! definition of "wrong". Rule 2 of docs/ARCHITECTURE.md is checked on the way: a
//! `NoEquivalent` error is legitimate for operations that are not
//! invalidations, and for invalidations only where nothing can cover them
//! ([`may_refuse`]: device TLBs of devices that cannot be enumerated); a
//! `dropped` outcome only for caches/hints the target lacks, or device TLBs
//! of devices without ATS ([`may_drop`]). Rule 3: a sync lowers to exactly
//! one sync, last; only invalidations may add syncs (configuration before
//! TLBs).
//!
//! ```
//! use iommu_inval_props::{check_r1, Smmu};
//! // CMD_TLBI_NH_VA, vmid 1, asid 0, one 4 KiB page at 0x1000 (tg = 0).
//! assert_eq!(check_r1::<Smmu>(&[0x0000_0001_0000_0012, 0x1000]), Ok(()));
//! ```
#![forbid(unsafe_code)]

use iommu_inval_core::Flags;
use std::collections::BTreeMap;
use std::fmt::{Debug, Write as _};

use arbitrary::{Arbitrary, Unstructured};
use iommu_inval_core::context::{
    AmdIds, DeviceEntry, DomainEntry, PasidEntry, RiscvIds, SmmuIds, Topology, TopologyFile, VtdIds,
};
use iommu_inval_core::footprint::{kind, Dim};
use iommu_inval_core::footprint::{Footprint, Relation};
use iommu_inval_core::model::{Caches, DeviceSel, DomainSel, Op, Regime};
use iommu_inval_core::{
    copy_checked, ArchId, Context, CopyError, DecodeError, ErrorKind, FieldValue, LowerError,
    NativeCommand, Outcome, Widened,
};

pub use iommu_inval::{AnyCommand, NativeAny, Target};
use iommu_inval_core::arch::Arch as CoreArch;

pub mod bodies;
pub mod caps;
pub mod events;
pub mod gen;
pub mod iommufd;
pub mod passthrough;
pub mod records;
pub mod vectors;

/// One architecture as the oracles see it: the architecture
/// ([`iommu_inval_core::arch::Arch`]: command, features, lift, lower) with
/// its generators and inherent codec.
pub trait Arch: CoreArch<Command: for<'a> Arbitrary<'a>> {
    /// Valid command lengths in 64-bit words.
    const WIDTHS: &'static [usize];
    /// The crate's `arbitrary_words` (raw words, often invalid).
    fn arbitrary_words(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u64>>;
    /// The inherent fixed-size `Command::encode`, cut to `words()`.
    fn encode_fixed(cmd: &Self::Command) -> Vec<u64>;
    /// The inherent `Command::decode`.
    fn decode_inherent(words: &[u64]) -> Result<Self::Command, DecodeError>;
    /// A host at least as capable as the hardware that could have issued
    /// `cmd` (widest PASIDs, largest ranges, the same descriptor width),
    /// with the default budget: the host of a same-architecture round trip
    /// (R2).
    fn full_host(cmd: &Self::Command) -> Target<Self>;
}

/// Arm SMMUv3.
pub type Smmu = iommu_inval_arm::Smmuv3;
/// Intel VT-d.
pub type Vtd = iommu_inval_vtd::Vtd;
/// AMD-Vi.
pub type Amd = iommu_inval_amd::AmdVi;
/// RISC-V IOMMU.
pub type Riscv = iommu_inval_riscv::RiscV;
/// virtio-iommu.
pub type Virtio = iommu_inval_virtio::VirtioIommu;

/// `features` with the default budget of `A`.
fn host<A: CoreArch>(features: A::Features) -> Target<A> {
    Target::new(features)
}

/// The inherent codec of `$krate::Command`, for [`Arch`].
macro_rules! inherent_codec {
    ($krate:ident) => {
        fn encode_fixed(cmd: &Self::Command) -> Vec<u64> {
            cmd.encode()
                .iter()
                .take(NativeCommand::words(cmd))
                .copied()
                .collect()
        }
        fn decode_inherent(words: &[u64]) -> Result<Self::Command, DecodeError> {
            $krate::Command::decode(words)
        }
    };
}

/// [`Arch`] for an architecture of one 2-word width whose full host is
/// the capability set `$full`.
macro_rules! two_word_arch {
    ($arch:ident, $krate:ident, $full:expr) => {
        impl Arch for $arch {
            const WIDTHS: &'static [usize] = &[2];
            inherent_codec!($krate);
            fn arbitrary_words(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u64>> {
                Ok($krate::arbitrary_words(u)?.to_vec())
            }
            fn full_host(_cmd: &Self::Command) -> Target<Self> {
                host($full)
            }
        }
    };
}

two_word_arch!(Smmu, iommu_inval_arm, iommu_inval_arm::Features::LATEST);
two_word_arch!(Amd, iommu_inval_amd, iommu_inval_amd::Features::LATEST);
// Every command the RISC-V codec accepts is one this host implements: the
// range and non-leaf extensions, ATS, wired interrupts, 20-bit PIDs.
two_word_arch!(Riscv, iommu_inval_riscv, iommu_inval_riscv::Features::ALL);

// virtio-iommu: requests of 3 to 10 words; the host of a round trip is
// a device of every feature with the request's own draft.
impl Arch for Virtio {
    const WIDTHS: &'static [usize] = &[3, 4, 5, 8, 9, 10];
    fn arbitrary_words(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u64>> {
        let (b, n) = iommu_inval_virtio::arbitrary_bytes(u)?;
        Ok(b.get(..n)
            .unwrap_or(&[])
            .chunks(8)
            .map(|c| c.iter().rev().fold(0u64, |w, &x| w << 8 | u64::from(x)))
            .collect())
    }
    fn encode_fixed(cmd: &Self::Command) -> Vec<u64> {
        let mut w = [0u64; iommu_inval_virtio::MAX_WORDS];
        let n = cmd.encode_into(&mut w).unwrap_or(0);
        w.get(..n).unwrap_or(&[]).to_vec()
    }
    fn decode_inherent(words: &[u64]) -> Result<Self::Command, DecodeError> {
        <Self::Command as NativeCommand>::decode(words)
    }
    fn full_host(cmd: &Self::Command) -> Target<Self> {
        let draft = match cmd.draft() {
            iommu_inval_virtio::Draft::None => iommu_inval_virtio::Draft::Rfc2021,
            d => d,
        };
        host(iommu_inval_virtio::Features {
            draft,
            ..iommu_inval_virtio::Features::ALL
        })
    }
}

impl Arch for Vtd {
    const WIDTHS: &'static [usize] = &[2, 4];
    inherent_codec!(iommu_inval_vtd);
    fn arbitrary_words(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u64>> {
        let w = iommu_inval_vtd::arbitrary_words(u)?;
        // Both descriptor widths: 128-bit uses the low two words.
        let n = if u.arbitrary::<bool>()? { 2 } else { 4 };
        Ok(w.iter().take(n).copied().collect())
    }
    fn full_host(cmd: &Self::Command) -> Target<Self> {
        host(iommu_inval_vtd::Features {
            mamv: 63,
            pasid_bits: 20,
            dw: NativeCommand::words(cmd) == 4,
            ..iommu_inval_vtd::Features::SCALABLE
        })
    }
}

/// Hex form of words, as the CLI reads them (`0x..,0x..`).
pub fn hex(words: &[u64]) -> String {
    let mut s = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{w:#018x}");
    }
    s
}

/// Field list of a command, for messages.
pub fn fields_of<C: NativeCommand>(c: &C) -> Vec<(&'static str, FieldValue)> {
    let mut v = Vec::new();
    c.for_each_field(&mut |n, f| v.push((n, f)));
    v
}

pub(crate) fn describe<C: NativeCommand>(c: &C) -> String {
    let mut s = format!("{} {} {{", C::ARCH, c.op());
    for (n, f) in fields_of(c) {
        let _ = match f {
            FieldValue::Bool(b) => write!(s, " {n}: {b},"),
            FieldValue::Uint(x) => write!(s, " {n}: {x:#x},"),
            FieldValue::Pair([a, b]) => write!(s, " {n}: [{a:#x}, {b:#x}],"),
        };
    }
    s.push_str(" }");
    s
}

/// Encode a command through the trait, checking the trait's own contract.
pub fn encode_words<C: NativeCommand>(c: &C) -> Result<Vec<u64>, String> {
    let n = c.words();
    let mut buf = [0u64; iommu_inval_core::native::MAX_WORDS];
    let Some(slot) = buf.get_mut(..n.min(C::MAX_WORDS)) else {
        return Err(format!(
            "{}: words() = {n}, more than any command",
            describe(c)
        ));
    };
    if slot.len() < n {
        return Err(format!(
            "{}: words() = {n}, more than its MAX_WORDS",
            describe(c)
        ));
    }
    match c.encode_into(slot) {
        Ok(k) if k == n => Ok(slot.to_vec()),
        Ok(k) => Err(format!(
            "{}: encode_into wrote {k} words, words() = {n}",
            describe(c)
        )),
        Err(e) => Err(format!("{}: encode_into failed: {e}", describe(c))),
    }
}

/// R1 on raw words of architecture `A`: a valid command re-encodes to the
/// same words (through `encode_into` and the inherent `encode`), re-decodes
/// to itself, and survives the named-field round trip; an invalid one is a
/// typed decode error that points at bits actually present. Either way
/// `check_words` gives decode's verdict.
pub fn check_r1<A: Arch>(words: &[u64]) -> Result<(), String> {
    let ctx = || format!("{} words [{}]", A::ID, hex(words));
    let via_trait = <A::Command as NativeCommand>::decode(words);
    let inherent = A::decode_inherent(words);
    if via_trait != inherent {
        return Err(format!(
            "{}: trait decode {via_trait:?} != inherent decode {inherent:?}",
            ctx()
        ));
    }
    let checked = <A::Command as NativeCommand>::check_words(words);
    if checked != via_trait.map(|_| ()) {
        return Err(format!(
            "{}: check_words {checked:?} != decode {via_trait:?}",
            ctx()
        ));
    }
    match via_trait {
        Ok(c) => check_valid_cmd::<A>(&c, Some(words)).map_err(|e| format!("{}: {e}", ctx())),
        Err(e) => {
            check_decode_error::<A>(words, &e).map_err(|m| format!("{}: error {e:?}: {m}", ctx()))
        }
    }
}

fn check_decode_error<A: Arch>(words: &[u64], e: &DecodeError) -> Result<(), String> {
    let good_len = match A::ID {
        // A virtio-iommu request's length is its type's; an unknown type
        // is refused as such whatever the length.
        ArchId::VirtioIommu => words.first().is_some_and(|w| {
            iommu_inval_virtio::len_of_type(*w as u8).is_none_or(|b| b.div_ceil(8) == words.len())
        }),
        _ => A::WIDTHS.contains(&words.len()),
    };
    match e.kind {
        ErrorKind::NoEquivalent => return Err("decode must not report no_equivalent".into()),
        ErrorKind::BadLength => {
            if good_len {
                return Err("bad_length for a valid length".into());
            }
            return Ok(());
        }
        _ if !good_len => return Err("wrong length must be bad_length".into()),
        _ => {}
    }
    let Some(w) = words.get(usize::from(e.word)) else {
        return Err(format!("error names word {} of {}", e.word, words.len()));
    };
    if e.kind == ErrorKind::ReservedBits && (e.mask == 0 || e.mask & w == 0) {
        return Err(format!(
            "reserved_bits mask {:#x} names no set bit of w{} = {w:#x}",
            e.mask, e.word
        ));
    }
    if e.field.is_empty() {
        return Err("error without field/rule name".into());
    }
    Ok(())
}

/// `copy_checked` of a guest queue `src` with `stride` against its
/// reference: decode each command and encode it into its slot, stopping at
/// the first refused (shape errors first, with nothing written). The
/// result, and every word of the destination (written or left alone),
/// must agree; a destination one word short is refused whole. Returns the
/// agreed result.
pub fn check_copy<A: Arch>(src: &[u64], stride: usize) -> Result<Result<usize, CopyError>, String> {
    const UNTOUCHED: u64 = 0x5a5a_5a5a_5a5a_5a5a;
    let ctx = || format!("{} stride {stride} queue [{}]", A::ID, hex(src));
    let mut want = vec![UNTOUCHED; src.len()];
    let expect: Result<usize, CopyError> = if stride != 2 && stride != 4 {
        Err(CopyError {
            index: 0,
            error: DecodeError::bad_length(stride),
        })
    } else if !src.len().is_multiple_of(stride) {
        Err(CopyError {
            index: 0,
            error: DecodeError::bad_length(src.len()),
        })
    } else {
        let mut r = Ok(src.len() / stride);
        for (i, (w, slot)) in src
            .chunks_exact(stride)
            .zip(want.chunks_exact_mut(stride))
            .enumerate()
        {
            match <A::Command as NativeCommand>::decode(w) {
                Ok(c) => {
                    if c.encode_into(slot) != Ok(stride) {
                        return Err(format!("{}: command {i} does not encode", ctx()));
                    }
                }
                Err(error) => {
                    r = Err(CopyError { index: i, error });
                    break;
                }
            }
        }
        r
    };
    let mut dst = vec![UNTOUCHED; src.len()];
    let got = copy_checked::<A::Command>(src, &mut dst, stride);
    if got != expect {
        return Err(format!(
            "{}: copy_checked {got:?}, reference {expect:?}",
            ctx()
        ));
    }
    if dst != want {
        return Err(format!(
            "{}: copy_checked wrote [{}], reference [{}]",
            ctx(),
            hex(&dst),
            hex(&want)
        ));
    }
    if let Some(short) = src.len().checked_sub(1) {
        let mut dst = vec![UNTOUCHED; short];
        let got = copy_checked::<A::Command>(src, &mut dst, stride);
        let shape = got.is_err_and(|e| e.index == 0 && e.error.kind == ErrorKind::BadLength);
        if !shape || dst.iter().any(|w| *w != UNTOUCHED) {
            return Err(format!("{}: a short destination gave {got:?}", ctx()));
        }
    }
    Ok(expect)
}

/// The checks every valid command passes: encode (trait and inherent) gives
/// `words` (when given) and decodes back to the command; `op` is one of
/// `op_names`; the visited field names are `field_names(op)`; and
/// `from_fields` of the visited fields rebuilds the command.
pub fn check_valid_cmd<A: Arch>(c: &A::Command, words: Option<&[u64]>) -> Result<(), String> {
    let enc = encode_words(c)?;
    if let Some(w) = words {
        if enc != w {
            return Err(format!("re-encodes to [{}] ({})", hex(&enc), describe(c)));
        }
    }
    if !A::WIDTHS.contains(&enc.len()) {
        return Err(format!("{}: words() = {}", describe(c), enc.len()));
    }
    let fixed = A::encode_fixed(c);
    if fixed != enc {
        return Err(format!(
            "{}: Command::encode gives [{}], encode_into [{}]",
            describe(c),
            hex(&fixed),
            hex(&enc)
        ));
    }
    // Decoded as the host that could have issued it (a virtio-iommu
    // request of the 2018 draft reads back with that draft's layout).
    match <A::Command as NativeCommand>::decode_with(&enc, &A::full_host(c).features) {
        Ok(back) if back == *c => {}
        Ok(back) => {
            return Err(format!(
                "{} encodes to [{}] which decodes to {}",
                describe(c),
                hex(&enc),
                describe(&back)
            ))
        }
        Err(e) => {
            return Err(format!(
                "{} encodes to [{}] which does not decode: {e:?}",
                describe(c),
                hex(&enc)
            ))
        }
    }
    let op = c.op();
    if !<A::Command as NativeCommand>::op_names().contains(&op) {
        return Err(format!("op {op} not in op_names()"));
    }
    let fields = fields_of(c);
    let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
    // VT-d `priv_data` exists only in 256-bit descriptors (docs/SPEC.md, edge
    // rules): a 128-bit one may omit it; every other name is visited, in order.
    let expected: Option<Vec<&str>> = <A::Command as NativeCommand>::field_names(op).map(|f| {
        f.iter()
            .copied()
            .filter(|n| !(*n == "priv_data" && c.words() == 2 && !names.contains(n)))
            .collect()
    });
    match expected {
        Some(expected) if expected == names => {}
        other => {
            return Err(format!(
                "{}: visited fields {names:?}, field_names says {other:?}",
                describe(c)
            ))
        }
    }
    let mut it = fields.iter().map(|(n, v)| (*n, *v));
    match <A::Command as NativeCommand>::from_fields(op, &mut it, c.words()) {
        Ok(back) if back == *c => Ok(()),
        Ok(back) => Err(format!(
            "from_fields of {} gives {}",
            describe(c),
            describe(&back)
        )),
        Err(e) => Err(format!("from_fields of {} fails: {e}", describe(c))),
    }
}

/// R1 for a structurally generated (valid) command: it encodes, and its
/// words pass [`check_r1`].
pub fn check_r1_cmd<A: Arch>(c: &A::Command) -> Result<(), String> {
    let w = encode_words(c)?;
    check_valid_cmd::<A>(c, None)?;
    check_r1::<A>(&w)
}

/// R1 for SMMUv3 words.
pub fn check_r1_smmuv3(words: &[u64]) -> Result<(), String> {
    check_r1::<Smmu>(words)
}
/// R1 for VT-d words (2 or 4).
pub fn check_r1_vtd(words: &[u64]) -> Result<(), String> {
    check_r1::<Vtd>(words)
}
/// R1 for AMD-Vi words.
pub fn check_r1_amd(words: &[u64]) -> Result<(), String> {
    check_r1::<Amd>(words)
}

/// Lift one command into a vector.
pub fn lift_vec<A: Arch>(
    c: &A::Command,
    ctx: &dyn Context,
) -> Result<(Vec<Op>, Outcome), LowerError> {
    let mut v = Vec::new();
    let o = A::lift(c, ctx, &mut v)?;
    Ok((v, o))
}

/// A command that lowering `op` to `A` emitted: valid (it encodes and
/// decodes back), and lifted back with `ctx` (the ops and the outcome).
pub(crate) fn relift<A: Arch>(
    op: &Op,
    c: &A::Command,
    ctx: &dyn Context,
) -> Result<(Vec<Op>, Outcome), String> {
    check_valid_cmd::<A>(c, None)
        .map_err(|e| format!("lower to {} of {op:?} emitted a bad command: {e}", A::ID))?;
    lift_vec::<A>(c, ctx).map_err(|e| {
        format!(
            "lift on {} of its own lowered {} fails: {e:?} (from {op:?})",
            A::ID,
            describe(c)
        )
    })
}

/// The result of one lowering: the commands and outcome, or the lowering's error.
pub type Lowered<A> = Result<(Vec<<A as CoreArch>::Command>, Outcome), LowerError>;

/// Lower one op into a vector; checks that `emitted` is what was pushed.
pub fn lower_vec<A: Arch>(
    op: &Op,
    caps: &Target<A>,
    ctx: &dyn Context,
) -> Result<Lowered<A>, String> {
    let mut v = Vec::new();
    match A::lower(op, &caps.features, caps.budget, ctx, &mut v) {
        Ok(o) if o.emitted == v.len() => Ok(Ok((v, o))),
        Ok(o) => Err(format!(
            "lower to {} of {op:?}: Outcome.emitted = {} but {} commands pushed",
            A::ID,
            o.emitted,
            v.len()
        )),
        // On error the sink may hold a partial output, which the caller discards.
        Err(e) => Ok(Err(e)),
    }
}

/// Which caches a target lacks: what may be dropped (rule 2) and what its
/// lift can never show. Returns the input footprint restricted to what the
/// target can name: SMMUv3 has no interrupt remapping cache, no secure or
/// EL2 stage-2 TLB and no EL2 configuration; VT-d and AMD-Vi have one
/// non-secure regime.
pub fn project_for(target: ArchId, fp: &Footprint) -> Footprint {
    let (config_pasid, iotlb, intr) = (
        kind(Caches::CONFIG_PASID),
        kind(Caches::IOTLB),
        kind(Caches::INTR_REMAP),
    );
    let smmu = match target {
        ArchId::Vtd | ArchId::Amd => return fp.fold_regimes(false),
        ArchId::VirtioIommu => return project_virtio(fp),
        ArchId::Smmuv3 => true,
        ArchId::Riscv => false,
    };
    // SMMUv3 and RISC-V: no interrupt-remapping cache, no second stage in
    // the host (EL2-like) and higher regimes.
    let mut f = Footprint::new();
    for b in fp.boxes() {
        let (lo, hi) = b.get(Dim::Kind);
        if lo == intr && hi == intr {
            continue;
        }
        let regime = b.get(Dim::Regime);
        // SMMUv3: no EL2, S-EL2 or EL3 stage-2 TLB entries (those regimes
        // are single-stage); Secure stage 2 is the SecureGuest regime
        // (CMD_TLBI_S_S2_IPA, S_S12_VMALL).
        let secure_s2 = smmu && regime == (Regime::SecureGuest as u64, Regime::SecureGuest as u64);
        if lo == iotlb
            && hi == iotlb
            && b.get(Dim::Stage) == (1, 1)
            && regime.0 >= Regime::Hyp as u64
            && !secure_s2
        {
            continue;
        }
        // SMMUv3 configuration (STE, CD) is Secure (ssec) or Non-secure,
        // never EL2.
        if smmu && hi <= config_pasid && regime == (Regime::Hyp as u64, Regime::Hyp as u64) {
            continue;
        }
        let b = if hi == intr {
            b.with(Dim::Kind, lo, intr - 1)
        } else {
            *b
        };
        f.push(b);
    }
    if smmu {
        f
    } else {
        f.fold_regimes(true)
    }
}

/// What a virtio-iommu of a draft can name: one non-secure guest regime
/// (its requests name domains), no interrupt remapping.
fn project_virtio(fp: &Footprint) -> Footprint {
    const KIND_INTR_REMAP: u64 = kind(Caches::INTR_REMAP);
    let mut f = Footprint::new();
    for b in fp.fold_regimes(false).boxes() {
        let (lo, hi) = b.get(Dim::Kind);
        if lo == KIND_INTR_REMAP && hi == KIND_INTR_REMAP {
            continue;
        }
        f.push(if hi == KIND_INTR_REMAP {
            b.with(Dim::Kind, lo, KIND_INTR_REMAP - 1)
        } else {
            *b
        });
    }
    f
}

/// The footprint without the device-TLB entries of devices that `ctx` says
/// have ATS disabled: such a device has no device TLB, so a lowering may
/// skip its ATC invalidation. Only boxes naming at most 256 devices are
/// refined (a lowering can only skip devices it enumerates).
pub fn without_non_ats(fp: &Footprint, ctx: &dyn Context) -> Footprint {
    let mut f = Footprint::new();
    for b in fp.boxes() {
        let (klo, khi) = b.get(Dim::Kind);
        let (dlo, dhi) = b.get(Dim::Device);
        let dev_tlb = kind(Caches::DEV_TLB);
        if klo != dev_tlb || khi != dev_tlb || dhi - dlo >= 256 {
            f.push(*b);
            continue;
        }
        let mut start = None;
        for rid in dlo..=dhi + 1 {
            let keep = rid <= dhi && u32::try_from(rid).map_or(true, |r| ctx.ats_enabled(r));
            match (keep, start) {
                (true, None) => start = Some(rid),
                (false, Some(s0)) => {
                    f.push(b.with(Dim::Device, s0, rid - 1));
                    start = None;
                }
                _ => {}
            }
        }
    }
    f
}

/// What of `op` a lowering to `target` must cover: its footprint without the
/// caches `target` lacks ([`project_for`]) and without the device TLBs of
/// non-ATS devices ([`without_non_ats`]).
pub fn required(target: ArchId, op: &Op, ctx: &dyn Context) -> Footprint {
    without_non_ats(&project_for(target, &Footprint::of_op(op, ctx)), ctx)
}

/// Does the invalidation name a device that `ctx` says has ATS disabled
/// (one device, a range of at most 256, or the listed devices of its domain)?
fn names_non_ats_device(i: &iommu_inval_core::Inval, ctx: &dyn Context) -> bool {
    match i.device {
        DeviceSel::One(d) => !ctx.ats_enabled(d),
        DeviceSel::Range { first, last } => {
            let (a, b) = (first.min(last), first.max(last));
            b - a < 256 && (a..=b).any(|d| !ctx.ats_enabled(d))
        }
        DeviceSel::All => match i.domain {
            DomainSel::One(dom) => {
                let mut any = false;
                ctx.devices_of_domain(dom, &mut |d| any |= !ctx.ats_enabled(d));
                any
            }
            DomainSel::All => false,
        },
    }
}

/// May `target` drop (part of) this op, reporting `dropped`? Rule 2: a hint
/// (prefetch) it lacks, or an invalidation of caches it lacks; also the
/// device TLB of a device without ATS (there is none to invalidate).
pub fn may_drop(target: ArchId, op: &Op, ctx: &dyn Context) -> bool {
    match op {
        Op::Prefetch(_) => true,
        Op::Inval(i) => {
            let lacks = match target {
                ArchId::Smmuv3 => {
                    i.caches.contains(Caches::INTR_REMAP)
                        || (!matches!(i.regime, Regime::Guest | Regime::SecureGuest)
                            && i.stages.contains(iommu_inval_core::Stages::S2))
                        || (i.regime == Regime::Hyp && i.caches.intersects(Caches::CONFIG))
                }
                ArchId::Vtd | ArchId::Amd => i.regime.is_secure(),
                ArchId::Riscv | ArchId::VirtioIommu => {
                    i.regime.is_secure()
                        || i.caches.contains(Caches::INTR_REMAP)
                        || (i.regime == Regime::Hyp
                            && i.stages.contains(iommu_inval_core::Stages::S2))
                }
            };
            // Also fine: nothing left to invalidate (e.g. only device TLBs of
            // devices without ATS), or a part the target lacks (coverage of
            // the rest is checked by the caller).
            // Device TLBs and interrupt entries are non-secure only (core
            // 02211bb): a Secure op names none, any target may say so.
            let lacks = lacks
                || (i.regime.is_secure()
                    && i.caches.intersects(Caches::DEV_TLB | Caches::INTR_REMAP));
            let req = required(target, op, ctx);
            let non_ats = i.caches.contains(Caches::DEV_TLB) && names_non_ats_device(i, ctx);
            lacks || non_ats || req.is_empty() || !req.covers(&Footprint::of_op(op, ctx))
        }
        _ => false,
    }
}

/// Is `NoEquivalent` legitimate for this op on `target`? For every
/// non-invalidation (rule 2); for an invalidation only where no native
/// command sequence can cover it: no architecture has an all-devices ATC
/// invalidation (SMMUv3 ATC_INV, VT-d dev_tlb_inv_dsc and AMD
/// INVALIDATE_IOTLB_PAGES each name one device), so device TLBs of a set of
/// devices the context cannot list, of more devices than the command cap,
/// or of a domain holding a device wider than the target's requester ids,
/// cannot be named; and ids no op may hold ([`may_be_invalid`]).
pub fn may_refuse(target: ArchId, op: &Op, ctx: &dyn Context) -> bool {
    let Op::Inval(i) = op else { return true };
    let many_devices = match i.device {
        DeviceSel::One(_) => false,
        DeviceSel::Range { first, last } => first != last,
        DeviceSel::All => match i.domain {
            DomainSel::All => true,
            DomainSel::One(d) => {
                let mut n = 0usize;
                !ctx.devices_of_domain(d, &mut |_| n += 1) || n > 1
            }
        },
    };
    // Every device of a domain that holds one the target cannot name (a
    // requester id wider than its own): that device's TLB has no command.
    let wide_member = match (i.device, i.domain) {
        (DeviceSel::All, DomainSel::One(d)) => {
            let mut wide = false;
            ctx.devices_of_domain(d, &mut |r| wide |= wide_device(target, r));
            wide
        }
        _ => false,
    };
    (i.caches.contains(Caches::DEV_TLB)
        && (many_devices || wide_member)
        && target != ArchId::VirtioIommu)
        || may_be_invalid(target, op)
        || (target == ArchId::VirtioIommu && virtio_cannot_name(i, ctx))
        || (target == ArchId::Riscv && riscv_needs_gscid(i, ctx))
}

/// An invalidation the vSVA drafts' INVALIDATE cannot name (virtio
/// `lower` docs): every domain (but one device's device-tagged caches
/// when the context knows its domain), a hypervisor regime, stage-2 IOTLB
/// entries.
fn virtio_cannot_name(i: &iommu_inval_core::Inval, ctx: &dyn Context) -> bool {
    let iotlb = i.caches.contains(Caches::IOTLB);
    let no_domain = match (i.domain, i.device) {
        (DomainSel::One(_), _) => false,
        (DomainSel::All, DeviceSel::One(d)) if !iotlb => ctx.domain_of_device(d).is_none(),
        (DomainSel::All, _) => true,
    };
    // Device-tagged caches of named devices: the domain's request reaches
    // the devices the context lists in the domain (all when it lists none).
    let dev_tagged = i.caches.intersects(Caches::CONFIG | Caches::DEV_TLB);
    let unreached = dev_tagged
        && match (i.domain, i.device.interval()) {
            (_, None) => false,
            (DomainSel::One(d), Some((a, b))) => {
                let (lo, hi) = (a.min(b), a.max(b));
                let mut n = 0u64;
                ctx.devices_of_domain(d, &mut |r| n += u64::from((lo..=hi).contains(&r)))
                    && n <= u64::from(hi - lo)
            }
            (DomainSel::All, Some(_)) => false,
        };
    no_domain
        || unreached
        || !matches!(i.regime, Regime::Guest) && !i.regime.is_secure()
        || iotlb && i.stages.contains(iommu_inval_core::Stages::S2)
}

/// A first-stage invalidation of VM translations that RISC-V cannot name:
/// IOTINVAL.VMA names the host (`GV` = 0) or one GSCID, so every domain, or
/// a domain without a 16-bit GSCID, has no command (riscv `lower` docs).
fn riscv_needs_gscid(i: &iommu_inval_core::Inval, ctx: &dyn Context) -> bool {
    i.caches.contains(Caches::IOTLB)
        && i.stages.contains(iommu_inval_core::Stages::S1)
        && i.regime == Regime::Guest
        && match i.domain {
            DomainSel::All => true,
            DomainSel::One(d) => ctx
                .domain_to_native(ArchId::Riscv, d)
                .and_then(|n| u16::try_from(n).ok())
                .is_none(),
        }
}

/// A lowering that reports [`Widened::LEAF_HINT`] sent one command per leaf
/// of `hints.leaf_shift` bytes, trusting the hint: its output is judged as
/// [`Footprint::assuming_leaves`] of that size (core's definition).
pub(crate) fn trusting_hint(op: &Op, out: &Outcome, fp: Footprint) -> Footprint {
    match op {
        Op::Inval(i) if out.widened.contains(Widened::LEAF_HINT) => {
            fp.assuming_leaves(i.hints.leaf_shift)
        }
        _ => fp,
    }
}

fn rel_str(r: &Relation) -> String {
    match r {
        Relation::Exact => "exact".into(),
        Relation::Superset(e) => format!(
            "superset (widened {:?}, {} boxes, {} bytes)",
            e.widened, e.boxes, e.bytes
        ),
        Relation::Under { missing } => format!("UNDER ({missing} boxes missing)"),
    }
}

/// Is `LowerError::Invalid` legitimate for this op on `target`? Only when the
/// op names an id no architecture-neutral op may hold: a PASID wider than 20
/// bits, or (on VT-d and AMD-Vi, whose requester ids are PCI's 16 bits) a
/// device id above 0xffff (an SMMU StreamID can be 32 bits).
pub fn may_be_invalid(target: ArchId, op: &Op) -> bool {
    let wide_dev = |d: u32| wide_device(target, d);
    match op {
        Op::Inval(i) => {
            matches!(i.pasid, iommu_inval_core::PasidSel::One(p) if p >= 1 << 20)
                || match i.device {
                    DeviceSel::All => false,
                    DeviceSel::One(d) => wide_dev(d),
                    DeviceSel::Range { first, last } => wide_dev(first) || wide_dev(last),
                }
        }
        _ => true,
    }
}

/// A device id wider than `target`'s requester ids.
fn wide_device(target: ArchId, d: u32) -> bool {
    match target {
        ArchId::Smmuv3 => false,
        // A RISC-V device_id is 24 bits (segment << 16 | requester id).
        ArchId::Riscv => d > 0xff_ffff,
        // virtio-iommu endpoint ids are 32 bits.
        ArchId::VirtioIommu => false,
        ArchId::Vtd | ArchId::Amd => d > 0xffff,
    }
}

/// Native ops that are not invalidations. Their lift may refuse a valid
/// command with `NoEquivalent` when a field value has no generic meaning
/// (e.g. a PCIe-reserved page-response code); an invalidation's lift never may.
pub const NON_INVAL_OPS: &[&str] = &[
    "CMD_PREFETCH_CONFIG",
    "CMD_PREFETCH_ADDR",
    "CMD_PRI_RESP",
    "CMD_RESUME",
    "CMD_STALL_TERM",
    "CMD_SYNC",
    "inv_wait_dsc",
    "page_grp_resp_dsc",
    "COMPLETION_WAIT",
    "PREFETCH_IOMMU_PAGES",
    "COMPLETE_PPR_REQUEST",
    "iofence_c",
    "ats_prgr",
    // AMD-Vi revision 3.x vIOMMU management: no generic form at all.
    "INSERT_GUEST_EVENT",
    "RESET_VMMIO",
];

/// Summary of one lowering, for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Same footprint.
    Exact,
    /// A reported superset.
    Superset,
    /// Dropped as rule 2 allows.
    Dropped,
    /// `NoEquivalent` as rule 2 allows.
    Refused,
}

/// Lower `op` to `B`, lift the result back with the same context, and check
/// it against `want` (the footprint that must be covered, already projected
/// for `B`). `exact_or_reported`: a superset must come with a non-empty
/// `widened` (R2, R3); otherwise only coverage counts (R4).
fn lower_and_check<B: Arch>(
    op: &Op,
    want: &Footprint,
    caps: &Target<B>,
    ctx: &dyn Context,
    exact_or_reported: bool,
) -> Result<Verdict, String> {
    let (cmds, out) = match lower_vec::<B>(op, caps, ctx)? {
        Ok(x) => x,
        Err(LowerError::NoEquivalent(why)) => {
            return if may_refuse(B::ID, op, ctx) {
                Ok(Verdict::Refused)
            } else {
                Err(format!(
                    "lower to {} refused an invalidation as no_equivalent ({why}): {op:?}",
                    B::ID
                ))
            };
        }
        Err(LowerError::Invalid(_)) if may_refuse(B::ID, op, ctx) => return Ok(Verdict::Refused),
        Err(e) => return Err(format!("lower to {} failed: {e:?} for {op:?}", B::ID)),
    };
    if let Some(why) = out.dropped {
        if !may_drop(B::ID, op, ctx) {
            return Err(format!(
                "lower to {} dropped ({why}) where rule 2 does not allow it: {op:?} -> {} commands",
                B::ID,
                cmds.len()
            ));
        }
    }
    let mut lifted = Vec::new();
    for c in &cmds {
        lifted.extend(relift::<B>(op, c, ctx)?.0);
    }
    // Rule 3: one sync in, one sync out, last; virtio-iommu has no sync
    // request (each request completes on its own): nothing out, exactly.
    if op.is_sync() && B::ID == ArchId::VirtioIommu && cmds.is_empty() {
        return Ok(Verdict::Exact);
    }
    if op.is_sync() {
        let n = lifted.iter().filter(|o| o.is_sync()).count();
        if n != 1 || !lifted.last().is_some_and(Op::is_sync) {
            return Err(format!(
                "sync lowered to {} gives {n} syncs ({lifted:?}) for {op:?}",
                B::ID
            ));
        }
    } else if !matches!(op, Op::Inval(_)) && lifted.iter().any(Op::is_sync) {
        // An invalidation may be split by syncs (configuration before TLBs,
        // as the seed sequence orders them); nothing else may add one.
        return Err(format!(
            "non-sync {op:?} lowered to {} contains a sync: {lifted:?}",
            B::ID
        ));
    }
    if !matches!(op, Op::Inval(_)) {
        if out.dropped.is_none() && !lifted.iter().any(|o| o.kind_name() == op.kind_name()) {
            return Err(format!(
                "{op:?} lowered to {} lifts back as {lifted:?}",
                B::ID
            ));
        }
        return Ok(if out.dropped.is_some() {
            Verdict::Dropped
        } else {
            Verdict::Exact
        });
    }
    let got = project_for(
        B::ID,
        &trusting_hint(op, &out, Footprint::of_ops(lifted.iter(), ctx)),
    );
    let rel = got.relation_to(want);
    // Described only for a failure's message.
    let cmds_s = || cmds.iter().map(describe).collect::<Vec<_>>().join("; ");
    match rel {
        Relation::Under { .. } => Err(format!(
            "under-invalidation on {}: {op:?} -> {} -> {lifted:?}: {} (outcome {out:?})",
            B::ID,
            cmds_s(),
            rel_str(&rel)
        )),
        Relation::Superset(_)
            if exact_or_reported && out.widened.is_empty() && out.dropped.is_none() =>
        {
            Err(format!(
                "silent widening on {}: {op:?} -> {} -> {lifted:?}: {} but outcome {out:?}",
                B::ID,
                cmds_s(),
                rel_str(&rel)
            ))
        }
        Relation::Superset(_) => Ok(Verdict::Superset),
        Relation::Exact if out.dropped.is_some() => Ok(Verdict::Dropped),
        Relation::Exact => Ok(Verdict::Exact),
    }
}

/// R2: lift `cmd` on its own architecture, lower each op back to a host at
/// least as capable ([`Arch::full_host`]), lift again: the footprint is the
/// same as the command's. A superset is accepted only when the lowering
/// reported widening (and counted as such by the tests). Same-architecture
/// round trips never refuse and never drop an operation that the
/// architecture itself produced, and the non-invalidations lift back equal.
pub fn check_r2<A: Arch>(cmd: &A::Command, ctx: &dyn Context) -> Result<Verdict, String> {
    let caps = &A::full_host(cmd);
    let ops = match lift_vec::<A>(cmd, ctx) {
        Ok((ops, _)) => ops,
        Err(LowerError::NoEquivalent(_)) if NON_INVAL_OPS.contains(&cmd.op()) => {
            return Ok(Verdict::Refused)
        }
        Err(e) => return Err(format!("lift of {} fails: {e:?}", describe(cmd))),
    };
    // Device TLBs of non-ATS devices do not exist: neither side counts them.
    let want = without_non_ats(&Footprint::of_ops(ops.iter(), ctx), ctx);
    let mut got = Footprint::new();
    let mut widened = false;
    let mut relifted_other = Vec::new();
    for op in &ops {
        let (cmds, out) = match lower_vec::<A>(op, caps, ctx)? {
            Ok(x) => x,
            // virtio-iommu's ratified requests (UNMAP, DETACH, ATTACH) are
            // invalidations in all but name, and no virtio-iommu request
            // invalidates a cache but the drafts' INVALIDATE, which cannot
            // name them all (a stage-2 or every-stage IOTLB, a device's
            // configuration without a known domain): never lowered to
            // UNMAP, they are refused.
            Err(LowerError::NoEquivalent(_))
                if A::ID == ArchId::VirtioIommu
                    && !matches!(cmd.op(), "INVALIDATE" | "INVALIDATE_2018") =>
            {
                return Ok(Verdict::Refused)
            }
            // A RISC-V IOTINVAL.VMA of a GSCID the context does not know
            // lifts to every domain (reported), which no RISC-V command
            // names: its own lower must refuse rather than under-do.
            Err(LowerError::NoEquivalent(_))
                if A::ID == ArchId::Riscv
                    && matches!(op, Op::Inval(i) if riscv_needs_gscid(i, ctx)) =>
            {
                return Ok(Verdict::Refused)
            }
            Err(e) => {
                return Err(format!(
                    "{} lifts to {op:?} which its own lower refuses: {e:?}",
                    describe(cmd)
                ))
            }
        };
        if let Some(why) = out.dropped {
            if !(matches!(op, Op::Inval(_)) && may_drop(A::ID, op, ctx)) {
                return Err(format!(
                    "{} lifts to {op:?} which its own lower drops: {why}",
                    describe(cmd)
                ));
            }
        }
        widened |= !out.widened.is_empty();
        for c in &cmds {
            let (back, _) = lift_vec::<A>(c, ctx)
                .map_err(|e| format!("lift of lowered {} fails: {e:?}", describe(c)))?;
            got.extend(&trusting_hint(
                op,
                &out,
                Footprint::of_ops(back.iter(), ctx),
            ));
            if !matches!(op, Op::Inval(_)) {
                relifted_other.extend(back);
            }
        }
    }
    // virtio-iommu has no sync request: a lifted sync lowers to nothing.
    let orig_other: Vec<Op> = ops
        .iter()
        .filter(|o| !matches!(o, Op::Inval(_)))
        .filter(|o| !(A::ID == ArchId::VirtioIommu && o.is_sync()))
        .copied()
        .collect();
    if orig_other != relifted_other {
        return Err(format!(
            "{}: non-invalidation ops {orig_other:?} come back as {relifted_other:?}",
            describe(cmd)
        ));
    }
    match without_non_ats(&got, ctx).relation_to(&want) {
        Relation::Exact => Ok(Verdict::Exact),
        Relation::Superset(_) if widened => Ok(Verdict::Superset),
        rel => Err(format!(
            "R2 {}: lift {ops:?}: round trip is {}",
            describe(cmd),
            rel_str(&rel)
        )),
    }
}

/// R3: lower `op` to `A` with `caps`, lift the output: it covers `op` on
/// every cache `A` has, exactly or as a reported superset; refusals and
/// drops only where rule 2 allows them.
pub fn check_r3<A: Arch>(op: &Op, caps: &Target<A>, ctx: &dyn Context) -> Result<Verdict, String> {
    lower_and_check::<A>(op, &required(A::ID, op, ctx), caps, ctx, true)
}

/// R4 for one ordered pair: lift `cmd` on `A`, lower every op to `B`, lift
/// on `B`: the result covers the lifted input (projected on what `B` has).
pub fn check_r4_pair<A: Arch, B: Arch>(
    cmd: &A::Command,
    caps: &Target<B>,
    topo: &Topology,
) -> Result<Vec<Verdict>, String> {
    let ctx: &dyn Context = topo;
    let ops = match lift_vec::<A>(cmd, ctx) {
        Ok((ops, _)) => ops,
        Err(LowerError::NoEquivalent(_)) if NON_INVAL_OPS.contains(&cmd.op()) => {
            return Ok(vec![Verdict::Refused])
        }
        Err(e) => return Err(format!("lift of {} fails: {e:?}", describe(cmd))),
    };
    let mut verdicts = Vec::with_capacity(ops.len());
    for op in &ops {
        let v =
            lower_and_check::<B>(op, &required(B::ID, op, ctx), caps, ctx, false).map_err(|e| {
                format!(
                    "R4 {} -> {}: input {} lifts to {op:?}: {e}",
                    A::ID,
                    B::ID,
                    describe(cmd)
                )
            })?;
        verdicts.push(v);
    }
    Ok(verdicts)
}

/// Host capabilities for all five targets.
#[derive(Debug, Clone)]
pub struct AllCaps {
    /// SMMUv3.
    pub smmu: Target<Smmu>,
    /// VT-d.
    pub vtd: Target<Vtd>,
    /// AMD-Vi.
    pub amd: Target<Amd>,
    /// RISC-V IOMMU.
    pub riscv: Target<Riscv>,
    /// virtio-iommu: a device of the 2021 RFC (a ratified one has no
    /// invalidation at all).
    pub virtio: Target<Virtio>,
}

impl Default for AllCaps {
    fn default() -> Self {
        AllCaps {
            smmu: Target::default(),
            vtd: Target::default(),
            amd: Target::default(),
            riscv: Target::default(),
            virtio: Target::new(iommu_inval_virtio::Features::VSVA_2021),
        }
    }
}

fn r4_from<A: Arch>(
    cmd: &A::Command,
    to: ArchId,
    caps: &AllCaps,
    topo: &Topology,
) -> Result<Vec<Verdict>, String> {
    match to {
        ArchId::Smmuv3 => check_r4_pair::<A, Smmu>(cmd, &caps.smmu, topo),
        ArchId::Vtd => check_r4_pair::<A, Vtd>(cmd, &caps.vtd, topo),
        ArchId::Amd => check_r4_pair::<A, Amd>(cmd, &caps.amd, topo),
        ArchId::Riscv => check_r4_pair::<A, Riscv>(cmd, &caps.riscv, topo),
        ArchId::VirtioIommu => check_r4_pair::<A, Virtio>(cmd, &caps.virtio, topo),
    }
}

/// R4: convert `cmd` (of `cmd.arch()`) to `to` through `topo`; the output
/// never under-invalidates. `to == cmd.arch()` is allowed (a same-arch
/// conversion through a topology).
pub fn check_r4(
    to: ArchId,
    cmd: &NativeAny,
    caps: &AllCaps,
    topo: &Topology,
) -> Result<Vec<Verdict>, String> {
    match cmd {
        NativeAny::Smmuv3(c) => r4_from::<Smmu>(c, to, caps, topo),
        NativeAny::Vtd(c) => r4_from::<Vtd>(c, to, caps, topo),
        NativeAny::Amd(c) => r4_from::<Amd>(c, to, caps, topo),
        NativeAny::Riscv(c) => r4_from::<Riscv>(c, to, caps, topo),
        NativeAny::VirtioIommu(c) => r4_from::<Virtio>(c, to, caps, topo),
    }
}

/// R3 through architecture `to`.
pub fn check_r3_to(
    to: ArchId,
    op: &Op,
    caps: &AllCaps,
    ctx: &dyn Context,
) -> Result<Verdict, String> {
    match to {
        ArchId::Smmuv3 => check_r3::<Smmu>(op, &caps.smmu, ctx),
        ArchId::Vtd => check_r3::<Vtd>(op, &caps.vtd, ctx),
        ArchId::Amd => check_r3::<Amd>(op, &caps.amd, ctx),
        ArchId::Riscv => check_r3::<Riscv>(op, &caps.riscv, ctx),
        ArchId::VirtioIommu => check_r3::<Virtio>(op, &caps.virtio, ctx),
    }
}

/// R3 through every architecture (in [`ArchId::ALL`] order).
pub fn check_r3_all(op: &Op, caps: &AllCaps, ctx: &dyn Context) -> Result<[Verdict; 5], String> {
    let mut v = [Verdict::Exact; 5];
    for (slot, to) in v.iter_mut().zip(ArchId::ALL) {
        *slot = check_r3_to(to, op, caps, ctx)?;
    }
    Ok(v)
}

/// Ids a native command names, used to build topologies that know them.
#[derive(Debug, Clone, Default)]
pub struct NamedIds {
    /// Native domain ids (VMID, DID, DomainID) by architecture.
    pub domains: Vec<(ArchId, u32)>,
    /// Requester ids.
    pub devices: Vec<u32>,
    /// PASIDs / SubstreamIDs.
    pub pasids: Vec<u32>,
    /// SMMU ASIDs.
    pub asids: Vec<u16>,
    /// RISC-V PSCIDs.
    pub pscids: Vec<u32>,
    /// Generic domain ids (a generic op's), taken as topology domain ids.
    pub generic_domains: Vec<u32>,
}

impl NamedIds {
    /// Collect from a generic op: its domain, devices and PASID, so that a
    /// generated topology often describes the op's own domain (its PASIDs,
    /// devices and the tags of its requests without PASID).
    pub fn of_op(op: &Op) -> Self {
        let mut ids = NamedIds::default();
        if let Op::Inval(i) = op {
            if let DomainSel::One(d) = i.domain {
                ids.generic_domains.push(d);
            }
            if let iommu_inval_core::PasidSel::One(p) = i.pasid {
                ids.pasids.push(p & 0xf_ffff);
            }
            if let Some((a, b)) = i.device.interval() {
                ids.devices.extend([a, b]);
            }
        }
        ids
    }

    /// Collect from a command's fields.
    pub fn of(cmd: &NativeAny) -> Self {
        let mut ids = NamedIds::default();
        let arch = cmd.arch_id();
        cmd.visit_fields(&mut |name, v| {
            let FieldValue::Uint(x) = v else { return };
            let x32 = u32::try_from(x).unwrap_or(u32::MAX);
            match name {
                // A RISC-V DID is a device id (IODIR), its GSCID the domain.
                "did" if arch == ArchId::Riscv => ids.devices.push(x32),
                // virtio-iommu domains are generic, endpoints devices, its
                // archid / id the Arm ASID.
                "domain" if arch == ArchId::VirtioIommu => ids.generic_domains.push(x32),
                "endpoint" => ids.devices.push(x32),
                "archid" | "id" => ids.asids.push(u16::try_from(x).unwrap_or(u16::MAX)),
                "gscid" => ids.domains.push((arch, x32)),
                "pscid" => ids.pscids.push(x32 & 0xf_ffff),
                "pid" => ids.pasids.push(x32 & 0xf_ffff),
                "vmid" | "did" | "domain_id" => ids.domains.push((arch, x32)),
                "sid" | "device_id" | "rid" | "pfsid" => ids.devices.push(x32),
                "ssid" | "pasid" => ids.pasids.push(x32 & 0xf_ffff),
                "asid" => ids.asids.push(u16::try_from(x).unwrap_or(u16::MAX)),
                _ => {}
            }
        });
        ids
    }
}

/// A tag: none with odds 1 in `none`, else often one of `hints`, else
/// `fresh`.
fn hinted<T: Copy>(
    u: &mut Unstructured<'_>,
    none: u8,
    hints: &[T],
    fresh: impl FnOnce(&mut Unstructured<'_>) -> arbitrary::Result<T>,
) -> arbitrary::Result<Option<T>> {
    if u.ratio(1, none)? {
        return Ok(None);
    }
    if !hints.is_empty() && u.ratio(1, 2)? {
        return Ok(Some(*u.choose(hints)?));
    }
    fresh(u).map(Some)
}

/// A generated topology: a few domains with native ids on some or all
/// architectures (a VT-d RID_PASID, 0 or not), devices (requester ids of
/// 16 bits, or of 32 for every second fresh one) with ATS, the tags
/// of their requests without PASID (CD 0 ASID, device-context PSCID; named
/// or not) and PASIDs (with or without an ASID / PSCID).
/// Ids are often taken from `hints`, so that the command under test names
/// known ids as well as unknown ones. Always passes the checks of
/// `Topology::new`.
pub fn arbitrary_topology(
    u: &mut Unstructured<'_>,
    hints: &NamedIds,
) -> arbitrary::Result<Topology> {
    let mut t = TopologyFile::default();
    let n_dom = u.int_in_range(0usize..=4)?;
    for i in 0..n_dom {
        let id = if !hints.generic_domains.is_empty() && u.ratio(1, 2)? {
            *u.choose(&hints.generic_domains)?
        } else if u.ratio(1, 4)? {
            gen::edge_u32(u, 32)?
        } else {
            i as u32 + 1
        };
        if t.domains.iter().any(|d| d.id == id) {
            continue;
        }
        let native = |arch: ArchId, u: &mut Unstructured<'_>| -> arbitrary::Result<Option<u16>> {
            if u.ratio(1, 6)? {
                return Ok(None);
            }
            let hinted: Vec<u32> = hints
                .domains
                .iter()
                .filter(|(a, _)| *a == arch)
                .map(|(_, x)| *x)
                .collect();
            let v = if !hinted.is_empty() && u.ratio(2, 3)? {
                *u.choose(&hinted)?
            } else {
                gen::edge_u32(u, 16)?
            };
            Ok(u16::try_from(v).ok())
        };
        let mut d = DomainEntry {
            id,
            smmuv3: native(ArchId::Smmuv3, u)?.map(|vmid| SmmuIds { vmid }),
            vtd: native(ArchId::Vtd, u)?.map(|did| VtdIds { did, rid_pasid: 0 }),
            amd: native(ArchId::Amd, u)?.map(|domain_id| AmdIds { domain_id }),
            riscv: native(ArchId::Riscv, u)?.map(|gscid| RiscvIds { gscid }),
        };
        // Native ids unique per architecture.
        if t.domains
            .iter()
            .any(|e| e.smmuv3.is_some() && e.smmuv3 == d.smmuv3)
        {
            d.smmuv3 = None;
        }
        if t.domains
            .iter()
            .any(|e| e.vtd.is_some() && e.vtd.map(|v| v.did) == d.vtd.map(|v| v.did))
        {
            d.vtd = None;
        }
        // The RID_PASID of requests without PASID: mostly Linux's 0,
        // sometimes a PASID the command names (then it is that command's
        // no-PASID tag), sometimes another.
        if let Some(v) = d.vtd.as_mut() {
            if u.ratio(1, 3)? {
                v.rid_pasid = if !hints.pasids.is_empty() && u.ratio(1, 2)? {
                    *u.choose(&hints.pasids)? & 0xf_ffff
                } else {
                    gen::edge_u32(u, 20)?
                };
            }
        }
        if t.domains.iter().any(|e| e.amd.is_some() && e.amd == d.amd) {
            d.amd = None;
        }
        if t.domains
            .iter()
            .any(|e| e.riscv.is_some() && e.riscv == d.riscv)
        {
            d.riscv = None;
        }
        t.domains.push(d);
    }
    if t.domains.is_empty() {
        return Ok(checked(t));
    }
    let n_dev = u.int_in_range(0usize..=5)?;
    for i in 0..n_dev {
        // Fresh requester ids: 16 bits (PCI, VT-d, AMD-Vi) for the even
        // devices, 32 (SMMUv3 StreamIDs) for the odd ones, so that a domain
        // may hold a device that a 16-bit source-id cannot name.
        let rid = if !hints.devices.is_empty() && u.ratio(2, 3)? {
            *u.choose(&hints.devices)?
        } else {
            gen::edge_u32(u, if i % 2 == 0 { 16 } else { 32 })?
        };
        if t.devices.iter().any(|d| d.rid == rid) {
            continue;
        }
        let domain = u.choose(&t.domains)?.id;
        let mut pasids: Vec<PasidEntry> = Vec::new();
        for _ in 0..u.int_in_range(0usize..=3)? {
            let pasid = if !hints.pasids.is_empty() && u.ratio(1, 2)? {
                *u.choose(&hints.pasids)? & 0xf_ffff
            } else {
                gen::edge_u32(u, 20)?
            };
            let asid = hinted(u, 5, &hints.asids, |u| {
                Ok(u16::try_from(gen::edge_u32(u, 16)?).unwrap_or(u16::MAX))
            })?;
            let pscid = hinted(u, 5, &hints.pscids, |u| gen::edge_u32(u, 20))?;
            pasids.push(PasidEntry { pasid, asid, pscid });
        }
        // The device's own tags for requests without PASID (SMMU CD 0
        // ASID, RISC-V device-context PSCID): named or not, often one the
        // command uses.
        let asid = hinted(u, 3, &hints.asids, |u| {
            Ok(u16::try_from(gen::edge_u32(u, 16)?).unwrap_or(u16::MAX))
        })?;
        let pscid = hinted(u, 3, &hints.pscids, |u| gen::edge_u32(u, 20))?;
        t.devices.push(DeviceEntry {
            rid,
            domain,
            ats: u.ratio(3, 4)?,
            asid,
            pscid,
            pasids,
        });
    }
    Ok(checked(t))
}

/// The generated file as a checked topology. It is consistent by
/// construction: a refusal is a bug of this generator (an oracle failure).
fn checked(t: TopologyFile) -> Topology {
    Topology::new(t)
        .unwrap_or_else(|e| panic!("arbitrary_topology made an inconsistent topology: {e}"))
}

/// Per-name counters, for coverage assertions in the tests.
#[derive(Debug, Default, Clone)]
pub struct Tally(pub BTreeMap<String, usize>);

impl Tally {
    /// Count one occurrence of `k`.
    pub fn add(&mut self, k: impl Into<String>) {
        *self.0.entry(k.into()).or_default() += 1;
    }
    /// Count of `k`.
    pub fn get(&self, k: &str) -> usize {
        self.0.get(k).copied().unwrap_or(0)
    }
}

/// The deterministic PRNG (xorshift64*) feeding `Unstructured` in the
/// in-tree property loops: the same seed, the same cases. One generator
/// serves the property loops and the benchmark streams.
pub use iommu_inval_bench::streams::Rng;

/// Run `f` over `cases` deterministic inputs of `len` random bytes each;
/// returns the first failure with its case number and seed. Panics inside
/// `f` are caught and reported as failures with the input bytes.
pub fn run_cases(
    seed: u64,
    cases: usize,
    len: usize,
    mut f: impl FnMut(&mut Unstructured<'_>) -> Result<(), String>,
) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    // Every case runs; failures are grouped by kind (the message without
    // its numbers) so that one report shows every distinct violation.
    let mut kinds: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut failed = 0usize;
    for i in 0..cases {
        let bytes = rng.bytes(len);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut u = Unstructured::new(&bytes);
            f(&mut u)
        }));
        let msg = match r {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => format!("case {i} (seed {seed:#x}): {e}"),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_default();
                format!("case {i} (seed {seed:#x}): PANIC {msg} on input bytes {bytes:02x?}")
            }
        };
        failed += 1;
        let body = msg.split_once("): ").map_or(msg.as_str(), |(_, b)| b);
        let e = kinds
            .entry(violation_kind(body))
            .or_insert((0, msg.clone()));
        e.0 += 1;
        if msg.len() < e.1.len() {
            e.1 = msg;
        }
    }
    if failed == 0 {
        return Ok(());
    }
    let mut report = format!(
        "{failed} of {cases} cases failed, {} kinds of violation:",
        kinds.len()
    );
    for (n, msg) in kinds.values().take(8) {
        let _ = write!(report, "\n--- {n} cases, shortest:\n{msg}");
    }
    Err(report)
}

/// A violation message without its numbers and values, cut after the rule
/// and the op kind: failures of one root cause share it.
pub fn violation_kind(msg: &str) -> String {
    let head: String = msg
        .chars()
        .take(40)
        .filter(|c| !c.is_ascii_digit())
        .collect();
    let regime = msg.find("regime: ").map_or("", |i| {
        msg.get(i..).unwrap_or("").split(',').next().unwrap_or("")
    });
    let dropped = msg.find("dropped: Some(").map_or("", |i| {
        msg.get(i..).unwrap_or("").split(')').next().unwrap_or("")
    });
    format!("{head} | {regime} | {dropped}")
}
