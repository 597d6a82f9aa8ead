//! One call from a native command of one architecture to the commands of
//! another (or the same one with other host caps): lift it through the
//! context, lower every generic op to the target, keep going past an op
//! the target refuses. What `iommu-inval convert` does per input, for an
//! emulator that would otherwise copy it.
//!
//! ```
//! use iommu_inval::{convert, Arch, ArchOps, AnyCommand};
//! use iommu_inval::core::{ArchId, IdentityContext};
//! // An SMMUv3 CMD_TLBI_NH_ASID (VMID 1, ASID 6) for a VT-d host.
//! let guest = Arch::new(ArchId::Smmuv3);
//! let host = Arch::new(ArchId::Vtd);
//! let cmd = guest.decode(&[0x0006_0001_0000_0011, 0]).unwrap();
//! let mut out = Vec::new();
//! let c = convert(&cmd, &host, &IdentityContext, &mut out).unwrap();
//! assert!(c.errors.is_empty());
//! assert_eq!(out[0].op(), "p_iotlb_inv_dsc");
//! assert_eq!(c.outcome().emitted, out.len());
//! ```

use crate::{AnyCommand, Arch, ArchOps, NativeAny};
use iommu_inval_core::{Context, LowerError, Op, Outcome};

/// The ops `convert` makes room for before lifting: what `Vec` would grow
/// to at the first push (4 for elements of 1 KiB or less).
const OPS: usize = 4;

/// What one command became on the target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Converted {
    /// The generic ops of the input (its lift), in order.
    pub ops: Vec<Op>,
    /// What the lift widened or dropped (ids the context does not know).
    pub lifted: Outcome,
    /// What the lowering widened or dropped; `emitted` counts the commands
    /// appended to the output.
    pub lowered: Outcome,
    /// Ops the target cannot express (rule 2 of the design: `no_equivalent`),
    /// in order. The commands a refused op emitted before failing stay in
    /// the output: they remove entries that must go anyway.
    pub errors: Vec<LowerError>,
}

impl Converted {
    /// Lift and lowering together: every widening, the first drop, the
    /// commands emitted.
    pub fn outcome(&self) -> Outcome {
        let mut o = self.lifted;
        o.emitted = 0;
        o.merge(self.lowered);
        o
    }
}

/// Convert `cmd` to the architecture `to` (with its host capabilities),
/// appending the commands to `out`. `Err` when the input itself does not
/// lift (a command with no generic meaning, such as a stall resume on an
/// architecture without one); a target that refuses some op is reported in
/// [`Converted::errors`] and the other ops are still lowered.
pub fn convert(
    cmd: &NativeAny,
    to: &Arch,
    ctx: &dyn Context,
    out: &mut Vec<NativeAny>,
) -> Result<Converted, LowerError> {
    // The capacity `Vec` gives an op at its first push (4 for a 72-byte
    // `Op`), allocated here without its growth path: every command lifts
    // to one op or more but a few.
    let mut c = Converted {
        ops: Vec::with_capacity(OPS),
        ..Converted::default()
    };
    c.lifted = cmd.lift(ctx, &mut c.ops)?;
    let start = out.len();
    for op in &c.ops {
        match to.lower(op, ctx, out) {
            Ok(o) => c.lowered.merge(o),
            Err(e) => c.errors.push(e),
        }
    }
    // `merge` sums what each op reported; keep it equal to what is held.
    c.lowered.emitted = out.len() - start;
    Ok(c)
}
