//! `host validate` on target tables that are not keyed by a uuid `id`: a many-to-many link
//! table keyed by its two references, whose `role` points into a schema the migration does not
//! own, next to parents whose (country, region) is a two-column key into that schema. A good
//! run validates by the tables' keys (counts, orphans into every schema, a re-transformed
//! sample compared row for row by the primary key); data broken afterwards fails the check
//! that should notice it. And no check says "ok" having compared nothing.

use crate::catalogue::guest;
use crate::support::*;

/// The legacy side. `book_authors.id` is only there because the runner pages a table by a
/// single integer column today; once tables are paged by any key, drop it and give the plan
/// `key = ["book_id", "author_id"]` (nothing else here depends on it).
const SOURCE: &str = "
CREATE TABLE authors (id int PRIMARY KEY, name text NOT NULL, country text, region text);
CREATE TABLE books (id int PRIMARY KEY, title text NOT NULL);
CREATE TABLE book_authors (
    id        serial PRIMARY KEY,
    book_id   int NOT NULL REFERENCES books (id),
    author_id int NOT NULL REFERENCES authors (id),
    role      text NOT NULL,
    position  int NOT NULL,
    UNIQUE (book_id, author_id)
);
INSERT INTO authors SELECT i, 'author ' || i, CASE WHEN i % 2 = 0 THEN 'DE' ELSE 'FR' END,
                           CASE WHEN i % 3 = 0 THEN NULL WHEN i % 2 = 0 THEN 'BY' ELSE 'IDF' END
                    FROM generate_series(1, 30) i;
INSERT INTO books SELECT i, 'book ' || i FROM generate_series(1, 40) i;
INSERT INTO book_authors (book_id, author_id, role, position)
SELECT b, ((b * 7 + n * 11) % 30) + 1, (ARRAY['author', 'editor', 'translator'])[n], n
FROM generate_series(1, 40) b, generate_series(1, 3) n WHERE n <= 1 + b % 3;
";

/// The new side: `ref` belongs to someone else (a shared reference schema); `book_authors`
/// has no id, its primary key is its two references.
const TARGET: &str = "
CREATE SCHEMA ref;
CREATE TABLE ref.regions (country text, region text, PRIMARY KEY (country, region));
INSERT INTO ref.regions VALUES ('DE', 'BY'), ('FR', 'IDF'), ('FR', 'BRE');
CREATE TABLE ref.contributor_roles (code text PRIMARY KEY);
INSERT INTO ref.contributor_roles VALUES ('author'), ('editor'), ('translator');
CREATE TABLE authors (
    id uuid PRIMARY KEY, legacy_id bigint NOT NULL UNIQUE, name text NOT NULL,
    country text, region text,
    FOREIGN KEY (country, region) REFERENCES ref.regions (country, region)
);
CREATE TABLE books (id uuid PRIMARY KEY, legacy_id bigint NOT NULL UNIQUE, title text NOT NULL);
CREATE TABLE book_authors (
    book_id   uuid NOT NULL REFERENCES books (id),
    author_id uuid NOT NULL REFERENCES authors (id),
    role      text NOT NULL REFERENCES ref.contributor_roles (code),
    position  int NOT NULL,
    PRIMARY KEY (book_id, author_id)
);
";

/// Links in SOURCE: 1 + b % 3 per book b in 1..=40.
const LINKS: i64 = 80;

struct Shop {
    target: String,
    plan: String,
}

impl Shop {
    /// Migrated with `sample_rows` (every link row is sampled at the default here).
    fn migrated(name: &str, sample_rows: usize) -> Shop {
        let cluster = Cluster::shared();
        let legacy = cluster.fresh_db("shapes_legacy");
        cluster.connect(&legacy).batch_execute(SOURCE).unwrap();
        let target = cluster.fresh_db(name);
        cluster.connect(&target).batch_execute(TARGET).unwrap();
        let mut plan = format!(
            "[source]\nurl = \"{}\"\n\n[target]\nurl = \"{}\"\n\n[validate]\nsample_rows = {sample_rows}\n",
            cluster.url(&legacy),
            cluster.url(&target)
        );
        for table in ["authors", "books", "book_authors"] {
            plan.push_str(&format!(
                "\n[[table]]\nname = \"{table}\"\nplugin = \"{}\"\n",
                guest(&format!("shapes_{table}")).display()
            ));
        }
        let dir = temp_dir(name);
        let path = dir.join("plan.toml");
        std::fs::write(&path, plan).unwrap();
        let plan = path.to_str().unwrap().to_string();
        host_ok(&["run", &plan]);
        Shop { target, plan }
    }

    fn sql(&self, sql: &str) {
        Cluster::shared()
            .connect(&self.target)
            .batch_execute(sql)
            .unwrap();
    }

    /// `host validate --json`: exit code and report.
    fn validate(&self) -> (i32, serde_json::Value) {
        let out = host(&["validate", &self.plan, "--json"]).output().unwrap();
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "validate --json printed no JSON ({e}):\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), json)
    }
}

fn checks(json: &serde_json::Value) -> &Vec<serde_json::Value> {
    json["checks"].as_array().unwrap()
}

/// (table, check) of every check with `status`.
fn with_status(json: &serde_json::Value, status: &str) -> Vec<(String, String)> {
    checks(json)
        .iter()
        .filter(|c| c["status"] == status)
        .map(|c| {
            (
                c["table"].as_str().unwrap_or("(all)").to_string(),
                c["check"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn check<'a>(json: &'a serde_json::Value, table: &str, name: &str) -> &'a serde_json::Value {
    checks(json)
        .iter()
        .find(|c| c["table"] == table && c["check"] == name)
        .unwrap_or_else(|| panic!("no {name} check for {table}: {json:#}"))
}

/// The checks of a `host validate --json` report that say "ok" having compared nothing: a
/// sample with no target row compared, an orphan check over no key, an id-map check over no
/// table. Empty on every report (the source tables of these tests all have rows).
pub(crate) fn ok_over_nothing(json: &serde_json::Value) -> Vec<String> {
    checks(json)
        .iter()
        .filter(|c| c["ok"] == true || c["status"] == "ok")
        .filter_map(|c| {
            let detail = c["detail"].as_str().unwrap_or_default();
            let vacuous = detail.contains(": 0 target rows identical")
                || detail.contains("across 0 foreign keys")
                || detail.ends_with("point at no row of ")
                || detail.starts_with("not re-transformed");
            vacuous.then(|| format!("{} {}: {detail}", c["table"], c["check"]))
        })
        .collect()
}

#[test]
fn a_link_table_without_an_id_validates_by_its_key() {
    let shop = Shop::migrated("shapes_good", 200);
    let (code, json) = shop.validate();
    assert_eq!(with_status(&json, "failed"), vec![], "{json:#}");
    assert_eq!(with_status(&json, "not_checked"), vec![], "{json:#}");
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(ok_over_nothing(&json), Vec::<String>::new());

    // Counted: the link rows the run wrote are all there.
    let counted = check(&json, "book_authors", "target_rows");
    assert_eq!(counted["status"], "ok", "{counted:#}");
    assert_eq!(
        counted["detail"],
        format!("{LINKS} rows in book_authors for {LINKS} target rows written by book_authors")
    );
    // Compared row for row by the primary key (book_id, author_id), every link sampled.
    let sample = check(&json, "book_authors", "sample");
    assert!(
        sample["detail"]
            .as_str()
            .unwrap()
            .ends_with(&format!(": {LINKS} target rows identical")),
        "{sample:#}"
    );
    // Every foreign key, the one into the other schema and the two-column one too.
    assert_eq!(
        check(&json, "book_authors", "fk_orphans")["detail"],
        "0 orphans across 3 foreign keys"
    );
    assert_eq!(
        check(&json, "authors", "fk_orphans")["detail"],
        "0 orphans across 1 foreign keys"
    );
    // No id map to check for a table without ids: none reported as pointing nowhere.
    assert!(
        !checks(&json)
            .iter()
            .any(|c| c["table"] == "book_authors" && c["check"] == "id_map"),
        "{json:#}"
    );
    assert_eq!(check(&json, "authors", "id_map")["status"], "ok");

    // Whether or not the runner keeps id-map rows for a table nothing resolves, validate
    // neither depends on them nor calls them dangling.
    shop.sql("DELETE FROM migration.id_map WHERE entity = 'book_authors'");
    let (code, again) = shop.validate();
    assert_eq!(with_status(&again, "failed"), vec![], "{again:#}");
    assert_eq!(code, 0);
    assert_eq!(
        check(&again, "book_authors", "sample")["detail"],
        sample["detail"]
    );
}

#[test]
fn a_deleted_link_row_fails_the_count_and_the_sample() {
    let shop = Shop::migrated("shapes_deleted", 200);
    shop.sql("DELETE FROM book_authors WHERE (book_id, author_id) = (SELECT book_id, author_id FROM book_authors ORDER BY position DESC, book_id LIMIT 1)");
    let (code, json) = shop.validate();
    assert_eq!(code, 6, "{json:#}");
    assert_eq!(
        with_status(&json, "failed"),
        vec![
            ("book_authors".to_string(), "target_rows".to_string()),
            ("book_authors".to_string(), "sample".to_string()),
        ],
        "{json:#}"
    );
    let counted = check(&json, "book_authors", "target_rows")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(counted.contains("1 row(s) missing"), "{counted}");
    let sample = check(&json, "book_authors", "sample")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        sample.contains("1 of 80 sampled book_authors rows differ")
            && sample.contains("(1 of them missing from the target)"),
        "{sample}"
    );
    // The human report names the failing checks.
    let out = host(&["validate", &shop.plan]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("validate FAILED: book_authors target_rows, book_authors sample"),
        "{text}"
    );
}

#[test]
fn orphans_into_another_schema_and_across_two_columns_fail_fk_orphans() {
    let shop = Shop::migrated("shapes_orphans", 200);
    // Written past the keys, as a careless repair script or a replica would.
    shop.sql(
        "SET session_replication_role = replica;
         UPDATE book_authors SET role = 'ghostwriter' WHERE (book_id, author_id) = (SELECT book_id, author_id FROM book_authors ORDER BY book_id, position LIMIT 1);
         UPDATE authors SET region = 'Atlantis' WHERE legacy_id = 2;
         RESET session_replication_role;",
    );
    let (code, json) = shop.validate();
    assert_eq!(code, 6, "{json:#}");
    let failed = with_status(&json, "failed");
    for expected in [("book_authors", "fk_orphans"), ("authors", "fk_orphans")] {
        assert!(
            failed.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} not in {failed:?}"
        );
    }
    assert_eq!(
        check(&json, "book_authors", "fk_orphans")["detail"],
        "orphans: book_authors.role -> ref.contributor_roles: 1"
    );
    assert_eq!(
        check(&json, "authors", "fk_orphans")["detail"],
        "orphans: authors.country,region -> ref.regions: 1"
    );
}

#[test]
fn a_changed_link_value_fails_the_sample() {
    let shop = Shop::migrated("shapes_changed", 200);
    shop.sql("UPDATE book_authors SET position = position + 10 WHERE (book_id, author_id) = (SELECT book_id, author_id FROM book_authors ORDER BY book_id DESC, position LIMIT 1)");
    let (code, json) = shop.validate();
    assert_eq!(code, 6, "{json:#}");
    assert_eq!(
        with_status(&json, "failed"),
        vec![("book_authors".to_string(), "sample".to_string())],
        "{json:#}"
    );
    assert_eq!(
        check(&json, "book_authors", "sample")["detail"],
        "1 of 80 sampled book_authors rows differ from what the current plugin makes of their source rows"
    );
}

#[test]
fn a_disabled_sample_says_not_checked_never_ok() {
    let shop = Shop::migrated("shapes_unsampled", 0);
    let (code, json) = shop.validate();
    assert_eq!(with_status(&json, "failed"), vec![], "{json:#}");
    assert_eq!(code, 0, "a check not made is a warning, not a failure");
    assert_eq!(
        with_status(&json, "not_checked"),
        ["authors", "books", "book_authors"]
            .map(|t| (t.to_string(), "sample".to_string()))
            .to_vec()
    );
    assert_eq!(json["not_checked"], 3);
    let sample = check(&json, "book_authors", "sample");
    assert_eq!(sample["ok"], false, "{sample:#}");
    let out = host(&["validate", &shop.plan]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("book_authors")
            && l.contains(" sample ")
            && l.contains("NOT CHECKED")
            && l.contains("sampling disabled ([validate] sample_rows = 0)")),
        "{text}"
    );
    assert!(
        text.contains("validate passed: ")
            && text.contains("NOT CHECKED: authors sample, books sample, book_authors sample"),
        "{text}"
    );
    // The report shows them apart, neither ok nor failed.
    let html = temp_dir("shapes_unsampled_report").join("report.html");
    host_ok(&["report", &shop.plan, "-o", html.to_str().unwrap()]);
    let html = std::fs::read_to_string(html).unwrap();
    assert!(
        html.contains("3 could not check")
            && html.contains("Checks that could not check")
            && html.contains("<span class=\"warn\">not checked</span>"),
        "the report does not show the checks not made"
    );
}

/// The entities the lab's plugins resolve (`RESOLVES` in plugins/*/src/lib.rs): the only
/// ones whose id map a runner needs to keep.
const LAB_RESOLVED: &[&str] = &[
    "brackets",
    "cases",
    "categories",
    "comments",
    "discounts",
    "doctors",
    "messages",
    "offers",
    "offices",
    "orders",
    "patients",
    "products",
    "profiles",
    "projects",
    "technician_roles",
    "technicians",
    "treatment_plans",
];

#[test]
fn the_lab_validates_with_id_maps_only_for_the_entities_resolved() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.02");
    let target = cluster.fresh_db("lab_idmaps");
    let plan = lab_plan(
        &temp_dir("lab_idmaps"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        500,
    );
    let plan = plan.to_str().unwrap();
    seed_lab_target(&cluster.url(&legacy), &cluster.url(&target), plan);
    host_ok(&["run", plan]);
    // What a runner that keeps the id map only for resolved entities leaves (a no-op once
    // the runner does so itself).
    let resolved: Vec<String> = LAB_RESOLVED.iter().map(|e| e.to_string()).collect();
    cluster
        .connect(&target)
        .execute(
            "DELETE FROM migration.id_map WHERE entity <> ALL ($1)",
            &[&resolved],
        )
        .unwrap();
    let out = host(&["validate", plan, "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(with_status(&json, "failed"), vec![], "{json:#}");
    assert_eq!(with_status(&json, "not_checked"), vec![], "{json:#}");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(ok_over_nothing(&json), Vec::<String>::new());
    // A table nothing resolves is counted instead of mapped; a resolved one keeps its map.
    let tasks = check(&json, "tasks", "target_rows");
    assert!(
        tasks["detail"]
            .as_str()
            .unwrap()
            .contains("rows in task_assignments + tasks for"),
        "{tasks:#}"
    );
    assert!(
        !checks(&json)
            .iter()
            .any(|c| c["table"] == "tasks" && c["check"] == "id_map"),
        "{json:#}"
    );
    assert_eq!(check(&json, "orders", "id_map")["status"], "ok");
    // And a row deleted from a table counted so is noticed.
    cluster
        .connect(&target)
        .batch_execute("DELETE FROM task_assignments WHERE id = (SELECT id FROM task_assignments ORDER BY id LIMIT 1)")
        .unwrap();
    let out = host(&["validate", plan, "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(6));
    assert!(
        with_status(&json, "failed").contains(&("tasks".to_string(), "target_rows".to_string())),
        "{json:#}"
    );
}
