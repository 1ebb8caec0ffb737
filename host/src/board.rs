//! The live progress board on a terminal: one bar per table running now, drawn by indicatif
//! from the engine's progress events. Log lines go through the board ([`LogWriter`]) so they
//! print above it instead of breaking it. Without a terminal there is no board: the engine's
//! own log lines every few seconds (`engine::progress::LogLines`).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use engine::progress::{Observer, Rate};
use engine::state::TableCounts;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Board {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, (ProgressBar, Rate)>>,
}

impl Board {
    /// The board when stderr is a terminal; None otherwise.
    pub fn for_terminal() -> Option<Arc<Board>> {
        std::io::stderr().is_terminal().then(|| {
            Arc::new(Board {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: Mutex::new(HashMap::new()),
            })
        })
    }

    fn style() -> ProgressStyle {
        ProgressStyle::with_template("{prefix:>22} [{bar:30}] {percent:>3}% {msg}")
            .expect("a valid template")
            .progress_chars("=> ")
    }
}

/// The text after a table's bar: rows, rate, time left and what did not go in.
fn message(rate: &Rate, counts: &TableCounts) -> String {
    let done = counts.rows_read as u64;
    let (_, per_sec, eta) = rate.figures(done);
    let mut text = format!(
        "{}/{} rows, {} rows/s, ETA {eta}",
        engine::progress::thousands(done),
        engine::progress::thousands(rate.total()),
        engine::progress::thousands(per_sec.round() as u64)
    );
    if counts.rows_rejected > 0 {
        text += &format!(", {} quarantined", counts.rows_rejected);
    }
    text
}

impl Observer for Board {
    fn table_started(&self, table: &str, total: u64, done: u64) {
        let bar = self.multi.add(
            ProgressBar::new(total)
                .with_style(Self::style())
                .with_prefix(table.to_string())
                .with_position(done),
        );
        let rate = Rate::new(total, done);
        bar.set_message(message(
            &rate,
            &TableCounts {
                rows_read: done as i64,
                ..Default::default()
            },
        ));
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((old, _)) = bars.insert(table.to_string(), (bar, rate)) {
            self.multi.remove(&old);
        }
    }

    fn batch_committed(&self, table: &str, counts: &TableCounts) {
        let bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((bar, rate)) = bars.get(table) {
            bar.set_message(message(rate, counts));
            bar.set_position(counts.rows_read as u64);
        }
    }

    fn table_finished(&self, table: &str, _counts: &TableCounts) {
        self.table_stopped(table);
    }

    fn table_stopped(&self, table: &str) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((bar, _)) = bars.remove(table) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }
}

/// Where log lines go: straight to stderr, or above the board while it is drawn.
#[derive(Clone)]
pub struct LogWriter(pub Option<Arc<Board>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // tracing's fmt layer writes each event as one whole line.
        match &self.0 {
            Some(board) => board
                .multi
                .suspend(|| std::io::stderr().write_all(buf))
                .map(|()| buf.len()),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_has_rows_rate_eta_and_quarantined() {
        let rate = Rate::new(2_000_000, 0);
        let counts = TableCounts {
            rows_read: 1_000_000,
            rows_rejected: 3,
            ..Default::default()
        };
        let text = message(&rate, &counts);
        assert!(text.starts_with("1,000,000/2,000,000 rows, "), "{text}");
        assert!(text.ends_with(", 3 quarantined"), "{text}");
        assert!(text.contains(" rows/s, ETA "), "{text}");
    }
}
