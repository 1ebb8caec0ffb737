//! A shared, live target kept safe: keys into other schemas (a Supabase-like `auth.users`),
//! ON DELETE actions, multi-column, DEFERRABLE and NOT VALID keys through bulk-load mode and
//! checked mode; the run lock (a second command refused, naming the holder); keys set aside
//! always put back or loudly named; bulk mode refused over rows others wrote.

use std::process::Output;
use std::time::Duration;

use uuid::Uuid;

use crate::support::*;

/// The namespace the host mints ids in (crates/engine/src/idmap.rs): the test fills `auth.users` with
/// the ids the migration will give the profiles, as a real auth system would hold them.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c61_622d_6d69_6772_6174_652d_7631_0001);

/// The keys the run must leave alone or put back exactly: a key into another schema with ON
/// DELETE CASCADE (Supabase's `profiles.id -> auth.users.id`), a multi-column key, a
/// DEFERRABLE key and a NOT VALID key.
const SUPABASE_LIKE: &str = "
CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
ALTER TABLE public.profiles ADD CONSTRAINT profiles_id_fkey
    FOREIGN KEY (id) REFERENCES auth.users (id) ON DELETE CASCADE;
ALTER TABLE public.profiles ADD CONSTRAINT profiles_id_legacy_id_key UNIQUE (id, legacy_id);
ALTER TABLE public.profiles ADD CONSTRAINT profiles_self_fkey
    FOREIGN KEY (id, legacy_id) REFERENCES public.profiles (id, legacy_id);
ALTER TABLE public.doctors DROP CONSTRAINT doctors_office_id_fkey;
ALTER TABLE public.doctors ADD CONSTRAINT doctors_office_id_fkey
    FOREIGN KEY (office_id) REFERENCES public.offices (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE public.patients DROP CONSTRAINT patients_office_id_fkey;
ALTER TABLE public.patients ADD CONSTRAINT patients_office_id_fkey
    FOREIGN KEY (office_id) REFERENCES public.offices (id) NOT VALID;
";

const SUPABASE_TABLES: &[&str] = &["offices", "profiles", "doctors", "patients"];

/// Every key and index of `public` and `auth`: name -> (oid, definition, validated). An oid
/// that changed means the key was dropped and re-added.
fn keys(db: &mut postgres::Client) -> Vec<(String, u32, String, bool)> {
    db.query(
        "SELECT conrelid::regclass::text || '.' || conname, oid, pg_get_constraintdef(oid), convalidated
         FROM pg_constraint WHERE connamespace::regnamespace::text IN ('public', 'auth')
         UNION ALL
         SELECT indexrelid::regclass::text, indexrelid, pg_get_indexdef(indexrelid), true
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
         WHERE c.relnamespace = 'public'::regnamespace
         ORDER BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

fn key<'a>(keys: &'a [(String, u32, String, bool)], name: &str) -> &'a (String, u32, String, bool) {
    keys.iter()
        .find(|k| k.0 == name)
        .unwrap_or_else(|| panic!("{name} missing: {keys:#?}"))
}

/// Keys and indexes without their oids: what must be the same after any run.
fn definitions(keys: &[(String, u32, String, bool)]) -> Vec<(String, String, bool)> {
    keys.iter()
        .map(|(n, _, d, v)| (n.clone(), d.clone(), *v))
        .collect()
}

/// A target prepared like a Supabase project: the lab's schema, `SUPABASE_LIKE`, and
/// `auth.users` holding every profile's user (and a user without a profile).
fn supabase_target(cluster: &Cluster, legacy: &str, name: &str) -> String {
    let target = cluster.fresh_db(name);
    let mut db = cluster.connect(&target);
    let schema = std::fs::read_to_string(repo_root().join("schema/target.sql")).unwrap();
    db.batch_execute(&schema).unwrap();
    db.batch_execute(SUPABASE_LIKE).unwrap();
    let profiles: Vec<i64> = cluster
        .connect(legacy)
        .query("SELECT id::bigint FROM profiles", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(profiles.len() > 10);
    for legacy_id in profiles {
        let id = Uuid::new_v5(&ID_NAMESPACE, format!("profiles:{legacy_id}").as_bytes());
        db.execute("INSERT INTO auth.users (id) VALUES ($1)", &[&id])
            .unwrap();
    }
    db.execute(
        "INSERT INTO auth.users (id, email) VALUES ($1, 'no-profile@example.com')",
        &[&Uuid::nil()],
    )
    .unwrap();
    target
}

/// A plan of `tables` into `target`, with `extra` added under [defaults].
fn plan_with_defaults(
    cluster: &Cluster,
    legacy: &str,
    target: &str,
    tables: &[&str],
    extra: &str,
) -> String {
    let plan = write_plan(
        &temp_dir(target),
        &cluster.url(legacy),
        &cluster.url(target),
        20,
        tables,
    );
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("[defaults]\n", &format!("[defaults]\n{extra}\n"));
    std::fs::write(&plan, text).unwrap();
    plan.to_str().unwrap().to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_supabase_like_target_migrates_in_bulk_and_in_checked_mode() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let mut results = Vec::new();
    for mode in ["bulk", "checked"] {
        let target = supabase_target(cluster, &legacy, &format!("supabase_{mode}"));
        let plan = plan_with_defaults(
            cluster,
            &legacy,
            &target,
            SUPABASE_TABLES,
            &format!("load_mode = \"{mode}\""),
        );
        let mut db = cluster.connect(&target);
        let before = keys(&mut db);
        let out = host_ok(&["run", &plan]);
        let after = keys(&mut db);
        assert_eq!(
            definitions(&before),
            definitions(&after),
            "{mode}: every key and index is back as it was"
        );
        let log = stderr(&out);
        // Keys that point outside the load or have an action were never dropped (same oid).
        for name in [
            "profiles.profiles_id_fkey",
            "profiles.profiles_self_fkey",
            "profile_roles.profile_roles_profile_id_fkey",
        ] {
            assert_eq!(
                key(&before, name).1,
                key(&after, name).1,
                "{mode}: {name} stayed in place\n{log}"
            );
        }
        let deferrable = key(&after, "doctors.doctors_office_id_fkey");
        assert!(
            deferrable.2.ends_with("DEFERRABLE INITIALLY DEFERRED"),
            "{deferrable:?}"
        );
        let not_valid = key(&after, "patients.patients_office_id_fkey");
        assert!(
            not_valid.2.ends_with("NOT VALID") && !not_valid.3,
            "{not_valid:?}"
        );
        let moved = |name: &str| key(&before, name).1 != key(&after, name).1;
        if mode == "bulk" {
            assert!(
                moved("doctors.doctors_office_id_fkey") && moved("patients.patients_office_id_fkey") && moved("patients_doctor_id_idx"),
                "bulk mode set the DEFERRABLE and NOT VALID keys and the plain indexes aside and put them back\n{log}"
            );
            assert!(
                log.contains("indexes rebuilt and foreign keys validated"),
                "{log}"
            );
        } else {
            let moved: Vec<&String> = before
                .iter()
                .filter(|k| moved(&k.0))
                .map(|k| &k.0)
                .collect();
            assert!(
                moved.is_empty(),
                "checked mode sets nothing aside: {moved:?}\n{log}"
            );
        }
        let written: i64 = db
            .query_one("SELECT count(*) FROM profiles", &[])
            .unwrap()
            .get(0);
        assert!(
            written > 10,
            "{mode}: profiles were written under the key into auth.users"
        );
        host_ok(&["validate", &plan]);
        // The key into auth keeps acting: a user deleted in auth takes its profile along.
        let gone: Uuid = db.query_one("SELECT id FROM profiles WHERE NOT EXISTS (SELECT 1 FROM doctors d WHERE d.profile_id = profiles.id) AND NOT EXISTS (SELECT 1 FROM patients p WHERE p.profile_id = profiles.id) ORDER BY legacy_id LIMIT 1", &[]).unwrap().get(0);
        db.execute("DELETE FROM auth.users WHERE id = $1", &[&gone])
            .unwrap();
        let left: i64 = db
            .query_one("SELECT count(*) FROM profiles WHERE id = $1", &[&gone])
            .unwrap()
            .get(0);
        assert_eq!(left, 0, "ON DELETE CASCADE from auth.users acts");
        db.execute("INSERT INTO auth.users (id) VALUES ($1)", &[&gone])
            .unwrap();
        results.push(target);
    }
    // Checked mode ends exactly where bulk mode ends (both lost the same cascaded profile).
    assert_same_digests(
        &digests(&mut cluster.connect(&results[0])),
        &digests(&mut cluster.connect(&results[1])),
    );
}

#[test]
fn a_second_command_is_refused_while_a_run_holds_the_target() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let target = cluster.fresh_db("locked");
    let dir = temp_dir("locked");
    // Components copied next to the plan: `host swap` replaces the plan's file.
    let tables: Vec<(&str, std::path::PathBuf)> = CORE_TABLES
        .iter()
        .map(|t| {
            let copy = dir.join(format!("{t}.wasm"));
            std::fs::copy(plugin(t), &copy).unwrap();
            (*t, copy)
        })
        .collect();
    let plan = write_plan_with(
        &dir,
        &cluster.url(&legacy),
        &cluster.url(&target),
        10,
        &tables,
    );
    let plan = plan.to_str().unwrap();
    let mut first = spawn_paced_run(plan, 40);
    let mut db = cluster.connect(&target);
    wait_for_batches(&mut db, None, 3);
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first run is still going"
    );
    let pid = first.id().to_string();

    let holder = format!("another host command holds this target: pid {pid} on host ");
    for args in [
        vec!["run", plan],
        vec!["retry", plan],
        vec!["rollback", plan, "--all", "--yes"],
    ] {
        let started = std::time::Instant::now();
        let out = host(&args).output().unwrap();
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(4),
            "{args:?} refused with exit 4:\n{err}"
        );
        assert!(
            err.contains(&holder)
                && err.contains("(command: run)")
                && err.contains("`host status` shows the holder"),
            "{args:?}:\n{err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "refused at once"
        );
    }
    let runs: i64 = db
        .query_one("SELECT count(*) FROM migration.runs", &[])
        .unwrap()
        .get(0);
    assert_eq!(runs, 1, "the refused commands recorded nothing");

    let status = host_ok(&["status", plan]);
    assert!(
        stdout(&status).contains(&format!("in progress: pid {pid} on host ")),
        "{}",
        stdout(&status)
    );
    let json = host_ok(&["status", plan, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        json["lock_holder"]["pid"].as_i64().map(|p| p.to_string()),
        Some(pid.clone()),
        "{json}"
    );
    assert_eq!(json["lock_holder"]["command"], "run");

    // A swap hands a component to the running run: not refused.
    let doctors = dir.join("doctors.wasm");
    let out = host(&[
        "swap",
        plan,
        "--table",
        "doctors",
        "--plugin",
        plugin("doctors").to_str().unwrap(),
        "--wait",
        "0",
    ])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "swap goes ahead during a run:\n{}",
        stderr(&out)
    );
    assert!(doctors.exists());

    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the first run finished untouched:\n{}",
        stderr(&out)
    );
    let json = host_ok(&["status", plan, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(json["lock_holder"].is_null(), "released at the end: {json}");
    host_ok(&["validate", plan]);
}

#[test]
fn keys_set_aside_by_a_killed_run_are_named_by_every_command_then_put_back() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let expected = reference_digests(cluster, &legacy, 20);
    let target = cluster.fresh_db("aside");
    let plan = write_plan(
        &temp_dir("aside"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        20,
        CORE_TABLES,
    );
    let plan = plan.to_str().unwrap();
    let mut child = spawn_paced_run(plan, 30);
    let mut db = cluster.connect(&target);
    wait_for_batches(&mut db, Some("patients"), 2);
    child.kill().unwrap(); // SIGKILL: nothing is put back
    child.wait().unwrap();
    let aside: i64 = db
        .query_one("SELECT count(*) FROM migration.deferred_constraints", &[])
        .unwrap()
        .get(0);
    assert!(aside > 5, "the killed run left keys aside");

    let first_line = |out: &Output| stderr(out).lines().next().unwrap_or_default().to_string();
    let warning = "foreign key(s) and";
    let how = format!("index(es) of the target are set aside by an interrupted run: `host run {plan}` puts them back");
    let status = host_ok(&["status", plan]);
    assert!(
        first_line(&status).starts_with("warning: ")
            && first_line(&status).contains(warning)
            && first_line(&status).contains(&how),
        "{}",
        stderr(&status)
    );
    let last = stdout(&status)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        last.contains("still set aside"),
        "status does not end as if all were well: {last}"
    );
    let json = host_ok(&["status", plan, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        json["set_aside"]["foreign_keys"].as_i64().unwrap()
            + json["set_aside"]["indexes"].as_i64().unwrap(),
        aside,
        "{json}"
    );
    let report = temp_dir("aside-report").join("report.html");
    let report = report.to_str().unwrap();
    for args in [
        vec!["validate", plan],
        vec!["report", plan, "--no-validate", "-o", report],
        vec!["check", plan],
    ] {
        let out = host(&args).output().unwrap();
        assert!(
            first_line(&out).starts_with("warning: ") && first_line(&out).contains(&how),
            "{args:?} warns first:\n{}",
            stderr(&out)
        );
    }
    // The rows the killed run wrote are its own: a resumed run may load in bulk.
    let out = host_ok(&["run", plan]);
    assert!(first_line(&out).contains(&how), "{}", stderr(&out));
    assert_same_digests(&expected, &digests(&mut db));
    let status = host_ok(&["status", plan]);
    assert!(!stderr(&status).contains("warning"), "{}", stderr(&status));
}

#[test]
fn an_error_after_keys_are_set_aside_still_puts_them_back() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let target = cluster.fresh_db("connlimit");
    // A role allowed two connections: the run's own and one worker's; the second worker's
    // connection is refused after the keys were set aside.
    let role = format!("limited_{target}");
    let mut admin = cluster.connect("postgres");
    admin
        .batch_execute(&format!("CREATE ROLE \"{role}\" LOGIN CONNECTION LIMIT 2; ALTER DATABASE \"{target}\" OWNER TO \"{role}\";"))
        .unwrap();
    let url = cluster
        .url(&target)
        .replace("postgres@", &format!("{role}@"));
    let plan = write_plan(
        &temp_dir("connlimit"),
        &cluster.url(&legacy),
        &url,
        20,
        CORE_TABLES,
    );
    let out = host(&["run", plan.to_str().unwrap()]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("too many connections"), "{err}");
    assert!(
        err.contains("foreign key(s) and index(es) set aside were put back")
            && !err.contains("the 0 foreign key(s)"),
        "the message says the keys are back:\n{err}"
    );
    let mut db = cluster.connect(&target);
    let aside: i64 = db
        .query_one("SELECT count(*) FROM migration.deferred_constraints", &[])
        .unwrap()
        .get(0);
    assert_eq!(aside, 0);
    let reference = cluster.fresh_db("connlimit_ref");
    let mut fresh = cluster.connect(&reference);
    fresh
        .batch_execute(&std::fs::read_to_string(repo_root().join("schema/target.sql")).unwrap())
        .unwrap();
    assert_eq!(
        definitions(&keys(&mut db)),
        definitions(&keys(&mut fresh)),
        "every key and index is in place"
    );
}

#[test]
fn a_key_another_session_broke_while_aside_is_named_with_its_rows() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let target = cluster.fresh_db("broken");
    let plan = write_plan(
        &temp_dir("broken"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        10,
        CORE_TABLES,
    );
    let plan = plan.to_str().unwrap();
    let child = spawn_paced_run(plan, 40);
    let mut db = cluster.connect(&target);
    wait_for_batches(&mut db, Some("patients"), 1);
    // Another application deletes an office while the keys into offices are set aside.
    let deleted = db
        .execute("DELETE FROM offices WHERE id = (SELECT office_id FROM doctors GROUP BY 1 ORDER BY count(*) DESC LIMIT 1)", &[])
        .unwrap();
    assert_eq!(
        deleted, 1,
        "the office's keys were aside, so nothing stopped the delete"
    );
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        !err.contains("indexes rebuilt and foreign keys validated"),
        "{err}"
    );
    assert!(
        err.contains("foreign key doctors_office_id_fkey on doctors: ")
            && err.contains("row(s) of doctors point to no row of offices"),
        "{err}"
    );
    let status = host_ok(&["status", plan]);
    assert!(
        stderr(&status).starts_with("warning: "),
        "{}",
        stderr(&status)
    );
}

#[test]
fn bulk_mode_is_refused_over_rows_others_wrote_unless_the_table_says_so() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let target = cluster.fresh_db("others");
    let mut db = cluster.connect(&target);
    db.batch_execute(&std::fs::read_to_string(repo_root().join("schema/target.sql")).unwrap())
        .unwrap();
    // Another application's row.
    db.execute(
        "INSERT INTO offices (id, legacy_id, name) VALUES ($1, 990001, 'Their office')",
        &[&Uuid::from_u128(7)],
    )
    .unwrap();
    let plan = plan_with_defaults(cluster, &legacy, &target, &["offices", "profiles"], "");
    let message =
        "target table \"public\".\"offices\" already holds rows this migration did not write";
    for command in ["check", "run"] {
        let out = host(&[command, &plan]).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{command}:\n{err}");
        assert!(
            err.contains(message)
                && err.contains("[offices]")
                && err
                    .contains("write `load_mode = \"checked\"` in the [[table]] entry of offices"),
            "{command}:\n{err}"
        );
        assert!(!err.contains("[profiles]"), "profiles is empty: {err}");
    }
    let aside: i64 = db
        .query_one("SELECT CASE WHEN to_regclass('migration.deferred_constraints') IS NULL THEN 0 ELSE (SELECT count(*) FROM migration.deferred_constraints) END", &[])
        .unwrap()
        .get(0);
    assert_eq!(aside, 0, "nothing was set aside");
    let opt_in = |mode: &str| {
        let text = std::fs::read_to_string(&plan).unwrap();
        let text = text.replace(
            "name = \"offices\"\n",
            &format!("name = \"offices\"\nload_mode = \"{mode}\"\n"),
        );
        std::fs::write(&plan, text).unwrap();
    };
    let before = keys(&mut db);
    let pristine = plan.replace("plan.toml", "pristine.toml");
    std::fs::copy(&plan, &pristine).unwrap();
    opt_in("checked");
    host_ok(&["check", &plan]);
    host_ok(&["run", &plan]);
    assert_eq!(
        key(&before, "offices.offices_legacy_id_key").1,
        key(&keys(&mut db), "offices.offices_legacy_id_key").1
    );
    let theirs: i64 = db
        .query_one("SELECT count(*) FROM offices WHERE legacy_id = 990001", &[])
        .unwrap()
        .get(0);
    assert_eq!(theirs, 1, "their row stays");
    // Resumed with the table back on bulk: still their row, still refused.
    std::fs::copy(&pristine, &plan).unwrap();
    db.execute("UPDATE migration.table_state SET phase = 'copying'", &[])
        .unwrap();
    assert_eq!(
        host(&["check", &plan]).output().unwrap().status.code(),
        Some(3)
    );
    // `load_mode = "bulk"` on the table itself: set aside anyway.
    opt_in("bulk");
    host_ok(&["check", &plan]);
    host_ok(&["run", &plan]);
}
