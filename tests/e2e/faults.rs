//! Exactly once under real faults: the runner killed at seeded random instants across the
//! whole lab; the target and the source restarted hard and their backends terminated during
//! one run, which rides every fault out on its own; a fault that outlasts
//! `fault_timeout_seconds` ends the run with what to do. Each ends with a target identical
//! (per-table digest, constraints and indexes included) to an uninterrupted run.

use std::time::{Duration, Instant};

use crate::support::*;

/// The whole lab migrated uninterrupted into a fresh database of `cluster`: what every
/// faulted run must end up equal to.
fn whole_lab_reference(
    source: &Cluster,
    legacy: &str,
    cluster: &Cluster,
    batch: usize,
) -> Vec<(String, String)> {
    let target = cluster.fresh_db("reference");
    let plan = whole_lab_plan(
        &temp_dir("reference"),
        &source.url(legacy),
        &cluster.url(&target),
        batch,
    );
    host_ok(&["run", plan.to_str().unwrap()]);
    digests(&mut cluster.connect(&target))
}

#[test]
fn kill_9_at_fifty_or_more_random_instants_across_the_whole_lab() {
    let seed = fault_seed("kill_9_at_fifty_or_more_random_instants_across_the_whole_lab");
    let mut rng = Rng(seed);
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.01");
    let expected = whole_lab_reference(cluster, &legacy, cluster, 40);
    let target = cluster.fresh_db("killed50");
    let plan = whole_lab_plan(
        &temp_dir("killed50"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        40,
    );
    let plan = plan.to_str().unwrap();
    let mut kills = 0;
    let mut runs = 0;
    let mut db = cluster.connect(&target);
    // Killed again and again until a run gets to the end: the kills fall across the whole lab.
    let finished = loop {
        runs += 1;
        assert!(
            runs <= 400,
            "seed {seed}: no run finished after {kills} kills"
        );
        // One kill in five at a random instant of the start (check, keys set aside); the
        // rest once 1 to 3 more batches have committed, plus up to 10 ms (mid-batch, mid-commit).
        let start_phase = rng.next().is_multiple_of(5);
        let instant = Duration::from_millis(rng.next() % 600);
        let batches_more = 1 + (rng.next() % 3) as i64;
        let extra = Duration::from_millis(rng.next() % 10);
        let before = committed_batches(&mut db, None);
        let mut child = spawn_paced_run(plan, 15);
        let started = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            let due = if start_phase {
                started.elapsed() >= instant
            } else {
                committed_batches(&mut db, None) >= before + batches_more
            };
            if due {
                std::thread::sleep(extra);
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL: no cleanup, no flush
            kills += 1;
        }
        let status = child.wait().unwrap();
        if status.success() {
            break true;
        }
    };
    let tables: i64 = db
        .query_one(
            "SELECT count(DISTINCT table_name) FROM migration.batches",
            &[],
        )
        .unwrap()
        .get(0);
    let batches = committed_batches(&mut db, None);
    eprintln!("seed {seed}: {kills} kill -9 in {runs} runs over {batches} batches of {tables} tables, then a run finished");
    assert!(finished);
    assert!(
        kills >= 50,
        "seed {seed}: only {kills} kills before a run finished: make the kills come sooner"
    );
    assert_same_digests(&expected, &digests(&mut db));
}

/// Batches committed on `db`, 0 while the server cannot be reached (it may be restarting).
fn batches_now(cluster: &Cluster, db: &str) -> i64 {
    match postgres::Client::connect(&cluster.url(db), postgres::NoTls) {
        Ok(mut client) => try_committed_batches(&mut client, None).unwrap_or(0),
        Err(_) => 0,
    }
}

/// Whether `terminate` ended a backend within two seconds of tries.
fn until_some(terminate: impl Fn() -> i64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if terminate() > 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    RestartTarget,
    RestartSource,
    TerminateTarget,
    TerminateSource,
}

#[test]
fn restarts_and_terminated_backends_are_ridden_out_within_one_run() {
    let source = Cluster::start();
    let target_cluster = Cluster::start();
    let legacy = legacy_db(&source, "0.01");
    let expected = whole_lab_reference(&source, &legacy, &target_cluster, 20);
    let target = target_cluster.fresh_db("faulted");
    let plan = whole_lab_plan(
        &temp_dir("faulted"),
        &source.url(&legacy),
        &target_cluster.url(&target),
        20,
    );
    let mut child = spawn_paced_run(plan.to_str().unwrap(), 15);
    // Ten of each fault that cuts connections (five source restarts), each after the run
    // has committed more since the last.
    let mut schedule = Vec::new();
    for round in 0..10 {
        schedule.push(Fault::RestartTarget);
        schedule.push(Fault::TerminateTarget);
        schedule.push(Fault::TerminateSource);
        if round % 2 == 0 {
            schedule.push(Fault::RestartSource);
        }
    }
    let mut done: Vec<Fault> = Vec::new();
    let mut last = 0;
    for fault in schedule {
        // Wait for two more committed batches (or the run's end).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = batches_now(&target_cluster, &target);
            if now >= last + 2 || child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                last = now;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        let hit = match fault {
            Fault::RestartTarget => {
                target_cluster.restart_immediate();
                true
            }
            Fault::RestartSource => {
                source.restart_immediate();
                true
            }
            // Right after a restart the runner may still be reconnecting: try for a while.
            Fault::TerminateTarget => {
                until_some(|| target_cluster.terminate_backends(&target, "host-target"))
            }
            Fault::TerminateSource => {
                until_some(|| source.terminate_backends(&legacy, "host-source"))
            }
        };
        if hit {
            done.push(fault);
        }
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let count = |f: Fault| done.iter().filter(|d| **d == f).count();
    eprintln!(
        "faults during one run: {} target restarts, {} source restarts, {} target and {} source backends terminated",
        count(Fault::RestartTarget),
        count(Fault::RestartSource),
        count(Fault::TerminateTarget),
        count(Fault::TerminateSource)
    );
    assert!(
        out.status.success(),
        "the run rides out every fault without an operator:\n{stderr}"
    );
    assert!(
        count(Fault::RestartTarget) >= 10
            && count(Fault::TerminateTarget) >= 10
            && count(Fault::TerminateSource) >= 10
            && count(Fault::RestartSource) >= 5,
        "the run finished before every fault was dealt: {done:?}"
    );
    assert!(
        stderr.contains("transient fault"),
        "each fault is logged as a warning:\n{stderr}"
    );
    assert_same_digests(&expected, &digests(&mut target_cluster.connect(&target)));
}

#[test]
fn a_fault_that_outlasts_fault_timeout_ends_the_run_and_a_rerun_resumes() {
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
    let text = std::fs::read_to_string(&plan).unwrap();
    std::fs::write(
        &plan,
        text.replace("[defaults]\n", "[defaults]\nfault_timeout_seconds = 3\n"),
    )
    .unwrap();
    let plan = plan.to_str().unwrap();
    let child = spawn_paced_run(plan, 20);
    wait_for_batches(&mut own.connect(&target), None, 10);
    own.stop_immediate();
    let stopped = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(4),
        "the run cannot finish without its target, and says a database could not be reached:\n{stderr}"
    );
    assert!(
        stopped.elapsed() < Duration::from_secs(60),
        "it gave up after about fault_timeout_seconds, not later"
    );
    assert!(
        stderr.contains("transient fault") && stderr.contains("run `host run` again"),
        "it retried, then says what to do:\n{stderr}"
    );
    own.start_server();
    host_ok(&["run", plan]);
    assert_same_digests(&expected, &digests(&mut own.connect(&target)));
}
