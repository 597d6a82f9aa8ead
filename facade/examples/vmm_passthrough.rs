//! A VMM passes a guest's IOMMU invalidations through to a host IOMMU of
//! another architecture, end to end:
//!
//! 1. a simulated guest driver writes a real Linux-driver command stream
//!    (`examples/*.cmds`) into its command queue, in a rust-vmm
//!    `GuestMemoryMmap`, and rings the doorbell;
//! 2. the emulated IOMMU's front end (`CommandQueue::process`) fetches,
//!    decodes and lifts every command, hands the ops to the back end batched
//!    per barrier, and writes each sync's completion into guest memory;
//! 3. the back end (`LowerToHost`) lowers the ops to the host architecture's
//!    commands, writes them into a host queue in host memory as its
//!    producer, adds a host sync at each guest barrier and "kicks" the host:
//!    here the host IOMMU is the same library's front end of the host
//!    architecture, consuming the host queue;
//! 4. the guest sees its completion status land in its memory.
//!
//! ```text
//! cargo run --example vmm_passthrough -p iommu-inval              # the 12 ordered pairs
//! cargo run --example vmm_passthrough -p iommu-inval -- smmuv3 amd
//! ```
//!
//! The same scenario is the integration test `cli/tests/vmm_passthrough.rs`
//! (which also measures footprints with the CLI's `--explain` projection).

use std::collections::BTreeMap;

use iommu_inval::core::arch::Arch as ArchImpl;
use iommu_inval::core::device::{ArchError, FaultCause, RecordingBackend};
use iommu_inval::core::model::{Barrier, Store, Widened};
use iommu_inval::prelude::*;
use vm_memory::{GuestAddress, GuestMemoryMmap};

/// Guest command queue (64 KiB region).
pub const GUEST_RING: u64 = 0x1_0000;
/// Host command queue (64 KiB region of host memory).
pub const HOST_RING: u64 = 0x10_0000;
/// Where the host's own syncs store their completion.
pub const HOST_STATUS: u64 = 0x20_0000;

/// The architectures with a command ring (virtio-iommu's requests come
/// as virtqueue descriptor chains: not this scenario's).
pub const RING_ARCHES: [ArchId; 4] = [ArchId::Smmuv3, ArchId::Vtd, ArchId::Amd, ArchId::Riscv];

/// The guest driver streams shipped in `examples/`, with the ids of
/// `examples/topology.json` (none for virtio-iommu, which has no ring).
pub fn stream(arch: ArchId) -> &'static str {
    match arch {
        ArchId::VirtioIommu => "",
        ArchId::Smmuv3 => include_str!("../../examples/smmuv3.cmds"),
        ArchId::Vtd => include_str!("../../examples/vtd.cmds"),
        ArchId::Amd => include_str!("../../examples/amd.cmds"),
        ArchId::Riscv => include_str!("../../examples/riscv.cmds"),
    }
}

/// The topology the streams are written against.
pub fn topology() -> Topology {
    Topology::from_json(include_str!("../../examples/topology.json"))
        .expect("examples/topology.json")
}

/// What one guest → host run did.
#[derive(Debug)]
pub struct Report {
    /// Guest architecture.
    pub guest: ArchId,
    /// Host architecture.
    pub host: ArchId,
    /// Commands the guest wrote.
    pub written: usize,
    /// What the guest's front end did.
    pub progress: Progress<&'static str>,
    /// Guest syncs with a completion store.
    pub syncs_with_store: usize,
    /// Status words the guest polls (distinct store addresses), and how many
    /// hold the data of the last sync that stores to them.
    pub stores: (usize, usize),
    /// Host commands written into the host queue.
    pub host_commands: u64,
    /// What the host's front end did, over every kick.
    pub host_progress: Progress<&'static str>,
    /// What lowering to the host widened.
    pub widened: Widened,
    /// The guest's ops, in order (what the front end lifted).
    pub guest_ops: Vec<Op>,
    /// The host's ops (what the host's commands lift to).
    pub host_ops: Vec<Op>,
}

/// The guest driver: parse a stream and, for SMMUv3, poll syncs the way
/// the Linux driver does with MSI polling (ARM_SMMU_OPT_MSIPOLL): CS =
/// SIG_IRQ with MSIData 0 written to the CMD_SYNC's own queue slot.
fn guest_commands(arch: ArchId) -> Result<Vec<[u64; 4]>, String> {
    // The VT-d stream is the 128-bit one (examples/vtd.cmds).
    let words = 2;
    let mut out = Vec::new();
    for (n, line) in stream(arch).lines().enumerate() {
        let Some(mut w) =
            hex_words(line, words).map_err(|e| format!("{arch} stream line {}: {e}", n + 1))?
        else {
            continue;
        };
        if arch == ArchId::Smmuv3 && w[0] & 0xff == 0x46 {
            let slot = GUEST_RING + 16 * out.len() as u64;
            w = [0x46 | 1 << 12, slot, 0, 0];
        }
        out.push(w);
    }
    Ok(out)
}

/// One line of a stream: `words` hex words separated by commas, `#` starting
/// a comment; `None` for a line without a command.
fn hex_words(line: &str, words: usize) -> Result<Option<[u64; 4]>, String> {
    let line = line.split('#').next().unwrap_or("").trim();
    if line.is_empty() {
        return Ok(None);
    }
    let mut w = [0u64; 4];
    let mut got = 0;
    for part in line.split(',') {
        let part = part.trim();
        let digits = part
            .strip_prefix("0x")
            .or_else(|| part.strip_prefix("0X"))
            .unwrap_or(part);
        let v = u64::from_str_radix(digits, 16).map_err(|e| format!("{part:?}: {e}"))?;
        *w.get_mut(got).ok_or("too many words")? = v;
        got += 1;
    }
    if got != words {
        return Err(format!("{got} words, not {words}"));
    }
    Ok(Some(w))
}

/// The base register value of a queue at `base` of 256 slots (a host VT-d
/// queue holds 256-bit descriptors, as Linux programs it in scalable mode).
fn registers(arch: ArchId, base: u64, host: bool) -> u64 {
    match arch {
        ArchId::Smmuv3 => base | 8,                // SMMU_CMDQ_BASE.LOG2SIZE = 8
        ArchId::Vtd if host => base | 1 << 11 | 1, // IQA_REG: DW = 1, QS = 1
        ArchId::Vtd => base,                       // IQA_REG: one page, 128-bit
        ArchId::Amd => 8 << 56 | base,             // CmdBufBaseAddr.ComLen = 8
        ArchId::Riscv => (base >> 12) << 10 | 7,   // cqb: PPN, LOG2SZ-1 = 7
        ArchId::VirtioIommu => base,               // no ring (not run)
    }
}

/// The tail register value after `n` commands (16-byte slots).
fn tail(arch: ArchId, n: usize) -> u64 {
    match arch {
        // SMMU_CMDQ_PROD and the RISC-V cqt count entries.
        ArchId::Smmuv3 | ArchId::Riscv | ArchId::VirtioIommu => n as u64,
        ArchId::Vtd | ArchId::Amd => 16 * n as u64,
    }
}

/// Run the scenario for guest queue `G` and host queue `H`.
pub fn run<G: CommandQueue, H: QueueProducer>() -> Result<Report, String> {
    let (guest_arch, host_arch) = (
        <G::Arch as iommu_inval::core::arch::Arch>::ID,
        <H::Arch as iommu_inval::core::arch::Arch>::ID,
    );
    let ctx = topology();
    // Guest RAM: the command queue, and the page the VT-d and AMD streams
    // store their completion status to (0x7f000000).
    let guest_ram = GuestMemoryMmap::<()>::from_ranges(&[
        (GuestAddress(GUEST_RING), 0x1_0000),
        (GuestAddress(0x7f00_0000), 0x1000),
    ])
    .map_err(|e| e.to_string())?;
    let host_ram = GuestMemoryMmap::<()>::from_ranges(&[
        (GuestAddress(HOST_RING), 0x1_0000),
        (GuestAddress(HOST_STATUS), 0x1000),
    ])
    .map_err(|e| e.to_string())?;
    let (gmem, hmem) = (VmMemory(&guest_ram), VmMemory(&host_ram));

    // 1. The guest driver writes its stream and rings the doorbell.
    let cmds = guest_commands(guest_arch)?;
    let mut expect: BTreeMap<u64, u64> = BTreeMap::new();
    let mut syncs_with_store = 0;
    let mut guest_ops = Vec::new();
    for (i, w) in cmds.iter().enumerate() {
        gmem.write_words(GUEST_RING + 16 * i as u64, &w[..2])
            .map_err(|e| e.to_string())?;
        let c = <G::Arch as ArchImpl>::Command::decode(&w[..2])
            .map_err(|e| format!("guest command {i}: {e}"))?;
        let mut ops = Vec::new();
        <G::Arch as ArchImpl>::lift(&c, &ctx, &mut ops)
            .map_err(|e| format!("guest command {i}: {e}"))?;
        for op in &ops {
            if let Op::Sync(Barrier {
                store: Some(Store { address, data }),
                ..
            }) = op
            {
                expect.insert(*address, *data);
                syncs_with_store += 1;
            }
        }
        guest_ops.extend(ops.into_iter().filter(|o| !o.is_sync()));
    }
    let mut guest = G::from_registers(registers(guest_arch, GUEST_RING, false), 0, 0)
        .map_err(|e| e.to_string())?;
    guest.doorbell(tail(guest_arch, cmds.len()));

    // 2-3. The device processes the queue; the back end feeds the host.
    let host_q = H::from_registers(registers(host_arch, HOST_RING, true), 0, 0)
        .map_err(|e| e.to_string())?;
    let mut host_seen = RecordingBackend::default();
    let mut host_progress = Progress::default();
    let kick = |q: &mut H, m: &VmMemory<'_, GuestMemoryMmap>| {
        // The host IOMMU consumes its queue (a real VMM rings the host's
        // doorbell, or issues the ioctl, and waits for the host sync).
        let p = q.process(m, &ctx, &mut host_seen);
        host_progress.consumed += p.consumed;
        host_progress.completions += p.completions;
        host_progress.ops += p.ops;
        match p.fault {
            Some(f) if f.stopped => Err(BackendError::Failed("host queue stopped")),
            _ => Ok(()),
        }
    };
    let mut backend = LowerToHost::new(host_q, &hmem, &ctx, kick);
    backend.host_sync = Barrier::storing(HOST_STATUS, 1);
    let progress = guest
        .process(&gmem, &ctx, &mut backend)
        .map_hw(ArchError::name);
    let (host_commands, widened) = (backend.commands, backend.widened);
    drop(backend);

    // 4. The guest's completion status landed in its memory.
    let landed = expect
        .iter()
        .filter(|(addr, data)| {
            let mut w = [0u64; 1];
            let at = *addr & !7;
            gmem.read_words(at, &mut w).is_ok() && {
                let shift = (*addr - at) * 8;
                let mask = if G::STORE_BYTES == 8 {
                    u64::MAX
                } else {
                    0xffff_ffff
                };
                (w[0] >> shift) & mask == *data & mask
            }
        })
        .count();
    Ok(Report {
        guest: guest_arch,
        host: host_arch,
        written: cmds.len(),
        progress,
        syncs_with_store,
        stores: (expect.len(), landed),
        host_commands,
        host_progress,
        widened,
        guest_ops,
        host_ops: host_seen.ops().copied().collect(),
    })
}

/// The scenario for a pair of architectures.
pub fn scenario(guest: ArchId, host: ArchId) -> Result<Report, String> {
    use ArchId::*;
    match (guest, host) {
        (Smmuv3, Smmuv3) => run::<CmdqDevice, CmdqDevice>(),
        (Smmuv3, Vtd) => run::<CmdqDevice, InvQueue>(),
        (Smmuv3, Amd) => run::<CmdqDevice, CmdBufDevice>(),
        (Vtd, Smmuv3) => run::<InvQueue, CmdqDevice>(),
        (Vtd, Vtd) => run::<InvQueue, InvQueue>(),
        (Vtd, Amd) => run::<InvQueue, CmdBufDevice>(),
        (Amd, Smmuv3) => run::<CmdBufDevice, CmdqDevice>(),
        (Amd, Vtd) => run::<CmdBufDevice, InvQueue>(),
        (Amd, Amd) => run::<CmdBufDevice, CmdBufDevice>(),
        (Amd, Riscv) => run::<CmdBufDevice, CqDevice>(),
        (Smmuv3, Riscv) => run::<CmdqDevice, CqDevice>(),
        (Vtd, Riscv) => run::<InvQueue, CqDevice>(),
        (Riscv, Smmuv3) => run::<CqDevice, CmdqDevice>(),
        (Riscv, Vtd) => run::<CqDevice, InvQueue>(),
        (Riscv, Amd) => run::<CqDevice, CmdBufDevice>(),
        (Riscv, Riscv) => run::<CqDevice, CqDevice>(),
        (VirtioIommu, _) | (_, VirtioIommu) => Err(
            "virtio-iommu has no command ring: its requests are virtqueue descriptor chains".into(),
        ),
    }
}

/// The twelve ordered pairs of different architectures.
pub fn pairs() -> impl Iterator<Item = (ArchId, ArchId)> {
    RING_ARCHES
        .into_iter()
        .flat_map(|g| RING_ARCHES.into_iter().map(move |h| (g, h)))
        .filter(|(g, h)| g != h)
}

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let chosen: Vec<(ArchId, ArchId)> = match args.as_slice() {
        [] => pairs().collect(),
        [g, h] => match (ArchId::from_name(g), ArchId::from_name(h)) {
            (Some(g), Some(h)) => vec![(g, h)],
            _ => {
                eprintln!("usage: vmm_passthrough [GUEST HOST]  (smmuv3, vtd, amd, riscv)");
                std::process::exit(2);
            }
        },
        _ => {
            eprintln!("usage: vmm_passthrough [GUEST HOST]  (smmuv3, vtd, amd, riscv)");
            std::process::exit(2);
        }
    };
    let mut failed = false;
    for (g, h) in chosen {
        match scenario(g, h) {
            Ok(r) => {
                let p = &r.progress;
                println!(
                    "{g} guest -> {h} host: {} of {} guest commands consumed, {} ops in {} batches, \
                     {} completions ({} with a status store; {} of {} polled status words hold the last value)",
                    p.consumed,
                    r.written,
                    p.ops,
                    p.batches,
                    p.completions,
                    r.syncs_with_store,
                    r.stores.1,
                    r.stores.0
                );
                println!(
                    "    host queue: {} {h} commands written, {} consumed by the host, {} host syncs completed{}",
                    r.host_commands,
                    r.host_progress.consumed,
                    r.host_progress.completions,
                    if r.widened.is_empty() {
                        String::new()
                    } else {
                        format!("; widened: {}", r.widened.names().collect::<Vec<_>>().join(","))
                    }
                );
                match p.fault {
                    // The host has no command for what the guest asked (a
                    // RISC-V host cannot name "first stage of every VM"): the
                    // guest gets its architecture's error at that command
                    // rather than a silent under-invalidation.
                    Some(f) if matches!(f.cause, FaultCause::Backend(BackendError::Failed(_))) => {
                        println!(
                            "    refused by the host, reported to the guest as {} at {:#x}: {}",
                            f.hw, f.position, f.cause
                        );
                    }
                    Some(f) => {
                        println!("    fault: {} at {:#x}: {}", f.hw, f.position, f.cause);
                        failed = true;
                    }
                    None => {
                        failed |= r.stores.0 != r.stores.1 || p.consumed as usize != r.written;
                    }
                }
            }
            Err(e) => {
                eprintln!("{g} -> {h}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
