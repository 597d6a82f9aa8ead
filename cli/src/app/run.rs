//! The subcommands, over readers and writers (the binary only parses
//! arguments and opens files).
//!
//! Exit status ([`Status`]): 0 everything translated; 1 some command or
//! object was invalid, had no equivalent, or (never expected) under-
//! invalidated; 2 a usage error or input that is not text of the expected
//! form (not hex words, a line over 64 KiB, invalid UTF-8, a raw dump
//! that ends inside a command). Processing always goes on with the next
//! input; the status is the worst seen.

use super::explain::{widened_list, Explanation};
use super::generic::{op_to_json, parse_op_value};
use super::human::{write_fields, write_native_note, write_ops, FIELDS_WIDTH};
use super::json::{
    command_to_json, decode_error_json_in, describe_decode_error_in, error_json, json_error_kind,
    parse_native_value,
};
use super::jsonval::{parse_line, JsonError};
use super::paste::{InputForm, Item, Paste};
use super::text::{format_native, is_skippable, parse_hex_bytes, LineReader};
use iommu_inval::core::Flags;
use iommu_inval::core::{ArchId, Context, LowerError, Op, Outcome};
use iommu_inval::{AnyCommand, Arch, ArchOps, DecodeCheck, NativeAny};
use serde_json::{json, Map, Value};
use std::fmt;
use std::io::{self, BufRead, Read, Write};

/// The worst outcome so far: 0 ok, 1 invalid input item, 2 text/usage error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Status(pub u8);

impl Status {
    /// Record an outcome.
    pub fn note(&mut self, code: u8) {
        self.0 = self.0.max(code);
    }
}

/// Where an input item came from (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    /// Command-line argument (1-based).
    Arg(usize),
    /// Input line (1-based).
    Line(usize),
    /// Command `index` (0-based) of a raw dump, at byte `offset` of the file.
    Raw {
        /// Command index.
        index: u64,
        /// Byte offset in the file.
        offset: u64,
    },
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::Arg(n) => write!(f, "argument {n}"),
            Loc::Line(n) => write!(f, "line {n}"),
            Loc::Raw { index, offset } => write!(f, "command {index} (byte {offset:#x})"),
        }
    }
}

/// Where input comes from.
pub enum Source<'a> {
    /// One item per command-line argument.
    Args(&'a [String]),
    /// One item per line (blank and `#` lines skipped).
    Lines(Box<dyn BufRead + 'a>),
    /// A binary dump of little-endian words (native commands only), from
    /// byte `offset` of the file (the reader is already positioned there),
    /// at most `count` commands.
    Raw {
        /// The dump, positioned at `offset`.
        reader: Box<dyn Read + 'a>,
        /// File offset of the first command (for messages).
        offset: u64,
        /// Commands to read at most.
        count: Option<u64>,
    },
}

/// Output streams and the running status.
pub struct Io<'a> {
    /// Results.
    pub out: &'a mut dyn Write,
    /// Messages.
    pub err: &'a mut dyn Write,
    /// Worst status so far.
    pub status: Status,
}

impl Io<'_> {
    /// A message on stderr, with the status it implies.
    pub fn complain(&mut self, code: u8, loc: Loc, msg: &dyn fmt::Display) -> io::Result<()> {
        self.status.note(code);
        writeln!(self.err, "iommu-inval: {loc}: {msg}")
    }
    fn line(&mut self, v: &Value) -> io::Result<()> {
        writeln!(self.out, "{v}")
    }
    /// An input item refused (status 1): with `--json` its error object on
    /// stdout, else `text` on stderr.
    pub(crate) fn refuse(
        &mut self,
        opts: Opts,
        loc: Loc,
        json: impl FnOnce() -> Value,
        text: impl FnOnce() -> String,
    ) -> io::Result<()> {
        if opts.json {
            self.status.note(1);
            self.line(&json())
        } else {
            self.complain(1, loc, &text())
        }
    }
    /// The `#   => …` line of `--explain`: `notes` (each after `; `), or
    /// "nothing to do".
    pub(crate) fn verdict_line(&mut self, notes: &str) -> io::Result<()> {
        let s = notes.trim_start_matches("; ");
        writeln!(
            self.out,
            "#   => {}",
            if s.is_empty() { "nothing to do" } else { s }
        )
    }
}

/// Calls `f` for each text item (argument or non-skipped line). Lines that
/// are too long or not UTF-8 are reported (status 2) and skipped.
fn for_each_text(
    src: Source<'_>,
    io: &mut Io<'_>,
    mut f: impl FnMut(&mut Io<'_>, Loc, &str) -> io::Result<()>,
) -> io::Result<()> {
    let mut seen = false;
    let mut f = |io: &mut Io<'_>, loc: Loc, s: &str| {
        seen = true;
        f(io, loc, s)
    };
    match src {
        Source::Args(args) => {
            for (i, a) in args.iter().enumerate() {
                f(io, Loc::Arg(i + 1), a)?;
            }
        }
        Source::Lines(r) => {
            let mut lr = LineReader::new(r);
            loop {
                // `next_line` counts one line per item it returns.
                let loc = Loc::Line(lr.line_no() + 1);
                let Some(line) = lr.next_line()? else { break };
                match line {
                    Ok(l) if is_skippable(l) => {}
                    Ok(l) => f(io, loc, l)?,
                    Err(e) => io.complain(2, loc, &e)?,
                }
            }
        }
        Source::Raw { .. } => {
            io.status.note(2);
            return writeln!(io.err, "iommu-inval: --raw is for native commands only");
        }
    }
    no_input(io, seen)
}

/// An input without a single item (and no other error) is a usage error:
/// there was nothing to translate.
pub(crate) fn no_input(io: &mut Io<'_>, seen: bool) -> io::Result<()> {
    if !seen && io.status.0 == 0 {
        io.status.note(2);
        writeln!(
            io.err,
            "iommu-inval: no input: give commands as arguments, on stdin, or with --raw"
        )?;
    }
    Ok(())
}

/// What the log said around a pasted command ([`super::paste`]): context
/// lines, and whether it says the hardware refused this command.
#[derive(Debug, Clone, Copy, Default)]
pub struct Note<'a> {
    /// Context lines, in input order.
    pub context: &'a [String],
    /// The log says the hardware refused this very command.
    pub refused: bool,
}

/// Where the queue events of a pasted log that carry no command
/// ([`super::paste::Event`]) are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventOut {
    /// `#` lines on stdout (decode, and `--explain`).
    Text,
    /// One JSON object on stdout.
    Json,
    /// A note on stderr (the output stays words or generic JSON).
    Stderr,
}

impl EventOut {
    /// Decode shows events in its output; lift and convert with `--explain`.
    pub(crate) fn of(opts: Opts, decode: bool) -> Self {
        match (decode || opts.explain, opts.json) {
            (true, true) => EventOut::Json,
            (true, false) => EventOut::Text,
            (false, _) => EventOut::Stderr,
        }
    }
}

/// Print an event without a command (exit status unchanged: the log is
/// complete, the hardware just printed no command for it).
fn write_event(
    io: &mut Io<'_>,
    how: EventOut,
    arch: ArchId,
    loc: Loc,
    e: &super::paste::Event,
) -> io::Result<()> {
    match how {
        EventOut::Text => {
            for c in &e.context {
                writeln!(io.out, "# {c}")?;
            }
            writeln!(io.out, "#   => {}: {}", e.kind, e.explanation)
        }
        EventOut::Json => io.line(&json!({
            "arch": arch.name(),
            "event": e.kind,
            "context": e.context,
            "explanation": e.explanation,
        })),
        EventOut::Stderr => writeln!(io.err, "iommu-inval: {loc}: {}: {}", e.kind, e.explanation),
    }
}

/// Calls `f` with each decoded command of `src`, its words and the log
/// context that came with it: the common front of the subcommands that
/// translate native input. Events without a command go to stderr; with
/// `--explain` (text) the context is echoed as `#` lines; a command the
/// emulated IOMMU refuses is reported ([`decode_failure`]) and skipped.
pub(crate) fn for_each_command(
    n: Native<'_>,
    io: &mut Io<'_>,
    mut f: impl FnMut(&mut Io<'_>, Loc, &[u64], Note<'_>, NativeAny) -> io::Result<()>,
) -> io::Result<()> {
    let (arch, opts) = (n.arch, n.opts);
    let ev = EventOut::of(opts, false);
    for_each_native(
        n.src,
        n.words,
        arch.id(),
        opts.input,
        ev,
        io,
        |io, loc, w, note| {
            if opts.explain && !opts.json {
                write_context(io, note)?;
            }
            match dec(arch, opts, w) {
                Ok(cmd) => f(io, loc, w, note, cmd),
                Err(e) => decode_failure(arch, opts, io, loc, w, &e),
            }
        },
    )
}

/// Calls `f` for each native command's words. Text that is no accepted
/// form ([`Opts::input`]) is reported (status 2) and skipped; events
/// without a command are shown as `ev` says.
pub(crate) fn for_each_native(
    src: Source<'_>,
    words: usize,
    arch: ArchId,
    form: InputForm,
    ev: EventOut,
    io: &mut Io<'_>,
    mut f: impl FnMut(&mut Io<'_>, Loc, &[u64], Note<'_>) -> io::Result<()>,
) -> io::Result<()> {
    if arch == ArchId::VirtioIommu {
        return for_each_virtio(src, io, f);
    }
    match src {
        Source::Raw {
            mut reader,
            offset,
            count,
        } => {
            let size = words * 8;
            let mut buf = [0u8; 32];
            let mut index = 0u64;
            if count == Some(0) {
                return Ok(());
            }
            while count.is_none_or(|c| index < c) {
                let chunk = buf.get_mut(..size).unwrap_or(&mut []);
                let got = read_full(&mut reader, chunk)?;
                let loc = Loc::Raw {
                    index,
                    offset: offset.saturating_add(index.saturating_mul(size as u64)),
                };
                if got == 0 {
                    break;
                }
                if got < size {
                    let msg = format!("dump ends {got} bytes into a {size}-byte command");
                    io.complain(2, loc, &msg)?;
                    break;
                }
                let mut w = [0u64; 4];
                let n = le_words(chunk, &mut w);
                f(io, loc, w.get(..n).unwrap_or(&[]), Note::default())?;
                index += 1;
            }
            if index == 0 && offset > 0 && io.status.0 == 0 {
                io.status.note(2);
                return writeln!(
                    io.err,
                    "iommu-inval: --offset {offset:#x} is at or past the end of the dump"
                );
            }
            no_input(io, index > 0)
        }
        other => {
            let mut p = Paste::new(arch, words, form);
            let args = matches!(other, Source::Args(_));
            let loc_of = |n: usize| if args { Loc::Arg(n) } else { Loc::Line(n) };
            let drain = |io: &mut Io<'_>, p: &mut Paste| -> io::Result<()> {
                while let Some(item) = p.take() {
                    match item {
                        Item::Error(n, e) => io.complain(2, loc_of(n), &e)?,
                        Item::Event(e) => write_event(io, ev, arch, loc_of(e.line), &e)?,
                    }
                }
                Ok(())
            };
            for_each_text(other, io, |io, loc, line| {
                let n = match loc {
                    Loc::Arg(n) | Loc::Line(n) => n,
                    Loc::Raw { index, .. } => index as usize,
                };
                let (cut, r) = p.feed(n, line);
                if let Some((start, e)) = cut {
                    io.complain(2, loc_of(start), &e)?;
                }
                drain(io, &mut p)?;
                match r {
                    Ok(Some(c)) => f(
                        io,
                        loc_of(c.line),
                        c.words(),
                        Note {
                            context: &c.context,
                            refused: c.refused,
                        },
                    ),
                    Ok(None) => Ok(()),
                    Err(e) => io.complain(2, loc_of(n), &e),
                }
            })?;
            if let Some((start, e)) = p.finish() {
                io.complain(2, loc_of(start), &e)?;
            }
            drain(io, &mut p)?;
            if p.skipped() > 0 {
                writeln!(
                    io.err,
                    "iommu-inval: skipped {} line(s) of the log that belong to no IOMMU \
                     command dump",
                    p.skipped()
                )?;
            }
            Ok(())
        }
    }
}

/// [`for_each_native`] of virtio-iommu requests: one request's readable
/// bytes in hex per line, or (`--raw`) a buffer of requests back to back,
/// each as long as its type says. A request of another length than its
/// type's is refused as the device refuses it (`bad_length`, in bytes).
fn for_each_virtio(
    src: Source<'_>,
    io: &mut Io<'_>,
    mut f: impl FnMut(&mut Io<'_>, Loc, &[u64], Note<'_>) -> io::Result<()>,
) -> io::Result<()> {
    use iommu_inval::virtio::{len_of_type, MAX_BYTES, MAX_WORDS};
    let words_of = |b: &[u8]| {
        let mut w = [0u64; MAX_WORDS];
        let n = le_words(b, &mut w);
        (w, n)
    };
    match src {
        Source::Raw {
            mut reader,
            offset,
            count,
        } => {
            let (mut index, mut at) = (0u64, offset);
            while count.is_none_or(|c| index < c) {
                let loc = Loc::Raw { index, offset: at };
                let mut buf = [0u8; MAX_BYTES];
                let got = read_full(&mut reader, &mut buf[..1])?;
                if got == 0 {
                    break;
                }
                let Some(len) = len_of_type(buf[0]) else {
                    let msg = format!("unknown virtio-iommu request type {}: the rest of the buffer has no framing", buf[0]);
                    io.complain(2, loc, &msg)?;
                    break;
                };
                let got = 1 + read_full(&mut reader, &mut buf[1..len])?;
                if got < len {
                    let msg = format!("buffer ends {got} bytes into a {len}-byte request");
                    io.complain(2, loc, &msg)?;
                    break;
                }
                let (w, n) = words_of(&buf[..len]);
                f(io, loc, &w[..n], Note::default())?;
                index += 1;
                at = at.saturating_add(len as u64);
            }
            no_input(io, index > 0)
        }
        other => for_each_text(other, io, |io, loc, line| match parse_hex_bytes(line) {
            Err(e) => io.complain(2, loc, &e),
            Ok(b) => match b.first().and_then(|&t| len_of_type(t)) {
                Some(len) if len == b.len() => {
                    let (w, n) = words_of(&b);
                    f(io, loc, &w[..n], Note::default())
                }
                Some(len) => {
                    let msg = format!(
                        "bad_length: a {}-byte request; type {} has {len} bytes",
                        b.len(),
                        b[0]
                    );
                    io.complain(2, loc, &msg)
                }
                None => io.complain(2, loc, &format!("unknown_opcode: request type {}", b[0])),
            },
        }),
    }
}

/// `b` as little-endian 64-bit words in `out` (a short last word
/// zero-padded); returns the words written.
fn le_words(b: &[u8], out: &mut [u64]) -> usize {
    let mut n = 0;
    for (slot, c) in out.iter_mut().zip(b.chunks(8)) {
        let mut a = [0u8; 8];
        a[..c.len()].copy_from_slice(c);
        *slot = u64::from_le_bytes(a);
        n += 1;
    }
    n
}

/// Read until `buf` is full or end of input; returns the bytes read.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(buf.get_mut(got..).unwrap_or(&mut [])) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Options shared by the subcommands.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opts {
    /// JSON output.
    pub json: bool,
    /// Add footprint relations.
    pub explain: bool,
    /// Accepted forms of native-command text (`--input`).
    pub input: InputForm,
    /// The emulated IOMMU that decodes the input (`--caps`; `None`: every
    /// command of the newest revision).
    pub features: Option<iommu_inval::DecodeFeatures>,
}

/// Native-command input, as `decode`, `lift` and `convert` read it.
pub struct Native<'a> {
    /// The architecture the commands are in.
    pub arch: &'a Arch,
    /// 64-bit words a command.
    pub words: usize,
    pub opts: Opts,
    pub src: Source<'a>,
}

/// Decode `w` as the emulated IOMMU of `o` does.
pub(crate) fn dec(
    arch: &Arch,
    o: Opts,
    w: &[u64],
) -> Result<NativeAny, iommu_inval::core::DecodeError> {
    let cmd = arch.decode(w)?;
    if let Some(f) = &o.features {
        f.check(&cmd)?;
    }
    Ok(cmd)
}

fn lift_error_json(arch: &Arch, e: &LowerError) -> Value {
    error_json(arch.id(), e.kind().as_str(), &e.to_string())
}

/// `decode`: one line (or JSON object) per command.
pub fn decode(n: Native<'_>, ctx: &dyn Context, io: &mut Io<'_>) -> io::Result<()> {
    let (arch, opts) = (n.arch, n.opts);
    let op_width = arch
        .op_names()
        .iter()
        .map(|n| n.len())
        .max()
        .unwrap_or(0)
        .max("<invalid>".len());
    let mut ops = Vec::new();
    // Reused for every command: the human form allocates nothing per line.
    let (mut fields, mut meaning) = (String::new(), String::new());
    for_each_native(
        n.src,
        n.words,
        arch.id(),
        opts.input,
        EventOut::of(opts, true),
        io,
        |io, _loc, w, note| {
            let decoded = dec(arch, opts, w);
            let verdict = verdict(arch.id(), note, decoded.as_ref().err());
            if opts.json {
                let mut v = match &decoded {
                    Ok(cmd) => command_to_json(cmd),
                    Err(e) => {
                        io.status.note(1);
                        decode_error_json_in(arch.id(), e, w)
                    }
                };
                context_json_into(&mut v, note, verdict.as_deref());
                return io.line(&v);
            }
            write_context(io, note)?;
            match decoded {
                Ok(cmd) => {
                    ops.clear();
                    meaning.clear();
                    match cmd.lift(ctx, &mut ops) {
                        Ok(o) => {
                            write_ops(&mut meaning, &ops, &o);
                            write_native_note(&mut meaning, &cmd);
                        }
                        Err(e) => {
                            meaning.push_str("cannot lift: ");
                            meaning.push_str(&e.to_string());
                        }
                    }
                    fields.clear();
                    write_fields(&mut fields, &cmd);
                    writeln!(
                        io.out,
                        "{:<op_width$}  {fields:<FIELDS_WIDTH$}  # {meaning}",
                        cmd.op()
                    )?;
                }
                Err(e) => {
                    io.status.note(1);
                    writeln!(
                        io.out,
                        "{:<op_width$}  {:<FIELDS_WIDTH$}  # {}: {}",
                        "<invalid>",
                        format_native(arch.id(), w),
                        e.kind.as_str(),
                        describe_decode_error_in(arch.id(), &e, w)
                    )?;
                }
            }
            if let Some(v) = verdict {
                writeln!(io.out, "#   => {v}")?;
            }
            Ok(())
        },
    )
}

/// The error the architecture raises for an illegal command.
pub const fn illegal_command_error(arch: ArchId) -> &'static str {
    match arch {
        ArchId::Smmuv3 => "CERROR_ILL (CMDQ_CONS.ERR = 1; the queue stops at CONS)",
        ArchId::Vtd => "an invalidation queue error (FSTS.IQE; IQH stays at the descriptor)",
        ArchId::Amd => "ILLEGAL_COMMAND_ERROR (event code 5; the command buffer stops)",
        ArchId::Riscv => "cqcsr.cmd_ill (the command queue stops with cqh at the command)",
        ArchId::VirtioIommu => {
            "the request's status (VIRTIO_IOMMU_S_INVAL, S_UNSUPP, ...; an unknown type or a \
             short request: nothing written, used length 0)"
        }
    }
}

/// For a pasted command with context: what the decoding says about the
/// stop the log reports. `None` without context.
fn verdict(
    arch: ArchId,
    note: Note<'_>,
    err: Option<&iommu_inval::core::DecodeError>,
) -> Option<String> {
    if note.context.is_empty() {
        return None;
    }
    Some(match (err, note.refused) {
        (None, false) => return None,
        (Some(e), _) => format!(
            "invalid per the command tables ({}); the hardware raises {}",
            e.kind.as_str(),
            illegal_command_error(arch)
        ),
        (None, true) => "valid per the command tables: the hardware refused it for state \
                         outside the command (a feature it lacks, or its configuration)"
            .to_owned(),
    })
}

/// `#` lines with the context of a pasted command.
pub(crate) fn write_context(io: &mut Io<'_>, note: Note<'_>) -> io::Result<()> {
    for c in note.context {
        writeln!(io.out, "# {c}")?;
    }
    Ok(())
}

/// Adds `"context"` and `"verdict"` to a JSON object (when there is context).
fn context_json_into(v: &mut Value, note: Note<'_>, verdict: Option<&str>) {
    if note.context.is_empty() {
        return;
    }
    if let Value::Object(m) = v {
        m.insert("context".into(), json!(note.context));
        if let Some(x) = verdict {
            m.insert("verdict".into(), json!(x));
        }
    }
}

/// `encode`: JSON objects of the decode shape to canonical words.
pub fn encode(
    arch: &Arch,
    words: usize,
    opts: Opts,
    src: Source<'_>,
    io: &mut Io<'_>,
) -> io::Result<()> {
    for_each_text(src, io, |io, loc, line| {
        match parse_line(line).and_then(|v| parse_native_value(arch, &v, words)) {
            Ok(cmd) => {
                let (w, n) = cmd.to_words();
                writeln!(
                    io.out,
                    "{}",
                    format_native(arch.id(), w.get(..n).unwrap_or(&[]))
                )
            }
            Err(e) => failure(arch, opts, io, loc, Failure::Json(&e)),
        }
    })
}

/// An input that could not be read as JSON or lowered.
#[derive(Clone, Copy)]
enum Failure<'e> {
    Json(&'e JsonError),
    Lower(&'e LowerError),
}

/// `e` refused at `loc` (status 1): with `--json` its error object for
/// `arch` on stdout (a JSON error's message names the place), else on
/// stderr (a lowering error's with its kind in front).
fn failure(arch: &Arch, opts: Opts, io: &mut Io<'_>, loc: Loc, e: Failure<'_>) -> io::Result<()> {
    match e {
        Failure::Json(e) => io.refuse(
            opts,
            loc,
            || error_json(arch.id(), json_error_kind(e), &format!("{loc}: {e}")),
            || e.to_string(),
        ),
        Failure::Lower(e) => io.refuse(
            opts,
            loc,
            || lift_error_json(arch, e),
            || format!("{}: {e}", e.kind().as_str()),
        ),
    }
}

/// `lift`: native commands to generic JSON Lines.
pub fn lift(n: Native<'_>, ctx: &dyn Context, io: &mut Io<'_>) -> io::Result<()> {
    let (arch, opts) = (n.arch, n.opts);
    let mut ops = Vec::new();
    for_each_command(n, io, |io, loc, w, note, cmd| {
        ops.clear();
        let outcome = match cmd.lift(ctx, &mut ops) {
            Ok(o) => o,
            Err(e) => return failure(arch, opts, io, loc, Failure::Lower(&e)),
        };
        if opts.explain && opts.json {
            let mut m = Map::new();
            let mut input = command_to_json(&cmd);
            context_json_into(&mut input, note, None);
            m.insert("input".into(), input);
            m.insert(
                "ops".into(),
                Value::Array(ops.iter().map(op_to_json).collect()),
            );
            outcome_json_into(&outcome, &mut m);
            return io.line(&Value::Object(m));
        }
        if opts.explain {
            writeln!(
                io.out,
                "# {loc}: {} {}",
                cmd.op(),
                format_native(cmd.arch_id(), w)
            )?;
        }
        for op in &ops {
            io.line(&op_to_json(op))?;
        }
        if opts.explain {
            writeln!(io.out, "#   => {}", outcome_text(&outcome))?;
        }
        Ok(())
    })
}

fn outcome_text(o: &Outcome) -> String {
    let mut s = if o.widened.is_empty() {
        "exact".to_owned()
    } else {
        format!("widened {}", widened_list(o.widened).join(", "))
    };
    if let Some(d) = o.dropped {
        s.push_str(&format!("; {}", dropped_text(d)));
    }
    s
}

/// What the lift and lowering report widening, beyond what the footprint
/// comparison (`relation`) already names: `"; the translation also reports
/// widening: ..."`, or nothing.
pub(crate) fn reported_widening(
    widened: iommu_inval::core::Widened,
    relation: Option<&iommu_inval::core::footprint::Relation>,
) -> String {
    let measured = match relation {
        Some(iommu_inval::core::footprint::Relation::Superset(ex)) => ex.widened,
        _ => iommu_inval::core::Widened::empty(),
    };
    let extra = widened - measured;
    if extra.is_empty() {
        return String::new();
    }
    format!(
        "; the translation also reports widening: {}",
        widened_list(extra).join(", ")
    )
}

/// How every target words what it drops (an invalidation of a cache the
/// target has no form for, a hint), in the `--explain` line: `dropped: WHAT`.
pub(crate) fn dropped_text(what: &str) -> String {
    format!("dropped: {what}")
}

/// The same, as the stderr note of a run without `--explain`.
pub(crate) fn note_dropped(io: &mut Io<'_>, loc: Loc, what: &str) -> io::Result<()> {
    writeln!(io.err, "iommu-inval: {loc}: {}", dropped_text(what))
}

fn outcome_json_into(o: &Outcome, m: &mut Map<String, Value>) {
    m.insert("widened".into(), json!(widened_list(o.widened)));
    m.insert(
        "dropped".into(),
        o.dropped.map_or(Value::Null, |d| json!(d)),
    );
}

/// Decode `w` and lift it into `ops` (cleared first). A failure is reported
/// in the error shape (for `lift` and `convert` alike) and gives `None`.
pub(crate) fn decode_failure(
    arch: &Arch,
    opts: Opts,
    io: &mut Io<'_>,
    loc: Loc,
    w: &[u64],
    e: &iommu_inval::core::DecodeError,
) -> io::Result<()> {
    io.refuse(
        opts,
        loc,
        || decode_error_json_in(arch.id(), e, w),
        || {
            format!(
                "{}: {} ({})",
                e.kind.as_str(),
                describe_decode_error_in(arch.id(), e, w),
                format_native(arch.id(), w)
            )
        },
    )
}

/// What one input became on the target.
struct Translation {
    outputs: Vec<NativeAny>,
    outcome: Outcome,
    errors: Vec<LowerError>,
}

impl Translation {
    fn new() -> Self {
        Translation {
            outputs: Vec::new(),
            outcome: Outcome::default(),
            errors: Vec::new(),
        }
    }
    fn clear(&mut self) {
        self.outputs.clear();
        self.outcome = Outcome::default();
        self.errors.clear();
    }
    /// Lower each op in order; an op that fails is recorded and the rest go on.
    fn lower_all(&mut self, to: &Arch, ops: &[Op], ctx: &dyn Context) {
        for op in ops {
            match to.lower(op, ctx, &mut self.outputs) {
                Ok(o) => self.outcome.merge(o),
                Err(e) => {
                    // What a refused op emitted before failing stays: those
                    // commands remove entries that must go anyway.
                    self.errors.push(e);
                }
            }
        }
        // `merge` sums `emitted`; keep it equal to what is held.
        self.outcome.emitted = self.outputs.len();
    }
}

/// Print a translation: outputs, errors, dropped notes and (with
/// `--explain`) the footprint relation. `input_desc` describes the input.
#[allow(clippy::too_many_arguments)]
fn report(
    to: &Arch,
    opts: Opts,
    ctx: &dyn Context,
    io: &mut Io<'_>,
    loc: Loc,
    input_json: Value,
    input_desc: &str,
    input_ops: &[Op],
    lift_outcome: &Outcome,
    t: &Translation,
) -> io::Result<()> {
    let explanation = opts
        .explain
        .then(|| Explanation::of(to, input_ops, &t.outputs, ctx));
    let widened = lift_outcome.widened | t.outcome.widened;
    let dropped = t.outcome.dropped.or(lift_outcome.dropped);
    if opts.explain && opts.json {
        let mut m = Map::new();
        m.insert("input".into(), input_json);
        m.insert(
            "output".into(),
            Value::Array(t.outputs.iter().map(command_to_json).collect()),
        );
        if let Some(x) = &explanation {
            x.json_into(&mut m);
        }
        m.insert("widened".into(), json!(widened_list(widened)));
        m.insert("dropped".into(), dropped.map_or(Value::Null, |d| json!(d)));
        if !t.errors.is_empty() {
            let errs: Vec<Value> = t
                .errors
                .iter()
                .map(|e| json!({"kind": e.kind().as_str(), "message": e.to_string()}))
                .collect();
            m.insert("errors".into(), Value::Array(errs));
        }
        io.line(&Value::Object(m))?;
    } else {
        if opts.explain {
            writeln!(io.out, "# {loc}: {input_desc}")?;
        }
        for c in &t.outputs {
            if opts.json {
                io.line(&command_to_json(c))?;
            } else {
                let (w, n) = c.to_words();
                writeln!(
                    io.out,
                    "{}",
                    format_native(c.arch_id(), w.get(..n).unwrap_or(&[]))
                )?;
            }
        }
        for e in &t.errors {
            if opts.json {
                io.line(&lift_error_json(to, e))?;
            } else if !opts.explain {
                // (With --explain the error is on the `=>` line instead.)
                let msg = format!("{}: {e}", e.kind().as_str());
                writeln!(io.err, "iommu-inval: {loc}: {msg}")?;
            }
        }
        if opts.explain {
            // With nothing emitted, "exact" only restates the drop or the error.
            let quiet = t.outputs.is_empty() && (dropped.is_some() || !t.errors.is_empty());
            let refused = !t.errors.is_empty();
            let mut s = match &explanation {
                // A refused operation leaves its entries: expected, not a bug.
                Some(x) if refused && x.is_under() => {
                    "incomplete: the refused operation's entries stay cached".to_owned()
                }
                Some(x) if !quiet || x.is_under() => x.text(),
                _ => String::new(),
            };
            s.push_str(&reported_widening(
                widened,
                explanation.as_ref().and_then(|x| x.relation.as_ref()),
            ));
            if let Some(d) = dropped {
                s.push_str(&format!("; {}", dropped_text(d)));
            }
            for e in &t.errors {
                s.push_str(&format!("; error {}: {e}", e.kind().as_str()));
            }
            io.verdict_line(&s)?;
        } else if let Some(d) = dropped {
            note_dropped(io, loc, d)?;
        }
    }
    if !t.errors.is_empty() {
        io.status.note(1);
    }
    if let Some(x) = &explanation {
        if x.is_under() && t.errors.is_empty() {
            io.status.note(1);
            writeln!(
                io.err,
                "iommu-inval: {loc}: {} (a bug: please report it)",
                x.text()
            )?;
        }
        if x.unliftable > 0 {
            io.status.note(1);
            writeln!(
                io.err,
                "iommu-inval: {loc}: {} output command(s) do not lift back",
                x.unliftable
            )?;
        }
    }
    Ok(())
}

/// `lower`: generic JSON Lines to native commands of `to`.
pub fn lower(
    to: &Arch,
    opts: Opts,
    ctx: &dyn Context,
    src: Source<'_>,
    io: &mut Io<'_>,
) -> io::Result<()> {
    let mut t = Translation::new();
    for_each_text(src, io, |io, loc, line| {
        let op = match parse_line(line).and_then(|v| parse_op_value(&v)) {
            Ok(op) => op,
            Err(e) => return failure(to, opts, io, loc, Failure::Json(&e)),
        };
        t.clear();
        t.lower_all(to, std::slice::from_ref(&op), ctx);
        let input_json = op_to_json(&op);
        let desc = input_json.to_string();
        report(
            to,
            opts,
            ctx,
            io,
            loc,
            input_json,
            &desc,
            &[op],
            &Outcome::default(),
            &t,
        )
    })
}

/// `convert`: native commands of `from` to native commands of `to`, through
/// the generic model (decode, lift with `from`, lower with `to`).
pub fn convert(from: Native<'_>, to: &Arch, ctx: &dyn Context, io: &mut Io<'_>) -> io::Result<()> {
    let (arch, opts) = (from.arch, from.opts);
    let mut t = Translation::new();
    for_each_command(from, io, |io, loc, w, note, cmd| {
        t.clear();
        let c = match iommu_inval::convert(&cmd, to, ctx, &mut t.outputs) {
            Ok(c) => c,
            Err(e) => return failure(arch, opts, io, loc, Failure::Lower(&e)),
        };
        t.outcome = c.lowered;
        t.errors = c.errors;
        let desc = format!("{} {}", cmd.op(), format_native(cmd.arch_id(), w));
        let mut input = command_to_json(&cmd);
        if opts.explain {
            context_json_into(&mut input, note, None);
        }
        report(to, opts, ctx, io, loc, input, &desc, &c.ops, &c.lifted, &t)
    })
}
