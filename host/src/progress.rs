//! Progress of one table: a live line on a terminal, a log line every few seconds otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const LOG_EVERY: Duration = Duration::from_secs(5);

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
            eprint!("\r\x1b[2K{}", self.line(done));
            let _ = std::io::stderr().flush();
            self.last_shown = now;
        } else if !self.terminal && now.duration_since(self.last_shown) >= LOG_EVERY {
            tracing::info!("{}", self.line(done));
            self.last_shown = now;
        }
    }

    pub fn finish(&mut self, done: u64) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
        let secs = self.started.elapsed().as_secs_f64();
        tracing::info!(
            rows = done,
            seconds = format!("{secs:.1}"),
            "table finished"
        );
    }

    fn line(&self, done: u64) -> String {
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
        format!(
            "{}: {done}/{} rows ({pct:.1}%), {rate:.0} rows/s, ETA {eta}",
            self.table, self.total
        )
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
