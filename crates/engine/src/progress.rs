//! Progress of the tables as they run. The engine reports events (a table started, a batch
//! committed, a table finished) to an [`Observer`]: the front end's live board on a terminal
//! ([`set_observer`]), or else [`LogLines`], a log line per table every few seconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::state::TableCounts;

/// What a front end hears of the tables as they run. Tables run side by side: the calls for
/// different tables come from different tasks, in any order.
pub trait Observer: Send + Sync {
    /// `table` starts (or resumes) with `total` source rows, of which earlier runs already
    /// read `done`.
    fn table_started(&self, table: &str, total: u64, done: u64);
    /// A batch of `table` committed; `counts` are the table's totals so far.
    fn batch_committed(&self, table: &str, counts: &TableCounts);
    /// Every source row of `table` is accounted for.
    fn table_finished(&self, table: &str, counts: &TableCounts);
    /// `table` stopped before its end (it failed, or a fault sends it back to be resumed).
    fn table_stopped(&self, _table: &str) {}
}

static OBSERVER: OnceLock<Arc<dyn Observer>> = OnceLock::new();

/// Sends this process's progress events to `observer` instead of [`LogLines`]; once, before
/// the first table runs. False when an observer was already set.
pub fn set_observer(observer: Arc<dyn Observer>) -> bool {
    OBSERVER.set(observer).is_ok()
}

fn observer() -> &'static dyn Observer {
    static LOG_LINES: LogLines = LogLines::new();
    OBSERVER.get().map_or(&LOG_LINES, |o| o.as_ref())
}

/// One table's progress in `run.rs`: tells the observer, and logs when the table finishes.
pub struct Progress {
    table: String,
    started: Instant,
    finished: bool,
}

impl Progress {
    /// `done` is what earlier runs already read (a resume starts part-way).
    pub fn new(table: &str, total: u64, done: u64) -> Self {
        observer().table_started(table, total, done);
        Progress {
            table: table.to_string(),
            started: Instant::now(),
            finished: false,
        }
    }

    pub fn batch_committed(&mut self, counts: &TableCounts) {
        observer().batch_committed(&self.table, counts);
    }

    /// This process's part of the table (a chunk) is done; the table goes on elsewhere.
    pub fn leave(&mut self) {
        self.finished = true;
    }

    pub fn finish(&mut self, counts: &TableCounts) {
        self.finished = true;
        observer().table_finished(&self.table, counts);
        let secs = self.started.elapsed().as_secs_f64();
        tracing::info!(
            rows = counts.rows_read,
            seconds = format!("{secs:.1}"),
            "table finished"
        );
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if !self.finished {
            observer().table_stopped(&self.table);
        }
    }
}

/// Percent done, rows per second in this run and the time left, for one table.
pub struct Rate {
    total: u64,
    start_done: u64,
    started: Instant,
}

impl Rate {
    /// `done`: rows read before this run.
    pub fn new(total: u64, done: u64) -> Self {
        Rate {
            total,
            start_done: done,
            started: Instant::now(),
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// (percent done, rows per second in this run, time left at that rate or "?").
    pub fn figures(&self, done: u64) -> (f64, f64, String) {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = done.saturating_sub(self.start_done) as f64 / secs;
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

/// The observer without a terminal: a log line per table every [`LogLines::EVERY`].
pub struct LogLines {
    tables: Mutex<Option<HashMap<String, (Rate, Instant)>>>,
}

impl LogLines {
    pub const EVERY: Duration = Duration::from_secs(5);

    pub const fn new() -> Self {
        LogLines {
            tables: Mutex::new(None),
        }
    }
}

impl Default for LogLines {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer for LogLines {
    fn table_started(&self, table: &str, total: u64, done: u64) {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        tables
            .get_or_insert_with(HashMap::new)
            .insert(table.to_string(), (Rate::new(total, done), Instant::now()));
    }

    fn batch_committed(&self, table: &str, counts: &TableCounts) {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let Some((rate, last)) = tables.as_mut().and_then(|t| t.get_mut(table)) else {
            return;
        };
        if last.elapsed() >= Self::EVERY {
            *last = Instant::now();
            let done = counts.rows_read as u64;
            let (pct, per_sec, eta) = rate.figures(done);
            tracing::info!(
                "{table}: {done}/{} rows ({pct:.1}%), {per_sec:.0} rows/s, ETA {eta}",
                rate.total()
            );
        }
    }

    fn table_finished(&self, table: &str, _counts: &TableCounts) {
        self.table_stopped(table);
    }

    fn table_stopped(&self, table: &str) {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = tables.as_mut() {
            t.remove(table);
        }
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
