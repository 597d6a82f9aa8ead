//! The command-queue consumer an emulated RISC-V IOMMU runs (RISC-V IOMMU
//! spec v1.0 §3.1 "Command-Queue (CQ)" and the registers `cqb` (§5.6,
//! offset 0x18), `cqh` (§5.7, 0x20), `cqt` (§5.8, 0x24) and `cqcsr` (§5.15,
//! 0x48)).
//!
//! * `cqb`: `LOG2SZ-1` in bits `[4:0]` (the queue holds 2^(LOG2SZ-1 + 1)
//!   16-byte entries), `PPN` in bits `[53:10]` (base = PPN × 4 KiB). A
//!   queue of more than 256 entries must be naturally aligned to its size:
//!   that is software's rule, and the model uses the PPN as written.
//! * `cqh` / `cqt`: entry indices (not byte offsets), wrapping at the size.
//! * `cqcsr`: `cqen` 0, `cie` 1, `cqmf` 8, `cmd_to` 9, `cmd_ill` 10,
//!   `fence_w_ip` 11, `cqon` 16, `busy` 17.
//!
//! What the IOMMU is also decides what a command means and whether it is
//! legal: its [`Features`] (`capabilities`, `fctl`) and its
//! `ddtp.iommu_mode` ([`DdtMode`], [`CqDevice::write_ddtp`]):
//!
//! * an IODIR.INVAL_PDT whose `PID` is wider than the IOMMU's
//!   (`capabilities.PD8` / `PD17` / `PD20`: 8, 17, 20 bits), and an IODIR
//!   with `DV` = 1 whose `DID` is wider than the mode allows (1LVL 7 bits,
//!   2LVL 16, 3LVL 24; 6 / 15 / 24 with extended-format device contexts,
//!   `capabilities.MSI_FLAT`), are illegal (§3.1.3);
//! * with `fctl.BE` = 1 the queue is big-endian: each command's two
//!   doublewords are read most significant byte first (§3.1) and the
//!   IOFENCE.C `DATA` is stored big-endian (§3.1.2, §5.4); `fctl.BE`
//!   follows a write only with `capabilities.END` (WARL,
//!   [`CqDevice::write_fctl`]).
//!
//! The IOMMU consumes from `cqh` to `cqt`. At an illegal or unsupported
//! command it sets `cqcsr.cmd_ill` and stops with `cqh` at that command; a
//! fetch fault sets `cqcsr.cqmf`, likewise leaving `cqh` at the command
//! (§3.1). While `cmd_ill` or `cqmf` is set nothing is processed; software
//! clears them by writing 1 ([`CqDevice::write_cqcsr`]).
//!
//! [`CqDevice`] is the [`CommandQueue`] front end of `core::device`:
//! commands lifted and handed to a [`Backend`](iommu_inval_core::device::Backend)
//! in batches closed at each IOFENCE.C, whose completion is *executed* (the
//! 32-bit `DATA` stored at `ADDR` when `AV`; `WSI` sets
//! `cqcsr.fence_w_ip`), and errors recorded in `cqcsr` with `cqh` left at
//! the command (`cmd_ill`, `cqmf`, `cmd_to`); core's
//! [`QueueEngine::consume`] and [`QueueEngine::commands`] walk it decoding
//! only. It is also the producer of a host queue ([`QueueProducer`]).
//! It holds the registers ([`CqDevice::from_cq_registers`]).
//!
//! No allocation: each command is decoded into a stack value.
//!
//! ```
//! use iommu_inval_riscv::queue::{CqDevice, HwError};
//! use iommu_inval_core::device::{CommandQueue, QueueEngine};
//! use iommu_inval_core::SliceMemory;
//! use iommu_inval_core::NativeCommand;
//! // 4 KiB queue (256 entries: LOG2SZ-1 = 7) at 0x10000: IODIR.INVAL_DDT DV = 0,
//! // then an IOFENCE.C, then an unknown opcode at entry 2.
//! let mut bytes = vec![0u8; 4096];
//! bytes[0] = 0x03;
//! bytes[16] = 0x02;
//! bytes[32] = 0x05;
//! let mem = SliceMemory::new(0x10000, &bytes);
//! let mut q = CqDevice::from_registers((0x10 << 10) | 7, 0, 3).unwrap();
//! let mut seen = Vec::new();
//! let p = q.consume(&mem, |c| seen.push((c.address, c.command.op())));
//! assert_eq!(seen, [(0x10000, "iodir_inval_ddt"), (0x10010, "iofence_c")]);
//! assert_eq!((q.head_register(), p.fault.map(|f| f.position)), (2, Some(2)));
//! assert_eq!(p.fault.map(|f| f.hw), Some(HwError::CmdIll));
//! assert!(q.cqcsr() & 1 << 10 != 0); // cqcsr.cmd_ill
//! ```

use iommu_inval_core::Flags;
use crate::cmd::{Command, DdtMode, Features};
use iommu_inval_core::arch::prelude::*;

iommu_inval_core::arch_error! {
    /// The architected error a RISC-V IOMMU raises for a command-queue fault:
    /// a `cqcsr` bit (RISC-V IOMMU spec §3.1, §5.15).
    pub enum HwError {
        /// `cqcsr.cmd_ill` (bit 10): illegal or unsupported command.
        CmdIll = "cqcsr.cmd_ill" => CQCSR_CMD_ILL,
        /// `cqcsr.cqmf` (bit 8): memory fault fetching a command or doing the
        /// IOFENCE.C store.
        Cqmf = "cqcsr.cqmf" => CQCSR_CQMF,
        /// `cqcsr.cmd_to` (bit 9): an IOFENCE.C timed out waiting for an
        /// earlier ATS.INVAL.
        CmdTo = "cqcsr.cmd_to" => CQCSR_CMD_TO,
    }
    /// The `cqcsr` bit.
    pub(crate) const fn cqcsr_bit -> u32;
}

/// `cqb.PPN` bits `[53:10]`.
pub(crate) const CQB_PPN_MASK: u64 = 0x003f_ffff_ffff_fc00;
/// `cqb.LOG2SZ-1` bits `[4:0]`.
pub(crate) const CQB_LOG2SZ_MASK: u64 = 0x1f;
/// `cqcsr.cqen`: command queue enable.
pub(crate) const CQCSR_CQEN: u32 = 1 << 0;
/// `cqcsr.cie`: command queue interrupt enable.
pub(crate) const CQCSR_CIE: u32 = 1 << 1;
/// `cqcsr.cqmf`: memory fault on a command fetch or an IOFENCE.C store.
pub(crate) const CQCSR_CQMF: u32 = 1 << 8;
/// `cqcsr.cmd_to`: an IOFENCE.C timed out waiting for ATS.INVAL completions.
pub(crate) const CQCSR_CMD_TO: u32 = 1 << 9;
/// `cqcsr.cmd_ill`: illegal or unsupported command.
pub(crate) const CQCSR_CMD_ILL: u32 = 1 << 10;
/// `cqcsr.fence_w_ip`: an IOFENCE.C with `WSI` completed.
pub(crate) const CQCSR_FENCE_W_IP: u32 = 1 << 11;
/// `cqcsr.cqon`: the queue is active.
pub(crate) const CQCSR_CQON: u32 = 1 << 16;
/// The error bits that stop processing.
pub(crate) const CQCSR_STOP: u32 = CQCSR_CMD_ILL | CQCSR_CQMF;

/// The command queue: base, size, head, tail, control/status, and the
/// features that decide which commands are supported. A VMM reaches it
/// through [`CqDevice`] (one consumer API per architecture).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CmdQueue {
    base: u64,
    log2sz: u8,
    head: u32,
    tail: u32,
    csr: u32,
    features: Features,
    ddt_mode: DdtMode,
}

impl CmdQueue {
    /// [`CqDevice::from_cq_registers`]; `None` when `LOG2SZ-1` = 31.
    pub(crate) fn with_features(
        cqb: u64,
        cqh: u32,
        cqt: u32,
        cqcsr: u32,
        features: Features,
    ) -> Option<Self> {
        let log2sz = (cqb & CQB_LOG2SZ_MASK) as u8 + 1;
        if log2sz > 31 {
            return None;
        }
        let mut csr =
            cqcsr & (CQCSR_CQEN | CQCSR_CIE | CQCSR_STOP | CQCSR_CMD_TO | CQCSR_FENCE_W_IP);
        if csr & CQCSR_CQEN != 0 {
            csr |= CQCSR_CQON;
        }
        let mask = (1u32 << log2sz) - 1;
        Some(CmdQueue {
            base: (cqb & CQB_PPN_MASK) << 2,
            log2sz,
            head: cqh & mask,
            tail: cqt & mask,
            csr,
            features,
            ddt_mode: DdtMode::Off,
        })
    }

    /// [`CqDevice::ddt_mode`].
    pub(crate) const fn ddt_mode(&self) -> DdtMode {
        self.ddt_mode
    }
    /// [`CqDevice::write_ddtp`].
    pub(crate) fn write_ddtp(&mut self, ddtp: u64) -> Result<(), ConfigError> {
        let mode = DdtMode::from_ddtp(ddtp).ok_or(ConfigError::DdtMode((ddtp & 0xf) as u8))?;
        self.ddt_mode = mode;
        Ok(())
    }
    /// [`CqDevice::write_fctl`].
    pub(crate) fn write_fctl(&mut self, fctl: u32) {
        self.features = self.features.write_fctl(fctl);
    }
    /// `fctl.BE`.
    pub(crate) const fn big_endian(&self) -> bool {
        self.features.be
    }
    /// [`CqDevice::fence_data_bytes`].
    pub(crate) const fn fence_data_bytes(&self, data: u32) -> [u8; 4] {
        if self.features.be {
            data.to_be_bytes()
        } else {
            data.to_le_bytes()
        }
    }

    /// Number of entries (2^(LOG2SZ-1 + 1)).
    pub(crate) const fn entries(&self) -> u32 {
        1 << self.log2sz
    }
    /// The `cqh` register value.
    pub(crate) const fn cqh(&self) -> u32 {
        self.head
    }
    /// The `cqt` register value.
    pub(crate) const fn cqt(&self) -> u32 {
        self.tail
    }
    /// The `cqcsr` register value.
    pub(crate) const fn cqcsr(&self) -> u32 {
        self.csr
    }
    /// The ring `cqb` describes: 2^(LOG2SZ-1 + 1) 16-byte entries, no wrap
    /// bit (`cqh` = `cqt` is empty), in the byte order of `fctl.BE`.
    #[inline]
    pub(crate) const fn ring(&self) -> Ring {
        Ring::new(self.base, self.log2sz, 2, false, self.features.be)
    }
    /// [`CqDevice::interrupt_pending`].
    pub(crate) const fn interrupt_pending(&self) -> bool {
        self.csr & CQCSR_CIE != 0 && self.csr & (CQCSR_STOP | CQCSR_CMD_TO | CQCSR_FENCE_W_IP) != 0
    }
    /// Software wrote `cqt`.
    pub(crate) fn set_tail(&mut self, cqt: u32) {
        self.tail = cqt & (self.entries() - 1);
    }
    /// Software wrote 1s to `cqcsr`'s error / `fence_w_ip` bits: clear them.
    pub(crate) fn clear_errors(&mut self, w1c: u32) {
        self.csr &= !(w1c & (CQCSR_STOP | CQCSR_CMD_TO | CQCSR_FENCE_W_IP));
    }
    /// An IOFENCE.C completed: with `wsi`, set `cqcsr.fence_w_ip` (§3.1.2).
    pub(crate) fn complete_fence(&mut self, wsi: bool) {
        if wsi {
            self.csr |= CQCSR_FENCE_W_IP;
        }
    }

    /// Whether processing is stopped: the queue is off or an error bit
    /// (`cmd_ill`, `cqmf`, `cmd_to`) is still set.
    pub(crate) const fn is_stopped(&self) -> bool {
        self.csr & CQCSR_CQON == 0 || self.csr & (CQCSR_STOP | CQCSR_CMD_TO) != 0
    }

}

/// The command queue of an emulated RISC-V IOMMU as a [`CommandQueue`].
///
/// * **Completion** (§3.1.2 IOFENCE.C): with `AV` the 32-bit `DATA` is
///   stored at `ADDR` (big-endian when `fctl.BE`, [`Features::be`]); with
///   `WSI` `cqcsr.fence_w_ip` is set and, when `cqcsr.cie` is set, the
///   command-queue interrupt raised
///   ([`Signals::COMPLETION_IRQ`]). `PR` / `PW` need nothing more: the back
///   end's barrier completed every earlier operation.
/// * **Errors** (§3.1): an illegal or unsupported command (or one the back
///   end fails, as QEMU reports it) sets `cqcsr.cmd_ill`; a failed fetch or
///   IOFENCE.C store sets `cqcsr.cqmf`; a device-TLB time-out sets
///   `cqcsr.cmd_to`. Each stops the queue with `cqh` at the command (for a
///   store fault, at the IOFENCE.C, which did not complete); with `cie` the
///   command-queue interrupt is raised ([`Signals::ERROR_IRQ`]). The guest
///   resumes by writing 1 to the bit ([`CqDevice::write_cqcsr`]).
///
/// ```
/// use iommu_inval_riscv::queue::CqDevice;
/// use iommu_inval_core::device::{CommandQueue, CountingBackend};
/// use iommu_inval_core::{CellMemory, QueueMemory, IdentityContext};
/// let mut ram = vec![0u8; 0x2000];
/// let mem = CellMemory::new(0x1000, &mut ram);
/// // 256 entries at 0x1000: IOTINVAL.VMA (everything), then IOFENCE.C AV + WSI storing 7 at 0x1f00.
/// mem.write_words(0x1000, &[0x1, 0]).unwrap();
/// mem.write_words(0x1010, &[7 << 32 | 0xc02, 0x1f00 >> 2]).unwrap();
/// let mut q = CqDevice::from_registers(1 << 10 | 7, 0, 0).unwrap();
/// q.doorbell(2);
/// let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
/// assert_eq!((p.consumed, q.head_register()), (2, 2));
/// assert!(q.cqcsr() & 1 << 11 != 0); // cqcsr.fence_w_ip
/// let mut w = [0u64; 1];
/// mem.read_words(0x1f00, &mut w).unwrap();
/// assert_eq!(w[0], 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CqDevice {
    /// The queue registers.
    queue: CmdQueue,
}

impl CqDevice {
    /// From the values of `cqb`, `cqh`, `cqt` and `cqcsr`, for an IOMMU
    /// with `features`, and `ddtp.iommu_mode` Off, which bounds no `DID`
    /// (until [`CqDevice::write_ddtp`]). Index bits above the queue size are
    /// ignored (they are read-only zero). `cqon` follows `cqen`.
    /// [`ConfigError::TooLarge`] when `LOG2SZ-1` = 31 (2^32 entries: more
    /// than this model's 32-bit index arithmetic holds).
    /// [`CommandQueue::from_registers`] is this with `cqen` set and
    /// [`Features::default`].
    pub fn from_cq_registers(
        cqb: u64,
        cqh: u32,
        cqt: u32,
        cqcsr: u32,
        features: Features,
    ) -> Result<Self, ConfigError> {
        let queue = CmdQueue::with_features(cqb, cqh, cqt, cqcsr, features)
            .ok_or(ConfigError::TooLarge((cqb & CQB_LOG2SZ_MASK) as u8))?;
        Ok(CqDevice { queue })
    }
    /// The `cqcsr` register value.
    pub const fn cqcsr(&self) -> u32 {
        self.queue.cqcsr()
    }
    /// Whether the command-queue interrupt is pending: an error bit or
    /// `fence_w_ip` set with `cie` (§3.1, `ipsr.cip`).
    pub const fn interrupt_pending(&self) -> bool {
        self.queue.interrupt_pending()
    }
    /// The device-directory mode the queue checks `DID`s against
    /// ([`DdtMode::Off`], which bounds nothing, until set).
    pub const fn ddt_mode(&self) -> DdtMode {
        self.queue.ddt_mode()
    }
    /// The guest wrote `ddtp` (§5.5): take its `iommu_mode`. A reserved or
    /// custom mode is refused ([`ConfigError::DdtMode`]) and the mode kept
    /// (the field is WARL: an IOMMU never holds a mode it lacks).
    pub fn write_ddtp(&mut self, ddtp: u64) -> Result<(), ConfigError> {
        self.queue.write_ddtp(ddtp)
    }
    /// The guest wrote `fctl` (§5.4): `BE` follows the write when the IOMMU
    /// has both byte orders (`capabilities.END`), else stays (WARL).
    /// The specification leaves a change while the queue is on
    /// `UNSPECIFIED`; the model applies it to the next access.
    pub fn write_fctl(&mut self, fctl: u32) {
        self.queue.write_fctl(fctl);
    }
    /// Whether the queue's memory accesses are big-endian (`fctl.BE`).
    pub const fn big_endian(&self) -> bool {
        self.queue.big_endian()
    }
    /// The four bytes an IOFENCE.C stores for `data`, in the queue's byte
    /// order (§3.1.2 with `fctl.BE`, §5.4): what a caller of the decode-only
    /// walk ([`QueueEngine::consume`]) writes at `ADDR`.
    pub const fn fence_data_bytes(&self, data: u32) -> [u8; 4] {
        self.queue.fence_data_bytes(data)
    }
    /// The guest wrote `cqcsr`: error and `fence_w_ip` bits written as 1
    /// are cleared (RW1C); processing resumes once no error bit is set.
    pub fn write_cqcsr(&mut self, value: u32) {
        self.queue.clear_errors(value);
        self.queue.csr = (self.queue.csr & !CQCSR_CIE) | (value & CQCSR_CIE);
    }
    fn irq(&self) -> Signals {
        if self.queue.csr & CQCSR_CIE != 0 {
            Signals::ERROR_IRQ
        } else {
            Signals::empty()
        }
    }
}

iommu_inval_core::ring_regs!(
    CqDevice,
    |q| ring = q.queue.ring(), head = q.queue.head, tail = q.queue.tail,
    |q, pos| set_head = q.queue.head = pos & (q.queue.entries() - 1),
    set_tail = q.queue.set_tail(pos),
);

impl QueueEngine for CqDevice {
    type Arch = crate::RiscV;
    type HwError = HwError;
    const STORE_BYTES: usize = 4;

    fn is_stopped(&self) -> bool {
        self.queue.is_stopped()
    }
    /// Index bits above the queue size are read-only zero (§5.7, §5.8): no
    /// `cqt` value is unusable.
    fn check_pointers(&self) -> Result<(), FaultCause> {
        Ok(())
    }
    #[inline]
    fn position(&self) -> u64 {
        u64::from(self.queue.cqh())
    }
    /// Commands are fetched in the byte order of `fctl.BE` (the ring's).
    #[inline]
    fn decoder(
        &self,
    ) -> impl Fn(&[u64]) -> Result<Command, DecodeError> + Copy + use<> {
        let (features, mode) = (self.queue.features, self.queue.ddt_mode);
        #[inline(always)]
        move |words: &[u64]| {
            let c = Command::decode(words)?;
            c.check_supported(&features)?;
            c.check_device_id(mode, &features)?;
            Ok(c)
        }
    }
    fn complete(&mut self, sync: &Barrier) -> Signals {
        self.queue.complete_fence(sync.interrupt);
        Signals::COMPLETION_IRQ.when(sync.interrupt && self.queue.csr & CQCSR_CIE != 0)
    }
    fn record_fault<M: QueueMemory + ?Sized>(
        &mut self,
        _mem: &M,
        cause: &FaultCause,
    ) -> FaultReport<HwError> {
        let hw = match cause {
            FaultCause::Fetch(_) | FaultCause::CompletionStore(_) | FaultCause::BadPointer(_) => {
                HwError::Cqmf
            }
            FaultCause::Backend(BackendError::DeviceTlbTimeout { .. }) => HwError::CmdTo,
            FaultCause::Decode(_) | FaultCause::Lift(_) | FaultCause::Backend(_) => HwError::CmdIll,
        };
        self.queue.csr |= hw.cqcsr_bit();
        FaultReport {
            hw,
            stop: true,
            signals: self.irq(),
        }
    }
}

impl CommandQueue for CqDevice {
    type ConfigError = ConfigError;

    /// From `cqb`, `cqh` and `cqt`; the queue is taken as enabled
    /// (`cqen` = `cqon` = 1) with interrupts off.
    fn from_registers(base: u64, head: u64, tail: u64) -> Result<Self, ConfigError> {
        Self::from_cq_registers(
            base,
            head as u32,
            tail as u32,
            CQCSR_CQEN,
            Features::default(),
        )
    }
    /// The guest wrote `cqt`.
    fn doorbell(&mut self, tail: u64) {
        self.queue.set_tail(tail as u32);
    }
    /// `cqh`.
    fn head_register(&self) -> u64 {
        u64::from(self.queue.cqh())
    }
    /// `cqt`.
    fn tail_register(&self) -> u64 {
        u64::from(self.queue.cqt())
    }
    fn features_mut(&mut self) -> &mut crate::Features {
        &mut self.queue.features
    }
}

impl QueueProducer for CqDevice {}

/// A register value the front end cannot take: no usable command queue,
/// or a `ddtp` mode this model does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `cqb.LOG2SZ-1` names more than 2^31 entries (the value): indices
    /// would not fit the 32-bit `cqh` / `cqt`.
    #[error("cqb LOG2SZ-1 = {0}: queue too large")]
    TooLarge(u8),
    /// `ddtp.iommu_mode` holds a reserved (5..=13) or custom (14, 15)
    /// encoding (the value).
    #[error("ddtp.iommu_mode = {0}: reserved or custom mode")]
    DdtMode(u8),
}
