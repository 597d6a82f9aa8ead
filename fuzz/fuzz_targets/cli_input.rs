//! The CLI's text and JSON parsers, and its subcommands, on arbitrary bytes.
//!
//! Input: one selector byte, then the text (stdin of the subcommand).
//! Selector: bits 0-1 source architecture, bits 2-3 target architecture,
//! bit 4 256-bit VT-d descriptors, bits 5-7 what runs: a subcommand
//! (decode, decode --json, encode, lift, lower, convert --explain, raw
//! dump) or, for 7, the parsers' own checks.
//!
//! Checked on every input: a topology that loads re-serializes to one that
//! loads equal. With a subcommand: it runs over in-memory streams (input
//! form `--input auto|words|kernel|qemu`, chosen from the text's length)
//! and ends with status 0, 1 or 2, never a panic. With 7, on every line
//! (at most 64): hex text that parses re-parses the same after
//! `format_words`; a command that decodes prints JSON that
//! `parse_native_json` reads back as the same command; a generic op that
//! parses prints JSON that parses back as the same op; and the pasted-log
//! parser (that input form) takes every line (at most 256) without a
//! panic, each command it yields has the architecture's word count, and
//! its events and held-back errors are complete and never ahead of the
//! input.
//!
//! Before round 7 the line and paste checks ran on every input besides
//! the subcommand (about a third of the rate); the fuzzer now picks one
//! of the eight per input, and a campaign checks the same properties.
//!
//! Round 8 changed no property (before and after: those above), only how the
//! engine runs it: `scripts/fuzz.sh` passes `-entropic=0` (fuzz/README.md).
//!
//! Round 9 changed no property either: `scripts/fuzz.sh` builds this target
//! without comparison tracing (`--no-trace-compares`, fuzz/README.md)
//! and runs it without hit-count buckets (`-use_counters=0`).
#![no_main]

// The binary's private modules, compiled from source.
#[allow(dead_code)]
#[path = "../../cli/src/app/mod.rs"]
mod app;

use app::generic::{op_to_json, parse_op_json};
use app::json::{command_to_json, parse_native_json};
use app::paste::{InputForm, Item, Paste};
use app::run::{self, Io, Native, Opts, Source};
use app::text::{format_words, parse_hex_line};
use iommu_inval::core::context::Topology;
use iommu_inval::core::{ArchId, Context, IdentityContext};
use iommu_inval::{AnyCommand, Arch, ArchOps};
use libfuzzer_sys::fuzz_target;

/// Any architecture (`ArchId::ALL`: a new one is fuzzed without an edit).
fn arch_of(bits: u8) -> ArchId {
    let all = ArchId::ALL;
    all.get(usize::from(bits) % all.len())
        .copied()
        .unwrap_or(ArchId::Smmuv3)
}

fn check_line(line: &str, from: &Arch, words: usize) {
    if let Ok((w, n)) = parse_hex_line(line, words) {
        let ws = w.get(..n).unwrap_or(&[]);
        let text = format_words(ws);
        match parse_hex_line(&text, words) {
            Ok((w2, n2)) if w2.get(..n2) == Some(ws) => {}
            other => panic!("hex {line:?} -> {ws:x?} -> {text:?} -> {other:?}"),
        }
        if let Ok(cmd) = from.decode(ws) {
            let json = command_to_json(&cmd).to_string();
            match parse_native_json(from.id(), &json, cmd.to_words().1) {
                Ok(back) if back == cmd => {}
                other => panic!(
                    "{ws:x?} decodes to {cmd:?}, prints {json}, which reads back as {other:?}"
                ),
            }
        }
    }
    if let Ok(cmd) = parse_native_json(from.id(), line, words) {
        // What the encoder accepts prints as JSON it accepts again.
        let json = command_to_json(&cmd).to_string();
        match parse_native_json(from.id(), &json, cmd.to_words().1) {
            Ok(back) if back == cmd => {}
            other => {
                panic!("{line:?} encodes to {cmd:?}, prints {json}, which reads back as {other:?}")
            }
        }
    }
    if let Ok(op) = parse_op_json(line) {
        let json = op_to_json(&op).to_string();
        match parse_op_json(&json) {
            Ok(back) if back == op => {}
            other => {
                panic!("op {line:?} parses as {op:?}, prints {json}, which parses as {other:?}")
            }
        }
    }
}

/// The line checks and the pasted-log parser's (selector 7).
fn check_parsers(text: &str, from: &Arch, words: usize, form: InputForm) {
    for line in text.lines().take(64) {
        check_line(line, from, words);
    }
    let mut paste = Paste::new(from.id(), words, form);
    let mut fed = 0;
    // Queued events and held-back errors: complete, and never ahead of the input.
    let check_items = |paste: &mut Paste, upto: usize| {
        while let Some(item) = paste.take() {
            match item {
                Item::Event(e) => {
                    assert!(e.line >= 1 && e.line <= upto, "{e:?}");
                    assert!(!e.context.is_empty() && !e.explanation.is_empty(), "{e:?}");
                }
                Item::Error(n, e) => assert!(n >= 1 && n <= upto, "{n}: {e}"),
            }
        }
    };
    for (i, line) in text.lines().take(256).enumerate() {
        let (_, r) = paste.feed(i + 1, line);
        fed = i + 1;
        check_items(&mut paste, fed);
        if let Ok(Some(c)) = r {
            assert_eq!(c.words().len(), words, "{line:?} -> {c:?}");
            assert!(c.line >= 1 && c.line <= i + 1, "{line:?} -> {c:?}");
        }
    }
    let _ = paste.finish();
    check_items(&mut paste, fed.max(1));
    assert!(
        paste.skipped() <= fed,
        "{} skipped of {fed}",
        paste.skipped()
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let from = Arch::new(arch_of(sel));
    let to = Arch::new(arch_of(sel >> 2));
    let words = if from.id() == ArchId::Vtd && sel & 0x10 != 0 {
        4
    } else {
        2
    };
    let text = String::from_utf8_lossy(rest);
    let form = [
        InputForm::Auto,
        InputForm::Words,
        InputForm::Kernel,
        InputForm::Qemu,
    ][rest.len() % 4];
    if sel >> 5 == 7 {
        check_parsers(&text, &from, words, form);
    }
    let topo = Topology::from_json(&text).ok();
    if let Some(t) = &topo {
        let json = serde_json::to_string(t).unwrap_or_default();
        assert_eq!(
            Topology::from_json(&json).as_ref(),
            Ok(t),
            "topology {json} does not reload"
        );
    }
    let ctx: &dyn Context = match &topo {
        Some(t) => t,
        None => &IdentityContext,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut io = Io {
        out: &mut out,
        err: &mut err,
        status: Default::default(),
    };
    let lines = || Source::Lines(Box::new(rest));
    let opts = |json, explain| Opts {
        json,
        explain,
        input: form,
        ..Opts::default()
    };
    let (plain, json, explain) = (
        opts(false, false),
        opts(true, false),
        opts(sel & 1 == 0, true),
    );
    let native = |opts, src| Native {
        arch: &from,
        words,
        opts,
        src,
    };
    let r = match sel >> 5 {
        0 => run::decode(native(plain, lines()), ctx, &mut io),
        1 => run::decode(native(json, lines()), ctx, &mut io),
        2 => run::encode(&from, words, plain, lines(), &mut io),
        3 => run::lift(native(json, lines()), ctx, &mut io),
        4 => run::lower(&to, explain, ctx, lines(), &mut io),
        5 => run::convert(native(explain, lines()), &to, ctx, &mut io),
        6 => {
            let raw = Source::Raw {
                reader: Box::new(rest),
                offset: 0,
                count: None,
            };
            run::decode(native(json, raw), ctx, &mut io)
        }
        _ => Ok(()),
    };
    assert!(r.is_ok(), "in-memory I/O failed: {r:?}");
    assert!(io.status.0 <= 2, "exit status {}", io.status.0);
});
