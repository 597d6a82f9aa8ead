//! The CLI's text parsers on arbitrary bytes (placeholder until the CLI lands).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
