//! TLS with libpq's `sslmode` semantics, against a cluster that accepts TCP clients only over
//! TLS (`hostssl`, no plain `host` line) with a certificate for `localhost` (and not for
//! 127.0.0.1) signed by a CA the test makes with the openssl CLI; a second, unrelated CA
//! stands for "the wrong CA".

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::support::*;

struct TlsLab {
    cluster: Cluster,
    /// The CA that signed the server's certificate.
    ca: PathBuf,
    /// A CA that signed nothing the server has.
    other_ca: PathBuf,
    /// An empty home, so no ~/.postgresql/root.crt of the machine is picked up.
    home: PathBuf,
    /// A generated legacy database (scale 0.01), read-only for the tests.
    legacy: String,
}

fn openssl(args: &[&str], dir: &Path) {
    run_ok(Command::new("openssl").args(args).current_dir(dir));
}

/// A CA (certificate + key) named `name` in `dir`.
fn make_ca(dir: &Path, name: &str) -> PathBuf {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-subj",
            &format!("/CN={name}"),
        ],
        dir,
    );
    dir.join(format!("{name}.crt"))
}

fn lab() -> &'static TlsLab {
    static LAB: OnceLock<TlsLab> = OnceLock::new();
    LAB.get_or_init(|| {
        let certs = temp_dir("tls-certs");
        let ca = make_ca(&certs, "test-ca");
        let other_ca = make_ca(&certs, "other-ca");
        // The server's certificate names localhost only: connecting by 127.0.0.1 is a
        // host-name mismatch that verify-full must refuse and verify-ca accept.
        std::fs::write(
            certs.join("server.ext"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            &[
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
                "-out", "server.csr", "-subj", "/CN=localhost",
            ],
            &certs,
        );
        openssl(
            &[
                "x509", "-req", "-in", "server.csr", "-CA", "test-ca.crt", "-CAkey",
                "test-ca.key", "-CAcreateserial", "-days", "3", "-out", "server.crt",
                "-extfile", "server.ext",
            ],
            &certs,
        );
        let cluster = Cluster::start_configured(|data| {
            for file in ["server.crt", "server.key"] {
                std::fs::copy(certs.join(file), data.join(file)).unwrap();
                give_to_server(&data.join(file));
            }
            let mut conf = std::fs::OpenOptions::new()
                .append(true)
                .open(data.join("postgresql.conf"))
                .unwrap();
            use std::io::Write;
            writeln!(conf, "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'").unwrap();
            // TCP only over TLS; the harness itself uses the Unix socket.
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
            )
            .unwrap();
        });
        let home = temp_dir("tls-home");
        // Generated over TLS with the default sslmode (prefer).
        let legacy = legacy_db(&cluster, "0.01");
        TlsLab {
            cluster,
            ca,
            other_ca,
            home,
            legacy,
        }
    })
}

impl TlsLab {
    /// A URL by `host` (localhost or 127.0.0.1) with these query parameters.
    fn url(&self, host: &str, db: &str, params: &str) -> String {
        let sep = if params.is_empty() { "" } else { "?" };
        format!(
            "postgres://postgres@{host}:{}/{db}{sep}{params}",
            self.cluster.port
        )
    }

    fn host(&self, args: &[&str]) -> Command {
        let mut c = host(args);
        c.env("HOME", &self.home);
        c
    }

    /// `host check` of the core tables from the legacy database to a fresh target, with
    /// these two connection strings.
    fn check(&self, source: &str, target: &str, env: &[(&str, &str)]) -> Output {
        let plan = write_plan(&temp_dir("tls-plan"), source, target, 100, CORE_TABLES);
        let mut cmd = self.host(&["check", plan.to_str().unwrap()]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// Checks with the same TLS settings on both sides.
    fn check_both(&self, host: &str, params: &str, env: &[(&str, &str)]) -> Output {
        let target = self.cluster.fresh_db("tls_target");
        self.check(
            &self.url(host, &self.legacy, params),
            &self.url(host, &target, params),
            env,
        )
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_connects(out: &Output) {
    assert!(out.status.success(), "{}", text(out));
}

fn assert_refused(out: &Output, message: &str) {
    assert_eq!(out.status.code(), Some(4), "{}", text(out));
    assert!(
        text(out).contains(message),
        "expected `{message}` in:\n{}",
        text(out)
    );
}

#[test]
fn the_lab_migrates_over_verify_full() {
    let lab = lab();
    let target = lab.cluster.fresh_db("tls_lab");
    let params = format!("sslmode=verify-full&sslrootcert={}", lab.ca.display());
    let source = lab.url("localhost", &lab.legacy, &params);
    let target_url = lab.url("localhost", &target, &params);
    let plan = lab_plan(&temp_dir("tls-lab"), &source, &target_url, 500);
    let plan = plan.to_str().unwrap();
    let ok = |args: &[&str]| {
        let out = lab.host(args).output().unwrap();
        assert_connects(&out);
        out
    };
    ok(&[
        "generate",
        "--existing-source",
        "--url",
        &source,
        "--seed-target",
        &target_url,
        "--plan",
        plan,
    ]);
    ok(&["check", plan]);
    ok(&["run", plan]);
    ok(&["validate", plan]);
    let status = ok(&["status", plan]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("done"),
        "{}",
        text(&status)
    );
    // Every table arrived (the server takes TCP clients only over TLS, so that was TLS).
    let rows: i64 = lab
        .cluster
        .connect(&target)
        .query_one(
            "SELECT sum(rows_written)::bigint FROM migration.table_state",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(rows > 0, "nothing was written");
}

#[test]
fn require_encrypts_without_verifying_unless_given_a_ca() {
    let lab = lab();
    assert_connects(&lab.check_both("127.0.0.1", "sslmode=require", &[]));
    // The default, prefer, takes TLS when offered.
    assert_connects(&lab.check_both("127.0.0.1", "", &[]));
    // libpq's rule: require with a root certificate verifies the chain like verify-ca.
    let with_other = format!("sslmode=require&sslrootcert={}", lab.other_ca.display());
    assert_refused(
        &lab.check_both("127.0.0.1", &with_other, &[]),
        "is not signed by the CA in sslrootcert=",
    );
}

#[test]
fn a_wrong_ca_is_refused_with_what_to_do() {
    let lab = lab();
    for mode in ["verify-ca", "verify-full"] {
        let params = format!("sslmode={mode}&sslrootcert={}", lab.other_ca.display());
        let out = lab.check_both("localhost", &params, &[]);
        assert_refused(
            &out,
            &format!(
                "the server's certificate is not signed by the CA in sslrootcert={}: point sslrootcert at the CA that signed it, or use sslmode=require to skip verification",
                lab.other_ca.display()
            ),
        );
    }
}

#[test]
fn the_host_name_is_checked_by_verify_full_only() {
    let lab = lab();
    let ca = lab.ca.display();
    assert_refused(
        &lab.check_both("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={ca}"), &[]),
        "the certificate is for localhost, not for host 127.0.0.1: connect by the name in the certificate or use sslmode=verify-ca",
    );
    assert_connects(&lab.check_both(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
        &[],
    ));
    // The key=value form reads the same settings.
    let target = lab.cluster.fresh_db("tls_target");
    let kv = |db: &str, mode: &str| {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={db} sslmode = {mode} sslrootcert='{ca}'",
            lab.cluster.port
        )
    };
    assert_connects(&lab.check(
        &kv(&lab.legacy, "verify-ca"),
        &kv(&target, "verify-ca"),
        &[],
    ));
    assert_refused(
        &lab.check(
            &kv(&lab.legacy, "verify-full"),
            &kv(&target, "verify-full"),
            &[],
        ),
        "not for host 127.0.0.1",
    );
}

#[test]
fn disable_is_refused_by_a_tls_only_server_with_the_fix() {
    let lab = lab();
    assert_refused(
        &lab.check_both("localhost", "sslmode=disable", &[]),
        "the server refuses unencrypted connections (pg_hba.conf hostssl): use sslmode=require or verify-full",
    );
    // allow: plain first, then TLS when the server refuses plain.
    assert_connects(&lab.check_both("localhost", "sslmode=allow", &[]));
}

#[test]
fn pgssl_variables_are_the_defaults() {
    let lab = lab();
    assert_refused(
        &lab.check_both("localhost", "", &[("PGSSLMODE", "disable")]),
        "the server refuses unencrypted connections",
    );
    let ca = lab.ca.to_str().unwrap();
    let other = lab.other_ca.to_str().unwrap();
    let verify = [("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", ca)];
    assert_connects(&lab.check_both("localhost", "", &verify));
    assert_refused(
        &lab.check_both("127.0.0.1", "", &verify),
        "not for host 127.0.0.1",
    );
    assert_refused(
        &lab.check_both(
            "localhost",
            "",
            &[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", other)],
        ),
        "is not signed by the CA in sslrootcert=",
    );
    // The connection string wins over the variables.
    assert_connects(&lab.check_both("127.0.0.1", "sslmode=require", &verify[..1]));
}

#[test]
fn missing_certificates_say_which_setting_to_fix() {
    let lab = lab();
    assert_refused(
        &lab.check_both(
            "localhost",
            "sslmode=verify-full&sslrootcert=/nonexistent/ca.crt",
            &[],
        ),
        "sslrootcert=/nonexistent/ca.crt: cannot read it",
    );
    assert_refused(
        &lab.check_both("localhost", "sslmode=verify-full", &[]),
        "sslmode=verify-full needs the CA certificate that signed the server's certificate: set sslrootcert=",
    );
    // A server without TLS at all, when TLS is required.
    let plain = Cluster::shared();
    let target = plain.fresh_db("tls_plain");
    let legacy = plain.fresh_db("tls_plain");
    let out = lab.check(
        &format!("{}?sslmode=require", plain.url(&legacy)),
        &format!("{}?sslmode=require", plain.url(&target)),
        &[],
    );
    assert_refused(
        &out,
        "the server does not offer TLS (ssl = off in its postgresql.conf)",
    );
}
