//! What a plugin prints, bounded by the host.
//!
//! A plugin prints through the `log` import and through WASI stdout and stderr. All three go
//! through one [`PluginOutput`] per table: every line is cut to `log_line_max_bytes` with a
//! marker, at most `log_lines_per_batch` lines and `log_bytes_per_batch` bytes are printed per
//! batch (the re-runs of a bisected batch included), and the rest is only counted, then
//! summarised in one line when the batch ends. The streams accept every write, so a plugin
//! that prints without end is neither trapped nor able to fill the host's memory or its log.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::plan::PluginLimits;

/// Most stderr kept per call for the message of a trap (a panic prints its message there).
const TRAP_STDERR_BYTES: usize = 16 << 10;
/// Largest single write a stream permits: bounds what one WASI `write` copies into the host.
const WRITE_PERMIT_BYTES: usize = 64 << 10;

/// Where a line came from, and the level it is logged at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Log(tracing::Level),
    Stdout,
    Stderr,
}

/// The output of one table's plugin instances (shared by the instance made after a trap).
#[derive(Clone)]
pub struct PluginOutput {
    inner: Arc<Mutex<Budget>>,
}

struct Budget {
    table: String,
    limits: PluginLimits,
    /// Printed in this batch.
    lines: u64,
    bytes: u64,
    /// Counted, not printed, in this batch (bytes as the plugin wrote them).
    suppressed_lines: u64,
    suppressed_bytes: u64,
    /// The unfinished line of stdout and of stderr: its first `log_line_max_bytes` bytes,
    /// and how many bytes beyond that were dropped.
    partial: [(Vec<u8>, u64); 2],
    /// The start of this call's stderr, for a trap's message.
    trap_stderr: Vec<u8>,
}

impl PluginOutput {
    pub fn new(table: &str, limits: PluginLimits) -> Self {
        PluginOutput {
            inner: Arc::new(Mutex::new(Budget {
                table: table.to_string(),
                limits,
                lines: 0,
                bytes: 0,
                suppressed_lines: 0,
                suppressed_bytes: 0,
                partial: Default::default(),
                trap_stderr: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Budget> {
        // A panic while printing leaves nothing half-updated that matters: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn limits(&self) -> PluginLimits {
        self.lock().limits
    }

    /// A line from the `log` import. `message` is the host's only copy: it is cut before it
    /// is formatted, so a 100 MB message costs no second 100 MB.
    pub fn log(&self, level: tracing::Level, message: &str) {
        self.lock().line(Source::Log(level), message.as_bytes(), 0);
    }

    /// A call starts: its stderr is collected afresh for a possible trap message.
    pub fn begin_call(&self) {
        self.lock().trap_stderr.clear();
    }

    /// A call ended: unfinished stdout/stderr lines are printed as they are.
    pub fn end_call(&self) {
        let mut b = self.lock();
        for (i, source) in [Source::Stdout, Source::Stderr].into_iter().enumerate() {
            let (text, dropped) = std::mem::take(&mut b.partial[i]);
            if !text.is_empty() || dropped > 0 {
                b.line(source, &text, dropped);
            }
        }
    }

    /// The start of what the plugin wrote to stderr during the current call.
    pub fn trap_stderr(&self) -> Vec<u8> {
        self.lock().trap_stderr.clone()
    }

    /// Ends a batch: the budget starts again, and what was held back is summarised in one
    /// line (returned too, for tests and callers).
    pub fn end_batch(&self) -> Option<String> {
        self.end_call();
        let mut b = self.lock();
        let summary = (b.suppressed_lines > 0).then(|| {
            format!(
                "plugin {}: {} more log lines ({}) suppressed in this batch (at most {} lines and {} per batch: log_lines_per_batch, log_bytes_per_batch)",
                b.table,
                crate::progress::thousands(b.suppressed_lines),
                human_bytes(b.suppressed_bytes),
                crate::progress::thousands(b.limits.log_lines_per_batch),
                human_bytes(b.limits.log_bytes_per_batch),
            )
        });
        if let Some(s) = &summary {
            tracing::warn!(target: "plugin", table = %b.table, "{s}");
        }
        b.lines = 0;
        b.bytes = 0;
        b.suppressed_lines = 0;
        b.suppressed_bytes = 0;
        summary
    }

    fn write(&self, stream: Source, mut data: &[u8]) {
        let mut b = self.lock();
        let i = usize::from(stream == Source::Stderr);
        if stream == Source::Stderr {
            let room = TRAP_STDERR_BYTES.saturating_sub(b.trap_stderr.len());
            let kept = &data[..data.len().min(room)];
            b.trap_stderr.extend_from_slice(kept);
        }
        let max = b.limits.log_line_max_bytes;
        while !data.is_empty() {
            let (piece, rest, ended) = match data.iter().position(|c| *c == b'\n') {
                Some(at) => (&data[..at], &data[at + 1..], true),
                None => (data, &data[data.len()..], false),
            };
            let (text, dropped) = &mut b.partial[i];
            let room = max.saturating_sub(text.len());
            text.extend_from_slice(&piece[..piece.len().min(room)]);
            *dropped += piece.len().saturating_sub(room) as u64;
            if ended {
                let (text, dropped) = std::mem::take(&mut b.partial[i]);
                b.line(stream, &text, dropped);
            }
            data = rest;
        }
    }

    /// The stream given to the plugin as its stdout or stderr.
    pub fn stream(&self, source: Source) -> OutputPipe {
        OutputPipe {
            output: self.clone(),
            source,
        }
    }
}

impl Budget {
    /// Prints one line (cut to the limit) if the budget allows, else counts it. `dropped`:
    /// bytes of the line already cut off before it got here.
    fn line(&mut self, source: Source, text: &[u8], dropped: u64) {
        let level = match source {
            Source::Log(level) => level,
            Source::Stdout => tracing::Level::INFO,
            Source::Stderr => tracing::Level::WARN,
        };
        if !level_enabled(level) {
            return;
        }
        let full = text.len() as u64 + dropped;
        let max = self.limits.log_line_max_bytes;
        let cut = floor_char_boundary(text, max.min(text.len()));
        let cut_off = full - cut as u64;
        let shown = cut as u64 + if cut_off > 0 { 32 } else { 0 };
        if self.lines >= self.limits.log_lines_per_batch
            || self.bytes + shown > self.limits.log_bytes_per_batch
        {
            self.suppressed_lines += 1;
            self.suppressed_bytes += full;
            return;
        }
        self.lines += 1;
        self.bytes += shown;
        let head = String::from_utf8_lossy(&text[..cut]);
        let message = if cut_off > 0 {
            format!(
                "{head}… [truncated {} bytes]",
                crate::progress::thousands(cut_off)
            )
        } else {
            head.into_owned()
        };
        let table = &self.table;
        let stream = match source {
            Source::Log(_) => "log",
            Source::Stdout => "stdout",
            Source::Stderr => "stderr",
        };
        match level {
            tracing::Level::ERROR => tracing::error!(target: "plugin", %table, stream, "{message}"),
            tracing::Level::WARN => tracing::warn!(target: "plugin", %table, stream, "{message}"),
            tracing::Level::INFO => tracing::info!(target: "plugin", %table, stream, "{message}"),
            _ => tracing::debug!(target: "plugin", %table, stream, "{message}"),
        }
    }
}

/// Whether a plugin line at `level` would be shown at all: lines nobody sees use no budget.
fn level_enabled(level: tracing::Level) -> bool {
    match level {
        tracing::Level::ERROR => tracing::enabled!(target: "plugin", tracing::Level::ERROR),
        tracing::Level::WARN => tracing::enabled!(target: "plugin", tracing::Level::WARN),
        tracing::Level::INFO => tracing::enabled!(target: "plugin", tracing::Level::INFO),
        tracing::Level::DEBUG => tracing::enabled!(target: "plugin", tracing::Level::DEBUG),
        tracing::Level::TRACE => tracing::enabled!(target: "plugin", tracing::Level::TRACE),
    }
}

/// The largest `i <= at` that does not split a UTF-8 character of `text` (invalid bytes are
/// replaced when printed anyway).
fn floor_char_boundary(text: &[u8], at: usize) -> usize {
    let mut i = at.min(text.len());
    // A continuation byte is 0b10xx_xxxx; at most 3 of them follow a lead byte.
    let mut steps = 0;
    while i > 0 && i < text.len() && text[i] & 0xc0 == 0x80 && steps < 3 {
        i -= 1;
        steps += 1;
    }
    i
}

/// 5_600_000 -> "5.6 MB".
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.1} GB", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} kB", n as f64 / 1e3),
        n => format!("{n} bytes"),
    }
}

/// A plugin's stdout or stderr: accepts every write (never full, never closed), hands
/// complete lines to the budget.
pub struct OutputPipe {
    output: PluginOutput,
    source: Source,
}

impl IsTerminal for OutputPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.output.stream(self.source))
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.output.stream(self.source))
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for OutputPipe {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for OutputPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.output.write(self.source, &bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT_BYTES)
    }
}

impl tokio::io::AsyncWrite for OutputPipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.output.write(self.source, buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(lines: u64, bytes: u64, line: usize) -> PluginLimits {
        PluginLimits {
            log_lines_per_batch: lines,
            log_bytes_per_batch: bytes,
            log_line_max_bytes: line,
            ..PluginLimits::DEFAULT
        }
    }

    /// Lines are only counted when a subscriber would show them.
    fn with_logging(test: impl FnOnce()) {
        let subscriber = tracing_subscriber::fmt().with_test_writer().finish();
        tracing::subscriber::with_default(subscriber, test);
    }

    #[test]
    fn lines_beyond_the_budget_are_counted_and_summarised_once() {
        with_logging(lines_beyond_the_budget);
    }

    fn lines_beyond_the_budget() {
        let out = PluginOutput::new("offices", limits(3, 1 << 20, 100));
        for _ in 0..10 {
            out.log(tracing::Level::ERROR, &"x".repeat(1000));
        }
        let b = out.lock();
        assert_eq!((b.lines, b.suppressed_lines), (3, 7));
        assert_eq!(b.suppressed_bytes, 7000);
        drop(b);
        let summary = out.end_batch().unwrap();
        assert!(
            summary
                .starts_with("plugin offices: 7 more log lines (7.0 kB) suppressed in this batch"),
            "{summary}"
        );
        assert_eq!(
            out.end_batch(),
            None,
            "a new batch starts with a fresh budget"
        );
    }

    #[test]
    fn streams_split_lines_keep_only_the_head_and_never_refuse() {
        with_logging(streams_split_lines);
    }

    fn streams_split_lines() {
        let out = PluginOutput::new("offices", limits(100, 1 << 20, 100));
        let mut pipe = out.stream(Source::Stdout);
        for _ in 0..1000 {
            assert!(pipe.check_write().unwrap() > 0);
            pipe.write(Bytes::from(vec![b'a'; 4096])).unwrap();
        }
        pipe.write(Bytes::from_static(b"\nnext")).unwrap();
        let b = out.lock();
        assert_eq!(b.partial[0].0, b"next");
        assert!(b.partial[0].0.capacity() < 4096, "only the head is kept");
        assert_eq!(b.lines, 1);
    }

    #[test]
    fn cuts_respect_utf8() {
        assert_eq!(floor_char_boundary("aé".as_bytes(), 2), 1);
        assert_eq!(floor_char_boundary("aé".as_bytes(), 3), 3);
        assert_eq!(human_bytes(5_600_000), "5.6 MB");
    }
}
