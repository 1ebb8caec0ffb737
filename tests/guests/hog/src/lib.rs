//! Allocates (and touches) memory without bound on the row named `probe`: the runner's memory
//! limit must stop it.

use guest_common::{is_probe, office, offices};
use migrate_sdk::{Description, Fate, Input, TargetRow, Transform};

struct Hog;

impl Transform for Hog {
    fn describe() -> Description {
        offices()
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        if is_probe(input) {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![0x5a; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        Ok(office(input, None))
    }
}

migrate_sdk::plugin!(Hog);
