//! `host run`: the core tables end to end, and resume after a hard kill.

use std::time::{Duration, Instant};

use crate::support::*;

/// Per table: source rows = written + skipped + rejected, and those match the source.
fn assert_accounting(
    source: &mut postgres::Client,
    target: &mut postgres::Client,
    tables: &[&str],
) {
    for t in tables {
        let in_source: i64 = source
            .query_one(&format!("SELECT count(*) FROM \"{t}\""), &[])
            .unwrap()
            .get(0);
        let row = target
            .query_one(
                "SELECT phase, rows_read, rows_written, rows_skipped, rows_rejected,
                        (SELECT count(*) FROM migration.skipped s WHERE s.table_name = $1),
                        (SELECT count(*) FROM migration.quarantine q WHERE q.table_name = $1),
                        (SELECT count(*) FROM migration.id_map m WHERE m.entity = $1),
                        keep_id_map
                 FROM migration.table_state WHERE table_name = $1",
                &[t],
            )
            .unwrap();
        let (phase, read, written, skipped, rejected): (String, i64, i64, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        assert_eq!(phase, "done", "{t}");
        assert_eq!(read, in_source, "{t}: every source row read");
        assert_eq!(
            read,
            written + skipped + rejected,
            "{t}: source = written + skipped + rejected"
        );
        assert_eq!(
            skipped,
            row.get::<_, i64>(5),
            "{t}: every skip recorded with its reason"
        );
        assert_eq!(
            rejected,
            row.get::<_, i64>(6),
            "{t}: every reject quarantined"
        );
        // A table something resolves has its whole id map; the others none (their ids are
        // minted from their keys, nobody reads a map of them).
        let mapped = if row.get::<_, bool>(8) { written } else { 0 };
        assert_eq!(mapped, row.get::<_, i64>(7), "{t}: id map as decided");
        assert!(written > 0, "{t}: something was written");
    }
}

#[test]
fn core_tables_end_to_end() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let target = cluster.fresh_db("target");
    let dir = temp_dir("e2e");
    let plan = write_plan(
        &dir,
        &cluster.url(&legacy),
        &cluster.url(&target),
        200,
        CORE_TABLES,
    );
    host_ok(&["check", plan.to_str().unwrap()]);
    let out = host_ok(&["run", plan.to_str().unwrap()]);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(!summary.contains("DOES NOT ADD UP"), "{summary}");

    let mut src = cluster.connect(&legacy);
    let mut tgt = cluster.connect(&target);
    assert_accounting(&mut src, &mut tgt, CORE_TABLES);

    // Every written row is in its target table under the id the id map gives it.
    for t in CORE_TABLES {
        let missing: i64 = tgt
            .query_one(&format!("SELECT count(*) FROM migration.id_map m LEFT JOIN public.\"{t}\" x ON x.id = m.id WHERE m.entity = $1 AND x.id IS NULL"), &[t])
            .unwrap()
            .get(0);
        assert_eq!(missing, 0, "{t}: id-map rows without a target row");
    }
    // No foreign-key orphans (the constraints are enforced; this proves none were disabled).
    let fks = tgt
        .query(
            "SELECT c.conrelid::regclass::text, a.attname::text, c.confrelid::regclass::text
             FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace",
            &[],
        )
        .unwrap();
    assert!(!fks.is_empty());
    for fk in fks {
        let (table, column, parent): (String, String, String) = (fk.get(0), fk.get(1), fk.get(2));
        let orphans: i64 = tgt
            .query_one(&format!("SELECT count(*) FROM {table} c WHERE c.\"{column}\" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = c.\"{column}\")"), &[])
            .unwrap()
            .get(0);
        assert_eq!(orphans, 0, "{table}.{column} -> {parent}");
    }
    // Money is exact: the written orders' totals (rows neither skipped nor quarantined) sum to
    // the cent in both databases.
    let not_written: Vec<i64> = tgt
        .query(
            "SELECT legacy_key::int8 FROM migration.skipped WHERE table_name = 'orders'
             UNION ALL SELECT legacy_key::int8 FROM migration.quarantine WHERE table_name = 'orders'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let source_sum: String = src
        .query_one("SELECT coalesce(sum(total_amount), 0)::numeric(14,2)::text FROM orders WHERE id <> ALL($1::bigint[])", &[&not_written])
        .unwrap()
        .get(0);
    let target_sum: String = tgt
        .query_one(
            "SELECT coalesce(sum(total_amount), 0)::numeric(14,2)::text FROM orders",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(source_sum, target_sum, "orders.total_amount");
    let source_paid: String = src
        .query_one("SELECT (coalesce(sum(amount_paid_cents), 0) / 100.0)::numeric(14,2)::text FROM orders WHERE id <> ALL($1::bigint[])", &[&not_written])
        .unwrap()
        .get(0);
    let target_paid: String = tgt
        .query_one(
            "SELECT coalesce(sum(amount_paid), 0)::numeric(14,2)::text FROM orders",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(source_paid, target_paid, "orders.amount_paid");
    // Lineage: every batch names the component that produced it.
    let unnamed: i64 = tgt
        .query_one(
            "SELECT count(*) FROM migration.batches WHERE length(component_sha256) <> 64",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(unnamed, 0);

    // A second run finds everything done and changes nothing.
    let before = digests(&mut tgt);
    host_ok(&["run", plan.to_str().unwrap()]);
    assert_same_digests(&before, &digests(&mut tgt));
}

#[test]
fn resume_after_kill_9_is_identical() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let reference = reference_digests(cluster, &legacy, 50);

    let target = cluster.fresh_db("killed");
    let plan = write_plan(
        &temp_dir("killed"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        50,
        CORE_TABLES,
    );
    let plan = plan.to_str().unwrap();
    let mut tgt = cluster.connect(&target);
    let mut kills = 0;
    // Kill the runner (SIGKILL, no chance to clean up) at growing batch counts, resume each time.
    for at_batches in [3_i64, 20, 60, 120] {
        let mut child = spawn_host(&["run", plan]);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let batches: i64 = tgt
                .query_one("SELECT CASE WHEN to_regclass('migration.batches') IS NULL THEN 0 ELSE (SELECT count(*) FROM migration.batches) END", &[])
                .map(|r| r.get(0))
                .unwrap_or(0);
            if batches >= at_batches
                || child.try_wait().unwrap().is_some()
                || Instant::now() > deadline
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        kills >= 2,
        "the runner finished before it could be killed; make batches smaller"
    );
    host_ok(&["run", plan]);
    assert_same_digests(&reference, &digests(&mut tgt));
}

#[test]
fn crash_right_before_and_after_commit_is_identical() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let reference = reference_digests(cluster, &legacy, 40);
    for failpoint in [
        "before-commit=return(patients:2)",
        "after-commit=return(patients:2)",
        "after-commit=return(orders:1)",
    ] {
        let target = cluster.fresh_db("failpoint");
        let plan = write_plan(
            &temp_dir("failpoint"),
            &cluster.url(&legacy),
            &cluster.url(&target),
            40,
            CORE_TABLES,
        );
        let plan = plan.to_str().unwrap();
        let out = host(&["run", plan])
            .env("FAILPOINTS", failpoint)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{failpoint}: the runner should have aborted"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("failpoint"),
            "{failpoint}"
        );
        host_ok(&["run", plan]);
        assert_same_digests(&reference, &digests(&mut cluster.connect(&target)));
    }
}

/// Terminal control sequences (colour, cursor moves, clearing) out of `text`.
fn without_escapes(text: &str) -> String {
    regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]")
        .unwrap()
        .replace_all(text, "")
        .into_owned()
}

#[test]
fn a_terminal_gets_a_live_board_and_whole_log_lines() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.02");
    let tables = ["offices", "patients"];
    let target = cluster.fresh_db("board");
    let plan = write_plan(
        &temp_dir("board"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        20,
        &tables,
    );
    let mut run = host(&["run", plan.to_str().unwrap()]);
    run.env("FAILPOINTS", "batch-delay=return(30)");
    let out = on_terminal(&run).output().expect("run script");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    let lines: Vec<String> = without_escapes(&screen)
        .split(['\r', '\n'])
        .map(str::to_string)
        .collect();
    // A bar per table, with its figures.
    let bar = regex::Regex::new(
        r"^ *patients \[[=> ]{30}\] +[0-9]{1,3}% [0-9,]+/[0-9,]+ rows, [0-9,]+ rows/s, ETA ",
    )
    .unwrap();
    assert!(
        lines.iter().any(|l| bar.is_match(l)),
        "no bar for patients on the terminal:\n{screen}"
    );
    // The log lines print above the board, never into a bar's line ("where the time went"
    // is logged while its table's bar is up).
    let logged: Vec<&String> = lines.iter().filter(|l| l.contains(" INFO ")).collect();
    for table in tables {
        for what in ["where the time went", "table finished"] {
            assert_eq!(
                logged
                    .iter()
                    .filter(|l| l.contains(what) && l.contains(&format!("table={table}")))
                    .count(),
                1,
                "{table}: one {what:?} log line:\n{screen}"
            );
        }
    }
    for line in logged {
        assert!(
            !line.contains("rows/s") && line.trim_start().starts_with("20"),
            "a log line broken by the board: {line:?}\n{screen}"
        );
    }

    // Without a terminal: log lines only, no control sequence.
    let target = cluster.fresh_db("board_piped");
    let plan = write_plan(
        &temp_dir("board-piped"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        20,
        &tables,
    );
    let out = host_ok(&["run", plan.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\x1b') && stderr.contains("table finished"),
        "{stderr}"
    );
}

#[test]
fn whole_lab_end_to_end_validates() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.02");
    let target = cluster.fresh_db("lab");
    let plan = lab_plan(
        &temp_dir("lab"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        500,
    );
    let plan = plan.to_str().unwrap();
    // The lab's real starting point: the old scripts already moved the foundation tables.
    seed_lab_target(&cluster.url(&legacy), &cluster.url(&target), plan);
    host_ok(&["check", plan]);
    host_ok(&["run", plan]);
    let out = host(&["validate", plan, "--json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert!(
        failed.is_empty() && out.status.success(),
        "{failed:#?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No check says "ok" having compared nothing (every lab table has rows).
    assert_eq!(
        crate::validate_shapes::ok_over_nothing(&report),
        Vec::<String>::new()
    );

    let mut tgt = cluster.connect(&target);
    let tables: i64 = tgt
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(tables >= 56, "the new schema has {tables} tables");
    let done: i64 = tgt
        .query_one(
            "SELECT count(*) FROM migration.table_state WHERE phase = 'done'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(done, 30, "every legacy table migrated");
    let mut src = cluster.connect(&legacy);
    let legacy_tables: Vec<String> = src
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(legacy_tables.len(), 30);
    let names: Vec<&str> = legacy_tables.iter().map(String::as_str).collect();
    assert_accounting(&mut src, &mut tgt, &names);
    // The foundation rows kept the old scripts' random UUIDs; this tool's are v5.
    for table in ["offices", "categories", "profiles", "brackets"] {
        let versions: Vec<i32> = tgt
            .query(
                &format!("SELECT DISTINCT get_byte(uuid_send(id), 6) >> 4 FROM {table}"),
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(
            versions,
            vec![4],
            "{table}: adopted rows keep their v4 UUIDs"
        );
    }
}
