//! `iommu-inval`: decode, encode, lift, lower and convert IOMMU invalidation
//! commands (Arm SMMUv3, Intel VT-d, AMD-Vi, RISC-V IOMMU). Argument parsing and I/O only;
//! the subcommands are in the private module `app` (`app::run`) over the
//! `iommu-inval` library.
#![forbid(unsafe_code)]

mod app;

use app::caps::{self, CapsOpts};
use app::paste::InputForm;
use app::records::{self, Action, Queue, Records};
use app::run::{self, Io, Native, Opts, Source, Status};
use app::{help, progress, to_iommufd};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use iommu_inval::core::context::Topology;
use iommu_inval::core::{ArchId, Context, IdentityContext};
use iommu_inval::{Arch, ArchOps, DecodeFeatures};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "iommu-inval",
    version,
    about = "Decode, encode and translate IOMMU cache invalidations (Arm SMMUv3, Intel VT-d, AMD-Vi, RISC-V IOMMU)",
    long_about = None,
    after_help = help::MAIN,
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ArchArg {
    /// Arm SMMUv3 command queue (16-byte commands)
    #[value(alias = "smmu", alias = "arm")]
    Smmuv3,
    /// Intel VT-d invalidation queue (128- or 256-bit descriptors)
    #[value(alias = "intel", alias = "vt-d")]
    Vtd,
    /// AMD-Vi command buffer (16-byte commands)
    #[value(alias = "amd-vi", alias = "amdvi")]
    Amd,
    /// RISC-V IOMMU command queue (16-byte commands)
    #[value(alias = "risc-v", alias = "rv")]
    Riscv,
    /// virtio-iommu requests (one request's readable bytes in hex per line)
    #[value(name = "virtio-iommu", alias = "virtio")]
    VirtioIommu,
}

impl ArchArg {
    fn id(self) -> ArchId {
        match self {
            ArchArg::Smmuv3 => ArchId::Smmuv3,
            ArchArg::Vtd => ArchId::Vtd,
            ArchArg::Amd => ArchId::Amd,
            ArchArg::Riscv => ArchId::Riscv,
            ArchArg::VirtioIommu => ArchId::VirtioIommu,
        }
    }
}

/// Where native commands come from.
#[derive(Args, Debug)]
struct NativeIn {
    /// VT-d descriptor size of the input: 128 (2 words) or 256 (4 words, scalable mode)
    #[arg(long, default_value = "128", value_parser = ["128", "256"])]
    desc_width: String,
    /// Read a binary queue dump (little-endian 64-bit words) instead of text
    #[arg(long, value_name = "FILE")]
    raw: Option<PathBuf>,
    /// With --raw: byte offset of the first command (decimal or 0x hex; a multiple of the command size)
    #[arg(long, value_name = "BYTES", requires = "raw", value_parser = parse_num, conflicts_with = "index")]
    offset: Option<u64>,
    /// With --raw: queue index of the first command (as the kernel prints CONS / IQH / head)
    #[arg(long, value_name = "N", requires = "raw", value_parser = parse_num)]
    index: Option<u64>,
    /// With --raw: read at most this many commands
    #[arg(long, value_name = "N", requires = "raw", value_parser = parse_num)]
    count: Option<u64>,
    /// Text form: auto (per line; a kernel log's other lines are skipped), words (hex words only), kernel (Linux driver dumps in a log), qemu (QEMU trace lines)
    #[arg(long, value_enum, default_value = "auto")]
    input: InputArg,
    /// Decode as an emulated IOMMU with these capabilities refuses (CERROR_ILL / IQE /
    /// ILLEGAL_COMMAND_ERROR): smmuv3.0 .. smmuv3.4, latest-ns, latest (smmuv3);
    /// vtd-legacy, vtd-3, vtd-5, latest (vtd); amd-host, amd-2, latest (amd); riscv-1.0, latest (riscv). Default: latest
    #[arg(long, value_name = "PRESET")]
    caps: Option<String>,
    /// Commands as hex words separated by commas or spaces, lowest first, or pasted log lines (default: one per stdin line)
    #[arg(value_name = "COMMAND")]
    commands: Vec<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum InputArg {
    /// Detect per line: hex words, kernel dumps, QEMU trace lines
    Auto,
    /// Only hex words (separated by commas or spaces)
    Words,
    /// Only Linux IOMMU driver dumps (SMMUv3 CMDQ error, VT-d QI fault, AMD-Vi events); the log's other lines are skipped and counted
    Kernel,
    /// Only QEMU intel-iommu trace / error lines
    Qemu,
}

impl InputArg {
    fn form(self) -> InputForm {
        match self {
            InputArg::Auto => InputForm::Auto,
            InputArg::Words => InputForm::Words,
            InputArg::Kernel => InputForm::Kernel,
            InputArg::Qemu => InputForm::Qemu,
        }
    }
}

/// Host capabilities used when lowering (default: a typical modern host).
#[derive(Args, Debug)]
struct CapsArgs {
    /// Host feature preset (the names of --caps, e.g. smmuv3.0, vtd-legacy); the flags below narrow it
    #[arg(long, value_name = "PRESET")]
    host_caps: Option<String>,
    /// VT-d descriptor size of the output: 128 or 256 (default 256, as in scalable mode)
    #[arg(long, value_parser = ["128", "256"])]
    out_desc_width: Option<String>,
    /// VT-d legacy mode: no PASID descriptors, 128-bit descriptors
    #[arg(long)]
    legacy: bool,
    /// VT-d CAP.MAMV: the largest address mask (default 18)
    #[arg(long, value_name = "N")]
    mamv: Option<u8>,
    /// SMMUv3 without range invalidation (SMMU_IDR3.RIL = 0), RISC-V without
    /// capabilities.S and NL: one command per page
    #[arg(long)]
    no_range_inval: bool,
    /// Host without ATS: no device-TLB invalidations are emitted
    #[arg(long)]
    no_ats: bool,
    /// Host PASID / SubstreamID width in bits
    #[arg(long, value_name = "BITS")]
    pasid_bits: Option<u8>,
    /// At most N commands (1..=4096) per range or device set before one wider command replaces them
    #[arg(long, value_name = "N")]
    max_cmds: Option<usize>,
}

#[derive(Args, Debug)]
struct Ctx {
    /// Topology file (JSON: domains with native ids, devices with PASIDs and ASIDs).
    /// Without it every native id is its own generic id and an SMMU ASID is taken as the PASID.
    #[arg(long, value_name = "FILE")]
    topology: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Native commands (hex words or a raw dump) to named fields
    #[command(after_help = help::DECODE)]
    Decode {
        /// Architecture of the commands
        #[arg(long, value_enum, ignore_case = true)]
        arch: ArchArg,
        /// One JSON object per command: {"arch","op","fields"} or {"arch","error":{"kind","message"}}
        #[arg(long)]
        json: bool,
        /// Decode records of this queue instead of commands: the event or fault queue
        /// (event, fault) or the page request queue (pri, prq, ppr, pq); see --help
        #[arg(long, value_name = "QUEUE")]
        queue: Option<String>,
        #[command(flatten)]
        ctx: Ctx,
        #[command(flatten)]
        input: NativeIn,
    },
    /// JSON Lines of the decode shape to canonical hex words
    #[command(after_help = help::ENCODE)]
    Encode {
        /// Architecture of the commands
        #[arg(long, value_enum, ignore_case = true)]
        arch: ArchArg,
        /// VT-d descriptor size: 128 (2 words) or 256 (4 words)
        #[arg(long, default_value = "128", value_parser = ["128", "256"])]
        desc_width: String,
        /// Report invalid objects as JSON error objects on stdout (instead of stderr)
        #[arg(long)]
        json: bool,
        /// JSON objects (default: one per stdin line)
        #[arg(value_name = "OBJECT")]
        objects: Vec<String>,
    },
    /// Native commands to generic operations (JSON Lines)
    #[command(
        after_help = help::LIFT,
        mut_arg("explain", |a| a.help("Per input: the command, then what the lift widened (unknown ids)")),
        mut_arg("json", |a| a.help("With --explain: one JSON object per input")),
    )]
    Lift {
        /// Architecture of the commands
        #[arg(long, value_enum, ignore_case = true)]
        arch: ArchArg,
        #[command(flatten)]
        out: Report,
        #[command(flatten)]
        input: NativeIn,
    },
    /// Generic operations (JSON Lines) to native commands
    #[command(after_help = help::LOWER)]
    Lower {
        /// Target architecture
        #[arg(long, value_enum, ignore_case = true)]
        arch: ArchArg,
        #[command(flatten)]
        out: Translate,
        /// Generic JSON objects (default: one per stdin line)
        #[arg(value_name = "OP")]
        ops: Vec<String>,
    },
    /// Native commands of one architecture to another (decode, lift, lower)
    #[command(after_help = help::CONVERT)]
    Convert {
        /// Source architecture
        #[arg(long, value_enum, ignore_case = true)]
        from: ArchArg,
        /// Target: an architecture (smmuv3, vtd, amd, riscv), or an iommufd payload:
        /// iommufd-smmuv3 (vSMMU entries, from --from smmuv3), iommufd-vtd (VT-d stage-1 entries)
        #[arg(long, value_parser = parse_to)]
        to: ToArg,
        /// Convert records of this queue instead of commands (event / fault, or pri / prq / ppr / pq), device ids through --topology
        #[arg(long, value_name = "QUEUE")]
        queue: Option<String>,
        #[command(flatten)]
        out: Translate,
        #[command(flatten)]
        input: NativeIn,
    },
}

/// What `lift`, `lower` and `convert` share: the output form and the
/// topology (the help is `lower`'s and `convert`'s; `lift` words it anew).
#[derive(Args, Debug)]
struct Report {
    /// Per input: the output, then its footprint relation to the input (exact / superset) and the widening
    #[arg(long)]
    explain: bool,
    /// Output commands as decode-shape JSON (with --explain: one object per input)
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    ctx: Ctx,
}

/// What `lower` and `convert` share: the report and the host's capabilities.
#[derive(Args, Debug)]
struct Translate {
    #[command(flatten)]
    report: Report,
    #[command(flatten)]
    caps: CapsArgs,
}

/// `convert --to`: an architecture or an iommufd payload.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum ToArg {
    Arch(ArchArg),
    Iommufd(to_iommufd::Target),
}

fn parse_to(s: &str) -> Result<ToArg, String> {
    if let Some(t) = to_iommufd::Target::from_name(&s.to_ascii_lowercase()) {
        return Ok(ToArg::Iommufd(t));
    }
    ArchArg::from_str(s, true).map(ToArg::Arch).map_err(|_| {
        format!("unknown target {s:?}: an architecture, iommufd-smmuv3 or iommufd-vtd")
    })
}

/// The iommufd host of `convert --to iommufd-*`: the topology's `iommufd`
/// section (vSMMU VMID, vDEVICE table, host SMMU features) and the host
/// flags.
fn iommufd_host(c: &Ctx, caps: &CapsArgs) -> Result<to_iommufd::Host, Usage> {
    let mut h = to_iommufd::Host::default();
    if let Some(p) = &c.topology {
        let mut text = String::new();
        File::open(p)
            .and_then(|f| f.take(64 << 20).read_to_string(&mut text))
            .map_err(|e| Usage(format!("cannot read topology {}: {e}", p.display())))?;
        let t = Topology::from_json(strip_bom(&text))
            .map_err(|e| Usage(format!("{}: {e}", p.display())))?;
        if let Some(i) = &t.file().iommufd {
            h.vsmmu.vmid = i.vsmmu_vmid;
            h.vdevices = i.vdevices.iter().map(|v| (v.vsid, v.psid)).collect();
            h.vsmmu.features = (&i.host).into();
        }
    }
    // The flags narrow the topology's host features.
    let f = &mut h.vsmmu.features;
    f.range_inv &= !caps.no_range_inval;
    f.ats &= !caps.no_ats;
    if let Some(b) = caps.pasid_bits {
        f.ssid_bits = f.ssid_bits.min(b);
    }
    Ok(h)
}

/// The text without a UTF-8 byte-order mark in front (editors on Windows
/// write one; JSON parsers refuse it, RFC 8259 §8.1 lets a parser ignore it).
fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

fn parse_num(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse(),
    };
    r.map_err(|e| format!("not a number: {e}"))
}

/// A usage problem found after argument parsing (exit 2).
struct Usage(String);

fn features_of(id: ArchId, input: &NativeIn) -> Result<Option<DecodeFeatures>, Usage> {
    input
        .caps
        .as_deref()
        // Preset names are lower case; any case is accepted.
        .map(|p| caps::preset(id, &p.to_ascii_lowercase()).map_err(Usage))
        .transpose()
}

fn words_of(arch: &Arch, width: &str) -> Result<usize, Usage> {
    let bits: u32 = width
        .parse()
        .map_err(|_| Usage(format!("bad descriptor width {width}")))?;
    // 128-bit descriptors everywhere, 256-bit ones only on VT-d.
    match (arch.id(), bits) {
        (_, 128) => Some(2),
        (ArchId::Vtd, 256) => Some(4),
        _ => None,
    }
    .ok_or_else(|| {
        Usage(format!(
            "--desc-width {bits} is only available for vtd; {} commands are 128-bit",
            arch.id()
        ))
    })
}

fn load_ctx(c: &Ctx) -> Result<Box<dyn Context>, Usage> {
    match &c.topology {
        None => Ok(Box::new(IdentityContext)),
        Some(p) => {
            let mut text = String::new();
            // One byte past the limit, so that a larger file is refused
            // by the loader with the limit named rather than cut short.
            let cap = iommu_inval::core::context::MAX_TOPOLOGY_BYTES as u64 + 1;
            File::open(p)
                .and_then(|f| f.take(cap).read_to_string(&mut text))
                .map_err(|e| Usage(format!("cannot read topology {}: {e}", p.display())))?;
            let t = Topology::from_json(strip_bom(&text))
                .map_err(|e| Usage(format!("{}: {e}", p.display())))?;
            Ok(Box::new(t))
        }
    }
}

fn target(arch: ArchArg, caps: &CapsArgs) -> Result<Arch, Usage> {
    let desc_width = match &caps.out_desc_width {
        None => None,
        Some(w) => Some(
            w.parse()
                .map_err(|_| Usage(format!("bad descriptor width {w}")))?,
        ),
    };
    let o = CapsOpts {
        max_cmds: caps.max_cmds,
        host: caps.host_caps.as_ref().map(|p| p.to_ascii_lowercase()),
        no_range_inval: caps.no_range_inval,
        legacy: caps.legacy,
        desc_width,
        mamv: caps.mamv,
        no_ats: caps.no_ats,
        pasid_bits: caps.pasid_bits,
    };
    caps::with_caps(arch.id(), &o).map_err(Usage)
}

/// A reader whose errors name what it reads (`--raw FILE`, stdin).
struct Named<R> {
    inner: R,
    name: String,
}

impl<R> Named<R> {
    fn err(&self, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), format!("cannot read {}: {e}", self.name))
    }
}

impl<R: Read> Read for Named<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| self.err(e))
    }
}

impl<R: io::BufRead> io::BufRead for Named<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        // (Two steps: the borrow of `inner` must end before `err` is called.)
        if let Err(e) = self.inner.fill_buf() {
            return Err(self.err(e));
        }
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.inner.consume(n)
    }
}

/// `--index V` as a byte offset. SMMUv3 takes CMDQ_CONS / CMDQ_PROD as the
/// kernel prints them (IHI0070 §6.3.26-27: the index in the low log2(entries)
/// bits, the wrap bit above it, ERR in bits [30:24]): with the queue size
/// known from the dump's length, what is not the index is stripped and a
/// note says so. Returns the offset and the note.
fn index_offset(
    arch: ArchId,
    v: u64,
    size: u64,
    entries: Option<u64>,
) -> Result<(u64, Option<String>), Usage> {
    let mut idx = v;
    let mut note = None;
    if arch == ArchId::Smmuv3 && entries.is_none_or(|n| v >= n) {
        let err = (v >> 24) & 0x7f;
        let mut stripped = Vec::new();
        if err != 0 && v >> 31 == 0 {
            idx &= 0x00ff_ffff;
            stripped.push(format!("ERR = {err} (bits 30:24)"));
        }
        match entries {
            Some(n) if n.is_power_of_two() && idx >= n => {
                let log2 = n.trailing_zeros();
                if idx >> (log2 + 1) == 0 {
                    stripped.push(format!("the wrap bit (bit {log2}) = {}", (idx >> log2) & 1));
                    idx &= n - 1;
                }
            }
            _ => {}
        }
        if !stripped.is_empty() {
            let queue = match entries {
                Some(n) => format!("a {n}-entry queue"),
                None => "a queue of unknown size (the wrap bit stays: give the whole queue as the --raw file to strip it)".into(),
            };
            note = Some(format!(
                "--index {v:#010x} read as CMDQ_CONS / PROD: {} stripped for {queue}: entry {idx}",
                stripped.join(" and ")
            ));
        }
    }
    let offset = idx
        .checked_mul(size)
        .ok_or_else(|| Usage(format!("--index {v:#x} is past any dump")))?;
    Ok((offset, note))
}

fn native_source<'a>(
    arch: ArchId,
    input: &'a NativeIn,
    words: usize,
    stdin: &'a mut dyn io::BufRead,
    err: &mut dyn Write,
) -> Result<Source<'a>, Usage> {
    match &input.raw {
        Some(p) => {
            if !input.commands.is_empty() {
                return Err(Usage(
                    "give commands either as arguments or with --raw, not both".into(),
                ));
            }
            let size = words as u64 * 8;
            let pipe = p.as_os_str() == "-";
            let name = if pipe {
                "stdin (--raw -)".to_owned()
            } else {
                p.display().to_string()
            };
            let file = if pipe {
                None
            } else {
                let f = File::open(p).map_err(|e| Usage(format!("cannot open {name}: {e}")))?;
                let meta = f
                    .metadata()
                    .map_err(|e| Usage(format!("cannot read {name}: {e}")))?;
                if meta.is_dir() {
                    return Err(Usage(format!("{name} is a directory, not a queue dump")));
                }
                // Pipes and devices (/dev/stdin) have no length, and files
                // of /proc and /sys say 0: reading tells (an empty file is
                // reported below, after the first read).
                let len = meta.is_file().then_some(meta.len()).filter(|&l| l > 0);
                Some((f, len))
            };
            let len = file.as_ref().and_then(|(_, l)| *l);
            let entries = len.map(|l| l / size).filter(|&n| n > 0);
            // The option as the user gave it, for messages.
            let (offset, what) = match (input.offset, input.index) {
                (Some(o), _) => {
                    if o % size != 0 {
                        return Err(Usage(format!(
                            "--offset {o:#x} is not a multiple of the {size}-byte command size (use --index for a queue index)"
                        )));
                    }
                    (o, format!("--offset {o:#x}"))
                }
                (None, Some(i)) => {
                    let (o, note) = index_offset(arch, i, size, entries)?;
                    if let Some(n) = note {
                        let _ = writeln!(err, "iommu-inval: {n}");
                    }
                    (o, format!("--index {i:#x} (byte {o:#x})"))
                }
                (None, None) => (0, String::new()),
            };
            if let Some(l) = len {
                if offset > 0 && offset >= l {
                    let at = if offset == l { "at" } else { "past" };
                    return Err(Usage(format!(
                        "{what} is {at} the end of {name} ({l:#x} bytes, {} commands)",
                        l / size
                    )));
                }
            }
            let reader: Box<dyn Read + 'a> = match file {
                None => Box::new(Named {
                    inner: stdin,
                    name: name.clone(),
                }),
                Some((f, len)) => {
                    // Progress on a terminal for dumps that take over a second.
                    let total = len.unwrap_or(0).saturating_sub(offset);
                    Box::new(Named {
                        inner: progress::ProgressReader::new(
                            BufReader::new(f),
                            total,
                            total > 0 && progress::wanted(),
                        ),
                        name: name.clone(),
                    })
                }
            };
            // Skip by reading, so that pipes (`--raw -`, /dev/stdin) work too.
            let mut reader = BufReader::new(reader);
            let skipped = io::copy(&mut (&mut reader).take(offset), &mut io::sink())
                .map_err(|e| Usage(e.to_string()))?;
            if skipped < offset {
                return Err(Usage(format!(
                    "{what} is past the end of {name} ({skipped:#x} bytes)"
                )));
            }
            let at_end = io::BufRead::fill_buf(&mut reader)
                .map_err(|e| Usage(e.to_string()))?
                .is_empty();
            if at_end {
                return Err(Usage(if offset == 0 {
                    format!("{name} is empty (0 bytes): a dump holds {size} bytes per command")
                } else {
                    format!("{what} is at the end of {name} ({skipped:#x} bytes)")
                }));
            }
            Ok(Source::Raw {
                reader: Box::new(reader),
                offset,
                count: input.count,
            })
        }
        None if input.commands.is_empty() => Ok(Source::Lines(Box::new(Named {
            inner: stdin,
            name: "stdin".into(),
        }))),
        None => Ok(Source::Args(&input.commands)),
    }
}

/// The front of `decode`, `lift` and `convert`: the command size, the
/// topology, the input and the options, checked in this order.
fn native<'a>(
    a: &'a Arch,
    ctx: &Ctx,
    input: &'a NativeIn,
    (json, explain): (bool, bool),
    stdin: &'a mut dyn io::BufRead,
    err: &mut dyn Write,
) -> Result<(Native<'a>, Box<dyn Context>), Usage> {
    let words = words_of(a, &input.desc_width)?;
    let c = load_ctx(ctx)?;
    let src = native_source(a.id(), input, words, stdin, err)?;
    let opts = Opts {
        json,
        explain,
        input: input.input.form(),
        features: features_of(a.id(), input)?,
    };
    let n = Native {
        arch: a,
        words,
        opts,
        src,
    };
    Ok((n, c))
}

impl Report {
    /// `(json, explain)`, as `native` takes them.
    fn flags(&self) -> (bool, bool) {
        (self.json, self.explain)
    }
}

fn text_source<'a>(args: &'a [String], stdin: &'a mut dyn io::BufRead) -> Source<'a> {
    if args.is_empty() {
        Source::Lines(Box::new(stdin))
    } else {
        Source::Args(args)
    }
}

/// The record families of `arch` and its queue `name` (`--queue`).
fn record_queue(arch: ArchArg, name: &str, input: &NativeIn) -> Result<(Records, Queue), Usage> {
    let rec = records::records_of(arch.id()).ok_or_else(|| {
        Usage(format!(
            "--queue: no record codecs for {} (smmuv3, vtd, amd and riscv have them)",
            arch.id()
        ))
    })?;
    let q = rec.queue(name).map_err(Usage)?;
    if input.caps.is_some() || input.desc_width != "128" {
        return Err(Usage(
            "--caps and --desc-width are for commands, not --queue records".into(),
        ));
    }
    Ok((rec, q))
}

fn execute(
    cli: &Cli,
    stdin: &mut dyn io::BufRead,
    io: &mut Io<'_>,
) -> Result<io::Result<()>, Usage> {
    Ok(match &cli.cmd {
        Cmd::Decode {
            arch,
            json,
            queue: Some(name),
            ctx,
            input,
        } => {
            let (rec, q) = record_queue(*arch, name, input)?;
            let c = load_ctx(ctx)?;
            let src = native_source(arch.id(), input, rec.words(q), stdin, io.err)?;
            records::run(&rec, q, Action::Decode, *json, &*c, src, io)
        }
        Cmd::Decode {
            arch,
            json,
            queue: None,
            ctx,
            input,
        } => {
            let a = Arch::new(arch.id());
            let (n, c) = native(&a, ctx, input, (*json, false), stdin, io.err)?;
            run::decode(n, &*c, io)
        }
        Cmd::Encode {
            arch,
            desc_width,
            json,
            objects,
        } => {
            let a = Arch::new(arch.id());
            let words = words_of(&a, desc_width)?;
            run::encode(
                &a,
                words,
                Opts {
                    json: *json,
                    ..Opts::default()
                },
                text_source(objects, stdin),
                io,
            )
        }
        Cmd::Lift { arch, out, input } => {
            let a = Arch::new(arch.id());
            let (n, c) = native(&a, &out.ctx, input, out.flags(), stdin, io.err)?;
            run::lift(n, &*c, io)
        }
        Cmd::Lower { arch, out, ops } => {
            let a = target(*arch, &out.caps)?;
            let c = load_ctx(&out.report.ctx)?;
            let (json, explain) = out.report.flags();
            run::lower(
                &a,
                Opts {
                    json,
                    explain,
                    ..Opts::default()
                },
                &*c,
                text_source(ops, stdin),
                io,
            )
        }
        Cmd::Convert {
            from,
            to,
            queue: Some(name),
            out: Translate { report, .. },
            input,
        } => {
            let ToArg::Arch(to) = to else {
                return Err(Usage(
                    "--queue converts records between architectures; iommufd targets take commands"
                        .into(),
                ));
            };
            if report.explain {
                return Err(Usage(
                    "--explain is for commands, not --queue records".into(),
                ));
            }
            let (rec, q) = record_queue(*from, name, input)?;
            // The model decides the target's queue (a page request to its
            // page request queue).
            let to_rec = records::records_of(to.id())
                .ok_or_else(|| Usage(format!("--queue: no record codecs for {}", to.id())))?;
            let c = load_ctx(&report.ctx)?;
            let src = native_source(from.id(), input, rec.words(q), stdin, io.err)?;
            records::run(&rec, q, Action::Convert(&to_rec), report.json, &*c, src, io)
        }
        Cmd::Convert {
            from,
            to,
            queue: None,
            out: Translate { report, caps },
            input,
        } => {
            let ctx = &report.ctx;
            let f = Arch::new(from.id());
            let to = match to {
                ToArg::Arch(a) => *a,
                ToArg::Iommufd(t) => {
                    if *t == to_iommufd::Target::Smmuv3 && *from != ArchArg::Smmuv3 {
                        return Err(Usage(
                            "--to iommufd-smmuv3 takes SMMUv3 guest commands (--from smmuv3): the vSMMU is given the guest's own commands".into(),
                        ));
                    }
                    let host = iommufd_host(ctx, caps)?;
                    let (n, c) = native(&f, ctx, input, report.flags(), stdin, io.err)?;
                    return Ok(to_iommufd::convert(n, *t, &host, &*c, io));
                }
            };
            let t = target(to, caps)?;
            let (n, c) = native(&f, ctx, input, report.flags(), stdin, io.err)?;
            run::convert(n, &t, &*c, io)
        }
    })
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("iommu-inval: internal error: {info} (please report this bug)");
    }));
    let mut cmd = Cli::command();
    if !io::stdout().is_terminal() {
        // Piped or redirected help keeps its lines as written: clap would
        // otherwise wrap at 100 columns (when built with `wrap_help`, as a
        // workspace build with divan is) and break example commands.
        cmd = cmd.term_width(0);
    }
    let cli = match cmd
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let stdin = io::stdin();
    let mut stdin = stdin.lock();
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let stderr = io::stderr();
    let mut err = stderr.lock();
    let mut io = Io {
        out: &mut out,
        err: &mut err,
        status: Status::default(),
    };
    let result = match execute(&cli, &mut stdin, &mut io) {
        Ok(r) => r.and_then(|()| io.out.flush()),
        Err(Usage(m)) => {
            let _ = io.out.flush();
            let _ = writeln!(io.err, "iommu-inval: {m}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::from(io.status.0),
        // A closed stdout (`| head`) ends the run quietly.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(io.status.0),
        Err(e) => {
            let _ = writeln!(io.err, "iommu-inval: {e}");
            ExitCode::from(2)
        }
    }
}
