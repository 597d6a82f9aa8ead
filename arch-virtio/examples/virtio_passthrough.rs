//! A VMM passes a guest's virtio-iommu requests through to a host IOMMU,
//! end to end (the virtio-iommu counterpart of the facade's
//! `vmm_passthrough` example):
//!
//! 1. a simulated guest runs Linux's virtio-iommu driver: the requests in
//!    the order and sizes `drivers/iommu/virtio-iommu.c` issues them —
//!    PROBE of each endpoint before its ATTACH (readable 72 bytes, writable
//!    `probe_size` + 4), ATTACH (20 + 4), MAPs queued and kicked together
//!    at `iotlb_sync_map` (36 + 4), one UNMAP per `unmap_pages` kicked at
//!    `iotlb_sync` (28 + 4), a second device joining the domain, DETACH of
//!    each endpoint at removal (20 + 4) — each as two descriptors (the
//!    readable part, then the writable part) in a virtqueue in a rust-vmm
//!    `GuestMemoryMmap`, and notifies the device;
//! 2. the virtio-iommu device (`VirtioIommuDevice::process_requestq`) pops
//!    the chains, executes the requests (its mapping table; a VMM's VFIO
//!    containers would be its `DmaMapper`), lifts what they invalidate and
//!    hands it to the back end, then writes each status;
//! 3. the back end (`LowerToHost`) lowers the invalidations to the host
//!    IOMMU's commands, writes them into a host queue with a host sync at
//!    each guest barrier and kicks the host: here the host IOMMU is the
//!    same library's SMMUv3 or VT-d front end consuming that queue.
//!
//! ```text
//! cargo run -p iommu-inval-virtio --features virtqueue --example virtio_passthrough
//! ```
//!
//! The same scenario is the integration test `arch-virtio/tests/device_host.rs`,
//! which checks the host commands against the guest's invalidations.

use std::cell::RefCell;

use iommu_inval_arm::queue::CmdqDevice;
use iommu_inval_core::device::{
    Backend, BackendError, LowerToHost, QueueProducer, RecordingBackend,
};
use iommu_inval_core::model::{Barrier, Op};
use iommu_inval_core::{CellMemory, IdentityContext};
use iommu_inval_virtio::device::{DeviceConfig, NoMapper, VirtioIommuDevice};
use iommu_inval_virtio::status::Status;
use iommu_inval_virtio::{
    Attach, Command, Detach, Map, Probe, Unmap, MAP_F_READ, MAP_F_WRITE, MAX_BYTES,
};
use iommu_inval_vtd::queue::InvQueue;
use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// The host queue's base in host memory.
pub const HOST: u64 = 0x2000;
/// The SMMUv3 host queue's `CMDQ_BASE` (256 entries).
pub const SMMUV3_HOST: u64 = HOST | 8;
/// The VT-d host queue's `IQA` (256-bit descriptors, one page).
pub const VTD_HOST: u64 = HOST | 1 << 11;
/// The device's `probe_size` (cloud-hypervisor's: one RESV_MEM property).
pub const PROBE_SIZE: u32 = 24;
/// Virtqueue size.
const QSIZE: u16 = 64;

/// The requests the guest driver queues before one notification (a kick).
pub type Kick = Vec<Command>;

/// Linux's stream for two endpoints (8 and 9) of one domain (1), kick by
/// kick (LINUX: `viommu_probe_endpoint`, `viommu_attach_dev`,
/// `viommu_map_pages` + `viommu_iotlb_sync_map`, `viommu_unmap_pages` +
/// `viommu_iotlb_sync`, `viommu_detach_dev` at `release_device`).
pub fn linux_stream() -> Vec<Kick> {
    let map = |s: u64, e: u64, p: u64| {
        Command::from(Map {
            domain: 1,
            virt_start: s,
            virt_end: e,
            phys_start: p,
            flags: MAP_F_READ | MAP_F_WRITE,
            ..Map::default()
        })
    };
    let unmap = |s: u64, e: u64| {
        Command::from(Unmap {
            domain: 1,
            virt_start: s,
            virt_end: e,
            ..Unmap::default()
        })
    };
    let probe = |ep: u32| {
        Command::from(Probe {
            endpoint: ep,
            ..Probe::default()
        })
    };
    let attach = |ep: u32| {
        Command::from(Attach {
            domain: 1,
            endpoint: ep,
            ..Attach::default()
        })
    };
    let detach = |ep: u32| {
        Command::from(Detach {
            domain: 1,
            endpoint: ep,
            ..Detach::default()
        })
    };
    // A scatter-gather list of 8 pages: 8 MAPs, one sync.
    let sg: Kick = (0..8u64)
        .map(|k| {
            let s = 0x10_0000 + k * 0x1000;
            map(s, s + 0xfff, 0x4000_0000 + k * 0x1000)
        })
        .collect();
    vec![
        vec![probe(8)],
        vec![attach(8)],
        sg,
        vec![map(0x20_0000, 0x3f_ffff, 0x8000_0000)],
        vec![unmap(0x10_0000, 0x10_0fff)],
        vec![unmap(0x10_1000, 0x10_7fff)],
        vec![probe(9)],
        vec![attach(9)],
        vec![unmap(0x20_0000, 0x3f_ffff)],
        vec![detach(9)],
        vec![detach(8)],
    ]
}

/// What one kick became.
#[derive(Debug, Default)]
pub struct Step {
    /// The guest's requests and the status each got (`None`: used length 0).
    pub requests: Vec<(Command, Option<Status>)>,
    /// What the device handed to the back end, one list per guest barrier.
    pub guest_ops: Vec<Vec<Op>>,
    /// The host commands written for each guest barrier (the host sync
    /// included), as the host's front end decoded them.
    pub host_commands: Vec<Vec<String>>,
    /// Those commands lifted back by the host's front end, per barrier.
    pub host_ops: Vec<Vec<Op>>,
}

/// The back end the device hands its invalidations to: `inner` (the
/// lower-to-host back end), with a record of what went through, barrier by
/// barrier.
struct Tee<B> {
    inner: B,
    current: Vec<Op>,
    barriers: Vec<Vec<Op>>,
}

impl<B: Backend> Backend for Tee<B> {
    fn execute(&mut self, ops: &[Op]) -> Result<(), BackendError> {
        self.current.extend_from_slice(ops);
        self.inner.execute(ops)
    }
    fn barrier(&mut self, sync: &Barrier) -> Result<(), BackendError> {
        self.barriers.push(std::mem::take(&mut self.current));
        self.inner.barrier(sync)
    }
    // A wrapper forwards the partial-failure point, or a failure inside a
    // batch would be reported at the batch's last command.
    fn unfinished(&self) -> u32 {
        self.inner.unfinished()
    }
}

/// The readable bytes of `c` and the writable length Linux gives it.
fn framing(c: &Command) -> (Vec<u8>, u32) {
    let mut b = [0u8; MAX_BYTES];
    let n = c.encode_bytes_into(&mut b).unwrap_or(0);
    let wlen = if matches!(c, Command::Probe(_)) {
        PROBE_SIZE + 4
    } else {
        4
    };
    (b[..n].to_vec(), wlen)
}

/// Run [`linux_stream`] through the device into a host queue `Q` at
/// `base` (its base register) in 64 KiB of host memory; one [`Step`] per
/// kick.
pub fn run<Q: QueueProducer + Copy>(base: u64) -> Result<Vec<Step>, String> {
    let m = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10_0000)])
        .map_err(|e| format!("guest memory: {e}"))?;
    let mock = MockSplitQueue::create(&m, GuestAddress(0), QSIZE);
    let mut q: Queue = mock.create_queue().map_err(|e| format!("{e}"))?;
    // Clear of the available ring (virtio-queue 0.18's mock places the used
    // ring over the second half of its entries).
    q.set_used_ring_address(Some(0x2000), Some(0));
    let mut config = DeviceConfig::cloud_hypervisor(vec![8, 9]);
    config.features.probe_size = PROBE_SIZE;
    let mut dev = VirtioIommuDevice::new(config).map_err(|e| format!("{e}"))?;

    let mut hbytes = vec![0u8; 0x1_0000];
    let hmem = CellMemory::new(0, &mut hbytes);
    let host = Q::from_registers(base, 0, 0).map_err(|e| format!("host queue: {e:?}"))?;
    // Each kick: list what the host is about to consume, then let its
    // front end consume it (lifting it back into `host_ops`).
    let host_commands = RefCell::new(Vec::<Vec<String>>::new());
    let host_ops = RefCell::new(Vec::<Vec<Op>>::new());
    let kick = |h: &mut Q, hm: &CellMemory<'_>| {
        let mut listed = Vec::new();
        let mut peek = *h;
        peek.consume(hm, |f| listed.push(format!("{:?}", f.command)));
        host_commands.borrow_mut().push(listed);
        let mut seen = RecordingBackend::default();
        let p = h.process(hm, &IdentityContext, &mut seen);
        host_ops.borrow_mut().push(seen.ops().copied().collect());
        match p.fault {
            Some(_) => Err(BackendError::Failed("host fault")),
            None => Ok(()),
        }
    };
    let mut be = Tee {
        inner: LowerToHost::new(host, &hmem, &IdentityContext, kick),
        current: Vec::new(),
        barriers: Vec::new(),
    };

    let mut steps = Vec::new();
    let mut next_desc = 0u16;
    let mut next_buf = 0x1_0000u64;
    for kick in linux_stream() {
        // The driver adds one chain per request (readable, then writable)
        // and notifies once.
        let mut tails = Vec::new();
        for c in &kick {
            let (r, wlen) = framing(c);
            let (ra, wa) = (next_buf, next_buf + 0x100);
            next_buf += 0x200;
            m.write_slice(&r, GuestAddress(ra))
                .map_err(|e| format!("{e}"))?;
            if next_desc + 2 > QSIZE {
                next_desc = 0;
            }
            let at = next_desc;
            next_desc += 2;
            let descs = [
                RawDescriptor::from(SplitDescriptor::new(ra, r.len() as u32, 1, at + 1)),
                RawDescriptor::from(SplitDescriptor::new(wa, wlen, 2, 0)),
            ];
            mock.add_desc_chains(&descs, at)
                .map_err(|e| format!("{e:?}"))?;
            tails.push(wa + u64::from(wlen) - 4);
        }
        dev.process_requestq(&mut q, &m, &IdentityContext, &mut be, &mut NoMapper)
            .map_err(|e| format!("{e}"))?;
        let mut step = Step::default();
        for (c, t) in kick.into_iter().zip(tails) {
            let mut b = [0u8; 4];
            m.read_slice(&mut b, GuestAddress(t))
                .map_err(|e| format!("{e}"))?;
            step.requests.push((c, Status::from_u8(b[0])));
        }
        step.guest_ops = std::mem::take(&mut be.barriers);
        step.host_commands = std::mem::take(&mut *host_commands.borrow_mut());
        step.host_ops = std::mem::take(&mut *host_ops.borrow_mut());
        steps.push(step);
    }
    Ok(steps)
}

/// One line for a guest request.
pub fn describe(c: &Command) -> String {
    match c {
        Command::Probe(p) => format!("PROBE endpoint {}", p.endpoint),
        Command::Attach(a) => format!("ATTACH endpoint {} to domain {}", a.endpoint, a.domain),
        Command::Detach(d) => format!("DETACH endpoint {} from domain {}", d.endpoint, d.domain),
        Command::Map(m) => format!(
            "MAP domain {} [{:#x}, {:#x}] to {:#x}",
            m.domain, m.virt_start, m.virt_end, m.phys_start
        ),
        Command::Unmap(u) => format!(
            "UNMAP domain {} [{:#x}, {:#x}]",
            u.domain, u.virt_start, u.virt_end
        ),
        other => format!("{other:?}"),
    }
}

fn print(host: &str, steps: &[Step]) {
    println!("== a guest's virtio-iommu driver into a host {host} queue ==");
    for (k, s) in steps.iter().enumerate() {
        for (c, st) in &s.requests {
            let st = st.map_or("no answer".to_string(), |s| format!("{s:?}"));
            println!("kick {k:2}: {} -> {st}", describe(c));
        }
        if s.host_commands.is_empty() {
            println!("          host: nothing to invalidate");
        }
        for (b, cmds) in s.host_commands.iter().enumerate() {
            println!("          host, guest barrier {b}: {} commands", cmds.len());
            for c in cmds {
                println!("            {c}");
            }
        }
    }
    let n: usize = steps
        .iter()
        .flat_map(|s| &s.host_commands)
        .map(Vec::len)
        .sum();
    println!("{host}: {n} host commands for the stream");
    println!();
}

#[allow(dead_code)]
fn main() {
    match run::<CmdqDevice>(SMMUV3_HOST) {
        Ok(s) => print("SMMUv3", &s),
        Err(e) => eprintln!("SMMUv3 host: {e}"),
    }
    match run::<InvQueue>(VTD_HOST) {
        Ok(s) => print("VT-d", &s),
        Err(e) => eprintln!("VT-d host: {e}"),
    }
}
