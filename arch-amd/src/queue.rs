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
//! No allocation: each command is decoded into a stack value and handed to
//! the caller.
//!
//! ```
//! use iommu_inval_amd::queue::CmdBuf;
//! use iommu_inval_core::SliceMemory;
//! // 256-entry buffer at 0x10000; two commands (IOMMU_ALL, COMPLETION_WAIT) at entries 0 and 1.
//! let mut bytes = vec![0u8; 4096];
//! bytes[7] = 0x80;                    // w0 of entry 0: opcode 8
//! bytes[16 + 7] = 0x10;               // w0 of entry 1: opcode 1
//! let mem = SliceMemory { base: 0x10000, bytes: &bytes };
//! let mut q = CmdBuf::from_registers(0x0800_0000_0001_0000, 0, 0x20).unwrap();
//! let mut seen = Vec::new();
//! let n = q.process(&mem, |addr, cmd| seen.push((addr, cmd.name()))).unwrap();
//! assert_eq!(n, 2);
//! assert_eq!(seen, [(0x10000, "INVALIDATE_IOMMU_ALL"), (0x10010, "COMPLETION_WAIT")]);
//! assert_eq!(q.head_register(), 0x20);
//! ```

use crate::cmd::Command;
use iommu_inval_core::{DecodeError, GuestMemory, HwError, MemError};

/// Bytes per command-buffer entry.
pub const ENTRY_BYTES: u32 = 16;
/// Smallest architected ComLen (256 entries).
pub const MIN_COM_LEN: u8 = 8;
/// Largest ComLen (32768 entries, 512 KiB).
pub const MAX_COM_LEN: u8 = 15;
/// ComBase bits of CmdBufBaseAddr.
pub const BASE_MASK: u64 = 0x000f_ffff_ffff_f000;
/// Head/tail pointer bits `[18:4]`.
pub const PTR_MASK: u64 = 0x7_fff0;

/// Event code of ILLEGAL_COMMAND_ERROR.
pub const EVENT_ILLEGAL_COMMAND_ERROR: u8 = 0x5;
/// Event code of COMMAND_HARDWARE_ERROR.
pub const EVENT_COMMAND_HARDWARE_ERROR: u8 = 0x6;
/// COMMAND_HARDWARE_ERROR `Type` (bits `[58:57]`) used for a failed fetch: master abort.
pub const HW_ERROR_TYPE_MASTER_ABORT: u8 = 0b01;

/// The registers describe no usable command buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigError {
    /// ComLen below 8 is reserved.
    ReservedLength(u8),
    /// A head or tail offset at or past the end of the buffer (the byte offset).
    PointerOutOfRange(u64),
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::ReservedLength(l) => write!(f, "reserved ComLen {l} (must be 8..=15)"),
            ConfigError::PointerOutOfRange(p) => {
                write!(f, "pointer {p:#x} past the end of the command buffer")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}

/// One 128-bit event log entry, as the IOMMU would write it to the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventLogEntry(pub [u64; 2]);

impl EventLogEntry {
    /// ILLEGAL_COMMAND_ERROR: event code 5 in `w0[63:60]`, the physical
    /// address of the command in `w1`; every other bit reserved (zero).
    pub const fn illegal_command(cmd_addr: u64) -> Self {
        EventLogEntry([(EVENT_ILLEGAL_COMMAND_ERROR as u64) << 60, cmd_addr])
    }
    /// COMMAND_HARDWARE_ERROR: event code 6 in `w0[63:60]`, `Type` in
    /// `w0[58:57]`, the physical address of the failed access in `w1`.
    pub const fn command_hardware(addr: u64, ty: u8) -> Self {
        EventLogEntry([
            ((EVENT_COMMAND_HARDWARE_ERROR as u64) << 60) | (((ty & 3) as u64) << 57),
            addr,
        ])
    }
    /// The event code (`w0[63:60]`).
    pub const fn code(&self) -> u8 {
        (self.0[0] >> 60) as u8
    }
    /// The address operand (`w1`).
    pub const fn address(&self) -> u64 {
        self.0[1]
    }
}

/// Why command processing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopCause {
    /// The command does not decode (unknown opcode, reserved bit).
    Illegal(DecodeError),
    /// Reading the command from guest memory failed.
    Fetch(MemError),
}

/// Command processing stopped at a command; head points at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CmdBufError {
    /// What went wrong.
    pub cause: StopCause,
    /// Physical address of the command.
    pub address: u64,
    /// Byte offset of the command in the buffer (= the head pointer).
    pub offset: u32,
    /// The event log entry to write.
    pub event: EventLogEntry,
}

impl CmdBufError {
    /// The architected error class.
    pub const fn hw_error(&self) -> HwError {
        match self.cause {
            StopCause::Illegal(_) => HwError::AmdIllegalCommand,
            StopCause::Fetch(_) => HwError::AmdCommandHardware,
        }
    }
}

impl core::fmt::Display for CmdBufError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.cause {
            StopCause::Illegal(e) => write!(f, "ILLEGAL_COMMAND_ERROR at {:#x}: {e}", self.address),
            StopCause::Fetch(e) => write!(f, "COMMAND_HARDWARE_ERROR at {:#x}: {e}", self.address),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CmdBufError {}

/// A command buffer: base, size, head and tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CmdBuf {
    base: u64,
    com_len: u8,
    head: u32,
    tail: u32,
}

impl CmdBuf {
    /// From the values of CmdBufBaseAddr, CmdBufHeadPtr and CmdBufTailPtr.
    /// Reserved register bits are ignored, as the registers do not hold them.
    pub fn from_registers(
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
    pub fn new(base: u64, com_len: u8, head: u64, tail: u64) -> Result<Self, ConfigError> {
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
    pub const fn size_bytes(&self) -> u32 {
        ENTRY_BYTES << self.com_len
    }
    /// Number of entries (2^ComLen).
    pub const fn entries(&self) -> u32 {
        1 << self.com_len
    }
    /// Physical base address.
    pub const fn base(&self) -> u64 {
        self.base
    }
    /// The CmdBufHeadPtr register value (byte offset).
    pub const fn head_register(&self) -> u64 {
        self.head as u64
    }
    /// The CmdBufTailPtr register value (byte offset).
    pub const fn tail_register(&self) -> u64 {
        self.tail as u64
    }
    /// Commands waiting between head and tail.
    pub const fn pending(&self) -> u32 {
        (self.tail.wrapping_sub(self.head) & (self.size_bytes() - 1)) / ENTRY_BYTES
    }
    /// The guest wrote CmdBufTailPtr.
    pub fn set_tail(&mut self, tail_reg: u64) -> Result<(), ConfigError> {
        self.tail = self.offset(tail_reg & PTR_MASK)?;
        Ok(())
    }
    /// The guest wrote CmdBufHeadPtr (allowed while processing is stopped).
    pub fn set_head(&mut self, head_reg: u64) -> Result<(), ConfigError> {
        self.head = self.offset(head_reg & PTR_MASK)?;
        Ok(())
    }

    /// Fetch and decode the command at head without consuming it; `None`
    /// when head = tail.
    pub fn peek<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
    ) -> Option<Result<(u64, Command), CmdBufError>> {
        if self.head == self.tail {
            return None;
        }
        let address = self.base.wrapping_add(u64::from(self.head));
        let stop = |cause, event| CmdBufError {
            cause,
            address,
            offset: self.head,
            event,
        };
        let mut w = [0u64; 2];
        if let Err(e) = mem.read_words(address, &mut w) {
            let ev = EventLogEntry::command_hardware(address, HW_ERROR_TYPE_MASTER_ABORT);
            return Some(Err(stop(StopCause::Fetch(e), ev)));
        }
        Some(match Command::decode_words(w[0], w[1]) {
            Ok(c) => Ok((address, c)),
            Err(e) => Err(stop(
                StopCause::Illegal(e),
                EventLogEntry::illegal_command(address),
            )),
        })
    }

    /// Consume the command at head: fetch, decode, advance head (wrapping).
    /// On error head does not move.
    pub fn next_command<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
    ) -> Option<Result<(u64, Command), CmdBufError>> {
        let r = self.peek(mem)?;
        if r.is_ok() {
            self.head = (self.head + ENTRY_BYTES) & (self.size_bytes() - 1);
        }
        Some(r)
    }

    /// Walk head → tail, calling `f(address, command)` for each command in
    /// order; returns how many were consumed. Stops at the first command
    /// that does not fetch or decode, head pointing at it.
    pub fn process<M, F>(&mut self, mem: &M, mut f: F) -> Result<usize, CmdBufError>
    where
        M: GuestMemory + ?Sized,
        F: FnMut(u64, &Command),
    {
        let mut n = 0;
        while let Some(r) = self.next_command(mem) {
            let (addr, cmd) = r?;
            f(addr, &cmd);
            n += 1;
        }
        Ok(n)
    }
}
