//! One module per architecture with the same shape, so that the benches,
//! the efficiency report and the allocation test treat them alike; and the
//! realistic native mixes, taken from the example streams in `examples/`.

use crate::batching::lower_batch;
use iommu_inval_core::arch::Arch;
use iommu_inval_core::batch::{coalesce, BatchOptions, BatchStats};
use iommu_inval_core::context::Topology;
use iommu_inval_core::footprint::Footprint;
use iommu_inval_core::model::{Caches, Inval, Op, Outcome};
use iommu_inval_core::sink::Sink;
use iommu_inval_core::Flags;
use iommu_inval_core::IdentityContext;
use iommu_inval_core::LowerError;

use crate::efficiency::{Flavor, LibLower, LinuxLower};
use crate::linux::{self, RefForm, RefLowering};
use iommu_inval_core::native::{FieldValue, NativeCommand};

/// The example topology (examples/topology.json).
pub const TOPOLOGY_JSON: &str = include_str!("../../examples/topology.json");

/// The example topology, parsed.
pub fn topology() -> Topology {
    Topology::from_json(TOPOLOGY_JSON).unwrap_or_default()
}

/// Parse a `.cmds` file (one command per line: hex words, lowest first,
/// separated by commas; blank and `#` lines skipped) into commands of
/// `words` words. Lines of another length or that are not hex are skipped.
pub fn parse_cmds(text: &str, words: usize) -> Vec<Vec<u64>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let ws: Option<Vec<u64>> = line
            .split(',')
            .map(|t| {
                let t = t.trim();
                let t = t
                    .strip_prefix("0x")
                    .or_else(|| t.strip_prefix("0X"))
                    .unwrap_or(t);
                u64::from_str_radix(t, 16).ok()
            })
            .collect();
        if let Some(ws) = ws {
            if ws.len() == words {
                out.push(ws);
            }
        }
    }
    out
}

macro_rules! target {
    ($name:ident, $krate:ident :: $unit:ident, $label:expr, $lacks:expr, [$(($file:expr, $words:expr)),+]) => {
        /// Wrappers over one architecture crate.
        pub mod $name {
            use super::*;
            pub use $krate::{Command, Features, $unit as A};
            /// The lowering target of this architecture.
            pub type Host = iommu_inval_core::arch::Target<$krate::$unit>;
            pub use $krate::queue as queue_mod;

            /// Architecture name as the CLI spells it.
            pub const NAME: &str = $label;
            /// Caches this architecture does not have (their invalidations are dropped).
            pub fn lacks() -> Caches {
                $lacks
            }

            /// The example streams of this architecture: `(file text, words per command)`.
            pub const EXAMPLES: &[(&str, usize)] = &[$((include_str!(concat!("../../examples/", $file)), $words)),+];

            /// The valid commands of the example streams (each as its words).
            pub fn example_commands() -> Vec<Vec<u64>> {
                let mut v = Vec::new();
                for (text, words) in EXAMPLES {
                    for w in parse_cmds(text, *words) {
                        if Command::decode(&w).is_ok() {
                            v.push(w);
                        }
                    }
                }
                v
            }

            /// A queue of `n` commands of `words` words each, flat (stride
            /// `words`): the example commands of that width, repeated.
            pub fn queue(n: usize, words: usize) -> Vec<u64> {
                let ex: Vec<Vec<u64>> = example_commands().into_iter().filter(|w| w.len() == words).collect();
                ex.iter().cycle().take(n).flatten().copied().collect()
            }

            /// A ring of `n` 2-word commands as the front-end benches walk
            /// it: the example commands that lift to no sync, cycled, with
            /// a sync after every 15 (the first example sync that writes a
            /// completion, else the first sync). Empty if the examples
            /// have no sync.
            pub fn synced_queue(n: usize) -> Vec<u64> {
                let lifted = |w: &[u64]| {
                    let mut ops: Vec<Op> = Vec::new();
                    if let Ok(c) = Command::decode(w) {
                        let _ = A::lift(&c, &IdentityContext, &mut ops);
                    }
                    ops.iter().find_map(|o| match o {
                        Op::Sync(s) => Some(s.store.is_some()),
                        _ => None,
                    })
                };
                let ex: Vec<Vec<u64>> = example_commands().into_iter().filter(|w| w.len() == 2).collect();
                let sync = ex.iter().find(|w| lifted(w) == Some(true)).or_else(|| ex.iter().find(|w| lifted(w).is_some()));
                let others: Vec<&Vec<u64>> = ex.iter().filter(|w| lifted(w).is_none()).collect();
                let (Some(sync), false) = (sync, others.is_empty()) else {
                    return Vec::new();
                };
                let mut it = others.iter().cycle();
                (0..n)
                    .flat_map(|k| if k % 16 == 15 { sync } else { it.next().copied().unwrap_or(sync) })
                    .copied()
                    .collect()
            }

            /// Decode each `W`-word command of `q` and encode it into its
            /// slot of `host` (the codec benchmark's `decode_encode`, and
            /// the loop `scripts/codec_insns.sh` counts); returns how many
            /// decoded.
            #[inline]
            pub fn decode_encode_pass<const W: usize>(q: &[u64], host: &mut [u64]) -> usize {
                let mut ok = 0usize;
                for (w, slot) in q.chunks_exact(W).zip(host.chunks_exact_mut(W)) {
                    if let Ok(c) = Command::decode(w) {
                        slot.copy_from_slice(&c.encode()[..W]);
                        ok += 1;
                    }
                }
                ok
            }

            /// The example commands, decoded, repeated to `n`.
            pub fn commands(n: usize) -> Vec<Command> {
                let ex: Vec<Command> = example_commands().iter().filter_map(|w| Command::decode(w).ok()).collect();
                ex.iter().cycle().take(n).copied().collect()
            }

            /// The example commands lifted with the example topology: the
            /// generic operations a guest of this architecture produces.
            pub fn example_ops() -> Vec<Op> {
                let topo = topology();
                let mut ops = Vec::new();
                for w in example_commands() {
                    if let Ok(c) = Command::decode(&w) {
                        let _ = A::lift(&c, &topo, &mut ops);
                    }
                }
                ops
            }

            /// Lower every op with `caps` (ops without an equivalent are skipped).
            pub fn lower_all(ops: &[Op], caps: &Host) -> Vec<Command> {
                let mut out = Vec::new();
                for op in ops {
                    let mut one: Vec<Command> = Vec::new();
                    if A::lower(op, &caps.features, caps.budget, &IdentityContext, &mut one).is_ok() {
                        out.extend(one);
                    }
                }
                out
            }

            /// The library under test for the efficiency report.
            pub fn lib_lower(caps: Host) -> impl Fn(&Op) -> Result<(usize, Footprint), String> {
                move |op: &Op| {
                    let mut out: Vec<Command> = Vec::new();
                    A::lower(op, &caps.features, caps.budget, &IdentityContext, &mut out).map_err(|e| e.to_string())?;
                    let mut fp = Footprint::new();
                    for c in &out {
                        fp.extend(&<$krate::$unit as iommu_inval_core::arch::Arch>::footprint(c, &IdentityContext));
                    }
                    Ok((out.len(), fp))
                }
            }

            /// Native commands for `ops` lowered one seed request at a time
            /// (each op coalesced alone: its stages and syncs), and as one
            /// batch; plus the batch statistics and whether the batch output
            /// covers the input's footprint (never under-invalidates).
            ///
            /// `requests`: `ops` are seed requests without syncs (one by one,
            /// each gets its stage syncs); otherwise a lifted queue with its
            /// own syncs (one by one = each op lowered as it is, and the batch
            /// adds no closing sync of its own).
            pub fn batch_counts(ops: &[Op], requests: bool) -> (usize, usize, BatchStats, bool) {
                let caps = Host::default();
                let opts = if requests { BatchOptions::default() } else { BatchOptions::QUEUE };
                // Ops without an equivalent on the target are skipped on both sides.
                let lower = |o: &Op, out: &mut dyn Sink<Command>| match A::lower(o, &caps.features, caps.budget, &IdentityContext, out) {
                    Err(LowerError::NoEquivalent(_)) => Ok(Outcome::default()),
                    r => r,
                };
                let mut scratch = vec![Inval::new(Caches::empty()); ops.len() * 3 + 3];
                let mut one_by_one: Vec<Command> = Vec::new();
                for op in ops {
                    if requests {
                        let _ = lower_batch(core::slice::from_ref(op), &mut scratch, opts, lower, &mut one_by_one);
                    } else {
                        let _ = lower(op, &mut one_by_one);
                    }
                }
                let mut batched: Vec<Command> = Vec::new();
                let stats = lower_batch(ops, &mut scratch, opts, lower, &mut batched)
                    .map(|(_, s)| s)
                    .unwrap_or_default();
                let mut fp = Footprint::new();
                for c in &batched {
                    fp.extend(&<$krate::$unit as iommu_inval_core::arch::Arch>::footprint(c, &IdentityContext));
                }
                // What the target can hold: caches it lacks are dropped by rule 2.
                let kept: Vec<Op> = ops
                    .iter()
                    .map(|o| match o {
                        Op::Inval(i) => {
                            let mut i = *i;
                            i.caches -= lacks();
                            Op::Inval(i)
                        }
                        other => *other,
                    })
                    .collect();
                let asked = Footprint::of_ops(kept.iter(), &IdentityContext);
                (one_by_one.len(), batched.len(), stats, fp.covers(&asked))
            }
        }
    };
}

target!(
    arm,
    iommu_inval_arm::Smmuv3,
    "smmuv3",
    Caches::INTR_REMAP,
    [("smmuv3.cmds", 2)]
);
target!(
    vtd,
    iommu_inval_vtd::Vtd,
    "vtd",
    Caches::empty(),
    [("vtd.cmds", 2), ("vtd256.cmds", 4)]
);
target!(
    amd,
    iommu_inval_amd::AmdVi,
    "amd",
    Caches::empty(),
    [("amd.cmds", 2)]
);
target!(
    riscv,
    iommu_inval_riscv::RiscV,
    "riscv",
    Caches::INTR_REMAP,
    [("riscv.cmds", 2)]
);

fn u(v: u64) -> FieldValue {
    FieldValue::Uint(v)
}

fn b(v: bool) -> FieldValue {
    FieldValue::Bool(v)
}

/// Build a native command from named fields (the docs/SPEC.md names).
fn build<C: NativeCommand>(
    op: &str,
    fields: &[(&str, FieldValue)],
    words: usize,
) -> Result<C, String> {
    let mut it = fields.iter().copied();
    C::from_fields(op, &mut it, words).map_err(|e| format!("{op}: {e:?}"))
}

/// The footprint of the Linux reference commands, built as native commands
/// by `make` and lifted by `lift`. The lifted ops are coalesced first (exact:
/// the batch keeps footprints) so that 2^18 per-page commands stay cheap.
fn ref_footprint<C>(
    l: &RefLowering,
    make: &dyn Fn(&RefForm) -> Result<C, String>,
    lift: &dyn Fn(&C, &mut Vec<Op>),
) -> Result<(usize, Footprint), String> {
    let mut ops = Vec::new();
    for c in &l.cmds {
        lift(&make(&c.form)?, &mut ops);
    }
    let mut scratch = vec![Inval::new(Caches::empty()); ops.len() + 3];
    let mut merged: Vec<Op> = Vec::new();
    coalesce(&ops, &mut scratch, BatchOptions::default(), &mut merged)
        .map_err(|e| format!("{e:?}"))?;
    Ok((
        l.count(),
        Footprint::of_ops(merged.iter(), &IdentityContext),
    ))
}

/// Linux's SMMUv3 commands for generic domain 1 / PASID 5 (VMID 1, ASID 5)
/// and device 0x10 (StreamID 0x10).
fn smmu_cmd(form: &RefForm, flavor: Flavor) -> Result<arm::Command, String> {
    let atc = |addr: u64, size: u8, pasid: bool| {
        build(
            "CMD_ATC_INV",
            &[
                ("ssv", b(pasid)),
                ("ssid", u(if pasid { 5 } else { 0 })),
                ("sid", u(0x10)),
                ("size", u(size.into())),
                ("address", u(addr)),
            ],
            2,
        )
    };
    match (*form, flavor) {
        (
            RefForm::SmmuVa {
                addr,
                num,
                scale,
                tg,
                ttl,
                leaf,
            },
            fl @ (Flavor::S1 | Flavor::S2),
        ) => {
            let mut f = vec![
                ("num", u(num.into())),
                ("scale", u(scale.into())),
                ("vmid", u(1)),
                ("leaf", b(leaf)),
                ("ttl", u(ttl.into())),
                ("tg", u(tg.into())),
                ("address", u(addr)),
            ];
            if fl == Flavor::S1 {
                f.push(("asid", u(5)));
                build("CMD_TLBI_NH_VA", &f, 2)
            } else {
                build("CMD_TLBI_S2_IPA", &f, 2)
            }
        }
        (RefForm::Wide, Flavor::S1) => {
            build("CMD_TLBI_NH_ASID", &[("vmid", u(1)), ("asid", u(5))], 2)
        }
        (RefForm::Wide, Flavor::S2) => build("CMD_TLBI_S12_VMALL", &[("vmid", u(1))], 2),
        (RefForm::SmmuAtc { addr, size }, Flavor::Ats) => atc(addr, size, false),
        (RefForm::SmmuAtc { addr, size }, Flavor::AtsPasid) => atc(addr, size, true),
        (RefForm::Wide, Flavor::Ats) => atc(0, 52, false),
        (RefForm::Wide, Flavor::AtsPasid) => atc(0, 52, true),
        (other, fl) => Err(format!("not an SMMU form for {fl:?}: {other:?}")),
    }
}

/// Linux's VT-d descriptors (256-bit) for domain 1 (DID 1) / PASID 5 and
/// device 0x10.
fn vtd_cmd(form: &RefForm, flavor: Flavor) -> Result<vtd::Command, String> {
    match (*form, flavor) {
        (RefForm::VtdPsi { addr, mask, ih }, Flavor::S1) => build(
            "p_iotlb_inv_dsc",
            &[
                ("g", u(3)),
                ("did", u(1)),
                ("pasid", u(5)),
                ("am", u(mask.into())),
                ("ih", b(ih)),
                ("address", u(addr)),
            ],
            4,
        ),
        (RefForm::VtdPsi { addr, mask, ih }, Flavor::S2) => build(
            "iotlb_inv_dsc",
            &[
                ("g", u(3)),
                ("did", u(1)),
                ("am", u(mask.into())),
                ("ih", b(ih)),
                ("address", u(addr)),
            ],
            4,
        ),
        (RefForm::Wide, Flavor::S1) => build(
            "p_iotlb_inv_dsc",
            &[("g", u(2)), ("did", u(1)), ("pasid", u(5))],
            4,
        ),
        (RefForm::Wide, Flavor::S2) => build("iotlb_inv_dsc", &[("g", u(2)), ("did", u(1))], 4),
        (RefForm::Ats { addr, s }, Flavor::Ats) => build(
            "dev_tlb_inv_dsc",
            &[("sid", u(0x10)), ("s", b(s)), ("address", u(addr))],
            4,
        ),
        (RefForm::Ats { addr, s }, Flavor::AtsPasid) => build(
            "p_dev_tlb_inv_dsc",
            &[
                ("sid", u(0x10)),
                ("pasid", u(5)),
                ("s", b(s)),
                ("address", u(addr)),
            ],
            4,
        ),
        (other, fl) => Err(format!("not a VT-d form for {fl:?}: {other:?}")),
    }
}

/// Linux's AMD INVALIDATE_IOMMU_PAGES / INVALIDATE_IOTLB_PAGES for domain 1
/// / PASID 5 / device 0x10. Linux always sets PDE (`build_inv_iommu_pages`:
/// "flush everything, not only the PTEs").
fn amd_cmd(form: &RefForm, flavor: Flavor) -> Result<amd::Command, String> {
    let (addr, s) = match *form {
        RefForm::AmdPages { addr, s } => (addr, s),
        RefForm::Wide => (0x7fff_ffff_ffff_f000, true),
        other => return Err(format!("not an AMD form: {other:?}")),
    };
    let gn = matches!(flavor, Flavor::S1 | Flavor::AtsPasid);
    let pasid = u(if gn { 5 } else { 0 });
    match flavor {
        Flavor::S1 | Flavor::S2 => build(
            "INVALIDATE_IOMMU_PAGES",
            &[
                ("pasid", pasid),
                ("domain_id", u(1)),
                ("s", b(s)),
                ("pde", b(true)),
                ("gn", b(gn)),
                ("address", u(addr)),
            ],
            2,
        ),
        Flavor::Ats | Flavor::AtsPasid => build(
            "INVALIDATE_IOTLB_PAGES",
            &[
                ("device_id", u(0x10)),
                ("pasid", pasid),
                ("s", b(s)),
                ("gn", b(gn)),
                ("address", u(addr)),
            ],
            2,
        ),
    }
}

/// The Linux RISC-V driver's IOTINVAL.VMA (`riscv_iommu_iotlb_inval`) for
/// PSCID 5. The driver runs a host domain (`GV` = 0); the request measured
/// here is domain 1's stage 1, so the same commands are built with `GV` = 1,
/// GSCID 1 (the GSCID work's nested form) and both sides use one ruler.
fn riscv_cmd(form: &RefForm) -> Result<riscv::Command, String> {
    let mut f = vec![
        ("gv", b(true)),
        ("gscid", u(1)),
        ("pscv", b(true)),
        ("pscid", u(5)),
    ];
    match *form {
        RefForm::RiscvPage { addr } => {
            f.push(("av", b(true)));
            f.push(("addr", u(addr)));
        }
        RefForm::Wide => {}
        other => return Err(format!("not a RISC-V form: {other:?}")),
    }
    build("iotinval_vma", &f, 2)
}

fn riscv_fp(c: &riscv::Command, out: &mut Vec<Op>) {
    let _ = riscv::A::lift(c, &IdentityContext, out);
}

fn arm_fp(c: &arm::Command, out: &mut Vec<Op>) {
    let _ = arm::A::lift(c, &IdentityContext, out);
}
fn vtd_fp(c: &vtd::Command, out: &mut Vec<Op>) {
    let _ = vtd::A::lift(c, &IdentityContext, out);
}
fn amd_fp(c: &amd::Command, out: &mut Vec<Op>) {
    let _ = amd::A::lift(c, &IdentityContext, out);
}

/// The efficiency targets: `(label, flavor, library, Linux reference, note)`.
pub fn for_each_efficiency_target(
    f: &mut dyn FnMut(&str, Flavor, &LibLower<'_>, &LinuxLower<'_>, &str),
) {
    let scaps = arm::Host::default();
    let no_ril = arm::Host {
        features: arm::Features {
            ril: false,
            ..scaps.features
        },
        ..scaps
    };
    let note = format!("cap {}", scaps.budget.cap());
    let rows = [
        ("smmuv3 RIL, stage 1 (NH_VA)", Flavor::S1),
        ("smmuv3 RIL, stage 2 (S2_IPA)", Flavor::S2),
    ];
    let tlbi = |ril| move |iova, size, g, _| linux::smmu_tlbi(iova, size, g, 12, ril, size != 0);
    let smmu = Reference {
        reference: &tlbi(true),
        make: smmu_cmd,
        lift: arm_fp,
    };
    smmu.targets(f, &rows, &arm::lib_lower(scaps), &note);
    let rows = [("smmuv3 no RIL, stage 1 (NH_VA)", Flavor::S1)];
    let smmu_no_ril = Reference {
        reference: &tlbi(false),
        ..smmu
    };
    smmu_no_ril.targets(f, &rows, &arm::lib_lower(no_ril), &note);
    let rows = [("smmuv3 no RIL, stage 1, vs Linux SVA path", Flavor::S1)];
    let sva = Reference {
        reference: &|iova, size, _, _| linux::smmu_sva_leaf(iova, size, false),
        ..smmu
    };
    let sva_note = format!("{note}; Linux: ASID-wide from 512 pages, 4 KiB steps");
    sva.targets(f, &rows, &arm::lib_lower(no_ril), &sva_note);
    let rows = [
        ("smmuv3 ATC_INV (ssv=0)", Flavor::Ats),
        ("smmuv3 ATC_INV (ssv=1)", Flavor::AtsPasid),
    ];
    let atc = Reference {
        reference: &|iova, size, _, _| linux::smmu_atc(iova, size),
        ..smmu
    };
    atc.targets(f, &rows, &arm::lib_lower(scaps), &note);

    let vcaps = vtd::Host::default();
    let mamv = u32::from(vcaps.features.mamv);
    let note = format!("MAMV {mamv}, cap {}", vcaps.budget.cap());
    let rows = [
        ("vtd device TLB (dev_tlb)", Flavor::Ats),
        ("vtd device TLB (p_dev_tlb)", Flavor::AtsPasid),
        ("vtd first level (p_iotlb)", Flavor::S1),
        ("vtd second level (iotlb)", Flavor::S2),
    ];
    let vtd_ref = Reference {
        reference: &|iova, size, _, flavor| match flavor {
            Flavor::Ats | Flavor::AtsPasid => linux::vtd_dev_tlb(iova, size),
            Flavor::S1 | Flavor::S2 => {
                linux::vtd_iotlb(iova, size, mamv, flavor == Flavor::S1, size != 0)
            }
        },
        make: vtd_cmd,
        lift: vtd_fp,
    };
    vtd_ref.targets(f, &rows, &vtd::lib_lower(vcaps), &note);

    let acaps = amd::Host::default();
    let note = format!("cap {}", acaps.budget.cap());
    let rows = [
        ("amd host (gn=0)", Flavor::S2),
        ("amd guest (gn=1)", Flavor::S1),
        ("amd device TLB (IOTLB_PAGES gn=0)", Flavor::Ats),
        ("amd device TLB (IOTLB_PAGES gn=1)", Flavor::AtsPasid),
    ];
    let amd_ref = Reference {
        reference: &|iova, size, _, _| linux::amd_iommu_pages(iova, size),
        make: amd_cmd,
        lift: amd_fp,
    };
    amd_ref.targets(f, &rows, &amd::lib_lower(acaps), &note);

    let rcaps = riscv::Host::default();
    let v10 = riscv::Host {
        features: riscv::Features {
            s: false,
            nl: false,
            ..rcaps.features
        },
        ..rcaps
    };
    let note = format!(
        "cap {}; Linux: per page below 2 MiB, PSCID-wide above",
        rcaps.budget.cap()
    );
    let riscv_ref = Reference {
        reference: &|iova, size, _, _| linux::riscv_iotinval(iova, size),
        make: |form, _| riscv_cmd(form),
        lift: riscv_fp,
    };
    for (label, caps) in [
        ("riscv S+NL, stage 1 (IOTINVAL.VMA)", rcaps),
        ("riscv v1.0 (no S/NL), stage 1 (IOTINVAL.VMA)", v10),
    ] {
        riscv_ref.targets(f, &[(label, Flavor::S1)], &riscv::lib_lower(caps), &note);
    }
}

/// Linux's lowering for one architecture: `reference(iova, size,
/// granule, flavor)`, its commands built by `make` and lifted by `lift`.
struct Reference<'a, C> {
    reference: &'a dyn Fn(u64, u64, u64, Flavor) -> RefLowering,
    make: fn(&RefForm, Flavor) -> Result<C, String>,
    lift: fn(&C, &mut Vec<Op>),
}

impl<C> Clone for Reference<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C> Copy for Reference<'_, C> {}

impl<C> Reference<'_, C> {
    /// One target per `(label, flavor)`: the library's lowering `lib`
    /// against this reference.
    fn targets(
        &self,
        f: &mut dyn FnMut(&str, Flavor, &LibLower<'_>, &LinuxLower<'_>, &str),
        rows: &[(&str, Flavor)],
        lib: &LibLower<'_>,
        note: &str,
    ) {
        for &(label, flavor) in rows {
            let linux = |iova: u64, size: u64, g: u64| {
                let l = (self.reference)(iova, size, g, flavor);
                ref_footprint(&l, &|form| (self.make)(form, flavor), &self.lift)
            };
            f(label, flavor, lib, &linux, note);
        }
    }
}

/// Coalesce without lowering: the number of generic ops out.
pub fn coalesce_count(ops: &[Op]) -> usize {
    let mut scratch = vec![Inval::new(Caches::empty()); ops.len() * 3 + 3];
    let mut out: Vec<Op> = Vec::new();
    coalesce(ops, &mut scratch, BatchOptions::default(), &mut out).map_or(0, |s| s.output_ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_streams_load_and_decode() {
        assert!(arm::example_commands().len() >= 10);
        assert!(amd::example_commands().len() >= 10);
        let v = vtd::example_commands();
        assert!(v.iter().any(|w| w.len() == 2) && v.iter().any(|w| w.len() == 4));
        assert_eq!(arm::queue(4096, 2).len(), 8192);
        assert_eq!(vtd::queue(4096, 4).len(), 16384);
        assert!(!arm::example_ops().is_empty());
        assert!(riscv::example_commands().len() >= 20);
        assert!(!riscv::example_ops().is_empty());
    }

    #[test]
    fn parse_skips_comments_and_wrong_lengths() {
        let t = "# c\n\n0x1,0x2\n3,4,5\nzz,1\n0X0a, 0b\n";
        assert_eq!(parse_cmds(t, 2), vec![vec![1, 2], vec![10, 11]]);
    }
}
