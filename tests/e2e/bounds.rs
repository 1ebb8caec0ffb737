//! What a plugin prints and returns is bounded by the host (tests/guests/chatty, flood): log
//! lines are cut and budgeted per batch (bisection re-runs included) with one summary line,
//! stdout never fills up into traps, and a row producing too many rows or a call returning too
//! many bytes is quarantined with the limit's reason while the rest goes through.

use std::path::{Path, PathBuf};

use crate::catalogue::{accounting_problems, guest, hand_made_legacy};
use crate::support::*;

/// 100 offices; `names` renames some of them (key, name).
fn offices_legacy(cluster: &Cluster, names: &[(i64, &str)]) -> String {
    let mut sql =
        "INSERT INTO offices (name) SELECT 'Office ' || i FROM generate_series(1, 100) i;"
            .to_string();
    for (key, name) in names {
        sql += &format!("UPDATE offices SET name = '{name}' WHERE id = {key};");
    }
    hand_made_legacy(cluster, &sql)
}

/// A plan migrating offices with `guest_name`, plus `table_keys` in its [[table]].
pub(crate) fn offices_plan(
    dir: &Path,
    legacy: &str,
    target: &str,
    guest_name: &str,
    table_keys: &str,
) -> PathBuf {
    let cluster = Cluster::shared();
    let plan = write_plan_with(
        dir,
        &cluster.url(legacy),
        &cluster.url(target),
        50,
        &[("offices", guest(guest_name))],
    );
    // The offices [[table]] is the plan's last section.
    let text = std::fs::read_to_string(&plan).unwrap() + table_keys;
    std::fs::write(&plan, text).unwrap();
    plan
}

pub(crate) fn quarantined(db: &mut postgres::Client) -> Vec<(i64, String)> {
    db.query(
        "SELECT legacy_key::int8, reason FROM migration.quarantine WHERE table_name = 'offices' ORDER BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[test]
fn a_plugin_printing_without_end_gets_a_bounded_log_and_only_its_panics_quarantined() {
    let cluster = Cluster::shared();
    let legacy = offices_legacy(cluster, &[(33, "probe")]);
    let target = cluster.fresh_db("chatty");
    let plan = offices_plan(&temp_dir("chatty"), &legacy, &target, "chatty", "");
    // Unbounded, this run prints > 500 MB: 2 batches of 50 rows x 20 lines of 64 KiB, each
    // batch bisected around its panicking rows (every re-run printing again), and one 100 MB
    // message.
    let out = host_ok(&["run", plan.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.stderr.len() < 1_000_000,
        "the log is bounded: {} bytes",
        out.stderr.len()
    );
    assert!(
        stderr.contains("plugin offices: ")
            && stderr.contains("more log lines (")
            && stderr.contains("suppressed in this batch"),
        "{}",
        &stderr[stderr.len().saturating_sub(4000)..]
    );
    assert!(
        stderr.contains("… [truncated 61,"),
        "64 KiB lines are cut with a marker"
    );
    // stdout past 16 KiB is no trap: only the rows that panic are quarantined, with their panic.
    let mut db = cluster.connect(&target);
    let q = quarantined(&mut db);
    assert_eq!(
        q.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![25, 50, 75, 100],
        "{q:?}"
    );
    for (key, reason) in &q {
        assert!(
            reason.contains(&format!("chatty row: key {key} is divisible by 25")),
            "{reason}"
        );
    }
    let written: i64 = db
        .query_one("SELECT count(*) FROM offices", &[])
        .unwrap()
        .get(0);
    assert_eq!(written, 96);
    let problems = accounting_problems(cluster, &legacy, "public", &target);
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn too_many_rows_or_bytes_for_one_input_row_quarantine_that_row_only() {
    let cluster = Cluster::shared();
    let legacy = offices_legacy(cluster, &[(10, "probe"), (20, "big")]);
    let target = cluster.fresh_db("flood");
    let plan = offices_plan(
        &temp_dir("flood"),
        &legacy,
        &target,
        "flood",
        "max_output_bytes_per_call = 1048576\n",
    );
    host_ok(&["run", plan.to_str().unwrap()]);
    let mut db = cluster.connect(&target);
    let q = quarantined(&mut db);
    assert_eq!(
        q.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![10, 20],
        "{q:?}"
    );
    assert!(
        q[0].1.starts_with("plugin output over the limit: 50,000 target rows for this one input row (max_rows_per_input = 10,000)"),
        "{}",
        q[0].1
    );
    assert!(
        q[1].1.starts_with("plugin output over the limit: it returned 2.1 MB for 1 input row(s) in one call (max_output_bytes_per_call = 1.0 MB)"),
        "{}",
        q[1].1
    );
    let written: i64 = db
        .query_one("SELECT count(*) FROM offices", &[])
        .unwrap()
        .get(0);
    assert_eq!(written, 98);
    let problems = accounting_problems(cluster, &legacy, "public", &target);
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn plugin_limits_are_checked_in_the_plan() {
    let dir = temp_dir("limits-plan");
    let plan = offices_plan(
        &dir,
        "legacy",
        "target",
        "flood",
        "log_line_max_bytes = 10\nmax_rows_per_input = 0\n",
    );
    let out = host(&["check", plan.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("table `offices`: log_line_max_bytes = 10 is too small: at least 80")
            && stderr.contains("table `offices`: max_rows_per_input must be at least 1"),
        "{stderr}"
    );
}
