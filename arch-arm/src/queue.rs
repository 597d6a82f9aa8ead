//! The command-queue consumer an emulated SMMU runs when the guest writes
//! `SMMU_CMDQ_PROD`.
//!
//! The queue is `2^log2size` 16-byte entries at `SMMU_CMDQ_BASE.ADDR`.
//! `PROD.WR` and `CONS.RD` hold the entry index in bits `[log2size-1:0]` and
//! a wrap bit at bit `log2size`: equal index and wrap is empty, equal index
//! with different wrap is full (IHI0070 §3.5.1; SMMU_CMDQ_BASE §6.3.26,
//! SMMU_CMDQ_PROD §6.3.27, SMMU_CMDQ_CONS §6.3.28, numbered as in recent
//! issues of the specification). The
//! consumer fetches and decodes from CONS up to PROD and stops at the first
//! command it cannot consume, leaving CONS pointing at it with
//! `CONS.ERR` (bits `[30:24]`) = 1 CERROR_ILL (bad command) or 2 CERROR_ABT
//! (the fetch failed), as the hardware does (IHI0070 §4.1.3, §7.1). No
//! allocation.
//!
//! [`CmdqDevice`] is the whole front end of an emulated SMMU's command queue
//! (the [`CommandQueue`] of `iommu_inval_core::device`): completions
//! executed, errors in CMDQ_CONS and SMMU_GERROR, a back end fed with the
//! lifted ops, and the producer side for a host queue; core's
//! [`QueueEngine::consume`] and [`QueueEngine::commands`] walk it decoding
//! only. [`Cmdq`] is SMMU_CMDQ_BASE decoded.
//!
//! ```
//! use iommu_inval_arm::queue::{CmdqDevice, CERROR_ILL};
//! use iommu_inval_core::device::{CommandQueue, QueueEngine};
//! use iommu_inval_core::SliceMemory;
//! // Four entries at 0x1000: NSNH_ALL, a bad opcode, CMD_SYNC.
//! let mut bytes = [0u8; 64];
//! bytes[0] = 0x30;
//! bytes[16] = 0xff;
//! bytes[32] = 0x46;
//! let mem = SliceMemory::new(0x1000, &bytes);
//! let mut q = CmdqDevice::from_registers(0x1000 | 2, 0, 3).unwrap();
//! let mut seen = 0;
//! let p = q.consume(&mem, |_| seen += 1);
//! assert_eq!((seen, p.consumed), (1, 1));
//! assert_eq!(q.head_register(), u64::from(CERROR_ILL) << 24 | 1); // stopped at index 1
//! ```

use iommu_inval_core::Flags;
use crate::cmd::Command;
use iommu_inval_core::device::{
    BackendError, CommandQueue, FaultCause, FaultReport, QueueEngine, QueueProducer, Signals,
};
use iommu_inval_core::ring::Ring;
use iommu_inval_core::NativeCommand;
use iommu_inval_core::{Barrier, DecodeError, QueueMemory};

iommu_inval_core::arch_error! {
    /// The architected error an SMMU raises for a command-queue fault
    /// (IHI0070 §7.1, SMMU_GERROR §6.3.18).
    pub enum HwError {
        /// CMDQ_CONS.ERR = 1 CERROR_ILL: illegal command (bad opcode, reserved
        /// bit, bad field).
        CerrorIll = "CERROR_ILL",
        /// CMDQ_CONS.ERR = 2 CERROR_ABT: abort on command fetch.
        CerrorAbt = "CERROR_ABT",
        /// CMDQ_CONS.ERR = 3 CERROR_ATC_INV_SYNC: ATC invalidation timeout
        /// observed at a CMD_SYNC.
        CerrorAtcInvSync = "CERROR_ATC_INV_SYNC",
        /// SMMU_GERROR.MSI_CMDQ_ABT_ERR (bit 4): the MSI write of a CMD_SYNC
        /// aborted (the CMD_SYNC still completes).
        MsiCmdqAbt = "GERROR.MSI_CMDQ_ABT_ERR",
    }
}

/// CMDQ_CONS.ERR: no error.
pub const CERROR_NONE: u8 = 0;
/// CMDQ_CONS.ERR: illegal command (bad opcode, reserved bit, ILLEGAL field).
pub const CERROR_ILL: u8 = 1;
/// CMDQ_CONS.ERR: abort on command fetch.
pub const CERROR_ABT: u8 = 2;
/// CMDQ_CONS.ERR: ATC invalidation timeout at a CMD_SYNC (reported by the
/// emulator's ATS model, never by decoding).
pub const CERROR_ATC_INV_SYNC: u8 = 3;

/// Largest LOG2SIZE an SMMU may implement (SMMU_IDR1.CMDQS ≤ 19; SMMU_CMDQ_CONS
/// "Additional Information").
pub const MAX_LOG2SIZE: u8 = 19;

/// CMDQ_CONS.ERR field.
const ERR_SHIFT: u32 = 24;
const ERR_MASK: u32 = 0x7f << ERR_SHIFT;

/// A command queue: base address and size.
///
/// The fields are public, so any value can be met: every method reads them
/// as the SMMU reads SMMU_CMDQ_BASE (IHI0070 §6.3.26), with `log2size`
/// above [`MAX_LOG2SIZE`] taken as 19 and `base` aligned down to the queue
/// size; no method can panic or overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cmdq {
    /// Guest physical address of entry 0 (read aligned down to the queue
    /// size, at least 32 bytes).
    pub base: u64,
    /// log2 of the number of entries (0..=19; larger values read as 19).
    pub log2size: u8,
}

impl Cmdq {
    /// A queue of `2^log2size` entries at `base`. `log2size` above 19 is
    /// taken as 19 and `base` is aligned down to the queue size (at least 32
    /// bytes), as the SMMU treats SMMU_CMDQ_BASE (IHI0070 §6.3.26).
    pub const fn new(base: u64, log2size: u8) -> Self {
        let log2size = if log2size > MAX_LOG2SIZE {
            MAX_LOG2SIZE
        } else {
            log2size
        };
        let bytes = 16u64 << log2size;
        let align = if bytes < 32 { 32 } else { bytes };
        Cmdq {
            base: base & !(align - 1),
            log2size,
        }
    }

    /// From an SMMU_CMDQ_BASE register value: ADDR `[55:5]`, LOG2SIZE `[4:0]`
    /// ([`CommandQueue::from_registers`]).
    pub(crate) const fn from_base_register(reg: u64) -> Self {
        Cmdq::new(reg & 0x00ff_ffff_ffff_ffe0, (reg & 0x1f) as u8)
    }

    /// The effective log2 of the number of entries: `log2size` clamped to
    /// [`MAX_LOG2SIZE`].
    #[inline]
    pub(crate) const fn log2_entries(&self) -> u32 {
        if self.log2size > MAX_LOG2SIZE {
            MAX_LOG2SIZE as u32
        } else {
            self.log2size as u32
        }
    }

    /// The effective base: `base` aligned down to the queue size (at least
    /// 32 bytes), as [`Cmdq::new`] stores it.
    #[inline]
    pub(crate) const fn effective_base(&self) -> u64 {
        // 16 << 19 at most: no overflow.
        let bytes = 16u64 << self.log2_entries();
        let align = if bytes < 32 { 32 } else { bytes };
        self.base & !(align - 1)
    }

    /// The ring SMMU_CMDQ_BASE describes: 16-byte entries, PROD / CONS with
    /// a wrap bit at bit `log2size`.
    #[inline]
    pub const fn ring(&self) -> Ring {
        Ring::new(self.effective_base(), self.log2_entries() as u8, 2, true, false)
    }

    /// The RD/WR part of a PROD or CONS value: index and wrap bit.
    #[inline]
    pub(crate) const fn ptr(&self, reg: u32) -> u32 {
        self.ring().pos(reg)
    }
}

/// SMMU_GERROR.CMDQ_ERR (bit 0): a command-queue error is active.
pub(crate) const GERROR_CMDQ_ERR: u32 = 1 << 0;
/// SMMU_GERROR.MSI_CMDQ_ABT_ERR (bit 4): a CMD_SYNC MSI write aborted.
pub(crate) const GERROR_MSI_CMDQ_ABT_ERR: u32 = 1 << 4;

/// The command queue of an emulated SMMU as a [`CommandQueue`]: the queue
/// geometry, SMMU_CMDQ_PROD, SMMU_CMDQ_CONS and the global error registers
/// SMMU_GERROR / SMMU_GERRORN.
///
/// * **Completion**: a CMD_SYNC with CS = SIG_IRQ and a non-zero MSI address
///   writes its 32-bit MSIData to MSIAddress (the MSI-based polling the Linux
///   driver uses); with a zero address it raises the wired completion
///   interrupt ([`Signals::COMPLETION_IRQ`]); CS = SIG_SEV is reported as
///   [`Signals::SEV`] (IHI0070 §4.7.3).
/// * **Errors**: the first command that cannot be consumed leaves CONS.RD at
///   it with CONS.ERR = CERROR_ILL / CERROR_ABT / CERROR_ATC_INV_SYNC and
///   activates GERROR.CMDQ_ERR (GERROR ≠ GERRORN); while it is active
///   nothing is consumed, until the guest writes GERRORN
///   ([`CmdqDevice::write_gerrorn`]) (IHI0070 §7.1). An aborted CMD_SYNC MSI
///   write activates GERROR.MSI_CMDQ_ABT_ERR and the CMD_SYNC completes.
/// * **Implementation choices** (as QEMU's smmuv3 model): a PROD behind CONS
///   is an overrun and consumption goes on until CONS reaches PROD
///   (wrapping); a command the back end fails is CERROR_ILL.
///
/// ```
/// use iommu_inval_arm::queue::CmdqDevice;
/// use iommu_inval_core::device::{CommandQueue, CountingBackend};
/// use iommu_inval_core::{CellMemory, QueueMemory, IdentityContext};
/// let mut ram = vec![0u8; 0x2000];
/// let mem = CellMemory::new(0x1000, &mut ram);
/// // 16-entry queue at 0x1000: TLBI_NH_ALL, then CMD_SYNC SIG_IRQ writing 0 to 0x1800.
/// mem.write_words(0x1000, &[0x10, 0]).unwrap();
/// mem.write_words(0x1010, &[0x46 | 1 << 12, 0x1800]).unwrap();
/// mem.write_bytes(0x1800, &0xffff_ffffu32.to_le_bytes()).unwrap();
/// let mut q = CmdqDevice::from_registers(0x1000 | 4, 0, 0).unwrap();
/// q.doorbell(2);
/// let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
/// assert_eq!((p.consumed, p.completions, q.head_register()), (2, 1, 2));
/// let mut w = [0u64; 1];
/// mem.read_words(0x1800, &mut w).unwrap();
/// assert_eq!(w[0] as u32, 0); // the MSI write landed
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CmdqDevice {
    /// Queue base and size (SMMU_CMDQ_BASE).
    pub cmdq: Cmdq,
    /// SMMU_CMDQ_PROD.WR: index and wrap bit ([`CommandQueue::doorbell`]
    /// writes it, [`CommandQueue::tail_register`] reads it).
    prod: u32,
    /// SMMU_CMDQ_CONS: RD (index and wrap bit) and ERR `[30:24]`.
    pub cons: u32,
    /// SMMU_GERROR (written by the SMMU: toggled to activate an error).
    pub gerror: u32,
    /// SMMU_GERRORN (written by the guest: equal to GERROR acknowledges).
    pub gerrorn: u32,
    /// What the emulated SMMU implements: a command it refuses is a
    /// CERROR_ILL ([`Command::decode_with`](iommu_inval_core::NativeCommand::decode_with)). [`Features::LATEST`](crate::Features::LATEST) by default;
    /// set with [`CommandQueue::with_features`] / [`CommandQueue::features_mut`].
    features: crate::Features,
}

impl CmdqDevice {
    /// The queue `cmdq` with SMMU_CMDQ_CONS `cons` (RD and ERR kept) and
    /// SMMU_CMDQ_PROD `prod` (WR kept), no error active, every feature.
    pub const fn new(cmdq: Cmdq, cons: u32, prod: u32) -> Self {
        CmdqDevice {
            cmdq,
            prod: cmdq.ptr(prod),
            cons: (cons & ERR_MASK) | cmdq.ptr(cons),
            gerror: 0,
            gerrorn: 0,
            features: crate::Features::LATEST,
        }
    }
    /// The guest wrote SMMU_GERRORN: errors whose bits now equal GERROR's are
    /// acknowledged (a CMDQ_ERR acknowledged lets consumption resume at CONS).
    pub fn write_gerrorn(&mut self, value: u32) {
        self.gerrorn = value;
    }
    /// GERROR bits that are active (GERROR ≠ GERRORN).
    const fn active_errors(&self) -> u32 {
        self.gerror ^ self.gerrorn
    }
    /// Activate GERROR bit `bit` unless it is active already; true when it
    /// was activated (a new GERROR interrupt).
    fn activate(&mut self, bit: u32) -> bool {
        if self.active_errors() & bit == 0 {
            self.gerror ^= bit;
            true
        } else {
            false
        }
    }
    /// The CMDQ_CONS.ERR field.
    pub const fn cons_err(&self) -> u8 {
        ((self.cons & ERR_MASK) >> ERR_SHIFT) as u8
    }
}

iommu_inval_core::ring_regs!(
    CmdqDevice,
    |q| ring = q.cmdq.ring(), head = q.cmdq.ptr(q.cons), tail = q.prod,
    // CONS.RD moves; CONS.ERR stays.
    |q, pos| set_head = q.cons = (q.cons & ERR_MASK) | q.cmdq.ptr(pos),
    set_tail = q.prod = q.cmdq.ptr(pos),
);

impl QueueEngine for CmdqDevice {
    type Arch = crate::Smmuv3;
    type HwError = HwError;
    const STORE_BYTES: usize = 4;

    fn is_stopped(&self) -> bool {
        self.active_errors() & GERROR_CMDQ_ERR != 0
    }
    fn check_pointers(&self) -> Result<(), FaultCause> {
        // PROD.WR and CONS.RD are index and wrap bit of the queue size: every
        // value is a slot (bits above are ignored, as SMMU_CMDQ_PROD's are).
        Ok(())
    }
    #[inline]
    fn position(&self) -> u64 {
        u64::from(self.cmdq.ptr(self.cons))
    }
    /// [`Features::LATEST`](crate::Features::LATEST) accepts every command
    /// (`FeatureSet::LATEST`): the default queue decodes at the codec's
    /// cost, without the check (an out-of-line call, and the command's trip
    /// through memory for it); the test is made once per walk.
    #[inline]
    fn decoder(
        &self,
    ) -> impl Fn(&[u64]) -> Result<Command, DecodeError> + Copy + use<> {
        let (features, latest) = (self.features, self.features == crate::Features::LATEST);
        #[inline(always)]
        move |words: &[u64]| {
            if latest {
                Command::decode(words)
            } else {
                Command::decode_with(words, &features)
            }
        }
    }
    fn complete(&mut self, sync: &Barrier) -> Signals {
        let mut s = Signals::empty();
        if sync.interrupt {
            s |= Signals::COMPLETION_IRQ;
        }
        if sync.sev {
            s |= Signals::SEV;
        }
        s
    }
    fn record_fault<M: QueueMemory + ?Sized>(
        &mut self,
        _mem: &M,
        cause: &FaultCause,
    ) -> FaultReport<HwError> {
        let (code, hw) = match cause {
            FaultCause::CompletionStore(_) => {
                let new = self.activate(GERROR_MSI_CMDQ_ABT_ERR);
                return FaultReport {
                    hw: HwError::MsiCmdqAbt,
                    stop: false,
                    signals: if new {
                        Signals::ERROR_IRQ
                    } else {
                        Signals::empty()
                    },
                };
            }
            FaultCause::Fetch(_) => (CERROR_ABT, HwError::CerrorAbt),
            FaultCause::Backend(BackendError::DeviceTlbTimeout { .. }) => {
                (CERROR_ATC_INV_SYNC, HwError::CerrorAtcInvSync)
            }
            FaultCause::Decode(_)
            | FaultCause::Lift(_)
            | FaultCause::Backend(_)
            | FaultCause::BadPointer(_) => (CERROR_ILL, HwError::CerrorIll),
        };
        self.cons = (u32::from(code) << ERR_SHIFT) | self.cmdq.ptr(self.cons);
        let new = self.activate(GERROR_CMDQ_ERR);
        FaultReport {
            hw,
            stop: true,
            signals: if new {
                Signals::ERROR_IRQ
            } else {
                Signals::empty()
            },
        }
    }
}

impl CommandQueue for CmdqDevice {
    type ConfigError = core::convert::Infallible;

    /// From SMMU_CMDQ_BASE, SMMU_CMDQ_CONS and SMMU_CMDQ_PROD.
    fn from_registers(base: u64, cons: u64, prod: u64) -> Result<Self, Self::ConfigError> {
        Ok(CmdqDevice::new(
            Cmdq::from_base_register(base),
            cons as u32,
            prod as u32,
        ))
    }
    /// The guest wrote SMMU_CMDQ_PROD.
    fn doorbell(&mut self, prod: u64) {
        self.prod = self.cmdq.ptr(prod as u32);
    }
    /// SMMU_CMDQ_CONS.
    fn head_register(&self) -> u64 {
        u64::from(self.cons)
    }
    /// SMMU_CMDQ_PROD.
    fn tail_register(&self) -> u64 {
        u64::from(self.prod)
    }
    fn features_mut(&mut self) -> &mut crate::Features {
        &mut self.features
    }
}

impl QueueProducer for CmdqDevice {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_arithmetic() {
        let q = Cmdq::new(0, 2); // 4 entries, wrap bit 2
        assert_eq!(q.ring().next(0b011), 0b100);
        assert_eq!(q.ring().next(0b111), 0b000);
        assert_eq!(q.ring().pending(0b000, 0b100), 4);
        assert_eq!(q.ring().pending(0b110, 0b001), 3);
        assert_eq!(q.ring().pending(0b110, 0b110), 0);
        assert!(q.ring().free(0b010, 0b110) == 0 && q.ring().free(0b110, 0b110) != 0);
        assert_eq!(q.ring().slot_addr(0b111), 0x30);
    }

    /// FINDINGS 5: struct literals out of the architected range read as the
    /// SMMU reads SMMU_CMDQ_BASE (LOG2SIZE ≤ 19, ADDR aligned to the size).
    #[test]
    fn out_of_range_fields_are_clamped() {
        for lg in [19u8, 20, 31, 32, 255] {
            let q = Cmdq {
                base: 0,
                log2size: lg,
            };
            assert_eq!(q.ring().entries(), 1 << 19, "{lg}");
            assert_eq!(q.ptr(u32::MAX), (1 << 20) - 1, "{lg}");
            assert_eq!(q.ring().index(u32::MAX), (1 << 19) - 1, "{lg}");
            // Full: same index, other wrap bit.
            assert_eq!(q.ring().pending(0, 1 << 19), 1 << 19, "{lg}");
            assert_eq!(q.ring().free(0, 1 << 19), 0);
            assert_eq!(q.ring().next((1 << 20) - 1), 0, "{lg}");
        }
        // 16 entries (256 bytes): base aligned down to 0x100.
        let q = Cmdq {
            base: !0x1f,
            log2size: 4,
        };
        assert_eq!(q.effective_base(), 0xffff_ffff_ffff_ff00);
        assert_eq!(q.ring().slot_addr(1), 0xffff_ffff_ffff_ff10);
        assert_eq!(q.ring().slot_addr(15), 0xffff_ffff_ffff_fff0);
        assert_eq!(q.ring().slot_addr(16), 0xffff_ffff_ffff_ff00);
        // One entry: 32-byte alignment, as SMMU_CMDQ_BASE.ADDR[4:0] are 0.
        let q = Cmdq {
            base: 0x1234_5678,
            log2size: 0,
        };
        assert_eq!(q.ring().slot_addr(1), 0x1234_5660);
        assert_eq!(q.ring().next(0), 1);
        assert_eq!(q.ring().next(1), 0);
        // A literal and `new` agree.
        assert_eq!(Cmdq::new(0x1234_5678, 40), Cmdq::new(0x1234_5678, 19));
        let lit = Cmdq {
            base: 0x1234_5678,
            log2size: 40,
        };
        assert_eq!(
            lit.ring().slot_addr(3),
            Cmdq::new(0x1234_5678, 40).ring().slot_addr(3)
        );
    }
}
