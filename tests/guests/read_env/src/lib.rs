//! On the row named `probe`, writes what it finds in its environment to `address`: the
//! number of variables and arguments, the current directory, and `SANDBOX_SECRET`.

use guest_common::{is_probe, office, Office, WRITES};
use migrate_sdk::{Fate, Table, TargetRow, Transform};

#[derive(Default)]
struct ReadEnv;

impl Transform for ReadEnv {
    type Source = Office;
    const WRITES: &'static [Table] = WRITES;

    fn transform_row(&mut self, input: Office) -> Result<Vec<TargetRow>, Fate> {
        if is_probe(&input) {
            let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
            let secret = std::env::var("SANDBOX_SECRET").unwrap_or_else(|_| "unset".into());
            let cwd = std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| "none".into());
            let found = format!(
                "env: {} variables [{}], {} arguments, SANDBOX_SECRET {secret}, cwd {cwd}",
                vars.len(),
                vars.join(" "),
                std::env::args().count()
            );
            return Ok(office(&input, Some(found)));
        }
        Ok(office(&input, None))
    }
}

migrate_sdk::plugin!(ReadEnv);
