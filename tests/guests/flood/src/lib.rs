//! Returns too much for one input row: 50,000 target rows for the row named `probe` (over the
//! default `max_rows_per_input`), and a 2 MB address for the row named `big` (over a plan's
//! `max_output_bytes_per_call` of 1 MB). The other rows are mapped plainly.

use guest_common::{office, Office, WRITES};
use migrate_sdk::{Fate, Table, TargetRow, Transform};

/// Target rows the probe row produces.
pub const PROBE_ROWS: usize = 50_000;

#[derive(Default)]
struct Flood;

impl Transform for Flood {
    type Source = Office;
    const WRITES: &'static [Table] = WRITES;

    fn transform_row(&mut self, input: Office) -> Result<Vec<TargetRow>, Fate> {
        match input.name.get() {
            Some("probe") => {
                let row = office(&input, None).remove(0);
                Ok(std::iter::repeat_n(row, PROBE_ROWS).collect())
            }
            Some("big") => Ok(office(&input, Some("b".repeat(2 << 20)))),
            _ => Ok(office(&input, None)),
        }
    }
}

migrate_sdk::plugin!(Flood);
