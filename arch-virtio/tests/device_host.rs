//! The `virtio_passthrough` example as a test: a guest virtio-iommu
//! driver's stream, as Linux's driver issues it (PROBE, ATTACH, MAPs,
//! UNMAPs, DETACH), through the virtqueue device into a host SMMUv3 command
//! queue and a host VT-d invalidation queue (`core::device::LowerToHost`):
//! every request answered S_OK, one host sync per guest barrier, and the
//! host commands, lifted back by the host queue's own front end, cover
//! every invalidation the device handed over, barrier by barrier.
#![cfg(feature = "virtqueue")]

#[allow(dead_code)]
#[path = "../examples/virtio_passthrough.rs"]
mod scenario;

use iommu_inval_arm::queue::CmdqDevice;
use iommu_inval_core::device::QueueProducer;
use iommu_inval_core::footprint::Footprint;
use iommu_inval_core::IdentityContext;
use iommu_inval_virtio::status::Status;
use iommu_inval_virtio::Command;
use iommu_inval_vtd::queue::InvQueue;

fn check<Q: QueueProducer + Copy>(base: u64, name: &str, sync: &str) {
    let steps = scenario::run::<Q>(base).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(steps.len(), scenario::linux_stream().len());
    let mut barriers = 0;
    let mut commands = 0;
    for (k, s) in steps.iter().enumerate() {
        for (c, st) in &s.requests {
            assert_eq!(*st, Some(Status::Ok), "{name}: kick {k}: {c:?}");
        }
        // One host kick (ending in the host's sync) per guest barrier.
        assert_eq!(s.host_commands.len(), s.guest_ops.len(), "{name}: kick {k}");
        assert_eq!(s.host_ops.len(), s.guest_ops.len(), "{name}: kick {k}");
        for ((g, h), cmds) in s.guest_ops.iter().zip(&s.host_ops).zip(&s.host_commands) {
            assert!(
                cmds.last().is_some_and(|c| c.starts_with(sync)),
                "{name}: {cmds:?}"
            );
            let fg = Footprint::of_ops(g, &IdentityContext);
            let fh = Footprint::of_ops(h, &IdentityContext);
            assert!(
                fh.covers(&fg),
                "{name}: kick {k}: host {h:?} does not cover {g:?}"
            );
            commands += cmds.len();
        }
        barriers += s.guest_ops.len();
        // MAP and PROBE invalidate nothing; ATTACH, UNMAP and DETACH do.
        let invalidates = s.requests.iter().any(|(c, _)| {
            matches!(
                c,
                Command::Attach(_) | Command::Unmap(_) | Command::Detach(_)
            )
        });
        assert_eq!(invalidates, !s.guest_ops.is_empty(), "{name}: kick {k}");
    }
    // ATTACH ×2, UNMAP ×3, DETACH ×2.
    assert_eq!(barriers, 7, "{name}");
    assert!(commands > 2 * barriers, "{name}: {commands} host commands");
}

#[test]
fn linux_stream_into_a_host_smmuv3() {
    check::<CmdqDevice>(scenario::SMMUV3_HOST, "SMMUv3", "CmdSync");
}

#[test]
fn linux_stream_into_a_host_vtd() {
    check::<InvQueue>(scenario::VTD_HOST, "VT-d", "InvWait");
}
