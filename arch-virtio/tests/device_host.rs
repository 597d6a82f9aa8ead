//! A guest virtio-iommu driver's stream, as Linux's driver issues it (PROBE,
//! ATTACH, MAPs, UNMAPs, DETACH), through the virtqueue device into a host
//! SMMUv3 command queue and a host VT-d invalidation queue
//! (`core::device::LowerToHost`): the host commands, lifted back by the
//! host queue's own front end, cover every invalidation the device handed
//! over, barrier by barrier.
#![cfg(feature = "virtqueue")]

use iommu_inval_arm::queue::CmdqDevice;
use iommu_inval_core::device::{
    Backend, BackendError, LowerToHost, QueueProducer, Record, RecordingBackend,
};
use iommu_inval_core::footprint::Footprint;
use iommu_inval_core::model::Op;
use iommu_inval_core::{CellMemory, IdentityContext};
use iommu_inval_virtio::device::{DeviceConfig, NoMapper, VirtioIommuDevice};
use iommu_inval_virtio::status::Status;
use iommu_inval_virtio::*;
use iommu_inval_vtd::queue::InvQueue;
use std::cell::RefCell;
use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const HOST: u64 = 0x2000;

fn bytes(c: impl Into<Command>) -> Vec<u8> {
    let c = c.into();
    let mut b = [0u8; MAX_BYTES];
    let n = c.encode_bytes_into(&mut b).unwrap();
    b[..n].to_vec()
}

/// Linux's stream for endpoint 8: PROBE, ATTACH to domain 1, MAPs, UNMAPs
/// (one per MAP, and one over several), then a second endpoint joins and
/// leaves, then DETACH at removal. Each with its writable length.
fn linux_stream() -> Vec<(Vec<u8>, u32)> {
    let rw = MAP_F_READ | MAP_F_WRITE;
    let map = |s: u64, e: u64, p: u64| {
        bytes(Map {
            domain: 1,
            virt_start: s,
            virt_end: e,
            phys_start: p,
            flags: rw,
            ..Map::default()
        })
    };
    let unmap = |s: u64, e: u64| {
        bytes(Unmap {
            domain: 1,
            virt_start: s,
            virt_end: e,
            ..Unmap::default()
        })
    };
    let attach = |d: u32, ep: u32| {
        bytes(Attach {
            domain: d,
            endpoint: ep,
            ..Attach::default()
        })
    };
    let detach = |d: u32, ep: u32| {
        bytes(Detach {
            domain: d,
            endpoint: ep,
            ..Detach::default()
        })
    };
    let mut s = vec![
        (
            bytes(Probe {
                endpoint: 8,
                ..Probe::default()
            }),
            28,
        ),
        (attach(1, 8), 4),
    ];
    for k in 0..8u64 {
        s.push((
            map(
                0x10_0000 + k * 0x1000,
                0x10_0fff + k * 0x1000,
                0x4000_0000 + k * 0x1000,
            ),
            4,
        ));
    }
    s.push((map(0x20_0000, 0x3f_ffff, 0x8000_0000), 4));
    s.push((unmap(0x10_0000, 0x10_0fff), 4));
    s.push((unmap(0x10_1000, 0x10_7fff), 4));
    s.push((attach(1, 9), 4));
    s.push((unmap(0x20_0000, 0x3f_ffff), 4));
    s.push((detach(1, 9), 4));
    s.push((detach(1, 8), 4));
    s
}

/// Run the stream through the device into `backend`; every answer S_OK.
fn run<B: Backend>(backend: &mut B) {
    let m = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
    let mock = MockSplitQueue::create(&m, GuestAddress(0), 64);
    let mut q: Queue = mock.create_queue().unwrap();
    // Clear of the available ring (virtio-queue 0.18's mock places the used
    // ring over the second half of its entries).
    q.set_used_ring_address(Some(0x2000), Some(0));
    let mut dev = VirtioIommuDevice::new(DeviceConfig::cloud_hypervisor(vec![8, 9])).unwrap();
    for (k, (r, wlen)) in linux_stream().into_iter().enumerate() {
        // Linux's framing: the readable part, then the writable part.
        let (ra, wa) = (0x1_0000 + 0x200 * k as u64, 0x1_0100 + 0x200 * k as u64);
        m.write_slice(&r, GuestAddress(ra)).unwrap();
        let at = (2 * k % 64) as u16;
        let descs = [
            RawDescriptor::from(SplitDescriptor::new(ra, r.len() as u32, 1, at + 1)),
            RawDescriptor::from(SplitDescriptor::new(wa, wlen, 2, 0)),
        ];
        mock.add_desc_chains(&descs, at).unwrap();
        let p = dev
            .process_requestq(&mut q, &m, &IdentityContext, backend, &mut NoMapper)
            .unwrap();
        let mut t = [0u8; 4];
        m.read_slice(&mut t, GuestAddress(wa + u64::from(wlen) - 4))
            .unwrap();
        assert_eq!((p.chains, p.ok), (1, 1), "request {k}: {t:?}");
        let mut t = [0u8; 4];
        m.read_slice(&mut t, GuestAddress(wa + u64::from(wlen) - 4))
            .unwrap();
        assert_eq!(t, Status::Ok.tail(), "request {k}");
    }
}

/// The guest's invalidations, one list per barrier.
fn guest_ops() -> Vec<Vec<Op>> {
    let mut rec = RecordingBackend::default();
    run(&mut rec);
    let mut out = vec![vec![]];
    for r in rec.records() {
        match r {
            Record::Batch(ops) => out.last_mut().unwrap().extend_from_slice(ops),
            Record::Barrier(_) => out.push(vec![]),
        }
    }
    out.pop();
    out
}

/// The host's commands, lifted back by its own front end, one list per
/// guest barrier (each barrier kicks the host), and the count written.
fn host_ops<Q: QueueProducer>(base: u64) -> (Vec<Vec<Op>>, u64) {
    let mut hbytes = vec![0u8; 0x1_0000];
    let hmem = CellMemory::new(0, &mut hbytes);
    let q = Q::from_registers(base, 0, 0).unwrap();
    let seen = RefCell::new(RecordingBackend::default());
    let per_barrier = RefCell::new(Vec::<Vec<Op>>::new());
    let kick = |q: &mut Q, m: &CellMemory<'_>| {
        let p = q.process(m, &IdentityContext, &mut *seen.borrow_mut());
        if p.fault.is_some() {
            return Err(BackendError::Failed("host fault"));
        }
        let mut s = seen.borrow_mut();
        per_barrier.borrow_mut().push(s.ops().copied().collect());
        s.clear();
        Ok(())
    };
    let mut be = LowerToHost::new(q, &hmem, &IdentityContext, kick);
    run(&mut be);
    let n = be.commands;
    drop(be);
    (per_barrier.into_inner(), n)
}

fn check<Q: QueueProducer>(base: u64, name: &str) {
    let guest = guest_ops();
    // ATTACH, UNMAP ×3, ATTACH, UNMAP... one barrier per request that
    // invalidates: ATTACH ×2, UNMAP ×3, DETACH ×2.
    assert_eq!(guest.len(), 7);
    let (host, commands) = host_ops::<Q>(base);
    assert_eq!(
        host.len(),
        guest.len(),
        "{name}: one host kick per guest barrier"
    );
    for (k, (g, h)) in guest.iter().zip(&host).enumerate() {
        let fg = Footprint::of_ops(g, &IdentityContext);
        let fh = Footprint::of_ops(h, &IdentityContext);
        assert!(
            fh.covers(&fg),
            "{name}: barrier {k}: host {h:?} does not cover {g:?}"
        );
    }
    assert!(commands > 7, "{name}: {commands} host commands");
    println!("{name}: {commands} host commands for the Linux stream");
}

#[test]
fn linux_stream_into_a_host_smmuv3() {
    check::<CmdqDevice>(HOST | 8, "SMMUv3");
}

#[test]
fn linux_stream_into_a_host_vtd() {
    check::<InvQueue>(HOST | 1 << 11, "VT-d");
}
