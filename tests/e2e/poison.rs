//! Poison rows: a plugin that traps on some rows (tests/guests/poison: every key divisible by
//! 7) does not fail its table. Each trapping batch is halved down to the row, which is
//! quarantined with the trap message and the component's hash; the rest goes through and the
//! books balance. Past `max_reject_rate` the table stops with a clear message, what was
//! committed stays consistent, and a run with a raised limit resumes to the same final state
//! as an uninterrupted one.

use std::path::{Path, PathBuf};

use crate::catalogue::{accounting_problems, guest, hand_made_legacy};
use crate::support::*;

const ROWS: &str = "INSERT INTO offices (name) SELECT 'Office ' || i FROM generate_series(1, 100) i;
                    INSERT INTO categories (name) SELECT 'Category ' || i FROM generate_series(1, 10) i;";
/// Keys 7, 14, ..., 98.
const POISONED: i64 = 14;

fn write_poison_plan(dir: &Path, legacy: &str, target: &str, max_reject_rate: f64) -> PathBuf {
    let cluster = Cluster::shared();
    let plan = dir.join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            "[source]\nurl = \"{}\"\n[target]\nurl = \"{}\"\nschema_files = [\"{}\"]\n[defaults]\nbatch_size = 16\n\n\
             [[table]]\nname = \"offices\"\nplugin = \"{}\"\nmax_reject_rate = {max_reject_rate}\n\n\
             [[table]]\nname = \"categories\"\nplugin = \"{}\"\n",
            cluster.url(legacy),
            cluster.url(target),
            repo_root().join("schema/target.sql").display(),
            guest("poison").display(),
            plugin("categories").display()
        ),
    )
    .unwrap();
    plan
}

fn sha256(path: &Path) -> String {
    let out = run_ok(std::process::Command::new("sha256sum").arg(path));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn poison_rows_are_quarantined_and_the_rest_goes_through() {
    let cluster = Cluster::shared();
    let legacy = hand_made_legacy(cluster, ROWS);
    let target = cluster.fresh_db("poison");
    let plan = write_poison_plan(&temp_dir("poison"), &legacy, &target, 0.2);
    host_ok(&["run", plan.to_str().unwrap()]);

    let mut tgt = cluster.connect(&target);
    let quarantined: Vec<(i64, String, String)> = tgt
        .query(
            "SELECT legacy_key::int8, reason, component_sha256 FROM migration.quarantine WHERE table_name = 'offices' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let keys: Vec<i64> = quarantined.iter().map(|q| q.0).collect();
    assert_eq!(keys, (1..=POISONED).map(|i| i * 7).collect::<Vec<_>>());
    let hash = sha256(&guest("poison"));
    for (key, reason, sha) in &quarantined {
        assert!(
            reason.starts_with("plugin trapped: panicked at poison/src/lib.rs")
                && reason.contains(&format!("poison row: key {key} is divisible by 7"))
                && reason.contains("wasm `unreachable` instruction executed"),
            "{reason}"
        );
        assert_eq!(
            sha, &hash,
            "the quarantine names the component that trapped"
        );
    }
    let written: Vec<i64> = tgt
        .query("SELECT legacy_id FROM offices ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        written,
        (1..=100).filter(|k| k % 7 != 0).collect::<Vec<i64>>()
    );
    let problems = accounting_problems(cluster, &legacy, "public", &target);
    assert!(problems.is_empty(), "{problems:?}");
    // The bisected batches still cover the table in key order, without a gap or an overlap.
    let spans: Vec<(i64, i64)> = tgt
        .query(
            "SELECT first_key::int8, last_key::int8 FROM migration.batches WHERE table_name = 'offices' ORDER BY batch_no",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(spans.first().map(|s| s.0), Some(1));
    assert_eq!(spans.last().map(|s| s.1), Some(100));
    for pair in spans.windows(2) {
        assert_eq!(pair[1].0, pair[0].1 + 1, "{spans:?}");
    }
    assert!(
        spans.len() > 100 / 16 + 1,
        "trapping batches were split: {spans:?}"
    );
    let categories: String = tgt
        .query_one(
            "SELECT phase FROM migration.table_state WHERE table_name = 'categories'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(categories, "done");
}

#[test]
fn max_reject_rate_stops_the_table_and_a_raised_limit_resumes_identically() {
    let cluster = Cluster::shared();
    let legacy = hand_made_legacy(cluster, ROWS);
    let reference = cluster.fresh_db("poison_reference");
    let plan = write_poison_plan(&temp_dir("poison"), &legacy, &reference, 0.2);
    host_ok(&["run", plan.to_str().unwrap()]);
    let reference = digests(&mut cluster.connect(&reference));

    let target = cluster.fresh_db("poison_stopped");
    let dir = temp_dir("poison");
    let plan = write_poison_plan(&dir, &legacy, &target, 0.05);
    let out = host(&["run", plan.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    for want in [
        "were quarantined, already more than max_reject_rate 5.00% of the table's 100 rows: the table stopped",
        "SELECT reason, count(*) FROM migration.quarantine WHERE table_name = 'offices'",
        "most frequent reasons:",
        "poison row: key",
        "fix the cause and run again: committed batches stay and the run resumes after them",
    ] {
        assert!(stderr.contains(want), "no {want:?} in:\n{stderr}");
    }
    let mut tgt = cluster.connect(&target);
    let (phase, read, rejected): (String, i64, i64) = tgt
        .query_one(
            "SELECT phase, rows_read, rows_rejected FROM migration.table_state WHERE table_name = 'offices'",
            &[],
        )
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .unwrap();
    assert_eq!(phase, "failed");
    assert!(
        read < 100 && rejected >= 10,
        "stopped part-way: read {read}, rejected {rejected}"
    );
    // What was committed is consistent: the books balance up to the checkpoint.
    let problems = accounting_problems(cluster, &legacy, "public", &target);
    assert!(problems.is_empty(), "{problems:?}");
    let categories: String = tgt
        .query_one(
            "SELECT phase FROM migration.table_state WHERE table_name = 'categories'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(categories, "done", "the other table still ran");

    // The operator raises the limit and runs again: it resumes after the last committed batch.
    write_poison_plan(&dir, &legacy, &target, 0.2);
    host_ok(&["run", plan.to_str().unwrap()]);
    assert_same_digests(&reference, &digests(&mut tgt));
}

/// offices and profiles migrated, then the office most doctors work at deleted from the
/// target under its id-map entry, then the whole plan run again (`doctors_plan` appended to
/// the doctors table): the doctors' plugin resolves a parent that is gone.
fn run_with_an_office_gone(
    cluster: &Cluster,
    legacy: &str,
    name: &str,
    doctors_plan: &str,
) -> (String, String, std::process::Output) {
    let target = cluster.fresh_db(name);
    let plan = write_plan(
        &temp_dir(name),
        &cluster.url(legacy),
        &cluster.url(&target),
        50,
        &["offices", "profiles", "doctors"],
    );
    let text = std::fs::read_to_string(&plan).unwrap();
    std::fs::write(&plan, format!("{text}\n{doctors_plan}\n")).unwrap();
    let plan = plan.to_str().unwrap().to_string();
    host_ok(&["run", &plan, "--table", "offices", "--table", "profiles"]);
    let mut src = cluster.connect(legacy);
    let office: i32 = src
        .query_one(
            "SELECT office_id FROM doctors WHERE deleted_at IS NULL AND office_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    let mut tgt = cluster.connect(&target);
    tgt.execute(
        "DELETE FROM offices WHERE legacy_id = $1",
        &[&(office as i64)],
    )
    .unwrap();
    // offices resumes in the next run (nothing left to read), so the run loads it and sets the
    // keys into it aside; a key whose parent the run does not load stays in place.
    tgt.execute(
        "UPDATE migration.table_state SET phase = 'copying' WHERE table_name = 'offices'",
        &[],
    )
    .unwrap();
    let out = host_ok(&["run", &plan]);
    (plan, target, out)
}

fn refusal_reasons(tgt: &mut postgres::Client) -> Vec<String> {
    tgt.query(
        "SELECT reason FROM migration.quarantine WHERE table_name = 'doctors' AND reason LIKE '%violates foreign key%' ORDER BY legacy_key",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// A row the set-aside key refuses is recorded with PostgreSQL's own words, as when the key is
/// in place (`load_mode = "checked"`, or a key a resumed run keeps): a row's reason does not
/// depend on how the run got there.
#[test]
fn a_row_refused_by_a_set_aside_key_reads_as_postgresql_would_refuse_it() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let (_, bulk, _) = run_with_an_office_gone(cluster, &legacy, "fk_words_bulk", "");
    let (_, checked, _) = run_with_an_office_gone(
        cluster,
        &legacy,
        "fk_words_checked",
        "load_mode = \"checked\"",
    );
    let bulk = refusal_reasons(&mut cluster.connect(&bulk));
    assert!(!bulk.is_empty());
    assert_eq!(bulk, refusal_reasons(&mut cluster.connect(&checked)));
}

/// While a run sets the target's foreign keys aside, each batch still proves its own: a row
/// pointing at a parent that is not there is refused and bisected to, like any refused row,
/// and the keys are back, validated, when the run ends.
#[test]
fn a_row_pointing_nowhere_is_refused_while_keys_are_set_aside() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let (plan, target, out) = run_with_an_office_gone(cluster, &legacy, "fk_aside", "");
    let plan = plan.as_str();
    let mut tgt = cluster.connect(&target);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("set aside for the load"), "{stderr}");
    let refused = refusal_reasons(&mut tgt);
    assert!(!refused.is_empty(), "{stderr}");
    assert!(
        refused[0].contains("(Key (office_id)=(")
            && refused[0].contains("is not present in table \"offices\""),
        "{refused:?}"
    );
    let orphans: i64 = tgt
        .query_one(
            "SELECT count(*) FROM doctors d WHERE NOT EXISTS (SELECT 1 FROM offices o WHERE o.id = d.office_id)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(orphans, 0);
    let keys: i64 = tgt
        .query_one(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'doctors'::regclass AND contype = 'f' AND convalidated",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(keys, 2, "doctors' foreign keys are back, validated");
    let aside: i64 = tgt
        .query_one("SELECT count(*) FROM migration.deferred_constraints", &[])
        .unwrap()
        .get(0);
    assert_eq!(aside, 0);
    // The office deleted under the id map fails its own checks; no key has orphans.
    let out = host(&["validate", plan, "--json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for c in report["checks"].as_array().unwrap() {
        if c["check"] == "fk_orphans" || c["check"] == "constraints" {
            assert_eq!(c["ok"], true, "{c}");
        }
    }
}
