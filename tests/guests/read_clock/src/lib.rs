//! On the row named `probe`, writes what the clocks read to `address`: the wall clock (ns
//! since 1970), the time a short busy loop took on the monotonic clock, and random bytes.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use guest_common::{is_probe, office, Office, WRITES};
use migrate_sdk::{Fate, Table, TargetRow, Transform};

#[derive(Default)]
struct ReadClock;

impl Transform for ReadClock {
    type Source = Office;
    const WRITES: &'static [Table] = WRITES;

    fn transform_row(&mut self, input: Office) -> Result<Vec<TargetRow>, Fate> {
        if is_probe(&input) {
            let wall = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos().to_string())
                .unwrap_or_else(|e| format!("before 1970 ({e})"));
            let start = Instant::now();
            let mut x: u64 = 0;
            for i in 0..2_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            let elapsed = start.elapsed().as_nanos();
            let found = format!("clock: wall {wall} ns, monotonic elapsed {elapsed} ns");
            return Ok(office(&input, Some(found)));
        }
        Ok(office(&input, None))
    }
}

migrate_sdk::plugin!(ReadClock);
