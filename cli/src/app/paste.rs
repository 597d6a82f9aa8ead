//! What people paste: native commands as the Linux drivers and QEMU print
//! them, besides the project's own word lines ([`super::text`]).
//!
//! Recognized per line (`--input auto`, the default, tries them in this
//! order; `--input words|kernel|qemu` keeps one family):
//!
//! * **words**: `0x…,0x…` (lowest word first), as [`super::text`] reads.
//! * **kernel, Arm SMMUv3** (`drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c`,
//!   `arm_smmu_cmdq_skip_err`): a `CMDQ error (cons 0x%08x): %s` line (the
//!   CERROR name), `skipping command in error state:`, then one
//!   `\t0x%016llx` line per 64-bit word, CMDQ_ENT_DWORDS = 2 words, lowest
//!   first. `retrying command fetch` (CERROR_ABT) is kept as context.
//! * **kernel, Intel VT-d** (`drivers/iommu/intel/dmar.c`): since Linux 5.13
//!   `qi_dump_fault` prints `VT-d detected Invalidation Queue Error: Reason
//!   %llx` (or `… Time-out Error: SID %llx`, `… Completion Error: SID %llx`)
//!   and `QI HEAD: %s qw0 = 0x%llx, qw1 = 0x%llx` / `QI PRIOR: …` (the type
//!   name, then the low and high words; qw2/qw3 are never printed, "for
//!   security consideration", so a 256-bit descriptor takes them as 0 unless
//!   the line has `qw2 = …, qw3 = …`). Linux 5.0-5.12 printed
//!   `VT-d detected invalid descriptor: qw0 = %llx, qw1 = %llx` and earlier
//!   kernels `… invalid descriptor: low=%llx, high=%llx` (no `0x`).
//! * **kernel, AMD-Vi** (`drivers/iommu/amd/iommu.c`): `Event logged
//!   [ILLEGAL_COMMAND_ERROR address=0x%llx]` followed by `dump_command`'s
//!   four `CMD[%d]: %08x` lines: 32-bit dwords of one 128-bit command,
//!   paired little-endian into the two 64-bit words (`w0 = CMD[1]:CMD[0]`).
//!   `COMMAND_HARDWARE_ERROR` and `IOTLB_INV_TIMEOUT` events are context.
//! * **qemu, intel-iommu** (`hw/i386/trace-events`, `hw/i386/intel_iommu.c`):
//!   the `vtd_inv_desc` trace event `invalidate desc type %s high 0x%x low
//!   0x%x` and `vtd_inv_desc_wait_write_fail` `… hi 0x%x lo 0x%x` print the
//!   **high word first**; the error reports `invalid … inv desc: hi=%x,
//!   lo=%x (…)` likewise, and the 256-bit reserved-bit report prints
//!   `val[3]: 0x%x val[2]: 0x%x val[1]=0x%x val[0]=0x%x`, highest first.
//!   All are put back in the codec's order, lowest word first.
//!
//! **Logs.** With `--input kernel`, and with `auto` once a line has a log
//! prefix (below) or is one of the driver lines above, the input is a log:
//! lines that belong to no IOMMU dump are skipped and counted
//! ([`Paste::skipped`]; the CLI says how many in one line on stderr, and
//! the exit status does not change). With `auto`, lines of no form that
//! come before the input is recognized are held (up to 16, the rest
//! counted) and become errors only if it never is, or when a word line
//! shows the input is word text. Lines that accompany a dump are context:
//! `DRHD: handling fault status reg %x` (`dmar_fault`; its IQE / ICE / ITE
//! bits are named), `retrying command fetch`, the AMD-Vi event lines.
//!
//! **Events without a command.** Some stops print no command words: SMMUv3
//! CERROR_ABT (`retrying command fetch`), CERROR_ATC_INV_SYNC and
//! CERROR_NONE; VT-d ITE and ICE (before Linux 5.13 only the `... (ITE)
//! cleared` line; since, the fault line comes with QI HEAD / PRIOR, which
//! decode as usual); AMD-Vi IOTLB_INV_TIMEOUT, COMMAND_HARDWARE_ERROR and
//! `Completion-Wait loop timed out`. Each is an [`Event`] (from
//! [`Paste::take`]) that says what the hardware reported, what the driver
//! does next and the queue position the log gives. A stop that does print
//! a command (CERROR_ILL, IQE, ILLEGAL_COMMAND_ERROR) without one is still a
//! dump cut short.
//!
//! In front of any of these: dmesg timestamps (`[  12.345678]`, `[Thu Dec  3
//! 09:30:01 2026]`, caller ids `[    T1]`), a `<3>` priority, syslog and
//! journald prefixes (`Dec  3 09:30:01 host kernel: `), the driver and device
//! (`arm-smmu-v3 arm-smmu-v3.0.auto: `, `DMAR: `, `AMD-Vi: `), and QEMU's
//! `pid@seconds:` trace prefix. The lines that explain a stop (the CERROR
//! name, the fault kind and IQER reason, the event and its address) are kept
//! as **context** of the next command, so that the output says why the
//! hardware stopped there.
//!
//! Example: the test `example::module_example` at the end of this file.

use super::text::{parse_hex_line, strip_comment, TextError};
use iommu_inval::core::ArchId;
use std::fmt;
use std::ops::ControlFlow;

/// Which input forms are accepted (`--input`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InputForm {
    /// Detect per line: words, kernel dumps, QEMU trace lines.
    #[default]
    Auto,
    /// Only comma-separated hex words.
    Words,
    /// Only Linux driver dumps.
    Kernel,
    /// Only QEMU trace / error lines.
    Qemu,
}

impl InputForm {
    /// The `--input` name.
    pub const fn name(self) -> &'static str {
        match self {
            InputForm::Auto => "auto",
            InputForm::Words => "words",
            InputForm::Kernel => "kernel",
            InputForm::Qemu => "qemu",
        }
    }
    fn words(self) -> bool {
        matches!(self, InputForm::Auto | InputForm::Words)
    }
    fn kernel(self) -> bool {
        matches!(self, InputForm::Auto | InputForm::Kernel)
    }
    fn qemu(self) -> bool {
        matches!(self, InputForm::Auto | InputForm::Qemu)
    }
}

/// One command recovered from pasted text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pasted {
    /// The words, lowest first (slots past `n` are 0).
    pub w: [u64; 4],
    /// Number of words (2, or 4 for 256-bit VT-d).
    pub n: usize,
    /// 1-based line where the command starts.
    pub line: usize,
    /// Context lines that explain it (the CERROR, the fault, the event).
    pub context: Vec<String>,
    /// The log says the hardware refused this very command (SMMU
    /// CERROR_ILL at CONS, VT-d IQE at the head, AMD ILLEGAL_COMMAND_ERROR).
    pub refused: bool,
}

impl Pasted {
    /// The words, lowest first.
    pub fn words(&self) -> &[u64] {
        self.w.get(..self.n).unwrap_or(&[])
    }
}

/// A pasted line that does not make (part of) a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasteError {
    /// `--input words` and the line is not hex words.
    Words(TextError),
    /// The line fits no accepted form (`words`: why it is not hex words).
    NoForm {
        /// The form selected.
        form: InputForm,
        /// Why the line is not words.
        words: TextError,
    },
    /// A form of another architecture's driver.
    OtherArch {
        /// What the line is.
        what: &'static str,
        /// The architecture selected.
        arch: ArchId,
    },
    /// A multi-line dump ended before the command was complete.
    Incomplete {
        /// Which dump.
        what: &'static str,
        /// Lines (words or dwords) seen.
        got: usize,
        /// Lines a command needs.
        want: usize,
        /// The last line of the dump.
        end: usize,
    },
    /// An AMD `CMD[i]` line out of order.
    DwordOrder {
        /// Index printed.
        got: u64,
        /// Index expected.
        want: usize,
    },
    /// A recognized line whose number does not parse.
    BadNumber(&'static str),
    /// Context lines with no command after them.
    NoCommand(String),
    /// A line of hex words while `--input` excludes them.
    WordsExcluded(InputForm),
    /// More lines that fit no form than are reported one by one.
    Unrelated {
        /// How many.
        count: usize,
    },
}

impl fmt::Display for PasteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasteError::Words(e) => write!(f, "{e}"),
            PasteError::NoForm { form, words } => write!(
                f,
                "{words}; nor is it a {} line (see --input)",
                match form {
                    InputForm::Auto => "kernel IOMMU dump or QEMU trace",
                    InputForm::Kernel => "kernel IOMMU dump",
                    InputForm::Qemu => "QEMU intel-iommu trace",
                    InputForm::Words => "word",
                }
            ),
            PasteError::OtherArch { what, arch } => {
                write!(f, "this is {what}, but the architecture is {arch}")
            }
            PasteError::Incomplete {
                what,
                got,
                want,
                end,
            } => write!(
                f,
                "{what} ends at line {end}, after {got} of the {want} lines of a command"
            ),
            PasteError::DwordOrder { got, want } => {
                write!(f, "CMD[{got}] where CMD[{want}] was expected")
            }
            PasteError::BadNumber(what) => write!(f, "{what}: not a hex number"),
            PasteError::NoCommand(c) => write!(
                f,
                "no command follows \"{c}\" (the dump is cut short: this event prints the command)"
            ),
            PasteError::Unrelated { count } => write!(
                f,
                "{count} more line(s), up to this one, fit no accepted form (see --input)"
            ),
            PasteError::WordsExcluded(form) => write!(
                f,
                "a line of hex words, but --input is {} (use --input auto or words)",
                form.name()
            ),
        }
    }
}

impl std::error::Error for PasteError {}

/// A multi-line dump in progress.
#[derive(Debug, Clone, Copy)]
enum Block {
    None,
    /// SMMUv3 `skipping command in error state:` seen; its words so far.
    Smmu(Dump<u64, 2>),
    /// AMD-Vi `CMD[i]` dwords so far.
    Amd(Dump<u32, 4>),
}

/// The `N` values of a dump, one a line: `got` of them so far, from line
/// `start`; `last` is the last line read.
#[derive(Debug, Clone, Copy)]
struct Dump<T, const N: usize> {
    v: [T; N],
    got: usize,
    start: usize,
    last: usize,
}

impl<T: Copy + Default, const N: usize> Dump<T, N> {
    fn new(start: usize, last: usize) -> Self {
        Dump {
            v: [T::default(); N],
            got: 0,
            start,
            last,
        }
    }
    /// The next value `x`, on line `line_no`: the values once there are
    /// `N`, else the dump still in progress.
    fn push(mut self, x: T, line_no: usize) -> ControlFlow<[T; N], Self> {
        if let Some(slot) = self.v.get_mut(self.got) {
            *slot = x;
        }
        self.got += 1;
        self.last = line_no;
        if self.got < N {
            ControlFlow::Continue(self)
        } else {
            ControlFlow::Break(self.v)
        }
    }
    /// The dump, named `what`, as cut short: its first line and the error.
    fn cut_short(self, what: &'static str) -> (usize, PasteError) {
        let e = PasteError::Incomplete {
            what,
            got: self.got,
            want: N,
            end: self.last,
        };
        (self.start, e)
    }
}

impl Block {
    /// The dump in progress as cut short (its first line and the error),
    /// `None` when no dump is in progress.
    fn cut_short(self) -> Option<(usize, PasteError)> {
        match self {
            Block::None => None,
            Block::Smmu(d) => Some(d.cut_short("the SMMUv3 command dump")),
            Block::Amd(d) => Some(d.cut_short("the AMD-Vi CMD[] dump")),
        }
    }
}

/// A queue event the log reports without a command: the hardware stopped
/// or complained at a queue position, but the driver prints no command
/// words for it (SMMUv3 CERROR_ABT and CERROR_ATC_INV_SYNC, VT-d ITE and
/// ICE before Linux 5.13, AMD-Vi IOTLB_INV_TIMEOUT, COMMAND_HARDWARE_ERROR
/// and a Completion-Wait time-out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The architecture's name for it (`CERROR_ABT`, `FSTS.ITE`, ...).
    pub kind: &'static str,
    /// 1-based line where the event starts.
    pub line: usize,
    /// The context lines, as for a command.
    pub context: Vec<String>,
    /// What the hardware reported, what the driver does next, and the
    /// queue position the log gives.
    pub explanation: String,
}

/// What [`Paste::take`] hands out besides the commands `feed` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A line that is not (part of) a command (with its 1-based line).
    Error(usize, PasteError),
    /// A complete event without a command.
    Event(Event),
}

/// An event whose lines are still coming (see [`Event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// SMMUv3 CMDQ_CONS.ERR = CERROR_ABT: "retrying command fetch" follows.
    SmmuAbt { cons: u64 },
    /// VT-d ITE / ICE (from the fault line or FSTS): QI HEAD / PRIOR may
    /// follow (Linux 5.13+), then the "... cleared" lines.
    Vtd {
        ite: bool,
        ice: bool,
        ite_sid: Option<u64>,
        ice_sid: Option<u64>,
    },
}

/// The per-line parser (see the module doc). Feed it lines in order, and
/// after each [`Paste::feed`] and after [`Paste::finish`] take the queued
/// [`Item`]s with [`Paste::take`] (they come before the line's own result).
#[derive(Debug)]
pub struct Paste {
    arch: ArchId,
    words: usize,
    form: InputForm,
    block: Block,
    context: Vec<String>,
    context_line: usize,
    refused: bool,
    /// The pending context waits for a command (an IQE, CERROR_ILL, an
    /// ILLEGAL_COMMAND_ERROR): without one the dump is cut short.
    needs_command: bool,
    /// The pending context is an event that may end without a command.
    pending: Option<Pending>,
    /// A VT-d QI HEAD / PRIOR dump came after the last fault lines (its
    /// "... cleared" lines belong to it).
    qi_dumped: bool,
    /// The input is a log: lines of no accepted form are skipped.
    log: bool,
    /// A word line was read before the input was recognized as a log.
    words_seen: bool,
    /// Lines skipped in a log.
    skipped: usize,
    /// Auto form, before the input is recognized: lines of no form, held
    /// until it is known whether they are a log's unrelated lines.
    deferred: Vec<(usize, PasteError)>,
    deferred_more: usize,
    /// The last line held back.
    deferred_last: usize,
    out: std::collections::VecDeque<Item>,
}

/// The result of one line: a block that the line cut short (with its first
/// line), then the line's own result.
pub type Fed = (
    Option<(usize, PasteError)>,
    Result<Option<Pasted>, PasteError>,
);

/// At most this many context lines are held for one command.
const MAX_CONTEXT: usize = 8;

/// At most this many lines of no form are held while the input is not yet
/// recognized (the others are counted).
const MAX_DEFERRED: usize = 16;

impl Paste {
    /// A parser for commands of `arch`, `words` words each (2 or 4).
    pub fn new(arch: ArchId, words: usize, form: InputForm) -> Self {
        Paste {
            arch,
            words,
            form,
            block: Block::None,
            context: Vec::new(),
            context_line: 0,
            refused: false,
            needs_command: false,
            pending: None,
            qi_dumped: false,
            log: form == InputForm::Kernel,
            words_seen: false,
            skipped: 0,
            deferred: Vec::new(),
            deferred_more: 0,
            deferred_last: 0,
            out: std::collections::VecDeque::new(),
        }
    }

    /// The next queued item (an event, or an error held back), in order.
    pub fn take(&mut self) -> Option<Item> {
        self.out.pop_front()
    }

    /// Lines skipped because the input is a kernel log (`--input kernel`,
    /// or `auto` once a line has a log prefix or is a kernel dump line) and
    /// they belong to no IOMMU dump.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Parse line `line_no` (1-based). Blank and `#` lines must be skipped
    /// by the caller.
    pub fn feed(&mut self, line_no: usize, line: &str) -> Fed {
        let mut cut = None;
        let before = self.block;
        // A block in progress takes its own continuation lines first.
        match self.block {
            Block::Smmu(d) => {
                if let Some(v) = bare_word(strip_prefixes(line)) {
                    return match d.push(v, line_no) {
                        ControlFlow::Continue(d) => {
                            self.block = Block::Smmu(d);
                            (None, Ok(None))
                        }
                        ControlFlow::Break([w0, w1]) => {
                            self.block = Block::None;
                            (None, Ok(Some(self.emit([w0, w1, 0, 0], 2, d.start))))
                        }
                    };
                }
                self.block = Block::None;
                cut = before.cut_short();
            }
            Block::Amd(_) => {
                if amd_dword(strip_prefixes(line)).is_none() {
                    self.block = Block::None;
                    cut = before.cut_short();
                }
            }
            Block::None => {}
        }
        let r = self.line(line_no, line);
        match r {
            Err(e @ (PasteError::NoForm { .. } | PasteError::Words(_)))
                if self.form.kernel() && self.form != InputForm::Words =>
            {
                if self.log {
                    // A log's unrelated line: skipped, and a dump in
                    // progress goes on after it (printk lines interleave).
                    self.block = before;
                    self.skipped += 1;
                    return (None, Ok(None));
                }
                if self.form == InputForm::Auto && !self.words_seen && !looks_like_words(line) {
                    self.block = before;
                    self.deferred_last = line_no;
                    if self.deferred.len() < MAX_DEFERRED {
                        self.deferred.push((line_no, e));
                    } else {
                        self.deferred_more += 1;
                    }
                    return (None, Ok(None));
                }
                (cut, Err(e))
            }
            r => (cut, r),
        }
    }

    /// End of input: a dump cut short, or context with no command. Events
    /// still pending and lines held back are queued for [`Paste::take`].
    pub fn finish(&mut self) -> Option<(usize, PasteError)> {
        let b = std::mem::replace(&mut self.block, Block::None);
        let r = match b {
            Block::Smmu(_) | Block::Amd(_) => b.cut_short(),
            Block::None => {
                if self.flush_event() {
                    None
                } else {
                    let first = self.context.first().cloned();
                    self.context.clear();
                    self.pending = None;
                    self.needs_command = false;
                    first.map(|f| (self.context_line, PasteError::NoCommand(f)))
                }
            }
        };
        if self.log {
            self.skipped += self.deferred.len() + self.deferred_more;
            self.deferred.clear();
            self.deferred_more = 0;
        } else {
            self.release_deferred();
        }
        r
    }

    /// Lines held back are errors after all (the input is not a log).
    fn release_deferred(&mut self) {
        for (n, e) in self.deferred.drain(..) {
            self.out.push_back(Item::Error(n, e));
        }
        if self.deferred_more > 0 {
            self.out.push_back(Item::Error(
                self.deferred_last,
                PasteError::Unrelated {
                    count: self.deferred_more,
                },
            ));
            self.deferred_more = 0;
        }
    }

    /// The input is a log: lines held back were its unrelated lines.
    fn become_log(&mut self) {
        if !self.log {
            self.log = true;
            self.skipped += self.deferred.len() + self.deferred_more;
            self.deferred.clear();
            self.deferred_more = 0;
        }
    }

    /// Queue the pending event, if the context is one that needs no
    /// command. Returns whether it did.
    fn flush_event(&mut self) -> bool {
        let Some(p) = self.pending else {
            return false;
        };
        if self.needs_command || self.context.is_empty() {
            return false;
        }
        self.pending = None;
        let context = std::mem::take(&mut self.context);
        self.refused = false;
        let (kind, explanation) = explain_pending(p);
        self.out.push_back(Item::Event(Event {
            kind,
            line: self.context_line,
            context,
            explanation,
        }));
        true
    }

    /// Queue a complete event made of `context_line` alone, after any
    /// pending one.
    fn event_now(
        &mut self,
        line_no: usize,
        context: String,
        kind: &'static str,
        explanation: String,
    ) {
        self.flush_event();
        self.out.push_back(Item::Event(Event {
            kind,
            line: line_no,
            context: vec![context],
            explanation,
        }));
    }

    fn emit(&mut self, w: [u64; 4], n: usize, line: usize) -> Pasted {
        let context = std::mem::take(&mut self.context);
        let refused = std::mem::replace(&mut self.refused, false);
        self.needs_command = false;
        self.pending = None;
        Pasted {
            w,
            n,
            line,
            context,
            refused,
        }
    }

    fn note(&mut self, line_no: usize, s: String) {
        if self.context.is_empty() {
            self.context_line = line_no;
        }
        if self.context.len() < MAX_CONTEXT {
            self.context.push(s);
        }
    }

    fn want(&self, arch: ArchId, what: &'static str) -> Result<(), PasteError> {
        if self.arch == arch {
            Ok(())
        } else {
            Err(PasteError::OtherArch {
                what,
                arch: self.arch,
            })
        }
    }

    fn line(&mut self, line_no: usize, line: &str) -> Result<Option<Pasted>, PasteError> {
        let words_err = if self.form.words() {
            match parse_hex_line(line, self.words) {
                Ok((w, n)) => {
                    // Not a continuation of any pending event.
                    self.flush_event();
                    if !self.log && !self.words_seen {
                        // Word text, not a log: lines held back are errors.
                        self.words_seen = true;
                        self.release_deferred();
                    }
                    return Ok(Some(self.emit(w, n, line_no)));
                }
                Err(e) if self.form == InputForm::Words => return Err(PasteError::Words(e)),
                Err(e) => e,
            }
        } else {
            match parse_hex_line(line, self.words) {
                Err(e) => e,
                Ok(_) => return Err(PasteError::WordsExcluded(self.form)),
            }
        };
        let text = strip_comment_safe(line);
        let body = strip_prefixes(text);
        if self.form == InputForm::Auto && has_log_prefix(text) {
            self.become_log();
        }
        if self.form.kernel() && is_kernel_line(body) {
            if self.pending.is_some() && !self.continues(body) {
                self.flush_event();
            }
            self.become_log();
            if let Some(r) = self.kernel(line_no, body) {
                return r;
            }
        }
        if self.form.qemu() && is_qemu_line(body) {
            self.flush_event();
            if let Some(r) = self.qemu(line_no, body) {
                return r;
            }
        }
        Err(PasteError::NoForm {
            form: self.form,
            words: words_err,
        })
    }

    /// Whether kernel line `s` belongs to the pending event.
    fn continues(&self, s: &str) -> bool {
        match self.pending {
            Some(Pending::SmmuAbt { .. }) => s.contains("retrying command fetch"),
            Some(Pending::Vtd { .. }) => {
                s.contains("VT-d detected Invalidation")
                    || s.contains("QI HEAD:")
                    || s.contains("QI PRIOR:")
                    || s.contains("Error (IQE) cleared")
                    || s.contains("Error (ITE) cleared")
                    || s.contains("Error (ICE) cleared")
                    || s.contains(DRHD)
            }
            None => false,
        }
    }

    /// Kernel forms; `None` when the line is none of them.
    fn kernel(&mut self, line_no: usize, s: &str) -> Option<Result<Option<Pasted>, PasteError>> {
        // --- AMD-Vi: CMD[i]: %08x
        if let Some(r) = amd_dword(s) {
            return Some(self.amd_dword(line_no, r));
        }
        self.kernel_other(line_no, s)
    }

    fn amd_dword(
        &mut self,
        line_no: usize,
        r: Result<(u64, u32), PasteError>,
    ) -> Result<Option<Pasted>, PasteError> {
        self.want(ArchId::Amd, "an AMD-Vi command dword (CMD[i])")?;
        let (i, v) = r?;
        let dump = match self.block {
            Block::Amd(d) => d,
            _ => Dump::new(line_no, line_no),
        };
        if i != dump.got as u64 {
            self.block = Block::None;
            return Err(PasteError::DwordOrder {
                got: i,
                want: dump.got,
            });
        }
        let d = match dump.push(v, line_no) {
            ControlFlow::Continue(dump) => {
                self.block = Block::Amd(dump);
                return Ok(None);
            }
            ControlFlow::Break(d) => d,
        };
        self.block = Block::None;
        // dump_command prints the command's u32 data[] in memory order: the
        // command buffer is little-endian, so w0 = data[1]:data[0].
        let w0 = u64::from(d[0]) | u64::from(d[1]) << 32;
        let w1 = u64::from(d[2]) | u64::from(d[3]) << 32;
        Ok(Some(self.emit([w0, w1, 0, 0], 2, dump.start)))
    }

    fn kernel_other(
        &mut self,
        line_no: usize,
        s: &str,
    ) -> Option<Result<Option<Pasted>, PasteError>> {
        // --- Arm SMMUv3
        if let Some(rest) = after(s, "CMDQ error (cons ") {
            return Some(self.smmu_cerror(line_no, rest));
        }
        if s.contains("skipping command in error state") {
            return Some(
                self.want(ArchId::Smmuv3, "an SMMUv3 command dump")
                    .map(|()| {
                        self.note(
                            line_no,
                            "kernel: the command at CMDQ_CONS, as the driver read it before \
                             replacing it with a CMD_SYNC"
                                .into(),
                        );
                        self.needs_command = true;
                        self.block = Block::Smmu(Dump::new(line_no + 1, line_no));
                        None
                    }),
            );
        }
        if s.contains("retrying command fetch") {
            return Some(self.want(ArchId::Smmuv3, "an SMMUv3 CMDQ line").map(|()| {
                let text = "kernel: retrying command fetch (the driver's answer to CERROR_ABT)";
                if matches!(self.pending, Some(Pending::SmmuAbt { .. })) {
                    self.note(line_no, text.into());
                    self.flush_event();
                } else {
                    let (kind, why) = explain_pending(Pending::SmmuAbt { cons: u64::MAX });
                    self.event_now(line_no, text.into(), kind, why);
                }
                None
            }));
        }
        if s.contains("failed to convert to CMD_SYNC")
            || s.contains("unexpected global error reported")
            || s.trim() == "this could be serious"
        {
            return Some(
                self.want(ArchId::Smmuv3, "an SMMUv3 driver line")
                    .map(|()| None),
            );
        }
        // --- Intel VT-d
        for (key, what) in [("QI HEAD:", "QI HEAD"), ("QI PRIOR:", "QI PRIOR")] {
            if let Some(rest) = after(s, key) {
                let r = self.vtd_qi(line_no, what, rest);
                self.qi_dumped = r.is_ok();
                return Some(r);
            }
        }
        if let Some(rest) = after(s, "VT-d detected invalid descriptor:") {
            return Some(self.vtd_old(line_no, rest));
        }
        for (key, flag, what) in [
            (
                "VT-d detected Invalidation Queue Error: Reason",
                "FSTS.IQE (invalidation queue error)",
                "IQER.IQEI",
            ),
            (
                "VT-d detected Invalidation Time-out Error: SID",
                "FSTS.ITE (device-TLB invalidation time-out)",
                "IQER.ITESID",
            ),
            (
                "VT-d detected Invalidation Completion Error: SID",
                "FSTS.ICE (invalidation completion error)",
                "IQER.ICESID",
            ),
        ] {
            if let Some(rest) = after(s, key) {
                return Some(self.want(ArchId::Vtd, "a VT-d fault line").and_then(|()| {
                    let v = leading_hex(rest.trim_start())
                        .ok_or(PasteError::BadNumber("the IQER value"))?;
                    self.note(line_no, format!("kernel: {flag}, {what} = {v:#x}"));
                    self.qi_dumped = false;
                    if flag.starts_with("FSTS.IQE") {
                        self.refused = true;
                        self.needs_command = true;
                        // An IQE dump may carry ITE / ICE lines too.
                        self.pending.get_or_insert(Pending::Vtd {
                            ite: false,
                            ice: false,
                            ite_sid: None,
                            ice_sid: None,
                        });
                    } else {
                        let ite = flag.starts_with("FSTS.ITE");
                        self.vtd_pending(ite, !ite, Some(v));
                    }
                    Ok(None)
                }));
            }
        }
        if s.contains("Invalidation Queue Error (IQE) cleared") {
            return Some(self.want(ArchId::Vtd, "a VT-d fault line").map(|()| None));
        }
        for (key, ite) in [
            ("Invalidation Time-out Error (ITE) cleared", true),
            ("Invalidation Completion Error (ICE) cleared", false),
        ] {
            if s.contains(key) {
                return Some(self.want(ArchId::Vtd, "a VT-d fault line").map(|()| {
                    let text = format!("kernel: {key} (the driver cleared the FSTS bit)");
                    if matches!(self.pending, Some(Pending::Vtd { .. })) {
                        self.note(line_no, text);
                        self.vtd_pending(ite, !ite, None);
                        self.flush_event();
                    } else if !self.qi_dumped {
                        // Before Linux 5.13 this line is all the log says.
                        let p = Pending::Vtd {
                            ite,
                            ice: !ite,
                            ite_sid: None,
                            ice_sid: None,
                        };
                        let (kind, why) = explain_pending(p);
                        self.event_now(line_no, text, kind, why);
                    }
                    None
                }));
            }
        }
        if let Some(rest) = after(s, DRHD) {
            return Some(self.want(ArchId::Vtd, "a VT-d fault line").and_then(|()| {
                let fsts = leading_hex(rest.trim_start())
                    .ok_or(PasteError::BadNumber("the fault status register"))?;
                // FSTS_REG: IQE bit 4, ICE bit 5, ITE bit 6 (VT-d §11.4.9.1).
                let (iqe, ice, ite) = (fsts & 1 << 4 != 0, fsts & 1 << 5 != 0, fsts & 1 << 6 != 0);
                if !(iqe || ice || ite) {
                    // A DMA-remapping fault, not the invalidation queue's.
                    self.skipped += 1;
                    return Ok(None);
                }
                let bits: Vec<&str> = [(iqe, "IQE"), (ice, "ICE"), (ite, "ITE")]
                    .iter()
                    .filter(|(b, _)| *b)
                    .map(|(_, n)| *n)
                    .collect();
                self.note(
                    line_no,
                    format!(
                        "kernel: fault event, FSTS = {fsts:#x} ({})",
                        bits.join(", ")
                    ),
                );
                self.qi_dumped = false;
                self.vtd_pending(ite, ice, None);
                Ok(None)
            }));
        }
        // --- AMD-Vi
        if let Some(rest) = after(s, "ILLEGAL_COMMAND_ERROR") {
            return Some(self.want(ArchId::Amd, "an AMD-Vi event").and_then(|()| {
                let a = after(rest, "address=")
                    .and_then(leading_hex)
                    .ok_or(PasteError::BadNumber("the event address"))?;
                self.note(
                    line_no,
                    format!(
                        "kernel: ILLEGAL_COMMAND_ERROR event (code 5): the command at {a:#x} \
                         is illegal"
                    ),
                );
                self.refused = true;
                self.needs_command = true;
                Ok(None)
            }));
        }
        for (key, what) in [
            (
                "COMMAND_HARDWARE_ERROR",
                "COMMAND_HARDWARE_ERROR event (code 6):",
            ),
            ("IOTLB_INV_TIMEOUT", "IOTLB_INV_TIMEOUT event (code 7):"),
        ] {
            if let Some(rest) = after(s, key) {
                return Some(self.want(ArchId::Amd, "an AMD-Vi event").map(|()| {
                    let detail = rest.trim_start().trim_end_matches(']').trim();
                    let (kind, why) = explain_amd(key, detail);
                    self.event_now(line_no, format!("kernel: {what} {detail}"), kind, why);
                    None
                }));
            }
        }
        if s.contains("Completion-Wait loop timed out") {
            return Some(self.want(ArchId::Amd, "an AMD-Vi line").map(|()| {
                let (kind, why) = explain_amd("Completion-Wait", "");
                self.event_now(
                    line_no,
                    "kernel: Completion-Wait loop timed out".into(),
                    kind,
                    why,
                );
                None
            }));
        }
        if s.contains("Event logged [") {
            // Another AMD-Vi event (IO_PAGE_FAULT, ...): not the command buffer's.
            return Some(self.want(ArchId::Amd, "an AMD-Vi event").map(|()| {
                self.skipped += 1;
                None
            }));
        }
        None
    }

    /// Merge VT-d ITE / ICE into the pending event.
    fn vtd_pending(&mut self, ite: bool, ice: bool, sid: Option<u64>) {
        let (mut i, mut c, mut isid, mut csid) = match self.pending {
            Some(Pending::Vtd {
                ite,
                ice,
                ite_sid,
                ice_sid,
            }) => (ite, ice, ite_sid, ice_sid),
            _ => (false, false, None, None),
        };
        if ite {
            i = true;
            isid = isid.or(sid);
        }
        if ice {
            c = true;
            csid = csid.or(sid);
        }
        self.pending = Some(Pending::Vtd {
            ite: i,
            ice: c,
            ite_sid: isid,
            ice_sid: csid,
        });
    }

    fn smmu_cerror(&mut self, line_no: usize, rest: &str) -> Result<Option<Pasted>, PasteError> {
        self.want(ArchId::Smmuv3, "an SMMUv3 CMDQ error line")?;
        let cons = leading_hex(rest).ok_or(PasteError::BadNumber("the CONS value"))?;
        let reason = after(rest, "):").map(str::trim).unwrap_or("");
        // CMDQ_CONS.ERR is bits [30:24] (IHI0070 §6.3.27).
        let err = (cons >> 24) & 0x7f;
        let name = match err {
            0 => "CERROR_NONE",
            1 => "CERROR_ILL: the command at CONS is illegal",
            2 => "CERROR_ABT: abort fetching the command at CONS",
            3 => "CERROR_ATC_INV_SYNC: an ATC invalidation timed out; CONS is at its CMD_SYNC",
            _ => "an unknown CERROR",
        };
        let text = format!(
            "kernel: CMDQ error \"{reason}\", CMDQ_CONS {cons:#010x}: ERR = {err} ({name})"
        );
        match err {
            0 | 3 => {
                let kind = if err == 0 {
                    "CERROR_NONE"
                } else {
                    "CERROR_ATC_INV_SYNC"
                };
                self.event_now(line_no, text, kind, explain_smmu(kind, cons));
            }
            2 => {
                self.flush_event();
                self.note(line_no, text);
                self.pending = Some(Pending::SmmuAbt { cons });
            }
            _ => {
                // CERROR_ILL, and unknown codes (the driver dumps those too).
                self.refused = err == 1;
                self.needs_command = true;
                self.note(line_no, text);
            }
        }
        Ok(None)
    }

    fn vtd_qi(
        &mut self,
        line_no: usize,
        what: &'static str,
        rest: &str,
    ) -> Result<Option<Pasted>, PasteError> {
        self.want(ArchId::Vtd, "a VT-d invalidation queue dump")?;
        let type_name = rest.split(" qw0").next().unwrap_or("").trim();
        let qw0 = after(rest, "qw0 =")
            .and_then(|t| leading_hex(t.trim_start()))
            .ok_or(PasteError::BadNumber("qw0"))?;
        let qw1 = after(rest, "qw1 =")
            .and_then(|t| leading_hex(t.trim_start()))
            .ok_or(PasteError::BadNumber("qw1"))?;
        let qw2 = after(rest, "qw2 =").and_then(|t| leading_hex(t.trim_start()));
        let qw3 = after(rest, "qw3 =").and_then(|t| leading_hex(t.trim_start()));
        let head = what == "QI HEAD";
        let role = if head {
            "the descriptor at IQH (for an IQE, the one the hardware refused)"
        } else {
            "the descriptor before IQH"
        };
        self.note(line_no, format!("kernel: {what} ({type_name}): {role}"));
        if !head {
            // A PRIOR descriptor was fetched and executed; an IQE noted
            // before belongs to the head.
            self.refused = false;
        }
        Ok(Some(self.vtd_emit(line_no, [qw0, qw1], qw2.zip(qw3))))
    }

    fn vtd_old(&mut self, line_no: usize, rest: &str) -> Result<Option<Pasted>, PasteError> {
        self.want(ArchId::Vtd, "a VT-d invalidation queue dump")?;
        // 5.0-5.12: "qw0 = %llx, qw1 = %llx"; earlier: "low=%llx, high=%llx".
        let (lo, hi) = if rest.contains("qw0") {
            (
                after(rest, "qw0 =").and_then(|t| leading_hex(t.trim_start())),
                after(rest, "qw1 =").and_then(|t| leading_hex(t.trim_start())),
            )
        } else {
            (
                after(rest, "low=").and_then(leading_hex),
                after(rest, "high=").and_then(leading_hex),
            )
        };
        let lo = lo.ok_or(PasteError::BadNumber("the low word"))?;
        let hi = hi.ok_or(PasteError::BadNumber("the high word"))?;
        self.note(
            line_no,
            "kernel: VT-d detected invalid descriptor (FSTS.IQE): the descriptor at IQH".into(),
        );
        self.refused = true;
        Ok(Some(self.vtd_emit(line_no, [lo, hi], None)))
    }

    /// A VT-d descriptor from its low two words (and qw2/qw3 if printed).
    fn vtd_emit(&mut self, line_no: usize, low: [u64; 2], high: Option<(u64, u64)>) -> Pasted {
        let mut w = [low[0], low[1], 0, 0];
        if self.words == 4 {
            match high {
                Some((a, b)) => {
                    w[2] = a;
                    w[3] = b;
                }
                None => self.note(
                    line_no,
                    "kernel: qw2 and qw3 are not printed; taken as 0".into(),
                ),
            }
        } else if let Some((a, b)) = high {
            if a | b != 0 {
                self.note(
                    line_no,
                    format!("qw2 = {a:#x}, qw3 = {b:#x} ignored: --desc-width is 128"),
                );
            }
        }
        self.emit(w, self.words, line_no)
    }

    /// QEMU forms; `None` when the line is none of them.
    fn qemu(&mut self, line_no: usize, s: &str) -> Option<Result<Option<Pasted>, PasteError>> {
        // vtd_inv_desc: "invalidate desc type %s high 0x%x low 0x%x"
        if let Some(rest) = after(s, "invalidate desc type ") {
            return Some(self.qemu_pair(line_no, rest, " high 0x", " low 0x", || {
                let ty = rest.split(" high").next().unwrap_or("").trim();
                format!("qemu: vtd_inv_desc, type {ty}")
            }));
        }
        // vtd_inv_desc_wait_write_fail: "write fail for wait desc hi 0x%x lo 0x%x"
        if let Some(rest) = after(s, "write fail for wait desc") {
            return Some(self.qemu_pair(line_no, rest, " hi 0x", " lo 0x", || {
                "qemu: the status write of this wait descriptor failed".into()
            }));
        }
        // 256-bit reserved-bit report, highest word first.
        if let Some(rest) = after(s, " desc val[3]: ") {
            return Some(self.qemu_val4(line_no, s, rest));
        }
        // error_report: "<func>: invalid <kind> inv desc: hi=[0x]%x, lo=[0x]%x (why)"
        if s.contains("inv desc") || s.contains(" desc: hi=") {
            if let Some(rest) = after(s, "hi=") {
                let why = s.rsplit_once('(').map(|(_, w)| w.trim_end_matches(')'));
                let head = s.split(": hi=").next().unwrap_or("").trim();
                let msg = match why {
                    Some(w) => format!("qemu: {head} ({w})"),
                    None => format!("qemu: {head}"),
                };
                return Some(self.qemu_pair(line_no, rest, "", "lo=", || msg));
            }
        }
        None
    }

    fn qemu_pair(
        &mut self,
        line_no: usize,
        rest: &str,
        hi_key: &str,
        lo_key: &str,
        ctx: impl FnOnce() -> String,
    ) -> Result<Option<Pasted>, PasteError> {
        self.want(ArchId::Vtd, "a QEMU intel-iommu line")?;
        let hi = if hi_key.is_empty() {
            leading_hex(rest)
        } else {
            after(rest, hi_key).and_then(leading_hex)
        }
        .ok_or(PasteError::BadNumber("the high word"))?;
        let lo = after(rest, lo_key)
            .and_then(leading_hex)
            .ok_or(PasteError::BadNumber("the low word"))?;
        let c = ctx();
        let refused = c.contains("invalid");
        self.note(line_no, c);
        self.refused |= refused;
        if self.words == 4 {
            self.note(
                line_no,
                "qemu: only the low two words are printed; the others taken as 0".into(),
            );
        }
        Ok(Some(self.emit([lo, hi, 0, 0], self.words, line_no)))
    }

    fn qemu_val4(
        &mut self,
        line_no: usize,
        s: &str,
        rest: &str,
    ) -> Result<Option<Pasted>, PasteError> {
        self.want(ArchId::Vtd, "a QEMU intel-iommu line")?;
        let v3 = leading_hex(rest);
        let v2 = after(rest, "val[2]: ").and_then(leading_hex);
        let v1 = after(rest, "val[1]=").and_then(leading_hex);
        let v0 = after(rest, "val[0]=").and_then(leading_hex);
        let (Some(v0), Some(v1), Some(v2), Some(v3)) = (v0, v1, v2, v3) else {
            return Err(PasteError::BadNumber("val[0..3]"));
        };
        let head = s.split(" desc val[3]").next().unwrap_or("").trim();
        self.note(
            line_no,
            format!("qemu: {head} desc (reserved bits nonzero)"),
        );
        self.refused = true;
        if self.words == 2 && v2 | v3 != 0 {
            self.note(
                line_no,
                format!("val[2] = {v2:#x}, val[3] = {v3:#x} ignored: --desc-width is 128"),
            );
        }
        Ok(Some(self.emit([v0, v1, v2, v3], self.words, line_no)))
    }
}

/// `#` starts a comment only where it cannot be part of a log line (the AMD
/// `gid=#%x` format has one): a `#` preceded by whitespace or at the start.
fn strip_comment_safe(line: &str) -> &str {
    let t = strip_comment(line);
    if t.len() == line.len() {
        return line;
    }
    let ok = t.is_empty() || t.ends_with(char::is_whitespace);
    if ok {
        t
    } else {
        line
    }
}

/// The VT-d fault interrupt's line (`dmar_fault`): the FSTS value in hex.
const DRHD: &str = "DRHD: handling fault status reg";

/// Kernel lines of an IOMMU driver this parser knows (after the prefixes).
fn is_kernel_line(s: &str) -> bool {
    const KEYS: [&str; 15] = [
        "CMDQ error (cons ",
        "skipping command in error state",
        "retrying command fetch",
        "failed to convert to CMD_SYNC",
        "unexpected global error reported",
        "QI HEAD:",
        "QI PRIOR:",
        "VT-d detected",
        "Invalidation Queue Error (IQE) cleared",
        "Invalidation Time-out Error (ITE) cleared",
        "Invalidation Completion Error (ICE) cleared",
        DRHD,
        "Event logged [",
        "ILLEGAL_COMMAND_ERROR",
        "Completion-Wait loop timed out",
    ];
    amd_dword(s).is_some()
        || s.trim() == "this could be serious"
        || KEYS.iter().any(|k| s.contains(k))
}

/// QEMU intel-iommu lines this parser knows (after the prefixes).
fn is_qemu_line(s: &str) -> bool {
    s.contains("invalidate desc type ")
        || s.contains("write fail for wait desc")
        || s.contains(" desc val[3]: ")
        || ((s.contains("inv desc") || s.contains(" desc: hi=")) && s.contains("hi="))
}

/// A line that starts with a log's prefix: a dmesg timestamp or caller id
/// (`[  12.345678]`), a `<N>` priority, a syslog / journald `... kernel: `,
/// or QEMU's `pid@seconds:` trace prefix.
fn has_log_prefix(line: &str) -> bool {
    let t = line.trim_start();
    strip_prefixes(line).len() < t.len()
}

/// A line that starts like hex words (its first word parses): a typo in a
/// command, not an unrelated log line.
fn looks_like_words(line: &str) -> bool {
    let t = strip_comment(line).trim();
    let first = t
        .split(|c: char| c == ',' || c.is_whitespace())
        .next()
        .unwrap_or("");
    !first.is_empty() && super::text::parse_hex_word(first, 0).is_ok()
}

/// SMMUv3 queue position from CMDQ_CONS (IHI0070 §6.3.27: RD in [19:0],
/// the index in its low log2(entries) bits and the wrap bit above them).
fn smmu_position(cons: u64) -> String {
    if cons == u64::MAX {
        return "the CMDQ error line before it gives CMDQ_CONS, the queue position".into();
    }
    format!(
        "CMDQ_CONS {cons:#010x}: RD = {:#x} (the entry index in its low log2(entries) bits, \
         the wrap bit above them); `--raw DUMP --index {cons:#010x}` decodes that entry of a \
         dump of the queue",
        cons & 0xf_ffff
    )
}

/// (kind, explanation) of an SMMUv3 CMDQ error that prints no command.
fn explain_smmu(kind: &'static str, cons: u64) -> String {
    let pos = smmu_position(cons);
    match kind {
        "CERROR_ABT" => format!(
            "no command is printed: the SMMU could not read the command at CONS (an external \
             abort on the fetch of the queue entry, so there are no words to show). The driver \
             logs \"retrying command fetch\" and acknowledges the error, and the SMMU fetches the \
             entry again; a queue whose memory stays unreadable fails the same way. {pos}"
        ),
        "CERROR_ATC_INV_SYNC" => format!(
            "no command is printed: the CMD_SYNC at CONS could not complete because a CMD_ATC_INV \
             before it got no answer from the device (an ATS invalidation time-out, IHI0070 \
             §3.9.1.4; the SMMU does not say which CMD_ATC_INV). The driver leaves the queue as \
             it is: once the error is acknowledged the SMMU runs that CMD_SYNC again, which \
             fails again while the invalidation is still outstanding. {pos}"
        ),
        _ => format!("CMDQ_CONS.ERR reports no error; the driver does nothing more. {pos}"),
    }
}

/// (kind, explanation) of an event that ended without a command.
fn explain_pending(p: Pending) -> (&'static str, String) {
    match p {
        Pending::SmmuAbt { cons } => ("CERROR_ABT", explain_smmu("CERROR_ABT", cons)),
        Pending::Vtd {
            ite,
            ice,
            ite_sid,
            ice_sid,
        } => {
            let sid = |s: Option<u64>| match s {
                Some(v) => format!(
                    " (source-id {v:#06x}, {:02x}:{:02x}.{})",
                    v >> 8,
                    (v >> 3) & 0x1f,
                    v & 7
                ),
                None => String::new(),
            };
            let mut parts = Vec::new();
            if ite {
                parts.push(format!(
                    "FSTS.ITE: a device-TLB invalidation (dev_tlb_inv_dsc or p_dev_tlb_inv_dsc) got \
                     no completion from the device in time{}. The hardware aborts the pending \
                     inv_wait_dsc (their status is never written) and fetches no descriptor until \
                     ITE is cleared. The driver clears ITE, marks the waits of its pending \
                     submissions aborted and submits them again, or gives up (-ETIMEDOUT) when the \
                     device is gone",
                    sid(ite_sid)
                ));
            }
            if ice {
                parts.push(format!(
                    "FSTS.ICE: the hardware received a device-TLB invalidation completion it did \
                     not expect (a bad ITag){}; no descriptor is refused and \
                     the driver clears ICE and goes on waiting",
                    sid(ice_sid)
                ));
            }
            let kind = match (ite, ice) {
                (true, true) => "FSTS.ITE+ICE",
                (true, false) => "FSTS.ITE",
                _ => "FSTS.ICE",
            };
            (
                kind,
                format!(
                    "no command is printed: {}. The queue position is IQH; Linux 5.13 and later \
                     print the descriptors there (QI HEAD, QI PRIOR), older kernels do not",
                    parts.join("; ")
                ),
            )
        }
    }
}

/// (kind, explanation) of an AMD-Vi event without a command dump.
fn explain_amd(key: &str, detail: &str) -> (&'static str, String) {
    let addr = after(detail, "address=").and_then(leading_hex);
    let at = |a: Option<u64>| match a {
        Some(a) => format!(
            "the event's address {a:#x} is that command's entry in the command buffer (minus \
             the buffer's base it is the --offset of the command in a --raw dump)"
        ),
        None => "the event's address is that command's entry in the command buffer".into(),
    };
    match key {
        "IOTLB_INV_TIMEOUT" => (
            "IOTLB_INV_TIMEOUT",
            format!(
                "no command is printed: the device did not complete the ATS invalidation an \
                 INVALIDATE_IOTLB_PAGES sent it; {}. The command buffer does not stop: the \
                 IOMMU goes on with the next command, and the driver only logs the event (a \
                 COMPLETION_WAIT behind it can time out: \"Completion-Wait loop timed out\")",
                at(addr)
            ),
        ),
        "COMMAND_HARDWARE_ERROR" => (
            "COMMAND_HARDWARE_ERROR",
            format!(
                "no command is printed: the IOMMU could not read the command (or write a \
                 COMPLETION_WAIT's store) because of a hardware error; {}. The command buffer \
                 stops with its head there; the driver only logs the event",
                at(addr)
            ),
        ),
        _ => (
            "Completion-Wait time-out",
            "no command is printed: the driver waited for a COMPLETION_WAIT's store and gave up \
             (wait_on_sem returns -EIO): a command before it did not complete, or the command \
             buffer stopped. An event logged with it (IOTLB_INV_TIMEOUT, ILLEGAL_COMMAND_ERROR, \
             COMMAND_HARDWARE_ERROR) names the command"
                .into(),
        ),
    }
}

/// The text after the first occurrence of `key`.
fn after<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    s.find(key).and_then(|i| s.get(i + key.len()..))
}

/// A hex number at the start of `s` (`0x` optional, at most 16 digits).
fn leading_hex(s: &str) -> Option<u64> {
    let t = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let end = t.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(t.len());
    let digits = t.get(..end)?;
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// A line that is only `0x` + hex digits after its prefixes (the SMMU
/// driver's `\t0x%016llx`).
fn bare_word(s: &str) -> Option<u64> {
    let t = s.trim();
    let token = t.rsplit(char::is_whitespace).next()?;
    let before = t.get(..t.len() - token.len())?.trim_end();
    if !(before.is_empty() || before.ends_with(':')) {
        return None;
    }
    let h = token.strip_prefix("0x")?;
    if h.is_empty() || h.len() > 16 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(h, 16).ok()
}

/// `CMD[i]: %08x` → (i, dword).
fn amd_dword(s: &str) -> Option<Result<(u64, u32), PasteError>> {
    let rest = after(s, "CMD[")?;
    let (idx, tail) = rest.split_once(']')?;
    let tail = tail.strip_prefix(':')?.trim();
    let i = idx.trim().parse::<u64>().ok()?;
    let v = tail
        .strip_prefix("0x")
        .unwrap_or(tail)
        .split_whitespace()
        .next()
        .filter(|h| h.len() <= 8 && !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|h| u32::from_str_radix(h, 16).ok());
    Some(
        v.map(|v| (i, v))
            .ok_or(PasteError::BadNumber("the CMD dword")),
    )
}

/// The line without the prefixes logs put in front (see the module doc).
pub fn strip_prefixes(line: &str) -> &str {
    let mut s = line.trim_start();
    // syslog / journald: "... kernel: " or "... qemu-system-x86_64: ".
    if let Some(i) = s.find("kernel: ") {
        s = s.get(i + "kernel: ".len()..).unwrap_or(s);
    }
    loop {
        let t = s.trim_start();
        // <N> priority.
        if let Some(r) = t.strip_prefix('<') {
            if let Some((n, rest)) = r.split_once('>') {
                if !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()) {
                    s = rest;
                    continue;
                }
            }
        }
        // [timestamp] or [caller id].
        if let Some(r) = t.strip_prefix('[') {
            if let Some((inner, rest)) = r.split_once(']') {
                if inner.len() <= 40
                    && inner
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b" .:+-".contains(&b))
                {
                    s = rest;
                    continue;
                }
            }
        }
        // QEMU's log trace backend: "pid@seconds.micros:event args".
        if let Some((pid, rest)) = t.split_once('@') {
            if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                if let Some((ts, ev)) = rest.split_once(':') {
                    if ts.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                        s = ev;
                        continue;
                    }
                }
            }
        }
        return t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(arch: ArchId, words: usize, form: InputForm, text: &str) -> Vec<Result<Pasted, String>> {
        let mut p = Paste::new(arch, words, form);
        let mut v = Vec::new();
        for (i, l) in text.lines().enumerate() {
            if crate::app::text::is_skippable(l) {
                continue;
            }
            let (cut, r) = p.feed(i + 1, l);
            if let Some((n, e)) = cut {
                v.push(Err(format!("{n}: {e}")));
            }
            match r {
                Ok(Some(c)) => v.push(Ok(c)),
                Ok(None) => {}
                Err(e) => v.push(Err(format!("{}: {e}", i + 1))),
            }
        }
        if let Some((n, e)) = p.finish() {
            v.push(Err(format!("{n}: {e}")));
        }
        v
    }

    #[test]
    fn prefixes_are_stripped() {
        for (l, want) in [
            ("[   12.345678] foo", "foo"),
            ("[Thu Dec  3 09:30:01 2026] foo", "foo"),
            ("[    0.000000] [    T1] foo", "foo"),
            ("<3>[   1.0] foo", "foo"),
            ("Dec  3 09:30:01 host kernel: [  1.2] foo", "foo"),
            ("2026-12-03T09:30:01.123+00:00 host kernel: foo", "foo"),
            (
                "12345@1700000000.123456:vtd_inv_desc foo",
                "vtd_inv_desc foo",
            ),
            ("arm-smmu-v3 x: foo", "arm-smmu-v3 x: foo"),
        ] {
            assert_eq!(strip_prefixes(l), want, "{l}");
        }
    }

    #[test]
    fn words_still_work_and_junk_is_refused() {
        let v = run(
            ArchId::Amd,
            2,
            InputForm::Auto,
            "0x8000000000000000,0\nhello\n",
        );
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[0].as_ref().map(|c| c.words().to_vec()),
            Ok(vec![1 << 63, 0])
        );
        let e = v[1].as_ref().unwrap_err();
        assert!(e.starts_with("2: word 0 is not hex"), "{e}");
        // Forced words: a kernel line is the plain text error.
        let v = run(ArchId::Amd, 2, InputForm::Words, "AMD-Vi: CMD[0]: 00000000");
        assert!(v[0].as_ref().unwrap_err().contains("not hex"));
    }

    #[test]
    fn leading_hex_and_bare_words() {
        assert_eq!(leading_hex("0x1f)"), Some(0x1f));
        assert_eq!(leading_hex("ff, x"), Some(0xff));
        assert_eq!(leading_hex("zz"), None);
        assert_eq!(leading_hex("0x11112222333344445"), None);
        assert_eq!(bare_word("dev: \t0x0000000000000012"), Some(0x12));
        assert_eq!(bare_word("0x12"), Some(0x12));
        assert_eq!(bare_word("dev x 0x12"), None);
        assert_eq!(bare_word("dev: 12"), None);
    }

    #[test]
    fn cut_blocks_are_reported() {
        let v = run(
            ArchId::Smmuv3,
            2,
            InputForm::Auto,
            "smmu: skipping command in error state:\nsmmu: \t0x12\nsmmu: hello\n",
        );
        assert!(
            v.iter().any(
                |r| matches!(r, Err(e) if e.starts_with("2: the SMMUv3 command dump ends at line 2, after 1"))
            ),
            "{v:?}"
        );
        let v = run(ArchId::Amd, 2, InputForm::Auto, "CMD[0]: 1\nCMD[2]: 3\n");
        assert!(
            v.iter()
                .any(|r| matches!(r, Err(e) if e.contains("CMD[2] where CMD[1]"))),
            "{v:?}"
        );
        let v = run(ArchId::Amd, 2, InputForm::Auto, "CMD[0]: 1\nCMD[1]: 3\n");
        assert!(
            v.iter()
                .any(|r| matches!(r, Err(e) if e.contains("after 2 of the 4"))),
            "{v:?}"
        );
        let v = run(ArchId::Amd, 2, InputForm::Auto, "CMD[0]: 1\n0,0\n");
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[1].is_ok(), "{v:?}");
    }

    #[test]
    fn other_architectures_lines_are_named() {
        let v = run(
            ArchId::Vtd,
            2,
            InputForm::Auto,
            "arm-smmu-v3 arm-smmu-v3.0.auto: CMDQ error (cons 0x01000003): Illegal command",
        );
        let e = v[0].as_ref().unwrap_err();
        assert!(e.contains("SMMUv3") && e.contains("vtd"), "{e}");
        let v = run(
            ArchId::Vtd,
            2,
            InputForm::Qemu,
            "DMAR: QI HEAD: IOTLB Invalidation qw0 = 0x12, qw1 = 0x0",
        );
        assert!(v[0].as_ref().unwrap_err().contains("QEMU"), "{v:?}");
    }

    #[test]
    fn every_prefix_of_every_form_is_handled() {
        let lines = [
            "[  1.0] arm-smmu-v3 x: CMDQ error (cons 0x01000003): Illegal command",
            "arm-smmu-v3 x: skipping command in error state:",
            "arm-smmu-v3 x: \t0x0000000000000012",
            "DMAR: QI HEAD: IOTLB Invalidation qw0 = 0x12, qw1 = 0x0, qw2 = 0x1, qw3 = 0x2",
            "DMAR: VT-d detected invalid descriptor: low=12, high=0",
            "DMAR: VT-d detected Invalidation Queue Error: Reason 4",
            "AMD-Vi: Event logged [ILLEGAL_COMMAND_ERROR address=0x1000]",
            "AMD-Vi: CMD[0]: 00000010",
            "1@2.3:vtd_inv_desc invalidate desc type iotlb high 0x0 low 0x12",
            "q: f: invalid inv desc: hi=0, lo=ff (unknown type)",
            "q: f: invalid iotlb desc val[3]: 0x4 val[2]: 0x3 val[1]=0x1000 val[0]=0x10012 (r)",
        ];
        for arch in ArchId::ALL {
            // VT-d takes 2 or 4 words; the others always 2.
            let widths: &[usize] = if arch == ArchId::Vtd { &[2, 4] } else { &[2] };
            for &words in widths {
                for form in [InputForm::Auto, InputForm::Kernel, InputForm::Qemu] {
                    let mut p = Paste::new(arch, words, form);
                    for (n, l) in lines.iter().enumerate() {
                        for (i, _) in l.char_indices() {
                            let (_, r) = p.feed(n + 1, &l[..i]);
                            if let Ok(Some(c)) = r {
                                assert_eq!(c.words().len(), words);
                            }
                        }
                        let _ = p.feed(n + 1, l);
                    }
                    let _ = p.finish();
                }
            }
        }
    }
}

/// The module documentation's example, as a test (a binary has no doc tests).
#[cfg(test)]
mod example {
    use super::*;

    #[test]
    fn module_example() {
        use iommu_inval::core::ArchId;
        let mut p = Paste::new(ArchId::Amd, 2, InputForm::Auto);
        let lines = [
            "[  5.1] iommu ivhd0: AMD-Vi: Event logged [ILLEGAL_COMMAND_ERROR address=0x1000]",
            "[  5.1] AMD-Vi: CMD[0]: 00000000",
            "[  5.1] AMD-Vi: CMD[1]: f0000000",
            "[  5.1] AMD-Vi: CMD[2]: 00000000",
            "[  5.1] AMD-Vi: CMD[3]: 00000000",
        ];
        let mut got = None;
        for (i, l) in lines.iter().enumerate() {
            let (cut, r) = p.feed(i + 1, l);
            assert!(cut.is_none());
            if let Some(c) = r.unwrap() {
                got = Some(c);
            }
        }
        let c = got.unwrap();
        assert_eq!(c.words(), &[0xf000_0000_0000_0000, 0]);
        assert_eq!(c.line, 2);
        assert!(c.context[0].contains("ILLEGAL_COMMAND_ERROR"));
    }
}
