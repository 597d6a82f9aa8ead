//! The RISC-V IOMMU command codec (RISC-V IOMMU Architecture Specification
//! v1.0, §3.1 "Command-Queue (CQ)", and the ratified Non-leaf PTE
//! Invalidation (§9.2) and Address Range Invalidation (§9.3) extensions of
//! the 20250620 release).
//!
//! Every command is 16 bytes, two 64-bit doublewords (`w0` = dword0, `w1` =
//! dword1), with `opcode` in `w0[6:0]` and `func3` in `w0[9:7]`. Any bit not
//! covered by a field is reserved: a command with one set is illegal, and
//! the command queue sets `cqcsr.cmd_ill` and stops at it (§3.1). So are
//! unknown opcodes and functions (opcodes 5..=63 are reserved, 64..=127
//! custom), `PSCV` = 1 with IOTINVAL.GVMA (§3.1.1) and `DV` = 0 with
//! IODIR.INVAL_PDT (§3.1.3).
//!
//! The codec decodes every field of the ratified specification, the `NL`
//! and `S` extension bits included; whether an IOMMU *implements* an
//! optional feature (`capabilities.NL`, `.S`, `.ATS`, `fctl.WSI`), and how
//! wide its PIDs are (`capabilities.PD8` / `PD17` / `PD20`), is the
//! business of [`check_features`](iommu_inval_core::NativeCommand::check_features); how wide a `DID` its
//! `ddtp.iommu_mode` allows, of [`Command::check_device_id`]. The queue
//! front end applies both.
//!
//! The codec is exact on bytes: fields the hardware ignores in some mode
//! (`ADDR` with `AV` = 0, `PSCID` with `PSCV` = 0, `GSCID` with `GV` = 0,
//! `DID` with `DV` = 0, `PID` with `PV` = 0, `DSEG` with `DSV` = 0) are
//! decoded and encoded back unchanged.

use iommu_inval_core::native::word::{bit, flag as b};
use iommu_inval_core::native::{ArchId, FieldError};
use iommu_inval_core::DecodeError;

pub use crate::features::Features;

/// Opcode of IOTINVAL.VMA / IOTINVAL.GVMA (§3.1.1).
pub(crate) const OP_IOTINVAL: u8 = 1;
/// Opcode of IOFENCE.C (§3.1.2).
pub(crate) const OP_IOFENCE: u8 = 2;
/// Opcode of IODIR.INVAL_DDT / IODIR.INVAL_PDT (§3.1.3).
pub(crate) const OP_IODIR: u8 = 3;
/// Opcode of ATS.INVAL / ATS.PRGR (§3.1.4).
pub(crate) const OP_ATS: u8 = 4;

/// Mask of the page address `ADDR[63:12]` (IOTINVAL, ATS.INVAL payload).
pub(crate) const PAGE_ADDR_MASK: u64 = !0xfff;
/// Mask of the IOFENCE.C store address `ADDR[63:2]` (4-byte aligned).
pub(crate) const FENCE_ADDR_MASK: u64 = !0x3;
/// Largest 20-bit PSCID / PID.
pub(crate) const ID20_MAX: u32 = (1 << 20) - 1;
/// Largest 24-bit device id (IODIR `DID`).
pub(crate) const DID_MAX: u32 = (1 << 24) - 1;
/// The `S` = 1 page address meaning "the whole address space": the most
/// significant bit of `ADDR[63:12]` clear, every other bit set (§9.3); the
/// lowering's comes from `core::lower::RangePlan::whole`.
#[cfg(feature = "arbitrary")]
pub(crate) const ALL_PAGES_ADDR: u64 = 0x7fff_ffff_ffff_f000;

const OPF_MASK: u64 = 0x3ff;
const fn opf(opcode: u8, func3: u8) -> u64 {
    opcode as u64 | (func3 as u64) << 7
}
const IOTINVAL_VMA: u64 = opf(OP_IOTINVAL, 0);
const IOTINVAL_GVMA: u64 = opf(OP_IOTINVAL, 1);
const IOFENCE_C: u64 = opf(OP_IOFENCE, 0);
const IODIR_INVAL_DDT: u64 = opf(OP_IODIR, 0);
const IODIR_INVAL_PDT: u64 = opf(OP_IODIR, 1);
const ATS_INVAL: u64 = opf(OP_ATS, 0);
const ATS_PRGR: u64 = opf(OP_ATS, 1);

// IOTINVAL, §3.1.1 (+ §9.2 NL, §9.3 S).
const AV: u32 = 10;
const PSCV: u32 = 32;
const GV: u32 = 33;
const NL: u32 = 34;
const ID20_SHIFT: u32 = 12;
const GSCID_SHIFT: u32 = 44;
/// `S` is bit 73 of the command: `w1[9]`.
const S_W1: u32 = 9;
/// `ADDR[63:12]` sits in `w1[61:10]`: the byte address shifted right by 2.
const IOT_ADDR_W1: u64 = 0x3fff_ffff_ffff_fc00;
// IOFENCE.C, §3.1.2.
const WSI: u32 = 11;
const PR: u32 = 12;
const PW: u32 = 13;
/// `ADDR[63:2]` sits in `w1[61:0]`.
const FENCE_ADDR_W1: u64 = 0x3fff_ffff_ffff_ffff;
// IODIR, §3.1.3.
const DV: u32 = 33;
const DID_SHIFT: u32 = 40;
// ATS, §3.1.4.
const PV: u32 = 32;
const DSV: u32 = 33;
const RID_SHIFT: u32 = 40;
const DSEG_SHIFT: u32 = 56;
/// ATS.INVAL payload: `G` bit 0, `S` bit 11, untranslated address `[63:12]`.
const ATS_G: u32 = 0;
const ATS_S: u32 = 11;
/// ATS.PRGR payload: Page Request Group Index `[40:32]`, Response Code `[47:44]`.
const PRGI_SHIFT: u32 = 32;
const RESP_SHIFT: u32 = 44;

const M_ID20: u64 = (ID20_MAX as u64) << ID20_SHIFT;
const M_ATS0: u64 = OPF_MASK | M_ID20 | 1 << PV | 1 << DSV | 0xff_ffff << RID_SHIFT;
/// `[w0, w1]` bits covered by opcode, func3 or a field, per command.
const DEF_IOTINVAL: [u64; 2] = [
    OPF_MASK | 1 << AV | M_ID20 | 1 << PSCV | 1 << GV | 1 << NL | 0xffff << GSCID_SHIFT,
    IOT_ADDR_W1 | 1 << S_W1,
];
const DEF_IOFENCE: [u64; 2] = [
    OPF_MASK | 1 << AV | 1 << WSI | 1 << PR | 1 << PW | 0xffff_ffff << 32,
    FENCE_ADDR_W1,
];
/// The PID operand is reserved for IODIR.INVAL_DDT (§3.1.3).
const DEF_IODIR_DDT: [u64; 2] = [OPF_MASK | 1 << DV | 0xff_ffff << DID_SHIFT, 0];
const DEF_IODIR_PDT: [u64; 2] = [OPF_MASK | M_ID20 | 1 << DV | 0xff_ffff << DID_SHIFT, 0];
const DEF_ATS_INVAL: [u64; 2] = [M_ATS0, PAGE_ADDR_MASK | 1 << ATS_S | 1 << ATS_G];
const DEF_ATS_PRGR: [u64; 2] = [M_ATS0, 0x1ff << PRGI_SHIFT | 0xf << RESP_SHIFT];

/// Slot of an `(opcode, func3)` pair: `(opcode - 1) * 2 + func3` for
/// opcodes 1..=4 and func3 0..=1; everything else is [`SLOT_NONE`].
const SLOT_NONE: usize = 3;
/// Defined bits per slot (`[0, 0]`: no such command; slot 3 is also
/// IOFENCE func3 1, which is undefined).
const SLOT_DEF: [[u64; 2]; 8] = [
    DEF_IOTINVAL,
    DEF_IOTINVAL,
    DEF_IOFENCE,
    [0, 0],
    DEF_IODIR_DDT,
    DEF_IODIR_PDT,
    DEF_ATS_INVAL,
    DEF_ATS_PRGR,
];
/// Per slot: `w0` bits that must be 0, bits that must be 1, and the field
/// named when not (IOTINVAL.GVMA `PSCV` = 1 is illegal, §3.1.1;
/// IODIR.INVAL_PDT needs `DV` = 1, §3.1.3).
const SLOT_RULE: [(u64, u64, &str); 8] = [
    (0, 0, ""),
    (1 << PSCV, 0, "pscv"),
    (0, 0, ""),
    (0, 0, ""),
    (0, 0, ""),
    (0, 1 << DV, "dv"),
    (0, 0, ""),
    (0, 0, ""),
];

/// The slot of every `opcode | func3 << 7` (the low 10 bits of `w0`).
const SLOT_OF: [u8; 1024] = {
    let mut t = [SLOT_NONE as u8; 1024];
    let mut i = 0;
    while i < 1024 {
        let (opc, f3) = (i & 0x7f, i >> 7);
        if opc >= 1 && opc <= 4 && f3 < 2 {
            t[i] = ((opc - 1) * 2 + f3) as u8;
        }
        i += 1;
    }
    t
};

/// Per slot, the whole legality test folded into three masks: a command
/// is legal iff `((w0 ^ flip) & zero0) | (w1 & zero1) == 0`, where `flip`
/// inverts the must-be-1 bits, `zero0` holds every `w0` bit that must be 0
/// (reserved, illegal operands) or 1, and `zero1` the reserved bits of
/// `w1`. The undefined slot flips bit 0, which cannot make its `w0` zero
/// (a `w0` equal to 1 is IOTINVAL.VMA), so it always fails.
const SLOT_CHECK: [[u64; 3]; 8] = {
    let mut t = [[0u64; 3]; 8];
    let mut i = 0;
    while i < 8 {
        let [d0, d1] = SLOT_DEF[i];
        let (must0, must1, _) = SLOT_RULE[i];
        t[i] = if d0 == 0 {
            [!0, 1, !0]
        } else {
            [!d0 | must0 | must1, must1, !d1]
        };
        i += 1;
    }
    t
};

/// [`SLOT_CHECK`] of the slot of every `opcode | func3 << 7`: the masks
/// of the legality test (decode and [`Command::check_words`](iommu_inval_core::NativeCommand::check_words)), looked up
/// beside the slot rather than after it.
static CHECK_OF: [[u64; 3]; 1024] = {
    let mut t = [[0u64; 3]; 1024];
    let mut i = 0;
    while i < 1024 {
        t[i] = SLOT_CHECK[(SLOT_OF[i] & 7) as usize];
        i += 1;
    }
    t
};

/// IOTINVAL.VMA (func3 0) and IOTINVAL.GVMA (func3 1), §3.1.1: invalidate
/// first-stage (VMA) or second-stage (GVMA) entries of the IOMMU address
/// translation cache.
///
/// `GV` = 0 selects the host address spaces (second stage Bare), `GV` = 1
/// the VM of `gscid`; `PSCV` = 1 (VMA only) one process soft-context
/// `pscid`; `AV` = 1 the translations of `addr` only — with `NL` = 0 only
/// leaf entries, with `NL` = 1 every level (§9.2); with `S` = 1 `addr` is a
/// NAPOT range (§9.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Iotinval {
    /// `w0[10]`: `ADDR` is valid.
    pub av: bool,
    /// `w0[31:12]`: process soft-context id (20 bits).
    pub pscid: u32,
    /// `w0[32]`: `PSCID` is valid (IOTINVAL.VMA only; illegal with GVMA).
    pub pscv: bool,
    /// `w0[33]`: `GSCID` is valid.
    pub gv: bool,
    /// `w0[34]`: non-leaf: also non-leaf entries of `addr` (§9.2, `capabilities.NL`).
    pub nl: bool,
    /// `w0[59:44]`: guest soft-context id (16 bits).
    pub gscid: u16,
    /// `w1[9]` (command bit 73): `addr` encodes a NAPOT range (§9.3, `capabilities.S`).
    pub s: bool,
    /// `w1[61:10]` = `ADDR[63:12]`: byte address (low 12 bits zero).
    pub addr: u64,
}

/// IOFENCE.C (opcode 2, func3 0), §3.1.2: completes after every earlier
/// command; then, with `AV`, stores the 32-bit `DATA` at `ADDR`, and with
/// `WSI` sets `cqcsr.fence_w_ip` (a wired interrupt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IofenceC {
    /// `w0[10]`: `ADDR` and `DATA` are valid: store `data` at `addr`.
    pub av: bool,
    /// `w0[11]`: raise the wired interrupt (`fctl.WSI` = 1 only).
    pub wsi: bool,
    /// `w0[12]`: commit earlier device reads to the global ordering point.
    pub pr: bool,
    /// `w0[13]`: commit earlier device writes to the global ordering point.
    pub pw: bool,
    /// `w0[63:32]`: the 32-bit datum stored.
    pub data: u32,
    /// `w1[61:0]` = `ADDR[63:2]`: byte address, 4-byte aligned.
    pub addr: u64,
}

/// IODIR.INVAL_DDT (opcode 3, func3 0), §3.1.3: the cached device-directory
/// entry of `did` and every process-directory entry under it (`DV` = 1), or
/// every cached DDT and PDT entry (`DV` = 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IodirInvalDdt {
    /// `w0[33]`: `DID` is valid.
    pub dv: bool,
    /// `w0[63:40]`: device id (24 bits).
    pub did: u32,
}

/// IODIR.INVAL_PDT (opcode 3, func3 1), §3.1.3: the cached leaf
/// process-directory entry of (`did`, `pid`). `DV` must be 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
// `repr(C)`: with the default layout the compiler keeps this payload in a
// stack slot between a decode and the next encode and reads it back with a
// wider load (a store-forwarding stall; docs/PERFORMANCE.md).
#[repr(C)]
pub struct IodirInvalPdt {
    /// `w0[31:12]`: process id (PASID, 20 bits).
    pub pid: u32,
    /// `w0[33]`: `DID` is valid; 0 is illegal.
    pub dv: bool,
    /// `w0[63:40]`: device id (24 bits).
    pub did: u32,
}

/// ATS.INVAL (opcode 4, func3 0), §3.1.4: send a PCIe Invalidation Request
/// to the function `rid` (in segment `dseg` when `dsv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AtsInval {
    /// `w0[31:12]`: PASID of the request (with `pv`).
    pub pid: u32,
    /// `w0[32]`: the message carries a PASID.
    pub pv: bool,
    /// `w0[33]`: `DSEG` is valid.
    pub dsv: bool,
    /// `w0[55:40]`: PCIe requester id of the function.
    pub rid: u16,
    /// `w0[63:56]`: destination segment number.
    pub dseg: u8,
    /// Payload `w1[0]`: global invalidate.
    pub g: bool,
    /// Payload `w1[11]`: size: `addr` uses the PCIe ATS range encoding.
    pub s: bool,
    /// Payload `w1[63:12]`: untranslated byte address (low 12 bits zero).
    pub addr: u64,
}

/// ATS.PRGR (opcode 4, func3 1), §3.1.4: send a PCIe Page Request Group
/// Response to the function `rid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
// `repr(C)`: with the default layout the compiler keeps this payload in a
// stack slot between a decode and the next encode and reads it back with a
// wider load (a store-forwarding stall; docs/PERFORMANCE.md).
#[repr(C)]
pub struct AtsPrgr {
    /// `w0[31:12]`: PASID of the response (with `pv`).
    pub pid: u32,
    /// `w0[32]`: the message carries a PASID.
    pub pv: bool,
    /// `w0[33]`: `DSEG` is valid.
    pub dsv: bool,
    /// `w0[55:40]`: PCIe requester id of the function.
    pub rid: u16,
    /// `w0[63:56]`: destination segment number.
    pub dseg: u8,
    /// Payload `w1[40:32]`: page request group index.
    pub prg_index: u16,
    /// Payload `w1[47:44]`: PCIe response code (0 success, 1 invalid
    /// request, 0xf response failure; other values are forwarded).
    pub resp_code: u8,
}

/// One RISC-V IOMMU command.
///
/// ```
/// use iommu_inval_riscv::{Command, Iotinval};
/// use iommu_inval_core::NativeCommand;
/// // IOTINVAL.VMA, PSCID 5 (PSCV), one page at 0x4000_1000 (AV): what the
/// // Linux driver sends per page of an unmapped range.
/// let w = [0x0000_0001_0000_5401, 0x0000_0000_1000_0400];
/// let c = Command::decode(&w).unwrap();
/// assert_eq!(c, Command::IotinvalVma(Iotinval {
///     av: true, pscid: 5, pscv: true, addr: 0x4000_1000, ..Default::default() }));
/// assert_eq!(c.encode(), w);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Opcode 1, func3 0.
    IotinvalVma(Iotinval),
    /// Opcode 1, func3 1 (`pscv` is always false in a decoded command).
    IotinvalGvma(Iotinval),
    /// Opcode 2, func3 0.
    IofenceC(IofenceC),
    /// Opcode 3, func3 0.
    IodirInvalDdt(IodirInvalDdt),
    /// Opcode 3, func3 1.
    IodirInvalPdt(IodirInvalPdt),
    /// Opcode 4, func3 0.
    AtsInval(AtsInval),
    /// Opcode 4, func3 1.
    AtsPrgr(AtsPrgr),
}

/// `ddtp.iommu_mode` (§5.5, `ddtp` bits `[3:0]`): how the device directory
/// is walked, which bounds the `device_id`s the IOMMU takes. An IODIR
/// command with `DV` = 1 whose `DID` is wider than the mode allows is
/// illegal (§3.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DdtMode {
    /// 0: no inbound transactions (the recommended reset value).
    #[default]
    Off,
    /// 1: no translation.
    Bare,
    /// 2: one-level device directory.
    OneLevel,
    /// 3: two-level device directory.
    TwoLevel,
    /// 4: three-level device directory.
    ThreeLevel,
}

impl DdtMode {
    /// The mode of a `ddtp` value; `None` for the reserved (5..=13) and
    /// custom (14, 15) encodings, which this model does not know.
    pub const fn from_ddtp(ddtp: u64) -> Option<DdtMode> {
        Some(match ddtp & 0xf {
            0 => DdtMode::Off,
            1 => DdtMode::Bare,
            2 => DdtMode::OneLevel,
            3 => DdtMode::TwoLevel,
            4 => DdtMode::ThreeLevel,
            _ => return None,
        })
    }

    /// The `iommu_mode` encoding.
    pub const fn iommu_mode(self) -> u8 {
        self as u8
    }

    /// How many low `device_id` bits the mode allows (the `device_id`
    /// partitioning of §2 and the "wider than that supported by the IOMMU
    /// mode" check of §2.3, the translation process): the levels' `DDI` fields, `DDI[0]` 7
    /// bits (6 with extended-format device contexts, `msi_flat`), `DDI[1]`
    /// 9 bits, `DDI[2]` the rest of 24. `Off` and `Bare` walk no directory
    /// and bound nothing here (24 bits: every `DID` the command can hold).
    pub(crate) const fn device_id_bits(self, msi_flat: bool) -> u32 {
        let ddi0 = if msi_flat { 6 } else { 7 };
        match self {
            DdtMode::OneLevel => ddi0,
            DdtMode::TwoLevel => ddi0 + 9,
            _ => 24,
        }
    }
}

/// Widest values of the named fields.
const ID20: u64 = ID20_MAX as u64;
const DID24: u64 = DID_MAX as u64;

// The named-field table (docs/SPEC.md): op names, field names and widths.
iommu_inval_core::op_table! {
    Command;
    "iotinval_vma" => IotinvalVma(Iotinval) {
        av: bool, pscid: uint(ID20), pscv: bool, gv: bool, nl: bool, gscid: uint(0xffff), s: bool,
        addr: addr(PAGE_ADDR_MASK)
    },
    "iotinval_gvma" => IotinvalGvma(Iotinval) {
        av: bool, pscid: uint(ID20), gv: bool, nl: bool, gscid: uint(0xffff), s: bool,
        addr: addr(PAGE_ADDR_MASK)
    },
    "iofence_c" => IofenceC(IofenceC) {
        av: bool, wsi: bool, pr: bool, pw: bool, data: uint(u32::MAX.into()),
        addr: addr(FENCE_ADDR_MASK)
    },
    "iodir_inval_ddt" => IodirInvalDdt(IodirInvalDdt) { dv: bool, did: uint(DID24) },
    "iodir_inval_pdt" => IodirInvalPdt(IodirInvalPdt) { pid: uint(ID20), dv: bool, did: uint(DID24) },
    "ats_inval" => AtsInval(AtsInval) {
        pid: uint(ID20), pv: bool, dsv: bool, rid: uint(0xffff), dseg: uint(0xff), g: bool, s: bool,
        addr: addr(PAGE_ADDR_MASK)
    },
    "ats_prgr" => AtsPrgr(AtsPrgr) {
        pid: uint(ID20), pv: bool, dsv: bool, rid: uint(0xffff), dseg: uint(0xff),
        prg_index: uint(0x1ff), resp_code: uint(0xf)
    },
}

#[inline(always)]
const fn iotinval(w0: u64, w1: u64) -> Iotinval {
    Iotinval {
        av: bit(w0, AV),
        pscid: ((w0 >> ID20_SHIFT) as u32) & ID20_MAX,
        pscv: bit(w0, PSCV),
        gv: bit(w0, GV),
        nl: bit(w0, NL),
        gscid: (w0 >> GSCID_SHIFT) as u16,
        s: bit(w1, S_W1),
        addr: (w1 & IOT_ADDR_W1) << 2,
    }
}

#[inline(always)]
const fn ats_w0(pid: u32, pv: bool, dsv: bool, rid: u16, dseg: u8) -> u64 {
    (((pid & ID20_MAX) as u64) << ID20_SHIFT)
        | b(pv, PV)
        | b(dsv, DSV)
        | (rid as u64) << RID_SHIFT
        | (dseg as u64) << DSEG_SHIFT
}

impl Command {
    /// [`Command::decode`](iommu_inval_core::NativeCommand::decode) of two words.
    ///
    /// Table-driven: `opcode`/`func3` (the low 10 bits of `w0`) index a slot
    /// whose three masks fold the opcode, reserved-bit and operand-rule
    /// tests into one test on the valid path (`SLOT_CHECK`); which of them
    /// failed is worked out only on the error path.
    #[inline(always)]
    pub(crate) fn decode_words(w0: u64, w1: u64) -> Result<Command, DecodeError> {
        let slot = Command::legal_slot(w0, w1)?;
        let id20 = ((w0 >> ID20_SHIFT) as u32) & ID20_MAX;
        Ok(match slot {
            0 => Command::IotinvalVma(iotinval(w0, w1)),
            1 => Command::IotinvalGvma(iotinval(w0, w1)),
            2 => Command::IofenceC(IofenceC {
                av: bit(w0, AV),
                wsi: bit(w0, WSI),
                pr: bit(w0, PR),
                pw: bit(w0, PW),
                data: (w0 >> 32) as u32,
                addr: w1 << 2,
            }),
            4 => Command::IodirInvalDdt(IodirInvalDdt {
                dv: bit(w0, DV),
                did: (w0 >> DID_SHIFT) as u32,
            }),
            5 => Command::IodirInvalPdt(IodirInvalPdt {
                pid: id20,
                dv: true,
                did: (w0 >> DID_SHIFT) as u32,
            }),
            6 => Command::AtsInval(AtsInval {
                pid: id20,
                pv: bit(w0, PV),
                dsv: bit(w0, DSV),
                rid: (w0 >> RID_SHIFT) as u16,
                dseg: (w0 >> DSEG_SHIFT) as u8,
                g: bit(w1, ATS_G),
                s: bit(w1, ATS_S),
                addr: w1 & PAGE_ADDR_MASK,
            }),
            _ => Command::AtsPrgr(AtsPrgr {
                pid: id20,
                pv: bit(w0, PV),
                dsv: bit(w0, DSV),
                rid: (w0 >> RID_SHIFT) as u16,
                dseg: (w0 >> DSEG_SHIFT) as u8,
                prg_index: ((w1 >> PRGI_SHIFT) & 0x1ff) as u16,
                resp_code: ((w1 >> RESP_SHIFT) & 0xf) as u8,
            }),
        })
    }

    /// The slot of legal words (every one decodes), else why they are
    /// illegal: one test of the slot's three masks.
    #[inline(always)]
    fn legal_slot(w0: u64, w1: u64) -> Result<usize, DecodeError> {
        let opf = (w0 & OPF_MASK) as usize;
        let [zero0, flip, zero1] = CHECK_OF[opf];
        let slot = SLOT_OF[opf] as usize;
        if ((w0 ^ flip) & zero0) | (w1 & zero1) != 0 {
            return Err(Command::illegal(w0, w1, slot));
        }
        Ok(slot)
    }

    /// Why `[w0, w1]` of `slot` is illegal, in the order the checks are
    /// documented: opcode, reserved bits of `w0`, of `w1`, operand rules.
    #[cold]
    #[inline(never)]
    fn illegal(w0: u64, w1: u64, slot: usize) -> DecodeError {
        let [d0, d1] = SLOT_DEF[slot & 7];
        let (must0, must1, rule) = SLOT_RULE[slot & 7];
        if d0 == 0 {
            DecodeError::unknown_opcode(w0 & OPF_MASK)
        } else if w0 & !d0 != 0 {
            DecodeError::reserved(0, w0 & !d0)
        } else if w1 & !d1 != 0 {
            DecodeError::reserved(1, w1 & !d1)
        } else {
            DecodeError::invalid(0, (w0 & must0) | (!w0 & must1), rule)
        }
    }

    /// Encode to `[w0, w1]`. Exact for every decoded command. Field values
    /// wider than their field are masked to it (use [`Command::check`] or
    /// [`NativeCommand::from_fields`](iommu_inval_core::NativeCommand::from_fields) to refuse them instead).
    ///
    /// ```
    /// use iommu_inval_riscv::{Command, IofenceC};
    /// // IOFENCE.C with AV: store 1 at 0x8000_0010 on completion.
    /// let c = Command::IofenceC(IofenceC { av: true, data: 1, addr: 0x8000_0010, ..Default::default() });
    /// assert_eq!(c.encode(), [0x0000_0001_0000_0402, 0x2000_0004]);
    /// ```
    #[inline(always)]
    pub fn encode(&self) -> [u64; 2] {
        let iot = |f: u64, c: &Iotinval| {
            [
                f | b(c.av, AV)
                    | (((c.pscid & ID20_MAX) as u64) << ID20_SHIFT)
                    | b(c.pscv, PSCV)
                    | b(c.gv, GV)
                    | b(c.nl, NL)
                    | (c.gscid as u64) << GSCID_SHIFT,
                ((c.addr >> 2) & IOT_ADDR_W1) | b(c.s, S_W1),
            ]
        };
        match self {
            Command::IotinvalVma(c) => iot(IOTINVAL_VMA, c),
            Command::IotinvalGvma(c) => iot(IOTINVAL_GVMA, c),
            Command::IofenceC(c) => [
                IOFENCE_C
                    | b(c.av, AV)
                    | b(c.wsi, WSI)
                    | b(c.pr, PR)
                    | b(c.pw, PW)
                    | (c.data as u64) << 32,
                (c.addr >> 2) & FENCE_ADDR_W1,
            ],
            Command::IodirInvalDdt(c) => [
                IODIR_INVAL_DDT | b(c.dv, DV) | ((c.did & DID_MAX) as u64) << DID_SHIFT,
                0,
            ],
            Command::IodirInvalPdt(c) => [
                IODIR_INVAL_PDT
                    | (((c.pid & ID20_MAX) as u64) << ID20_SHIFT)
                    | b(c.dv, DV)
                    | ((c.did & DID_MAX) as u64) << DID_SHIFT,
                0,
            ],
            Command::AtsInval(c) => [
                ATS_INVAL | ats_w0(c.pid, c.pv, c.dsv, c.rid, c.dseg),
                (c.addr & PAGE_ADDR_MASK) | b(c.s, ATS_S) | b(c.g, ATS_G),
            ],
            Command::AtsPrgr(c) => [
                ATS_PRGR | ats_w0(c.pid, c.pv, c.dsv, c.rid, c.dseg),
                ((c.prg_index & 0x1ff) as u64) << PRGI_SHIFT
                    | ((c.resp_code & 0xf) as u64) << RESP_SHIFT,
            ],
        }
    }

    /// `(opcode, func3)` of the command.
    pub(crate) const fn opcode_func3(&self) -> (u8, u8) {
        match self {
            Command::IotinvalVma(_) => (OP_IOTINVAL, 0),
            Command::IotinvalGvma(_) => (OP_IOTINVAL, 1),
            Command::IofenceC(_) => (OP_IOFENCE, 0),
            Command::IodirInvalDdt(_) => (OP_IODIR, 0),
            Command::IodirInvalPdt(_) => (OP_IODIR, 1),
            Command::AtsInval(_) => (OP_ATS, 0),
            Command::AtsPrgr(_) => (OP_ATS, 1),
        }
    }

    /// Check that every field value fits its field and that the command is
    /// legal (`FieldError::TooWide` names the first field that does not
    /// fit; `FieldError::Invalid` an illegal combination): 20-bit PSCIDs
    /// and PIDs, 24-bit DIDs, 9-bit `prg_index`, 4-bit `resp_code`, page
    /// addresses with the low 12 bits clear, fence addresses 4-byte aligned.
    pub fn check(&self) -> Result<(), FieldError> {
        self.check_fields()?;
        // Fields fit: the encoding is exact, so the decoder judges legality.
        Command::decode_words(self.encode()[0], self.encode()[1])
            .map(|_| ())
            .map_err(FieldError::Invalid)
    }

    /// [`NativeCommand::check_features`]:
    /// refuse a legal command that uses a part of the specification the
    /// IOMMU does not implement: such a command is "unsupported" and, like
    /// an illegal one, sets `cqcsr.cmd_ill` (§3.1). Without
    /// `capabilities.NL` / `.S` the `NL` / `S` bits are reserved (§9.2,
    /// §9.3); without wired interrupts enabled IOFENCE.C `WSI` is reserved
    /// (§3.1.2); without `capabilities.ATS` the ATS commands do not exist
    /// (§3.1.4). The `PID` of IODIR.INVAL_PDT must not be wider than the
    /// IOMMU's ([`Features::pid_bits`], §3.1.3): `invalid_field` "pid",
    /// the excess bits in `mask`.
    ///
    /// ```
    /// use iommu_inval_core::NativeCommand;
    /// use iommu_inval_riscv::{Command, Features, IodirInvalPdt};
    /// // PID 0x100 on an IOMMU with 8-bit PIDs (capabilities.PD8 only).
    /// let c = Command::IodirInvalPdt(IodirInvalPdt { pid: 0x100, dv: true, did: 1 });
    /// let pd8 = Features { pid_bits: 8, ..Features::ALL };
    /// assert_eq!(c.check_features(&pd8).unwrap_err().field, "pid");
    /// assert!(c.check_features(&Features::ALL).is_ok());
    /// ```
    #[inline]
    pub(crate) fn check_supported(&self, f: &Features) -> Result<(), DecodeError> {
        match *self {
            Command::IodirInvalPdt(c) if c.pid > f.pid_max() => {
                let excess = (c.pid & ID20_MAX & !f.pid_max()) as u64;
                return Err(DecodeError::invalid(0, excess << ID20_SHIFT, "pid"));
            }
            Command::IotinvalVma(c) | Command::IotinvalGvma(c) => {
                if c.nl && !f.nl {
                    return Err(DecodeError::reserved(0, 1 << NL));
                }
                if c.s && !f.s {
                    return Err(DecodeError::reserved(1, 1 << S_W1));
                }
            }
            Command::IofenceC(c) if c.wsi && !f.wsi => {
                return Err(DecodeError::reserved(0, 1 << WSI));
            }
            Command::AtsInval(_) | Command::AtsPrgr(_) if !f.ats => {
                let (o, f3) = self.opcode_func3();
                return Err(DecodeError::unknown_opcode(opf(o, f3)));
            }
            _ => {}
        }
        Ok(())
    }

    /// Refuse an IODIR command with `DV` = 1 whose `DID` is wider than the
    /// IOMMU's `ddtp.iommu_mode` allows (§3.1.3; the width follows the
    /// mode and the device-context format, [`Features::msi_flat`]): an illegal command, `cqcsr.cmd_ill`
    /// (`invalid_field` "did", the excess bits in `mask`). `DV` = 0 ignores
    /// the `DID` (IODIR.INVAL_DDT of every device).
    ///
    /// ```
    /// use iommu_inval_riscv::{Command, DdtMode, Features, IodirInvalDdt};
    /// // device_id 0x80 in a one-level directory of base-format contexts (7 bits).
    /// let c = Command::IodirInvalDdt(IodirInvalDdt { dv: true, did: 0x80 });
    /// let e = c.check_device_id(DdtMode::OneLevel, &Features::ALL).unwrap_err();
    /// assert_eq!((e.field, e.mask), ("did", 0x80 << 40));
    /// assert!(c.check_device_id(DdtMode::TwoLevel, &Features::ALL).is_ok());
    /// ```
    #[inline]
    pub fn check_device_id(&self, mode: DdtMode, f: &Features) -> Result<(), DecodeError> {
        let did = match *self {
            Command::IodirInvalDdt(IodirInvalDdt { dv: true, did })
            | Command::IodirInvalPdt(IodirInvalPdt { dv: true, did, .. }) => did & DID_MAX,
            _ => return Ok(()),
        };
        let excess = did >> mode.device_id_bits(f.msi_flat);
        if excess != 0 {
            let mask = ((excess as u64) << mode.device_id_bits(f.msi_flat)) << DID_SHIFT;
            return Err(DecodeError::invalid(0, mask, "did"));
        }
        Ok(())
    }
}

iommu_inval_core::native_command! {
    Command: ArchId::Riscv, crate::Features, |cmd, features| cmd.check_supported(features);
    op_names OP_NAMES, op = name, encode = encode,
    from_fields = ALL_FIELD_NAMES, blank, set_field, legal,
    fields = visit_fields, Command::names_of;

    /// Decode one command from its two words. Errors: `bad_length` (not 2
    /// words), `unknown_opcode` (an opcode/func3 pair not in §3.1; the
    /// pair `opcode | func3 << 7` in `mask`), `reserved_bits`,
    /// `invalid_field` (`pscv` with IOTINVAL.GVMA, `dv` = 0 with
    /// IODIR.INVAL_PDT). Each is an illegal command: `cqcsr.cmd_ill`.
    ///
    /// ```
    /// use iommu_inval_riscv::Command;
    /// use iommu_inval_core::ErrorKind;
    /// use iommu_inval_core::NativeCommand;
    /// // IOTINVAL.GVMA with PSCV = 1 is illegal (§3.1.1).
    /// let e = Command::decode(&[0x0000_0001_0000_0081, 0]).unwrap_err();
    /// assert_eq!((e.kind, e.field), (ErrorKind::InvalidField, "pscv"));
    /// ```
    #[inline(always)]
    fn decode(words: &[u64]) -> Result<Command, DecodeError> {
        match *words {
            [w0, w1] => Command::decode_words(w0, w1),
            _ => Err(DecodeError::bad_length(words.len())),
        }
    }

    /// Whether two words decode, without building the command: `Ok`
    /// exactly when [`Command::decode`](iommu_inval_core::NativeCommand::decode) is `Ok`, else the same error (the
    /// [`NativeCommand::check_words`](iommu_inval_core::NativeCommand::check_words) of the RISC-V IOMMU): the decoder's
    /// own three-mask test, after which decoding cannot fail, with the
    /// masks looked up directly by `opcode | func3 << 7`. (Not
    /// [`Command::check`], which checks a built command's field widths.)
    ///
    /// ```
    /// use iommu_inval_riscv::Command;
    /// use iommu_inval_core::copy_checked;
    /// use iommu_inval_core::NativeCommand;
    /// // IOFENCE.C with AV (store 1 at 0x8000_0010), then IOTINVAL.GVMA with PSCV = 1 (illegal).
    /// let guest = [0x0000_0001_0000_0402, 0x2000_0004, 0x0000_0001_0000_0081, 0];
    /// let mut host = [0u64; 4];
    /// let e = copy_checked::<Command>(&guest, &mut host, 2).unwrap_err();
    /// assert_eq!((e.index, e.error.field), (1, "pscv"));
    /// assert_eq!(host[..2], guest[..2]);
    /// assert!(Command::check_words(&guest[..2]).is_ok());
    /// ```
    #[inline(always)]
    fn check_words(words: &[u64]) -> Result<(), DecodeError> {
        match *words {
            [w0, w1] => Command::legal_slot(w0, w1).map(|_| ()),
            _ => Err(DecodeError::bad_length(words.len())),
        }
    }
}

/// The last check of `from_fields`: the fields must make a legal command
/// (`iodir_inval_pdt` needs `"dv": true`, §3.1.3).
fn legal(cmd: Command) -> Result<Command, FieldError> {
    cmd.check().map(|()| cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::{ErrorKind, FieldValue, NativeCommand};

    /// (word, low bit, high bit) of each field, hand-written from the
    /// §3.1 layouts (and §9.2 / §9.3), independent of the DEF_* masks.
    type Spans = &'static [(usize, u32, u32)];
    const TABLE: [(u64, Spans); 7] = [
        (
            IOTINVAL_VMA,
            &[
                (0, 10, 10),
                (0, 12, 31),
                (0, 32, 32),
                (0, 33, 33),
                (0, 34, 34),
                (0, 44, 59),
                (1, 9, 9),
                (1, 10, 61),
            ],
        ),
        (
            IOTINVAL_GVMA,
            &[
                (0, 10, 10),
                (0, 12, 31),
                (0, 33, 33),
                (0, 34, 34),
                (0, 44, 59),
                (1, 9, 9),
                (1, 10, 61),
            ],
        ),
        (
            IOFENCE_C,
            &[
                (0, 10, 10),
                (0, 11, 11),
                (0, 12, 12),
                (0, 13, 13),
                (0, 32, 63),
                (1, 0, 61),
            ],
        ),
        (IODIR_INVAL_DDT, &[(0, 33, 33), (0, 40, 63)]),
        (IODIR_INVAL_PDT, &[(0, 12, 31), (0, 33, 33), (0, 40, 63)]),
        (
            ATS_INVAL,
            &[
                (0, 12, 31),
                (0, 32, 32),
                (0, 33, 33),
                (0, 40, 55),
                (0, 56, 63),
                (1, 0, 0),
                (1, 11, 11),
                (1, 12, 63),
            ],
        ),
        (
            ATS_PRGR,
            &[
                (0, 12, 31),
                (0, 32, 32),
                (0, 33, 33),
                (0, 40, 55),
                (0, 56, 63),
                (1, 32, 40),
                (1, 44, 47),
            ],
        ),
    ];

    /// The smallest legal command of an opcode/func3 (INVAL_PDT needs DV).
    fn base(f: u64) -> [u64; 2] {
        if f == IODIR_INVAL_PDT {
            [f | 1 << DV, 0]
        } else {
            [f, 0]
        }
    }

    #[test]
    fn every_bit_is_a_field_or_refused() {
        for (f, spans) in TABLE {
            let mut m = [0u64; 2];
            for &(w, lo, hi) in spans {
                for bit in lo..=hi {
                    m[w] |= 1 << bit;
                }
            }
            assert!(Command::decode(&base(f)).is_ok(), "{f:#x} base");
            for w in 0..2 {
                for bit in 0..64 {
                    if w == 0 && bit < 10 {
                        continue; // opcode / func3
                    }
                    let mut words = base(f);
                    words[w] ^= 1 << bit;
                    let r = Command::decode(&words);
                    let field = m[w] & (1 << bit) != 0;
                    let illegal = (f == IOTINVAL_GVMA && w == 0 && bit == PSCV)
                        || (f == IODIR_INVAL_PDT && w == 0 && bit == DV);
                    match r {
                        Ok(c) => {
                            assert!(field, "{f:#x} w{w} bit {bit} accepted");
                            assert_eq!(c.encode(), words, "{f:#x} w{w} bit {bit}");
                        }
                        Err(e) if illegal => assert_eq!(e.kind, ErrorKind::InvalidField),
                        Err(e) => {
                            assert!(!field, "{f:#x} w{w} bit {bit} refused: {e}");
                            assert_eq!(e, DecodeError::reserved(w as u8, 1 << bit));
                        }
                    }
                }
            }
        }
    }

    /// The folded legality test against the documented order of the
    /// checks (opcode, reserved bits of `w0`, of `w1`, operand rules),
    /// computed from the hand-written spans, on words with several faults
    /// at once.
    #[test]
    fn several_faults_give_the_first_in_order() {
        let spans = |f: u64| -> Option<[u64; 2]> {
            let (_, sp) = TABLE.iter().find(|(k, _)| *k == f)?;
            // GVMA's PSCV is no field, but an illegal operand (a rule).
            let pscv = if f == IOTINVAL_GVMA { 1 << PSCV } else { 0 };
            let mut m = [OPF_MASK | pscv, 0];
            for &(w, lo, hi) in sp.iter() {
                for bit in lo..=hi {
                    m[w] |= 1 << bit;
                }
            }
            Some(m)
        };
        let mut rnd = iommu_inval_core::arb::xorshift(0x9e37_79b9_7f4a_7c15u64);
        for _ in 0..200_000 {
            let f = if rnd().is_multiple_of(8) {
                rnd() & OPF_MASK
            } else {
                TABLE[(rnd() % 7) as usize].0
            };
            let m = spans(f).unwrap_or([OPF_MASK, 0]);
            // Field bits at random, each reserved bit rarely.
            let mut w = [f | (rnd() & m[0] & !OPF_MASK), rnd() & m[1]];
            for wi in w.iter_mut() {
                if rnd().is_multiple_of(4) {
                    *wi |= 1 << (10 + rnd() % 54);
                }
            }
            let want = match spans(f) {
                None => Err(DecodeError::unknown_opcode(f)),
                Some(m) if w[0] & !m[0] != 0 => Err(DecodeError::reserved(0, w[0] & !m[0])),
                Some(m) if w[1] & !m[1] != 0 => Err(DecodeError::reserved(1, w[1] & !m[1])),
                Some(_) if f == IOTINVAL_GVMA && bit(w[0], PSCV) => {
                    Err(DecodeError::invalid(0, 1 << PSCV, "pscv"))
                }
                Some(_) if f == IODIR_INVAL_PDT && !bit(w[0], DV) => {
                    Err(DecodeError::invalid(0, 1 << DV, "dv"))
                }
                Some(_) => Ok(w),
            };
            let got = Command::decode(&w).map(|c| c.encode());
            assert_eq!(got, want, "{:#x} {:#x}", w[0], w[1]);
        }
    }

    #[test]
    fn unknown_opcodes_functions_and_lengths() {
        for f in 0u64..0x400 {
            let known = TABLE.iter().any(|(k, _)| *k == f);
            let r = Command::decode(&base(f));
            if known {
                assert!(r.is_ok(), "{f:#x}");
            } else {
                let e = r.unwrap_err();
                assert_eq!((e.kind, e.mask), (ErrorKind::UnknownOpcode, f), "{f:#x}");
            }
        }
        assert_eq!(
            Command::decode(&[IOFENCE_C]).unwrap_err(),
            DecodeError::bad_length(1)
        );
        assert_eq!(
            Command::decode(&[0, 0, 0]).unwrap_err(),
            DecodeError::bad_length(3)
        );
    }

    #[test]
    fn fields_land_where_the_spec_puts_them() {
        // IOTINVAL.GVMA GV=1 GSCID 0xabcd, AV, GPA 0x1_2345_6000, NL, S.
        let c = Command::IotinvalGvma(Iotinval {
            av: true,
            gv: true,
            nl: true,
            gscid: 0xabcd,
            s: true,
            addr: 0x1_2345_6000,
            ..Default::default()
        });
        let w = c.encode();
        assert_eq!(w[0], 0x0abc_d006_0000_0481);
        assert_eq!(w[1], (0x1_2345_6000u64 >> 12) << 10 | 1 << 9);
        // ATS.INVAL RID 0x0100, DSEG 2 (DSV), PID 7 (PV), S, G, addr 0x7000.
        let c = Command::AtsInval(AtsInval {
            pid: 7,
            pv: true,
            dsv: true,
            rid: 0x0100,
            dseg: 2,
            g: true,
            s: true,
            addr: 0x7000,
        });
        assert_eq!(c.encode(), [0x0201_0003_0000_7004, 0x7801]);
        // ATS.PRGR index 0x1ff, response failure.
        let c = Command::AtsPrgr(AtsPrgr {
            rid: 0x10,
            prg_index: 0x1ff,
            resp_code: 0xf,
            ..Default::default()
        });
        assert_eq!(c.encode(), [0x0000_1000_0000_0084, 0x0000_f1ff_0000_0000]);
        // IODIR.INVAL_PDT DID 0xfffffe, PID 0xfffff.
        let c = Command::IodirInvalPdt(IodirInvalPdt {
            pid: 0xfffff,
            dv: true,
            did: 0xff_fffe,
        });
        assert_eq!(c.encode(), [0xffff_fe02_ffff_f083, 0]);
        assert_eq!(Command::decode(&c.encode()), Ok(c));
    }

    #[test]
    fn from_fields_checks_widths_and_legality() {
        let mut it = [("dv", FieldValue::Bool(true)), ("did", FieldValue::Uint(9))].into_iter();
        let c = Command::from_fields("iodir_inval_ddt", &mut it, 2).unwrap();
        assert_eq!(
            c,
            Command::IodirInvalDdt(IodirInvalDdt { dv: true, did: 9 })
        );
        let mut it = [("did", FieldValue::Uint(9))].into_iter();
        assert!(matches!(
            Command::from_fields("iodir_inval_pdt", &mut it, 2),
            Err(FieldError::Invalid(e)) if e.field == "dv"
        ));
        let mut it = [("pscv", FieldValue::Bool(true))].into_iter();
        assert_eq!(
            Command::from_fields("iotinval_gvma", &mut it, 2),
            Err(FieldError::UnknownField("pscv"))
        );
        let mut it = [("addr", FieldValue::Uint(0x1002))].into_iter();
        assert_eq!(
            Command::from_fields("iofence_c", &mut it, 2),
            Err(FieldError::TooWide("addr"))
        );
        let mut it = [("did", FieldValue::Uint(1 << 24))].into_iter();
        assert_eq!(
            Command::from_fields("iodir_inval_ddt", &mut it, 2),
            Err(FieldError::TooWide("did"))
        );
        assert_eq!(
            Command::from_fields("nope", &mut core::iter::empty(), 2),
            Err(FieldError::UnknownOp)
        );
    }

    #[test]
    fn unsupported_parts_are_refused_by_features() {
        let nl = Command::IotinvalVma(Iotinval {
            av: true,
            nl: true,
            ..Default::default()
        });
        let none = Features {
            ats: false,
            nl: false,
            s: false,
            wsi: false,
            ..Features::ALL
        };
        assert!(nl.check_supported(&Features::default()).is_ok());
        assert_eq!(
            nl.check_supported(&none),
            Err(DecodeError::reserved(0, 1 << 34))
        );
        let ats = Command::AtsPrgr(AtsPrgr::default());
        assert_eq!(
            ats.check_supported(&none).unwrap_err().kind,
            ErrorKind::UnknownOpcode
        );
        let wsi = Command::IofenceC(IofenceC {
            wsi: true,
            ..Default::default()
        });
        assert_eq!(
            wsi.check_supported(&none),
            Err(DecodeError::reserved(0, 1 << 11))
        );
    }

    /// The PID rule of IODIR.INVAL_PDT (§3.1.3) against every width: a PID
    /// is refused exactly when it has a bit at or above `pid_bits`, and the
    /// error names those bits where they sit in `w0`.
    #[test]
    fn pid_width_rule_by_capabilities() {
        for bits in 0..=21u8 {
            let f = Features {
                pid_bits: bits,
                ..Features::ALL
            };
            let lim = u32::from(bits.min(20));
            for pid in (0..20)
                .map(|b| 1u32 << b)
                .chain([0, ID20_MAX, 0xff, 0x1_ffff])
            {
                let c = Command::IodirInvalPdt(IodirInvalPdt {
                    pid,
                    dv: true,
                    did: 7,
                });
                let r = c.check_supported(&f);
                if pid >> lim == 0 {
                    assert_eq!(r, Ok(()), "pid {pid:#x} bits {bits}");
                } else {
                    let want = (u64::from(pid >> lim) << lim) << ID20_SHIFT;
                    assert_eq!(r, Err(DecodeError::invalid(0, want, "pid")));
                    // The bits named are bits of the encoded command.
                    assert_eq!(c.encode()[0] & want, want);
                }
                // ATS PIDs are the device's PASIDs: no such rule.
                let ats = Command::AtsInval(AtsInval {
                    pid,
                    pv: true,
                    ..Default::default()
                });
                assert_eq!(ats.check_supported(&f), Ok(()));
            }
        }
    }

    /// The DID rule of IODIR with DV = 1 (§3.1.3) against every mode and
    /// device-context format: the width of §2's `device_id` partitioning.
    #[test]
    fn did_width_rule_by_ddt_mode() {
        let modes = [
            (0, DdtMode::Off, 24, 24),
            (1, DdtMode::Bare, 24, 24),
            (2, DdtMode::OneLevel, 7, 6),
            (3, DdtMode::TwoLevel, 16, 15),
            (4, DdtMode::ThreeLevel, 24, 24),
        ];
        for (enc, mode, base, ext) in modes {
            assert_eq!(DdtMode::from_ddtp(0xabc0 | enc), Some(mode));
            assert_eq!(u64::from(mode.iommu_mode()), enc);
            for (msi_flat, bits) in [(false, base), (true, ext)] {
                assert_eq!(mode.device_id_bits(msi_flat), bits);
                let f = Features {
                    msi_flat,
                    ..Features::ALL
                };
                for did in (0..24).map(|b| 1u32 << b).chain([0, DID_MAX]) {
                    let cmds = [
                        Command::IodirInvalDdt(IodirInvalDdt { dv: true, did }),
                        Command::IodirInvalPdt(IodirInvalPdt {
                            pid: 1,
                            dv: true,
                            did,
                        }),
                    ];
                    for c in cmds {
                        let r = c.check_device_id(mode, &f);
                        if did >> bits == 0 {
                            assert_eq!(r, Ok(()), "{mode:?} {did:#x}");
                        } else {
                            let want = (u64::from(did >> bits) << bits) << DID_SHIFT;
                            assert_eq!(r, Err(DecodeError::invalid(0, want, "did")));
                            assert_eq!(c.encode()[0] & want, want);
                        }
                    }
                    // DV = 0: the DID is ignored.
                    let all = Command::IodirInvalDdt(IodirInvalDdt { dv: false, did });
                    assert_eq!(all.check_device_id(mode, &f), Ok(()));
                }
            }
        }
        for enc in 5..=15 {
            assert_eq!(DdtMode::from_ddtp(enc), None);
        }
    }
}
