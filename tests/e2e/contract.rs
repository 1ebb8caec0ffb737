//! Contract versions: components built against the contract as released at 0.1.0
//! (`lab:migrate@0.1.0`, tests/guests/contract_0_1), at 0.2.0 (`migrate:transform@0.2.0`,
//! tests/guests/contract_0_2) and at 0.3.0 (tests/guests/contract_0_3; types.rs runs its
//! `typed_0_3` over arrays), all built from wit/frozen/, still check and run; the 0.1.0 one
//! also stays within the output bounds and hot-swaps next to components built against the
//! current contract, with the same results as its current twin (fixed_offices: the same
//! mapping through the SDK). A component of neither contract is refused by `host check`
//! (catalogue: plugin_of_another_world; plugin.rs: contract_versions_are_checked).

use crate::bounds::{offices_plan, quarantined};
use crate::catalogue::{guest, hand_made_legacy};
use crate::support::*;
use crate::swap::{drop_in, run_and_act};

/// `host check` accepts the 0.1.0, 0.2.0 and 0.3.0 components, also when they come from the compile
/// cache, and a run with either writes exactly what a run with the current twin writes.
#[test]
fn frozen_contract_components_check_and_run_like_their_current_twin() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let mut results = Vec::new();
    for name in [
        "fixed_offices",
        "contract_0_1",
        "contract_0_2",
        "contract_0_3",
    ] {
        let dir = temp_dir(name);
        let target = cluster.fresh_db(name);
        let plan = write_plan_with(
            &dir,
            &cluster.url(&legacy),
            &cluster.url(&target),
            50,
            &[("offices", guest(name))],
        );
        let plan = plan.to_str().unwrap();
        // Twice: compiled the first time, loaded from the cache the second.
        let cache = dir.join("cache");
        for _ in 0..2 {
            run_ok(host(&["check", plan]).env("HOST_CACHE_DIR", &cache));
        }
        let cached = std::fs::read_dir(&cache).unwrap().count();
        assert_eq!(cached, 1, "one compile cache entry for {name}");
        host_ok(&["run", plan]);
        let mut db = cluster.connect(&target);
        let written: i64 = db
            .query_one("SELECT count(*) FROM offices", &[])
            .unwrap()
            .get(0);
        assert!(written > 0, "{name} wrote nothing");
        results.push(digests(&mut db));
    }
    for other in &results[1..] {
        assert_same_digests(&results[0], other);
    }
}

/// A live run swaps from a 0.2.0 component to a 0.1.0 one, `host retry` replays through the
/// 0.1.0 one, and another run swaps from 0.1.0 to 0.2.0: both end as a plain 0.2.0 run does.
#[test]
fn a_0_1_and_a_0_2_component_hot_swap_into_each_other() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let fixed = guest("fixed_offices");
    let old = guest("contract_0_1");

    let reference = cluster.fresh_db("contract_reference");
    let plan = write_plan_with(
        &temp_dir("contract-ref"),
        &cluster.url(&legacy),
        &cluster.url(&reference),
        2,
        &[("offices", fixed.clone())],
    );
    host_ok(&["run", plan.to_str().unwrap()]);
    let expected = digests(&mut cluster.connect(&reference));

    // 0.2.0 (buggy: rejects even keys) -> 0.1.0, then retry the rejects through 0.1.0.
    // 0.1.0 -> 0.2.0.
    for (name, first, then) in [
        ("to_0_1", guest("buggy_offices"), old.clone()),
        ("to_0_2", old.clone(), fixed.clone()),
    ] {
        let dir = temp_dir(name);
        let live = dir.join("offices.wasm");
        std::fs::copy(&first, &live).unwrap();
        let target = cluster.fresh_db(name);
        let plan = write_plan_with(
            &dir,
            &cluster.url(&legacy),
            &cluster.url(&target),
            2,
            &[("offices", live.clone())],
        );
        let plan = plan.to_str().unwrap();
        let mut db = cluster.connect(&target);
        let log = run_and_act(plan, &mut db, 3, || drop_in(&then, &live));
        assert!(
            log.contains("hot swap: the next batch runs on the new component"),
            "{name}: {log}"
        );
        let swaps: i64 = db
            .query_one("SELECT count(*) FROM migration.swaps WHERE applied", &[])
            .unwrap()
            .get(0);
        assert_eq!(swaps, 1, "{name}");
        let components: i64 = db
            .query_one(
                "SELECT count(DISTINCT component_sha256) FROM migration.batches",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(components, 2, "{name}: both components committed batches");
        host_ok(&["retry", plan]);
        assert_same_digests(&expected, &digests(&mut db));
    }
}

/// The output bounds hold for a 0.1.0 component as for a 0.2.0 one: a row returning more
/// than `max_output_bytes_per_call` is quarantined alone with the same reason, and its `log`
/// lines (the 0.1.0 import) are budgeted per batch.
#[test]
fn output_bounds_hold_for_a_0_1_component() {
    let cluster = Cluster::shared();
    // Row 20's address alone is over the 1 KiB cap; a batch of 50 is too, so it is bisected.
    let legacy = hand_made_legacy(
        cluster,
        "INSERT INTO offices (name) SELECT 'Office ' || i FROM generate_series(1, 100) i;
         UPDATE offices SET address = repeat('x', 2000) WHERE id = 20;",
    );
    let mut results = Vec::new();
    for name in ["fixed_offices", "contract_0_1"] {
        let target = cluster.fresh_db(name);
        let plan = offices_plan(
            &temp_dir(name),
            &legacy,
            &target,
            name,
            "max_output_bytes_per_call = 1024\nlog_lines_per_batch = 1\n",
        );
        let out =
            run_ok(host(&["run", plan.to_str().unwrap()]).env("HOST_LOG", "info,plugin=debug"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        if name == "contract_0_1" {
            // The bisection calls the plugin many times per batch: one line is printed, the
            // rest only counted.
            assert!(
                stderr.contains("contract 0.1.0 guest: 50 rows")
                    && stderr.contains("more log lines (")
                    && stderr.contains("suppressed in this batch"),
                "{stderr}"
            );
        }
        let mut db = cluster.connect(&target);
        let q = quarantined(&mut db);
        assert_eq!(
            q.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![20],
            "{name}: {q:?}"
        );
        assert!(
            q[0].1.starts_with("plugin output over the limit: it returned 2.1 kB for 1 input row(s) in one call (max_output_bytes_per_call = 1.0 kB)"),
            "{name}: {}",
            q[0].1
        );
        let written: i64 = db
            .query_one("SELECT count(*) FROM offices", &[])
            .unwrap()
            .get(0);
        assert_eq!(written, 99, "{name}");
        results.push((q, digests(&mut db)));
    }
    // The quarantine differs only in the component hash it records.
    assert_eq!(results[0].0, results[1].0);
    let without_quarantine = |d: &[(String, String)]| -> Vec<(String, String)> {
        d.iter()
            .filter(|(t, _)| t != "migration.quarantine")
            .cloned()
            .collect()
    };
    assert_same_digests(
        &without_quarantine(&results[0].1),
        &without_quarantine(&results[1].1),
    );
}
