//! Exactly once under real faults: the runner killed at seeded random instants, the target
//! server stopped hard mid-run, the source backend terminated mid-table. After each, a re-run
//! finishes with a target identical (per-table digest) to an uninterrupted run.

use std::time::{Duration, Instant};

use crate::support::*;

/// splitmix64: a tiny seeded generator, so a failing seed reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[test]
fn kill_9_at_twenty_random_instants() {
    let seed: u64 = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261125);
    eprintln!("kill_9_at_twenty_random_instants: FAULT_SEED={seed}");
    let mut rng = Rng(seed);
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let expected = reference_digests(cluster, &legacy, 10);
    let target = cluster.fresh_db("killed20");
    let plan = write_plan(
        &temp_dir("killed20"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        10,
        CORE_TABLES,
    );
    let plan = plan.to_str().unwrap();
    let mut kills = 0;
    for _ in 0..20 {
        let instant = Duration::from_millis(50 + rng.next() % 550);
        let mut child = spawn_paced_run(plan, 40);
        let started = Instant::now();
        while started.elapsed() < instant && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL: no cleanup, no flush
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        kills >= 15,
        "seed {seed}: only {kills} of 20 runs were still going when killed"
    );
    host_ok(&["run", plan]);
    assert_same_digests(&expected, &digests(&mut cluster.connect(&target)));
}

#[test]
fn target_server_stopped_hard_mid_run() {
    let shared = Cluster::shared();
    let legacy = legacy_db(shared, "0.05");
    let expected = reference_digests(shared, &legacy, 20);
    // A target cluster of its own, since this test stops it.
    let own = Cluster::start();
    let target = own.fresh_db("restarted");
    let plan = write_plan(
        &temp_dir("restart"),
        &shared.url(&legacy),
        &own.url(&target),
        20,
        CORE_TABLES,
    );
    let plan = plan.to_str().unwrap();
    let child = spawn_paced_run(plan, 20);
    wait_for_batches(&mut own.connect(&target), None, 10);
    own.stop_immediate();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the run cannot finish without its target"
    );
    assert!(
        stderr.contains("run `host run` again"),
        "the message says what to do:\n{stderr}"
    );
    own.start_server();
    host_ok(&["run", plan]);
    assert_same_digests(&expected, &digests(&mut own.connect(&target)));
}

#[test]
fn source_backend_terminated_mid_table() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let expected = reference_digests(cluster, &legacy, 20);
    let target = cluster.fresh_db("terminated");
    let plan = write_plan(
        &temp_dir("terminate"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        20,
        CORE_TABLES,
    );
    let plan = plan.to_str().unwrap();
    let child = spawn_paced_run(plan, 20);
    let mut db = cluster.connect(&target);
    wait_for_batches(&mut db, Some("patients"), 3);
    let killed: i64 = cluster
        .connect("postgres")
        .query_one("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'host-source' AND datname = $1) t", &[&legacy])
        .unwrap()
        .get(0);
    assert!(
        killed >= 1,
        "the runner's source connections (one per table running)"
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("connection was lost") && stderr.contains("run `host run` again"),
        "{stderr}"
    );
    host_ok(&["run", plan]);
    assert_same_digests(&expected, &digests(&mut db));
}
