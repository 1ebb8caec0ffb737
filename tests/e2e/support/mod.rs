//! Test harness: throwaway PostgreSQL clusters, a fresh database per test, and the `host`
//! binary run as a real process. Failures print the command's whole output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// The `host` binary under test. `host generate` runs the lab's generator, `host-generate`,
/// from beside it: cargo builds that (another package) only for a workspace build.
pub fn host_bin() -> &'static str {
    static CHECKED: std::sync::Once = std::sync::Once::new();
    let host = env!("CARGO_BIN_EXE_host");
    CHECKED.call_once(|| {
        let generator = Path::new(host).with_file_name("host-generate");
        assert!(
            generator.is_file(),
            "{} is missing: build the whole workspace first (`cargo build --release --workspace --tests`; scripts/test.sh does)",
            generator.display()
        );
        // Crash points and pacing (FAILPOINTS) exist only in a test build of host; without
        // them the fault tests would test nothing.
        let version = Command::new(host).arg("--version").output().expect("run host --version");
        assert!(
            String::from_utf8_lossy(&version.stdout).contains("failpoints compiled in"),
            "{host} is not a test build (no failpoints): `cargo test` builds one; a later plain `cargo build` replaced it, so run `cargo build --release --workspace --tests`"
        );
    });
    host
}

/// The built plugins; `scripts/build-plugins.sh` (run by scripts/test.sh) makes them.
pub fn plugin(name: &str) -> PathBuf {
    let path = repo_root()
        .join("plugins/dist")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-plugins.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

fn pg_bin(tool: &str) -> PathBuf {
    Path::new(&std::env::var("PG_BIN").unwrap_or_else(|_| "/usr/local/bin".into())).join(tool)
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc_getuid() == 0 }
}

extern "C" {
    #[link_name = "getuid"]
    fn libc_getuid() -> u32;
}

/// Runs a PostgreSQL server tool as the cluster owner (`postgres` when we are root).
fn as_owner(tool: &str, args: &[&str]) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"])
            .arg(pg_bin(tool))
            .args(args);
        c
    } else {
        let mut c = Command::new(pg_bin(tool));
        c.args(args);
        c
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A PostgreSQL cluster of our own, stopped and deleted when the test process exits
/// (a watchdog process waits for us, so even a crashed test leaves nothing running).
pub struct Cluster {
    pub dir: PathBuf,
    pub port: u16,
    /// The harness' own connections go through the Unix socket (a cluster whose pg_hba.conf
    /// refuses plain TCP, say).
    admin_via_socket: bool,
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

impl Cluster {
    /// The cluster shared by the tests of this process that do not stop servers.
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        SHARED.get_or_init(Cluster::start)
    }

    pub fn start() -> Cluster {
        Self::start_with(|_| {})
    }

    /// A cluster whose data directory `configure` may change after initdb and before the
    /// server starts (extra postgresql.conf lines, a pg_hba.conf, files for the server; make
    /// them the server's with [`give_to_server`]). The harness connects through the Unix socket.
    pub fn start_configured(configure: impl FnOnce(&Path)) -> Cluster {
        let mut cluster = Self::start_with(configure);
        cluster.admin_via_socket = true;
        cluster
    }

    fn start_with(configure: impl FnOnce(&Path)) -> Cluster {
        let dir = std::env::temp_dir().join(format!(
            "host-test-pg-{}-{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            run_ok(Command::new("chown").arg("postgres").arg(&dir));
        }
        let data = dir.join("data");
        run_ok(&mut as_owner(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        ));
        configure(&data);
        let cluster = Cluster {
            dir,
            port: free_port(),
            admin_via_socket: false,
        };
        cluster.start_server();
        // The watchdog: stop the server and delete the cluster once this process is gone.
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop}; rm -rf '{dir}'",
            pid = std::process::id(),
            stop = cluster.stop_command_line(),
            dir = cluster.dir.display()
        );
        // Never waited for: it must outlive this process to clean up after it.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        cluster
    }

    fn stop_command_line(&self) -> String {
        let data = self.dir.join("data");
        let pg_ctl = pg_bin("pg_ctl");
        if is_root() {
            format!(
                "runuser -u postgres -- {} -D {} -m immediate stop",
                pg_ctl.display(),
                data.display()
            )
        } else {
            format!(
                "{} -D {} -m immediate stop",
                pg_ctl.display(),
                data.display()
            )
        }
    }

    pub fn start_server(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        );
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        run_ok(&mut as_owner(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-o",
                &opts,
                "start",
            ],
        ));
    }

    /// Stops the server the hard way (`pg_ctl stop -m immediate`), as a crash would.
    pub fn stop_immediate(&self) {
        let data = self.dir.join("data");
        run_ok(&mut as_owner(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        ));
    }

    /// `pg_ctl restart -m immediate`: every connection cut, the server back after recovery.
    pub fn restart_immediate(&self) {
        self.stop_immediate();
        self.start_server();
    }

    /// Terminates the backends of `application_name` on `db`; returns how many.
    pub fn terminate_backends(&self, db: &str, application_name: &str) -> i64 {
        self.connect("postgres")
            .query_one(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = $2) t",
                &[&application_name, &db],
            )
            .unwrap()
            .get(0)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A new, empty database with a unique name starting with `prefix`.
    pub fn fresh_db(&self, prefix: &str) -> String {
        let name = format!("{prefix}_{}", NEXT_DB.fetch_add(1, Ordering::SeqCst));
        let mut admin = self.connect("postgres");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap();
        name
    }

    pub fn connect(&self, db: &str) -> Client {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let url = if self.admin_via_socket {
                format!(
                    "host={} port={} user=postgres dbname={db}",
                    self.dir.display(),
                    self.port
                )
            } else {
                self.url(db)
            };
            match Client::connect(&url, NoTls) {
                Ok(c) => return c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("cannot connect to {}: {e}", self.url(db)),
            }
        }
    }
}

/// Makes `path` the cluster owner's, readable by it alone (the server refuses a key file
/// others can read).
pub fn give_to_server(path: &Path) {
    run_ok(Command::new("chmod").arg("0600").arg(path));
    if is_root() {
        run_ok(Command::new("chown").arg("postgres").arg(path));
    }
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The `host` binary with its output captured.
pub fn host(args: &[&str]) -> Command {
    let mut c = Command::new(host_bin());
    c.args(args)
        .env_remove("MIGRATE_SOURCE_URL")
        .env_remove("MIGRATE_TARGET_URL")
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .env_remove("PGSSLCERT")
        .env_remove("PGSSLKEY")
        .env("HOST_LOG", "info");
    c
}

/// `command` run on a pseudo-terminal (util-linux `script`), with its environment; what it
/// draws on the terminal comes out on stdout.
pub fn on_terminal(command: &Command) -> Command {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_str().unwrap().replace('\'', r"'\''"));
    let line = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let mut c = Command::new("script");
    c.args([
        "--quiet",
        "--flush",
        "--return",
        "--command",
        &line,
        "/dev/null",
    ])
    .stdin(Stdio::null());
    for (name, value) in command.get_envs() {
        match value {
            Some(v) => c.env(name, v),
            None => c.env_remove(name),
        };
    }
    c
}

/// Runs `host`, expecting success; panics with the whole output otherwise.
pub fn host_ok(args: &[&str]) -> Output {
    run_ok(&mut host(args))
}

pub fn spawn_host(args: &[&str]) -> Child {
    host(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn host")
}

/// A legacy database filled by `host generate` at `scale`.
pub fn legacy_db(cluster: &Cluster, scale: &str) -> String {
    legacy_db_seeded(cluster, scale, "7")
}

/// A fresh database filled by `host generate` at `scale` with `seed`.
pub fn legacy_db_seeded(cluster: &Cluster, scale: &str, seed: &str) -> String {
    let db = cluster.fresh_db("legacy");
    host_ok(&[
        "generate",
        "--scale",
        scale,
        "--seed",
        seed,
        "--url",
        &cluster.url(&db),
    ]);
    db
}

/// Writes a plan for the core tables into `dir`, with absolute plugin paths.
pub fn write_plan(
    dir: &Path,
    source: &str,
    target: &str,
    batch_size: usize,
    tables: &[&str],
) -> PathBuf {
    let with_plugins: Vec<(&str, PathBuf)> = tables.iter().map(|t| (*t, plugin(t))).collect();
    write_plan_with(dir, source, target, batch_size, &with_plugins)
}

/// Writes a plan for `tables`, each with the component given.
pub fn write_plan_with(
    dir: &Path,
    source: &str,
    target: &str,
    batch_size: usize,
    tables: &[(&str, PathBuf)],
) -> PathBuf {
    let mut plan = format!(
        "[source]\nurl = \"{source}\"\n\n[target]\nurl = \"{target}\"\nschema_files = [\"{}\"]\n\n[defaults]\nbatch_size = {batch_size}\n# Tiny datasets are mostly dirt: the reject limit has tests of its own.\nmax_reject_rate = 1.0\n\n[validate]\nmin_success_rate = 0.5\nmin_core_success_rate = 0.5\ncore_phase = \"core\"\nsample_rows = 50\n",
        repo_root().join("schema/target.sql").display()
    );
    for (t, plugin) in tables {
        plan.push_str(&format!(
            "\n[[table]]\nname = \"{t}\"\nplugin = \"{}\"\n",
            plugin.display()
        ));
        if *t != "doctor_offices" {
            plan.push_str("phase = \"core\"\n");
        }
        if *t == "orders" {
            plan.push_str(concat!(
                "money = [{ source = \"total_amount\", target = \"orders.total_amount\" },\n",
                "         { source = \"amount_paid_cents\", target = \"orders.amount_paid\", unit = \"cents\" }]\n"
            ));
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("plan.toml");
    std::fs::write(&path, plan).unwrap();
    path
}

pub const CORE_TABLES: &[&str] = &[
    "offices",
    "categories",
    "profiles",
    "doctors",
    "patients",
    "orders",
    "doctor_offices",
];

/// The lab's real starting point in `target`: the tables the old scripts moved, as
/// `host generate --seed-target` leaves them for `plan` (its `adopt` tables), from `legacy`.
pub fn seed_lab_target(legacy_url: &str, target_url: &str, plan: &str) {
    host_ok(&[
        "generate",
        "--existing-source",
        "--url",
        legacy_url,
        "--seed-target",
        target_url,
        "--plan",
        plan,
    ]);
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "host-test-{name}-{}-{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A digest per table of everything the migration wrote: target tables and the state that
/// must be identical between runs (id map, quarantine, skips), ignoring timestamps of the run.
pub fn digests(client: &mut Client) -> Vec<(String, String)> {
    let tables: Vec<String> = client
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = Vec::new();
    for t in tables {
        let sql = format!("SELECT count(*)::text || ':' || coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '') FROM public.\"{t}\" x");
        out.push((t, client.query_one(&sql, &[]).unwrap().get(0)));
    }
    for (name, sql) in [
        ("migration.id_map", "SELECT entity, legacy_key, id FROM migration.id_map"),
        ("migration.quarantine", "SELECT table_name, legacy_key, source_row, reason, component_sha256 FROM migration.quarantine"),
        ("migration.skipped", "SELECT table_name, legacy_key, reason FROM migration.skipped"),
        ("migration.table_state", "SELECT table_name, phase, last_key, source_rows, rows_read, rows_written, rows_skipped, rows_rejected, target_rows FROM migration.table_state"),
        // The schema's keys and indexes, all back in place after a run (even an interrupted one).
        ("constraints", "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint WHERE connamespace = 'public'::regnamespace"),
        ("indexes", "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace"),
        ("migration.deferred_constraints", "SELECT table_name, name FROM migration.deferred_constraints"),
    ] {
        let sql = format!("SELECT count(*)::text || ':' || coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '') FROM ({sql}) x");
        out.push((name.to_string(), client.query_one(&sql, &[]).unwrap().get(0)));
    }
    out
}

/// Asserts two digest lists are equal, naming every table that differs.
pub fn assert_same_digests(a: &[(String, String)], b: &[(String, String)]) {
    let differ: Vec<String> = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| format!("{}: {} vs {}: {}", x.0, x.1, y.0, y.1))
        .collect();
    assert_eq!(a.len(), b.len(), "different table sets: {a:?} vs {b:?}");
    assert!(differ.is_empty(), "targets differ:\n{}", differ.join("\n"));
}

/// The repository's plan.toml for the whole lab, pointed at these databases, with absolute
/// paths, `batch_size`, and limits loosened (`real_lab_plan` keeps the plan's own; they hold at
/// every scale, tests/e2e/scales.rs).
pub fn lab_plan(dir: &Path, source: &str, target: &str, batch_size: usize) -> PathBuf {
    rewrite_lab_plan(dir, source, target, Some(batch_size))
}

/// The repository's plan.toml with its own batch size and limits (max_reject_rate, validate's
/// success rates, sample size): only the URLs and the plugin and schema paths change.
pub fn real_lab_plan(dir: &Path, source: &str, target: &str) -> PathBuf {
    rewrite_lab_plan(dir, source, target, None)
}

/// plan.toml pointed at `source` / `target` with absolute paths; `loosen` (a batch size) also
/// lifts its limits, for tests about other things than the dataset's dirt.
fn rewrite_lab_plan(dir: &Path, source: &str, target: &str, loosen: Option<usize>) -> PathBuf {
    let root = repo_root();
    let mut text = std::fs::read_to_string(root.join("plan.toml")).unwrap();
    let mut lines: Vec<String> = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        if line.starts_with('[') {
            section = line.to_string();
        }
        let key = line.split(" = ").next().unwrap_or("");
        let line = match (section.as_str(), key, loosen) {
            ("[source]", "url", _) => format!("url = \"{source}\""),
            ("[target]", "url", _) => format!("url = \"{target}\""),
            ("[defaults]", "batch_size", Some(batch_size)) => {
                format!("batch_size = {batch_size}")
            }
            ("[defaults]", "max_reject_rate", Some(_)) => "max_reject_rate = 1.0".to_string(),
            ("[validate]", "min_success_rate", Some(_)) => "min_success_rate = 0.5".to_string(),
            ("[validate]", "min_core_success_rate", Some(_)) => {
                "min_core_success_rate = 0.5".to_string()
            }
            ("[validate]", "sample_rows", Some(_)) => "sample_rows = 30".to_string(),
            _ => line
                .replace(
                    "\"plugins/dist/",
                    &format!("\"{}/plugins/dist/", root.display()),
                )
                .replace("\"schema/", &format!("\"{}/schema/", root.display())),
        };
        lines.push(line);
    }
    text = lines.join("\n");
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("plan.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// [`lab_plan`] for an empty target: every table migrated here, none adopted.
pub fn whole_lab_plan(dir: &Path, source: &str, target: &str, batch_size: usize) -> PathBuf {
    let path = lab_plan(dir, source, target, batch_size);
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("adopt ="))
        .collect();
    std::fs::write(&path, kept.join("\n")).unwrap();
    path
}

/// Batches committed so far (of `table`, or of all tables), 0 before the state exists; a
/// query that fails fails the test (a wrong count would let a wait pass or time out for
/// the wrong reason).
pub fn committed_batches(db: &mut Client, table: Option<&str>) -> i64 {
    try_committed_batches(db, table)
        .unwrap_or_else(|e| panic!("counting the committed batches: {e}"))
}

/// [`committed_batches`], with the error for a caller that expects one (a server restarting).
pub fn try_committed_batches(db: &mut Client, table: Option<&str>) -> Result<i64, postgres::Error> {
    // Two statements: a query naming a table that does not exist fails as it is parsed.
    let exists: bool = db
        .query_one("SELECT to_regclass('migration.batches') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(0);
    }
    db.query_one(
        "SELECT count(*) FROM migration.batches WHERE $1::text IS NULL OR table_name = $1",
        &[&table],
    )
    .map(|r| r.get(0))
}

/// Waits (at most a minute) until `n` batches are committed; fails the test when they are not.
pub fn wait_for_batches(db: &mut Client, table: Option<&str>, n: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = committed_batches(db, table);
        if now >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited a minute for {n} committed batches{}, and only {now} came (did the run stop or end early?)",
            table.map(|t| format!(" of {t}")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs the plan to completion into a fresh target and returns its digests: what every
/// interrupted run must end up equal to.
pub fn reference_digests(cluster: &Cluster, legacy: &str, batch: usize) -> Vec<(String, String)> {
    let target = cluster.fresh_db("reference");
    let plan = write_plan(
        &temp_dir("reference"),
        &cluster.url(legacy),
        &cluster.url(&target),
        batch,
        CORE_TABLES,
    );
    host_ok(&["run", plan.to_str().unwrap()]);
    digests(&mut cluster.connect(&target))
}

/// `host run plan`, paced to one batch per `delay_ms` (the `batch-delay` failpoint) so a test
/// can act part-way; stderr is captured for the assertions.
pub fn spawn_paced_run(plan: &str, delay_ms: u64) -> Child {
    host(&["run", plan])
        .env("FAILPOINTS", format!("batch-delay=return({delay_ms})"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn host run")
}

/// splitmix64: a tiny seeded generator, so a failing seed reproduces (`FAULT_SEED`).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

pub fn fault_seed(test: &str) -> u64 {
    let seed = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261130);
    eprintln!("{test}: FAULT_SEED={seed}");
    seed
}
