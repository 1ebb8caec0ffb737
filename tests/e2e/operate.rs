//! The operator's commands around a run: validate, rollback, status.

use std::time::{Duration, Instant};

use crate::support::*;

/// A migrated core target: (legacy db, target db, plan path).
fn migrated(cluster: &Cluster, batch: usize) -> (String, String, String) {
    let legacy = legacy_db(cluster, "0.05");
    let target = cluster.fresh_db("target");
    let plan = write_plan(
        &temp_dir("operate"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        batch,
        CORE_TABLES,
    );
    let plan = plan.to_str().unwrap().to_string();
    host_ok(&["run", &plan]);
    (legacy, target, plan)
}

fn validate_json(plan: &str) -> (i32, serde_json::Value) {
    let out = host(&["validate", plan, "--json"]).output().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "validate --json printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

fn failing(json: &serde_json::Value) -> Vec<(String, String)> {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| {
            (
                c["table"].as_str().unwrap_or("(all)").to_string(),
                c["check"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn validate_passes_then_names_tampered_tables() {
    let cluster = Cluster::shared();
    let (_legacy, target, plan) = migrated(cluster, 100);
    let (code, json) = validate_json(&plan);
    assert_eq!(failing(&json), vec![], "{json:#}");
    assert_eq!(code, 0);
    assert_eq!(json["ok"], true);

    let mut tgt = cluster.connect(&target);
    // A cent more on one order: the money check and the re-transformed sample notice.
    tgt.batch_execute("UPDATE orders SET total_amount = total_amount + 0.01 WHERE id = (SELECT id FROM orders ORDER BY legacy_id LIMIT 1)").unwrap();
    // A deleted link row (no id map is kept for it: nothing resolves doctor_offices): its
    // target rows no longer add up.
    tgt.batch_execute("DELETE FROM doctor_offices WHERE id = (SELECT id FROM doctor_offices ORDER BY legacy_id LIMIT 1)").unwrap();
    let (code, json) = validate_json(&plan);
    assert_eq!(code, 6, "{json:#}");
    let failed = failing(&json);
    assert!(
        failed.contains(&("orders".into(), "money".into())),
        "{failed:?}"
    );
    assert!(
        failed.contains(&("doctor_offices".into(), "target_rows".into())),
        "{failed:?}"
    );
    assert!(
        !failed.iter().any(|(t, _)| t == "patients"),
        "only tampered tables fail: {failed:?}"
    );
    // The human report names them too.
    let out = host(&["validate", &plan]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("validate FAILED: ")
            && text.contains("orders money")
            && text.contains("doctor_offices target_rows"),
        "{text}"
    );
}

#[test]
fn rollback_refuses_dependents_then_cascades_and_rerun_is_identical() {
    let cluster = Cluster::shared();
    let (_legacy, target, plan) = migrated(cluster, 200);
    let mut tgt = cluster.connect(&target);
    let before = digests(&mut tgt);

    // patients has dependents (orders) holding rows: refused, nothing changes.
    let out = host(&["rollback", &plan, "--table", "patients", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("orders") && err.contains("--cascade"), "{err}");
    assert_same_digests(&before, &digests(&mut tgt));

    // Without --yes and without a terminal it refuses too.
    let out = host(&["rollback", &plan, "--table", "patients", "--cascade"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));

    host_ok(&[
        "rollback",
        &plan,
        "--table",
        "patients",
        "--cascade",
        "--yes",
    ]);
    for (table, expect_empty) in [
        ("patients", true),
        ("orders", true),
        ("order_status_history", true),
        ("doctors", false),
    ] {
        let n: i64 = tgt
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap()
            .get(0);
        assert_eq!(n == 0, expect_empty, "{table} has {n} rows");
    }
    let state: i64 = tgt
        .query_one(
            "SELECT count(*) FROM migration.id_map WHERE entity IN ('patients', 'orders')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(state, 0);

    host_ok(&["run", &plan]);
    assert_same_digests(&before, &digests(&mut tgt));

    // --all empties everything the plan wrote.
    host_ok(&["rollback", &plan, "--all", "--yes"]);
    let left: i64 = tgt
        .query_one(
            "SELECT (SELECT count(*) FROM offices) + (SELECT count(*) FROM migration.id_map)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[test]
fn status_reports_progress_from_another_process() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.1");
    let target = cluster.fresh_db("status");
    let plan = write_plan(
        &temp_dir("status"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        10,
        CORE_TABLES,
    );
    let plan = plan.to_str().unwrap();
    let mut run = spawn_host(&["run", plan]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen_progress = false;
    while Instant::now() < deadline && run.try_wait().unwrap().is_none() {
        let out = host(&["status", plan, "--json"]).output().unwrap();
        if out.status.success() {
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let copying = json["tables"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["phase"] == "copying" && t["rows_read"].as_i64() > Some(0));
            if let Some(t) = copying {
                assert!(
                    t["source_rows"].as_i64().unwrap() >= t["rows_read"].as_i64().unwrap(),
                    "{t}"
                );
                assert!(json["tables_total"].as_i64() == Some(CORE_TABLES.len() as i64));
                seen_progress = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(seen_progress, "status never showed a table part-way");
    assert!(run.wait().unwrap().success());
    let out = host_ok(&["status", plan]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{n}/{n} tables done", n = CORE_TABLES.len())),
        "{text}"
    );
}

#[test]
fn dry_run_writes_nothing_and_predicts_the_real_run() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let target = cluster.fresh_db("dry");
    let plan = write_plan(
        &temp_dir("dry"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        100,
        CORE_TABLES,
    );
    let plan = plan.to_str().unwrap();
    let out = host_ok(&["run", plan, "--dry-run", "--json"]);
    let dry: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut tgt = cluster.connect(&target);
    let tables: i64 = tgt
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname IN ('public', 'migration')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "a dry run writes nothing, not even the schema");

    host_ok(&["run", plan]);
    for t in dry.as_array().unwrap() {
        let name = t["table"].as_str().unwrap();
        let row = tgt
            .query_one("SELECT rows_written, rows_skipped, rows_rejected FROM migration.table_state WHERE table_name = $1", &[&name])
            .unwrap();
        let real: (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        let predicted = (
            t["would_write"].as_i64().unwrap(),
            t["would_skip"].as_i64().unwrap(),
            t["would_reject"].as_i64().unwrap(),
        );
        assert_eq!(
            predicted, real,
            "{name}: dry run vs real run (written, skipped, rejected)"
        );
        // The same reasons, as often, and each example key is a row the real run gave it.
        for (list, relation) in [
            ("reject_reasons", "migration.quarantine"),
            ("skip_reasons", "migration.skipped"),
        ] {
            let real: std::collections::BTreeMap<String, i64> = tgt
                .query(
                    &format!("SELECT reason, count(*) FROM {relation} WHERE table_name = $1 GROUP BY reason"),
                    &[&name],
                )
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let listed = t[list].as_array().unwrap();
            let mut top: Vec<i64> = real.values().copied().collect();
            top.sort_unstable_by(|a, b| b.cmp(a));
            top.truncate(listed.len());
            assert_eq!(
                listed.len(),
                real.len().min(5),
                "{name}: the dry run lists the top 5 {list} of {real:?}:\n{listed:#?}"
            );
            let mut counts = Vec::new();
            for r in listed {
                let reason = r["reason"].as_str().unwrap();
                let rows = r["rows"].as_i64().unwrap();
                assert_eq!(
                    real.get(reason),
                    Some(&rows),
                    "{name}: {list} {reason:?} (the real run: {real:?})"
                );
                counts.push(rows);
                for key in r["example_keys"].as_array().unwrap() {
                    let got: String = tgt
                        .query_one(
                            &format!("SELECT reason FROM {relation} WHERE table_name = $1 AND legacy_key::int8 = $2"),
                            &[&name, &key.as_i64().unwrap()],
                        )
                        .unwrap()
                        .get(0);
                    assert_eq!(got, reason, "{name}: example key {key}");
                }
            }
            assert_eq!(
                counts, top,
                "{name}: the most frequent {list}, most frequent first"
            );
        }
    }
    // Reasons come with example keys.
    let orders = dry
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "orders")
        .unwrap();
    let first = &orders["reject_reasons"][0];
    assert!(
        first["rows"].as_i64().unwrap() > 0
            && !first["example_keys"].as_array().unwrap().is_empty(),
        "{orders:#}"
    );
}

#[test]
fn compiled_components_are_cached_by_content_hash() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.01");
    let target = cluster.fresh_db("cache");
    let dir = temp_dir("cache");
    let plan = write_plan(
        &dir,
        &cluster.url(&legacy),
        &cluster.url(&target),
        100,
        &["offices"],
    );
    let plan = plan.to_str().unwrap();
    let cache = dir.join("cache");
    // `host check` compiles the component (or loads it); returns its log.
    let check = || {
        let out = host(&["check", plan])
            .env("HOST_CACHE_DIR", &cache)
            .env("HOST_LOG", "info,engine::wasm=debug")
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{log}");
        log
    };
    let loaded = "loaded from the compile cache";
    let first = check();
    assert!(!first.contains(loaded), "nothing to load yet:\n{first}");
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(
        std::fs::read(plugin("offices")).unwrap(),
    ));
    let entry = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&sha))
        .expect("a cache entry named by the component's hash");
    let compiled = std::fs::read(&entry).unwrap();
    // The next check reads the entry instead of compiling.
    let second = check();
    assert!(
        second.contains(loaded) && second.contains(&*entry.to_string_lossy()),
        "the second check should load {}:\n{second}",
        entry.display()
    );
    // A damaged entry costs a compile, never a failure, and is written again.
    std::fs::write(&entry, b"not a compiled component").unwrap();
    let third = check();
    assert!(
        third.contains("ignoring an unreadable compile cache entry") && !third.contains(loaded),
        "{third}"
    );
    assert_eq!(std::fs::read(&entry).unwrap(), compiled);
}

#[test]
fn an_unknown_phase_in_the_state_is_an_error_naming_it_and_its_table() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.01");
    let target = cluster.fresh_db("unknown_phase");
    let plan = write_plan(
        &temp_dir("unknown_phase"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        100,
        &["offices"],
    );
    let plan = plan.to_str().unwrap();
    host_ok(&["run", plan]);
    // A phase this host does not know (a newer host's, or a hand edit) is not taken for
    // `pending`: status and run both stop and name it.
    cluster
        .connect(&target)
        .execute(
            "UPDATE migration.table_state SET phase = 'paused' WHERE table_name = 'offices'",
            &[],
        )
        .unwrap();
    for command in ["status", "run"] {
        let out = host(&[command, plan]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        assert!(
            stderr.contains("migration.table_state.phase holds `paused`, which this host does not know (it knows pending, copying, done, failed)"),
            "{command}: {stderr}"
        );
    }
}
