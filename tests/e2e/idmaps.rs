//! The id map is written only for the tables something reads it for, and resolving is
//! answered from the target (a bounded cache, not whole maps in memory).

use std::collections::BTreeMap;

use crate::support::*;
use crate::swap::test_guest;

/// Id-map rows per entity.
fn mapped(db: &mut postgres::Client) -> BTreeMap<String, i64> {
    db.query(
        "SELECT entity, count(*) FROM migration.id_map GROUP BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Each table's recorded decision and its written rows.
fn decisions(db: &mut postgres::Client) -> BTreeMap<String, (Option<bool>, i64)> {
    db.query(
        "SELECT table_name, keep_id_map, rows_written FROM migration.table_state",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), (r.get(1), r.get(2))))
    .collect()
}

/// Adds `keep_id_map = true` to the plan's `[[table]]` entry of `table`.
fn keep_map_of(plan: &std::path::Path, table: &str) {
    let text = std::fs::read_to_string(plan).unwrap();
    let entry = format!("name = \"{table}\"\n");
    assert!(text.contains(&entry), "{table} is not in the plan");
    let text = text.replace(&entry, &format!("{entry}keep_id_map = true\n"));
    std::fs::write(plan, text).unwrap();
}

#[test]
fn only_tables_something_resolves_keep_an_id_map() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.02");
    let target = cluster.fresh_db("idmaps_kept");
    let plan = write_plan(
        &temp_dir("idmaps_kept"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        50,
        CORE_TABLES,
    );
    // A table nobody resolves keeps its map when its plan entry says so.
    keep_map_of(&plan, "categories");
    let plan = plan.to_str().unwrap();
    host_ok(&["run", plan]);
    let mut db = cluster.connect(&target);
    let decided = decisions(&mut db);
    let maps = mapped(&mut db);
    // doctors, patients, orders and doctor_offices resolve these; categories by its plan key.
    for kept in ["offices", "profiles", "doctors", "patients", "categories"] {
        let (decision, written) = decided[kept];
        assert_eq!(decision, Some(true), "{kept}: {decided:?}");
        assert!(written > 0, "{kept} wrote nothing");
        assert_eq!(maps.get(kept), Some(&written), "{kept}: {maps:?}");
    }
    // Nothing resolves orders or doctor_offices: no id-map rows, and recorded so.
    for not_kept in ["orders", "doctor_offices"] {
        let (decision, written) = decided[not_kept];
        assert_eq!(decision, Some(false), "{not_kept}: {decided:?}");
        assert!(written > 0, "{not_kept} wrote nothing");
        assert_eq!(maps.get(not_kept), None, "{not_kept}: {maps:?}");
    }
    // The children resolved their parents: every order points at its patient, and validate
    // (counting rows where no map is kept, re-transforming samples) passes.
    let orphans: i64 = db
        .query_one(
            "SELECT count(*) FROM orders o WHERE o.patient_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM patients p WHERE p.id = o.patient_id)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(orphans, 0);
    let resolved_patients: i64 = db
        .query_one(
            "SELECT count(*) FROM orders WHERE patient_id IS NOT NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(resolved_patients > 0, "no order resolved its patient");
    let out = host(&["validate", plan, "--json"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id_map_checks: Vec<String> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == "id_map")
        .map(|c| c["table"].as_str().unwrap().to_string())
        .collect();
    assert!(id_map_checks.contains(&"doctors".to_string()), "{json:#}");
    assert!(!id_map_checks.contains(&"orders".to_string()), "{json:#}");
}

#[test]
fn resolving_a_table_run_without_its_map_is_refused() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.01");
    let target = cluster.fresh_db("idmaps_refused");
    let dir = temp_dir("idmaps_refused");
    let (source_url, target_url) = (cluster.url(&legacy), cluster.url(&target));
    // doctors first runs with nothing resolving it: its map is not kept.
    let first = write_plan(
        &dir,
        &source_url,
        &target_url,
        50,
        &["offices", "profiles", "doctors"],
    );
    host_ok(&["run", first.to_str().unwrap()]);
    let mut db = cluster.connect(&target);
    assert_eq!(decisions(&mut db)["doctors"].0, Some(false));
    // A changed plan adds patients (and the rest), which resolve doctors: check, run and
    // retry refuse it, naming doctors and what to do.
    let second = write_plan(
        &temp_dir("idmaps_refused2"),
        &source_url,
        &target_url,
        50,
        CORE_TABLES,
    );
    let second = second.to_str().unwrap();
    for command in ["check", "run", "retry"] {
        let out = host(&[command, second]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{command}:\n{stdout}\n{stderr}");
        let said = format!("{stdout}{stderr}");
        assert!(
            said.contains("[patients] its plugin resolves doctors, but the ")
                && said.contains("[orders] its plugin resolves doctors, but the ")
                && said.contains("rows written for doctors have no id-map rows")
                && said.contains("host rollback PLAN --table doctors --cascade"),
            "{command}:\n{said}"
        );
    }
    assert!(!decisions(&mut db).contains_key("patients"), "patients ran");
    // The refused retry's session may outlive its process for a moment, and its run lock
    // with it (PostgreSQL ends the backend after the client is gone).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0)
        > 0
    {
        assert!(std::time::Instant::now() < deadline, "the run lock stayed held");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // What the message says to do works: roll doctors back and run again (patients resolves
    // doctors now: its map is kept).
    host_ok(&[
        "rollback",
        second,
        "--table",
        "doctors",
        "--cascade",
        "--yes",
    ]);
    host_ok(&["run", second]);
    let decided = decisions(&mut db);
    assert_eq!(decided["doctors"].0, Some(true));
    assert_eq!(mapped(&mut db).get("doctors"), Some(&decided["doctors"].1));
}

#[test]
fn a_swap_that_starts_resolving_a_table_without_its_map_is_refused() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.01");
    let target = cluster.fresh_db("idmaps_swap");
    let dir = temp_dir("idmaps_swap");
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
    let before = std::fs::read(&live).unwrap();
    // A component resolving offices' own ids: offices committed its rows without a map.
    let out = host(&[
        "swap",
        plan,
        "--table",
        "offices",
        "--plugin",
        test_guest("resolving_offices").to_str().unwrap(),
        "--wait",
        "0",
    ])
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("its plugin resolves offices, but the ")
            && stderr.contains("rows written for offices have no id-map rows"),
        "{stderr}"
    );
    assert_eq!(
        before,
        std::fs::read(&live).unwrap(),
        "the file was replaced"
    );
}

#[test]
fn parents_larger_than_the_cache_resolve_as_with_a_large_one() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let expected = reference_digests(cluster, &legacy, 40);
    let target = cluster.fresh_db("idmaps_small_cache");
    let plan = write_plan(
        &temp_dir("idmaps_small_cache"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        40,
        CORE_TABLES,
    );
    // Seven answers held at most: every batch's parents overflow it many times over.
    let out = host(&["run", plan.to_str().unwrap()])
        .env("FAILPOINTS", "id-cache-entries=return(7)")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut db = cluster.connect(&target);
    assert_same_digests(&digests(&mut db), &expected);
    // And the maps resolved were larger than the cache.
    let maps = mapped(&mut db);
    assert!(maps["patients"] > 7 && maps["doctors"] > 7, "{maps:?}");
}
