//! Invalidation queue consumer for emulators (VT-d §6.5.2, registers §11.4.9).
//!
//! The queue is described by IQA_REG (base address `[63:12]`, descriptor
//! width DW `[11]`, queue size QS `[2:0]`: 2^QS 4 KiB pages) and walked from
//! IQH_REG to IQT_REG, both holding the byte offset of a descriptor in bits
//! `[18:4]`. With DW = 1 descriptors are 256-bit and an offset with bit 4
//! set is an invalidation queue error (IQE).
//!
//! The queue stops at the first descriptor the hardware would refuse, with
//! the head left pointing at it (as IQH_REG does after an IQE) and the
//! reason in IQERCD_REG. Nothing is allocated.
//!
//! [`InvQueue`] is the whole front end of an emulated VT-d invalidation
//! queue (the [`CommandQueue`] of `iommu_inval_core::device`): inv_wait
//! completions executed, errors in FSTS / IQERCD, a back end fed with the
//! lifted ops, and the producer side for a host queue; core's
//! [`QueueEngine::consume`] and [`QueueEngine::commands`] walk it decoding
//! only.
//!
//! ```
//! use iommu_inval_core::device::{CommandQueue, QueueEngine};
//! use iommu_inval_core::SliceMemory;
//! use iommu_inval_vtd::queue::InvQueue;
//! use iommu_inval_vtd::Command;
//! // A 128-bit queue of one page at 0x1000 holding an inv_wait at offset 0.
//! let mut bytes = [0u8; 4096];
//! bytes[..8].copy_from_slice(&(0x5u64 | 1 << 6).to_le_bytes()); // inv_wait, fence
//! let mem = SliceMemory::new(0x1000, &bytes);
//! let mut q = InvQueue::from_registers(0x1000, 0, 0x10).unwrap();
//! let mut seen = 0;
//! let p = q.consume(&mem, |c| { assert!(matches!(c.command, Command::InvWait(_))); seen += 1; });
//! assert_eq!((q.head_register(), seen, p.consumed), (0x10, 1, 1));
//! ```

use iommu_inval_core::Flags;
use crate::desc::Command;
use iommu_inval_core::arch::prelude::*;

iommu_inval_core::arch_error! {
    /// The architected error a VT-d unit raises for an invalidation-queue
    /// fault: a bit of FSTS_REG (VT-d §6.5.2.10, §11.4.4.1).
    pub enum HwError {
        /// FSTS.IQE: invalidation queue error (reserved bit, bad type or
        /// granularity, bad pointer, failed fetch).
        Iqe = "FSTS.IQE" => FSTS_IQE,
        /// FSTS.ITE: device-TLB invalidation time-out.
        Ite = "FSTS.ITE" => FSTS_ITE,
        /// FSTS.ICE: invalidation completion error.
        Ice = "FSTS.ICE" => FSTS_ICE,
    }
    /// The FSTS_REG bit.
    pub(crate) const fn fsts_bit -> u32;
}

/// IQA_REG.DW: 256-bit descriptors.
pub(crate) const IQA_DW: u64 = 1 << 11;
/// Offset bits of IQH_REG / IQT_REG.
pub(crate) const OFFSET_MASK: u64 = 0x7_fff0;

/// The invalidation queue address register, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Iqa {
    /// Base address (4 KiB aligned).
    pub base: u64,
    /// 256-bit descriptors.
    pub dw: bool,
    /// Queue size: 2^qs 4 KiB pages (0..=7).
    pub qs: u8,
}

impl Iqa {
    /// Decode IQA_REG (reserved bits `[10:3]` ignored).
    pub const fn from_reg(v: u64) -> Self {
        Iqa {
            base: v & !0xfff,
            dw: v & IQA_DW != 0,
            qs: (v & 7) as u8,
        }
    }
    /// The register value.
    pub const fn to_reg(&self) -> u64 {
        (self.base & !0xfff) | if self.dw { IQA_DW } else { 0 } | (self.qs as u64 & 7)
    }
    /// Queue size in bytes.
    pub(crate) const fn size(&self) -> u64 {
        4096 << (self.qs & 7)
    }
    /// Descriptor size in bytes (16 or 32).
    pub(crate) const fn desc_bytes(&self) -> u64 {
        if self.dw {
            32
        } else {
            16
        }
    }
    /// log2 of the descriptor size in bytes (4 or 5).
    pub(crate) const fn desc_shift(&self) -> u32 {
        if self.dw {
            5
        } else {
            4
        }
    }
    /// Descriptor size in 64-bit words (2 or 4).
    #[inline]
    pub(crate) const fn desc_words(&self) -> usize {
        if self.dw {
            4
        } else {
            2
        }
    }
    /// The ring IQA_REG describes: 2^(8 + QS) 128-bit or 2^(7 + QS) 256-bit
    /// slots, no wrap bit (IQH = IQT is empty); a queue's is
    /// [`RingRegs::ring`](iommu_inval_core::ring::RingRegs::ring).
    #[inline]
    pub(crate) const fn ring(&self) -> Ring {
        let log2 = (self.qs & 7) + if self.dw { 7 } else { 8 };
        Ring::new(self.base, log2, self.desc_words() as u8, false, false)
    }
}

/// True when `off` is not a descriptor slot of the queue (past its end, or
/// not a multiple of the descriptor size: an invalid IQH / IQT).
fn bad_offset(iqa: Iqa, off: u64) -> bool {
    off >= iqa.size() || !off.is_multiple_of(iqa.desc_bytes())
}

/// FSTS_REG.IQE (bit 4): invalidation queue error.
pub const FSTS_IQE: u32 = 1 << 4;
/// FSTS_REG.ICE (bit 5): invalidation completion error.
pub(crate) const FSTS_ICE: u32 = 1 << 5;
/// FSTS_REG.ITE (bit 6): invalidation time-out error.
pub(crate) const FSTS_ITE: u32 = 1 << 6;
/// ICS_REG.IWC (bit 0): invalidation wait descriptor complete.
pub(crate) const ICS_IWC: u32 = 1 << 0;
/// IECTL_REG / FECTL_REG interrupt mask (bit 31).
pub const CTL_IM: u32 = 1 << 31;
/// IECTL_REG / FECTL_REG interrupt pending (bit 30).
pub const CTL_IP: u32 = 1 << 30;

/// The invalidation queue of an emulated VT-d unit as a [`CommandQueue`]:
/// IQA_REG, IQH_REG, IQT_REG and the registers the queue reports through
/// (FSTS, IQERCD, ICS, IECTL, FECTL).
///
/// * **Completion** (VT-d §6.5.2.8): an inv_wait with SW writes its 32-bit
///   status data to its status address; with IF it sets ICS.IWC and, if IWC
///   was clear, raises the invalidation-completion interrupt (or sets
///   IECTL.IP while IECTL.IM masks it); FN needs nothing more, as the
///   front end carries out descriptors in order.
/// * **Errors** (§6.5.2.10): a descriptor that cannot be carried out sets
///   FSTS.IQE with IQH left at it and IQERCD.IQEI telling why; a back end's
///   device-TLB time-out sets FSTS.ITE (and IQERCD.ITESID). Either raises
///   the fault event (or sets FECTL.IP while FECTL.IM masks it) and stops
///   the queue until the guest clears the bit ([`InvQueue::write_fsts`],
///   write 1 to clear). ICE is never set: it reports a device-TLB completion
///   with a bad ITag, which this model's back ends do not produce.
/// * **Implementation choices** (as QEMU's intel_iommu model): a failed
///   status write is an IQE; a descriptor the back end fails is an IQE.
///
/// ```
/// use iommu_inval_vtd::queue::InvQueue;
/// use iommu_inval_core::device::{CommandQueue, CountingBackend, Signals};
/// use iommu_inval_core::{CellMemory, Flags, QueueMemory, IdentityContext};
/// let mut ram = vec![0u8; 0x2000];
/// let mem = CellMemory::new(0x1000, &mut ram);
/// // A one-page 128-bit queue at 0x1000: iotlb_inv_dsc (global), then
/// // inv_wait with IF and SW storing 1 at 0x1800.
/// mem.write_words(0x1000, &[0x2 | 1 << 4, 0]).unwrap();
/// mem.write_words(0x1010, &[0x5 | 1 << 4 | 1 << 5 | 1 << 32, 0x1800]).unwrap();
/// let mut q = InvQueue::from_registers(0x1000, 0, 0).unwrap();
/// q.doorbell(0x20);
/// let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
/// assert_eq!((p.consumed, q.head_register()), (2, 0x20));
/// assert!(p.signals.contains(Signals::COMPLETION_IRQ) && q.ics & 1 != 0); // ICS_REG.IWC
/// let mut w = [0u64; 1];
/// mem.read_words(0x1800, &mut w).unwrap();
/// assert_eq!(w[0], 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvQueue {
    /// IQA_REG, decoded.
    pub iqa: Iqa,
    /// IQH_REG (offset bits `[18:4]`).
    pub iqh: u64,
    /// IQT_REG (offset bits `[18:4]`): [`CommandQueue::doorbell`] writes
    /// it, [`CommandQueue::tail_register`] reads it.
    iqt: u64,
    /// FSTS_REG (IQE, ICE, ITE are the queue's).
    pub fsts: u32,
    /// IQERCD_REG: IQEI in `[3:0]`, ITESID in `[47:32]`.
    pub iqercd: u64,
    /// ICS_REG (IWC).
    pub ics: u32,
    /// IECTL_REG (IM, IP).
    pub iectl: u32,
    /// FECTL_REG (IM, IP).
    pub fectl: u32,
    /// What the emulated unit implements (CAP/ECAP): a descriptor it cannot
    /// process is an IQE ([`Command::decode_with`](iommu_inval_core::NativeCommand::decode_with)).
    /// [`Features::LATEST`](crate::Features::LATEST) by default; set with
    /// [`CommandQueue::with_features`] / [`CommandQueue::features_mut`].
    features: crate::Features,
}

impl InvQueue {
    /// The guest wrote FSTS_REG: the error bits written as 1 are cleared
    /// (RW1C), which lets the queue run again.
    pub fn write_fsts(&mut self, value: u32) {
        self.fsts &= !value;
    }
    /// The guest wrote ICS_REG: IWC written as 1 is cleared (RW1C).
    pub fn write_ics(&mut self, value: u32) {
        self.ics &= !(value & ICS_IWC);
    }
    fn bad(&self, off: u64) -> bool {
        bad_offset(self.iqa, off)
    }
    /// Raise an event whose control register is `ctl`: pending while masked.
    fn event(ctl: &mut u32, raised: Signals) -> Signals {
        raised.when(event_fires(ctl))
    }
}

/// `impl RecordQueue` for a VT-d output (the fault recording registers,
/// the page request queue): always enabled (VT-d has no enable bit for
/// either), an overflow bit `$ov` of register `$reg` (FSTS.PFO, PRS.PRO)
/// that stops recording until the guest clears it, the interrupt rule
/// `$signal` and the automatic response `$response`.
macro_rules! vtd_record_queue {
    ($t:ty, $rec:ty, $reg:ident, $ov:expr, $signal:path, $response:expr) => {
        impl iommu_inval_core::event::RecordQueue for $t {
            type Record = $rec;
            fn enabled(&self) -> bool {
                true
            }
            fn overflow_pending(&self) -> bool {
                self.$reg & $ov != 0
            }
            fn raise_overflow(&mut self) {
                self.$reg |= $ov;
            }
            fn discards_while_overflowed(&self) -> bool {
                true
            }
            fn signal(&mut self, fate: &Fate, rec: &$rec) -> bool {
                $signal(self, fate, rec)
            }
            fn auto_response(&self, rec: &$rec, fate: &Fate) -> Option<PageResponse> {
                $response(rec, fate)
            }
        }
    };
}
pub(crate) use vtd_record_queue;

/// An interrupt condition of the event whose control register (FECTL,
/// IECTL, PECTL) is `ctl`: the message is sent now, or held pending
/// (`IP` set) while `IM` masks it (VT-d FECTL_REG.IP).
pub(crate) fn event_fires(ctl: &mut u32) -> bool {
    if *ctl & CTL_IM != 0 {
        *ctl |= CTL_IP;
        false
    } else {
        true
    }
}

iommu_inval_core::ring_regs!(
    InvQueue,
    |q| ring = q.iqa.ring(),
    head = (q.iqh >> q.iqa.desc_shift()) as u32,
    tail = (q.iqt >> q.iqa.desc_shift()) as u32,
    |q, pos| set_head = q.iqh = u64::from(q.iqa.ring().index(pos)) << q.iqa.desc_shift(),
    set_tail = q.iqt = u64::from(q.iqa.ring().index(pos)) << q.iqa.desc_shift(),
);

impl QueueEngine for InvQueue {
    type Arch = crate::Vtd;
    type HwError = HwError;
    const STORE_BYTES: usize = 4;

    fn is_stopped(&self) -> bool {
        self.fsts & (FSTS_IQE | FSTS_ITE | FSTS_ICE) != 0
    }
    fn check_pointers(&self) -> Result<(), FaultCause> {
        if self.bad(self.iqt) {
            Err(FaultCause::BadPointer(self.iqt))
        } else if self.bad(self.iqh) {
            Err(FaultCause::BadPointer(self.iqh))
        } else {
            Ok(())
        }
    }
    /// From the byte offsets, so that a head or tail off a descriptor
    /// boundary still counts as the registers say.
    fn pending(&self) -> u64 {
        (self.iqt.wrapping_sub(self.iqh) % self.iqa.size()) / self.iqa.desc_bytes()
    }
    #[inline]
    fn position(&self) -> u64 {
        self.iqh
    }
    /// IQA base plus IQH, whatever IQH holds (a bad head is reported there).
    fn command_address(&self) -> u64 {
        self.iqa.base.wrapping_add(self.iqh)
    }
    #[inline]
    fn decoder(
        &self,
    ) -> impl Fn(&[u64]) -> Result<Command, DecodeError> + Copy + use<> {
        let features = self.features;
        #[inline(always)]
        move |words: &[u64]| {
            let c = Command::decode(words)?;
            features.check(&c)?;
            Ok(c)
        }
    }
    fn complete(&mut self, sync: &Barrier) -> Signals {
        if !sync.interrupt || self.ics & ICS_IWC != 0 {
            // IWC already set: no new interrupt (§6.5.2.8).
            return Signals::empty();
        }
        self.ics |= ICS_IWC;
        Self::event(&mut self.iectl, Signals::COMPLETION_IRQ)
    }
    fn record_fault<M: QueueMemory + ?Sized>(
        &mut self,
        _mem: &M,
        cause: &FaultCause,
    ) -> FaultReport<HwError> {
        let hw = match cause {
            FaultCause::Backend(BackendError::DeviceTlbTimeout { device }) => {
                self.iqercd = (self.iqercd & !(0xffff << 32)) | (u64::from(*device & 0xffff) << 32);
                HwError::Ite
            }
            other => {
                let iqei = match other {
                    FaultCause::BadPointer(v) if *v == self.iqt => 1,
                    FaultCause::Fetch(_) => 2,
                    FaultCause::Decode(d) if d.kind == ErrorKind::UnknownOpcode => 3,
                    FaultCause::Decode(_) | FaultCause::Lift(_) => 4,
                    _ => 0,
                };
                self.iqercd = (self.iqercd & !0xf) | iqei;
                HwError::Iqe
            }
        };
        let bit = hw.fsts_bit();
        let new = self.fsts & bit == 0;
        self.fsts |= bit;
        FaultReport {
            hw,
            stop: true,
            signals: if new {
                Self::event(&mut self.fectl, Signals::ERROR_IRQ)
            } else {
                Signals::empty()
            },
        }
    }
}

impl CommandQueue for InvQueue {
    type ConfigError = core::convert::Infallible;

    /// From IQA_REG, IQH_REG and IQT_REG.
    fn from_registers(iqa: u64, iqh: u64, iqt: u64) -> Result<Self, Self::ConfigError> {
        Ok(InvQueue {
            iqa: Iqa::from_reg(iqa),
            iqh: iqh & OFFSET_MASK,
            iqt: iqt & OFFSET_MASK,
            fsts: 0,
            iqercd: 0,
            ics: 0,
            iectl: 0,
            fectl: 0,
            features: crate::Features::LATEST,
        })
    }
    /// The guest wrote IQT_REG (a bad offset is an IQE at the next process).
    fn doorbell(&mut self, iqt: u64) {
        self.iqt = iqt & OFFSET_MASK;
    }
    /// IQH_REG.
    fn head_register(&self) -> u64 {
        self.iqh
    }
    /// IQT_REG.
    fn tail_register(&self) -> u64 {
        self.iqt
    }
    fn features_mut(&mut self) -> &mut crate::Features {
        &mut self.features
    }
}

impl QueueProducer for InvQueue {
    /// Scalable mode with 256-bit descriptors (IQA.DW = 1), else legacy mode
    /// with 128-bit ones: scalable-mode descriptors need DW = 1 (VT-d
    /// §6.5.2, as Linux programs IQA).
    fn host_features(&self) -> crate::Features {
        use iommu_inval_core::FeatureSet;
        if self.iqa.dw {
            crate::Features::HOST
        } else {
            crate::Features::HOST.in_legacy_mode()
        }
    }

    /// None while IQT is not a descriptor slot.
    fn free_slots(&self) -> u64 {
        if self.bad(self.iqt) {
            0
        } else {
            (self.iqa.ring().entries() - 1).saturating_sub(self.pending())
        }
    }
}
