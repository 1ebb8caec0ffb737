//! Cycles, forward and self references: a two-table cycle (a department's manager is an
//! employee, an employee belongs to a department) broken at the nullable key, a self-reference
//! whose parents come later in key order, references to rows that never came set to NULL and
//! recorded, exactly once across a kill -9; and a cycle that cannot be broken, refused.

use std::path::{Path, PathBuf};

use crate::catalogue::guest;
use crate::support::*;

const LEGACY: &str = "
CREATE TABLE departments (id bigint PRIMARY KEY, name text NOT NULL, manager_id bigint);
CREATE TABLE employees (id bigint PRIMARY KEY, name text NOT NULL, department_id bigint NOT NULL, reports_to bigint);
INSERT INTO departments VALUES
  (1, 'Sales', 5),     -- manager migrated
  (2, 'Ops', 9),       -- manager skipped
  (3, 'R&D', NULL),
  (4, 'Lab', 11);      -- manager quarantined
INSERT INTO employees VALUES
  (1, 'Ann', 1, 5),    -- reports to a later key
  (2, 'Bob', 1, 1),
  (3, 'Cid', 2, 9),    -- reports to a skipped employee
  (4, 'Dee', 2, 12),   -- a later key, in a later batch
  (5, 'Eve', 1, NULL),
  (6, 'Fay', 3, 11),   -- reports to a quarantined employee
  (7, 'Gus', 3, 4),
  (8, 'Hal', 4, 42),   -- reports to an employee who never existed
  (9, 'skip Ivy', 2, 5),
  (10, 'Jon', 4, 12),
  (11, 'bad Kim', 4, NULL),
  (12, 'Lee', 2, NULL);
";

/// The target: the cycle's keys as `manager` says (`manager_id` nullable, or NOT NULL
/// and DEFERRABLE, or NOT NULL).
fn target_sql(manager: &str) -> String {
    format!(
        "
CREATE TABLE departments (id uuid PRIMARY KEY, legacy_id bigint NOT NULL, name text, manager_id uuid {manager_null});
CREATE TABLE employees (id uuid PRIMARY KEY, legacy_id bigint NOT NULL, name text,
  department_id uuid NOT NULL REFERENCES departments (id),
  reports_to uuid REFERENCES employees (id));
ALTER TABLE departments ADD CONSTRAINT departments_manager_id_fkey
  FOREIGN KEY (manager_id) REFERENCES employees (id) {deferrable};
CREATE INDEX ON employees (department_id);
",
        manager_null = if manager == "nullable" { "" } else { "NOT NULL" },
        deferrable = if manager == "deferrable" {
            "DEFERRABLE INITIALLY DEFERRED"
        } else {
            ""
        }
    )
}

/// A legacy and a target database for the cycle, and the plan over them (batches of 2).
fn setup(cluster: &Cluster, manager: &str) -> (String, String, PathBuf) {
    setup_with_target(cluster, &target_sql(manager))
}

/// `setup` with the target schema `target_sql`.
fn setup_with_target(cluster: &Cluster, target_sql: &str) -> (String, String, PathBuf) {
    let legacy = cluster.fresh_db("cycle_legacy");
    cluster.connect(&legacy).batch_execute(LEGACY).unwrap();
    let target = cluster.fresh_db("cycle_target");
    let dir = temp_dir("cycles");
    let schema = dir.join("target.sql");
    std::fs::write(&schema, target_sql).unwrap();
    let plan = write_cycle_plan(&dir, &cluster.url(&legacy), &cluster.url(&target), &schema);
    (legacy, target, plan)
}

fn write_cycle_plan(dir: &Path, source: &str, target: &str, schema: &Path) -> PathBuf {
    let plan = format!(
        "[source]\nurl = \"{source}\"\n\n[target]\nurl = \"{target}\"\nschema_files = [\"{}\"]\n\n[defaults]\nbatch_size = 2\nmax_reject_rate = 1.0\n\n[validate]\nmin_success_rate = 0.5\nmin_core_success_rate = 0.5\nsample_rows = 50\n\n[[table]]\nname = \"employees\"\nplugin = \"{}\"\n\n[[table]]\nname = \"departments\"\nplugin = \"{}\"\n",
        schema.display(),
        guest("cycle_employees").display(),
        guest("cycle_departments").display(),
    );
    let path = dir.join("plan.toml");
    std::fs::write(&path, plan).unwrap();
    path
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `table`'s `column` by legacy id: the legacy id of the row it points at (NULL: None).
fn links(db: &mut postgres::Client, table: &str, column: &str) -> Vec<(i64, Option<i64>)> {
    db.query(
        &format!("SELECT c.legacy_id, p.legacy_id FROM {table} c LEFT JOIN employees p ON p.id = c.{column} ORDER BY 1"),
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// What settling recorded, without its time: (table, column, missing legacy id).
fn dangling(db: &mut postgres::Client) -> Vec<(String, String, String)> {
    db.query(
        "SELECT table_name, column_name, missing_id FROM migration.dangling_refs ORDER BY 1, 2, 3",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

#[test]
fn a_cycle_and_a_self_reference_migrate_with_references_to_rows_that_never_came_set_to_null() {
    let cluster = Cluster::shared();
    let (legacy, target, plan) = setup(cluster, "nullable");
    let plan = plan.to_str().unwrap();

    let check = host_ok(&["check", plan]);
    let said = text(&check);
    assert!(
        said.contains("cycle departments -> employees -> departments broken at departments.manager_id (nullable): filled as a forward reference, checked after employees is done"),
        "{said}"
    );
    assert!(
        said.contains("self-reference employees.reports_to (nullable): filled as a forward reference, checked after employees is done"),
        "{said}"
    );
    // The table holding the broken key runs first.
    let departments = said.find(" departments ").unwrap();
    let employees = said.find(" employees ").unwrap();
    assert!(departments < employees, "{said}");

    let run = host_ok(&["run", plan]);
    assert!(
        text(&run).contains("broken at departments.manager_id"),
        "run says where the cycle was broken:\n{}",
        text(&run)
    );
    let mut db = cluster.connect(&target);
    assert_eq!(
        links(&mut db, "departments", "manager_id"),
        [(1, Some(5)), (2, None), (3, None), (4, None)]
    );
    assert_eq!(
        links(&mut db, "employees", "reports_to"),
        [
            (1, Some(5)),
            (2, Some(1)),
            (3, None),
            (4, Some(12)),
            (5, None),
            (6, None),
            (7, Some(4)),
            (8, None),
            (10, Some(12)),
            (12, None)
        ]
    );
    // Each reference to a row that never came is recorded with the id it held.
    let recorded = dangling(&mut db);
    let by_column = |column: &str| recorded.iter().filter(|d| d.1 == column).count();
    assert_eq!(
        (by_column("manager_id"), by_column("reports_to")),
        (2, 3),
        "{recorded:?}"
    );
    // Every key back in place and validated, nothing left set aside.
    let keys: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated AND connamespace = 'public'::regnamespace",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(keys, 3);
    let settled: i64 = db
        .query_one(
            "SELECT count(*) FROM migration.forward_refs WHERE settled_at IS NOT NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(settled, 2);

    let validate = host_ok(&["validate", plan]);
    let said = text(&validate);
    assert!(
        said.contains("references to rows that never came set to NULL (migration.dangling_refs): departments.manager_id: 2"),
        "{said}"
    );
    assert!(said.contains("employees.reports_to: 3"), "{said}");
    let report_dir = temp_dir("cycle_report");
    let report = report_dir.join("report.html");
    host_ok(&["report", plan, "--output", report.to_str().unwrap()]);
    assert!(report.exists());

    // Run again: nothing moves, nothing is settled twice.
    host_ok(&["run", plan]);
    assert_eq!(dangling(&mut db), recorded);

    // The quarantined employee fixed in the source and retried: the two references set to
    // NULL for it (department 4's manager, employee 6's boss) point at it again and leave
    // the record; the references to rows that never came stay NULL.
    cluster
        .connect(&legacy)
        .execute("UPDATE employees SET name = 'Kim' WHERE id = 11", &[])
        .unwrap();
    host_ok(&["retry", plan]);
    assert_eq!(
        links(&mut db, "departments", "manager_id"),
        [(1, Some(5)), (2, None), (3, None), (4, Some(11))]
    );
    let bosses = links(&mut db, "employees", "reports_to");
    assert!(bosses.contains(&(6, Some(11))), "{bosses:?}");
    assert!(bosses.contains(&(11, None)), "{bosses:?}");
    let left = dangling(&mut db);
    assert_eq!(left.len(), recorded.len() - 2, "{left:?}");
    host_ok(&["validate", plan]);
}

#[test]
fn a_kill_anywhere_ends_identical_to_an_uninterrupted_run() {
    let cluster = Cluster::shared();
    let (_legacy, reference_target, reference_plan) = setup(cluster, "nullable");
    host_ok(&["run", reference_plan.to_str().unwrap()]);
    let mut reference_db = cluster.connect(&reference_target);
    let reference = digests(&mut reference_db);
    let reference_dangling = dangling(&mut reference_db);
    for failpoint in [
        // Departments done, its forward key set aside and not settled.
        "after-commit=return(employees:2)",
        "before-commit=return(employees:3)",
        // Settled and committed, the key not put back yet.
        "after-settle=return(departments:1)",
        "after-settle=return(employees:1)",
    ] {
        let (_legacy, target, plan) = setup(cluster, "nullable");
        let plan = plan.to_str().unwrap();
        let out = host(&["run", plan])
            .env("FAILPOINTS", failpoint)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{failpoint}: the runner should have aborted"
        );
        assert!(
            text(&out).contains("failpoint"),
            "{failpoint}: {}",
            text(&out)
        );
        host_ok(&["run", plan]);
        let mut db = cluster.connect(&target);
        assert_same_digests(&reference, &digests(&mut db));
        assert_eq!(dangling(&mut db), reference_dangling, "{failpoint}");
        host_ok(&["validate", plan]);
    }
}

#[test]
fn a_cycle_with_no_key_that_can_wait_is_refused_with_the_hint() {
    let cluster = Cluster::shared();
    let (_legacy, _target, plan) = setup(cluster, "not null");
    let out = host(&["check", plan.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("dependency cycle: departments -> employees -> departments"),
        "{said}"
    );
    assert!(
        said.contains("hint: make one of these foreign keys nullable or DEFERRABLE"),
        "{said}"
    );
}

#[test]
fn a_not_null_deferrable_key_pointing_at_rows_that_never_came_fails_and_changes_nothing() {
    let cluster = Cluster::shared();
    let (_legacy, target, plan) = setup(cluster, "deferrable");
    let plan = plan.to_str().unwrap();
    let said = text(&host_ok(&["check", plan]));
    assert!(
        said.contains("broken at departments.manager_id (deferrable)"),
        "{said}"
    );
    let out = host(&["run", plan]).output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(
            "departments: 2 row(s) of departments point with manager_id at no row of employees"
        ),
        "{said}"
    );
    assert!(said.contains("is NOT NULL: nothing was changed"), "{said}");
    let mut db = cluster.connect(&target);
    // Department 3 (no manager) could not be written; 2 and 4 keep the ids they were given.
    let managers: i64 = db
        .query_one("SELECT count(manager_id) FROM departments", &[])
        .unwrap()
        .get(0);
    assert_eq!(managers, 3);
    // The nullable self-reference was settled as usual; the NOT NULL key was not.
    assert!(
        dangling(&mut db).iter().all(|d| d.1 == "reports_to"),
        "{:?}",
        dangling(&mut db)
    );
    let set_aside: i64 = db
        .query_one(
            "SELECT count(*) FROM migration.deferred_constraints WHERE name = 'departments_manager_id_fkey'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        set_aside, 1,
        "the key stays set aside until it can be settled"
    );
    // `host status` says why from the state tables, after the run's message is gone.
    let out = host_ok(&["status", plan, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manager = json["forward_refs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["column"] == "manager_id")
        .cloned()
        .unwrap();
    assert!(
        manager["refused"]
            .as_str()
            .unwrap_or_default()
            .contains("2 row(s) of departments point with manager_id at no row of employees"),
        "{manager}"
    );
    let said = text(&host_ok(&["status", plan]));
    assert!(
        said.contains("NOT SETTLED: the last run could not settle it: 2 row(s)"),
        "{said}"
    );
}

#[test]
fn a_cycle_through_a_key_over_several_columns_is_refused_saying_why() {
    let cluster = Cluster::shared();
    // A department's manager must be one of its own employees: the key is over (manager_id,
    // id), nullable and DEFERRABLE, and still cannot hold a forward reference.
    let composite = "
CREATE TABLE departments (id uuid PRIMARY KEY, legacy_id bigint NOT NULL, name text, manager_id uuid);
CREATE TABLE employees (id uuid PRIMARY KEY, legacy_id bigint NOT NULL, name text,
  department_id uuid NOT NULL REFERENCES departments (id),
  reports_to uuid REFERENCES employees (id),
  UNIQUE (id, department_id));
ALTER TABLE departments ADD CONSTRAINT departments_manager_fkey
  FOREIGN KEY (manager_id, id) REFERENCES employees (id, department_id) DEFERRABLE INITIALLY DEFERRED;
";
    let (_legacy, _target, plan) = setup_with_target(cluster, composite);
    let out = host(&["check", plan.to_str().unwrap()]).output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(
        said.contains("dependency cycle: departments -> employees -> departments"),
        "{said}"
    );
    assert!(
        said.contains("- key departments_manager_fkey on departments.(manager_id, id) is DEFERRABLE, but over 2 columns: the host settles a forward reference as one id"),
        "{said}"
    );
    assert!(
        said.contains("- key employees_department_id_fkey on employees.department_id is NOT NULL in the target and not DEFERRABLE"),
        "{said}"
    );
    assert!(
        said.contains("hint: the key on departments.(manager_id, id) cannot hold a forward reference, nullable or DEFERRABLE: break the cycle at a single-column key of it instead"),
        "{said}"
    );
    // Following the hint (the manager referenced by its id alone) passes.
    let single = composite.replace(
        "FOREIGN KEY (manager_id, id) REFERENCES employees (id, department_id)",
        "FOREIGN KEY (manager_id) REFERENCES employees (id)",
    );
    let (_legacy, _target, plan) = setup_with_target(cluster, &single);
    let said = text(&host_ok(&["check", plan.to_str().unwrap()]));
    assert!(
        said.contains("broken at departments.manager_id (nullable)"),
        "{said}"
    );
}

/// `host status` (text and JSON) and `host report` say where each forward reference stands: not
/// settled while a run is stopped before it (and what to do), settled but not put back, and
/// settled with the references set to NULL and the rows to look at.
#[test]
fn status_and_report_show_each_forward_reference_and_what_became_of_it() {
    let cluster = Cluster::shared();
    let status_json = |plan: &str| -> Vec<serde_json::Value> {
        let out = host_ok(&["status", plan, "--json"]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["forward_refs"].as_array().unwrap().clone()
    };
    let report_of = |plan: &str| -> String {
        let report = temp_dir("cycle_status_report").join("report.html");
        host_ok(&[
            "report",
            plan,
            "--no-validate",
            "--output",
            report.to_str().unwrap(),
        ]);
        std::fs::read_to_string(report).unwrap()
    };

    // Stopped with departments done and employees half way: nothing settled yet.
    let (_legacy, target, plan) = setup(cluster, "nullable");
    let plan = plan.to_str().unwrap();
    let out = host(&["run", plan])
        .env("FAILPOINTS", "after-commit=return(employees:2)")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&host_ok(&["status", plan]));
    assert!(
        said.contains(&format!("departments.manager_id -> employees (key departments_manager_id_fkey): NOT SETTLED: the key is still set aside and its references are unchecked (rows may point at employees rows not written yet); `host run {plan}` settles it once every table writing departments and employees is done")),
        "{said}"
    );
    assert!(
        said.contains(
            "employees.reports_to -> employees (key employees_reports_to_fkey): NOT SETTLED"
        ),
        "{said}"
    );
    let refs = status_json(plan);
    assert_eq!(refs.len(), 2, "{refs:#?}");
    for f in &refs {
        assert_eq!(f["state"], "waiting", "{f:#}");
        assert_eq!(f["set_aside"], true, "{f:#}");
        assert_eq!(f["nulled"], 0, "{f:#}");
    }
    let html = report_of(plan);
    assert!(
        html.contains("id=\"forward\""),
        "the report has the section"
    );
    assert!(html.contains("NOT SETTLED"));

    // Run to the end: both settled, with the references set to NULL and where to find them.
    host_ok(&["run", plan]);
    let said = text(&host_ok(&["status", plan]));
    assert!(
        said.contains("departments.manager_id -> employees (key departments_manager_id_fkey): settled: 2 reference(s) to rows that never came (skipped, quarantined or not in the source) set to NULL; the key is back, validated"),
        "{said}"
    );
    assert!(
        said.contains("employees.reports_to -> employees (key employees_reports_to_fkey): settled: 3 reference(s)"),
        "{said}"
    );
    assert!(
        said.contains("all of them: SELECT row_id, missing_id FROM migration.dangling_refs WHERE table_name = 'departments' AND column_name = 'manager_id' ORDER BY row_id"),
        "{said}"
    );
    let mut db = cluster.connect(&target);
    let refs = status_json(plan);
    let html = report_of(plan);
    for (f, column, nulled) in [(&refs[0], "manager_id", 2), (&refs[1], "reports_to", 3)] {
        assert_eq!(f["column"], column, "{f:#}");
        assert_eq!(f["state"], "settled", "{f:#}");
        assert_eq!(f["set_aside"], false, "{f:#}");
        assert_eq!(f["nulled"], nulled, "{f:#}");
        // The rows listed are the rows recorded, and the query lists them all.
        let listed: Vec<(String, String)> = db
            .query(f["nulled_query"].as_str().unwrap(), &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert_eq!(listed.len() as i64, nulled);
        let shown: Vec<(String, String)> = f["nulled_rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["row"].as_str().unwrap().into(),
                    r["missing_id"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(shown, listed);
        for (row, _) in &listed {
            assert!(html.contains(row.as_str()), "the report lists row {row}");
        }
        // What became of each row referenced: skipped, quarantined, or never in the source.
        let mut fates: Vec<String> = f["nulled_rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let fate = r["missing_row"].as_str().unwrap();
                fate.split(':').next().unwrap().to_string()
            })
            .collect();
        fates.sort();
        let expected: &[&str] = if column == "manager_id" {
            &["employees 11, quarantined", "employees 9, skipped"]
        } else {
            &[
                "employees 11, quarantined",
                "employees 9, skipped",
                "no row of the migration has this id (not in the source)",
            ]
        };
        assert_eq!(fates, expected, "{f:#}");
    }
    assert!(
        said.contains("held c2da4f80-7230-547a-ae25-cd13b2a11bda: employees 9, skipped: "),
        "{said}"
    );
    assert!(!html.contains("NOT SETTLED"));
    assert!(html.contains("2 reference(s) to rows that never came"));
    // Rolled back: the emptied tables' keys are no longer called settled.
    host_ok(&["rollback", plan, "--all", "--yes"]);
    assert_eq!(status_json(plan), Vec::<serde_json::Value>::new());
    host_ok(&["run", plan]);
    assert_eq!(status_json(plan).len(), 2);

    // Settled, then stopped before the key was put back.
    let (_legacy, _target, plan) = setup(cluster, "nullable");
    let plan = plan.to_str().unwrap();
    let out = host(&["run", plan])
        .env("FAILPOINTS", "after-settle=return(departments:1)")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&host_ok(&["status", plan]));
    assert!(
        said.contains(&format!("departments.manager_id -> employees (key departments_manager_id_fkey): settled (2 reference(s) to rows that never came (skipped, quarantined or not in the source) set to NULL), but the key is still set aside (the run stopped before putting it back): `host run {plan}` puts it back")),
        "{said}"
    );
    assert_eq!(status_json(plan)[0]["state"], "settled_not_put_back");
}
