//! Hosts as fuzzer input: arbitrary lowering [`Target`]s (features and
//! budget) of every architecture, the bound on one lowering
//! ([`Arch::max_lowered`](iommu_inval_core::arch::Arch::max_lowered) of its budget) and what a command sent to such a host must
//! respect ([`HostCaps::conforms`]): no command of a feature the host lacks,
//! no id wider than the host's (an ASID over `asid_bits`, a PASID over
//! `pasid_bits`), the host's descriptor width.
//!
//! The oracle of [`check_r3_caps`]: lowering to any host never panics;
//! an `Ok` lowering emits at most `max_lowered` commands, each valid and
//! each conforming; whatever it does not report dropped is covered (no
//! silent under-invalidation, rule 1 of docs/ARCHITECTURE.md); a bounded sink is
//! either enough (the same commands and outcome) or `BufferFull`, never a
//! truncated `Ok`.

use arbitrary::Unstructured;
use iommu_inval_core::footprint::{Footprint, Relation};
use iommu_inval_core::model::Op;
use iommu_inval_core::sink::Full;
use iommu_inval_core::{Context, FieldValue, LowerError, NativeCommand, Outcome, Sink};

use crate::{
    describe, fields_of, lower_vec, project_for, relift, required, trusting_hint, AllCaps, Amd,
    Arch, Riscv, Smmu, Target, Virtio, Vtd,
};
use iommu_inval_core::Budget;

/// A host of `features` with a budget drawn from `u`: mostly the small
/// command caps where plans change (0, 1, 2, 3), sometimes the
/// architecture's default or any up to 80.
fn with_budget<A: Arch>(
    features: A::Features,
    u: &mut Unstructured<'_>,
) -> arbitrary::Result<Target<A>> {
    let budget = match u.int_in_range(0u8..=7)? {
        0..=3 => Budget::new(usize::from(u.int_in_range(0u8..=3)?)),
        4 => A::DEFAULT_BUDGET,
        _ => Budget::new(usize::from(u.int_in_range(0u8..=80)?)),
    };
    Ok(Target { features, budget })
}

/// The lowering side of an architecture as fuzzer input.
pub trait HostCaps: Arch {
    /// Any host this architecture allows: every capability on or off, id
    /// widths from the narrowest to the widest, any command cap.
    fn arbitrary_caps(u: &mut Unstructured<'_>) -> arbitrary::Result<Target<Self>>;
    /// `Err` naming what `cmd` uses that a host with `caps` does not have.
    fn conforms(cmd: &Self::Command, caps: &Self::Features) -> Result<(), String>;
    /// What a lifted op removes on a host with `caps`, where the host tags
    /// its entries with less than the command names (default: as lifted).
    fn host_view(op: Op, _caps: &Self::Features) -> Op {
        op
    }
    /// Narrow `caps` to what a host queue whose own default features are
    /// `queue` holds (default: nothing to narrow).
    fn fit_queue(_caps: &mut Self::Features, _queue: &Self::Features) {}
}

/// The value of field `name` of `c`, 0 when absent, a `Bool` as 0/1.
fn field<C: NativeCommand>(c: &C, name: &str) -> u64 {
    fields_of(c)
        .into_iter()
        .find(|(n, _)| *n == name)
        .map_or(0, |(_, v)| match v {
            FieldValue::Bool(b) => u64::from(b),
            FieldValue::Uint(x) => x,
            FieldValue::Pair(_) => 0,
        })
}

/// `Err` when field `name` of `c` does not fit `bits` bits.
fn fits<C: NativeCommand>(c: &C, name: &str, bits: u8) -> Result<(), String> {
    let v = field(c, name);
    if bits < 64 && v >> bits != 0 {
        return Err(format!(
            "{} {name} = {v:#x} is wider than the host's {bits} bits",
            c.op()
        ));
    }
    Ok(())
}

/// `Err` when the host's own decoder (its features) refuses `c`.
/// `c` as the decoder of a host with features `f` reads its encoding
/// ([`NativeCommand::decode_with`]).
fn own_decoder<C: NativeCommand, K: core::fmt::Debug>(
    c: &C,
    caps: &K,
    f: &C::Features,
) -> Result<(), String> {
    let mut w = [0u64; iommu_inval_core::native::MAX_WORDS];
    c.encode_into(&mut w)
        .and_then(|n| C::decode_with(w.get(..n).unwrap_or(&w), f))
        .map(|_| ())
        .map_err(|e| {
            format!(
                "{} refused by the host's own decoder ({caps:?}): {e}",
                describe(c)
            )
        })
}

fn absent<C: NativeCommand>(c: &C, ops: &[&str], why: &str) -> Result<(), String> {
    if ops.contains(&c.op()) {
        return Err(format!("{} sent to a host without {why}", c.op()));
    }
    Ok(())
}

impl HostCaps for Smmu {
    fn arbitrary_caps(u: &mut Unstructured<'_>) -> arbitrary::Result<Target<Self>> {
        let s1p = u.arbitrary()?;
        let features = iommu_inval_arm::Features {
            ril: u.arbitrary()?,
            ats: u.arbitrary()?,
            // An SMMU implements at least one stage (IHI0070 §3.2, SMMU_IDR0.S1P / S2P).
            s1p,
            s2p: !s1p || u.arbitrary()?,
            asid_bits: *u.choose(&[8u8, 16])?,
            vmid_bits: *u.choose(&[8u8, 16])?,
            ssid_bits: u.int_in_range(0u8..=20)?,
            ..iommu_inval_arm::Features::LATEST
        };
        with_budget(features, u)
    }
    fn conforms(c: &Self::Command, caps: &Self::Features) -> Result<(), String> {
        // SMMU_IDR0.S1P / S2P / ATS and IDR3.RIL decide which commands and
        // fields exist (IHI0070 §4.4, §4.5): the decoder of such an SMMU.
        let f = iommu_inval_arm::Features {
            s1p: caps.s1p,
            s2p: caps.s2p,
            ats: caps.ats,
            ril: caps.ril,
            ..iommu_inval_arm::Features::LATEST
        };
        own_decoder(c, caps, &f)?;
        fits(c, "asid", caps.asid_bits)?;
        // A stage-1-only SMMU has no VMIDs: VMID is RES0 (§4.4.2).
        fits(c, "vmid", if caps.s2p { caps.vmid_bits } else { 0 })?;
        fits(c, "ssid", caps.ssid_bits)
    }
    fn host_view(op: Op, caps: &Self::Features) -> Op {
        // A stage-1-only SMMU has no VMIDs (VMID is RES0, IHI0070 §4.4.2):
        // its TLB entries are tagged by ASID alone, so a TLBI's VMID 0
        // reaches every domain, and its ASID every PASID of any domain
        // that shares the ASID. The lift (through a context that maps
        // VMID 0 to one domain) names one domain and the PASIDs of the ASID
        // there; the footprint cannot say "the PASIDs with ASID a", so here
        // the check of a stage-1-only host is over domains and PASIDs
        // both widened (the ASID itself is checked against the host's width
        // by `conforms`).
        use iommu_inval_core::model::{Caches, DomainSel, PasidSel};
        match op {
            Op::Inval(mut i) if !caps.s2p && (i.caches - Caches::LEAF) == Caches::IOTLB => {
                i.domain = DomainSel::All;
                if matches!(i.pasid, PasidSel::One(_)) {
                    i.pasid = PasidSel::All;
                }
                Op::Inval(i)
            }
            op => op,
        }
    }
}

impl HostCaps for Vtd {
    fn arbitrary_caps(u: &mut Unstructured<'_>) -> arbitrary::Result<Target<Self>> {
        let features = iommu_inval_vtd::Features {
            smts: u.arbitrary()?,
            mamv: u.int_in_range(0u8..=63)?,
            dt: u.arbitrary()?,
            pasid_bits: u.int_in_range(0u8..=20)?,
            dw: u.arbitrary()?,
            ..iommu_inval_vtd::Features::LATEST
        };
        with_budget(features, u)
    }
    fn fit_queue(caps: &mut Self::Features, queue: &Self::Features) {
        // The queue's descriptor width (IQA_REG.DW); scalable-mode
        // descriptors need DW = 1 (VT-d §6.5.2).
        caps.dw = queue.dw;
        caps.smts &= queue.dw;
    }
    fn conforms(c: &Self::Command, caps: &Self::Features) -> Result<(), String> {
        let want = if caps.dw { 4 } else { 2 };
        if c.words() != want {
            return Err(format!(
                "{}: a {}-word descriptor on a queue of {want}-word ones (IQA_REG.DW)",
                c.op(),
                c.words()
            ));
        }
        // CAP_REG.MAMV and ECAP_REG.DT decide the page-selective mask and
        // whether device-TLB descriptors exist (VT-d §6.5.2).
        let f = iommu_inval_vtd::Features {
            mamv: caps.mamv,
            dt: caps.dt,
            ..iommu_inval_vtd::Features::LATEST
        };
        own_decoder(c, caps, &f)?;
        if !caps.smts {
            absent(
                c,
                &["p_iotlb_inv_dsc", "pc_inv_dsc", "p_dev_tlb_inv_dsc"],
                "scalable mode",
            )?;
        }
        fits(c, "pasid", caps.pasid_bits)
    }
}

impl HostCaps for Amd {
    fn arbitrary_caps(u: &mut Unstructured<'_>) -> arbitrary::Result<Target<Self>> {
        let features = iommu_inval_amd::Features {
            gt_sup: u.arbitrary()?,
            pasid_bits: u.int_in_range(0u8..=20)?,
            ats: u.arbitrary()?,
            ..iommu_inval_amd::Features::LATEST
        };
        with_budget(features, u)
    }
    fn conforms(c: &Self::Command, caps: &Self::Features) -> Result<(), String> {
        // EFR.GTSup: without guest translation `gn` = 1 is not legal.
        let f = iommu_inval_amd::Features {
            gt_sup: caps.gt_sup,
            ..iommu_inval_amd::Features::LATEST
        };
        own_decoder(c, caps, &f)?;
        if !caps.ats {
            absent(c, &["INVALIDATE_IOTLB_PAGES"], "ATS")?;
        }
        // A PASID means something only with `gn` = 1 (guest translation).
        if field(c, "gn") == 1 {
            fits(c, "pasid", caps.pasid_bits)?;
        }
        Ok(())
    }
}

impl HostCaps for Riscv {
    fn arbitrary_caps(u: &mut Unstructured<'_>) -> arbitrary::Result<Target<Self>> {
        let features = iommu_inval_riscv::Features {
            s: u.arbitrary()?,
            nl: u.arbitrary()?,
            ats: u.arbitrary()?,
            wsi: u.arbitrary()?,
            // capabilities.PD8 / PD17 / PD20 (§5.3).
            pid_bits: *u.choose(&[8u8, 17, 20])?,
            ..iommu_inval_riscv::Features::ALL
        };
        with_budget(features, u)
    }
    fn conforms(c: &Self::Command, caps: &Self::Features) -> Result<(), String> {
        own_decoder(c, caps, caps)?;
        fits(c, "pid", caps.pid_bits)
    }
}

impl HostCaps for Virtio {
    fn arbitrary_caps(u: &mut Unstructured<'_>) -> arbitrary::Result<Target<Self>> {
        use iommu_inval_virtio::{Draft, Features};
        let features = Features {
            bits: u.int_in_range(0..=iommu_inval_virtio::F_ALL)?,
            // The granule: bytes, 4 KiB, 64 KiB, or 2 MiB and 4 KiB.
            page_size_mask: *u.choose(&[1u64, 0x1000, 0x1_0000, 0x20_1000])?,
            draft: *u.choose(&[Draft::None, Draft::Brucker2018, Draft::Rfc2021])?,
            ..Features::ALL
        };
        with_budget(features, u)
    }
    fn conforms(c: &Self::Command, caps: &Self::Features) -> Result<(), String> {
        own_decoder(c, caps, caps)
    }
}

/// Arbitrary host caps of all five architectures.
pub fn arbitrary_all_caps(u: &mut Unstructured<'_>) -> arbitrary::Result<AllCaps> {
    Ok(AllCaps {
        smmu: Smmu::arbitrary_caps(u)?,
        vtd: Vtd::arbitrary_caps(u)?,
        amd: Amd::arbitrary_caps(u)?,
        riscv: Riscv::arbitrary_caps(u)?,
        virtio: Virtio::arbitrary_caps(u)?,
    })
}

/// Lower `op` to a host with `caps` and check the oracle of this module:
/// typed refusal or bounded, valid, conforming commands that cover every
/// part not reported dropped; then the same lowering into a sink of
/// `room` commands is the same or `BufferFull`, and each command's lift
/// into a sink of `lift_room` ops likewise.
pub fn check_r3_caps<A: HostCaps>(
    op: &Op,
    caps: &Target<A>,
    ctx: &dyn Context,
    room: usize,
    lift_room: usize,
) -> Result<(), String> {
    let (cmds, out) = match lower_vec::<A>(op, caps, ctx)? {
        Ok(x) => x,
        Err(LowerError::BufferFull) => {
            return Err(format!(
                "lower to {} into a Vec: BufferFull for {op:?}",
                A::ID
            ))
        }
        // A typed refusal: the host cannot express it (no partial output is used).
        Err(LowerError::NoEquivalent(_) | LowerError::Invalid(_)) => return Ok(()),
        Err(e) => return Err(format!("lower to {}: unexpected error {e:?}", A::ID)),
    };
    let bound = A::max_lowered(caps.budget);
    if cmds.len() > bound {
        return Err(format!(
            "lower to {} of {op:?} with {caps:?}: {} commands, max_lowered is {bound}",
            A::ID,
            cmds.len()
        ));
    }
    let mut lifted = Vec::new();
    for c in &cmds {
        let (ops, lift_out) = relift::<A>(op, c, ctx)?;
        A::conforms(c, &caps.features).map_err(|e| format!("lower to {} of {op:?}: {e}", A::ID))?;
        check_bounded_lift::<A>(c, ctx, &ops, lift_out, lift_room)?;
        lifted.extend(ops.into_iter().map(|o| A::host_view(o, &caps.features)));
    }
    if matches!(op, Op::Inval(_)) && out.dropped.is_none() {
        let want = required(A::ID, op, ctx);
        let got = project_for(
            A::ID,
            &trusting_hint(op, &out, Footprint::of_ops(lifted.iter(), ctx)),
        );
        if let Relation::Under { missing } = got.relation_to(&want) {
            return Err(format!(
                "under-invalidation on {} with {caps:?}: {op:?} -> {} commands -> {lifted:?}: \
                 {missing} boxes left, nothing reported dropped (outcome {out:?})",
                A::ID,
                cmds.len()
            ));
        }
    }
    check_bounded_lower::<A>(op, caps, ctx, &cmds, out, room)
}

/// Lowering into a sink of `room` commands: the same output when it fits,
/// `BufferFull` when it does not.
fn check_bounded_lower<A: Arch>(
    op: &Op,
    caps: &Target<A>,
    ctx: &dyn Context,
    want: &[A::Command],
    want_out: Outcome,
    room: usize,
) -> Result<(), String> {
    let mut sink = Bounded::new(room);
    match A::lower(op, &caps.features, caps.budget, ctx, &mut sink) {
        Ok(o) if want.len() <= room && o == want_out && sink.items == want => Ok(()),
        Err(LowerError::BufferFull) if want.len() > room => Ok(()),
        r => Err(format!(
            "lower to {} of {op:?} into a sink of {room}: {r:?} ({} written), \
             with room it is {} commands, {want_out:?}",
            A::ID,
            sink.items.len(),
            want.len()
        )),
    }
}

/// Lifting into a sink of `room` ops: likewise.
fn check_bounded_lift<A: Arch>(
    c: &A::Command,
    ctx: &dyn Context,
    want: &[Op],
    want_out: Outcome,
    room: usize,
) -> Result<(), String> {
    let mut sink = Bounded::new(room);
    match A::lift(c, ctx, &mut sink) {
        Ok(o) if want.len() <= room && o == want_out && sink.items == want => Ok(()),
        Err(LowerError::BufferFull) if want.len() > room => Ok(()),
        r => Err(format!(
            "lift of {} into a sink of {room}: {r:?} ({} written), with room it is {want:?}",
            describe(c),
            sink.items.len()
        )),
    }
}

/// A sink of at most `room` items (what a caller's fixed buffer is).
struct Bounded<T> {
    items: Vec<T>,
    room: usize,
}

impl<T> Bounded<T> {
    fn new(room: usize) -> Self {
        Bounded {
            items: Vec::new(),
            room,
        }
    }
}

impl<T> Sink<T> for Bounded<T> {
    fn push(&mut self, item: T) -> Result<(), Full> {
        if self.items.len() >= self.room {
            return Err(Full);
        }
        self.items.push(item);
        Ok(())
    }
}
