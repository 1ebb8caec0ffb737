//! Passwords never appear in any output: every command's stdout and stderr, the HTML report
//! (its Target field and the plan text it shows), the target's `migration` state tables, the
//! plan's syntax errors and `--help`. Each password carries three marker fragments (start,
//! middle, end) around `/ ? # @ : ' "` and spaces; none may show anywhere.
//!
//! The harness' cluster trusts every local client, so the password is never checked, but the
//! runner must still read it (and so mask it) in every form the driver accepts.

use std::path::Path;
use std::process::Output;

use crate::support::*;

/// The fragments of every password below.
const MARKERS: &[&str] = &[
    "K1ng", "Mid1", "Qu1n", "K2ng", "Mid2", "Qu2n", "K3ng", "Mid3", "Qu3n", "K4ng", "Mid4", "Qu4n",
    "K5ng", "Qu5n", "K6ng", "Qu6n", "K7ng", "Qu7n", "K8ng", "Qu8n", "K9ng", "Qu9n",
];

/// `K1ng/Mid1?#@:'" x yQu1n` percent-encoded for a URL's password.
const P1_ENCODED: &str = "K1ng%2FMid1%3F%23%40%3A%27%22%20x%20yQu1n";

/// The connection strings: one cluster URL rewritten into each form.
struct Forms {
    port: u16,
}

impl Forms {
    /// Percent-encoded, every special character.
    fn url_encoded(&self, db: &str) -> String {
        format!(
            "postgres://postgres:{P1_ENCODED}@127.0.0.1:{}/{db}",
            self.port
        )
    }
    /// Raw `/`, `?`, `#`, `:` in the password, as the driver accepts them.
    fn url_raw(&self, db: &str) -> String {
        format!(
            "postgres://postgres:K2ng/Mid2?#:x yQu2n@127.0.0.1:{}/{db}",
            self.port
        )
    }
    /// key=value, spaces around `=`, quoted, an escaped quote.
    fn key_value(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres password = 'K3ng/Mid3?#@: \\' \" x yQu3n' dbname={db}",
            self.port
        )
    }
    /// A second password key, and a password in a URL's query.
    fn second_password(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 password=K4ngFirst port={} password='Mid4 #@?/ Qu4n' user=postgres dbname={db}",
            self.port
        )
    }
    fn url_query(&self, db: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{db}?password=K5ng%20%23%40Qu5n&application_name=x",
            self.port
        )
    }
}

/// A TOML basic string holding `s`.
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The plan for the core tables with these two connection strings.
fn plan_with(dir: &Path, source: &str, target: &str) -> std::path::PathBuf {
    let plan = write_plan(dir, "SOURCE", "TARGET", 200, CORE_TABLES);
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("\"SOURCE\"", &toml_string(source))
        .replace("\"TARGET\"", &toml_string(target));
    std::fs::write(&plan, text).unwrap();
    plan
}

fn assert_hidden(what: &str, text: &str) {
    for marker in MARKERS {
        assert!(
            !text.contains(marker),
            "a password fragment ({marker}) shows in {what}:\n{text}"
        );
    }
    assert!(!text.contains(P1_ENCODED), "{what}:\n{text}");
}

fn assert_output_hidden(what: &str, out: &Output) {
    assert_hidden(
        &format!("{what} stdout"),
        &String::from_utf8_lossy(&out.stdout),
    );
    assert_hidden(
        &format!("{what} stderr"),
        &String::from_utf8_lossy(&out.stderr),
    );
}

/// Every row of every table of the target's `migration` schema, as text.
fn state_dump(cluster: &Cluster, db: &str) -> String {
    let mut c = cluster.connect(db);
    let tables: Vec<String> = c
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'migration'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!tables.is_empty(), "no migration state in {db}");
    let mut out = String::new();
    for t in tables {
        let sql =
            format!("SELECT coalesce(string_agg(x::text, E'\\n'), '') FROM migration.\"{t}\" x");
        out.push_str(&c.query_one(&sql, &[]).unwrap().get::<_, String>(0));
    }
    out
}

#[test]
fn passwords_never_show_in_any_output() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.01");
    let forms = Forms { port: cluster.port };
    type Form = fn(&Forms, &str) -> String;
    let pairs: [(Form, Form); 3] = [
        (Forms::url_encoded, Forms::key_value),
        (Forms::url_raw, Forms::second_password),
        (Forms::url_query, Forms::url_raw),
    ];
    for (i, (source_form, target_form)) in pairs.iter().enumerate() {
        let target = cluster.fresh_db("secrets");
        let dir = temp_dir("secrets");
        let plan = plan_with(
            &dir,
            &source_form(&forms, &legacy),
            &target_form(&forms, &target),
        );
        let plan = plan.to_str().unwrap();
        let report = dir.join("report.html");
        let report = report.to_str().unwrap();
        for args in [
            &["check", plan][..],
            &["run", plan],
            &["status", plan],
            &["validate", plan],
            &["retry", plan],
            &["report", plan, "-o", report],
            &["rollback", plan, "--table", "doctor_offices", "--yes"],
        ] {
            let out = host(args).output().unwrap();
            // Each of these works on a healthy migration (validate may find dirt: 0 or 6).
            assert!(
                matches!(out.status.code(), Some(0 | 6)),
                "pair {i}: host {args:?} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_output_hidden(&format!("pair {i}: host {args:?}"), &out);
        }
        let html = std::fs::read_to_string(report).unwrap();
        assert!(
            html.contains("postgres:***@")
                || html.contains("password = ***")
                || html.contains("password=***"),
            "the report shows no masked connection string"
        );
        assert_hidden(&format!("pair {i}: the report"), &html);
        assert_hidden(
            &format!("pair {i}: migration.*"),
            &state_dump(cluster, &target),
        );
    }
}

#[test]
fn failed_connections_and_command_line_urls_stay_masked() {
    let cluster = Cluster::shared();
    let legacy = cluster.fresh_db("secrets_src");
    let forms = Forms { port: cluster.port };
    let dir = temp_dir("secrets-fail");
    // The target database does not exist: the connect error names the URL.
    for (source, target) in [
        (forms.url_encoded(&legacy), forms.key_value("no_such_db")),
        (forms.second_password(&legacy), forms.url_raw("no_such_db")),
        (forms.url_query(&legacy), forms.url_encoded("no_such_db")),
    ] {
        let plan = plan_with(&dir, &source, &target);
        let plan = plan.to_str().unwrap();
        for command in ["check", "run", "status", "validate", "report"] {
            let out = host(&[command, plan]).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(4),
                "host {command}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
            assert_output_hidden(&format!("host {command} (no target database)"), &out);
        }
    }
    // Nobody listens on that port: a connection failure of another kind.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let nowhere = Forms { port: closed };
    let plan = plan_with(&dir, &nowhere.key_value("x"), &nowhere.url_raw("x"));
    let out = host(&["run", plan.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert_output_hidden("host run (nobody listening)", &out);
    // Invalid strings: a raw `@` in a URL password, an unterminated quote.
    for bad in [
        format!("postgres://postgres:K6ng@Qu6n@127.0.0.1:{}/x", cluster.port),
        "host=127.0.0.1 password='K7ng Qu7n".to_string(),
    ] {
        let plan = plan_with(&dir, &bad, &forms.url_raw("x"));
        let out = host(&["check", plan.to_str().unwrap()]).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_output_hidden(&format!("host check with {bad}"), &out);
        // The same string on the command line and in the environment.
        let out = host(&["status", plan.to_str().unwrap(), "--target", &bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert_output_hidden("host status --target", &out);
        let out = host(&["status", plan.to_str().unwrap()])
            .env("MIGRATE_TARGET_URL", &bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert_output_hidden("host status with MIGRATE_TARGET_URL", &out);
    }
    // --help shows the environment's values of --url / --source / --target only masked.
    for command in ["generate", "run", "check"] {
        let out = host(&[command, "--help"])
            .env("MIGRATE_SOURCE_URL", forms.url_raw("x"))
            .env("MIGRATE_TARGET_URL", forms.key_value("x"))
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_output_hidden(&format!("host {command} --help"), &out);
    }
}

#[test]
fn plan_syntax_errors_do_not_echo_the_url_line() {
    let forms = Forms { port: 5432 };
    let dir = temp_dir("secrets-toml");
    let good = write_plan(&dir, "SOURCE", "TARGET", 200, CORE_TABLES);
    let good = std::fs::read_to_string(good).unwrap();
    for url_line in [
        // Unterminated strings: toml quotes the line in its error.
        format!("url = \"{}", forms.url_raw("x")),
        "url = \"postgres://postgres:K8ng/x Qu8n@127.0.0.1/x".to_string(),
        "url = 'host=h password = \"K9ng Qu9n\" user=u".to_string(),
        // A valid string with a misspelt key: the error quotes it too.
        format!("urll = {}", toml_string(&forms.key_value("x"))),
        // Not a string at all.
        format!("url = [{}]", toml_string(&forms.url_encoded("x"))),
    ] {
        let text = good.replace("url = \"SOURCE\"", &url_line);
        let plan = dir.join("broken.toml");
        std::fs::write(&plan, &text).unwrap();
        for command in ["check", "run", "report"] {
            let out = host(&[command, plan.to_str().unwrap()]).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(2),
                "{url_line}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("line 2"),
                "{url_line}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_output_hidden(&format!("host {command} with `{url_line}`"), &out);
        }
    }
}
