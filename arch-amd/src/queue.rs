//! The command-buffer consumer an emulated AMD-Vi runs (AMD #48882 §2.4,
//! "Commands", and the MMIO registers Command Buffer Base Address, offset
//! 0008h, Command Buffer Head Pointer, 2000h, and Tail Pointer, 2008h).
//!
//! * CmdBufBaseAddr: `ComBase` in bits `[51:12]` (4 KiB aligned), `ComLen` in
//!   bits `[59:56]`: the buffer holds 2^ComLen 16-byte entries; ComLen values
//!   0..=7 are reserved (the smallest buffer is 256 entries, 4 KiB).
//! * CmdBufHeadPtr / CmdBufTailPtr: byte offsets in bits `[18:4]`.
//!
//! The IOMMU fetches from head to tail, wrapping at the end of the buffer.
//! At the first command it cannot execute it stops with head still pointing
//! at that command and writes an event log entry (§2.5, "Event Logging"):
//! ILLEGAL_COMMAND_ERROR (event code 5) for an unknown opcode or a reserved
//! bit, COMMAND_HARDWARE_ERROR (event code 6) when the fetch itself fails.
//! Both entries carry the physical address of the command in the second
//! quadword; there is no device id in them.
//!
//! No allocation: each command is decoded into a stack value.
//!
//! [`CmdBufDevice`] is the whole front end of an emulated AMD-Vi command
//! buffer (the [`CommandQueue`] of `iommu_inval_core::device`):
//! COMPLETION_WAIT executed, errors written to the guest's event log, a back
//! end fed with the lifted ops, and the producer side for a host buffer;
//! core's [`QueueEngine::consume`] and [`QueueEngine::commands`] walk it
//! decoding only.
//!
//! ```
//! use iommu_inval_amd::queue::CmdBufDevice;
//! use iommu_inval_core::device::{CommandQueue, QueueEngine};
//! use iommu_inval_core::SliceMemory;
//! use iommu_inval_core::NativeCommand;
//! // 256-entry buffer at 0x10000; two commands (IOMMU_ALL, COMPLETION_WAIT) at entries 0 and 1.
//! let mut bytes = vec![0u8; 4096];
//! bytes[7] = 0x80;                    // w0 of entry 0: opcode 8
//! bytes[16 + 7] = 0x10;               // w0 of entry 1: opcode 1
//! let mem = SliceMemory::new(0x10000, &bytes);
//! let mut q = CmdBufDevice::from_registers(0x0800_0000_0001_0000, 0, 0x20).unwrap();
//! let mut seen = Vec::new();
//! let p = q.consume(&mem, |c| seen.push((c.address, c.command.op())));
//! assert_eq!(p.consumed, 2);
//! assert_eq!(seen, [(0x10000, "INVALIDATE_IOMMU_ALL"), (0x10010, "COMPLETION_WAIT")]);
//! assert_eq!(q.head_register(), 0x20);
//! ```

use iommu_inval_core::Flags;
use crate::cmd::Command;
// The event log entries the command buffer writes are records of the
// event-log codec (`crate::event`, the one encoding of the layout and of the
// event codes): ILLEGAL_COMMAND_ERROR (the command's address in `w1`),
// COMMAND_HARDWARE_ERROR (`type` in `w0[58:57]`, the failed access's address
// in `w1`) and IOTLB_INV_TIMEOUT (DeviceID, the command's address); they go
// in through the event log's one producer, `GuestLog<EventRecord>`.
use crate::event::{EventRecord, GuestLog, SharedLog};
use iommu_inval_core::event::RecordQueue;
use iommu_inval_core::arch::prelude::*;

iommu_inval_core::arch_error! {
    /// The architected error an AMD-Vi IOMMU raises for a command-buffer
    /// fault: the event it logs (#48882 §2.5, "Event Logging"), whose
    /// entry (an [`EventRecord`](crate::event::EventRecord) of that kind)
    /// the fault writes to the log.
    pub enum HwError {
        /// ILLEGAL_COMMAND_ERROR (event code 5).
        IllegalCommand = "ILLEGAL_COMMAND_ERROR",
        /// COMMAND_HARDWARE_ERROR (event code 6): fetch or store abort.
        CommandHardware = "COMMAND_HARDWARE_ERROR",
        /// IOTLB_INV_TIMEOUT (event code 7).
        IotlbInvTimeout = "IOTLB_INV_TIMEOUT",
    }
}

/// Bytes per command-buffer entry.
pub(crate) const ENTRY_BYTES: u32 = 16;
/// Smallest architected ComLen (256 entries).
pub(crate) const MIN_COM_LEN: u8 = 8;
/// Largest ComLen (32768 entries, 512 KiB).
pub(crate) const MAX_COM_LEN: u8 = 15;
/// ComBase bits of CmdBufBaseAddr.
pub(crate) const BASE_MASK: u64 = 0x000f_ffff_ffff_f000;
/// Head/tail pointer bits `[18:4]`.
pub(crate) const PTR_MASK: u64 = 0x7_fff0;

/// COMMAND_HARDWARE_ERROR `Type` (bits `[58:57]`) used for a failed fetch: master abort.
pub(crate) const HW_ERROR_TYPE_MASTER_ABORT: u8 = 0b01;

/// The registers describe no usable command buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// ComLen below 8 is reserved.
    #[error("reserved ComLen {0} (must be 8..=15)")]
    ReservedLength(u8),
    /// A head or tail offset at or past the end of the buffer (the byte offset).
    #[error("pointer {0:#x} past the end of the command buffer")]
    PointerOutOfRange(u64),
}

/// A command buffer: base, size, head and tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CmdBuf {
    base: u64,
    com_len: u8,
    head: u32,
    tail: u32,
}

impl CmdBuf {
    /// From the values of CmdBufBaseAddr, CmdBufHeadPtr and CmdBufTailPtr.
    /// Reserved register bits are ignored, as the registers do not hold them.
    pub(crate) fn from_registers(
        base_reg: u64,
        head_reg: u64,
        tail_reg: u64,
    ) -> Result<Self, ConfigError> {
        let com_len = ((base_reg >> 56) & 0xf) as u8;
        Self::new(
            base_reg & BASE_MASK,
            com_len,
            head_reg & PTR_MASK,
            tail_reg & PTR_MASK,
        )
    }

    /// From a 4 KiB-aligned base (low bits ignored), ComLen and byte offsets
    /// (16-byte aligned; low bits ignored).
    pub(crate) fn new(base: u64, com_len: u8, head: u64, tail: u64) -> Result<Self, ConfigError> {
        if !(MIN_COM_LEN..=MAX_COM_LEN).contains(&com_len) {
            return Err(ConfigError::ReservedLength(com_len));
        }
        let mut q = CmdBuf {
            base: base & BASE_MASK,
            com_len,
            head: 0,
            tail: 0,
        };
        q.head = q.offset(head)?;
        q.tail = q.offset(tail)?;
        Ok(q)
    }

    fn offset(&self, p: u64) -> Result<u32, ConfigError> {
        let p = p & !0xf;
        if p >= u64::from(self.size_bytes()) {
            return Err(ConfigError::PointerOutOfRange(p));
        }
        // Below 2^19 by the check above.
        Ok(p as u32)
    }

    /// Buffer size in bytes (16 · 2^ComLen).
    pub(crate) const fn size_bytes(&self) -> u32 {
        ENTRY_BYTES << self.com_len
    }
    /// Physical base address.
    pub(crate) const fn base(&self) -> u64 {
        self.base
    }
    /// The CmdBufHeadPtr register value (byte offset).
    pub(crate) const fn head_register(&self) -> u64 {
        self.head as u64
    }
    /// The CmdBufTailPtr register value (byte offset).
    pub(crate) const fn tail_register(&self) -> u64 {
        self.tail as u64
    }
    /// The ring CmdBufBaseAddr describes: 2^ComLen 16-byte entries, no
    /// wrap bit (head = tail is empty).
    #[inline]
    pub(crate) const fn ring(&self) -> Ring {
        Ring::new(self.base, self.com_len, 2, false, false)
    }
    /// The guest wrote CmdBufTailPtr.
    pub(crate) fn set_tail(&mut self, tail_reg: u64) -> Result<(), ConfigError> {
        self.tail = self.offset(tail_reg & PTR_MASK)?;
        Ok(())
    }
    /// The guest wrote CmdBufHeadPtr (allowed while processing is stopped).
    pub(crate) fn set_head(&mut self, head_reg: u64) -> Result<(), ConfigError> {
        self.head = self.offset(head_reg & PTR_MASK)?;
        Ok(())
    }
}

/// IOMMU Status Register (MMIO 2020h) EventOverflow (bit 0).
pub(crate) const STATUS_EVENT_OVERFLOW: u32 = 1 << 0;
/// IOMMU Status Register EventLogInt (bit 1).
pub(crate) const STATUS_EVENT_LOG_INT: u32 = 1 << 1;
/// IOMMU Status Register ComWaitInt (bit 2).
pub(crate) const STATUS_COM_WAIT_INT: u32 = 1 << 2;
/// IOMMU Status Register CmdBufRun (bit 4).
pub(crate) const STATUS_CMD_BUF_RUN: u32 = 1 << 4;

/// The command buffer of an emulated AMD-Vi as a [`CommandQueue`]: the
/// buffer and its head / tail, the IOMMU Status Register and the event log.
///
/// * **Completion** (§2.4.1 COMPLETION_WAIT): with `s` the 64-bit store data
///   is written to the store address; with `i` the Status Register's
///   ComWaitInt is set and the completion interrupt raised; `f` needs
///   nothing more, as commands are carried out in order.
/// * **Errors** (§2.5): a command that cannot be carried out stops the
///   buffer with head at it, clears CmdBufRun and writes ILLEGAL_COMMAND_ERROR
///   (bad command) or COMMAND_HARDWARE_ERROR (failed fetch or completion
///   store) to the event log, through its producer
///   ([`GuestLog`]'s
///   [`offer`](iommu_inval_core::event::RecordQueue::offer): EventLogEn,
///   EventLogInt, EventOverflow on a full log, the interrupt with
///   EventIntEn). A back end's device-TLB time-out writes IOTLB_INV_TIMEOUT
///   and the buffer goes on. The guest restarts a stopped buffer by re-enabling it
///   ([`CmdBufDevice::restart`], the CmdBufEn 0 → 1 write).
/// * **Implementation choices**: a tail past the end of the buffer (the
///   specification leaves it undefined) stops the buffer with
///   COMMAND_HARDWARE_ERROR at base + tail; a command the back end fails is
///   an ILLEGAL_COMMAND_ERROR.
///
/// ```
/// use iommu_inval_amd::queue::CmdBufDevice;
/// use iommu_inval_core::device::{CommandQueue, CountingBackend};
/// use iommu_inval_core::{CellMemory, QueueMemory, IdentityContext};
/// let mut ram = vec![0u8; 0x2000];
/// let mem = CellMemory::new(0x1000, &mut ram);
/// // 256 entries at 0x1000: INVALIDATE_IOMMU_ALL, then COMPLETION_WAIT s, i storing 7 at 0x1f00.
/// mem.write_words(0x1000, &[0x8 << 60, 0]).unwrap();
/// mem.write_words(0x1010, &[1 << 60 | 0x1f00 | 0b11, 7]).unwrap();
/// let mut q = CmdBufDevice::from_registers(8 << 56 | 0x1000, 0, 0).unwrap();
/// q.doorbell(0x20);
/// let p = q.process(&mem, &IdentityContext, &mut CountingBackend::default());
/// assert_eq!((p.consumed, q.head_register()), (2, 0x20));
/// assert!(q.status & 1 << 2 != 0); // Status Register ComWaitInt
/// let mut w = [0u64; 1];
/// mem.read_words(0x1f00, &mut w).unwrap();
/// assert_eq!(w[0], 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CmdBufDevice {
    /// The command buffer.
    pub(crate) buf: CmdBuf,
    /// The CmdBufTailPtr value last written (checked at process time;
    /// [`CommandQueue::tail_register`]).
    tail_reg: u64,
    /// IOMMU Status Register (MMIO 2020h): CmdBufRun, ComWaitInt, and the
    /// event log's EventOverflow and EventLogInt.
    pub status: u32,
    /// The guest's event log, where errors are written (none: errors are
    /// only reported in [`Progress`](iommu_inval_core::device::Progress)).
    /// Its Status Register is this device's [`status`](Self::status), which
    /// the log's producer reads and sets in place: the log's own `status`
    /// is not used.
    pub event_log: Option<GuestLog<EventRecord>>,
    /// What the emulated IOMMU implements (EFR): a command it does not
    /// support is an ILLEGAL_COMMAND_ERROR ([`Command::decode_with`](iommu_inval_core::NativeCommand::decode_with)).
    /// [`Features::LATEST`](crate::Features::LATEST) by default; set with
    /// [`CommandQueue::with_features`] / [`CommandQueue::features_mut`].
    features: crate::Features,
}

impl CmdBufDevice {
    /// The guest re-enabled the command buffer (CmdBufEn 0 → 1): processing
    /// resumes at head.
    pub fn restart(&mut self) {
        self.status |= STATUS_CMD_BUF_RUN;
    }
    /// The guest wrote CmdBufHeadPtr (allowed while the buffer is stopped);
    /// an offset past the end is refused and the head kept.
    pub fn write_head(&mut self, head: u64) -> Result<(), ConfigError> {
        self.buf.set_head(head)
    }
    /// The guest wrote the Status Register: RW1C bits written as 1 are
    /// cleared (EventOverflow, EventLogInt, ComWaitInt).
    pub fn write_status(&mut self, value: u32) {
        self.status &=
            !(value & (STATUS_EVENT_OVERFLOW | STATUS_EVENT_LOG_INT | STATUS_COM_WAIT_INT));
    }
    /// The event log entry a fault at the head writes, its error, and
    /// whether it stops the buffer (§2.5).
    pub fn event(&self, cause: &FaultCause) -> (EventRecord, HwError, bool) {
        let at = self.command_address();
        match cause {
            FaultCause::Fetch(_) => (
                crate::event::command_hardware(at, HW_ERROR_TYPE_MASTER_ABORT),
                HwError::CommandHardware,
                true,
            ),
            FaultCause::CompletionStore(e) => (
                crate::event::command_hardware(e.addr, HW_ERROR_TYPE_MASTER_ABORT),
                HwError::CommandHardware,
                true,
            ),
            FaultCause::BadPointer(t) => (
                crate::event::command_hardware(
                    self.buf.base().wrapping_add(*t & PTR_MASK),
                    HW_ERROR_TYPE_MASTER_ABORT,
                ),
                HwError::CommandHardware,
                true,
            ),
            FaultCause::Backend(BackendError::DeviceTlbTimeout { device }) => (
                crate::event::iotlb_inv_timeout(*device as u16, at),
                HwError::IotlbInvTimeout,
                false,
            ),
            FaultCause::Decode(_) | FaultCause::Lift(_) | FaultCause::Backend(_) => (
                crate::event::illegal_command(at),
                HwError::IllegalCommand,
                true,
            ),
        }
    }
    fn log(&mut self, mem: &(impl QueueMemory + ?Sized), e: EventRecord) -> Signals {
        let Some(log) = self.event_log.as_mut() else {
            return Signals::empty();
        };
        let status = &mut self.status;
        let d = SharedLog { log, status }.offer(mem, &e, false);
        // An entry that does not encode cannot happen (the constructors
        // build valid entries); it would raise nothing.
        Signals::ERROR_IRQ.when(d.is_ok_and(|d| d.interrupt))
    }
}

iommu_inval_core::ring_regs!(
    CmdBufDevice,
    |q| ring = q.buf.ring(), head = q.buf.head / ENTRY_BYTES, tail = q.buf.tail / ENTRY_BYTES,
    |q, pos| set_head = q.buf.head = q.buf.ring().index(pos) * ENTRY_BYTES,
    // CmdBufTailPtr and the buffer's tail move together.
    set_tail = {
        q.buf.tail = q.buf.ring().index(pos) * ENTRY_BYTES;
        q.tail_reg = u64::from(q.buf.tail);
    },
);

impl QueueEngine for CmdBufDevice {
    type Arch = crate::AmdVi;
    type HwError = HwError;
    const STORE_BYTES: usize = 8;

    fn is_stopped(&self) -> bool {
        self.status & STATUS_CMD_BUF_RUN == 0
    }
    fn check_pointers(&self) -> Result<(), FaultCause> {
        if self.tail_reg & PTR_MASK != self.buf.tail_register() {
            Err(FaultCause::BadPointer(self.tail_reg))
        } else {
            Ok(())
        }
    }
    #[inline]
    fn position(&self) -> u64 {
        self.buf.head_register()
    }
    #[inline]
    fn decoder(
        &self,
    ) -> impl Fn(&[u64]) -> Result<Command, DecodeError> + Copy + use<> {
        let features = self.features;
        // Not forced inline: out of the loop's body, the loop keeps its
        // registers (288 against 314 instructions per command end to end).
        move |words: &[u64]| Command::decode_with(words, &features)
    }
    fn complete(&mut self, sync: &Barrier) -> Signals {
        if sync.interrupt {
            self.status |= STATUS_COM_WAIT_INT;
        }
        Signals::COMPLETION_IRQ.when(sync.interrupt)
    }
    fn record_fault<M: QueueMemory + ?Sized>(
        &mut self,
        mem: &M,
        cause: &FaultCause,
    ) -> FaultReport<HwError> {
        let (entry, hw, stop) = self.event(cause);
        if stop {
            self.status &= !STATUS_CMD_BUF_RUN;
        }
        FaultReport {
            hw,
            stop,
            signals: self.log(mem, entry),
        }
    }
}

impl CommandQueue for CmdBufDevice {
    type ConfigError = ConfigError;

    /// From CmdBufBaseAddr, CmdBufHeadPtr and CmdBufTailPtr; the buffer is
    /// taken as enabled (CmdBufRun set).
    fn from_registers(base: u64, head: u64, tail: u64) -> Result<Self, ConfigError> {
        Ok(CmdBufDevice {
            buf: CmdBuf::from_registers(base, head, tail)?,
            tail_reg: tail & PTR_MASK,
            status: STATUS_CMD_BUF_RUN,
            event_log: None,
            features: crate::Features::LATEST,
        })
    }
    /// The guest wrote CmdBufTailPtr (past the end: a fault at the next process).
    fn doorbell(&mut self, tail: u64) {
        self.tail_reg = tail & PTR_MASK;
        // An out-of-range tail leaves the buffer's tail unchanged; the
        // mismatch is reported by `check_pointers`.
        let _ = self.buf.set_tail(tail);
    }
    /// CmdBufHeadPtr.
    fn head_register(&self) -> u64 {
        self.buf.head_register()
    }
    /// CmdBufTailPtr.
    fn tail_register(&self) -> u64 {
        self.tail_reg
    }
    fn features_mut(&mut self) -> &mut crate::Features {
        &mut self.features
    }
}

impl QueueProducer for CmdBufDevice {}
