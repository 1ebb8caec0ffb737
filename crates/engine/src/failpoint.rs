//! Test-only fault injection: crash points around a batch's commit, pacing between batches and
//! a short plugin-call deadline, through the `fail` crate.
//!
//! Compiled in only with the `failpoints` feature: the test build turns it on (host's
//! dev-dependency on the engine), the shipped binary has none of it and reads no variable.
//! A test sets them in `FAILPOINTS`, `;` between them:
//! - `after-commit=return(orders:3)` (or `before-commit`): abort the process right after (before)
//!   batch 3 of `orders` commits; `*` for any table.
//! - `after-chunk=return(tasks:3)`: abort right after the third chunk of `tasks` to end is
//!   recorded done (see chunk.rs; after its last, before the table is finished).
//! - `batch-delay=return(50)`: sleep 50 ms after each batch, so a test can act part-way.
//! - `call-deadline-ms=return(1000)`: a plugin call may run 1 s instead of the default.

/// Whether this build has the failpoints (`host --version` says so; the e2e harness checks).
pub const ENABLED: bool = cfg!(feature = "failpoints");

/// Reads `FAILPOINTS` once, at the start of the process (a no-op without the feature).
pub fn setup() {
    #[cfg(feature = "failpoints")]
    std::mem::forget(fail::FailScenario::setup());
}

/// The argument of failpoint `name` when it is set to `return(ARG)`.
#[cfg(feature = "failpoints")]
fn argument(name: &str) -> Option<String> {
    fail::fail_point!(name, |arg| arg);
    None
}

#[cfg(not(feature = "failpoints"))]
fn argument(_name: &str) -> Option<String> {
    None
}

/// Aborts the process at crash point `at` (`before-commit`, `after-commit`) when it is set for
/// this table and batch.
pub fn crash_point(at: &str, table: &str, batch_no: i64) {
    let Some(spec) = argument(at) else { return };
    let Some((t, n)) = spec.split_once(':') else {
        return;
    };
    if (t == "*" || t == table) && n.parse() == Ok(batch_no) {
        eprintln!("failpoint {at}:{spec} reached: aborting");
        std::process::abort();
    }
}

/// Test pacing after each batch (`batch-delay`).
pub async fn batch_delay() {
    if let Some(ms) = argument("batch-delay").and_then(|v| v.parse().ok()) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

/// A shorter plugin-call deadline, in milliseconds (`call-deadline-ms`).
pub fn call_deadline_ms() -> Option<u64> {
    argument("call-deadline-ms").and_then(|v| v.parse().ok())
}
