//! # iommu-inval-riscv
//!
//! RISC-V IOMMU command-queue support for `iommu-inval` (RISC-V IOMMU
//! Architecture Specification, ratified v1.0, §3.1 "Command-Queue (CQ)",
//! with the ratified Non-leaf PTE Invalidation and Address Range
//! Invalidation extensions of the 20250620 release, §9.2 and §9.3):
//!
//! * [`Command`]: every command of the command queue, with a bit-exact
//!   codec ([`Command::decode`](iommu_inval_core::NativeCommand::decode), [`Command::encode`]) and named-field
//!   access ([`NativeCommand`]).
//! * [`RiscV`], the crate's [`Arch`](iommu_inval_core::arch::Arch):
//!   `RiscV::lift`, native → generic ([`Op`]), footprint-exact;
//!   `RiscV::lower`, generic → native for a host described by its
//!   [`Features`], within a [`Budget`](iommu_inval_core::Budget); never
//!   under-invalidates, reports every widening.
//! * [`queue`]: the command-queue consumer of an emulated IOMMU (`cqb`,
//!   `cqh`, `cqt`, `cqcsr`), stopping at the first illegal command with
//!   `cqcsr.cmd_ill` set.
//!
//! ## The commands
//!
//! Two 64-bit doublewords per command, `opcode` = `w0[6:0]`, `func3` =
//! `w0[9:7]`; every other bit not listed is reserved (an illegal command:
//! `cqcsr.cmd_ill`). Addresses are byte addresses in JSON.
//!
//! | opcode / func3 | op | fields | spec |
//! |---|---|---|---|
//! | 1 / 0 | `iotinval_vma` | `av` w0\[10\], `pscid` w0\[31:12\], `pscv` w0\[32\], `gv` w0\[33\], `nl` w0\[34\], `gscid` w0\[59:44\]; `s` w1\[9\], `addr` = ADDR\[63:12\] in w1\[61:10\] | §3.1.1, §9.2, §9.3 |
//! | 1 / 1 | `iotinval_gvma` | as `iotinval_vma` without `pscv` (`pscv` = 1 is illegal) | §3.1.1, §9.2, §9.3 |
//! | 2 / 0 | `iofence_c` | `av` w0\[10\], `wsi` w0\[11\], `pr` w0\[12\], `pw` w0\[13\], `data` w0\[63:32\]; `addr` = ADDR\[63:2\] in w1\[61:0\] | §3.1.2 |
//! | 3 / 0 | `iodir_inval_ddt` | `dv` w0\[33\], `did` w0\[63:40\] (PID is reserved here) | §3.1.3 |
//! | 3 / 1 | `iodir_inval_pdt` | `pid` w0\[31:12\], `dv` w0\[33\] (must be 1), `did` w0\[63:40\] | §3.1.3 |
//! | 4 / 0 | `ats_inval` | `pid` w0\[31:12\], `pv` w0\[32\], `dsv` w0\[33\], `rid` w0\[55:40\], `dseg` w0\[63:56\]; payload: `g` w1\[0\], `s` w1\[11\], `addr` w1\[63:12\] | §3.1.4 |
//! | 4 / 1 | `ats_prgr` | `pid`, `pv`, `dsv`, `rid`, `dseg` as `ats_inval`; payload: `prg_index` w1\[40:32\], `resp_code` w1\[47:44\] | §3.1.4 |
//!
//! Decisions where the specification leaves room (see also the item docs):
//!
//! * The payload bits the specification draws as `0` (ATS.INVAL w1\[10:1\],
//!   ATS.PRGR w1\[31:0\], \[43:41\], \[63:48\]) are treated as reserved and
//!   refused. (QEMU forwards the payload unchecked; the Linux headers name
//!   w1\[63:48\] of ATS.PRGR a destination id, which the specification does
//!   not: the IOMMU fills the destination from `RID`.)
//! * `NL` (§9.2), `S` (§9.3), IOFENCE.C `WSI` (§3.1.2) and the ATS
//!   commands exist only when the IOMMU implements them (`capabilities.NL`,
//!   `.S`, `fctl.WSI`, `capabilities.ATS`). [`Command::decode`](iommu_inval_core::NativeCommand::decode) accepts
//!   them (the codec of the whole specification);
//!   [`check_features`](iommu_inval_core::NativeCommand::check_features) and the queue front end refuse them with
//!   `cmd_ill` on an IOMMU without the feature.
//! * So do the widths of §3.1.3: an IODIR.INVAL_PDT `PID` wider than the
//!   IOMMU's (`capabilities.PD8` / `PD17` / `PD20`, [`Features::pid_bits`])
//!   and, with `DV` = 1, an IODIR `DID` wider than `ddtp.iommu_mode`
//!   allows ([`DdtMode`], [`Command::check_device_id`]) are illegal in the
//!   queue front end, not in the codec.
//! * The queue front end honours `fctl.BE` ([`Features::be`]): big-endian
//!   commands and IOFENCE.C stores ([`queue`]).
//! * Device ids are RISC-V `device_id`s (24 bits; for PCIe segment `<< 16
//!   |` requester id). ATS commands address `DSEG << 16 | RID` with `DSV`,
//!   `RID` without.
//! * IOTINVAL with `GV` = 0 acts on host address spaces (second stage
//!   Bare), which have no GSCID: they lift to `Regime::Hyp`, the model's
//!   regime without a domain (as SMMU EL2 translations have no VMID).
//!   `GV` = 1 names the VM whose GSCID the topology maps to a domain.
//! * PSCIDs name first-stage address spaces the way SMMU ASIDs do: the
//!   context maps them to PASIDs ([`Context::pasids_of_tag`],
//!   [`Context::tags_of_pasid`]; the topology file's `pscid` per PASID, and
//!   per device for its device context, i.e. requests without process_id).
//!
//! ```
//! use iommu_inval_riscv::prelude::*;
//! use iommu_inval_core::model::*;
//! // ATS.INVAL: RID 0x10, PASID 7 (PV), 8 KiB at 0x4000 (S = 1, bit 12 clear).
//! let Ok(Command::AtsInval(c)) = Command::decode(&[0x0000_1001_0000_7004, 0x4800]) else {
//!     panic!()
//! };
//! assert_eq!((c.rid, c.pv, c.pid, c.s, c.addr), (0x10, true, 7, true, 0x4000));
//!
//! // IOTINVAL.VMA, GV = 1 GSCID 3, PSCV = 1 PSCID 7, AV = 1, page 0x5000.
//! let c = Command::decode(&[0x0000_3003_0000_7401, 0x1400]).unwrap();
//! let mut out: FixedBuf<Op, 4> = FixedBuf::new();
//! let o = RiscV::lift(&c, &IdentityContext, &mut out).unwrap();
//! assert!(o.is_exact());
//! let Some(Op::Inval(i)) = out.get(0) else { panic!() };
//! assert_eq!(i.caches, Caches::IOTLB | Caches::LEAF);
//! assert_eq!((i.stages, i.domain, i.pasid), (Stages::S1, DomainSel::One(3), PasidSel::One(7)));
//! assert_eq!(i.range, AddrRange::new(0x5000, 0x1000).unwrap());
//!
//! // Leaf-only host (Regime::Hyp) first-stage invalidation of 2 MiB, PASID 5.
//! let op = Op::Inval(Inval::new(Caches::IOTLB | Caches::LEAF).regime(Regime::Hyp)
//!     .stage(Stages::S1).pasid(PasidSel::One(5))
//!     .range(AddrRange::new(0x20_0000, 0x20_0000).unwrap()));
//! let mut out: FixedBuf<Command, { RiscV::MAX_LOWERED }> = FixedBuf::new();
//! let o = RiscV::lower(&op, &Features::ALL, RiscV::DEFAULT_BUDGET, &IdentityContext, &mut out).unwrap();
//! assert!(o.is_exact());
//! // IOTINVAL.VMA PSCV PSCID 5, AV, S = 1: ADDR bits 12..=19 set, bit 20 clear.
//! assert_eq!(out.get(0).unwrap().encode(), [0x0000_0001_0000_5401, (0x2f_f000 >> 2) | 1 << 9]);
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cmd;
mod events;
pub mod fault;
mod features;
pub mod pq;

pub use cmd::*;
pub use features::Features;

// Declares the modules `lift`, `lower`, `prelude`, `queue` and (feature `arbitrary`) `arb`, and
// writes `impl Arch` for the unit type (docs/ARCHITECTURE.md, the contract).
iommu_inval_core::arch_impl!(
    /// The RISC-V IOMMU: the [`Arch`](iommu_inval_core::arch::Arch) of this crate.
    RiscV,
    queue::CqDevice,
    budget = 16
);

pub use iommu_inval_core::model::Op;
pub use iommu_inval_core::{Context, NativeCommand};
