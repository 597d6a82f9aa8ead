//! The virtio-iommu virtqueue device (`iommu-inval-virtio`, feature
//! `virtqueue`) fed arbitrary descriptor chains over arbitrary guest memory:
//! valid requests (the crate's `Arbitrary`) and raw bytes, split across
//! descriptors anyhow, with a descriptor's flags or NEXT mangled at times
//! (wrong direction, loops, indirect tables, indexes past the queue,
//! buffers outside guest memory), on a device of any preset, a mapper and a
//! back end that fail at times. Checks: never a panic; one used entry per
//! chain, of length 0 or the whole writable part; the device's tables stay
//! consistent (each endpoint in the domain it names, domains never empty,
//! mappings disjoint and never over a reserved region); a reset leaves
//! nothing attached.
#![no_main]
use arbitrary::Arbitrary;
use iommu_inval_core::device::{BackendError, RecordingBackend};
use iommu_inval_core::IdentityContext;
use iommu_inval_virtio::device::{DeviceConfig, DmaMapper, Prot, VirtioIommuDevice};
use iommu_inval_virtio::{Command, Features, MAX_BYTES};
use libfuzzer_sys::fuzz_target;
use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const QSIZE: u16 = 32;
const MEM: u64 = 0x4_0000;
const BUFS: u64 = 0x1000;

#[derive(Arbitrary, Debug)]
enum Body {
    Cmd(Command),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Chain {
    body: Body,
    /// Bring a valid request's ids into the device's few endpoints and
    /// domains, and its addresses onto 4 KiB pages of a small window, so
    /// that requests meet each other's state.
    tame: bool,
    /// Readable part split after these byte counts.
    r_splits: Vec<u8>,
    /// Writable descriptors' lengths.
    w_parts: Vec<u8>,
    /// Mangle descriptor `.0`: flags `.1`, next `.2`, address offset `.3`.
    mangle: Option<(u8, u8, u8, u16)>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    preset: u8,
    bypass: bool,
    fail_map_every: u8,
    fail_backend: bool,
    memory: Vec<u8>,
    chains: Vec<Chain>,
}

struct Flaky {
    every: u8,
    n: u8,
}

impl Flaky {
    fn tick(&mut self) -> Result<(), BackendError> {
        self.n = self.n.wrapping_add(1);
        if self.every != 0 && self.n % self.every == 0 {
            Err(BackendError::Failed("fuzz"))
        } else {
            Ok(())
        }
    }
}

impl DmaMapper for Flaky {
    fn map(&mut self, _: u32, _: u64, _: u64, _: u64, _: Prot) -> Result<(), BackendError> {
        self.tick()
    }
    fn unmap(&mut self, _: u32, _: u64, _: u64) -> Result<(), BackendError> {
        self.tick()
    }
}

/// Small ids, page-aligned addresses in a 1 MiB window.
fn tame(c: &mut Command) {
    let page = |v: u64| (v & 0xf_f000) | 0x100_0000;
    let span = |s: u64, e: u64| (page(s), page(s) + ((e & 0xf) << 12) + 0xfff);
    match c {
        Command::Attach(a) => {
            a.domain %= 6;
            a.endpoint %= 10;
        }
        Command::Detach(d) => {
            d.domain %= 6;
            d.endpoint %= 10;
        }
        Command::Map(m) => {
            m.domain %= 6;
            (m.virt_start, m.virt_end) = span(m.virt_start, m.virt_end);
            m.phys_start = page(m.phys_start);
        }
        Command::Unmap(u) => {
            u.domain %= 6;
            (u.virt_start, u.virt_end) = span(u.virt_start, u.virt_end);
        }
        Command::Probe(p) => p.endpoint %= 10,
        Command::AttachTable(a) => {
            a.domain %= 6;
            a.endpoint %= 10;
        }
        Command::Invalidate(i) => i.domain %= 6,
        Command::Invalidate2018(i) => i.domain %= 6,
    }
}

fuzz_target!(|inp: Input| {
    let presets = [
        Features::CLOUD_HYPERVISOR,
        Features::CROSVM,
        Features::VIRTIO_1_2,
        Features::VSVA_2018,
        Features::VSVA_2021,
        Features::ALL,
    ];
    let mut config = DeviceConfig::cloud_hypervisor((0..8).collect());
    config.features = presets[usize::from(inp.preset) % presets.len()];
    config.features.bypass = inp.bypass;
    config.max_domains = 4;
    config.max_mappings = 16;
    let Ok(mut dev) = VirtioIommuDevice::new(config) else {
        return;
    };
    let m = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM as usize)]).unwrap();
    let n = inp.memory.len().min((MEM - BUFS) as usize);
    m.write_slice(&inp.memory[..n], GuestAddress(BUFS)).unwrap();
    let mock = MockSplitQueue::create(&m, GuestAddress(0), QSIZE);
    let mut q: Queue = mock.create_queue().unwrap();
    // Clear of the available ring (virtio-queue 0.18's mock places the used
    // ring over the second half of its entries).
    const USED: u64 = 0x800;
    q.set_used_ring_address(Some(USED as u32), Some(0));
    let mut be = if inp.fail_backend {
        RecordingBackend::failing(BackendError::Failed("fuzz"))
    } else {
        RecordingBackend::default()
    };
    let mut mapper = Flaky {
        every: inp.fail_map_every,
        n: 0,
    };
    let mut next_buf = 0x2_0000u64;
    let mut used_seen = 0u16;
    for c in inp.chains.iter().take(16) {
        let body = match &c.body {
            Body::Cmd(cmd) => {
                let mut cmd = *cmd;
                if c.tame {
                    tame(&mut cmd);
                }
                let mut b = [0u8; MAX_BYTES];
                let k = cmd.encode_bytes_into(&mut b).unwrap_or(0);
                b[..k].to_vec()
            }
            Body::Raw(r) => r.iter().copied().take(200).collect(),
        };
        // (addr, len, flags): the readable pieces, then the writable ones.
        let mut descs: Vec<(u64, u32, u16)> = Vec::new();
        let mut at = 0usize;
        let mut alloc = |len: usize| {
            let a = next_buf;
            next_buf = (next_buf + len as u64 + 15) & !15;
            if next_buf >= MEM {
                next_buf = 0x2_0000;
            }
            a
        };
        for &s in c.r_splits.iter().take(8) {
            let end = (at + usize::from(s)).min(body.len());
            let a = alloc(end - at);
            m.write_slice(&body[at..end], GuestAddress(a)).unwrap_or(());
            descs.push((a, (end - at) as u32, 0));
            at = end;
        }
        let a = alloc(body.len() - at);
        m.write_slice(&body[at..], GuestAddress(a)).unwrap_or(());
        descs.push((a, (body.len() - at) as u32, 0));
        let mut wlens = Vec::new();
        for &w in c.w_parts.iter().take(8) {
            let a = alloc(usize::from(w));
            descs.push((a, u32::from(w), 2));
            wlens.push(u32::from(w));
        }
        let k = descs.len();
        let mut raw: Vec<(u64, u32, u16, u16)> = descs
            .iter()
            .enumerate()
            .map(|(i, &(a, l, f))| {
                if i + 1 < k {
                    (a, l, f | 1, i as u16 + 1)
                } else {
                    (a, l, f, 0)
                }
            })
            .collect();
        let mut mangled = false;
        if let Some((i, f, nx, off)) = c.mangle {
            let i = usize::from(i) % k;
            raw[i].2 = u16::from(f) & 7;
            raw[i].3 = u16::from(nx) % (QSIZE + 4);
            raw[i].0 = raw[i].0.wrapping_add(u64::from(off) << 4);
            mangled = true;
        }
        if k > usize::from(QSIZE) {
            continue;
        }
        let rawd: Vec<RawDescriptor> = raw
            .iter()
            .map(|&(a, l, f, n)| RawDescriptor::from(SplitDescriptor::new(a, l, f, n)))
            .collect();
        if mock.add_desc_chains(&rawd, 0).is_err() {
            continue;
        }
        let Ok(p) = dev.process_requestq(&mut q, &m, &IdentityContext, &mut be, &mut mapper) else {
            return;
        };
        let idx: u16 = m.read_obj(GuestAddress(USED + 2)).unwrap();
        let got = idx.wrapping_sub(used_seen);
        assert_eq!(u32::from(got), p.chains, "one used entry per chain");
        if !mangled && p.chains == 1 {
            let e = USED + 4 + 8 * u64::from(used_seen % QSIZE);
            let len: u32 = m.read_obj(GuestAddress(e + 4)).unwrap();
            let wsum: u32 = wlens.iter().sum();
            assert!(len == 0 || len == wsum, "used {len} of {wsum}");
        }
        // The next chain reuses the table from index 0: this one is used.
        used_seen = idx;
    }
    // The tables stay consistent.
    for ep in 0..8u32 {
        if let Some(d) = dev.domain_of(ep) {
            assert!(dev.endpoints_of(d).any(|e| e == ep), "endpoint {ep} not in its domain {d}");
        }
    }
    for d in 0..64u32 {
        let maps: Vec<_> = dev.mappings_of(d).collect();
        assert!(
            maps.is_empty() || dev.endpoints_of(d).next().is_some(),
            "domain {d} outlived its last endpoint"
        );
        for w in maps.windows(2) {
            assert!(w[0].1 < w[1].0, "overlapping mappings {w:?}");
        }
        for mp in &maps {
            assert!(mp.0 <= mp.1);
            assert!(
                !dev.config().resv_mem.iter().any(|r| r.start <= mp.1 && r.end >= mp.0),
                "a mapping over a reserved region"
            );
        }
    }
    // A device reset leaves nothing attached.
    let _ = dev.reset(&mut be, &mut mapper);
    assert_eq!(dev.domain_count(), 0, "a domain survived the reset");
    assert!((0..8).all(|ep| dev.domain_of(ep).is_none()));
});
