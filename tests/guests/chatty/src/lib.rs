//! Prints without restraint: on every offices row, 20 log lines of 64 KiB and 20 KiB of
//! stdout (past the 16 KiB a WASI pipe used to hold) and a line of stderr; on the row named
//! `probe` one 100 MB log message; and it panics on every key divisible by 25, so its batches
//! are bisected and every re-run prints it all again. The host must print a bounded amount,
//! summarise the rest, and quarantine only the panicking rows.

use guest_common::{is_probe, office, Office, WRITES};
use migrate_sdk::{log, Fate, Level, Table, TargetRow, Transform};

/// Log lines per row, each of [`LINE`] bytes.
pub const LINES_PER_ROW: usize = 20;
pub const LINE: usize = 64 << 10;
/// Rows whose key is a multiple of this panic (after printing).
pub const PANIC_EVERY: i64 = 25;

#[derive(Default)]
struct Chatty;

impl Transform for Chatty {
    type Source = Office;
    const WRITES: &'static [Table] = WRITES;

    fn transform_row(&mut self, input: Office) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let line = format!("row {key}: ") + &"x".repeat(LINE);
        for _ in 0..LINES_PER_ROW {
            log(Level::Warn, &line);
        }
        for i in 0..20 {
            println!("stdout {key}.{i}: {}", "o".repeat(1 << 10));
        }
        eprintln!("stderr of row {key}");
        if is_probe(&input) {
            log(Level::Error, &"p".repeat(100 << 20));
        }
        if key % PANIC_EVERY == 0 {
            panic!("chatty row: key {key} is divisible by {PANIC_EVERY}");
        }
        Ok(office(&input, None))
    }
}

migrate_sdk::plugin!(Chatty);
