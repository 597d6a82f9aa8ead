//! The two VMM paths end to end on the guest driver streams of
//! `examples/`: a guest VT-d invalidation queue (scalable mode) through the
//! `InvQueue` front end into `VtdS1Backend`, and a guest SMMUv3 CMDQ walked
//! decoding only (`QueueEngine::consume`) into `Smmuv3Forwarder`. Every guest command ends up as an
//! entry, a sync, or a report; entries reach the "kernel" only at barriers.

use crate::backend::{
    ForwardError, Forwarded, Invalidator, Smmuv3Forwarder, ViommuInvalidator, VtdS1Backend,
};
use crate::cmdqv;
use crate::smmuv3::{HostFeatures, Refusal, Vsmmu};
use crate::uapi::{HwptVtdS1Invalidate, ViommuArmSmmuv3Invalidate};
use crate::vtd::{S1Scope, VmmWork};
use iommu_inval_arm::queue::{Cmdq, CmdqDevice};
use iommu_inval_arm::Command;
use iommu_inval_core::context::Topology;
use iommu_inval_core::device::{BackendError, CommandQueue, QueueEngine};
use iommu_inval_core::model::{Op, PasidSel};
use iommu_inval_core::Flags;
use iommu_inval_core::NativeCommand;
use iommu_inval_core::{CellMemory, QueueMemory, SliceMemory};
use iommu_inval_vtd::queue::InvQueue;
use std::cell::RefCell;
use std::vec::Vec;
use std::{format, vec};

fn stream(file: &str) -> Vec<Vec<u64>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/");
    let text = std::fs::read_to_string(format!("{path}{file}")).unwrap();
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split(',')
                .map(|w| u64::from_str_radix(w.trim().trim_start_matches("0x"), 16).unwrap())
                .collect()
        })
        .collect()
}

fn topo() -> Topology {
    Topology::from_json(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/topology.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

/// `size` bytes of guest RAM with the commands `cmds` from byte `at` on,
/// `stride` bytes apart, little-endian words.
fn ram_with(cmds: &[Vec<u64>], size: usize, at: usize, stride: usize) -> Vec<u8> {
    let mut ram = vec![0u8; size];
    for (i, c) in cmds.iter().enumerate() {
        for (j, w) in c.iter().enumerate() {
            let b = at + i * stride + j * 8;
            ram[b..b + 8].copy_from_slice(&w.to_le_bytes());
        }
    }
    ram
}

/// The vSMMU of VMID 3 with vSID 0x10 → pSID 0x100, into `kernel`.
fn forwarder(kernel: &RefCell<Kernel>) -> Smmuv3Forwarder<[(u32, u32); 1], K<'_>> {
    Smmuv3Forwarder::new(
        Vsmmu::new(3, HostFeatures::default()),
        [(0x10u32, 0x100u32)],
        K(kernel),
    )
}

#[derive(Default)]
struct Kernel {
    vtd: Vec<(u32, Vec<HwptVtdS1Invalidate>)>,
    smmu: Vec<Vec<ViommuArmSmmuv3Invalidate>>,
}

struct K<'a>(&'a RefCell<Kernel>);

impl Invalidator for K<'_> {
    fn invalidate_vtd_s1(
        &mut self,
        hwpt: u32,
        e: &[HwptVtdS1Invalidate],
    ) -> Result<(), (u32, BackendError)> {
        for (i, x) in e.iter().enumerate() {
            x.check()
                .map_err(|_| (i as u32, BackendError::Failed("kernel refused")))?;
        }
        self.0.borrow_mut().vtd.push((hwpt, e.to_vec()));
        Ok(())
    }
}

impl ViommuInvalidator for K<'_> {
    fn invalidate_smmuv3(&mut self, e: &[ViommuArmSmmuv3Invalidate]) -> Result<(), BackendError> {
        self.0.borrow_mut().smmu.push(e.to_vec());
        Ok(())
    }
}

#[test]
fn vtd_guest_through_the_front_end() {
    let cmds = stream("vtd256.cmds");
    // Queue at 0x7f00_1000 (8 KiB, 256-bit descriptors); the inv_wait
    // status addresses of the stream (0x7f00_0000) are in the same RAM.
    let mut ram = ram_with(&cmds, 0x4000, 0x1000, 32);
    let mem = CellMemory::new(0x7f00_0000, &mut ram);
    let iqa = 0x7f00_1000 | 1 << 11 | 1;
    let mut q = InvQueue::from_registers(iqa, 0, 0).unwrap();
    q.doorbell(cmds.len() as u64 * 32);
    let kernel = RefCell::new(Kernel::default());
    let mut work: Vec<VmmWork> = Vec::new();
    let ctx = topo();
    // Nested HWPT 0x100 + PASID for each (domain, PASID) stage-1 table.
    let router = |s: &S1Scope, f: &mut dyn FnMut(u32)| match s.pasid {
        PasidSel::One(p) => f(0x100 + p),
        _ => {
            f(0x101);
            f(0x102);
        }
    };
    let mut be = VtdS1Backend::new(router, K(&kernel), |_: &Op, w: VmmWork| {
        work.push(w);
        Ok(())
    });
    let p = q.process(&mem, &ctx, &mut be);
    assert!(p.fault.is_none(), "{:?}", p.fault);
    assert_eq!(p.consumed as usize, cmds.len());
    assert_eq!(be.pending(), 0, "every entry submitted by the last barrier");
    let entries = be.entries;
    let k = kernel.borrow();
    // The two p_iotlb_inv_dsc of the stream: PASID 1 (2 MiB, leaf) and PASID 2 (all).
    assert_eq!(entries, 2);
    assert_eq!(k.vtd.len(), 2);
    assert_eq!(k.vtd[0].0, 0x101);
    assert_eq!(
        k.vtd[0].1,
        [HwptVtdS1Invalidate {
            addr: 0x4000_0000,
            npages: 512,
            flags: 1,
            reserved: 0
        }]
    );
    assert_eq!(
        (k.vtd[1].0, k.vtd[1].1[0]),
        (0x102, HwptVtdS1Invalidate::ALL)
    );
    // Everything else was handed to the VMM with its reason.
    let all = work.iter().fold(VmmWork::empty(), |a, w| a | *w);
    for w in [
        VmmWork::DEV_TLB,
        VmmWork::CONFIG_PASID,
        VmmWork::STAGE2,
        VmmWork::PAGE_RESPONSE,
    ] {
        assert!(all.contains(w), "{w:?} not reported: {all:?}");
    }
    // The guest's waits were completed by the front end after each flush.
    assert!(p.completions >= 4);
}

#[test]
fn smmuv3_guest_walked_raw_into_the_vsmmu() {
    let cmds = stream("smmuv3.cmds");
    let ram = ram_with(&cmds, 0x1000, 0, 16);
    let mem = SliceMemory::new(0x10_0000, &ram);
    let mut q = CmdqDevice::new(Cmdq::new(0x10_0000, 8), 0, cmds.len() as u32);
    let kernel = RefCell::new(Kernel::default());
    let mut fwd = forwarder(&kernel);
    let (mut queued, mut synced, mut refused) = (Vec::new(), 0, Vec::new());
    let mut on_vcmdq = 0;
    let done = q.consume(&mem, |f| {
        let c: &Command = &f.command;
        if cmdqv::route(c) == cmdqv::Route::Vcmdq {
            on_vcmdq += 1;
        }
        match fwd.command(c) {
            Ok(Forwarded::Queued) => queued.push(c.encode()),
            Ok(Forwarded::Synced) => synced += 1,
            Err(ForwardError::Refused(r)) => refused.push(r),
            Err(e) => panic!("{e}"),
        }
    });
    assert!(done.fault.is_none());
    assert_eq!(done.consumed as usize, cmds.len());
    assert_eq!(
        queued.len() + synced + refused.len(),
        cmds.len(),
        "nothing lost"
    );
    assert_eq!(fwd.pending(), 0, "the stream ends with a sync");
    let k = kernel.borrow();
    let submitted: Vec<[u64; 2]> = k.smmu.iter().flatten().map(|e| e.cmd).collect();
    assert_eq!(submitted, queued, "in order, the guest's words");
    assert!(k.smmu.len() <= synced);
    assert!(refused.contains(&Refusal::SteConfig));
    assert!(refused
        .iter()
        .any(|r| matches!(r, Refusal::UnknownVsid(0x100))));
    assert!(on_vcmdq > 0 && on_vcmdq < cmds.len());
}

#[test]
fn smmuv3_guest_through_the_front_end_into_the_vsmmu() {
    use crate::backend::{VsmmuBackend, VsmmuWork};
    let cmds = stream("smmuv3.cmds");
    // The CMDQ at 0x7f01_0000 (256 entries), the MSI targets of the stream's
    // CMD_SYNCs (0x7f00_0000) in the same RAM.
    let mut ram = ram_with(&cmds, 0x2_0000, 0x1_0000, 16);
    let mem = CellMemory::new(0x7f00_0000, &mut ram);
    let mut q = CmdqDevice::from_registers(0x7f01_0000 | 8, 0, 0).unwrap();
    q.doorbell(cmds.len() as u64);
    let kernel = RefCell::new(Kernel::default());
    let fwd = forwarder(&kernel);
    let ctx = topo();
    let mut work = Vec::new();
    let mut be = VsmmuBackend::new(fwd, &ctx, |_: &Op, w: VsmmuWork| {
        work.push(w);
        Ok(())
    });
    let p = q.process(&mem, &ctx, &mut be);
    assert!(p.fault.is_none_or(|f| !f.stopped), "{:?}", p.fault);
    assert_eq!(p.consumed as usize, cmds.len());
    assert_eq!(be.fwd.pending(), 0);
    let k = kernel.borrow();
    let submitted: Vec<Command> = k
        .smmu
        .iter()
        .flatten()
        .map(|e| Command::decode(&e.cmd).unwrap())
        .collect();
    assert!(!submitted.is_empty());
    // Every submitted entry passes the vSMMU's rules, and the guest's range
    // TLBI of ASID 5 came back as it was written (same-architecture round trip).
    let v = Vsmmu::new(3, HostFeatures::default());
    for c in &submitted {
        assert!(v.guest_entry(c, &[(0x10u32, 0x100u32)]).is_ok(), "{c:?}");
    }
    // (Re-encoded: 512 pages as NUM 15 / SCALE 5 instead of NUM 0 /
    // SCALE 9, VMID 0 as lowering for a stage-1-only host writes it; the
    // kernel writes the vSMMU's VMID over both.)
    let first = Command::decode(&cmds[0]).unwrap();
    let vd = [(0x10u32, 0x100u32)];
    let want = crate::explain::smmuv3_request(&first, &v, &vd, &ctx);
    let got = crate::explain::smmuv3_request(&submitted[0], &v, &vd, &ctx);
    assert!(!want.is_empty() && got.same_as(&want));
    // R4 over the stream: the host commands of the submitted entries remove
    // what every guest command asked of the vSMMU.
    use crate::explain::{smmuv3_host, smmuv3_request};
    use iommu_inval_core::footprint::Footprint;
    let mut asked = Footprint::new();
    for w in &cmds {
        let c = Command::decode(w).unwrap();
        asked.extend(&smmuv3_request(&c, &v, &vd, &ctx));
    }
    let mut removed = Footprint::new();
    for c in &submitted {
        removed.extend(&smmuv3_host(&v.host_command(c, &vd).unwrap(), &ctx));
    }
    assert!(!asked.is_empty() && removed.covers(&asked));
    // The stream's CFGI_STE came back as a refusal for the VMM.
    assert!(
        work.contains(&VsmmuWork::Refused(Refusal::SteConfig)),
        "{work:?}"
    );
}

/// A kernel that handles the first `k` entries of call number `call` and
/// then fails (EINVAL), logging what it handled; every other call succeeds.
struct StopsAt<'a> {
    kernel: &'a RefCell<Kernel>,
    call: usize,
    k: usize,
    calls: usize,
}

impl<'a> StopsAt<'a> {
    fn new(kernel: &'a RefCell<Kernel>, call: usize, k: usize) -> Self {
        StopsAt {
            kernel,
            call,
            k,
            calls: 0,
        }
    }
}

/// The guest CMDQ of [`page_storm`] (at 0x7f01_0000), its PROD written.
fn storm_queue(cmds: &[Vec<u64>]) -> CmdqDevice {
    let mut q = CmdqDevice::from_registers(0x7f01_0000 | 8, 0, 0).unwrap();
    q.doorbell(cmds.len() as u64);
    q
}

impl Invalidator for StopsAt<'_> {
    fn invalidate_vtd_s1(
        &mut self,
        hwpt: u32,
        e: &[HwptVtdS1Invalidate],
    ) -> Result<(), (u32, BackendError)> {
        self.calls += 1;
        let stop = (self.calls == self.call).then_some(self.k.min(e.len()));
        let handled = e.get(..stop.unwrap_or(e.len())).unwrap_or(e);
        self.kernel.borrow_mut().vtd.push((hwpt, handled.to_vec()));
        match stop {
            Some(k) => Err((k as u32, BackendError::Errno(22))),
            None => Ok(()),
        }
    }
}

impl ViommuInvalidator for StopsAt<'_> {
    fn invalidate_smmuv3(&mut self, e: &[ViommuArmSmmuv3Invalidate]) -> Result<(), BackendError> {
        self.calls += 1;
        if self.calls == self.call {
            return Err(BackendError::Errno(22));
        }
        self.kernel.borrow_mut().smmu.push(e.to_vec());
        Ok(())
    }
}

/// An SMMUv3 guest's CMDQ (256 slots at 0x7f01_0000) with `n` single-page
/// CMD_TLBI_NH_VA of ASID 5 (PASID 1 of device 0x10) two pages apart, then
/// a CMD_SYNC writing MSI data 1 to 0x7f00_0000.
fn page_storm(n: u64) -> Vec<Vec<u64>> {
    let mut cmds: Vec<Vec<u64>> = (0..n)
        .map(|i| vec![0x0005_0001_0000_0012, 0x4000_0000 + i * 0x2000 + 1])
        .collect();
    cmds.push(vec![0x46 | 1 << 12 | 1 << 32, 0x7f00_0000]);
    cmds
}

/// Issue 33 item 2: the guest's unmap storm before one CMD_SYNC goes to the
/// kernel as one array (one call per HWPT per barrier); a kernel that stops
/// at entry `k` fails exactly guest command `k` with CERROR_ILL at its CONS,
/// commands `0..k` consumed (their entries handled), the sync not completed.
#[test]
fn a_partial_vtd_s1_call_fails_the_guest_command_of_its_entry() {
    use iommu_inval_arm::queue::{HwError, CERROR_ILL};
    let n = 6u64;
    let cmds = page_storm(n);
    for k in 0..=n as usize {
        let mut ram = ram_with(&cmds, 0x2_0000, 0x1_0000, 16);
        let mem = CellMemory::new(0x7f00_0000, &mut ram);
        let mut q = storm_queue(&cmds);
        let kernel = RefCell::new(Kernel::default());
        let ioctl = StopsAt::new(&kernel, if k == n as usize { 0 } else { 1 }, k);
        let router = |s: &S1Scope, f: &mut dyn FnMut(u32)| {
            if let PasidSel::One(p) = s.pasid {
                f(0x100 + p)
            }
        };
        let mut be = VtdS1Backend::new(router, ioctl, |_: &Op, _| Ok(()));
        let p = q.process(&mem, &topo(), &mut be);
        assert_eq!(be.ioctl.calls, 1, "one call for the barrier");
        let handled: Vec<HwptVtdS1Invalidate> = kernel
            .borrow()
            .vtd
            .iter()
            .flat_map(|c| c.1.clone())
            .collect();
        if k == n as usize {
            assert!(p.fault.is_none());
            assert_eq!((p.consumed, p.completions), (n as u32 + 1, 1));
            assert_eq!(handled.len(), n as usize);
            continue;
        }
        let f = p.fault.unwrap();
        assert_eq!(
            (f.hw, f.position, p.consumed),
            (HwError::CerrorIll, k as u64, k as u32)
        );
        assert_eq!(q.cons_err(), CERROR_ILL);
        assert_eq!(q.head_register() & 0xff, k as u64);
        assert_eq!(p.completions, 0, "the sync is not completed");
        // The entries of the commands before it were handled, in order.
        let want: Vec<u64> = (0..k as u64).map(|i| 0x4000_0000 + i * 0x2000).collect();
        assert_eq!(handled.iter().map(|e| e.addr).collect::<Vec<_>>(), want);
        assert_eq!(be.pending(), 0);
        // The guest skips the command (Linux: a CMD_SYNC in its place) and
        // acknowledges; the rest is one more call, counted afresh.
        let at = 0x7f01_0000 + k as u64 * 16;
        mem.write_words(at, &[0x46, 0]).unwrap();
        q.write_gerrorn(q.gerror);
        let p = q.process(&mem, &topo(), &mut be);
        assert!(p.fault.is_none(), "{:?}", p.fault);
        assert_eq!(p.completions, 2);
        let calls = kernel.borrow().vtd.len();
        let last = kernel.borrow().vtd[calls - 1].1.clone();
        let want: Vec<u64> = (k as u64 + 1..n)
            .map(|i| 0x4000_0000 + i * 0x2000)
            .collect();
        if want.is_empty() {
            assert_eq!(be.ioctl.calls, 1, "nothing left to submit");
        } else {
            assert_eq!(last.iter().map(|e| e.addr).collect::<Vec<_>>(), want);
        }
    }
}

/// Issue 33 item 2 on a vSMMU: 70 pages before one CMD_SYNC are two calls
/// (a call holds at most 63 entries: the second is unavoidable). A failed
/// call counts as handling none of its entries (the kernel issues a call
/// this short as one block), so the guest's CERROR_ILL is at the first
/// command an entry of the call came from — a coalesced batch's entries
/// count from the batch's first op (the front end's second batch starts at
/// command 57).
#[test]
fn a_failed_vsmmu_call_fails_the_guest_command_of_its_first_entry() {
    use crate::backend::VsmmuBackend;
    use iommu_inval_arm::queue::{HwError, CERROR_ILL};
    let n = 70u64;
    let cmds = page_storm(n);
    for (call, at) in [(0, None), (1, Some(0u32)), (2, Some(57))] {
        let mut ram = ram_with(&cmds, 0x2_0000, 0x1_0000, 16);
        let mem = CellMemory::new(0x7f00_0000, &mut ram);
        let mut q = storm_queue(&cmds);
        let kernel = RefCell::new(Kernel::default());
        let ioctl = StopsAt::new(&kernel, call, 0);
        let fwd = Smmuv3Forwarder::new(
            Vsmmu::new(3, HostFeatures::default()),
            [(0x10u32, 0x100u32)],
            ioctl,
        );
        let ctx = topo();
        let mut be = VsmmuBackend::new(fwd, &ctx, |_: &Op, _| Ok(()));
        let p = q.process(&mem, &ctx, &mut be);
        let Some(at) = at else {
            assert!(p.fault.is_none(), "{:?}", p.fault);
            assert_eq!(be.fwd.ioctl.calls, 2);
            let sizes: Vec<usize> = kernel.borrow().smmu.iter().map(Vec::len).collect();
            assert_eq!(sizes, [63, 7]);
            continue;
        };
        let f = p.fault.unwrap();
        assert_eq!(
            (f.hw, f.position, p.consumed),
            (HwError::CerrorIll, u64::from(at), at)
        );
        assert_eq!(q.cons_err(), CERROR_ILL);
        assert_eq!(p.completions, 0);
        assert_eq!(
            be.fwd.pending(),
            0,
            "nothing of the failed commands is left queued"
        );
    }
}
