//! Adopting the tables an earlier migration already moved (the lab's foundation tables):
//! their UUIDs are kept, children point at them, missing and extra rows are reported.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::support::*;

/// The core tables with offices, categories and profiles adopted, on a target prepared by
/// `host generate --seed-target` (random UUIDs, as the old scripts left them).
fn adopted_core(cluster: &Cluster, name: &str) -> (String, String, String) {
    let legacy = legacy_db(cluster, "0.05");
    let target = cluster.fresh_db(name);
    let plan = write_plan(
        &temp_dir(name),
        &cluster.url(&legacy),
        &cluster.url(&target),
        100,
        CORE_TABLES,
    );
    let mut text = std::fs::read_to_string(&plan).unwrap();
    for t in ["offices", "categories", "profiles"] {
        text = text.replace(
            &format!("name = \"{t}\"\n"),
            &format!("name = \"{t}\"\nadopt = true\n"),
        );
    }
    std::fs::write(&plan, text).unwrap();
    let plan = plan.to_str().unwrap().to_string();
    seed_lab_target(&cluster.url(&legacy), &cluster.url(&target), &plan);
    (legacy, target, plan)
}

fn ids(db: &mut postgres::Client, table: &str) -> BTreeMap<i64, Uuid> {
    db.query(&format!("SELECT legacy_id, id FROM {table}"), &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[test]
fn adopted_tables_keep_their_uuids_and_report_missing_and_extra_rows() {
    let cluster = Cluster::shared();
    let (legacy, target, plan) = adopted_core(cluster, "adopt");
    let mut tgt = cluster.connect(&target);
    let mut seeded = ids(&mut tgt, "offices");
    assert!(seeded.len() > 10, "the seed target has offices: {seeded:?}");
    assert!(
        seeded.values().all(|id| id.get_version_num() == 4),
        "the old scripts' ids are random (v4), not this tool's"
    );
    let profiles = ids(&mut tgt, "profiles");
    assert!(
        tgt.query_one("SELECT to_regclass('migration.runs') IS NULL", &[])
            .unwrap()
            .get::<_, bool>(0),
        "the seed target has no migration state"
    );

    // Plant one office the old scripts missed and one they invented.
    let (&missing, _) = seeded.iter().next().unwrap();
    seeded.remove(&missing);
    tgt.execute("DELETE FROM offices WHERE legacy_id = $1", &[&missing])
        .unwrap();
    let ghost = Uuid::parse_str("5f0c3a52-0d2f-4b8e-9a41-3c7d2b1e9f00").unwrap();
    tgt.execute(
        "INSERT INTO offices (id, legacy_id, name) VALUES ($1, 990001, 'Ghost office')",
        &[&ghost],
    )
    .unwrap();

    let dry = host_ok(&["run", &plan, "--dry-run", "--json"]);
    let dry: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    host_ok(&["run", &plan]);

    // The dry run predicted the real run, adoption included.
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
        assert_eq!(predicted, real, "{name}: dry run vs real run");
    }

    // Adopted rows keep the old scripts' UUIDs, in the id map and in every child.
    let mapped: BTreeMap<i64, Uuid> = tgt
        .query(
            "SELECT legacy_key::int8, id FROM migration.id_map WHERE entity = 'offices'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(mapped, seeded, "the id map holds exactly the adopted pairs");
    let seeded_ids: BTreeSet<Uuid> = seeded.values().copied().collect();
    let child_offices: BTreeSet<Uuid> = tgt
        .query(
            "SELECT DISTINCT office_id FROM doctor_offices UNION SELECT DISTINCT office_id FROM doctors WHERE office_id IS NOT NULL",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!child_offices.is_empty());
    assert!(
        child_offices.is_subset(&seeded_ids),
        "children point at the pre-existing office UUIDs: {:?}",
        child_offices.difference(&seeded_ids).collect::<Vec<_>>()
    );
    let profile_ids: BTreeSet<Uuid> = profiles.values().copied().collect();
    let doctor_profiles: BTreeSet<Uuid> = tgt
        .query(
            "SELECT DISTINCT profile_id FROM doctors WHERE profile_id IS NOT NULL",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!doctor_profiles.is_empty() && doctor_profiles.is_subset(&profile_ids));
    let minted: i64 = tgt
        .query_one(
            "SELECT count(*) FROM offices WHERE legacy_id <> 990001",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(minted as usize, seeded.len(), "no office row written twice");

    // The missing one is quarantined, the extra one reported; the accounting holds.
    let reason: String = tgt
        .query_one(
            "SELECT reason FROM migration.quarantine WHERE table_name = 'offices' AND legacy_key::int8 = $1",
            &[&missing],
        )
        .unwrap()
        .get(0);
    assert!(reason.contains("missing in the adopted table"), "{reason}");
    let extra = tgt
        .query_one(
            "SELECT id, legacy_id, reason FROM migration.adopt_extras WHERE table_name = 'offices'",
            &[],
        )
        .unwrap();
    assert_eq!(extra.get::<_, String>(0), ghost.to_string());
    assert_eq!(extra.get::<_, Option<i64>>(1), Some(990001));
    assert!(extra.get::<_, String>(2).contains("no source row"));
    let mut src = cluster.connect(&legacy);
    let in_source: i64 = src
        .query_one("SELECT count(*) FROM offices", &[])
        .unwrap()
        .get(0);
    let c = tgt
        .query_one("SELECT rows_read, rows_written, rows_skipped, rows_rejected, target_rows FROM migration.table_state WHERE table_name = 'offices'", &[])
        .unwrap();
    let (read, written, skipped, rejected, target_rows): (i64, i64, i64, i64, i64) =
        (c.get(0), c.get(1), c.get(2), c.get(3), c.get(4));
    assert_eq!(read, in_source);
    assert_eq!(
        read,
        written + skipped + rejected,
        "the accounting identity"
    );
    assert_eq!(written as usize, seeded.len());
    assert_eq!(target_rows, 0, "adopted rows are not written again");

    // validate names the extra row; accounting passes.
    let out = host(&["validate", &plan, "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(6));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed: Vec<(String, String)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| (c["table"].to_string(), c["check"].to_string()))
        .collect();
    assert_eq!(
        failed,
        vec![("\"offices\"".to_string(), "\"adopted\"".to_string())],
        "{report:#}"
    );

    // The operator deletes the ghost and retries: the missing office is migrated with this
    // tool's id, then the children it had orphaned, and the migration validates.
    tgt.execute("DELETE FROM offices WHERE id = $1", &[&ghost])
        .unwrap();
    host_ok(&["retry", &plan]);
    let id: Uuid = tgt
        .query_one("SELECT id FROM offices WHERE legacy_id = $1", &[&missing])
        .unwrap()
        .get(0);
    assert_eq!(id.get_version_num(), 5, "migrated by the plugin");
    host_ok(&["validate", &plan]);
}

#[test]
fn adopting_an_empty_table_is_refused_before_anything_moves() {
    let cluster = Cluster::shared();
    let (_, target, plan) = adopted_core(cluster, "adopt_empty");
    let mut tgt = cluster.connect(&target);
    tgt.batch_execute("DELETE FROM offices").unwrap();
    let out = host(&["run", &plan]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("offices is empty, so there is nothing to adopt"),
        "{stderr}"
    );
}

#[test]
fn a_seed_target_must_be_empty() {
    let cluster = Cluster::shared();
    let (legacy, target, plan) = adopted_core(cluster, "seed_twice");
    let out = host(&[
        "generate",
        "--existing-source",
        "--url",
        &cluster.url(&legacy),
        "--seed-target",
        &cluster.url(&target),
        "--plan",
        &plan,
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already has tables in schema public: give it an empty database"),
        "{stderr}"
    );
}
