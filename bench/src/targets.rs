//! One module per architecture with the same shape, so that the benches,
//! the efficiency report and the allocation test treat them alike.

use iommu_inval_core::batch::{coalesce, lower_batch, BatchOptions, BatchStats};
use iommu_inval_core::footprint::Footprint;
use iommu_inval_core::model::{Caches, Inval, Op};
use iommu_inval_core::sink::Sink;
use iommu_inval_core::IdentityContext;

use crate::efficiency::{refs, Flavor, LibLower, LinuxLower};

use crate::streams;

macro_rules! target {
    ($name:ident, $krate:ident, $words:expr, $label:expr) => {
        /// Wrappers over one architecture crate.
        pub mod $name {
            use super::*;
            pub use $krate::{footprint, lift, lower, Caps, Command};

            /// Architecture name as the CLI spells it.
            pub const NAME: &str = $label;
            /// Words per command with the default capabilities.
            pub const WORDS: usize = $words;

            /// The first `WORDS` words of `c`'s encoding.
            pub fn words_of(c: &Command) -> [u64; WORDS] {
                let e = c.encode();
                let mut w = [0u64; WORDS];
                for (d, s) in w.iter_mut().zip(e.iter()) {
                    *d = *s;
                }
                w
            }

            /// Lower every op with `caps` (ops without an equivalent are skipped).
            pub fn lower_all(ops: &[Op], caps: &Caps) -> Vec<Command> {
                let mut out = Vec::new();
                for op in ops {
                    let mut one: Vec<Command> = Vec::new();
                    if lower(op, caps, &IdentityContext, &mut one).is_ok() {
                        out.extend(one);
                    }
                }
                out
            }

            /// `n` native commands: the codec mix lowered with the default
            /// capabilities, repeated.
            pub fn queue(n: usize) -> Vec<[u64; WORDS]> {
                let cmds = lower_all(&streams::codec_mix(1), &Caps::default());
                cmds.iter().cycle().take(n).map(words_of).collect()
            }

            /// The commands of [`queue`], decoded.
            pub fn commands(n: usize) -> Vec<Command> {
                queue(n)
                    .iter()
                    .filter_map(|w| Command::decode(w).ok())
                    .collect()
            }

            /// The library under test for the efficiency report.
            pub fn lib_lower(caps: Caps) -> impl Fn(&Op) -> Result<(usize, Footprint), String> {
                move |op: &Op| {
                    let mut out: Vec<Command> = Vec::new();
                    lower(op, &caps, &IdentityContext, &mut out).map_err(|e| e.to_string())?;
                    let mut fp = Footprint::new();
                    for c in &out {
                        fp.extend(&footprint(c, &IdentityContext));
                    }
                    Ok((out.len(), fp))
                }
            }

            /// Native commands for `ops` lowered one seed request at a time
            /// (each op coalesced alone: its stages and syncs), and as one
            /// batch; plus the batch statistics and whether the batch output
            /// covers the input's footprint (never under-invalidates).
            pub fn batch_counts(ops: &[Op]) -> (usize, usize, BatchStats, bool) {
                let caps = Caps::default();
                let mut scratch = vec![Inval::new(Caches::empty()); ops.len() * 3 + 3];
                let mut one_by_one: Vec<Command> = Vec::new();
                for op in ops {
                    let f = |o: &Op, out: &mut dyn Sink<Command>| {
                        lower(o, &caps, &IdentityContext, out)
                    };
                    let _ = lower_batch(
                        core::slice::from_ref(op),
                        &mut scratch,
                        BatchOptions::default(),
                        f,
                        &mut one_by_one,
                    );
                }
                let mut batched: Vec<Command> = Vec::new();
                let f =
                    |o: &Op, out: &mut dyn Sink<Command>| lower(o, &caps, &IdentityContext, out);
                let stats =
                    lower_batch(ops, &mut scratch, BatchOptions::default(), f, &mut batched)
                        .map(|(_, s)| s)
                        .unwrap_or_default();
                let mut fp = Footprint::new();
                for c in &batched {
                    fp.extend(&footprint(c, &IdentityContext));
                }
                let asked = Footprint::of_ops(ops.iter(), &IdentityContext);
                (one_by_one.len(), batched.len(), stats, fp.covers(&asked))
            }
        }
    };
}

target!(amd, iommu_inval_amd, 2, "amd");
target!(vtd, iommu_inval_vtd, 4, "vtd");

/// The efficiency targets: `(label, flavor, library, Linux reference, note)`.
pub fn for_each_efficiency_target(
    f: &mut dyn FnMut(&str, Flavor, &LibLower<'_>, &LinuxLower<'_>, &str),
) {
    let vcaps = vtd::Caps::default();
    let mamv = u32::from(vcaps.mamv);
    let note = format!("MAMV {mamv}, cap {}", vcaps.max_cmds);
    f(
        "vtd first level (p_iotlb)",
        Flavor::S1,
        &vtd::lib_lower(vcaps),
        &refs::vtd(mamv, true),
        &note,
    );
    f(
        "vtd second level (iotlb)",
        Flavor::S2,
        &vtd::lib_lower(vcaps),
        &refs::vtd(mamv, false),
        &note,
    );
    let acaps = amd::Caps::default();
    let note = format!("cap {}", acaps.max_cmds);
    f(
        "amd host (gn=0)",
        Flavor::S2,
        &amd::lib_lower(acaps),
        &refs::amd(),
        &note,
    );
    f(
        "amd guest (gn=1)",
        Flavor::S1,
        &amd::lib_lower(acaps),
        &refs::amd(),
        &note,
    );
}

/// Coalesce without lowering (for tests and the generic figures).
pub fn coalesce_count(ops: &[Op]) -> usize {
    let mut scratch = vec![Inval::new(Caches::empty()); ops.len() * 3 + 3];
    let mut out: Vec<Op> = Vec::new();
    coalesce(ops, &mut scratch, BatchOptions::default(), &mut out).map_or(0, |s| s.output_ops)
}
