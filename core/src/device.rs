//! The command-queue front end of an emulated IOMMU, in one shape for every
//! architecture.
//!
//! A VMM keeps one [`CommandQueue`] per guest IOMMU (SMMUv3 CMDQ, VT-d
//! invalidation queue, AMD-Vi command buffer, RISC-V IOMMU command queue),
//! built from the registers the guest programmed. When the guest writes the
//! producer register (SMMU_CMDQ_PROD, IQT_REG, CmdBufTailPtr, `cqt`) it calls
//! [`CommandQueue::doorbell`], then
//! [`CommandQueue::process`] with the guest's memory, the id [`Context`] and
//! a [`Backend`]:
//!
//! * every command from head to tail is fetched, decoded and lifted to
//!   generic [`Op`]s;
//! * the ops are handed to the back end in **batches**, each closed before a
//!   barrier: everything before a sync has been passed to
//!   [`Backend::execute`] and the back end's [`Backend::barrier`] has returned
//!   before the sync's completion is written;
//! * completions are **executed**: the sync's store is written to guest
//!   memory (SMMU CMD_SYNC MSI write, VT-d inv_wait status write, AMD
//!   COMPLETION_WAIT store, RISC-V IOFENCE.C `AV` store) and its interrupt is
//!   raised in the architecture's registers and reported in
//!   [`Progress::signals`];
//! * the first command that cannot be consumed stops the queue with the
//!   architecture's error in its registers (SMMU CMDQ_CONS.ERR and
//!   GERROR.CMDQ_ERR, VT-d FSTS.IQE / ITE with IQH left at the descriptor,
//!   AMD an event-log entry and CmdBufRun cleared, RISC-V `cqcsr.cmd_ill` /
//!   `cqmf` / `cmd_to` with `cqh` left at the command), reported in
//!   [`Progress::fault`]. Doorbells are then ignored until the guest
//!   acknowledges the error the architecture's way.
//!
//! A batch is closed after the command that ends it (a sync, the last
//! command the doorbell made pending, or the command after which fewer than
//! [`MAX_LIFT_OPS`] slots are left) and before the head moves past that
//! command, so a back-end failure leaves the head at that command — or, when
//! the back end names the first op it did not finish
//! ([`Backend::unfinished`]: a host call that stopped part way), at that
//! op's command, the commands before it consumed.
//!
//! Nothing allocates: the batch lives on the stack ([`BATCH_OPS`] ops).
//!
//! ```
//! use iommu_inval_core::device::{CommandQueue, CountingBackend};
//! # fn demo<Q: CommandQueue, M: iommu_inval_core::QueueMemory>(q: &mut Q, mem: &M, prod: u64) {
//! let mut backend = CountingBackend::default();
//! q.doorbell(prod);
//! let p = q.process(mem, &iommu_inval_core::IdentityContext, &mut backend);
//! if let Some(f) = p.fault {
//!     eprintln!("queue stopped at {:#x}: {}", f.position, f.cause);
//! }
//! # }
//! ```

use crate::arch::Arch;
use crate::batch::{coalesce_with, nothing_to_coalesce, BatchOptions};
use crate::context::Context;
use crate::error::{DecodeError, LowerError};
use crate::lower::Budget;
use crate::model::{Barrier, Caches, Inval, Op, Widened};
use crate::native::{FeatureSet, NativeCommand};
use crate::queue::{MemError, QueueMemory};
use crate::ring::{Ring, RingRegs, MAX_SLOT_WORDS};
use crate::sink::{Full, Sink};
use crate::Flags;
use core::fmt;

/// Ops one batch holds.
pub const BATCH_OPS: usize = 64;
/// The most ops one native command lifts to (checked by each architecture's
/// tests over every command kind).
pub const MAX_LIFT_OPS: usize = 8;

crate::flags! {
    /// Interrupts and events a [`CommandQueue::process`] call raised.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Signals: u8 {
        /// A completion interrupt: SMMU CMD_SYNC SIG_IRQ without an MSI
        /// address (wired), VT-d inv_wait IF with ICS.IWC newly set and
        /// IECTL.IM clear, AMD COMPLETION_WAIT `i` (ComWaitInt set), RISC-V
        /// IOFENCE.C `WSI` (`cqcsr.fence_w_ip` set) with `cqcsr.cie`.
        const COMPLETION_IRQ = 1 << 0;
        /// SMMU CMD_SYNC SIG_SEV: send a wake-up event to the PEs.
        const SEV = 1 << 1;
        /// An error interrupt: SMMU GERROR (a GERROR bit activated), VT-d
        /// fault event (FSTS bit set, FECTL.IM clear), AMD event-log
        /// interrupt (an entry written), RISC-V command-queue interrupt (a
        /// `cqcsr` error bit set, with `cqcsr.cie`).
        const ERROR_IRQ = 1 << 2;
    }
}

/// Why a back end could not do what it was given.
///
/// `Copy` (a queue's [`Progress`] and [`Fault`] are): an `io::Error` is
/// kept as its OS error number ([`BackendError::Errno`]) or, without one,
/// its kind ([`BackendError::Io`], feature `std`); its message is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendError {
    /// A device-TLB (ATS) invalidation of `device` did not complete in time:
    /// SMMU CERROR_ATC_INV_SYNC, VT-d FSTS.ITE, AMD IOTLB_INV_TIMEOUT, RISC-V
    /// `cqcsr.cmd_to`.
    DeviceTlbTimeout {
        /// Requester id of the device.
        device: u32,
    },
    /// The host failed or refused the work (the reason): reported as the
    /// architecture's illegal-command error (SMMU CERROR_ILL, VT-d IQE, AMD
    /// ILLEGAL_COMMAND_ERROR, RISC-V `cqcsr.cmd_ill`), as QEMU's models report
    /// a command they fail to carry out.
    Failed(&'static str),
    /// A host call failed with this errno (e.g. an iommufd ioctl's
    /// `EINVAL`); reported as [`BackendError::Failed`] is.
    Errno(i32),
    /// A host I/O operation failed with an error of this kind and no OS
    /// error number; reported as [`BackendError::Failed`] is.
    #[cfg(feature = "std")]
    Io(std::io::ErrorKind),
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::DeviceTlbTimeout { device } => {
                write!(f, "device-TLB invalidation of device {device:#x} timed out")
            }
            BackendError::Failed(r) => write!(f, "back end failed: {r}"),
            BackendError::Errno(e) => write!(f, "back end failed: errno {e}"),
            #[cfg(feature = "std")]
            BackendError::Io(k) => write!(f, "back end failed: {k}"),
        }
    }
}

impl core::error::Error for BackendError {}

/// Its OS error number when it has one ([`BackendError::Errno`]), else its
/// kind ([`BackendError::Io`]).
#[cfg(feature = "std")]
impl From<std::io::Error> for BackendError {
    fn from(e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(n) => BackendError::Errno(n),
            None => BackendError::Io(e.kind()),
        }
    }
}

/// What the host does with a guest's invalidations: implemented once by a
/// VMM, it serves guests of every architecture.
pub trait Backend {
    /// Carry out `ops` (lifted, in queue order, never an [`Op::Sync`]). They
    /// may still be in flight on return.
    fn execute(&mut self, ops: &[Op]) -> Result<(), BackendError>;
    /// A guest barrier: every op passed to [`Backend::execute`] so far must
    /// be complete when this returns `Ok`. `sync` is the guest's (its store
    /// is the guest's to receive; the front end writes it). The default does
    /// nothing (a back end whose `execute` is synchronous).
    fn barrier(&mut self, sync: &Barrier) -> Result<(), BackendError> {
        let _ = sync;
        Ok(())
    }
    /// Asked after [`Backend::execute`] or [`Backend::barrier`] returned
    /// `Err`: how many of the ops handed to `execute` since the last
    /// barrier are not known to be complete, counted back from the last
    /// one handed over; the error is the first of them's (e.g. the entry at
    /// which the kernel stopped an `IOMMU_HWPT_INVALIDATE` array, mapped
    /// back to the op it came from). The front end reports the error at
    /// that op's command and leaves the commands before it consumed. 0
    /// (the default): every op handed over is complete and the error is
    /// the current command's (the one that closed the batch, or the sync).
    fn unfinished(&self) -> u32 {
        0
    }
}

impl<B: Backend + ?Sized> Backend for &mut B {
    fn execute(&mut self, ops: &[Op]) -> Result<(), BackendError> {
        (**self).execute(ops)
    }
    fn barrier(&mut self, sync: &Barrier) -> Result<(), BackendError> {
        (**self).barrier(sync)
    }
    fn unfinished(&self) -> u32 {
        (**self).unfinished()
    }
}

/// Why the queue stopped (or, for a fault that does not stop it, what was
/// recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultCause {
    /// The command could not be read from guest memory.
    Fetch(MemError),
    /// The command does not decode.
    Decode(DecodeError),
    /// The command has no generic form (for example a Secure stream's
    /// command on a Non-secure queue).
    Lift(LowerError),
    /// The completion store of a sync failed.
    CompletionStore(MemError),
    /// The back end failed.
    Backend(BackendError),
    /// The head or tail register does not point at a command slot (the
    /// offending register value).
    BadPointer(u64),
}

impl fmt::Display for FaultCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultCause::Fetch(e) => write!(f, "command fetch: {e}"),
            FaultCause::Decode(e) => write!(f, "illegal command: {e}"),
            FaultCause::Lift(e) => write!(f, "command not carried out: {e}"),
            FaultCause::CompletionStore(e) => write!(f, "completion store: {e}"),
            FaultCause::Backend(e) => write!(f, "{e}"),
            FaultCause::BadPointer(v) => write!(f, "pointer register {v:#x} is not a command slot"),
        }
    }
}

/// A fault the queue recorded; `E` is the architecture's error
/// ([`QueueEngine::HwError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fault<E> {
    /// The head register at the fault (SMMU CMDQ_CONS.RD with its wrap bit,
    /// VT-d IQH offset, AMD CmdBufHeadPtr offset, RISC-V `cqh` index).
    pub position: u64,
    /// Guest physical address of the command at fault.
    pub address: u64,
    /// The architected error raised.
    pub hw: E,
    /// What went wrong.
    pub cause: FaultCause,
    /// True when the queue stopped (false: recorded and went on, as an SMMU
    /// does for an aborted CMD_SYNC MSI).
    pub stopped: bool,
}

/// What one [`CommandQueue::process`] call did; `E` is the architecture's
/// error ([`QueueEngine::HwError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<E> {
    /// Commands consumed (the head moved past them).
    pub consumed: u32,
    /// Ops handed to [`Backend::execute`].
    pub ops: u32,
    /// Calls to [`Backend::execute`].
    pub batches: u32,
    /// Syncs completed (store written, interrupt raised).
    pub completions: u32,
    /// Interrupts and events raised.
    pub signals: Signals,
    /// What lifting widened (for example an AMD PASID-less device-TLB
    /// invalidation of every PASID), reported, never silent.
    pub widened: Widened,
    /// The first fault recorded.
    pub fault: Option<Fault<E>>,
    /// True when nothing could be processed because an earlier error is
    /// still unacknowledged.
    pub blocked: bool,
}

impl<E> Fault<E> {
    /// The same fault with its architected error mapped.
    fn map_hw<F>(self, f: impl FnOnce(E) -> F) -> Fault<F> {
        Fault {
            position: self.position,
            address: self.address,
            hw: f(self.hw),
            cause: self.cause,
            stopped: self.stopped,
        }
    }
}

impl<E> Progress<E> {
    /// The same progress with its fault's architected error mapped.
    pub fn map_hw<F>(self, f: impl FnOnce(E) -> F) -> Progress<F> {
        Progress {
            consumed: self.consumed,
            ops: self.ops,
            batches: self.batches,
            completions: self.completions,
            signals: self.signals,
            widened: self.widened,
            fault: self.fault.map(|x| x.map_hw(f)),
            blocked: self.blocked,
        }
    }
}

impl<E> Default for Progress<E> {
    fn default() -> Self {
        Progress {
            consumed: 0,
            ops: 0,
            batches: 0,
            completions: 0,
            signals: Signals::empty(),
            widened: Widened::empty(),
            fault: None,
            blocked: false,
        }
    }
}

/// What an architecture does with a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultReport<E> {
    /// The architected error.
    pub hw: E,
    /// Stop consuming (the head stays at the command).
    pub stop: bool,
    /// Interrupts the fault raised.
    pub signals: Signals,
}

/// An architecture's architected queue error (the `hw` of a [`Fault`]).
pub trait ArchError: Copy + fmt::Debug + fmt::Display + PartialEq + Eq + core::hash::Hash {
    /// The architecture's name for it (`CERROR_ILL`, `FSTS.IQE`,
    /// `ILLEGAL_COMMAND_ERROR`, `cqcsr.cmd_ill`); also its `Display`.
    fn name(self) -> &'static str;
}

/// Define an architecture's [`ArchError`] enum: each variant with the
/// architecture's name for it, which is also its `Display`, and optionally
/// the register value it stands for (`=> value`, read by a `const fn`
/// named after the register, `pub(crate)` where only the crate writes the
/// register).
///
/// ```
/// iommu_inval_core::arch_error! {
///     /// Errors of a made-up queue.
///     pub enum HwError {
///         /// A bad command.
///         Ill = "ILL",
///     }
/// }
/// assert_eq!(HwError::Ill.to_string(), "ILL");
/// iommu_inval_core::arch_error! {
///     /// Errors of a made-up queue, each a status bit.
///     pub enum Status {
///         /// A bad command: bit 4.
///         Ill = "STS.ILL" => 1 << 4,
///     }
///     /// The status bit.
///     pub const fn status_bit -> u32;
/// }
/// assert_eq!(Status::Ill.status_bit(), 0x10);
/// ```
#[macro_export]
macro_rules! arch_error {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $v,)+
        }
        impl $crate::device::ArchError for $name {
            fn name(self) -> &'static str {
                match self {
                    $($name::$v => $s,)+
                }
            }
        }
        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str($crate::device::ArchError::name(*self))
            }
        }
    };
    (
        $(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal => $c:expr,)+ }
        $(#[$fm:meta])* $fv:vis const fn $f:ident -> $t:ty;
    ) => {
        $crate::arch_error! {
            $(#[$m])* pub enum $name { $($(#[$vm])* $v = $s,)+ }
        }
        impl $name {
            $(#[$fm])*
            $fv const fn $f(self) -> $t {
                match self {
                    $($name::$v => $c,)+
                }
            }
        }
    };
}

/// The per-architecture steps [`CommandQueue::process`] is made of. An
/// architecture crate implements only its register semantics over its
/// [`RingRegs`] (pointer registers as ring positions): decoding with its
/// features, completion and error recording. The ring arithmetic, fetch,
/// produce, lift and lower are provided once here, through the queue's
/// [`Arch`]. A VMM calls [`CommandQueue`].
pub trait QueueEngine: RingRegs {
    /// The architecture (its command type, lift and lower).
    type Arch: Arch;
    /// The architected error a fault raises (SMMU CMDQ_CONS.ERR and GERROR
    /// bits, VT-d FSTS bits, AMD-Vi event codes, RISC-V `cqcsr` bits).
    type HwError: ArchError;
    /// Bytes of a completion store: 4 (SMMU MSI data, VT-d status data,
    /// RISC-V IOFENCE.C `DATA`) or 8 (AMD COMPLETION_WAIT).
    const STORE_BYTES: usize;
    /// True while an unacknowledged error stops processing.
    fn is_stopped(&self) -> bool;
    /// `Err` when the head or tail register is unusable (checked before
    /// anything is fetched).
    fn check_pointers(&self) -> Result<(), FaultCause>;
    /// The head register value reported in a [`Fault`].
    fn position(&self) -> u64;
    /// The decoder of this queue's slots, as its hardware decodes them (its
    /// features and checks included): what it reads of the queue (the
    /// features, a mode register) is read here, once per walk, not per
    /// command, so it holds no borrow of the queue.
    fn decoder(
        &self,
    ) -> impl Fn(&[u64]) -> Result<<Self::Arch as Arch>::Command, DecodeError> + Copy + use<Self>;
    /// A sync completed (its store, if any, is written): set the completion
    /// status the architecture keeps and say what to raise.
    fn complete(&mut self, sync: &Barrier) -> Signals;
    /// Record a fault at the head in the architecture's registers (and, for
    /// AMD, its event log in `mem`).
    fn record_fault<M: QueueMemory + ?Sized>(
        &mut self,
        mem: &M,
        cause: &FaultCause,
    ) -> FaultReport<Self::HwError>;
    /// Commands between head and tail.
    #[inline]
    fn pending(&self) -> u64 {
        u64::from(self.ring().pending(self.head(), self.tail()))
    }
    /// Guest physical address of the command at the head.
    fn command_address(&self) -> u64 {
        self.ring().slot_addr(self.head())
    }
    /// The pending commands, decoded, without lifting or executing them:
    /// each yielded item has moved the head past its command; the first
    /// command that cannot be consumed is recorded as [`CommandQueue::process`] records it
    /// (head left at it, the architecture's error in its registers) and
    /// yielded as the last item. Nothing while the queue is stopped. A
    /// read-only walk of a queue image runs on a copy of the registers.
    #[inline]
    fn commands<'a, M: QueueMemory + ?Sized>(
        &'a mut self,
        mem: &'a M,
    ) -> impl Iterator<Item = Result<Fetched<<Self::Arch as Arch>::Command>, Fault<Self::HwError>>> + 'a
    {
        let stopped = self.is_stopped();
        let ring = self.ring();
        Commands {
            left: if stopped { 0 } else { self.pending() },
            pre: Prefetch::new(&ring),
            ring,
            decode: self.decoder(),
            q: self,
            mem,
            checked: stopped,
        }
    }
    /// Consume the pending commands as [`QueueEngine::commands`] yields
    /// them, calling `f` for each: the decode-only front end (no lift, no
    /// back end, no completion). `ops`, `batches` and `completions` stay 0.
    fn consume<M, F>(&mut self, mem: &M, mut f: F) -> Progress<Self::HwError>
    where
        M: QueueMemory + ?Sized,
        F: FnMut(&Fetched<<Self::Arch as Arch>::Command>),
    {
        let mut p = Progress {
            blocked: self.is_stopped(),
            ..Progress::default()
        };
        for item in self.commands(mem) {
            match item {
                Ok(c) => {
                    f(&c);
                    p.consumed += 1;
                }
                Err(e) => p.fault = Some(e),
            }
        }
        p
    }
}

/// Words of guest memory one fetch reads ahead: 64 16-byte slots or 32
/// 32-byte ones (1 KiB, on the stack).
const RUN_WORDS: usize = 128;

/// The pending slots from the head on, fetched with one guest-memory read
/// per run (up to the tail, the ring's end or [`RUN_WORDS`] words) and
/// decoded from there, so that a command costs no memory access or bounds
/// check of its own. The slots between head and tail are the device's
/// (the guest rewrites a slot only after the head has passed it), so
/// reading them early reads what a fetch at the head would; a completion
/// store that lands in the run read ahead drops the rest of the run
/// ([`Prefetch::written`]), as does a fault that does not stop the queue.
#[derive(Clone)]
struct Prefetch {
    words: [u64; RUN_WORDS],
    /// Guest address of `words[0]`.
    addr: u64,
    /// First word of the slot at the head.
    next: usize,
    /// Words read.
    end: usize,
    /// Words per slot.
    slot: usize,
}

impl fmt::Debug for Prefetch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prefetch")
            .field("addr", &self.addr)
            .field("next", &self.next)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl Prefetch {
    /// Nothing read yet, for slots of `ring`.
    #[inline(always)]
    fn new(ring: &Ring) -> Self {
        Prefetch {
            words: [0; RUN_WORDS],
            addr: 0,
            next: 0,
            end: 0,
            slot: ring.words(),
        }
    }

    /// Fetch the command at `head` (a position of `ring`, whose head
    /// register the caller may not have moved there yet) and decode it with
    /// `decode` ([`QueueEngine::decoder`]), `left` (at least 1) commands
    /// being pending: one command at a time, for [`QueueEngine::commands`]
    /// and a back end's fault (`process` takes whole runs, [`lift_run`]).
    /// The decoder is inlined here, and its error path is cold.
    #[inline(always)]
    fn fetch<C, M: QueueMemory + ?Sized>(
        &mut self,
        decode: &impl Fn(&[u64]) -> Result<C, DecodeError>,
        mem: &M,
        at: (&Ring, u32),
        left: u64,
    ) -> Result<C, FaultCause> {
        self.ready(mem, at, left)?;
        let words = self.words.get(self.next..self.next + self.slot);
        self.next += self.slot;
        match decode(words.unwrap_or(&[])) {
            Ok(c) => Ok(c),
            Err(e) => Err(cold_fault(Err(e))),
        }
    }

    /// Read the run from `head` on if no slot is left read ahead.
    #[inline(always)]
    fn ready<M: QueueMemory + ?Sized>(
        &mut self,
        mem: &M,
        (ring, head): (&Ring, u32),
        left: u64,
    ) -> Result<(), FaultCause> {
        if self.end - self.next < self.slot {
            if let Err(e) = self.refill(mem, ring, head, left) {
                return Err(cold_fault(Ok(e)));
            }
        }
        Ok(())
    }

    /// The slots read ahead from the one at `head` on (reading a run
    /// first if none is), at most `left` (at least 1) of them: whole slots,
    /// not yet consumed ([`Prefetch::take`] consumes them).
    #[inline(always)]
    fn slots<M: QueueMemory + ?Sized>(
        &mut self,
        mem: &M,
        at: (&Ring, u32),
        left: u64,
    ) -> Result<&[u64], FaultCause> {
        self.ready(mem, at, left)?;
        let most = usize::try_from(left).unwrap_or(usize::MAX);
        let end = self
            .end
            .min(self.next.saturating_add(most.saturating_mul(self.slot)));
        Ok(self.words.get(self.next..end).unwrap_or(&[]))
    }

    /// Consume `n` slots of [`Prefetch::slots`].
    #[inline(always)]
    fn take(&mut self, n: u32) {
        self.next += n as usize * self.slot;
    }

    /// Read the run from `head` on. If the run's read fails, the head's
    /// slot is read alone: its own error, as a fetch of that slot reports
    /// it (the commands before a bad slot are consumed first).
    #[inline(never)]
    fn refill<M: QueueMemory + ?Sized>(
        &mut self,
        mem: &M,
        ring: &Ring,
        head: u32,
        left: u64,
    ) -> Result<(), MemError> {
        let fit = (RUN_WORDS / self.slot) as u64;
        // At least 1, at most `fit`: fits `usize`.
        let slots = left.min(ring.slots_to_end(head)).clamp(1, fit) as usize;
        self.addr = ring.slot_addr(head);
        self.next = 0;
        self.end = 0;
        let run = self.words.get_mut(..slots * self.slot).unwrap_or(&mut []);
        if ring.read_run(mem, head, run).is_ok() {
            self.end = slots * self.slot;
            return Ok(());
        }
        let one = self.words.get_mut(..self.slot).unwrap_or(&mut []);
        ring.read_run(mem, head, one)?;
        self.end = self.slot;
        Ok(())
    }

    /// `len` bytes at guest `addr` were written: drop the slots read ahead
    /// that the write may have changed.
    #[inline(always)]
    fn written(&mut self, addr: u64, len: u64) {
        let start = self.addr.wrapping_add(self.next as u64 * 8);
        let stop = self.addr.wrapping_add(self.end as u64 * 8);
        // A run that wraps the address space is dropped whole.
        if stop <= start || (addr < stop && addr.saturating_add(len) > start) {
            self.clear();
        }
    }

    /// Drop the slots read ahead: the next fetch reads guest memory again.
    #[inline(always)]
    fn clear(&mut self) {
        self.end = self.next;
    }
}

/// Move the head of `q` past the command it points at.
#[inline(always)]
fn advance<Q: QueueEngine + ?Sized>(q: &mut Q) {
    let next = q.ring().next(q.head());
    q.set_head(next);
}

/// The fault of a fetch that failed (`Ok`: its memory error) or of words
/// that do not decode (`Err`), built off the hot path.
#[cold]
#[inline(never)]
fn cold_fault(e: Result<MemError, DecodeError>) -> FaultCause {
    match e {
        Ok(m) => FaultCause::Fetch(m),
        Err(d) => FaultCause::Decode(d),
    }
}

/// A command [`QueueEngine::commands`] fetched and decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fetched<C> {
    /// The head register at the command ([`QueueEngine::position`]).
    pub position: u64,
    /// Its guest physical address.
    pub address: u64,
    /// The command.
    pub command: C,
}

/// The iterator of [`QueueEngine::commands`].
struct Commands<'a, Q: ?Sized, M: ?Sized, D> {
    q: &'a mut Q,
    mem: &'a M,
    left: u64,
    checked: bool,
    pre: Prefetch,
    /// The ring of `q` (fixed while the walk runs).
    ring: Ring,
    /// The decoder of `q` ([`QueueEngine::decoder`]).
    decode: D,
}

impl<Q, M, D> Commands<'_, Q, M, D>
where
    Q: QueueEngine + ?Sized,
    M: QueueMemory + ?Sized,
    D: Fn(&[u64]) -> Result<<Q::Arch as Arch>::Command, DecodeError>,
{
    #[inline(always)]
    fn fetch(&mut self) -> Result<<Q::Arch as Arch>::Command, FaultCause> {
        let at = (&self.ring, self.q.head());
        self.pre.fetch(&self.decode, self.mem, at, self.left)
    }
}

impl<Q, M, D> Iterator for Commands<'_, Q, M, D>
where
    Q: QueueEngine + ?Sized,
    M: QueueMemory + ?Sized,
    D: Fn(&[u64]) -> Result<<Q::Arch as Arch>::Command, DecodeError>,
{
    type Item = Result<Fetched<<Q::Arch as Arch>::Command>, Fault<Q::HwError>>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = if !self.checked {
            // As `run`: the pointers are checked even when nothing is pending.
            self.checked = true;
            match self.q.check_pointers() {
                Ok(()) if self.left == 0 => return None,
                Ok(()) => self.fetch(),
                Err(cause) => Err(cause),
            }
        } else if self.left == 0 {
            return None;
        } else {
            self.fetch()
        };
        match r {
            Ok(command) => {
                let position = self.q.position();
                let address = self.q.command_address();
                let head = self.q.head();
                self.q.set_head(self.ring.next(head));
                self.left -= 1;
                Some(Ok(Fetched {
                    position,
                    address,
                    command,
                }))
            }
            Err(cause) => {
                self.left = 0;
                let mut p = Progress::default();
                fault(self.q, self.mem, cause, &mut p);
                p.fault.map(Err)
            }
        }
    }
}

/// An emulated IOMMU's command queue.
///
/// One per guest IOMMU, for each of the four architectures: SMMUv3
/// (`iommu_inval_arm::queue::CmdqDevice`), VT-d
/// (`iommu_inval_vtd::queue::InvQueue`), AMD-Vi
/// (`iommu_inval_amd::queue::CmdBufDevice`) and the RISC-V IOMMU
/// (`iommu_inval_riscv::queue::CqDevice`). The three registers of
/// [`CommandQueue::from_registers`] keep their architecture's names and
/// encodings: SMMU_CMDQ_BASE / SMMU_CMDQ_CONS / SMMU_CMDQ_PROD, IQA_REG /
/// IQH_REG / IQT_REG, CmdBufBaseAddr / CmdBufHeadPtr / CmdBufTailPtr, and
/// `cqb` / `cqh` / `cqt`.
pub trait CommandQueue: QueueEngine + Sized {
    /// Why the registers describe no usable queue.
    type ConfigError: fmt::Debug + fmt::Display;
    /// From the base, head (consumer) and tail (producer) register values.
    fn from_registers(base: u64, head: u64, tail: u64) -> Result<Self, Self::ConfigError>;
    /// The guest wrote the producer register (SMMU_CMDQ_PROD, IQT_REG,
    /// CmdBufTailPtr, `cqt`). Nothing is fetched until
    /// [`CommandQueue::process`].
    fn doorbell(&mut self, tail: u64);
    /// The consumer register as the guest reads it.
    fn head_register(&self) -> u64;
    /// The producer register as the guest reads it.
    fn tail_register(&self) -> u64;
    /// What the emulated unit implements (its ID / capability registers):
    /// a command they do not allow is the architecture's illegal-command
    /// error. [`FeatureSet::LATEST`] unless set.
    fn features_mut(&mut self) -> &mut <Self::Arch as Arch>::Features;
    /// The same queue, decoding as a unit with `features` does.
    fn with_features(mut self, features: <Self::Arch as Arch>::Features) -> Self {
        *self.features_mut() = features;
        self
    }
    /// Consume every pending command (see the [module docs](self)).
    fn process<M, C, B>(&mut self, mem: &M, ctx: &C, backend: &mut B) -> Progress<Self::HwError>
    where
        M: QueueMemory + ?Sized,
        C: Context + ?Sized,
        B: Backend + ?Sized,
    {
        run(self, mem, ctx, backend)
    }
}

/// Why a producer could not add a command; the source is the memory or
/// encoding error (none for a full queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// Every slot holds a command the consumer has not taken.
    #[error("queue full")]
    Full,
    /// Writing the command failed.
    #[error("{0}")]
    Memory(#[source] MemError),
    /// The command does not encode.
    #[error("{0}")]
    Encode(#[source] DecodeError),
}

/// The producer side of a queue: what a driver (or a VMM writing a host
/// queue) does, with the same types as the consumer.
pub trait QueueProducer: CommandQueue {
    /// Free slots (a queue of `n` entries holds at most `n - 1` commands on
    /// VT-d, AMD and RISC-V, where head = tail means empty; `n` on SMMU,
    /// which has a wrap bit).
    fn free_slots(&self) -> u64 {
        self.ring().free(self.head(), self.tail())
    }
    /// Write `cmd` at the tail and advance the tail. A command shorter than
    /// the slot has its upper words zero (a 128-bit VT-d descriptor in a
    /// 256-bit queue); a longer one does not encode.
    fn produce<M: QueueMemory + ?Sized>(
        &mut self,
        mem: &M,
        cmd: &<Self::Arch as Arch>::Command,
    ) -> Result<(), ProduceError> {
        if self.free_slots() == 0 {
            return Err(ProduceError::Full);
        }
        let ring = self.ring();
        if cmd.words() > ring.words() {
            return Err(ProduceError::Encode(DecodeError::bad_length(cmd.words())));
        }
        let mut w = [0u64; MAX_SLOT_WORDS];
        cmd.encode_into(&mut w).map_err(ProduceError::Encode)?;
        let words = w.get(..ring.words()).unwrap_or(&w);
        let tail = self.tail();
        ring.write(mem, tail, words).map_err(ProduceError::Memory)?;
        self.set_tail(ring.next(tail));
        Ok(())
    }
    /// The features lowering into this queue uses by default: the
    /// architecture's [`FeatureSet::HOST`], narrowed to what the queue's
    /// format holds (a VT-d queue of 128-bit descriptors is a legacy-mode
    /// one).
    fn host_features(&self) -> <Self::Arch as Arch>::Features {
        <<Self::Arch as Arch>::Features as FeatureSet>::HOST
    }
}

/// The batch of lifted ops, on the stack.
struct Batch {
    ops: [Op; BATCH_OPS],
    len: usize,
}

impl Sink<Op> for Batch {
    fn push(&mut self, item: Op) -> Result<(), Full> {
        let slot = self.ops.get_mut(self.len).ok_or(Full)?;
        *slot = item;
        self.len += 1;
        Ok(())
    }
}

impl Batch {
    fn ops(&self) -> &[Op] {
        self.ops.get(..self.len).unwrap_or(&[])
    }
    /// Take the sync a command lifted to (ops `start..`), if any. A command
    /// lifts either to one sync or to no sync at all.
    #[inline(always)]
    fn take_sync(&mut self, start: usize) -> Option<Barrier> {
        if self.len <= start {
            return None;
        }
        let last = self.len - 1;
        match self.ops.get(last) {
            Some(Op::Sync(s)) => {
                let s = *s;
                self.len = last;
                Some(s)
            }
            _ => None,
        }
    }
}

/// Hand the batch to the back end (if it holds anything) and empty it.
fn flush<B: Backend + ?Sized, E>(
    batch: &mut Batch,
    backend: &mut B,
    p: &mut Progress<E>,
) -> Result<(), BackendError> {
    if batch.len == 0 {
        return Ok(());
    }
    // The ops are handed over whether or not the back end succeeds.
    let r = backend.execute(batch.ops());
    p.batches += 1;
    p.ops += batch.len as u32;
    batch.len = 0;
    r
}

/// Record a fault at the head; true when the queue stops.
fn fault<Q: QueueEngine + ?Sized, M: QueueMemory + ?Sized>(
    q: &mut Q,
    mem: &M,
    cause: FaultCause,
    p: &mut Progress<Q::HwError>,
) -> bool {
    let position = q.position();
    let address = q.command_address();
    let r = q.record_fault(mem, &cause);
    p.signals |= r.signals;
    if p.fault.is_none() || r.stop {
        p.fault = Some(Fault {
            position,
            address,
            hw: r.hw,
            cause,
            stopped: r.stop,
        });
    }
    r.stop
}

/// Write `head` to the head register of `q` if it is not there yet.
#[inline(always)]
fn put_head<Q: QueueEngine + ?Sized>(q: &mut Q, head: u32) {
    if q.head() != head {
        q.set_head(head);
    }
}

/// The front end's loop, the body of [`CommandQueue::process`].
///
/// The head moves in a local position, written to the head register
/// before anything reads the register (a fault, a back end's failure, a
/// completion) and at the end: the guest reads the register only after
/// `process` returns, and sees the head every architecture's rule puts
/// there (past the last command consumed, or at the failing one).
fn run<Q, M, C, B>(q: &mut Q, mem: &M, ctx: &C, backend: &mut B) -> Progress<Q::HwError>
where
    Q: QueueEngine + ?Sized,
    M: QueueMemory + ?Sized,
    C: Context + ?Sized,
    B: Backend + ?Sized,
{
    let mut p = Progress::default();
    if q.is_stopped() {
        p.blocked = true;
        return p;
    }
    if let Err(cause) = q.check_pointers() {
        fault(q, mem, cause, &mut p);
        return p;
    }
    let mut batch = Batch {
        ops: [Op::StallTerminate { device: 0 }; BATCH_OPS],
        len: 0,
    };
    let ring = q.ring();
    let mut left = q.pending();
    let mut head = q.head();
    // The first command after the last barrier, and the ops handed over before it.
    let mut span = (head, 0u32);
    let mut pre = Prefetch::new(&ring);
    let decode = q.decoder();
    while left > 0 {
        let (n, stop) = match pre.slots(mem, (&ring, head), left) {
            Ok(words) => lift_run::<Q::Arch, _, _>(
                &decode,
                (words, ring.words()),
                ctx,
                &mut batch,
                &mut p.widened,
            ),
            Err(cause) => (0, Stop::Fault(cause)),
        };
        pre.take(n);
        // The commands of the run before its last need nothing more: none
        // lifted to a sync or left the batch short, and one follows them.
        let before = n.saturating_sub(u32::from(!matches!(stop, Stop::Fault(_))));
        head = ring.pos(ring.pos(head).wrapping_add(before));
        left -= u64::from(before);
        p.consumed += before;
        let sync = match stop {
            Stop::Fault(cause) => {
                put_head(q, head);
                // The commands before it were consumed: their ops go first.
                match flush(&mut batch, backend, &mut p) {
                    Ok(()) => fault(q, mem, cause, &mut p),
                    Err(e) => backend_fault(q, mem, ctx, backend, span, e, &mut p),
                };
                return p;
            }
            Stop::Flush(sync) => sync,
            Stop::End => None,
        };
        left -= 1;
        if sync.is_some() || left == 0 || BATCH_OPS - batch.len < MAX_LIFT_OPS {
            if let Err(e) = flush(&mut batch, backend, &mut p) {
                put_head(q, head);
                if backend_fault(q, mem, ctx, backend, span, e, &mut p) {
                    return p;
                }
                head = q.head();
                pre.clear();
            }
        }
        if let Some(s) = sync {
            put_head(q, head);
            if let Err(e) = backend.barrier(&s) {
                if backend_fault(q, mem, ctx, backend, span, e, &mut p) {
                    return p;
                }
                pre.clear();
            }
            if let Some(st) = s.store {
                if let Err(e) = ring.store(mem, st.address, st.data, Q::STORE_BYTES) {
                    if fault(q, mem, FaultCause::CompletionStore(e), &mut p) {
                        return p;
                    }
                    pre.clear();
                }
                pre.written(st.address, Q::STORE_BYTES as u64);
            }
            p.signals |= q.complete(&s);
            p.completions += 1;
            head = q.head();
        }
        head = ring.next(head);
        p.consumed += 1;
        if sync.is_some() {
            span = (head, p.ops);
        }
    }
    put_head(q, head);
    p
}

/// Where [`lift_run`] stopped.
enum Stop {
    /// At the end of its slots.
    End,
    /// After a command the loop must act on: one that lifted to a sync
    /// (taken out of the batch), or after which the batch has fewer than
    /// [`MAX_LIFT_OPS`] slots left.
    Flush(Option<Barrier>),
    /// At a command that does not decode or lift (the batch as before it).
    Fault(FaultCause),
}

/// Decode the whole `slot`-word slots of `words` with `decode` ([`QueueEngine::decoder`])
/// and lift their commands into `batch`, adding their widening to
/// `widened`, until a [`Stop`]; the commands lifted (a faulting one not
/// counted). One call per run of slots, out of line, with the decoder and
/// the lift inlined into its loop: a command goes from the slot's words to
/// its ops without a call or a trip through memory, and the bounds of the
/// run and of the batch are tested once per command, here.
#[inline(never)]
fn lift_run<A, C, D>(
    decode: &D,
    (words, slot): (&[u64], usize),
    ctx: &C,
    batch: &mut Batch,
    widened: &mut Widened,
) -> (u32, Stop)
where
    A: Arch,
    C: Context + ?Sized,
    D: Fn(&[u64]) -> Result<A::Command, DecodeError>,
{
    let mut n = 0u32;
    for w in words.chunks_exact(slot) {
        let cmd = match decode(w) {
            Ok(c) => c,
            Err(e) => return (n, Stop::Fault(cold_fault(Err(e)))),
        };
        let start = batch.len;
        match A::lift(&cmd, ctx, batch) {
            Ok(o) => *widened |= o.widened,
            Err(e) => {
                batch.len = start;
                return (n, Stop::Fault(FaultCause::Lift(e)));
            }
        }
        n += 1;
        let sync = batch.take_sync(start);
        if sync.is_some() || BATCH_OPS - batch.len < MAX_LIFT_OPS {
            return (n, Stop::Flush(sync));
        }
    }
    if n == 0 {
        // No whole slot (never: [`Prefetch::slots`] gives one): a slot of
        // no words, which does not decode.
        return (0, Stop::Fault(cold_fault(Err(DecodeError::bad_length(0)))));
    }
    (n, Stop::End)
}

/// Record a back end's failure: at the command of the first op it did not
/// finish ([`Backend::unfinished`]), found by lifting again from the first
/// command after the last barrier (`span`: its head and the ops handed over
/// before it), so the commands before it stay consumed. An op handed over
/// by an earlier `process` call (already consumed) puts the fault at the
/// span's first command. True when the queue stops; a fault that does not
/// stop it leaves the head where it was.
fn backend_fault<Q, M, C, B>(
    q: &mut Q,
    mem: &M,
    ctx: &C,
    backend: &B,
    span: (u32, u32),
    e: BackendError,
    p: &mut Progress<Q::HwError>,
) -> bool
where
    Q: QueueEngine + ?Sized,
    M: QueueMemory + ?Sized,
    C: Context + ?Sized,
    B: Backend + ?Sized,
{
    let here = q.head();
    let unfinished = backend.unfinished();
    if unfinished > 0 {
        // The first unfinished op, counted from the span's first command.
        let target = p.ops.saturating_sub(span.1).checked_sub(unfinished);
        q.set_head(span.0);
        let mut handed = 0u32;
        let ring = q.ring();
        let mut pre = Prefetch::new(&ring);
        let decode = q.decoder();
        while let Some(t) = target.filter(|_| q.head() != here) {
            let left = ring.pending(q.head(), here);
            let Ok(cmd) = pre.fetch(&decode, mem, (&ring, q.head()), u64::from(left)) else {
                break;
            };
            let mut n = Handed::default();
            if <Q::Arch as Arch>::lift(&cmd, ctx, &mut n).is_err() {
                break;
            }
            handed += n.count - u32::from(n.last_sync);
            if handed > t {
                break;
            }
            advance(q);
        }
        p.consumed = p.consumed.saturating_sub(q.ring().pending(q.head(), here));
    }
    let stop = fault(q, mem, FaultCause::Backend(e), p);
    if !stop {
        p.consumed += q.ring().pending(q.head(), here);
        q.set_head(here);
    }
    stop
}

/// Counts the ops a command lifts to; a last sync is not handed over.
#[derive(Default)]
struct Handed {
    count: u32,
    last_sync: bool,
}

impl Sink<Op> for Handed {
    fn push(&mut self, op: Op) -> Result<(), Full> {
        self.count += 1;
        self.last_sync = op.is_sync();
        Ok(())
    }
}

/// A back end that counts what it is given (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CountingBackend {
    /// Ops executed.
    pub ops: u64,
    /// Of them, invalidations.
    pub invals: u64,
    /// Calls to `execute`.
    pub batches: u64,
    /// Barriers.
    pub barriers: u64,
}

impl Backend for CountingBackend {
    fn execute(&mut self, ops: &[Op]) -> Result<(), BackendError> {
        self.batches += 1;
        self.ops += ops.len() as u64;
        self.invals += ops.iter().filter(|o| matches!(o, Op::Inval(_))).count() as u64;
        Ok(())
    }
    fn barrier(&mut self, _: &Barrier) -> Result<(), BackendError> {
        self.barriers += 1;
        Ok(())
    }
}

/// One thing a [`RecordingBackend`] saw.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// One call to `execute`, with its ops.
    Batch(&'a [Op]),
    /// One barrier.
    Barrier(&'a Barrier),
}

#[cfg(feature = "alloc")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// `ops[start..end]`.
    Batch(usize, usize),
    Barrier(Barrier),
}

/// A back end that records every batch and barrier, for tests; it can be
/// told to fail. The ops go into one vector, so that after
/// [`RecordingBackend::clear`] recording allocates nothing until it holds
/// more than before.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, Default)]
pub struct RecordingBackend {
    ops: alloc::vec::Vec<Op>,
    log: alloc::vec::Vec<Entry>,
    /// Fail the next `execute` or `barrier` call with this error (taken).
    fail_next: Option<BackendError>,
}

#[cfg(feature = "alloc")]
impl RecordingBackend {
    /// A recorder whose first `execute` or `barrier` call fails with `e`.
    pub fn failing(e: BackendError) -> Self {
        RecordingBackend {
            fail_next: Some(e),
            ..Self::default()
        }
    }
    /// Every op executed, in order.
    pub fn ops(&self) -> impl Iterator<Item = &Op> + '_ {
        self.ops.iter()
    }
    /// The batches and barriers, in order.
    pub fn records(&self) -> impl Iterator<Item = Record<'_>> + '_ {
        self.log.iter().map(|e| match e {
            Entry::Batch(a, b) => Record::Batch(self.ops.get(*a..*b).unwrap_or(&[])),
            Entry::Barrier(s) => Record::Barrier(s),
        })
    }
    /// Forget what was recorded (keeping the memory).
    pub fn clear(&mut self) {
        self.ops.clear();
        self.log.clear();
    }
}

#[cfg(feature = "alloc")]
impl Backend for RecordingBackend {
    fn execute(&mut self, ops: &[Op]) -> Result<(), BackendError> {
        if let Some(e) = self.fail_next.take() {
            return Err(e);
        }
        let start = self.ops.len();
        self.ops.extend_from_slice(ops);
        self.log.push(Entry::Batch(start, self.ops.len()));
        Ok(())
    }
    fn barrier(&mut self, sync: &Barrier) -> Result<(), BackendError> {
        if let Some(e) = self.fail_next.take() {
            return Err(e);
        }
        self.log.push(Entry::Barrier(*sync));
        Ok(())
    }
}

/// "Shadow flush": a closure per generic invalidation, for VMMs that keep
/// their own shadow page tables or translation caches. Other ops go to a
/// second closure, which by default ignores them (prefetches are hints;
/// page responses and stall commands have no device behind a shadow VMM).
pub struct ShadowFlush<F, G = fn(&Op) -> Result<(), BackendError>> {
    on_inval: F,
    on_other: G,
}

fn ignore_op(_: &Op) -> Result<(), BackendError> {
    Ok(())
}

impl<F: FnMut(&Inval) -> Result<(), BackendError>> ShadowFlush<F> {
    /// Call `on_inval` for every invalidation; ignore other ops.
    pub fn new(on_inval: F) -> Self {
        ShadowFlush {
            on_inval,
            on_other: ignore_op,
        }
    }
}

impl<F, G> ShadowFlush<F, G> {
    /// Also hand every other op (not a sync) to `on_other`.
    pub fn with_other<H: FnMut(&Op) -> Result<(), BackendError>>(
        self,
        on_other: H,
    ) -> ShadowFlush<F, H> {
        ShadowFlush {
            on_inval: self.on_inval,
            on_other,
        }
    }
}

impl<F, G> fmt::Debug for ShadowFlush<F, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShadowFlush")
    }
}

impl<F, G> Backend for ShadowFlush<F, G>
where
    F: FnMut(&Inval) -> Result<(), BackendError>,
    G: FnMut(&Op) -> Result<(), BackendError>,
{
    fn execute(&mut self, ops: &[Op]) -> Result<(), BackendError> {
        for op in ops {
            match op {
                Op::Inval(i) => (self.on_inval)(i)?,
                other => (self.on_other)(other)?,
            }
        }
        Ok(())
    }
}

/// A back end that lowers the guest's ops to another architecture's
/// commands and writes them into a host queue `Q` in `mem`, as that queue's
/// producer; at each guest barrier it adds a host sync (`host_sync`) and
/// calls `kick`, which must return once the host has consumed the queue
/// (a VMM rings the host's doorbell and waits for the sync; a test runs
/// the host queue's own front end). `kick` is also called when the host
/// queue is full.
///
/// With [`coalesce`](Self::coalesce) (the default) each batch the front end
/// hands over — ops of one guest barrier, at most [`BATCH_OPS`] — is first
/// coalesced whole ([`BatchOptions::HOST`](crate::batch::BatchOptions::HOST)):
/// invalidations with the same non-address coordinates whose ranges overlap
/// or touch are lowered as one, one inside another is dropped; nothing is
/// widened and nothing moves across a barrier. A guest barrier with more
/// ops than one batch is coalesced batch by batch. A batch in which nothing
/// merges or covers is lowered op by op, in its order.
pub struct LowerToHost<'m, Q: QueueProducer, M: ?Sized, C: ?Sized, K> {
    /// The host queue (its tail is the producer's).
    pub queue: Q,
    /// Host memory the queue lives in.
    mem: &'m M,
    /// The host's ids (guest ops are already generic; lowering names the
    /// host's domains and PASIDs through it).
    ctx: &'m C,
    /// The host IOMMU's features.
    pub features: <Q::Arch as Arch>::Features,
    /// The lowering budget.
    pub budget: Budget,
    /// The sync added at each guest barrier.
    pub host_sync: Barrier,
    /// Makes the host consume its queue.
    kick: K,
    /// What lowering widened, over all ops (reported, never silent).
    pub widened: Widened,
    /// Host commands written.
    pub commands: u64,
    /// Coalesce each batch before lowering it (on by default).
    pub coalesce: bool,
    /// Ops handed to `execute` since the last barrier.
    seq: u32,
    /// After an error: [`Backend::unfinished`].
    unfinished: u32,
}

impl<'m, Q, M, C, K> LowerToHost<'m, Q, M, C, K>
where
    Q: QueueProducer,
    M: QueueMemory + ?Sized,
    C: Context + ?Sized,
    K: FnMut(&mut Q, &M) -> Result<(), BackendError>,
{
    /// A back end producing into `queue` in `mem`, lowering with the
    /// queue's [`QueueProducer::host_features`], its architecture's
    /// [`Arch::DEFAULT_BUDGET`] and a plain fencing host sync.
    pub fn new(queue: Q, mem: &'m M, ctx: &'m C, kick: K) -> Self {
        LowerToHost {
            features: queue.host_features(),
            budget: <Q::Arch as Arch>::DEFAULT_BUDGET,
            queue,
            mem,
            ctx,
            host_sync: Barrier {
                fence: true,
                ..Barrier::default()
            },
            kick,
            widened: Widened::empty(),
            commands: 0,
            coalesce: true,
            seq: 0,
            unfinished: 0,
        }
    }

    fn lower_one(&mut self, op: &Op) -> Result<(), BackendError> {
        let mut sink = RingSink {
            queue: &mut self.queue,
            mem: self.mem,
            kick: &mut self.kick,
            error: None,
            written: 0,
        };
        let r = <Q::Arch as Arch>::lower(op, &self.features, self.budget, self.ctx, &mut sink);
        self.commands += sink.written;
        if let Some(e) = sink.error {
            return Err(e);
        }
        match r {
            Ok(o) => {
                self.widened |= o.widened;
                Ok(())
            }
            Err(LowerError::NoEquivalent(why)) | Err(LowerError::Invalid(why)) => {
                Err(BackendError::Failed(why))
            }
            Err(LowerError::BufferFull) => Err(BackendError::Failed("host queue full")),
        }
    }
}

impl<Q, M, C, K> fmt::Debug for LowerToHost<'_, Q, M, C, K>
where
    Q: QueueProducer + fmt::Debug,
    M: ?Sized,
    C: ?Sized,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LowerToHost")
            .field("queue", &self.queue)
            .field("features", &self.features)
            .field("budget", &self.budget)
            .field("host_sync", &self.host_sync)
            .field("widened", &self.widened)
            .field("commands", &self.commands)
            .field("coalesce", &self.coalesce)
            .finish_non_exhaustive()
    }
}

/// Writes lowered commands straight into the host queue.
struct RingSink<'a, Q, M: ?Sized, K> {
    queue: &'a mut Q,
    mem: &'a M,
    kick: &'a mut K,
    error: Option<BackendError>,
    written: u64,
}

impl<Q, M, K> Sink<<Q::Arch as Arch>::Command> for RingSink<'_, Q, M, K>
where
    Q: QueueProducer,
    M: QueueMemory + ?Sized,
    K: FnMut(&mut Q, &M) -> Result<(), BackendError>,
{
    fn push(&mut self, cmd: <Q::Arch as Arch>::Command) -> Result<(), Full> {
        let mut r = self.queue.produce(self.mem, &cmd);
        if r == Err(ProduceError::Full) {
            if let Err(e) = (self.kick)(self.queue, self.mem) {
                self.error = Some(e);
                return Err(Full);
            }
            r = self.queue.produce(self.mem, &cmd);
        }
        match r {
            Ok(()) => {
                self.written += 1;
                Ok(())
            }
            Err(e) => {
                self.error = Some(BackendError::Failed(match e {
                    ProduceError::Full => "host queue full after kick",
                    ProduceError::Memory(_) => "host queue write failed",
                    ProduceError::Encode(_) => "host command does not encode",
                }));
                Err(Full)
            }
        }
    }
}

/// Lowers each coalesced op into a [`LowerToHost`]'s queue; the first
/// failure stops the batch.
struct LowerEach<'b, 'm, Q: QueueProducer, M: ?Sized, C: ?Sized, K> {
    backend: &'b mut LowerToHost<'m, Q, M, C, K>,
    error: Option<BackendError>,
}

impl<Q, M, C, K> Sink<Op> for LowerEach<'_, '_, Q, M, C, K>
where
    Q: QueueProducer,
    M: QueueMemory + ?Sized,
    C: Context + ?Sized,
    K: FnMut(&mut Q, &M) -> Result<(), BackendError>,
{
    fn push(&mut self, op: Op) -> Result<(), Full> {
        self.backend.lower_one(&op).map_err(|e| {
            self.error = Some(e);
            Full
        })
    }
}

impl<Q, M, C, K> Backend for LowerToHost<'_, Q, M, C, K>
where
    Q: QueueProducer,
    M: QueueMemory + ?Sized,
    C: Context + ?Sized,
    K: FnMut(&mut Q, &M) -> Result<(), BackendError>,
{
    /// An op's failure is its own (in order, ops after it are not
    /// lowered); in a coalesced batch it counts from the batch's first op.
    fn execute(&mut self, ops: &[Op]) -> Result<(), BackendError> {
        let n = ops.len() as u32;
        self.seq = self.seq.saturating_add(n);
        // Nothing merges or covers: coalescing would hand the ops over as
        // they are, so lower them one by one without its scratch and sort.
        if !self.coalesce || nothing_to_coalesce(ops) {
            for (i, op) in (0u32..).zip(ops) {
                if let Err(e) = self.lower_one(op) {
                    self.unfinished = n - i;
                    self.seq = 0;
                    return Err(e);
                }
            }
            return Ok(());
        }
        // Whole invalidations: one scratch slot each.
        let mut scratch = [Inval::new(Caches::empty()); BATCH_OPS];
        let mut each = LowerEach {
            backend: self,
            error: None,
        };
        match coalesce_with(ops, &mut scratch, BatchOptions::HOST, &mut each, false) {
            Ok(_) => Ok(()),
            Err(_) => {
                let e = each.error;
                (self.unfinished, self.seq) = (n, 0);
                Err(e.unwrap_or(BackendError::Failed("coalescing the batch failed")))
            }
        }
    }
    /// One host sync and one kick (doorbell) per guest barrier; a failure
    /// is the guest sync's.
    fn barrier(&mut self, _guest: &Barrier) -> Result<(), BackendError> {
        (self.unfinished, self.seq) = (0, 0);
        let s = Op::Sync(self.host_sync);
        self.lower_one(&s)?;
        (self.kick)(&mut self.queue, self.mem)
    }
    fn unfinished(&self) -> u32 {
        self.unfinished
    }
}
