//! The virtqueue device (feature `virtqueue`) driven by a fake guest driver:
//! descriptor chains built in a `GuestMemoryMmap` with virtio-queue's
//! `MockSplitQueue`, answered by `VirtioIommuDevice::process_requestq`,
//! read back from the used ring and the device-writable buffers.
#![cfg(feature = "virtqueue")]

use iommu_inval_core::device::{BackendError, Record, RecordingBackend};
use iommu_inval_core::model::{Caches, DeviceSel, DomainSel, Inval, Op, PasidSel};
use iommu_inval_core::Flags;
use iommu_inval_core::{AddrRange, IdentityContext};
use iommu_inval_virtio::device::*;
use iommu_inval_virtio::status::{Fault, FaultReason, Status};
use iommu_inval_virtio::status::{FAULT_F_ADDRESS, FAULT_F_READ, FAULT_F_WRITE};
use iommu_inval_virtio::*;
use proptest::prelude::*;
use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const F_NEXT: u16 = 1;
const F_WRITE: u16 = 2;
const F_INDIRECT: u16 = 4;
const QSIZE: u16 = 64;
const MEM: u64 = 0x10_0000;
/// Untouched writable bytes read back as this.
const FILL: u8 = 0xaa;

fn mem() -> GuestMemoryMmap {
    GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM as usize)]).unwrap()
}

/// One part of a request as a driver lays it out.
#[derive(Clone)]
enum Part {
    /// A device-readable descriptor with these bytes.
    R(Vec<u8>),
    /// A device-writable descriptor of this many bytes.
    W(u32),
}

/// The queue of `mock`, with its used ring at `used` (virtio-queue 0.18's
/// mock places the used ring `len` bytes after the available ring's
/// entries instead of `2 * len`, over the second half of them).
fn queue_at(mock: &MockSplitQueue<'_, GuestMemoryMmap>, used: u64) -> Queue {
    let mut q: Queue = mock.create_queue().unwrap();
    q.set_used_ring_address(Some(used as u32), Some((used >> 32) as u32));
    assert_eq!(q.used_ring(), used);
    q
}

/// A guest driver of one virtqueue (its used ring 0x2000 past the table).
struct Driver<'a> {
    mem: &'a GuestMemoryMmap,
    mock: MockSplitQueue<'a, GuestMemoryMmap>,
    q: Queue,
    next_desc: u16,
    next_buf: u64,
    used: u16,
    used_ring: u64,
}

impl<'a> Driver<'a> {
    fn new(mem: &'a GuestMemoryMmap, at: u64, bufs: u64) -> Self {
        let mock = MockSplitQueue::create(mem, GuestAddress(at), QSIZE);
        let q = queue_at(&mock, at + 0x2000);
        Driver {
            mem,
            mock,
            q,
            next_desc: 0,
            next_buf: bufs,
            used: 0,
            used_ring: at + 0x2000,
        }
    }

    fn alloc(&mut self, len: u32) -> u64 {
        let a = self.next_buf;
        self.next_buf += (u64::from(len) + 31) & !15;
        a
    }

    /// Put descriptors `(addr, len, flags, next)` in the table as they are
    /// and offer the chain(s) they start.
    fn offer_exact(&mut self, descs: &[(u64, u32, u16, u16)]) -> u16 {
        if usize::from(self.next_desc) + descs.len() > usize::from(QSIZE) {
            self.next_desc = 0;
        }
        let at = self.next_desc;
        let raw: Vec<RawDescriptor> = descs
            .iter()
            .map(|&(a, l, f, n)| RawDescriptor::from(SplitDescriptor::new(a, l, f, n)))
            .collect();
        self.mock.add_desc_chains(&raw, at).unwrap();
        self.next_desc += descs.len() as u16;
        at
    }

    /// Offer descriptors `(addr, len, flags)` linked in order (NEXT set).
    fn offer_raw(&mut self, descs: &[(u64, u32, u16)]) -> u16 {
        if usize::from(self.next_desc) + descs.len() > usize::from(QSIZE) {
            self.next_desc = 0;
        }
        let at = self.next_desc;
        let n = descs.len();
        let linked: Vec<(u64, u32, u16, u16)> = descs
            .iter()
            .enumerate()
            .map(|(k, &(a, l, f))| {
                if k + 1 < n {
                    (a, l, f | F_NEXT, at + k as u16 + 1)
                } else {
                    (a, l, f & !F_NEXT, 0)
                }
            })
            .collect();
        self.offer_exact(&linked)
    }

    /// Offer a request made of `parts`; returns the writable buffers.
    fn offer(&mut self, parts: &[Part]) -> Vec<(u64, u32)> {
        let mut descs = Vec::new();
        let mut w = Vec::new();
        for p in parts {
            match p {
                Part::R(b) => {
                    let a = self.alloc(b.len() as u32);
                    self.mem.write_slice(b, GuestAddress(a)).unwrap();
                    descs.push((a, b.len() as u32, 0));
                }
                Part::W(n) => {
                    let a = self.alloc(*n);
                    self.mem
                        .write_slice(&vec![FILL; *n as usize], GuestAddress(a))
                        .unwrap();
                    descs.push((a, *n, F_WRITE));
                    w.push((a, *n));
                }
            }
        }
        self.offer_raw(&descs);
        w
    }

    /// The used-ring entries since the last call: `(head, len)`.
    fn used(&mut self) -> Vec<(u32, u32)> {
        let idx: u16 = self.mem.read_obj(GuestAddress(self.used_ring + 2)).unwrap();
        let mut out = Vec::new();
        while self.used != idx {
            let e = self.used_ring + 4 + 8 * u64::from(self.used % QSIZE);
            let id: u32 = self.mem.read_obj(GuestAddress(e)).unwrap();
            let len: u32 = self.mem.read_obj(GuestAddress(e + 4)).unwrap();
            out.push((id, len));
            self.used = self.used.wrapping_add(1);
        }
        out
    }

    fn read(&self, bufs: &[(u64, u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(a, n) in bufs {
            let mut b = vec![0u8; n as usize];
            self.mem.read_slice(&mut b, GuestAddress(a)).unwrap();
            out.extend_from_slice(&b);
        }
        out
    }
}

/// What the VMM's host side was told.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Map(u32, u64, u64, u64, Prot),
    Unmap(u32, u64, u64),
    Bypass(u32, bool),
}

#[derive(Default)]
struct RecMapper {
    calls: Vec<Call>,
    /// Fail the n-th next `map` (0: the next one).
    fail_map: Option<usize>,
    fail_unmap: bool,
}

impl DmaMapper for RecMapper {
    fn map(
        &mut self,
        ep: u32,
        iova: u64,
        gpa: u64,
        size: u64,
        p: Prot,
    ) -> Result<(), BackendError> {
        match self.fail_map {
            Some(0) => {
                self.fail_map = None;
                return Err(BackendError::Errno(12));
            }
            Some(n) => self.fail_map = Some(n - 1),
            None => {}
        }
        self.calls.push(Call::Map(ep, iova, gpa, size, p));
        Ok(())
    }
    fn unmap(&mut self, ep: u32, iova: u64, size: u64) -> Result<(), BackendError> {
        self.calls.push(Call::Unmap(ep, iova, size));
        if self.fail_unmap {
            return Err(BackendError::Failed("unmap"));
        }
        Ok(())
    }
    fn bypass(&mut self, ep: u32, on: bool) -> Result<(), BackendError> {
        self.calls.push(Call::Bypass(ep, on));
        Ok(())
    }
}

/// The back end's records, owned: a batch of ops, or a barrier.
#[derive(Debug, Clone, PartialEq)]
enum Rec {
    B(Vec<Op>),
    Sync,
}

/// A device, its request queue's driver, an event queue's driver, a
/// recording back end and mapper.
struct H<'a> {
    d: Driver<'a>,
    ev: Driver<'a>,
    dev: VirtioIommuDevice,
    be: RecordingBackend,
    mp: RecMapper,
}

impl<'a> H<'a> {
    fn new(mem: &'a GuestMemoryMmap, config: DeviceConfig) -> Self {
        H {
            d: Driver::new(mem, 0, 0x1_0000),
            ev: Driver::new(mem, 0x8000, 0x8_0000),
            dev: VirtioIommuDevice::new(config).unwrap(),
            be: RecordingBackend::default(),
            mp: RecMapper::default(),
        }
    }

    fn run(&mut self) -> Processed {
        self.dev
            .process_requestq(
                &mut self.d.q,
                self.d.mem,
                &IdentityContext,
                &mut self.be,
                &mut self.mp,
            )
            .unwrap()
    }

    /// Send `parts` as one chain: its used length and writable bytes.
    fn send(&mut self, parts: &[Part]) -> (u32, Vec<u8>) {
        let w = self.d.offer(parts);
        let p = self.run();
        assert_eq!(p.chains, 1);
        let used = self.d.used();
        assert_eq!(used.len(), 1);
        (used[0].1, self.d.read(&w))
    }

    /// Send request `r` with a 4-byte tail, as Linux does: the status, or
    /// `None` for used length 0 (then the tail must be untouched).
    fn status(&mut self, r: &[u8]) -> Option<Status> {
        let (len, w) = self.send(&[Part::R(r.to_vec()), Part::W(4)]);
        tail(len, &w)
    }

    fn records(&mut self) -> Vec<Rec> {
        let v = self
            .be
            .records()
            .map(|r| match r {
                Record::Batch(ops) => Rec::B(ops.to_vec()),
                Record::Barrier(_) => Rec::Sync,
            })
            .collect();
        self.be.clear();
        v
    }
}

/// The status of an answer of used length `len` over writable bytes `w`:
/// the last 4 bytes, everything before zero (or properties); `None` when
/// nothing was written.
fn tail(len: u32, w: &[u8]) -> Option<Status> {
    if len == 0 {
        assert!(w.iter().all(|&b| b == FILL), "used length 0 but written");
        return None;
    }
    assert_eq!(len as usize, w.len(), "the whole writable part is answered");
    let t = &w[w.len() - 4..];
    assert_eq!(&t[1..], &[0, 0, 0], "tail reserved zero");
    Some(Status::from_u8(t[0]).expect("a defined status"))
}

fn bytes(c: impl Into<Command>) -> Vec<u8> {
    let c = c.into();
    let mut b = [0u8; MAX_BYTES];
    let n = c.encode_bytes_into(&mut b).unwrap();
    b[..n].to_vec()
}

fn attach(domain: u32, endpoint: u32) -> Vec<u8> {
    bytes(Attach {
        domain,
        endpoint,
        ..Attach::default()
    })
}

fn detach(domain: u32, endpoint: u32) -> Vec<u8> {
    bytes(Detach {
        domain,
        endpoint,
        ..Detach::default()
    })
}

fn map(domain: u32, s: u64, e: u64, p: u64, flags: u32) -> Vec<u8> {
    bytes(Map {
        domain,
        virt_start: s,
        virt_end: e,
        phys_start: p,
        flags,
        ..Map::default()
    })
}

fn unmap(domain: u32, s: u64, e: u64) -> Vec<u8> {
    bytes(Unmap {
        domain,
        virt_start: s,
        virt_end: e,
        ..Unmap::default()
    })
}

fn probe(endpoint: u32) -> Vec<u8> {
    bytes(Probe {
        endpoint,
        ..Probe::default()
    })
}

const RW: u32 = MAP_F_READ | MAP_F_WRITE;
const PROT_RW: Prot = Prot {
    read: true,
    write: true,
    mmio: false,
};

fn ch() -> DeviceConfig {
    DeviceConfig::cloud_hypervisor(vec![8, 9, 10])
}

fn config_inval(ep: u32) -> Op {
    Op::Inval(Inval::new(Caches::CONFIG_DEVICE).device(DeviceSel::One(ep)))
}

fn devtlb(d: u32, ep: u32) -> Op {
    Op::Inval(
        Inval::new(Caches::DEV_TLB)
            .domain(DomainSel::One(d))
            .device(DeviceSel::One(ep)),
    )
}

fn iotlb_of(d: u32) -> Op {
    Op::Inval(
        Inval::new(Caches::IOTLB)
            .domain(DomainSel::One(d))
            .pasid(PasidSel::NoPasid),
    )
}

/// The lift of UNMAP `[first; last]` of domain `d`: its IOTLB entries, and
/// the device-TLB entries of each endpoint attached to `d` (the device
/// narrows "every device of `d`" to them).
fn unmap_inval(d: u32, first: u64, last: u64, eps: &[u32]) -> Vec<Op> {
    let i = Inval::new(Caches::IOTLB)
        .domain(DomainSel::One(d))
        .pasid(PasidSel::NoPasid)
        .range(AddrRange::Span { first, last });
    let mut v = vec![Op::Inval(i)];
    for &ep in eps {
        v.push(Op::Inval(Inval {
            caches: Caches::DEV_TLB,
            ..i.device(DeviceSel::One(ep))
        }));
    }
    v
}

/// The sequence Linux's driver issues for one device (PROBE, ATTACH, MAPs,
/// UNMAP, DETACH), framed as Linux frames it, ending in the host's records.
#[test]
fn linux_sequence_ends_in_the_backend_records() {
    let m = mem();
    let mut h = H::new(&m, ch());
    // PROBE: 72 readable bytes, probe_size (24) + 4 writable.
    let (len, w) = h.send(&[Part::R(probe(8)), Part::W(24 + 4)]);
    assert_eq!(tail(len, &w), Some(Status::Ok));
    let resv = ResvMem {
        subtype: ResvSubtype::Msi,
        start: 0xfee0_0000,
        end: 0xfeef_ffff,
    };
    assert_eq!(&w[..24], &resv.encode());
    assert_eq!(
        &w[..8],
        &[1, 0, 20, 0, ResvSubtype::Msi as u8, 0, 0, 0],
        "RESV_MEM header: type 1, length 20"
    );
    assert_eq!(h.records(), []);
    // ATTACH.
    assert_eq!(h.status(&attach(1, 8)), Some(Status::Ok));
    assert_eq!(h.dev.domain_of(8), Some(1));
    assert_eq!(h.records(), [Rec::B(vec![config_inval(8)]), Rec::Sync]);
    // MAPs (no invalidation: a MAP fills an empty range).
    assert_eq!(
        h.status(&map(1, 0x1000, 0x1fff, 0x8_0000, RW)),
        Some(Status::Ok)
    );
    assert_eq!(
        h.status(&map(1, 0x2000, 0x3fff, 0x9_0000, MAP_F_READ)),
        Some(Status::Ok)
    );
    assert_eq!(h.records(), []);
    assert_eq!(
        h.mp.calls,
        [
            Call::Map(8, 0x1000, 0x8_0000, 0x1000, PROT_RW),
            Call::Map(8, 0x2000, 0x9_0000, 0x2000, Prot::from_flags(MAP_F_READ)),
        ]
    );
    assert_eq!(h.dev.translate(8, 0x1234, Access::Write), Ok(0x8_0234));
    // UNMAP the first.
    assert_eq!(h.status(&unmap(1, 0x1000, 0x1fff)), Some(Status::Ok));
    assert_eq!(
        h.records(),
        [Rec::B(unmap_inval(1, 0x1000, 0x1fff, &[8])), Rec::Sync]
    );
    assert_eq!(h.mp.calls[2], Call::Unmap(8, 0x1000, 0x1000));
    assert!(h.dev.translate(8, 0x1234, Access::Read).is_err());
    // DETACH at removal: the domain dies with its last endpoint.
    assert_eq!(h.status(&detach(1, 8)), Some(Status::Ok));
    assert_eq!(
        h.records(),
        [
            Rec::B(vec![iotlb_of(1), config_inval(8), devtlb(1, 8)]),
            Rec::Sync
        ]
    );
    assert_eq!(h.mp.calls[3], Call::Unmap(8, 0x2000, 0x2000));
    assert_eq!(h.dev.domain_count(), 0);
    assert_eq!(h.dev.domain_of(8), None);
}

/// FRAMING: the same requests split across descriptors anyhow (one byte
/// each, empty descriptors, the tail in two) and through an indirect table
/// get the same answers.
#[test]
fn any_descriptor_split() {
    let m = mem();
    let mut h = H::new(&m, ch());
    let a = attach(3, 9);
    let mut parts: Vec<Part> = a.iter().map(|&b| Part::R(vec![b])).collect();
    parts.insert(3, Part::R(vec![]));
    parts.push(Part::W(0));
    parts.push(Part::W(1));
    parts.push(Part::W(3));
    let (len, w) = h.send(&parts);
    assert_eq!(tail(len, &w), Some(Status::Ok));
    assert_eq!(h.dev.domain_of(9), Some(3));

    let mp = map(3, 0x10_0000, 0x10_ffff, 0x20_0000, RW);
    let parts = [
        Part::R(mp[..5].to_vec()),
        Part::R(mp[5..30].to_vec()),
        Part::R(mp[30..].to_vec()),
        Part::W(2),
        Part::W(2),
    ];
    let (len, w) = h.send(&parts);
    assert_eq!(tail(len, &w), Some(Status::Ok));
    assert_eq!(h.dev.translate(9, 0x10_0010, Access::Read), Ok(0x20_0010));

    // PROBE with the properties split in three and the tail apart.
    let (len, w) = h.send(&[
        Part::R(probe(9)[..40].to_vec()),
        Part::R(probe(9)[40..].to_vec()),
        Part::W(7),
        Part::W(10),
        Part::W(7),
        Part::W(4),
    ]);
    assert_eq!(tail(len, &w), Some(Status::Ok));
    assert_eq!(w[0..4], [1, 0, 20, 0]);

    // UNMAP through an indirect table: R in two, W in one.
    let u = unmap(3, 0x10_0000, 0x10_ffff);
    let (r1, r2, wb, table) = (0x5_0000u64, 0x5_0100u64, 0x5_0200u64, 0x5_1000u64);
    m.write_slice(&u[..10], GuestAddress(r1)).unwrap();
    m.write_slice(&u[10..], GuestAddress(r2)).unwrap();
    m.write_slice(&[FILL; 4], GuestAddress(wb)).unwrap();
    let ind = [
        SplitDescriptor::new(r1, 10, F_NEXT, 1),
        SplitDescriptor::new(r2, 18, F_NEXT, 2),
        SplitDescriptor::new(wb, 4, F_WRITE, 0),
    ];
    for (k, d) in ind.iter().enumerate() {
        m.write_obj(RawDescriptor::from(*d), GuestAddress(table + 16 * k as u64))
            .unwrap();
    }
    h.d.offer_raw(&[(table, 48, F_INDIRECT)]);
    h.run();
    let used = h.d.used();
    assert_eq!(used[0].1, 4);
    assert_eq!(h.d.read(&[(wb, 4)]), Status::Ok.tail());
    assert_eq!(h.dev.mappings_of(3).count(), 0);
}

/// Several chains in one notification, answered in order.
#[test]
fn several_chains_per_notification() {
    let m = mem();
    let mut h = H::new(&m, ch());
    let w1 = h.d.offer(&[Part::R(attach(1, 8)), Part::W(4)]);
    let w2 = h.d.offer(&[Part::R(attach(1, 9)), Part::W(4)]);
    let w3 = h.d.offer(&[Part::R(vec![99, 0, 0, 0]), Part::W(4)]);
    let p = h.run();
    assert_eq!((p.chains, p.ok, p.unanswered), (3, 2, 1));
    let used = h.d.used();
    assert_eq!(
        used.iter().map(|u| u.1).collect::<Vec<_>>(),
        [4, 4, 0],
        "used lengths in order"
    );
    assert_eq!(h.d.read(&w1), Status::Ok.tail());
    assert_eq!(h.d.read(&w2), Status::Ok.tail());
    assert_eq!(h.d.read(&w3), [FILL; 4]);
    assert_eq!(h.dev.endpoints_of(1).collect::<Vec<_>>(), [8, 9]);
}

/// SPEC "Device operations": unknown type, a readable part too short for
/// its type, no room for the tail → nothing written, used length 0. A
/// readable part too long → S_INVAL (the codec's refusal).
#[test]
fn unparseable_requests_get_used_length_zero() {
    let m = mem();
    let mut h = H::new(&m, ch());
    assert_eq!(h.status(&[0, 0, 0, 0]), None);
    assert_eq!(h.status(&[8, 0, 0, 0, 1, 2, 3, 4]), None);
    assert_eq!(h.status(&attach(1, 8)[..19]), None);
    assert_eq!(h.status(&[]), None);
    // No tail, or a tail of 3 bytes.
    let (len, _) = h.send(&[Part::R(attach(1, 8))]);
    assert_eq!(len, 0);
    let (len, w) = h.send(&[Part::R(attach(1, 8)), Part::W(3)]);
    assert_eq!(tail(len, &w), None);
    assert_eq!(h.dev.domain_count(), 0, "nothing executed");
    // Too long.
    let mut long = attach(1, 8);
    long.push(0);
    assert_eq!(h.status(&long), Some(Status::Inval));
    // PROBE without F_PROBE: nothing written (SPEC "PROBE request").
    let mut c = ch();
    c.features.bits &= !F_PROBE;
    let mut h = H::new(&m, c);
    let (len, w) = h.send(&[Part::R(probe(8)), Part::W(28)]);
    assert_eq!(tail(len, &w), None);
}

#[test]
fn attach_statuses() {
    let m = mem();
    let mut c = ch();
    c.max_domains = 2;
    let mut h = H::new(&m, c);
    // Unknown endpoint: MUST S_NOENT.
    assert_eq!(h.status(&attach(1, 77)), Some(Status::NoEnt));
    // Reserved non-zero: MUST S_INVAL; an unknown flag: MUST S_INVAL.
    let mut a = attach(1, 8);
    a[17] = 1;
    assert_eq!(h.status(&a), Some(Status::Inval));
    let mut a = attach(1, 8);
    a[12] = 2;
    assert_eq!(h.status(&a), Some(Status::Inval));
    // A bypass domain, then a plain ATTACH to it: inconsistent → S_INVAL.
    let bypass = bytes(Attach {
        domain: 5,
        endpoint: 8,
        flags: ATTACH_F_BYPASS,
        ..Attach::default()
    });
    assert_eq!(h.status(&bypass), Some(Status::Ok));
    assert!(h.dev.bypasses(8));
    assert_eq!(h.mp.calls, [Call::Bypass(8, true)]);
    assert_eq!(h.status(&attach(5, 9)), Some(Status::Inval));
    // MAP / UNMAP on a bypass domain: S_INVAL.
    assert_eq!(h.status(&map(5, 0, 0xfff, 0, RW)), Some(Status::Inval));
    assert_eq!(h.status(&unmap(5, 0, 0xfff)), Some(Status::Inval));
    // The cap on domains: S_NOMEM.
    assert_eq!(h.status(&attach(6, 9)), Some(Status::Ok));
    assert_eq!(h.status(&attach(7, 10)), Some(Status::NoMem));
    assert_eq!(h.dev.domain_of(10), None);
    // Attaching again to the same domain is fine.
    assert_eq!(h.status(&attach(6, 9)), Some(Status::Ok));
    // Without BYPASS_CONFIG, ATTACH_F_BYPASS is an unknown flag.
    let mut c = ch();
    c.features.bits &= !F_BYPASS_CONFIG;
    let mut h = H::new(&m, c);
    assert_eq!(h.status(&bypass), Some(Status::Inval));
}

/// ATTACH of an attached endpoint is DETACH then ATTACH: the old domain's
/// mappings leave the endpoint's host side (and the domain dies with it:
/// its IOTLB entries and the endpoint's device-TLB entries go to the back
/// end), the new domain's mappings are replayed.
#[test]
fn attach_moves_an_endpoint() {
    let m = mem();
    let mut h = H::new(&m, ch());
    assert_eq!(h.status(&attach(1, 8)), Some(Status::Ok));
    assert_eq!(
        h.status(&map(1, 0x1000, 0x1fff, 0x4000, RW)),
        Some(Status::Ok)
    );
    assert_eq!(h.status(&attach(2, 9)), Some(Status::Ok));
    assert_eq!(
        h.status(&map(2, 0x3000, 0x3fff, 0x7000, RW)),
        Some(Status::Ok)
    );
    h.records();
    h.mp.calls.clear();
    assert_eq!(h.status(&attach(2, 8)), Some(Status::Ok));
    assert_eq!(
        h.mp.calls,
        [
            Call::Unmap(8, 0x1000, 0x1000),
            Call::Map(8, 0x3000, 0x7000, 0x1000, PROT_RW)
        ]
    );
    assert_eq!(
        h.records(),
        [
            Rec::B(vec![devtlb(1, 8), iotlb_of(1), config_inval(8)]),
            Rec::Sync
        ]
    );
    assert_eq!(h.dev.domain_count(), 1);
    assert_eq!(h.dev.translate(8, 0x3008, Access::Read), Ok(0x7008));
    // A replay the host refuses: undone, the endpoint left detached, S_DEVERR.
    assert_eq!(h.status(&attach(3, 10)), Some(Status::Ok));
    h.mp.fail_map = Some(0);
    h.mp.calls.clear();
    assert_eq!(h.status(&attach(2, 10)), Some(Status::DevErr));
    assert_eq!(h.dev.domain_of(10), None);
    assert_eq!(h.dev.endpoints_of(2).collect::<Vec<_>>(), [8, 9]);
}

#[test]
fn detach_statuses() {
    let m = mem();
    let mut h = H::new(&m, ch());
    // Unknown endpoint: MUST S_NOENT; not attached there: S_INVAL (MAY).
    assert_eq!(h.status(&detach(1, 77)), Some(Status::NoEnt));
    assert_eq!(h.status(&detach(1, 8)), Some(Status::Inval));
    assert_eq!(h.status(&attach(1, 8)), Some(Status::Ok));
    assert_eq!(h.status(&attach(1, 9)), Some(Status::Ok));
    assert_eq!(h.status(&detach(2, 8)), Some(Status::Inval));
    // Reserved bytes are ignored (MUST).
    let mut d = detach(1, 8);
    d[15] = 0xff;
    h.records();
    assert_eq!(h.status(&d), Some(Status::Ok));
    // The domain lives on with endpoint 9: no IOTLB invalidation.
    assert_eq!(
        h.records(),
        [Rec::B(vec![config_inval(8), devtlb(1, 8)]), Rec::Sync]
    );
    assert_eq!(h.dev.domain_count(), 1);
}

#[test]
fn map_statuses() {
    let m = mem();
    let mut c = ch();
    c.max_mappings = 2;
    let mut h = H::new(&m, c);
    assert_eq!(h.status(&map(1, 0, 0xfff, 0, RW)), Some(Status::NoEnt));
    assert_eq!(h.status(&attach(1, 8)), Some(Status::Ok));
    // Granule 4 KiB: start, phys and end + 1 aligned, else S_RANGE.
    assert_eq!(h.status(&map(1, 0x800, 0x17ff, 0, RW)), Some(Status::Range));
    assert_eq!(
        h.status(&map(1, 0x1000, 0x1fff, 0x10, RW)),
        Some(Status::Range)
    );
    assert_eq!(
        h.status(&map(1, 0x1000, 0x1ffe, 0, RW)),
        Some(Status::Range)
    );
    // virt_end not above virt_start: S_INVAL (the codec).
    assert_eq!(
        h.status(&map(1, 0x1000, 0x1000, 0, RW)),
        Some(Status::Inval)
    );
    // The whole 64-bit space has no size: S_RANGE; nor a physical end past 2^64.
    assert_eq!(h.status(&map(1, 0, u64::MAX, 0, RW)), Some(Status::Range));
    assert_eq!(
        h.status(&map(1, 0, 0x1fff, u64::MAX - 0xfff, RW)),
        Some(Status::Range)
    );
    // An unknown flag: S_INVAL; MMIO without F_MMIO: S_INVAL.
    assert_eq!(h.status(&map(1, 0, 0xfff, 0, 8)), Some(Status::Inval));
    assert_eq!(
        h.status(&map(1, 0, 0xfff, 0, MAP_F_MMIO)),
        Some(Status::Inval)
    );
    // Overlap with a reserved region (the MSI doorbell): S_INVAL.
    assert_eq!(
        h.status(&map(1, 0xfee0_0000, 0xfee0_0fff, 0, RW)),
        Some(Status::Inval)
    );
    // Overlap with a mapping: S_INVAL.
    assert_eq!(h.status(&map(1, 0x2000, 0x3fff, 0, RW)), Some(Status::Ok));
    assert_eq!(
        h.status(&map(1, 0x3000, 0x4fff, 0, RW)),
        Some(Status::Inval)
    );
    assert_eq!(
        h.status(&map(1, 0x1000, 0x2fff, 0, RW)),
        Some(Status::Inval)
    );
    // The host refuses: S_DEVERR, nothing recorded.
    h.mp.fail_map = Some(0);
    assert_eq!(
        h.status(&map(1, 0x8000, 0x8fff, 0, RW)),
        Some(Status::DevErr)
    );
    assert_eq!(h.dev.mappings_of(1).count(), 1);
    // The cap on mappings: S_NOMEM.
    assert_eq!(h.status(&map(1, 0x8000, 0x8fff, 0, RW)), Some(Status::Ok));
    assert_eq!(
        h.status(&map(1, 0x9000, 0x9fff, 0, RW)),
        Some(Status::NoMem)
    );
    // Without F_MAP_UNMAP: S_UNSUPP.
    let mut c = ch();
    c.features.bits &= !F_MAP_UNMAP;
    let mut h = H::new(&m, c);
    assert_eq!(h.status(&attach(1, 8)), Some(Status::Ok));
    assert_eq!(h.status(&map(1, 0, 0xfff, 0, RW)), Some(Status::Unsupp));
    assert_eq!(h.status(&unmap(1, 0, 0xfff)), Some(Status::Unsupp));
    // Outside input_range: S_RANGE.
    let mut c = ch();
    c.features.bits |= F_INPUT_RANGE;
    c.features.input_range = (0, 0xffff_ffff);
    let mut h = H::new(&m, c);
    assert_eq!(h.status(&attach(1, 8)), Some(Status::Ok));
    assert_eq!(
        h.status(&map(1, 0x1_0000_0000, 0x1_0000_0fff, 0, RW)),
        Some(Status::Range)
    );
}

/// The spec's seven UNMAP examples (SPEC "UNMAP request"), in pages.
#[test]
fn unmap_examples_of_the_spec() {
    let p = |n: u64| n * 0x1000;
    let e = |n: u64| n * 0x1000 + 0xfff;
    // (maps, unmap, status, mappings left)
    type Case = (&'static [(u64, u64)], (u64, u64), Status, &'static [u64]);
    let cases: [Case; 7] = [
        (&[], (0, 4), Status::Ok, &[]),
        (&[(0, 9)], (0, 9), Status::Ok, &[]),
        (&[(0, 4), (5, 9)], (0, 9), Status::Ok, &[]),
        (&[(0, 9)], (0, 4), Status::Range, &[0]),
        (&[(0, 4), (5, 9)], (0, 4), Status::Ok, &[5]),
        (&[(0, 4)], (0, 9), Status::Ok, &[]),
        (&[(0, 4), (10, 14)], (0, 14), Status::Ok, &[]),
    ];
    let m = mem();
    for (k, (maps, (us, ue), st, left)) in cases.iter().enumerate() {
        let mut h = H::new(&m, ch());
        assert_eq!(h.status(&attach(1, 8)), Some(Status::Ok));
        for &(s, t) in maps.iter() {
            assert_eq!(h.status(&map(1, p(s), e(t), p(s), RW)), Some(Status::Ok));
        }
        h.records();
        assert_eq!(
            h.status(&unmap(1, p(*us), e(*ue))),
            Some(*st),
            "example {}",
            k + 1
        );
        let starts: Vec<u64> = h.dev.mappings_of(1).map(|x| x.0 / 0x1000).collect();
        assert_eq!(&starts, left, "example {}", k + 1);
        // Refused: nothing to invalidate; done: the range's entries.
        let want = if *st == Status::Ok {
            vec![Rec::B(unmap_inval(1, p(*us), e(*ue), &[8])), Rec::Sync]
        } else {
            vec![]
        };
        assert_eq!(h.records(), want, "example {}", k + 1);
    }
}

#[test]
fn unmap_statuses() {
    let m = mem();
    let mut h = H::new(&m, ch());
    assert_eq!(h.status(&unmap(1, 0, 0xfff)), Some(Status::NoEnt));
    assert_eq!(h.status(&attach(1, 8)), Some(Status::Ok));
    assert_eq!(h.status(&attach(1, 9)), Some(Status::Ok));
    assert_eq!(
        h.status(&map(1, 0x1000, 0x2fff, 0x1000, RW)),
        Some(Status::Ok)
    );
    assert_eq!(h.status(&unmap(1, 0x2000, 0x1000)), Some(Status::Inval));
    // Reserved non-zero: ignored (the spec's MAY S_INVAL not taken).
    let mut u = unmap(1, 0x1000, 0x2fff);
    u[26] = 1;
    h.mp.calls.clear();
    h.mp.fail_unmap = true;
    // The host fails: S_DEVERR, but the guest's mapping is gone and the
    // invalidation still reaches the back end.
    h.records();
    assert_eq!(h.status(&u), Some(Status::DevErr));
    assert_eq!(
        h.mp.calls,
        [
            Call::Unmap(8, 0x1000, 0x2000),
            Call::Unmap(9, 0x1000, 0x2000)
        ]
    );
    assert_eq!(h.dev.mappings_of(1).count(), 0);
    assert_eq!(h.records().len(), 2);
}

#[test]
fn probe_statuses() {
    let m = mem();
    let mut h = H::new(&m, ch());
    // Unknown endpoint: S_NOENT, no property.
    let (len, w) = h.send(&[Part::R(probe(77)), Part::W(28)]);
    assert_eq!(tail(len, &w), Some(Status::NoEnt));
    assert!(w[..24].iter().all(|&b| b == 0));
    // Properties smaller than probe_size: S_INVAL, no property.
    let (len, w) = h.send(&[Part::R(probe(8)), Part::W(27)]);
    assert_eq!(tail(len, &w), Some(Status::Inval));
    assert!(w[..23].iter().all(|&b| b == 0));
    // Larger: the properties, then zeros.
    let (len, w) = h.send(&[Part::R(probe(8)), Part::W(64)]);
    assert_eq!(tail(len, &w), Some(Status::Ok));
    assert_eq!(w[0..4], [1, 0, 20, 0]);
    assert!(w[24..60].iter().all(|&b| b == 0));
    // No reserved region: all zero (type 0 ends the list).
    let mut c = ch();
    c.resv_mem.clear();
    let mut h = H::new(&m, c);
    let (len, w) = h.send(&[Part::R(probe(8)), Part::W(28)]);
    assert_eq!(tail(len, &w), Some(Status::Ok));
    assert!(w[..24].iter().all(|&b| b == 0));
}

/// With a draft, PROBE reports the draft properties the configuration asks
/// for after the RESV_MEM regions (RFC21 06/15, DRAFT18 layouts:
/// `iommu_inval_virtio::probe`); without one, RESV_MEM only; properties
/// that do not fit `probe_size` are a configuration error.
#[test]
fn probe_draft_properties() {
    use iommu_inval_virtio::probe::DraftProperty;
    let m = mem();
    let ask = DraftProbe {
        page_size_mask: true,
        input_range: true,
        output_bits: 48,
        pasid_bits: 20,
        page_table: true,
        pasid_table: true,
        asid_bits: 16,
        pgtf_flags: 0b11,
        pstf_flags: 0b100,
    };
    for (draft, want) in [
        (Draft::Rfc2021, 24 + 16 + 24 + 8 + 8 + 8 + 8),
        (Draft::Brucker2018, 24 + 16 + 24 + 8 + 8 + 16 + 16),
        (Draft::None, 24),
    ] {
        let mut c = ch();
        c.features.draft = draft;
        c.draft_probe = ask;
        // Too small a probe_size for them: refused when the device is built.
        if draft != Draft::None {
            assert_eq!(
                VirtioIommuDevice::new(c.clone()).err(),
                Some(ConfigError::ProbeTooSmall { needed: want })
            );
        }
        c.features.probe_size = 128;
        let mut h = H::new(&m, c);
        let (len, w) = h.send(&[Part::R(probe(8)), Part::W(132)]);
        assert_eq!(tail(len, &w), Some(Status::Ok), "{draft:?}");
        assert_eq!(w[0..4], [1, 0, 20, 0], "{draft:?}: RESV_MEM first");
        assert!(
            w[want..128].iter().all(|&b| b == 0),
            "{draft:?}: zeros after"
        );
        let mut at = 24;
        let mut kinds = vec![];
        while at < want {
            let p = DraftProperty::decode(&w[at..128], draft).unwrap();
            kinds.push(p.kind());
            at += p.size();
        }
        assert_eq!(at, want);
        if draft != Draft::None {
            assert_eq!(kinds, [2, 3, 4, 5, 6, 7], "{draft:?}");
            let p = DraftProperty::decode(&w[24..], draft).unwrap();
            assert_eq!(p, DraftProperty::PageSizeMask(0x20_1000));
        }
    }
}

/// A writable part longer than the tail on a request that has only a tail:
/// S_INVAL, written last, zeros before (the whole part answered).
#[test]
fn writable_part_longer_than_the_tail() {
    let m = mem();
    let mut h = H::new(&m, ch());
    let (len, w) = h.send(&[Part::R(attach(1, 8)), Part::W(12)]);
    assert_eq!(tail(len, &w), Some(Status::Inval));
    assert_eq!(&w[..8], &[0; 8]);
    assert_eq!(h.dev.domain_count(), 0);
}

/// Malformed chains: wrong direction, overlapping buffers, loops, indexes
/// past the queue, buffers outside guest memory.
#[test]
fn malformed_chains() {
    let m = mem();
    let mut h = H::new(&m, ch());
    let a = attach(1, 8);
    // A readable descriptor after the writable one: S_INVAL, nothing done.
    let (len, w) = h.send(&[
        Part::R(a[..10].to_vec()),
        Part::W(4),
        Part::R(a[10..].to_vec()),
    ]);
    assert_eq!(tail(len, &w), Some(Status::Inval));
    assert_eq!(h.dev.domain_count(), 0);
    // The tail overlapping the request: S_INVAL.
    let r = 0x6_0000u64;
    m.write_slice(&a, GuestAddress(r)).unwrap();
    h.d.offer_raw(&[(r, 20, 0), (r + 16, 4, F_WRITE)]);
    h.run();
    assert_eq!(h.d.used()[0].1, 4);
    let mut t = [0u8; 4];
    m.read_slice(&mut t, GuestAddress(r + 16)).unwrap();
    assert_eq!(t, Status::Inval.tail());
    assert_eq!(h.dev.domain_count(), 0);
    // Two writable buffers overlapping: S_INVAL.
    m.write_slice(&a, GuestAddress(r)).unwrap();
    h.d.offer_raw(&[(r, 20, 0), (r + 0x100, 4, F_WRITE), (r + 0x102, 4, F_WRITE)]);
    h.run();
    assert_eq!(h.d.used()[0].1, 8);
    m.read_slice(&mut t, GuestAddress(r + 0x102)).unwrap();
    assert_eq!(t, Status::Inval.tail());
    // Two readable buffers overlapping are harmless (the same bytes read
    // twice): ATTACH domain 0 endpoint 0x1_0000 is its first 10 bytes twice.
    let twice = attach(0, 0x1_0000);
    assert_eq!(twice[..10], twice[10..]);
    h.dev.add_endpoint(0x1_0000);
    m.write_slice(&twice[..10], GuestAddress(r)).unwrap();
    h.d.offer_raw(&[(r, 10, 0), (r, 10, 0), (r + 0x300, 4, F_WRITE)]);
    h.run();
    assert_eq!(h.d.used()[0].1, 4);
    m.read_slice(&mut t, GuestAddress(r + 0x300)).unwrap();
    assert_eq!(t, Status::Ok.tail());
    assert_eq!(h.dev.domain_of(0x1_0000), Some(0));
    h.dev.reset(&mut h.be, &mut NoMapper).unwrap();
    // A loop (the tail's descriptor NEXT is itself): used length 0.
    let at = h.d.next_desc;
    m.write_slice(&a, GuestAddress(r)).unwrap();
    h.d.offer_exact(&[
        (r, 20, F_NEXT, at + 1),
        (r + 0x400, 4, F_WRITE | F_NEXT, at + 1),
    ]);
    h.run();
    assert_eq!(h.d.used()[0].1, 0);
    // NEXT past the queue: used length 0.
    h.d.offer_exact(&[(r, 20, F_NEXT, QSIZE + 3)]);
    h.run();
    assert_eq!(h.d.used()[0].1, 0);
    // The readable part outside guest memory: S_FAULT.
    let wb = 0x6_1000u64;
    h.d.offer_raw(&[(MEM + 0x1000, 20, 0), (wb, 4, F_WRITE)]);
    h.run();
    assert_eq!(h.d.used()[0].1, 4);
    m.read_slice(&mut t, GuestAddress(wb)).unwrap();
    assert_eq!(t, Status::Fault.tail());
    // The writable part outside guest memory: used length 0.
    h.d.offer_raw(&[(r, 20, 0), (MEM - 2, 4, F_WRITE)]);
    h.run();
    assert_eq!(h.d.used()[0].1, 0);
    assert_eq!(h.dev.domain_count(), 0, "nothing executed");
}

/// The back end fails: the request took effect, the guest hears S_DEVERR.
#[test]
fn backend_failure_is_deverr() {
    let m = mem();
    let mut h = H::new(&m, ch());
    h.be = RecordingBackend::failing(BackendError::Failed("host queue"));
    assert_eq!(h.status(&attach(1, 8)), Some(Status::DevErr));
    assert_eq!(h.status(&attach(1, 9)), Some(Status::Ok));
}

/// The drafts: a ratified device refuses INVALIDATE and ATTACH_TABLE with
/// S_UNSUPP; a device of the 2021 RFC hands INVALIDATE's seed request to
/// the back end, and refuses ATTACH_TABLE (no guest table is bound here).
#[test]
fn draft_requests() {
    let inv = bytes(Invalidate {
        inv_gran: INVAL_G_VA,
        inv_type: INV_T_IOTLB,
        flags: INVAL_F_PASID,
        domain: 1,
        pasid: 5,
        virt_start: 0x4000,
        nr_pages: 2,
        granule: 12,
        ..Invalidate::default()
    });
    let table = bytes(AttachTable {
        head_reserved: [0; 3],
        domain: 1,
        endpoint: 8,
        table: Table::PstArm {
            s1fmt: 0,
            s1dss: 0,
            s1contextptr: 0x10_0000,
            s1cdmax: 4,
        },
    });
    let m = mem();
    let mut h = H::new(&m, ch());
    assert_eq!(h.status(&inv), Some(Status::Unsupp));
    assert_eq!(h.status(&table), Some(Status::Unsupp));
    let mut c = ch();
    c.features = Features::VSVA_2021;
    let mut h = H::new(&m, c);
    assert_eq!(h.status(&inv), Some(Status::NoEnt));
    assert_eq!(h.status(&attach(1, 8)), Some(Status::Ok));
    h.records();
    assert_eq!(h.status(&inv), Some(Status::Ok));
    let recs = h.records();
    assert!(matches!(recs.last(), Some(Rec::Sync)));
    let ops: Vec<Op> = recs
        .iter()
        .flat_map(|r| match r {
            Rec::B(o) => o.clone(),
            Rec::Sync => vec![],
        })
        .collect();
    assert!(ops.iter().any(|o| matches!(o,
        Op::Inval(i) if i.caches.contains(Caches::IOTLB)
            && i.domain == DomainSel::One(1)
            && i.pasid == PasidSel::One(5)
            && i.range == AddrRange::Span { first: 0x4000, last: 0x5fff })));
    assert_eq!(h.status(&table), Some(Status::Unsupp));
}

/// Bypass: the configuration field (BYPASS_CONFIG) for unattached
/// endpoints, told to the mapper when it changes.
#[test]
fn bypass_config() {
    let m = mem();
    let mut h = H::new(&m, ch());
    assert!(!h.dev.bypasses(8));
    assert_eq!(h.dev.config_space()[36], 0);
    h.dev.write_bypass(0xff, &mut h.mp).unwrap();
    assert_eq!(h.dev.config_space()[36], 1, "bits 1..7 ignored");
    assert!(h.dev.bypasses(8));
    assert_eq!(h.dev.translate(8, 0x1234, Access::Write), Ok(0x1234));
    assert_eq!(
        h.mp.calls,
        [
            Call::Bypass(8, true),
            Call::Bypass(9, true),
            Call::Bypass(10, true)
        ]
    );
    h.mp.calls.clear();
    assert_eq!(h.status(&attach(1, 8)), Some(Status::Ok));
    assert!(!h.dev.bypasses(8));
    assert_eq!(h.mp.calls, [Call::Bypass(8, false)]);
    assert_eq!(h.status(&detach(1, 8)), Some(Status::Ok));
    assert!(h.dev.bypasses(8));
    // Reset: nothing attached, bypass kept.
    assert_eq!(h.status(&attach(1, 9)), Some(Status::Ok));
    h.records();
    h.dev.reset(&mut h.be, &mut h.mp).unwrap();
    assert_eq!(h.dev.domain_count(), 0);
    assert!(h.dev.bypasses(9));
    // The detach's invalidations reached the back end, with a barrier.
    assert_eq!(
        h.records(),
        [Rec::B(vec![devtlb(1, 9), iotlb_of(1)]), Rec::Sync]
    );
}

#[test]
fn config_space_layout() {
    let mut c = ch();
    c.features.bits |= F_INPUT_RANGE | F_DOMAIN_RANGE;
    c.features.input_range = (0x1000, 0xffff_ffff);
    c.features.domain_range = (1, 100);
    let dev = VirtioIommuDevice::new(c).unwrap();
    let cs = dev.config_space();
    let f = Features::from_config(dev.config().features.bits, &cs, Draft::None).unwrap();
    assert_eq!(f, dev.config().features);
    assert_eq!(&cs[0..8], &(0x20_1000u64).to_le_bytes());
    assert_eq!(&cs[32..36], &24u32.to_le_bytes());
    // Configurations a device cannot present.
    let mut c = ch();
    c.features.page_size_mask = 0;
    assert_eq!(
        VirtioIommuDevice::new(c).unwrap_err(),
        ConfigError::NoPageSize
    );
    let mut c = ch();
    c.features.probe_size = 20;
    assert_eq!(
        VirtioIommuDevice::new(c).unwrap_err(),
        ConfigError::ProbeTooSmall { needed: 24 }
    );
}

/// Translation faults and the event queue: the record in a buffer of the
/// event queue, no buffer, a buffer too small.
#[test]
fn faults_to_the_event_queue() {
    let m = mem();
    let mut h = H::new(&m, ch());
    assert_eq!(h.status(&attach(1, 8)), Some(Status::Ok));
    assert_eq!(
        h.status(&map(1, 0x1000, 0x1fff, 0x4000, MAP_F_READ)),
        Some(Status::Ok)
    );
    let f = h.dev.translate(8, 0x1008, Access::Write).unwrap_err();
    assert_eq!(
        f,
        Fault {
            reason: FaultReason::Mapping as u8,
            flags: FAULT_F_WRITE | FAULT_F_ADDRESS,
            endpoint: 8,
            reserved1: 0,
            address: 0x1008
        }
    );
    let g = h.dev.translate(9, 0x1008, Access::Read).unwrap_err();
    assert_eq!(
        (g.reason, g.flags),
        (FaultReason::Domain as u8, FAULT_F_READ | FAULT_F_ADDRESS)
    );
    // No buffer.
    assert!(matches!(
        h.dev.report_fault(&mut h.ev.q, &m, &f),
        Err(QueueError::NoBuffer)
    ));
    // A buffer (split in two, as no driver does: still one record).
    let w = h.ev.offer(&[Part::W(10), Part::W(14)]);
    h.dev.report_fault(&mut h.ev.q, &m, &f).unwrap();
    assert_eq!(h.ev.used()[0].1, 24);
    assert_eq!(Fault::decode(&h.ev.read(&w)), Ok(f));
    // Too small: returned unwritten.
    let w = h.ev.offer(&[Part::W(16)]);
    assert!(matches!(
        h.dev.report_fault(&mut h.ev.q, &m, &f),
        Err(QueueError::BufferTooSmall(16))
    ));
    assert_eq!(h.ev.used()[0].1, 0);
    assert_eq!(h.ev.read(&w), vec![FILL; 16]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary descriptor chains over arbitrary guest bytes: never a
    /// panic, a used entry per chain, the used length 0 or the whole
    /// writable part.
    #[test]
    fn arbitrary_chains_never_panic(
        descs in prop::collection::vec(
            (0u64..0x2_0000, 0u32..0x120, 0u16..8, 0u16..QSIZE + 4), 1..12),
        fill in prop::collection::vec(any::<u8>(), 0x400),
        ty in 0u8..9,
    ) {
        let m = mem();
        let mut c = ch();
        c.features = Features::ALL;
        let mut h = H::new(&m, c);
        for k in 0..0x80u64 {
            let mut f = fill.clone();
            f[0] = ty;
            m.write_slice(&f, GuestAddress(0x1_0000 + k * 0x400)).unwrap();
        }
        let descs: Vec<_> = descs
            .iter()
            .map(|&(a, l, f, n)| (0x1_0000 + a, l, f & (F_NEXT | F_WRITE | F_INDIRECT), n))
            .collect();
        h.d.offer_exact(&descs);
        let p = h.run();
        let used = h.d.used();
        prop_assert_eq!(used.len() as u32, p.chains);
    }
}
