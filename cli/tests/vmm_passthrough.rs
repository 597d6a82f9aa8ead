//! The `vmm_passthrough` example as a test, for the six ordered pairs of
//! architectures: a guest driver's real stream in a `GuestMemoryMmap`, the
//! guest IOMMU's front end, the lower-to-host back end writing a host
//! queue, the host IOMMU's front end consuming it, and the guest's
//! completions in its memory. The host's invalidations cover the guest's
//! (footprints, as `convert --explain` measures them).

#[allow(dead_code)]
#[path = "../examples/vmm_passthrough.rs"]
mod scenario;

use iommu_inval::core::footprint::Footprint;
use iommu_inval::core::ArchId;
use iommu_inval::explain::input_footprint;
use iommu_inval::{Arch, ArchOps};

#[test]
fn six_pairs_end_to_end() {
    let pairs: Vec<_> = scenario::pairs().collect();
    assert_eq!(pairs.len(), 6);
    let ctx = scenario::topology();
    for (g, h) in pairs {
        let r = scenario::scenario(g, h).unwrap_or_else(|e| panic!("{g} -> {h}: {e}"));
        let p = &r.progress;
        let what = format!("{g} -> {h}: {p:?}");
        assert!(p.fault.is_none(), "{what}");
        assert_eq!(p.consumed as usize, r.written, "{what}");
        assert!(p.completions > 0 && p.batches > 0, "{what}");
        assert!(r.syncs_with_store > 0, "{what}");
        assert_eq!(
            r.stores.0, r.stores.1,
            "{what}: a completion status did not land"
        );
        // Everything written to the host queue was consumed by the host,
        // and every guest barrier became a completed host sync.
        assert_eq!(
            u64::from(r.host_progress.consumed),
            r.host_commands,
            "{what}"
        );
        assert!(r.host_progress.completions >= p.completions, "{what}");
        // The host removed at least what the guest asked for.
        let target = Arch::new(h);
        let fin = input_footprint(h, target.lacks(), &r.guest_ops, &ctx);
        let fout = Footprint::of_ops(&r.host_ops, &ctx);
        let fout = match h {
            ArchId::Smmuv3 => fout,
            _ => fout.project_single_regime(),
        };
        assert!(fout.covers(&fin), "{what}: host under-invalidates");
    }
}

#[test]
fn same_architecture_passthrough_is_exact_in_count() {
    for a in ArchId::ALL {
        let r = scenario::scenario(a, a).unwrap();
        assert!(r.progress.fault.is_none(), "{a}: {:?}", r.progress);
        assert_eq!(r.progress.consumed as usize, r.written);
    }
}
