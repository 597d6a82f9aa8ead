//! `decode --queue` and `convert --queue`: an IOMMU's records (events,
//! faults, page requests; docs/EVENTS.md) the way `decode` and `convert`
//! take commands.
//!
//! Everything is written once over `core::arch::EventArch` ([`Records`]):
//! an architecture with record codecs is one line in [`records_of`],
//! naming its two queues (the event or fault queue, then the page request
//! queue) and the kernel's message forms for each ([`kmsg`]). Input: hex
//! words, one record per line (lowest word first), a raw dump, or the
//! lines a Linux IOMMU driver prints when it reports a record, behind any
//! log prefix; each such form gives the record's words or named fields,
//! and what the message does not carry is 0 and said so. Other lines of a
//! pasted log are skipped and counted.
//!
//! Exit status as for commands: 1 for a record the codec refuses (or a
//! kernel dump cut short, or one the conversion cannot carry), 2 for text
//! that is not a record.

use super::json::{error_json, field_json};
use super::kmsg::{self, Kmsg, Parser};
use super::run::{no_input, Io, Loc, Source};
use super::text::{format_words, parse_hex_line, strip_comment, LineReader};
use iommu_inval::amd::AmdVi;
use iommu_inval::arm::Smmuv3;
use iommu_inval::core::arch::EventArch;
use iommu_inval::core::event::{ConfigReason, Event, FaultKind, Record};
use iommu_inval::core::{
    ArchId, Context, DecodeError, FieldValue, LowerError, NativeCommand, Stages,
};
use iommu_inval::riscv::RiscV;
use iommu_inval::vtd::Vtd;
use serde_json::{json, Map, Value};
use std::io::{self, Read};

/// Which of an architecture's two record queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// The event, fault or event log queue.
    Event,
    /// The page request queue (SMMUv3 PRI, VT-d PRQ, AMD-Vi PPR log, RISC-V PQ).
    PageRequest,
}

/// A record read by name: its op, its fields in table order, its words.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The record type (the specification's name).
    pub op: &'static str,
    /// `(name, value)` in table order.
    pub fields: Vec<(&'static str, FieldValue)>,
    /// The encoded words.
    pub words: Vec<u64>,
    /// The queue it belongs to.
    pub queue: Queue,
}

/// Why a record could not be converted.
#[derive(Debug, Clone, Copy)]
pub enum RecordError {
    /// The source codec refused the words.
    Decode(DecodeError),
    /// The lift or the lower found no equivalent.
    Translate(LowerError),
}

/// One architecture's record families, over its [`EventArch`].
#[derive(Clone, Copy)]
pub struct Records {
    /// The architecture.
    pub arch: ArchId,
    /// The CLI's names of its queues: the event queue, the page request queue.
    pub names: [&'static str; 2],
    words: [usize; 2],
    decode: fn(Queue, &[u64]) -> Result<Decoded, DecodeError>,
    lift: fn(Queue, &[u64], &dyn Context) -> Result<Event, RecordError>,
    lower: fn(&Event, &dyn Context) -> Result<Decoded, LowerError>,
    build: Build,
    /// The kernel's message forms of each queue's records.
    kmsg: [Option<Parser>; 2],
}

/// The words of a record of a queue from its op and named fields (the
/// others 0), and its word count: [`build_in`].
type Build = fn(Queue, &str, &[(&'static str, FieldValue)], usize) -> Result<Vec<u64>, String>;

/// The names every architecture accepts for its queues besides its own
/// (issue 32's `--queue event|pri|fault|ppr`): an event or fault queue,
/// and a page request queue under any architecture's name for one.
const ALIASES: [&[&str]; 2] = [&["event", "fault"], &["pri", "prq", "ppr", "pq"]];

/// The record of `A` in queue `q` from its words.
fn record_of<A: EventArch>(
    q: Queue,
    w: &[u64],
) -> Result<Record<A::EventRecord, A::PageRequestRecord>, DecodeError> {
    Ok(match q {
        Queue::Event => Record::Event(A::EventRecord::decode(w)?),
        Queue::PageRequest => Record::PageRequest(A::PageRequestRecord::decode(w)?),
    })
}

/// A record's op, fields and words.
fn named<R: NativeCommand>(queue: Queue, r: &R) -> Result<Decoded, DecodeError> {
    let mut fields = Vec::new();
    r.for_each_field(&mut |n, v| fields.push((n, v)));
    let mut w = [0u64; iommu_inval::core::native::MAX_WORDS];
    let n = r.encode_into(&mut w)?;
    Ok(Decoded {
        op: r.op(),
        fields,
        words: w.get(..n).unwrap_or(&w).to_vec(),
        queue,
    })
}

fn named_record<A: EventArch>(
    r: &Record<A::EventRecord, A::PageRequestRecord>,
) -> Result<Decoded, DecodeError> {
    match r {
        Record::Event(e) => named(Queue::Event, e),
        Record::PageRequest(p) => named(Queue::PageRequest, p),
    }
}

fn decode_in<A: EventArch>(q: Queue, w: &[u64]) -> Result<Decoded, DecodeError> {
    named_record::<A>(&record_of::<A>(q, w)?)
}

fn lift_in<A: EventArch>(q: Queue, w: &[u64], ctx: &dyn Context) -> Result<Event, RecordError> {
    let r = record_of::<A>(q, w).map_err(RecordError::Decode)?;
    A::lift_record(&r, ctx).map_err(RecordError::Translate)
}

fn lower_in<A: EventArch>(e: &Event, ctx: &dyn Context) -> Result<Decoded, LowerError> {
    named_record::<A>(&A::lower_record(e, ctx)?)
        .map_err(|_| LowerError::Invalid("the lowered record does not encode"))
}

/// The words of the record of kind `op` in queue `q` with `fields` (the
/// others 0) of `words` words, as a kernel message gives them.
fn build_in<A: EventArch>(
    q: Queue,
    op: &str,
    fields: &[(&'static str, FieldValue)],
    words: usize,
) -> Result<Vec<u64>, String> {
    let mut it = fields.iter().copied();
    let mut w = [0u64; iommu_inval::core::native::MAX_WORDS];
    let n = match q {
        Queue::Event => A::EventRecord::from_fields(op, &mut it, words)
            .map_err(|e| e.to_string())?
            .encode_into(&mut w),
        Queue::PageRequest => A::PageRequestRecord::from_fields(op, &mut it, words)
            .map_err(|e| e.to_string())?
            .encode_into(&mut w),
    }
    .map_err(|e| e.to_string())?;
    Ok(w.get(..n).unwrap_or(&w).to_vec())
}

/// The families of `A`: the CLI's names of its queues, their record sizes
/// in words and the kernel's message forms of each.
fn records<A: EventArch>(
    arch: ArchId,
    [(event, event_words, event_kmsg), (pr, pr_words, pr_kmsg)]: [(&'static str, usize, Option<Parser>);
        2],
) -> Records {
    Records {
        arch,
        names: [event, pr],
        words: [event_words, pr_words],
        decode: decode_in::<A>,
        lift: lift_in::<A>,
        lower: lower_in::<A>,
        build: build_in::<A>,
        kmsg: [event_kmsg, pr_kmsg],
    }
}

/// The architectures with record codecs: one line each (queue name,
/// record words, the kernel's message form).
pub fn records_of(arch: ArchId) -> Option<Records> {
    Some(match arch {
        // IHI0070 §7.3: 32-byte event records; §8: 16-byte PRI entries.
        ArchId::Smmuv3 => records::<Smmuv3>(
            arch,
            [
                ("event", 4, Some(kmsg::smmuv3_event)),
                ("pri", 2, Some(kmsg::smmuv3_pri)),
            ],
        ),
        // VT-d §11.4.14 FRCD_REG (128 bits); §7.4.1.1 page_req_dsc (256 bits).
        ArchId::Vtd => records::<Vtd>(
            arch,
            [
                ("fault", 2, Some(kmsg::vtd_fault)),
                ("prq", 4, Some(kmsg::vtd_prq)),
            ],
        ),
        // AMD #48882 §2.5 event log and §3.5 PPR log entries (16 bytes);
        // Linux prints no PPR log entry.
        ArchId::Amd => records::<AmdVi>(
            arch,
            [("event", 2, Some(kmsg::amd_event)), ("ppr", 2, None)],
        ),
        // RISC-V IOMMU FQ records (32 bytes), PQ records (16 bytes); Linux
        // prints no page request.
        ArchId::Riscv => records::<RiscV>(
            arch,
            [("fault", 4, Some(kmsg::riscv_fault)), ("pq", 2, None)],
        ),
        _ => return None,
    })
}

/// A word line of a kernel dump: its last token is `0x` and 16 hex digits
/// (`"\t0x%016llx"`).
fn dump_word(line: &str) -> Option<u64> {
    let t = line.split_whitespace().last()?;
    let h = t.strip_prefix("0x")?;
    (h.len() == 16)
        .then(|| u64::from_str_radix(h, 16).ok())
        .flatten()
}

/// A line of a pasted log rather than a record: a timestamp, or a
/// `device: message` prefix.
fn is_log_line(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('[') || t.contains(": ")
}

impl Records {
    /// The queue called `name`: its own name or one of [`ALIASES`]
    /// (usage error otherwise).
    pub fn queue(&self, name: &str) -> Result<Queue, String> {
        let is = |i: usize| {
            self.names.get(i) == Some(&name.to_ascii_lowercase().as_str())
                || ALIASES
                    .get(i)
                    .is_some_and(|a| a.iter().any(|n| n.eq_ignore_ascii_case(name)))
        };
        if is(0) {
            Ok(Queue::Event)
        } else if is(1) {
            Ok(Queue::PageRequest)
        } else {
            Err(format!(
                "--queue {name}: {} records are in the queues {} and {} (also named: event or fault; pri, prq, ppr or pq)",
                self.arch, self.names[0], self.names[1]
            ))
        }
    }
    fn name(&self, q: Queue) -> &'static str {
        self.names[q as usize]
    }
    /// The words of a record of queue `q`.
    pub fn words(&self, q: Queue) -> usize {
        self.words[q as usize]
    }
}

/// The record of `words` in queue `q` of `rec`, by name.
pub fn decode(rec: &Records, q: Queue, words: &[u64]) -> Result<Decoded, DecodeError> {
    (rec.decode)(q, words)
}

/// What to do with each record read.
pub enum Action<'a> {
    /// Print its fields (and, in text, what it says).
    Decode,
    /// Lift it (ids through the context) and lower it into `to`'s queue.
    Convert(&'a Records),
}

/// The input, record by record: words with their location, and the
/// fields a kernel message did not carry (read as 0).
fn for_each_record(
    rec: &Records,
    q: Queue,
    src: Source<'_>,
    io: &mut Io<'_>,
    mut f: impl FnMut(&mut Io<'_>, Loc, &[u64], &[&'static str]) -> io::Result<()>,
) -> io::Result<()> {
    let n = rec.words(q);
    let mut seen = false;
    match src {
        Source::Args(args) => {
            for (i, a) in args.iter().enumerate() {
                seen = true;
                let loc = Loc::Arg(i + 1);
                match parse_hex_line(a, n) {
                    Ok((w, k)) => f(io, loc, &w[..k], &[])?,
                    Err(e) => io.complain(2, loc, &e)?,
                }
            }
        }
        Source::Lines(r) => {
            let mut lr = LineReader::new(r);
            // A kernel dump being read: where it began, its record type, its words.
            let mut dump: Option<(Loc, u64, Vec<u64>)> = None;
            let mut skipped = 0usize;
            loop {
                let loc = Loc::Line(lr.line_no() + 1);
                let Some(line) = lr.next_line()? else { break };
                let line = match line {
                    Ok(l) => l,
                    Err(e) => {
                        io.complain(2, loc, &e)?;
                        continue;
                    }
                };
                if let Some((at, id, mut w)) = dump.take() {
                    if let Some(x) = dump_word(line) {
                        w.push(x);
                        if w.len() < n {
                            dump = Some((at, id, w));
                        } else if w.first().map(|w0| w0 & 0xff) != Some(id) {
                            io.complain(
                                1,
                                at,
                                &format!(
                                    "the kernel line says event {id:#04x} but word 0 holds {:#04x}",
                                    w.first().map_or(0, |w0| w0 & 0xff)
                                ),
                            )?;
                        } else {
                            f(io, at, &w, &[])?;
                        }
                        continue;
                    }
                    cut_dump(io, at, id, w.len(), n)?;
                }
                let body = strip_comment(line).trim();
                if body.is_empty() {
                    continue;
                }
                seen = true;
                match rec.kmsg[q as usize].and_then(|p| p(body)) {
                    Some(Ok(Kmsg::Header)) => {}
                    Some(Ok(Kmsg::Dump(id))) => dump = Some((loc, id, Vec::with_capacity(n))),
                    Some(Ok(Kmsg::Words(w, missing))) => f(io, loc, &w, &missing)?,
                    Some(Ok(Kmsg::Fields(op, fields, missing))) => {
                        let fields: Vec<_> = fields
                            .into_iter()
                            .map(|(f, v)| (f, FieldValue::Uint(v)))
                            .collect();
                        match (rec.build)(q, op, &fields, n) {
                            Ok(w) => f(io, loc, &w, &missing)?,
                            Err(e) => io.complain(1, loc, &format!("{op}: {e}"))?,
                        }
                    }
                    Some(Err(e)) => io.complain(1, loc, &e)?,
                    None => match parse_hex_line(body, n) {
                        Ok((w, k)) => f(io, loc, &w[..k], &[])?,
                        Err(_) if is_log_line(body) => skipped += 1,
                        Err(e) => io.complain(2, loc, &e)?,
                    },
                }
            }
            if let Some((at, id, w)) = dump {
                cut_dump(io, at, id, w.len(), n)?;
            }
            if skipped > 0 {
                writeln!(io.err, "iommu-inval: {skipped} other log line(s) skipped")?;
            }
        }
        Source::Raw {
            mut reader,
            offset,
            count,
        } => {
            let size = n * 8;
            let mut buf = vec![0u8; size];
            let mut index = 0u64;
            while count.is_none_or(|c| index < c) {
                let got = read_full(&mut reader, &mut buf)?;
                if got == 0 {
                    break;
                }
                seen = true;
                let at = offset + index * size as u64;
                let loc = Loc::Raw { index, offset: at };
                if got < size {
                    io.complain(
                        2,
                        loc,
                        &format!("the dump ends {} bytes into a {size}-byte record", got),
                    )?;
                    break;
                }
                let w: Vec<u64> = buf
                    .chunks_exact(8)
                    .map(|c| {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(c);
                        u64::from_le_bytes(b)
                    })
                    .collect();
                f(io, loc, &w, &[])?;
                index += 1;
            }
        }
    }
    no_input(io, seen)
}

/// A kernel dump of event `id` that ended after `got` of its `n` words
/// (exit status 1).
fn cut_dump(io: &mut Io<'_>, at: Loc, id: u64, got: usize, n: usize) -> io::Result<()> {
    let msg = format!("the kernel dump of event {id:#04x} ends after {got} of its {n} words");
    io.complain(1, at, &msg)
}

/// Fill `buf` from `r` (short only at the end of the input).
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// `{"arch","queue","op","fields","words"}`, and `"not_in_message"`: the
/// fields a kernel message did not carry (read as 0), when there are any.
fn record_json(rec: &Records, d: &Decoded, missing: &[&str]) -> Value {
    let mut fields = Map::new();
    for (n, v) in &d.fields {
        fields.insert((*n).to_owned(), field_json(*v));
    }
    let mut v = json!({
        "arch": rec.arch.name(),
        "queue": rec.name(d.queue),
        "op": d.op,
        "fields": fields,
        "words": format_words(&d.words),
    });
    if let (false, Some(m)) = (missing.is_empty(), v.as_object_mut()) {
        m.insert("not_in_message".into(), json!(missing));
    }
    v
}

/// The note of the fields a kernel message did not carry.
fn missing_note(missing: &[&str]) -> String {
    format!(
        "not in the kernel message, read as 0: {}",
        missing.join(" ")
    )
}

/// `{"arch","queue","error":{"kind","message"}}`.
fn record_error_json(rec: &Records, q: Queue, kind: &str, message: &str) -> Value {
    let mut v = error_json(rec.arch, kind, message);
    if let Some(m) = v.as_object_mut() {
        m.insert("queue".into(), rec.name(q).into());
    }
    v
}

/// The fields as `name=value`.
fn fields_text(d: &Decoded) -> String {
    let mut s = String::new();
    for (n, v) in &d.fields {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(n);
        s.push('=');
        s.push_str(&match v {
            FieldValue::Bool(b) => u8::from(*b).to_string(),
            FieldValue::Uint(x) if *x > 0xffff || n.contains("addr") => format!("{x:#x}"),
            FieldValue::Uint(x) => x.to_string(),
            FieldValue::Pair([a, b]) => format!("[{a:#x},{b:#x}]"),
        });
    }
    s
}

/// What a lifted record says, in a few words.
fn meaning(e: &Event) -> String {
    match e {
        Event::Fault(f) => {
            let what = match f.kind {
                FaultKind::Translation(t) => {
                    let stage = if t.stage == Stages::S2 { 2 } else { 1 };
                    format!("{:?} fault at stage {stage}", t.reason).to_lowercase()
                }
                FaultKind::Config(ConfigReason::Other) => {
                    format!("configuration fault (native {:#x})", f.native.code)
                }
                FaultKind::Config(c) => format!("configuration fault: {c:?}"),
            };
            let mut s = format!("{what}, device {:#x}", f.device);
            if let Some(p) = f.pasid {
                s.push_str(&format!(" PASID {p}"));
            }
            if let Some(t) = f.transaction {
                let a = t.access;
                let rw = if a.write { "write" } else { "read" };
                s.push_str(&format!(" {rw} at {:#x}", t.addr));
            }
            s
        }
        Event::PageRequest(p) => {
            let a = p.access;
            let mut s = format!(
                "page request, device {:#x}, group {}{}",
                p.device,
                p.prg_index,
                if p.last { " (last)" } else { "" }
            );
            if let Some(x) = p.pasid {
                s.push_str(&format!(" PASID {x}"));
            }
            s.push_str(&format!(
                " {}{}{}{} at {:#x}",
                if a.read { "r" } else { "-" },
                if a.write { "w" } else { "-" },
                if a.exec { "x" } else { "-" },
                if a.privileged { "p" } else { "-" },
                p.addr
            ));
            s
        }
        _ => "records lost".into(),
    }
}

/// `decode --queue` / `convert --queue`: each record of `src` in queue `q`
/// of `rec`, decoded or converted.
pub fn run(
    rec: &Records,
    q: Queue,
    action: Action<'_>,
    json: bool,
    ctx: &dyn Context,
    src: Source<'_>,
    io: &mut Io<'_>,
) -> io::Result<()> {
    for_each_record(rec, q, src, io, |io, loc, w, missing| {
        let refuse = |io: &mut Io<'_>, kind: &str, msg: String| {
            if json {
                io.status.note(1);
                writeln!(io.out, "{}", record_error_json(rec, q, kind, &msg))
            } else {
                io.complain(1, loc, &msg)
            }
        };
        let d = match decode(rec, q, w) {
            Ok(d) => d,
            Err(e) => {
                let msg = format!("{} {}: {e}", rec.name(q), format_words(w));
                return refuse(io, e.kind.as_str(), msg);
            }
        };
        match action {
            Action::Decode => {
                if json {
                    return writeln!(io.out, "{}", record_json(rec, &d, missing));
                }
                let mut says = match (rec.lift)(q, w, ctx) {
                    Ok(e) => meaning(&e),
                    Err(RecordError::Translate(e)) => format!("no neutral meaning: {e}"),
                    Err(RecordError::Decode(e)) => e.to_string(),
                };
                if !missing.is_empty() {
                    says = format!("{says} ({})", missing_note(missing));
                }
                writeln!(io.out, "{:<18}  {:<72}  # {says}", d.op, fields_text(&d))
            }
            Action::Convert(to) => {
                let lowered = (rec.lift)(q, w, ctx)
                    .and_then(|e| (to.lower)(&e, ctx).map_err(RecordError::Translate));
                match lowered {
                    Ok(out) if json => writeln!(io.out, "{}", record_json(to, &out, missing)),
                    Ok(out) => {
                        if !missing.is_empty() {
                            writeln!(io.err, "iommu-inval: {loc}: {}", missing_note(missing))?;
                        }
                        writeln!(io.out, "{}", format_words(&out.words))
                    }
                    Err(RecordError::Translate(e)) => refuse(
                        io,
                        e.kind().as_str(),
                        format!("{} {}: {e}", d.op, format_words(w)),
                    ),
                    Err(RecordError::Decode(e)) => refuse(
                        io,
                        e.kind.as_str(),
                        format!("{} {}: {e}", d.op, format_words(w)),
                    ),
                }
            }
        }
    })
}
