//! On the row named `probe`, reads the file whose path is in the row's `address`. Should the
//! sandbox let it, the file's text is written to `address` (a test would see it); when the
//! read fails, the guest panics with the error, failing its batch.

use guest_common::{is_probe, office, Office, WRITES};
use migrate_sdk::{Fate, Table, TargetRow, Transform};

#[derive(Default)]
struct ReadFile;

impl Transform for ReadFile {
    type Source = Office;
    const WRITES: &'static [Table] = WRITES;

    fn transform_row(&mut self, input: Office) -> Result<Vec<TargetRow>, Fate> {
        if is_probe(&input) {
            let path = input.address.get().unwrap_or("/etc/passwd");
            return match std::fs::read_to_string(path) {
                Ok(text) => Ok(office(&input, Some(format!("read {path}: {text}")))),
                Err(e) => panic!("sandbox probe: reading {path} failed: {e}"),
            };
        }
        Ok(office(&input, None))
    }
}

migrate_sdk::plugin!(ReadFile);
