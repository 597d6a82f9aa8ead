//! The text form of native commands: hex words, lowest first, joined by
//! commas (`0x0000000100000012,0x0000000000001000`), and a bounded line
//! reader for streaming stdin.
//!
//! Accepted per word (docs/CLI.md "Input", docs/SPEC.md "Codec rules"):
//! hex digits in any case, `0x`/`0X` optional, leading zeros optional, at
//! most 16 digits, `_` allowed between digits, whitespace around the word.
//! A `#` starts a comment that runs to the end of the line.
//!
//! Example: the test `example::module_example` at the end of this file.

use std::fmt;
use std::io::{self, BufRead};

/// The longest input line accepted (bytes, without the newline). Longer
/// lines are a [`TextError::TooLong`], so that memory stays bounded.
pub const MAX_LINE: usize = 64 * 1024;

/// Text that is not a command of hex words (the CLI's exit status 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextError {
    /// Nothing on the line.
    Empty,
    /// The caller asked for a word count other than 2 or 4.
    BadWidth(usize),
    /// Word `index` (0-based) is empty (two commas in a row, a trailing comma).
    EmptyWord {
        /// Index of the word.
        index: usize,
    },
    /// Word `index` has a character that is not a hex digit.
    NotHex {
        /// Index of the word.
        index: usize,
        /// The offending character.
        ch: char,
    },
    /// Word `index` has more than 16 hex digits.
    TooManyDigits {
        /// Index of the word.
        index: usize,
        /// Digits seen.
        digits: usize,
    },
    /// The line has `got` words where the architecture wants `want`.
    WordCount {
        /// Words on the line.
        got: usize,
        /// Words per command.
        want: usize,
    },
    /// The line is longer than [`MAX_LINE`] bytes.
    TooLong,
    /// The line is not UTF-8; the first bad byte is at `offset`.
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::Empty => f.write_str("empty command: expected comma-separated hex words"),
            TextError::BadWidth(n) => write!(f, "commands are 2 or 4 words, not {n}"),
            TextError::EmptyWord { index } => write!(f, "word {index} is empty"),
            TextError::NotHex { index, ch } => {
                write!(f, "word {index} is not hex: unexpected character {ch:?}")
            }
            TextError::TooManyDigits { index, digits } => {
                write!(
                    f,
                    "word {index} has {digits} hex digits (at most 16 fit 64 bits)"
                )
            }
            TextError::WordCount { got, want } => {
                write!(
                    f,
                    "expected {want} 64-bit words (separated by commas or spaces), got {got}"
                )
            }
            TextError::TooLong => write!(f, "line longer than {MAX_LINE} bytes"),
            TextError::NotUtf8 { offset } => write!(f, "invalid UTF-8 at byte {offset}"),
        }
    }
}

impl std::error::Error for TextError {}

/// Parse one hex word (see the module doc). `index` is used in errors.
pub fn parse_hex_word(s: &str, index: usize) -> Result<u64, TextError> {
    let t = s.trim();
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if digits.is_empty() {
        return Err(TextError::EmptyWord { index });
    }
    if digits.starts_with('_') || digits.ends_with('_') {
        return Err(TextError::NotHex { index, ch: '_' });
    }
    let mut value: u64 = 0;
    let mut count = 0usize;
    for ch in digits.chars() {
        if ch == '_' {
            continue;
        }
        let d = ch.to_digit(16).ok_or(TextError::NotHex { index, ch })?;
        count += 1;
        if count > 16 {
            // Count the rest for the message, without failing on it.
            let digits = digits.chars().filter(char::is_ascii_hexdigit).count();
            return Err(TextError::TooManyDigits { index, digits });
        }
        value = (value << 4) | u64::from(d);
    }
    Ok(value)
}

/// Parse a command line of exactly `words` (2 or 4) hex words.
///
/// The words are separated by commas or, on a line without commas, by
/// whitespace: `od -An -tx8` output, and QEMU's monitor (`xp /2gx`), whose
/// lines start with the address and a colon (`00000000fee00000: 0x… 0x…`;
/// that address, of 8 to 16 hex digits, is left out).
///
/// Returns the words (unused slots 0) and the count. Never panics.
pub fn parse_hex_line(line: &str, words: usize) -> Result<([u64; 4], usize), TextError> {
    if words != 2 && words != 4 {
        return Err(TextError::BadWidth(words));
    }
    let line = strip_comment(line).trim();
    if line.is_empty() {
        return Err(TextError::Empty);
    }
    let line = strip_memory_address(line);
    let mut out = [0u64; 4];
    let mut got = 0usize;
    let parts: &mut dyn Iterator<Item = &str> = if line.contains(',') {
        &mut line.split(',')
    } else {
        &mut line.split_whitespace()
    };
    for (index, part) in parts.enumerate() {
        let v = parse_hex_word(part, index)?;
        if let Some(slot) = out.get_mut(index) {
            *slot = v;
        }
        got = index + 1;
    }
    if got != words {
        return Err(TextError::WordCount { got, want: words });
    }
    Ok((out, got))
}

/// The line without the `ADDRESS: ` that QEMU's monitor puts in front of
/// memory it prints (8 to 16 hex digits, a colon, whitespace).
fn strip_memory_address(line: &str) -> &str {
    if let Some((addr, rest)) = line.split_once(':') {
        let n = addr.len();
        if (8..=16).contains(&n)
            && addr.bytes().all(|b| b.is_ascii_hexdigit())
            && rest.starts_with(char::is_whitespace)
        {
            return rest.trim_start();
        }
    }
    line
}

/// The line without a trailing `# comment`.
pub fn strip_comment(line: &str) -> &str {
    match line.find('#') {
        Some(i) => line.get(..i).unwrap_or(""),
        None => line,
    }
}

/// True for lines that carry no command (blank or `#` comment).
pub fn is_skippable(line: &str) -> bool {
    strip_comment(line).trim().is_empty()
}

/// The canonical text of a command: `0x` + 16 lowercase hex digits per word, joined by `,`.
pub fn format_words(words: &[u64]) -> String {
    let mut s = String::with_capacity(words.len() * 19);
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!("{w:#018x}"));
    }
    s
}

/// `words` as `arch` prints a command: virtio-iommu requests as the hex
/// bytes of their readable part (its type's length, the form `--arch
/// virtio-iommu` reads back), every other architecture as [`format_words`].
pub fn format_native(arch: iommu_inval::core::ArchId, words: &[u64]) -> String {
    if arch != iommu_inval::core::ArchId::VirtioIommu {
        return format_words(words);
    }
    let len = words
        .first()
        .and_then(|w| iommu_inval::virtio::len_of_type(*w as u8))
        .unwrap_or(words.len() * 8);
    let mut s = String::with_capacity(len * 2);
    for b in words.iter().flat_map(|w| w.to_le_bytes()).take(len) {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The bytes of a virtio-iommu request written as hex: digit pairs,
/// optionally separated by spaces, commas or colons (`0x` prefixes
/// allowed on each group).
pub fn parse_hex_bytes(line: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let line = line.split('#').next().unwrap_or("");
    for group in line.split(|c: char| c.is_whitespace() || c == ',' || c == ':') {
        let g = group.trim_start_matches("0x").trim_start_matches("0X");
        if g.is_empty() {
            continue;
        }
        if g.len() % 2 != 0 {
            return Err(format!("odd number of hex digits in {group:?}"));
        }
        for k in (0..g.len()).step_by(2) {
            let pair = g.get(k..k + 2).unwrap_or("");
            let b = u8::from_str_radix(pair, 16)
                .map_err(|_| format!("not a hex byte: {pair:?} in {group:?}"))?;
            out.push(b);
        }
    }
    if out.is_empty() {
        return Err("no bytes on the line".into());
    }
    Ok(out)
}

/// Reads lines with a bounded buffer: a line longer than [`MAX_LINE`] is
/// skipped (without being held in memory) and reported as
/// [`TextError::TooLong`]; invalid UTF-8 is [`TextError::NotUtf8`].
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    line_no: usize,
    max: usize,
}

impl<R: BufRead> LineReader<R> {
    /// Read from `inner` with the default cap [`MAX_LINE`].
    pub fn new(inner: R) -> Self {
        Self::with_max(inner, MAX_LINE)
    }
    /// Read from `inner`, refusing lines longer than `max` bytes.
    pub fn with_max(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            line_no: 0,
            max,
        }
    }
    /// 1-based number of the line last returned.
    pub fn line_no(&self) -> usize {
        self.line_no
    }
    /// The next line (without `\n` / `\r\n`), `Ok(None)` at end of input.
    pub fn next_line(&mut self) -> io::Result<Option<Result<&str, TextError>>> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let (chunk_len, consumed, done) = match avail.iter().position(|&b| b == b'\n') {
                Some(p) => (p, p + 1, true),
                None => (avail.len(), avail.len(), false),
            };
            if !too_long {
                let chunk = avail.get(..chunk_len).unwrap_or(&[]);
                if self.buf.len() + chunk.len() > self.max {
                    too_long = true;
                    self.buf.clear();
                    self.buf.shrink_to(self.max);
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            self.inner.consume(consumed);
            if done {
                break;
            }
        }
        self.line_no += 1;
        if too_long {
            return Ok(Some(Err(TextError::TooLong)));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some(std::str::from_utf8(&self.buf).map_err(|e| {
            TextError::NotUtf8 {
                offset: e.valid_up_to(),
            }
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_in_every_accepted_spelling() {
        assert_eq!(parse_hex_word("0xAbC", 0), Ok(0xabc));
        assert_eq!(parse_hex_word("abc", 0), Ok(0xabc));
        assert_eq!(parse_hex_word(" 0X00000000000000ff ", 0), Ok(0xff));
        assert_eq!(parse_hex_word("ffffffffffffffff", 0), Ok(u64::MAX));
        assert_eq!(
            parse_hex_word("7fff_ffff_ffff_f000", 0),
            Ok(0x7fff_ffff_ffff_f000)
        );
        assert_eq!(parse_hex_word("0", 0), Ok(0));
    }

    #[test]
    fn bad_words_are_typed_errors() {
        for (text, index, err) in [
            ("", 1, TextError::EmptyWord { index: 1 }),
            ("0x", 1, TextError::EmptyWord { index: 1 }),
            ("0xg1", 0, TextError::NotHex { index: 0, ch: 'g' }),
            ("1 2", 0, TextError::NotHex { index: 0, ch: ' ' }),
            ("-1", 0, TextError::NotHex { index: 0, ch: '-' }),
            ("_1", 0, TextError::NotHex { index: 0, ch: '_' }),
            (
                "10000000000000000",
                0,
                TextError::TooManyDigits {
                    index: 0,
                    digits: 17,
                },
            ),
        ] {
            assert_eq!(parse_hex_word(text, index), Err(err), "{text:?}");
        }
        assert!(
            parse_hex_word("0x１", 0).is_err(),
            "non-ASCII digits are refused"
        );
    }

    #[test]
    fn lines_need_the_exact_word_count() {
        let (w, n) = parse_hex_line("1,2,3,4", 4).unwrap();
        assert_eq!((w, n), ([1, 2, 3, 4], 4));
        assert_eq!(
            parse_hex_line("1,2,3", 2),
            Err(TextError::WordCount { got: 3, want: 2 })
        );
        assert_eq!(
            parse_hex_line("1,2,3,4,5", 4),
            Err(TextError::WordCount { got: 5, want: 4 })
        );
        assert_eq!(
            parse_hex_line("1", 2),
            Err(TextError::WordCount { got: 1, want: 2 })
        );
        assert_eq!(
            parse_hex_line("1,", 2),
            Err(TextError::EmptyWord { index: 1 })
        );
        assert_eq!(parse_hex_line("  ", 2), Err(TextError::Empty));
        assert_eq!(parse_hex_line("1,2", 3), Err(TextError::BadWidth(3)));
        assert_eq!(
            parse_hex_line("1, 2 # trailing comment", 2).map(|x| x.0[1]),
            Ok(2)
        );
        // Many words must not index out of bounds.
        let many = vec!["1"; 1000].join(",");
        assert_eq!(
            parse_hex_line(&many, 4),
            Err(TextError::WordCount { got: 1000, want: 4 })
        );
    }

    #[test]
    fn words_separated_by_spaces() {
        // od -An -tx8: leading spaces, two words, no 0x.
        assert_eq!(
            parse_hex_line(" 0000000000000012 0000000000001000", 2),
            Ok(([0x12, 0x1000, 0, 0], 2))
        );
        // QEMU's monitor: address, colon, 0x words.
        assert_eq!(
            parse_hex_line("00000000fee00000: 0x0000000000000012 0x0000000000001000", 2),
            Ok(([0x12, 0x1000, 0, 0], 2))
        );
        assert_eq!(parse_hex_line("1\t2  3 4", 4), Ok(([1, 2, 3, 4], 4)));
        // The count is still exact (od without -An prints an offset first).
        assert_eq!(
            parse_hex_line("0000000 0000000000000012 0000000000001000", 2),
            Err(TextError::WordCount { got: 3, want: 2 })
        );
        // Commas win: a space inside a comma-separated word is an error.
        assert_eq!(
            parse_hex_line("1 2, 3", 2),
            Err(TextError::NotHex { index: 0, ch: ' ' })
        );
        // A short address is a word, not an address.
        assert!(parse_hex_line("1234: 1 2", 2).is_err());
    }

    #[test]
    fn format_is_canonical() {
        assert_eq!(
            format_words(&[0x12, u64::MAX]),
            "0x0000000000000012,0xffffffffffffffff"
        );
        assert_eq!(format_words(&[]), "");
    }

    fn all_lines(input: &[u8], max: usize) -> Vec<Result<String, TextError>> {
        let mut r = LineReader::with_max(input, max);
        let mut v = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            v.push(l.map(str::to_owned));
        }
        v
    }

    #[test]
    fn reader_bounds_lines_and_reports_bad_utf8() {
        let v = all_lines(b"ab\r\n\n0123456789\nxy", 8);
        assert_eq!(
            v,
            vec![
                Ok("ab".into()),
                Ok(String::new()),
                Err(TextError::TooLong),
                Ok("xy".into())
            ]
        );
        let v = all_lines(b"a\xffb\nok\n", 8);
        assert_eq!(
            v,
            vec![Err(TextError::NotUtf8 { offset: 1 }), Ok("ok".into())]
        );
        assert!(all_lines(b"", 8).is_empty());
    }

    #[test]
    fn reader_handles_long_lines_across_buffer_refills() {
        let mut data = vec![b'a'; 100_000];
        data.extend_from_slice(b"\nshort\n");
        let r = io::BufReader::with_capacity(16, &data[..]);
        let mut lr = LineReader::with_max(r, 1000);
        assert_eq!(
            lr.next_line().unwrap().map(|x| x.map(str::to_owned)),
            Some(Err(TextError::TooLong))
        );
        assert_eq!(
            lr.next_line().unwrap().map(|x| x.map(str::to_owned)),
            Some(Ok("short".into()))
        );
        assert_eq!(lr.line_no(), 2);
        assert!(lr.next_line().unwrap().is_none());
    }
}

/// The module documentation's example, as a test (a binary has no doc tests).
#[cfg(test)]
mod example {
    use super::*;

    #[test]
    fn module_example() {
        let (w, n) = parse_hex_line(" 0x12, 0X0000_0000_0000_1000 ", 2).unwrap();
        assert_eq!((w[0], w[1], n), (0x12, 0x1000, 2));
        assert_eq!(
            format_words(&w[..n]),
            "0x0000000000000012,0x0000000000001000"
        );
        assert!(parse_hex_line("0x12", 2).is_err()); // one word where two are needed
    }
}
