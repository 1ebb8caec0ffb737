//! One migration, several processes: `host run` splits the lab's large tables into key-range
//! chunks (see crates/engine/src/chunk.rs) and `host worker` processes join it through the
//! target alone. Workers killed with SIGKILL at seeded instants lose only their uncommitted
//! batch and their chunks are taken over; a chunked run killed anywhere resumes; every end is
//! identical (rows, id map, quarantine, skips, constraints) to one process's run. A worker whose
//! component differs from the run's, or with no run to join, is refused.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// Rows per chunk: at scale 0.05 tasks splits into ~25, order_files and others into a few.
const CHUNK_ROWS: u64 = 1500;

/// [`whole_lab_plan`] with the lab's large tables split into chunks of `CHUNK_ROWS` rows.
fn chunked_plan(dir: &std::path::Path, source: &str, target: &str) -> std::path::PathBuf {
    let path = whole_lab_plan(dir, source, target, 300);
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen("[defaults]", &format!("[defaults]\nchunk_rows = {CHUNK_ROWS}"), 1);
    std::fs::write(&path, text).unwrap();
    path
}

/// The lab migrated by one uninterrupted `host run` of the chunked plan.
fn one_process_reference(cluster: &Cluster, legacy: &str) -> Vec<(String, String)> {
    let target = cluster.fresh_db("workers_ref");
    let plan = chunked_plan(&temp_dir("workers_ref"), &cluster.url(legacy), &cluster.url(&target));
    host_ok(&["run", plan.to_str().unwrap()]);
    let mut db = cluster.connect(&target);
    let split: i64 = db
        .query_one("SELECT count(DISTINCT table_name) FROM migration.chunks", &[])
        .unwrap()
        .get(0);
    assert!(split >= 2, "the reference run split only {split} table(s)");
    digests(&mut db)
}

/// `host worker plan`, paced like the run so the processes share the chunks.
fn spawn_worker(plan: &str, delay_ms: u64) -> Child {
    host(&["worker", plan])
        .env("FAILPOINTS", format!("batch-delay=return({delay_ms})"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn host worker")
}

/// Waits (at most a minute) until `sql` returns true.
fn wait_until(db: &mut postgres::Client, sql: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = db
            .query_one(sql, &[])
            .map(|r| r.get::<_, bool>(0))
            .unwrap_or(false);
        if ready {
            return;
        }
        assert!(Instant::now() < deadline, "waited a minute for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn output_of(child: Child) -> (bool, String) {
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn four_workers_two_killed_and_one_restarted_end_identical_to_one_process() {
    let seed = fault_seed("four_workers_two_killed_and_one_restarted_end_identical_to_one_process");
    let mut rng = Rng(seed);
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let expected = one_process_reference(cluster, &legacy);

    let target = cluster.fresh_db("workers");
    let plan = chunked_plan(&temp_dir("workers"), &cluster.url(&legacy), &cluster.url(&target));
    let plan = plan.to_str().unwrap();
    let mut db = cluster.connect(&target);
    let run = spawn_paced_run(plan, 15);
    wait_until(
        &mut db,
        "SELECT to_regclass('migration.workers') IS NOT NULL AND EXISTS (SELECT 1 FROM migration.workers)",
        "the run to register",
    );
    let mut workers: Vec<Child> = (0..4).map(|_| spawn_worker(plan, 15)).collect();

    // `host status` lists the live processes and the split tables' chunks while they work.
    wait_until(
        &mut db,
        "SELECT count(DISTINCT worker) >= 3 FROM migration.chunks",
        "three processes to work chunks",
    );
    let status = host_ok(&["status", plan, "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let live = status["workers"].as_array().unwrap();
    assert!(
        live.iter().filter(|w| w["command"] == "worker").count() >= 2,
        "status lists the workers: {status:#}"
    );
    assert!(!status["split_tables"].as_array().unwrap().is_empty());

    // Two workers killed at seeded instants (mid-batch, mid-commit: wherever they are); the
    // first of them started again.
    let mut killed = Vec::new();
    for victim in [0, 1] {
        std::thread::sleep(Duration::from_millis(100 + rng.next() % 900));
        if workers[victim].try_wait().unwrap().is_none() {
            workers[victim].kill().unwrap(); // SIGKILL
            killed.push(victim);
        }
        workers[victim].wait().unwrap();
    }
    eprintln!("seed {seed}: killed workers {killed:?}");
    workers[0] = spawn_worker(plan, 15);

    let (ran, run_out) = output_of(run);
    assert!(ran, "seed {seed}: the run failed:\n{run_out}");
    for (i, w) in workers.into_iter().enumerate().filter(|(i, _)| *i != 1) {
        let (ok, out) = output_of(w);
        assert!(ok, "seed {seed}: worker {i} failed:\n{out}");
    }
    let processes: i64 = db
        .query_one("SELECT count(DISTINCT worker) FROM migration.chunks", &[])
        .unwrap()
        .get(0);
    assert!(processes >= 3, "only {processes} process(es) worked chunks");
    assert_same_digests(&expected, &digests(&mut db));
}

#[test]
fn a_chunked_run_killed_anywhere_resumes_identically() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let expected = one_process_reference(cluster, &legacy);
    let target = cluster.fresh_db("chunk_kill");
    let plan = chunked_plan(&temp_dir("chunk_kill"), &cluster.url(&legacy), &cluster.url(&target));
    let plan = plan.to_str().unwrap();
    let mut db = cluster.connect(&target);
    // Killed right after a chunk's batch commits, before one commits, and after the table's
    // last chunk is recorded done but before the table is (the next run finishes it).
    // tasks' chunks at this scale: one more than its split points (every CHUNK_ROWS-th row).
    let tasks: i64 = cluster
        .connect(&legacy)
        .query_one("SELECT count(*) FROM tasks", &[])
        .unwrap()
        .get(0);
    let chunks = tasks / CHUNK_ROWS as i64 + 1;
    for failpoint in [
        "after-commit=return(tasks:7)".to_string(),
        "before-commit=return(tasks:30)".to_string(),
        format!("after-chunk=return(tasks:{chunks})"),
    ] {
        let out = host(&["run", plan])
            .env("FAILPOINTS", &failpoint)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{failpoint} did not stop the run:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let finished_by_resume: bool = db
        .query_one(
            "SELECT bool_and(done) AND (SELECT phase <> 'done' FROM migration.table_state WHERE table_name = 'tasks')
             FROM migration.chunks WHERE table_name = 'tasks'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(finished_by_resume, "the last kill was meant to fall between tasks' last chunk and its finish");
    host_ok(&["run", plan]);
    assert_same_digests(&expected, &digests(&mut db));
}

#[test]
fn a_worker_is_refused_without_a_run_or_with_another_component() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let target = cluster.fresh_db("worker_refused");
    let dir = temp_dir("worker_refused");
    let plan = chunked_plan(&dir, &cluster.url(&legacy), &cluster.url(&target));
    let plan = plan.to_str().unwrap();

    let out = host(&["worker", plan]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no `host run` is running on this target"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The same plan but another build of tasks' component: a custom section appended changes
    // its hash, not what it does.
    let other_dir = temp_dir("worker_other");
    let mut wasm = std::fs::read(plugin("tasks")).unwrap();
    wasm.extend_from_slice(&[0, 6, 5, b'o', b't', b'h', b'e', b'r']);
    let other_tasks = other_dir.join("tasks.wasm");
    std::fs::write(&other_tasks, wasm).unwrap();
    let text = std::fs::read_to_string(plan).unwrap().replace(
        &plugin("tasks").display().to_string(),
        &other_tasks.display().to_string(),
    );
    let other_plan = other_dir.join("plan.toml");
    std::fs::write(&other_plan, text).unwrap();

    let mut db = cluster.connect(&target);
    let run = spawn_paced_run(plan, 30);
    wait_until(
        &mut db,
        "SELECT to_regclass('migration.chunks') IS NOT NULL AND EXISTS (SELECT 1 FROM migration.chunks c JOIN migration.table_state s USING (table_name) WHERE c.table_name = 'tasks' AND s.phase = 'copying')",
        "tasks to be split",
    );
    let out = host(&["worker", other_plan.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("table tasks: this worker's component")
            && stderr.contains("a worker must run the component the run runs"),
        "{stderr}"
    );
    let by_other: i64 = db
        .query_one(
            "SELECT count(*) FROM migration.batches WHERE table_name = 'tasks' AND component_sha256 <> (SELECT component_sha256 FROM migration.table_state WHERE table_name = 'tasks')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(by_other, 0, "the refused worker wrote tasks batches");
    let (ran, out) = output_of(run);
    assert!(ran, "{out}");
}
