//! The sandbox, one guest each (tests/guests/): an endless loop meets the call deadline,
//! unbounded allocation meets the memory limit, a file read and a socket are denied (each
//! fails its batch with a clear message: the row is quarantined with it), and the environment
//! and the clocks give nothing real. The runner lives on: the other rows are written and the
//! other table finishes.

use std::process::Output;
use std::time::{Duration, Instant};

use crate::catalogue::{accounting_problems, guest, hand_made_legacy};
use crate::support::*;

struct Probe {
    out: Output,
    target: String,
    elapsed: Duration,
}

impl Probe {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// (legacy key, reason) of every quarantined offices row.
    fn quarantined(&self) -> Vec<(i64, String)> {
        Cluster::shared()
            .connect(&self.target)
            .query(
                "SELECT legacy_key::int8, reason FROM migration.quarantine WHERE table_name = 'offices' ORDER BY 1",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    /// The `address` the guest wrote for office `key`.
    fn address(&self, key: i64) -> Option<String> {
        Cluster::shared()
            .connect(&self.target)
            .query_one("SELECT address FROM offices WHERE legacy_id = $1", &[&key])
            .unwrap()
            .get(0)
    }
}

/// Runs `guest_name` on four offices, the second named `probe` with `address`, and the real
/// categories plugin on three categories. Asserts the run finished and the books balance.
fn probe(guest_name: &str, address: &str, env: &[(&str, &str)]) -> Probe {
    let cluster = Cluster::shared();
    let legacy = hand_made_legacy(
        cluster,
        &format!(
            "INSERT INTO offices (name, address) VALUES ('Office 1', NULL), ('probe', '{}'), ('Office 3', NULL), ('Office 4', NULL);
             INSERT INTO categories (name) VALUES ('Aligners'), ('Brackets'), ('Wires');",
            address.replace('\'', "''")
        ),
    );
    let target = cluster.fresh_db("sandbox");
    let dir = temp_dir("sandbox");
    let plan = dir.join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            "[source]\nurl = \"{}\"\n[target]\nurl = \"{}\"\nschema_files = [\"{}\"]\n[defaults]\nbatch_size = 4\n\n\
             [[table]]\nname = \"offices\"\nplugin = \"{}\"\n\n[[table]]\nname = \"categories\"\nplugin = \"{}\"\n",
            cluster.url(&legacy),
            cluster.url(&target),
            repo_root().join("schema/target.sql").display(),
            guest(guest_name).display(),
            plugin("categories").display()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let mut cmd = host(&["run", plan.to_str().unwrap()]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let elapsed = started.elapsed();
    let p = Probe {
        out,
        target,
        elapsed,
    };
    assert!(
        p.out.status.success(),
        "{guest_name}: the run should finish ({}):\n{}{}",
        p.out.status,
        String::from_utf8_lossy(&p.out.stdout),
        p.stderr()
    );
    let problems = accounting_problems(cluster, &legacy, "public", &p.target);
    assert!(problems.is_empty(), "{guest_name}: {problems:?}");
    let mut tgt = cluster.connect(&p.target);
    let phases: Vec<(String, String, i64)> = tgt
        .query(
            "SELECT table_name, phase, rows_written FROM migration.table_state ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        phases
            .iter()
            .map(|(t, p, _)| (t.as_str(), p.as_str()))
            .collect::<Vec<_>>(),
        vec![("categories", "done"), ("offices", "done")],
        "{guest_name}: both tables finish"
    );
    assert_eq!(phases[0].2, 3, "{guest_name}: the other table is untouched");
    p
}

/// The probe row alone is quarantined, with a reason holding `expected`; the others are written.
fn assert_probe_failed(p: &Probe, expected: &str) {
    let q = p.quarantined();
    assert_eq!(q.len(), 1, "only the probe row fails: {q:?}");
    assert_eq!(q[0].0, 2, "{q:?}");
    assert!(
        q[0].1.contains(expected),
        "reason {:?} lacks {expected:?}",
        q[0].1
    );
    assert!(
        p.stderr()
            .contains("plugin trapped on this row; quarantining it key=2"),
        "{}",
        p.stderr()
    );
    for key in [1, 3, 4] {
        assert!(p.address(key).is_none(), "office {key} written as usual");
    }
}

#[test]
fn endless_loop_meets_the_call_deadline() {
    let p = probe(
        "forever",
        "",
        &[("FAILPOINTS", "call-deadline-ms=return(1000)")],
    );
    assert_probe_failed(
        &p,
        "plugin trapped: ran longer than 1.0 s on one call (an endless loop? the runner stops every call at that deadline)",
    );
    // Bisecting a batch of 4 down to the probe row takes three or four deadlines, not more.
    assert!(p.elapsed < Duration::from_secs(20), "took {:?}", p.elapsed);
}

#[test]
fn unbounded_allocation_meets_the_memory_limit() {
    let p = probe("hog", "", &[]);
    assert_probe_failed(
        &p,
        "plugin trapped: ran out of memory: it tried to grow past the limit of 256 MiB per plugin instance",
    );
}

#[test]
fn reading_a_file_is_denied() {
    let dir = temp_dir("sandbox-file");
    let secret = dir.join("secret.txt");
    std::fs::write(&secret, "the-file-secret-4711").unwrap();
    let path = secret.to_str().unwrap();
    let p = probe("read_file", path, &[]);
    assert_probe_failed(
        &p,
        &format!("sandbox probe: reading {path} failed: No such file or directory"),
    );
    let leaked: i64 = Cluster::shared()
        .connect(&p.target)
        .query_one(
            "SELECT count(*) FROM offices WHERE address LIKE '%4711%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(leaked, 0);
    assert!(!p.stderr().contains("the-file-secret-4711"));
}

#[test]
fn opening_a_socket_is_denied() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let p = probe("open_socket", &addr, &[]);
    assert_probe_failed(&p, &format!("sandbox probe: connecting to {addr} failed"));
    assert!(
        p.quarantined()[0].1.contains("DNS lookup failed"),
        "{:?}",
        p.quarantined()
    );
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the plugin reached the listener: {other:?}"),
    }
}

#[test]
fn the_environment_is_empty() {
    let p = probe("read_env", "", &[("SANDBOX_SECRET", "the-env-secret-4711")]);
    assert!(p.quarantined().is_empty());
    assert_eq!(
        p.address(2).as_deref(),
        Some("env: 0 variables [], 0 arguments, SANDBOX_SECRET unset, cwd /")
    );
}

#[test]
fn the_clocks_read_zero() {
    let p = probe("read_clock", "", &[]);
    assert!(p.quarantined().is_empty());
    assert_eq!(
        p.address(2).as_deref(),
        Some("clock: wall 0 ns, monotonic elapsed 0 ns")
    );
}
