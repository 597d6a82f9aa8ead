//! The virtio-iommu request queue end to end
//! (`iommu_inval_virtio::device::VirtioIommuDevice::process_requestq`,
//! feature `virtqueue`): descriptor chains popped from a split virtqueue in
//! a `GuestMemoryMmap`, the chain walked and its readable part read into a
//! stack buffer (no virtio-queue `Reader` / `Writer`: nothing allocated),
//! decoded, executed (the device's mapping table and a mapper), lifted and
//! handed to a back end, the tail written, the used ring updated. Each iteration makes 64 chains available — 32 pairs
//! MAP / UNMAP of one 4 KiB page as Linux frames them (the readable part,
//! then the 4-byte tail) — and processes them; ns per request = time / 64.
//! Beside it, the codec alone on the same 64 readable parts
//! (`Command::decode_bytes_with`), the floor of the front end.

use std::hint::black_box;

use divan::counter::ItemsCount;
use divan::Bencher;

use iommu_inval_bench::virtio::page_map_unmap;
use iommu_inval_core::device::{Backend, CountingBackend, RecordingBackend};
use iommu_inval_core::IdentityContext;
use iommu_inval_virtio::device::{DeviceConfig, NoMapper, VirtioIommuDevice};
use iommu_inval_virtio::{Attach, Command, MAX_BYTES};
use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const PAIRS: u16 = 32;
const QSIZE: u16 = 256;

fn main() {
    divan::main();
}

fn bytes(c: impl Into<Command>) -> Vec<u8> {
    let c = c.into();
    let mut b = [0u8; MAX_BYTES];
    let n = c.encode_bytes_into(&mut b).unwrap();
    b[..n].to_vec()
}

/// The requests: MAP then UNMAP of page `k`, for each of the pairs.
fn requests() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for k in 0..u64::from(PAIRS) {
        let (map, unmap) = page_map_unmap(k);
        v.push(bytes(map));
        v.push(bytes(unmap));
    }
    v
}

/// Guest memory with the chains in the descriptor table (chain `k` at
/// indices 2k, 2k + 1), the queue, and a device with endpoint 8 attached
/// to domain 1.
fn setup(
    m: &GuestMemoryMmap,
) -> (
    MockSplitQueue<'_, GuestMemoryMmap>,
    Queue,
    VirtioIommuDevice,
) {
    let mock = MockSplitQueue::create(m, GuestAddress(0), QSIZE);
    let mut raw = Vec::new();
    for (k, r) in requests().iter().enumerate() {
        let (ra, wa) = (0x1_0000 + 0x100 * k as u64, 0x1_0080 + 0x100 * k as u64);
        m.write_slice(r, GuestAddress(ra)).unwrap();
        let i = 2 * k as u16;
        raw.push(RawDescriptor::from(SplitDescriptor::new(
            ra,
            r.len() as u32,
            1,
            i + 1,
        )));
        raw.push(RawDescriptor::from(SplitDescriptor::new(wa, 4, 2, 0)));
    }
    for (i, d) in raw.iter().enumerate() {
        mock.desc_table().store(i as u16, *d).unwrap();
    }
    let mut q: Queue = mock.create_queue().unwrap();
    // Clear of the available ring (virtio-queue 0.18's mock places the used
    // ring over the second half of its entries).
    q.set_used_ring_address(Some(0x4000), Some(0));
    let mut dev = VirtioIommuDevice::new(DeviceConfig::cloud_hypervisor(vec![8])).unwrap();
    let attach = Command::Attach(Attach {
        domain: 1,
        endpoint: 8,
        ..Attach::default()
    });
    dev.execute(
        &attach,
        &IdentityContext,
        &mut CountingBackend::default(),
        &mut NoMapper,
    );
    (mock, q, dev)
}

/// Make the 64 chains available (the driver's avail-ring writes).
fn offer(m: &GuestMemoryMmap, avail: GuestAddress) {
    let idx: u16 = m.read_obj(GuestAddress(avail.0 + 2)).unwrap();
    for k in 0..2 * PAIRS {
        let slot = idx.wrapping_add(k) % QSIZE;
        m.write_obj(2 * k, GuestAddress(avail.0 + 4 + 2 * u64::from(slot)))
            .unwrap();
    }
    m.write_obj(idx.wrapping_add(2 * PAIRS), GuestAddress(avail.0 + 2))
        .unwrap();
}

/// The request queue end to end into `be` (`reset` before each pass).
fn requestq<B: Backend>(b: Bencher, mut be: B, reset: fn(&mut B)) {
    let m = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
    let (mock, mut q, mut dev) = setup(&m);
    let avail = mock.avail_addr();
    b.counter(ItemsCount::new(2 * PAIRS as usize))
        .bench_local(|| {
            offer(&m, avail);
            reset(&mut be);
            let p = dev
                .process_requestq(&mut q, &m, &IdentityContext, &mut be, &mut NoMapper)
                .unwrap();
            assert_eq!(p.ok, u32::from(2 * PAIRS));
            black_box(p)
        });
}

/// The request queue end to end, a counting back end.
#[divan::bench]
fn requestq_counting(b: Bencher) {
    requestq(b, CountingBackend::default(), |_| {});
}

/// The same with a recording back end (cleared each iteration).
#[divan::bench]
fn requestq_recording(b: Bencher) {
    requestq(b, RecordingBackend::default(), RecordingBackend::clear);
}

/// The floor: decoding the same 64 readable parts.
#[divan::bench]
fn decode_only(b: Bencher) {
    let reqs = requests();
    let f = DeviceConfig::cloud_hypervisor(vec![8]).features;
    b.counter(ItemsCount::new(reqs.len())).bench_local(|| {
        for r in &reqs {
            black_box(Command::decode_bytes_with(black_box(r), &f).unwrap());
        }
    });
}
