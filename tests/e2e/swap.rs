//! Hot swap into a live run, and `host retry` of what the old component rejected.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;

pub(crate) fn test_guest(name: &str) -> PathBuf {
    let path = repo_root()
        .join("tests/guests/dist")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-test-guests.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Puts `from` in place of `to` the way an operator's build would: a new file, renamed over.
pub(crate) fn drop_in(from: &Path, to: &Path) {
    let staging = to.with_extension("staging");
    std::fs::copy(from, &staging).unwrap();
    std::fs::rename(&staging, to).unwrap();
}

/// Starts `host run` paced to a batch per 60 ms, waits for `after` batches, calls `act`,
/// then waits for the run to end and returns its stderr.
pub(crate) fn run_and_act(
    plan: &str,
    db: &mut postgres::Client,
    after: i64,
    act: impl FnOnce(),
) -> String {
    let mut child = spawn_paced_run(plan, 60);
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed_batches(db, None) < after
        && Instant::now() < deadline
        && child.try_wait().unwrap().is_none()
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before the swap"
    );
    act();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "run failed:\n{stderr}");
    stderr
}

#[test]
fn swap_a_fixed_component_mid_table_then_retry_equals_a_fixed_run() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let fixed = test_guest("fixed_offices");

    let reference = cluster.fresh_db("swap_reference");
    let plan = write_plan_with(
        &temp_dir("swap-ref"),
        &cluster.url(&legacy),
        &cluster.url(&reference),
        2,
        &[("offices", fixed.clone())],
    );
    host_ok(&["run", plan.to_str().unwrap()]);
    let expected = digests(&mut cluster.connect(&reference));

    let dir = temp_dir("swap");
    let live = dir.join("offices.wasm");
    std::fs::copy(test_guest("buggy_offices"), &live).unwrap();
    let target = cluster.fresh_db("swap");
    let plan = write_plan_with(
        &dir,
        &cluster.url(&legacy),
        &cluster.url(&target),
        2,
        &[("offices", live.clone())],
    );
    let plan = plan.to_str().unwrap();
    let mut db = cluster.connect(&target);
    let log = run_and_act(plan, &mut db, 3, || drop_in(&fixed, &live));
    assert!(
        log.contains("hot swap: the next batch runs on the new component"),
        "{log}"
    );

    // Both versions committed batches: the lineage says which rows each produced.
    let status: serde_json::Value =
        serde_json::from_slice(&host_ok(&["status", plan, "--json"]).stdout).unwrap();
    let components = status["tables"][0]["components"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(components.len(), 2, "{components:#?}");
    let buggy_quarantined = components[0]["quarantined"].as_i64().unwrap();
    assert!(
        buggy_quarantined > 0,
        "the buggy version rejected its even keys: {components:#?}"
    );
    let swaps: i64 = db
        .query_one("SELECT count(*) FROM migration.swaps WHERE applied", &[])
        .unwrap()
        .get(0);
    assert_eq!(swaps, 1);

    // Replay what the buggy version rejected through the fixed one.
    let out = host_ok(&["retry", plan, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report[0]["written"].as_i64().unwrap() > 0, "{report:#}");
    assert_same_digests(&expected, &digests(&mut db));
    // Retried batches are lineage too.
    let retried: i64 = db
        .query_one(
            "SELECT count(*) FROM migration.batches WHERE kind = 'retry'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(retried > 0);
}

#[test]
fn a_broken_component_is_refused_and_the_run_finishes_on_the_old_one() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let fixed = test_guest("fixed_offices");

    let reference = cluster.fresh_db("refuse_reference");
    let plan = write_plan_with(
        &temp_dir("refuse-ref"),
        &cluster.url(&legacy),
        &cluster.url(&reference),
        2,
        &[("offices", fixed.clone())],
    );
    host_ok(&["run", plan.to_str().unwrap()]);
    let expected = digests(&mut cluster.connect(&reference));

    let dir = temp_dir("refuse");
    let live = dir.join("offices.wasm");
    std::fs::copy(&fixed, &live).unwrap();
    let target = cluster.fresh_db("refuse");
    let plan = write_plan_with(
        &dir,
        &cluster.url(&legacy),
        &cluster.url(&target),
        2,
        &[("offices", live.clone())],
    );
    let plan = plan.to_str().unwrap();
    let mut db = cluster.connect(&target);
    let garbage = dir.join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm\x0d\0\x01\0 definitely not a component").unwrap();
    let log = run_and_act(plan, &mut db, 3, || drop_in(&garbage, &live));
    assert!(
        log.contains("hot swap refused, the old component keeps running"),
        "{log}"
    );
    let row = db
        .query_one("SELECT applied, message FROM migration.swaps", &[])
        .unwrap();
    let (applied, message): (bool, String) = (row.get(0), row.get(1));
    assert!(!applied);
    // The refusal names the file and why, and says what to do.
    assert!(
        message.contains(&format!(
            "{} is not a WebAssembly component: ",
            live.display()
        )) && message.contains("hint: build it with `cargo component build`"),
        "{message}"
    );
    assert_same_digests(&expected, &digests(&mut db));
}

#[test]
fn swap_command_checks_the_candidate_first() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.01");
    let target = cluster.fresh_db("swapcmd");
    let dir = temp_dir("swapcmd");
    let live = dir.join("offices.wasm");
    std::fs::copy(test_guest("fixed_offices"), &live).unwrap();
    let plan = write_plan_with(
        &dir,
        &cluster.url(&legacy),
        &cluster.url(&target),
        50,
        &[("offices", live.clone())],
    );
    let plan = plan.to_str().unwrap();
    host_ok(&["run", plan]);
    // A component for another table is refused and the file stays as it was.
    let before = std::fs::read(&live).unwrap();
    let out = host(&[
        "swap",
        plan,
        "--table",
        "offices",
        "--plugin",
        plugin("doctors").to_str().unwrap(),
        "--wait",
        "0",
    ])
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("transforms `doctors`, not `offices`"));
    assert_eq!(before, std::fs::read(&live).unwrap());
    // A fitting one is put in place.
    host_ok(&[
        "swap",
        plan,
        "--table",
        "offices",
        "--plugin",
        test_guest("buggy_offices").to_str().unwrap(),
        "--wait",
        "0",
    ]);
    assert_eq!(
        std::fs::read(&live).unwrap(),
        std::fs::read(test_guest("buggy_offices")).unwrap()
    );
}

fn file_sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn a_swap_of_a_table_not_started_yet_is_applied_before_its_first_batch() {
    let cluster = Cluster::shared();
    let legacy = crate::catalogue::hand_made_legacy(
        cluster,
        "INSERT INTO categories (name) SELECT 'Category ' || i FROM generate_series(1, 40) i;
         INSERT INTO offices (name) SELECT 'Office ' || i FROM generate_series(1, 20) i;",
    );
    let dir = temp_dir("swap-unstarted");
    let live = dir.join("offices.wasm");
    std::fs::copy(test_guest("buggy_offices"), &live).unwrap();
    let target = cluster.fresh_db("swap_unstarted");
    let plan = write_plan_with(
        &dir,
        &cluster.url(&legacy),
        &cluster.url(&target),
        2,
        &[
            ("categories", plugin("categories")),
            ("offices", live.clone()),
        ],
    );
    // offices (the last [[table]]) waits for categories: 20 paced batches of 2 rows.
    let text = std::fs::read_to_string(&plan).unwrap() + "depends_on = [\"categories\"]\n";
    std::fs::write(&plan, text).unwrap();
    let plan = plan.to_str().unwrap();
    let mut db = cluster.connect(&target);
    let child = spawn_paced_run(plan, 250);
    wait_for_batches(&mut db, Some("categories"), 1);
    let fixed = test_guest("fixed_offices");
    let out = host_ok(&[
        "swap",
        plan,
        "--table",
        "offices",
        "--plugin",
        fixed.to_str().unwrap(),
        "--wait",
        "30",
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    let new_sha = file_sha256(&fixed);
    assert!(
        said.contains(&format!(
            "applied: the running migration of offices now uses component {}",
            &new_sha[..12]
        )),
        "{said}"
    );
    assert_eq!(
        committed_batches(&mut db, Some("offices")),
        0,
        "offices had not started when the swap was applied"
    );
    let run = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("hot swap applied before the table started"),
        "{stderr}"
    );
    // Every batch of offices ran on the new component; the swap is recorded once, applied.
    let shas: Vec<String> = db
        .query(
            "SELECT DISTINCT component_sha256 FROM migration.batches WHERE table_name = 'offices'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(shas, vec![new_sha.clone()]);
    let swaps: Vec<(bool, String, String)> = db
        .query(
            "SELECT applied, old_sha256, new_sha256 FROM migration.swaps WHERE table_name = 'offices'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        swaps,
        vec![(true, file_sha256(&test_guest("buggy_offices")), new_sha)]
    );
    // The fixed component rejects nothing (the buggy one rejects even keys).
    let rejected: i64 = db
        .query_one("SELECT count(*) FROM migration.quarantine", &[])
        .unwrap()
        .get(0);
    assert_eq!(rejected, 0);
}

/// A swapped-in component writing a column no row can ever be written to (here a generated
/// one) is refused mid-run with the very words `host check` gives it; the old component keeps
/// running and the refusal is logged and recorded.
#[test]
fn a_swap_writing_a_column_that_can_never_be_written_is_refused_as_check_refuses_it() {
    let cluster = Cluster::shared();
    let legacy = crate::catalogue::hand_made_legacy(
        cluster,
        "INSERT INTO offices (name) SELECT 'Office ' || i FROM generate_series(1, 30) i;",
    );
    let target = cluster.fresh_db("swap_types");
    let mut db = cluster.connect(&target);
    db.batch_execute(&std::fs::read_to_string(repo_root().join("schema/target.sql")).unwrap())
        .unwrap();
    // The misfits guest writes `code` and `amount`; the fixed offices guest writes neither.
    db.batch_execute(
        "ALTER TABLE offices ADD COLUMN code varchar(5) GENERATED ALWAYS AS ('X') STORED,
                             ADD COLUMN amount numeric(6,2);",
    )
    .unwrap();
    let misfits = test_guest("misfits");

    // What `host check` says of the candidate in the table's place.
    let check_plan = write_plan_with(
        &temp_dir("swap-types-check"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        2,
        &[("offices", misfits.clone())],
    );
    let out = host(&["check", check_plan.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let checked =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let problem = checked
        .lines()
        .find_map(|l| l.strip_prefix("- [offices] target column offices.code"))
        .unwrap_or_else(|| panic!("check names the generated column:\n{checked}"));
    assert!(problem.contains("is GENERATED ALWAYS AS"), "{problem}");

    let dir = temp_dir("swap-types");
    let live = dir.join("offices.wasm");
    std::fs::copy(test_guest("fixed_offices"), &live).unwrap();
    let plan = write_plan_with(
        &dir,
        &cluster.url(&legacy),
        &cluster.url(&target),
        2,
        &[("offices", live.clone())],
    );
    let log = run_and_act(plan.to_str().unwrap(), &mut db, 3, || {
        drop_in(&misfits, &live)
    });
    assert!(
        log.contains(
            "hot swap refused, the old component keeps running: target column offices.code"
        ),
        "{log}"
    );
    let row = db
        .query_one(
            "SELECT applied, message, new_sha256 FROM migration.swaps",
            &[],
        )
        .unwrap();
    let (applied, message, new_sha): (bool, String, String) = (row.get(0), row.get(1), row.get(2));
    assert!(!applied, "{message}");
    assert_eq!(new_sha, file_sha256(&misfits));
    assert!(
        message.contains(&format!("target column offices.code{problem}")),
        "the refusal reads as check's problem `{problem}`:\n{message}"
    );
    assert!(
        message.contains("hint: leave `code` out of the plugin's describe() writes"),
        "{message}"
    );
    // Every office was written by the old component; none failed.
    let (written, rejected): (i64, i64) = {
        let r = db
            .query_one(
                "SELECT rows_written, rows_rejected FROM migration.table_state WHERE table_name = 'offices'",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((written, rejected), (30, 0));
    let shas: i64 = db
        .query_one(
            "SELECT count(DISTINCT component_sha256) FROM migration.batches WHERE table_name = 'offices'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(shas, 1, "no batch ran on the refused component");
}
