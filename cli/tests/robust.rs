//! The public parsing entry points never panic, on any input (the fuzz
//! target `cli_input` runs the same functions longer), and what they accept
//! prints back to the same thing.

// The binary's private modules, compiled from source.
#[allow(dead_code)]
#[path = "../src/app/mod.rs"]
mod app;

use app::generic::{op_to_json, parse_op_json};
use app::json::{command_to_json, parse_native_json};
use app::text::{format_words, parse_hex_line};
use iommu_inval::core::ArchId;
use iommu_inval::{AnyCommand, Arch, ArchOps};
use proptest::prelude::*;

/// Valid lines to mutate: decode JSON of real commands, and generic ops.
const SEEDS: &[&str] = &[
    r#"{"arch":"smmuv3","op":"CMD_TLBI_NH_VA","fields":{"num":0,"scale":9,"vmid":1,"asid":5,"leaf":true,"ttl":3,"tg":1,"address":1073741824}}"#,
    r#"{"arch":"vtd","op":"page_grp_resp_dsc","fields":{"pasid_present":true,"priv_data_present":true,"resp_code":0,"rid":16,"pasid":1,"lpig":true,"prg_index":26,"priv_data":[1,2]}}"#,
    r#"{"arch":"amd","op":"COMPLETION_WAIT","fields":{"s":true,"i":false,"f":false,"store_address":2130706432,"store_data":1}}"#,
    r#"{"op":"inval","caches":["iotlb","leaf"],"stages":["s1"],"domain":1,"pasid":1,"device":{"first":1,"last":9},"range":{"iova":"0x40000000","size":"0x200000"},"hints":{"level":3}}"#,
    r#"{"op":"sync","store":{"address":4096,"data":1},"fence":true}"#,
    r#"{"op":"page_response","device":16,"pasid":1,"prg_index":26,"code":"failure","priv_data":[1,2]}"#,
];

fn mutate(seed: &str, at: usize, cut: usize, insert: &str) -> String {
    let chars: Vec<char> = seed.chars().collect();
    let at = at % (chars.len() + 1);
    let end = (at + cut % 8).min(chars.len());
    let mut s: String = chars[..at].iter().collect();
    s.push_str(insert);
    s.extend(&chars[end..]);
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn hex_lines_never_panic(line in "\\PC{0,80}", words in prop::sample::select(vec![0usize, 2, 3, 4])) {
        if let Ok((w, n)) = parse_hex_line(&line, words) {
            prop_assert_eq!(n, words);
            // What parses prints canonically and parses back the same.
            let again = parse_hex_line(&format_words(&w[..n]), words);
            prop_assert_eq!(again, Ok((w, n)));
        }
    }

    #[test]
    fn hex_like_lines_never_panic(line in "[0-9a-fA-FxX, _#]{0,90}") {
        let _ = parse_hex_line(&line, 2);
        let _ = parse_hex_line(&line, 4);
    }

    #[test]
    fn json_lines_never_panic(
        seed in prop::sample::select(SEEDS.to_vec()),
        at in 0usize..300,
        cut in 0usize..8,
        insert in prop::sample::select(vec!["", "-1", "1e3", "null", "\"", "{", "}", "[1]", "18446744073709551616", "true", "\"0x\"", ",\"x\":1", "\u{0}"]),
    ) {
        let line = mutate(seed, at, cut, insert);
        for arch in ArchId::ALL {
            for words in [2, 4] {
                if let Ok(c) = parse_native_json(arch, &line, words) {
                    // Accepted objects print back to an object that encodes the same.
                    let j = command_to_json(&c).to_string();
                    let again = parse_native_json(arch, &j, c.to_words().1).map(|d| d.to_words());
                    prop_assert_eq!(again, Ok(c.to_words()));
                }
            }
        }
        if let Ok(op) = parse_op_json(&line) {
            prop_assert_eq!(parse_op_json(&op_to_json(&op).to_string()), Ok(op));
        }
    }

    #[test]
    fn arbitrary_text_as_json_never_panics(line in "\\PC{0,120}") {
        let _ = parse_op_json(&line);
        for arch in ArchId::ALL {
            let _ = parse_native_json(arch, &line, 2);
        }
    }

    #[test]
    fn any_words_decode_or_error_and_valid_ones_round_trip_through_json(w0: u64, w1: u64, w2: u64, w3: u64) {
        for (id, n) in [(ArchId::Smmuv3, 2), (ArchId::Vtd, 2), (ArchId::Vtd, 4), (ArchId::Amd, 2)] {
            let words = [w0, w1, w2, w3];
            let arch = Arch::new(id);
            if let Ok(c) = arch.decode(&words[..n]) {
                let j = command_to_json(&c).to_string();
                let back = parse_native_json(id, &j, n).map(|d| d.to_words());
                let mut want = [0u64; iommu_inval::core::native::MAX_WORDS];
                want[..n].copy_from_slice(&words[..n]);
                prop_assert_eq!(back, Ok((want, n)), "{}", j);
            }
        }
    }
}
