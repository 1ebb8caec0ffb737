//! Progress of one table: a live line on a terminal, a log line every few seconds otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const LOG_EVERY: Duration = Duration::from_secs(5);

/// The live line of every table running now: tables run side by side, and one terminal line
/// shows them all (each table's own line would overwrite the other's).
static BOARD: std::sync::Mutex<std::collections::BTreeMap<String, String>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn show_board(update: impl FnOnce(&mut std::collections::BTreeMap<String, String>)) {
    let mut board = BOARD.lock().unwrap_or_else(|e| e.into_inner());
    update(&mut board);
    let line = board.values().cloned().collect::<Vec<_>>().join("  |  ");
    if line.is_empty() {
        eprint!("\r\x1b[2K");
    } else {
        eprint!("\r\x1b[2K{line}");
    }
    let _ = std::io::stderr().flush();
}

pub struct Progress {
    table: String,
    total: u64,
    start_done: u64,
    started: Instant,
    last_shown: Instant,
    terminal: bool,
}

impl Progress {
    /// `done` is what earlier runs already committed (a resume starts part-way).
    pub fn new(table: &str, total: u64, done: u64) -> Self {
        let now = Instant::now();
        Progress {
            table: table.to_string(),
            total,
            start_done: done,
            started: now,
            last_shown: now,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    pub fn update(&mut self, done: u64) {
        let now = Instant::now();
        if self.terminal && now.duration_since(self.last_shown) >= Duration::from_millis(200) {
            let line = self.short_line(done);
            show_board(|b| {
                b.insert(self.table.clone(), line);
            });
            self.last_shown = now;
        } else if !self.terminal && now.duration_since(self.last_shown) >= LOG_EVERY {
            tracing::info!("{}", self.line(done));
            self.last_shown = now;
        }
    }

    pub fn finish(&mut self, done: u64) {
        if self.terminal {
            show_board(|b| {
                b.remove(&self.table);
            });
        }
        let secs = self.started.elapsed().as_secs_f64();
        tracing::info!(
            rows = done,
            seconds = format!("{secs:.1}"),
            "table finished"
        );
    }

    /// The terminal's form, short enough for two tables side by side on one line.
    fn short_line(&self, done: u64) -> String {
        let (pct, rate, eta) = self.figures(done);
        format!("{} {pct:.1}% {rate:.0} rows/s ETA {eta}", self.table)
    }

    fn line(&self, done: u64) -> String {
        let (pct, rate, eta) = self.figures(done);
        format!(
            "{}: {done}/{} rows ({pct:.1}%), {rate:.0} rows/s, ETA {eta}",
            self.table, self.total
        )
    }

    /// Percent done, rows per second in this run, and the time left at that rate.
    fn figures(&self, done: u64) -> (f64, f64, String) {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (done.saturating_sub(self.start_done)) as f64 / secs;
        let left = self.total.saturating_sub(done);
        let eta = if rate > 0.0 {
            format_duration(left as f64 / rate)
        } else {
            "?".into()
        };
        let pct = if self.total > 0 {
            done as f64 * 100.0 / self.total as f64
        } else {
            100.0
        };
        (pct, rate, eta)
    }
}

pub fn format_duration(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// 1234567 -> "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
