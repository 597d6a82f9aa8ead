//! The ring every front end shares (`core::ring`): its arithmetic for any
//! geometry and any positions, and each architecture's pointer registers
//! seen through it — the front end's pending count and free slots are the
//! ring's, and a command produced at the tail is fetched back from that
//! slot, for rings that wrap.

mod common;

use arbitrary::Unstructured;
use common::{ok, scale};
use iommu_inval_amd::queue::CmdBufDevice;
use iommu_inval_arm::queue::CmdqDevice;
use iommu_inval_core::device::QueueProducer;
use iommu_inval_core::ring::{Ring, MAX_SLOT_WORDS};
use iommu_inval_core::{CellMemory, NativeCommand};
use iommu_inval_props::{run_cases, Amd, Arch, Riscv, Smmu, Vtd};
use iommu_inval_riscv::queue::CqDevice;
use iommu_inval_vtd::queue::InvQueue;

#[test]
fn ring_arithmetic_is_total_and_consistent() {
    ok(run_cases(0x7269_6e67, 20_000 * scale(), 64, |u| {
        let base: u64 = u.arbitrary().map_err(|e| e.to_string())?;
        let r = Ring::new(
            base,
            u.arbitrary().map_err(|e| e.to_string())?,
            u.arbitrary().map_err(|e| e.to_string())?,
            u.arbitrary().map_err(|e| e.to_string())?,
            u.arbitrary().map_err(|e| e.to_string())?,
        );
        let h: u32 = u.arbitrary().map_err(|e| e.to_string())?;
        let t: u32 = u.arbitrary().map_err(|e| e.to_string())?;
        let what = format!("{r:?} head {h:#x} tail {t:#x}");
        let pending = r.pending(h, t);
        if pending > r.mask() || r.next(t) != r.pos(r.next(t)) {
            return Err(format!("{what}: positions leave the mask"));
        }
        if r.pending(h, r.next(t)) != pending.wrapping_add(1) & r.mask() {
            return Err(format!("{what}: producing one does not add one"));
        }
        if r.pending(r.next(h), t) != pending.wrapping_sub(1) & r.mask() {
            return Err(format!("{what}: consuming one does not remove one"));
        }
        if u64::from(pending) <= r.capacity() && r.free(h, t) + u64::from(pending) != r.capacity() {
            return Err(format!("{what}: free + pending is not the capacity"));
        }
        if r.slot_addr(t) != base.wrapping_add(u64::from(r.index(t)) * r.slot_bytes()) {
            return Err(format!("{what}: slot address"));
        }
        if r.index(t) as u64 >= r.entries() {
            return Err(format!("{what}: index out of range"));
        }
        Ok(())
    }));
}

/// Producing until full, from any head, through each front end: every
/// command lands in the slot its tail names and is fetched back as itself.
fn produce_and_fetch<A, Q>(u: &mut Unstructured<'_>, base_reg: u64, slot: u64) -> Result<(), String>
where
    A: Arch,
    Q: QueueProducer<Arch = A> + core::fmt::Debug,
{
    let arb = |e: arbitrary::Error| e.to_string();
    let mut bytes = vec![0u8; 0x2000];
    let mem = CellMemory::new(0x1000, &mut bytes);
    let ring_probe = Q::from_registers(base_reg, 0, 0).map_err(|e| e.to_string())?;
    let entries = ring_probe.ring().entries();
    let start = u.int_in_range(0..=entries - 1).map_err(arb)?;
    // SMMU and RISC-V pointers count entries; VT-d and AMD-Vi count bytes.
    let reg = if matches!(
        A::ID,
        iommu_inval_core::ArchId::Smmuv3 | iommu_inval_core::ArchId::Riscv
    ) {
        start
    } else {
        start * slot
    };
    let mut q = Q::from_registers(base_reg, reg, reg).map_err(|e| e.to_string())?;
    let cap = q.ring().capacity();
    for n in 0..=cap {
        let what = format!("{:?} after {n} produced: {q:?}", A::ID);
        if q.pending() != n || q.free_slots() + n != cap {
            return Err(format!("{what}: pending / free slots"));
        }
        let cmd: A::Command = u.arbitrary().map_err(arb)?;
        let tail = q.tail();
        match q.produce(&mem, &cmd) {
            Ok(()) if n < cap => {
                let mut buf = [0u64; MAX_SLOT_WORDS];
                let words = q
                    .ring()
                    .read(&mem, tail, &mut buf)
                    .map_err(|e| format!("{what}: {e}"))?;
                let back = A::Command::decode(words.get(..cmd.words()).unwrap_or(words));
                if back != Ok(cmd) || q.tail() != q.ring().next(tail) {
                    return Err(format!("{what}: {cmd:?} came back as {back:?}"));
                }
            }
            Err(iommu_inval_core::device::ProduceError::Full) if n == cap => return Ok(()),
            // A command that does not encode (or is wider than the slot)
            // is refused and leaves the tail.
            Err(iommu_inval_core::device::ProduceError::Encode(_)) if q.tail() == tail => {
                return Ok(())
            }
            other => return Err(format!("{what}: produce gave {other:?}")),
        }
    }
    Err("produced past the capacity".into())
}

#[test]
fn front_ends_see_their_registers_through_the_ring() {
    ok(run_cases(0x7072_6f64, 40 * scale(), 1 << 16, |u| {
        let arb = |e: arbitrary::Error| e.to_string();
        match u.int_in_range(0u8..=4).map_err(arb)? {
            // 16-entry SMMU CMDQ (wrap bit), VT-d one page of 128- or 256-bit
            // descriptors, 256-entry AMD-Vi buffer, 32-entry RISC-V queue.
            0 => produce_and_fetch::<Smmu, CmdqDevice>(u, 0x1000 | 4, 16),
            1 => produce_and_fetch::<Vtd, InvQueue>(u, 0x1000, 16),
            2 => produce_and_fetch::<Vtd, InvQueue>(u, 0x1000 | 1 << 11, 32),
            3 => produce_and_fetch::<Amd, CmdBufDevice>(u, 8 << 56 | 0x1000, 16),
            _ => produce_and_fetch::<Riscv, CqDevice>(u, 1 << 10 | 4, 16),
        }
    }));
}
