//! Progress on stderr for long inputs: a bar (from `indicatif`) over the
//! bytes of a `--raw` dump, shown only when stderr is a terminal, `CI` is
//! not set, and the input has taken longer than a second; never in pipes.

use std::io::{self, IsTerminal, Read};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long an input runs before its progress is shown.
pub const DELAY: Duration = Duration::from_secs(1);

/// A reader that reports how far through `total` bytes it is.
pub struct ProgressReader<R> {
    inner: R,
    total: u64,
    done: u64,
    start: Instant,
    bar: Option<ProgressBar>,
    /// Checked once: a terminal on stderr and not CI.
    enabled: bool,
    /// Bytes since the last look at the clock.
    since_check: u64,
}

/// True when progress may be drawn: stderr is a terminal and `CI` is unset.
pub fn wanted() -> bool {
    io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

impl<R: Read> ProgressReader<R> {
    /// Wrap `inner`, which holds `total` bytes; `enabled` as [`wanted`] says.
    pub fn new(inner: R, total: u64, enabled: bool) -> Self {
        ProgressReader {
            inner,
            total,
            done: 0,
            start: Instant::now(),
            bar: None,
            enabled,
            since_check: 0,
        }
    }

    fn update(&mut self) {
        if let Some(b) = &self.bar {
            b.set_position(self.done);
            return;
        }
        if self.start.elapsed() < DELAY {
            return;
        }
        let b = ProgressBar::with_draw_target(Some(self.total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} [{bar:40}] {bytes_per_sec}, {eta} left",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b.set_position(self.done);
        self.bar = Some(b);
    }
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.enabled {
            self.done += n as u64;
            self.since_check += n as u64;
            // Look at the clock every 64 KiB, not on every small read.
            if self.since_check >= 1 << 16 || n == 0 {
                self.since_check = 0;
                self.update();
            }
        }
        Ok(n)
    }
}

impl<R> Drop for ProgressReader<R> {
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_bytes_through_and_stays_quiet_when_disabled() {
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let mut r = ProgressReader::new(&data[..], data.len() as u64, false);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        assert!(r.bar.is_none() && r.done == 0);
    }

    #[test]
    fn counts_and_shows_nothing_in_the_first_second() {
        let data = vec![7u8; 300_000];
        let mut r = ProgressReader::new(&data[..], data.len() as u64, true);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(r.done, 300_000);
        assert!(r.bar.is_none(), "a fast input draws no bar");
    }
}
