//! Properties of pasted text (issue 30, items 1, 2 and 4), over generated
//! input rather than one example each:
//!
//! * **words**: a command's words read the same whether joined by commas,
//!   by spaces (`od -An -tx8`), by tabs and runs of spaces, or printed by
//!   QEMU's monitor (`ADDRESS: 0x… 0x…`).
//! * **logs**: in a kernel log, unrelated lines anywhere (between dumps and
//!   inside them) change nothing: the same commands and events, in the same
//!   order, no error, and the count of skipped lines is exactly theirs.

// The binary's private modules, compiled from source.
#[allow(dead_code)]
#[path = "../src/app/mod.rs"]
mod app;

use app::paste::{InputForm, Item, Paste};
use app::text::parse_hex_line;
use iommu_inval::core::ArchId;
use proptest::prelude::*;

/// What a unit of log lines should give.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    Command(Vec<u64>),
    Event(&'static str),
}

/// One dump (or event) as the driver prints it, and what it gives.
fn unit(arch: ArchId, kind: u8, w: [u64; 2], n: u32) -> (Vec<String>, Want) {
    let dev = "arm-smmu-v3 arm-smmu-v3.0.auto: ";
    match (arch, kind % 3) {
        (ArchId::Smmuv3, 0) => (
            vec![
                format!("{dev}CMDQ error (cons 0x{:08x}): Illegal command", 0x0100_0000 | n),
                format!("{dev}skipping command in error state:"),
                format!("{dev}\t0x{:016x}", w[0]),
                format!("{dev}\t0x{:016x}", w[1]),
            ],
            Want::Command(w.to_vec()),
        ),
        (ArchId::Smmuv3, 1) => (
            vec![
                format!("{dev}CMDQ error (cons 0x{:08x}): Abort on command fetch", 0x0200_0000 | n),
                format!("{dev}retrying command fetch"),
            ],
            Want::Event("CERROR_ABT"),
        ),
        (ArchId::Smmuv3, _) => (
            vec![format!(
                "{dev}CMDQ error (cons 0x{:08x}): ATC invalidate timeout",
                0x0300_0000 | n
            )],
            Want::Event("CERROR_ATC_INV_SYNC"),
        ),
        (ArchId::Vtd, 0) => (
            vec![format!(
                "DMAR: QI PRIOR: IOTLB Invalidation qw0 = 0x{:x}, qw1 = 0x{:x}",
                w[0], w[1]
            )],
            Want::Command(w.to_vec()),
        ),
        (ArchId::Vtd, 1) => (
            vec![
                format!("DMAR: VT-d detected Invalidation Time-out Error: SID {n:x}"),
                "DMAR: Invalidation Time-out Error (ITE) cleared".into(),
            ],
            Want::Event("FSTS.ITE"),
        ),
        (ArchId::Vtd, _) => (
            vec![
                "DMAR: DRHD: handling fault status reg 20".into(),
                format!("DMAR: VT-d detected Invalidation Completion Error: SID {n:x}"),
                "DMAR: Invalidation Completion Error (ICE) cleared".into(),
            ],
            Want::Event("FSTS.ICE"),
        ),
        (_, 0) => {
            let d = [w[0] as u32, (w[0] >> 32) as u32, w[1] as u32, (w[1] >> 32) as u32];
            let mut v = vec![format!(
                "iommu ivhd0: AMD-Vi: Event logged [ILLEGAL_COMMAND_ERROR address=0x{:x}]",
                u64::from(n) << 4
            )];
            v.extend((0..4).map(|i| format!("AMD-Vi: CMD[{i}]: {:08x}", d[i])));
            (v, Want::Command(w.to_vec()))
        }
        (_, 1) => (
            vec![format!(
                "iommu ivhd0: AMD-Vi: Event logged [IOTLB_INV_TIMEOUT device=0000:63:00.0 address=0x{:x}]",
                u64::from(n) << 4
            )],
            Want::Event("IOTLB_INV_TIMEOUT"),
        ),
        (_, _) => (
            vec!["AMD-Vi: IOMMU 0000:00:00.2: Completion-Wait loop timed out".into()],
            Want::Event("Completion-Wait time-out"),
        ),
    }
}

/// Feed `lines` and collect what comes out; errors as strings.
fn outcomes(arch: ArchId, lines: &[String]) -> (Vec<Want>, Vec<String>, usize) {
    let mut p = Paste::new(arch, 2, InputForm::Auto);
    let (mut got, mut errs) = (Vec::new(), Vec::new());
    let drain = |p: &mut Paste, got: &mut Vec<Want>, errs: &mut Vec<String>| {
        while let Some(i) = p.take() {
            match i {
                Item::Event(e) => {
                    assert!(!e.context.is_empty() && !e.explanation.is_empty(), "{e:?}");
                    got.push(Want::Event(e.kind));
                }
                Item::Error(n, e) => errs.push(format!("{n}: {e}")),
            }
        }
    };
    for (i, l) in lines.iter().enumerate() {
        let (cut, r) = p.feed(i + 1, l);
        if let Some((n, e)) = cut {
            errs.push(format!("{n}: {e}"));
        }
        drain(&mut p, &mut got, &mut errs);
        match r {
            Ok(Some(c)) => got.push(Want::Command(c.words().to_vec())),
            Ok(None) => {}
            Err(e) => errs.push(format!("{}: {e}", i + 1)),
        }
    }
    if let Some((n, e)) = p.finish() {
        errs.push(format!("{n}: {e}"));
    }
    drain(&mut p, &mut got, &mut errs);
    (got, errs, p.skipped())
}

fn arch_of(x: u8) -> ArchId {
    [ArchId::Smmuv3, ArchId::Vtd, ArchId::Amd][usize::from(x % 3)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn words_read_the_same_with_any_separator(
        w in proptest::collection::vec(any::<u64>(), 2..=4usize),
        gap in "[ \t]{1,3}",
        addr in 0u64..=u64::MAX,
    ) {
        let n = if w.len() == 3 { 2 } else { w.len() };
        let w = &w[..n];
        let commas = w.iter().map(|x| format!("{x:#x}")).collect::<Vec<_>>().join(",");
        let want = parse_hex_line(&commas, n);
        prop_assert!(want.is_ok(), "{commas}");
        let od = format!(" {}", w.iter().map(|x| format!("{x:016x}")).collect::<Vec<_>>().join(&gap));
        let qemu = format!(
            "{addr:016x}: {}",
            w.iter().map(|x| format!("0x{x:016x}")).collect::<Vec<_>>().join(" ")
        );
        for line in [&od, &qemu] {
            prop_assert_eq!(parse_hex_line(line, n), want.clone(), "{}", line);
        }
    }

    #[test]
    fn unrelated_log_lines_change_nothing(
        a in any::<u8>(),
        units in proptest::collection::vec((any::<u8>(), any::<[u64; 2]>(), 0u32..0x10_0000), 1..6),
        noise in proptest::collection::vec(("[a-z][a-z0-9 .:=-]{0,40}", any::<u16>()), 0..24),
    ) {
        let arch = arch_of(a);
        let mut clean = Vec::new();
        let mut want = Vec::new();
        for (k, w, n) in &units {
            let (lines, r) = unit(arch, *k, *w, *n);
            clean.extend(lines);
            want.push(r);
        }
        // Every line with a dmesg timestamp, as `dmesg` prints them.
        let stamp = |i: usize, l: &str| format!("[{:5}.{:06}] {l}", i / 100, i % 100);
        let base: Vec<String> = clean.iter().enumerate().map(|(i, l)| stamp(i, l)).collect();
        let (got, errs, skipped) = outcomes(arch, &base);
        prop_assert!(errs.is_empty(), "{errs:?}\n{base:#?}");
        prop_assert_eq!(&got, &want, "{:#?}", base);
        prop_assert_eq!(skipped, 0);
        // The same with unrelated lines put anywhere, inside dumps too.
        let mut noisy = base.clone();
        for (text, at) in &noise {
            let i = usize::from(*at) % (noisy.len() + 1);
            noisy.insert(i, stamp(i, &format!("usb 1-1: {text}")));
        }
        let (got2, errs2, skipped2) = outcomes(arch, &noisy);
        prop_assert!(errs2.is_empty(), "{errs2:?}\n{noisy:#?}");
        prop_assert_eq!(&got2, &want, "{:#?}", noisy);
        prop_assert_eq!(skipped2, noise.len());
    }
}
