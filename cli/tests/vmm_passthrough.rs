//! The `vmm_passthrough` example as a test, for the twelve ordered pairs of
//! architectures: a guest driver's real stream in a `GuestMemoryMmap`, the
//! guest IOMMU's front end, the lower-to-host back end writing a host
//! queue, the host IOMMU's front end consuming it, and the guest's
//! completions in its memory. The host's invalidations cover the guest's
//! (footprints, as `convert --explain` measures them).

// The binary's private modules, compiled from source.
#[allow(dead_code)]
#[path = "../src/app/mod.rs"]
mod app;

#[allow(dead_code)]
#[path = "../../facade/examples/vmm_passthrough.rs"]
mod scenario;

use app::explain::input_footprint;
use iommu_inval::core::device::{BackendError, FaultCause};
use iommu_inval::core::footprint::Footprint;
use iommu_inval::core::ArchId;
use iommu_inval::{Arch, ArchOps};

#[test]
fn all_pairs_end_to_end() {
    let pairs: Vec<_> = scenario::pairs().collect();
    assert_eq!(pairs.len(), 12);
    let ctx = scenario::topology();
    for (g, h) in pairs {
        let r = scenario::scenario(g, h).unwrap_or_else(|e| panic!("{g} -> {h}: {e}"));
        let p = &r.progress;
        let what = format!("{g} -> {h}: {p:?}");
        if h == ArchId::Riscv && matches!(g, ArchId::Vtd | ArchId::Amd) {
            // The VT-d stream's global IOTLB flush and the AMD stream's
            // INVALIDATE_IOMMU_ALL invalidate stage 1 of every domain, which
            // no RISC-V command names (IOTINVAL.VMA: the host or one GSCID):
            // the host refuses it rather than under-invalidate, and the
            // guest's queue stops at that command with its illegal-command
            // error, everything before it carried out.
            let f = p
                .fault
                .unwrap_or_else(|| panic!("{what}: expected the refusal"));
            assert!(
                matches!(f.cause, FaultCause::Backend(BackendError::Failed(why)) if why.contains("every VM")),
                "{what}"
            );
            assert!(
                f.stopped && (p.consumed as usize) < r.written && p.completions > 0,
                "{what}"
            );
            continue;
        }
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
            ArchId::Riscv => fout.fold_regimes(true),
            _ => fout.fold_regimes(false),
        };
        assert!(fout.covers(&fin), "{what}: host under-invalidates");
    }
}

#[test]
fn same_architecture_passthrough_is_exact_in_count() {
    for a in scenario::RING_ARCHES {
        let r = scenario::scenario(a, a).unwrap();
        assert!(r.progress.fault.is_none(), "{a}: {:?}", r.progress);
        assert_eq!(r.progress.consumed as usize, r.written);
    }
}

mod vm_memory_errors {
    use iommu_inval::amd::queue::CmdBufDevice;
    use iommu_inval::arm::queue::CmdqDevice;
    use iommu_inval::core::device::{ArchError, CommandQueue, CountingBackend, FaultCause};
    use iommu_inval::core::queue::VmMemory;
    use iommu_inval::core::{IdentityContext, QueueMemory};
    use iommu_inval::vtd::queue::InvQueue;
    use vm_memory::{GuestAddress, GuestMemoryMmap};

    /// 64 KiB of RAM at 0x10000; everything else unmapped.
    fn ram() -> GuestMemoryMmap<()> {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0x1_0000), 0x1_0000)]).unwrap()
    }

    fn fetch_fault<Q: CommandQueue>(base: u64, tail: u64) -> (&'static str, FaultCause) {
        let gm = ram();
        let mut q = Q::from_registers(base, 0, 0).unwrap_or_else(|e| panic!("{e}"));
        q.doorbell(tail);
        let p = q.process(
            &VmMemory(&gm),
            &IdentityContext,
            &mut CountingBackend::default(),
        );
        let f = p.fault.expect("a fetch from unmapped memory must fault");
        (f.hw.name(), f.cause)
    }

    #[test]
    fn unmapped_queue_is_each_architectures_fetch_abort() {
        let unmapped = 0x4000_0000;
        for (hw, cause) in [
            fetch_fault::<CmdqDevice>(unmapped | 4, 1),
            fetch_fault::<InvQueue>(unmapped, 0x10),
            fetch_fault::<CmdBufDevice>(8 << 56 | unmapped, 0x10),
        ] {
            assert!(matches!(cause, FaultCause::Fetch(e) if e.addr == unmapped && !e.write));
            assert!(matches!(
                hw,
                "CERROR_ABT" | "FSTS.IQE" | "COMMAND_HARDWARE_ERROR"
            ));
        }
        // A two-page VT-d queue whose second page lies past the end of RAM:
        // the last descriptor of the first page runs, the next one aborts.
        let gm = ram();
        let mem = VmMemory(&gm);
        mem.write_words(0x1_fff0, &[0x12, 0]).unwrap(); // iotlb_inv_dsc, global
        let mut q = InvQueue::from_registers(0x1_f000 | 1, 0xff0, 0x1010).unwrap();
        let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
        let f = p.fault.unwrap();
        assert_eq!((p.consumed, q.iqh, q.iqercd & 0xf), (1, 0x1000, 2));
        assert!(matches!(f.cause, FaultCause::Fetch(e) if e.addr == 0x2_0000));
    }

    #[test]
    fn unmapped_completion_store_through_vm_memory() {
        let gm = ram();
        let mem = VmMemory(&gm);
        // SMMUv3 CMD_SYNC SIG_IRQ with its MSI to unmapped memory: recorded,
        // the CMD_SYNC completes.
        mem.write_words(0x1_0000, &[0x46 | 1 << 12, 0x9000_0000])
            .unwrap();
        let mut q = CmdqDevice::from_registers(0x1_0000 | 4, 0, 1).unwrap();
        let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
        let f = p.fault.unwrap();
        assert_eq!(
            (f.hw, f.stopped, p.consumed),
            (iommu_inval::arm::queue::HwError::MsiCmdqAbt, false, 1)
        );
        // VT-d inv_wait SW to unmapped memory: IQE at the descriptor.
        mem.write_words(0x1_0000, &[0x5 | 1 << 5, 0x9000_0000])
            .unwrap();
        let mut q = InvQueue::from_registers(0x1_0000, 0, 0x10).unwrap();
        let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
        let f = p.fault.unwrap();
        assert_eq!(
            (f.hw, f.stopped, q.iqh),
            (iommu_inval::vtd::queue::HwError::Iqe, true, 0)
        );
        assert!(
            matches!(f.cause, FaultCause::CompletionStore(e) if e.write && e.addr == 0x9000_0000)
        );
    }
}
