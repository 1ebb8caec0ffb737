//! Keys of any shape: a table keyed by text (`countries.code char(2)`, one code holding a
//! quote) and one keyed by two text columns (`cities (country, name)`), paged, checkpointed,
//! recorded (id map, quarantine, skips) and resolved by those keys, with no change to the
//! source. A city resolves a city of an earlier batch through the id map (Koeln its Hamburg);
//! one not committed yet (Hamburg's Berlin in its own batch, Boston's New York after it) is a
//! forward reference the runner settles. A table with no key is refused by `host check` with
//! what to do.

use crate::catalogue::guest;
use crate::support::*;

const SOURCE: &str = r#"
CREATE TABLE countries (code char(2) PRIMARY KEY, name text);
INSERT INTO countries VALUES ('DE', 'Germany'), ('FR', 'France'), ('O''', 'Quoted'),
  ('US', 'United States'), ('XX', 'skip me'), ('YY', 'bad');
CREATE TABLE cities (country char(2) NOT NULL, name text NOT NULL, population int, near text,
  PRIMARY KEY (country, name));
INSERT INTO cities VALUES
  ('DE', 'Berlin', 3600000, NULL), ('DE', 'Hamburg', 1800000, 'Berlin'),
  ('DE', 'Koeln', 1000000, 'Hamburg'), ('FR', 'Lyon', 500000, NULL),
  ('FR', 'Paris', 2100000, 'Lyon'), ('O''', 'Tab	and \ back', 1, NULL),
  ('US', 'Boston', 650000, 'New York'), ('US', 'New York', 8000000, NULL),
  ('XX', 'Nowhere', 0, NULL), ('YY', 'Bad Town', 0, NULL);
"#;

const TARGET: &str = r#"
CREATE TABLE countries (id uuid PRIMARY KEY, code text NOT NULL UNIQUE, name text);
CREATE TABLE cities (id uuid PRIMARY KEY, country_id uuid NOT NULL REFERENCES countries (id),
  name text NOT NULL, population bigint, near_id uuid REFERENCES cities (id));
"#;

/// A source and target for the two tables, and a plan over them (batches of 2 rows).
fn keyed(cluster: &Cluster, name: &str) -> (String, String, std::path::PathBuf) {
    let source = cluster.fresh_db(&format!("{name}_src"));
    let target = cluster.fresh_db(&format!("{name}_tgt"));
    cluster.connect(&source).batch_execute(SOURCE).unwrap();
    cluster.connect(&target).batch_execute(TARGET).unwrap();
    let dir = temp_dir(name);
    let plan = dir.join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            r#"[source]
url = "{}"
[target]
url = "{}"
[defaults]
batch_size = 2
max_reject_rate = 1.0
[[table]]
name = "countries"
plugin = "{}"
[[table]]
name = "cities"
plugin = "{}"
"#,
            cluster.url(&source),
            cluster.url(&target),
            guest("countries").display(),
            guest("cities").display()
        ),
    )
    .unwrap();
    (source, target, plan)
}

/// The first column of `sql`'s rows, sorted bytewise (whatever the database's collation).
fn strings(db: &mut postgres::Client, sql: &str) -> Vec<String> {
    let mut rows: Vec<String> = db
        .query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    rows.sort();
    rows
}

#[test]
fn text_and_composite_keys_are_paged_recorded_and_resolved() {
    let cluster = Cluster::shared();
    let (_, target, plan) = keyed(cluster, "keys");
    let plan = plan.to_str().unwrap();
    host_ok(&["check", plan]);
    host_ok(&["run", plan]);
    let mut db = cluster.connect(&target);

    // Every row was read (several pages each) and accounted for.
    assert_eq!(
        strings(
            &mut db,
            "SELECT table_name || ' ' || phase || ' ' || rows_read || '=' || rows_written || '+' || rows_skipped || '+' || rows_rejected || ' after ' || last_key FROM migration.table_state ORDER BY 1"
        ),
        [
            r#"cities done 10=8+1+1 after ["YY","Bad Town"]"#,
            "countries done 6=4+1+1 after YY",
        ]
    );
    // The id map, skips and quarantine hold the keys as their text.
    assert_eq!(
        strings(
            &mut db,
            "SELECT entity || ' ' || legacy_key FROM migration.id_map ORDER BY 1"
        ),
        [
            r#"cities ["DE","Berlin"]"#,
            r#"cities ["DE","Hamburg"]"#,
            r#"cities ["DE","Koeln"]"#,
            r#"cities ["FR","Lyon"]"#,
            r#"cities ["FR","Paris"]"#,
            "cities [\"O'\",\"Tab\\tand \\\\ back\"]",
            r#"cities ["US","Boston"]"#,
            r#"cities ["US","New York"]"#,
            "countries DE",
            "countries FR",
            "countries O'",
            "countries US",
        ]
    );
    assert_eq!(
        strings(
            &mut db,
            "SELECT table_name || ' ' || legacy_key FROM migration.skipped ORDER BY 1"
        ),
        [r#"cities ["XX","Nowhere"]"#, "countries XX"]
    );
    assert_eq!(
        strings(
            &mut db,
            "SELECT table_name || ' ' || legacy_key || ': ' || reason FROM migration.quarantine ORDER BY 1"
        ),
        [
            r#"cities ["YY","Bad Town"]: orphan: country=YY has no migrated row in countries (missing in the legacy data, or quarantined)"#,
            "countries YY: a country named bad",
        ]
    );
    // References by key: a city to its country, Koeln to Hamburg (committed before), Hamburg to
    // Berlin and Boston to New York (forward references, settled).
    assert_eq!(
        strings(
            &mut db,
            "SELECT c.name || ' in ' || k.code || coalesce(' near ' || n.name, '') FROM cities c
             JOIN countries k ON k.id = c.country_id LEFT JOIN cities n ON n.id = c.near_id ORDER BY 1"
        ),
        [
            "Berlin in DE",
            "Boston in US near New York",
            "Hamburg in DE near Berlin",
            "Koeln in DE near Hamburg",
            "Lyon in FR",
            "New York in US",
            "Paris in FR near Lyon",
            "Tab\tand \\ back in O'",
        ]
    );
}

#[test]
fn a_run_killed_mid_table_resumes_after_its_composite_checkpoint_identically() {
    let cluster = Cluster::shared();
    let (_, reference, plan) = keyed(cluster, "keys_reference");
    host_ok(&["run", plan.to_str().unwrap()]);
    let expected = digests(&mut cluster.connect(&reference));

    let (_, target, plan) = keyed(cluster, "keys_killed");
    let plan = plan.to_str().unwrap();
    let crashed = host(&["run", plan])
        .env("FAILPOINTS", "after-commit=return(cities:2)")
        .output()
        .unwrap();
    assert!(
        !crashed.status.success(),
        "the failpoint should abort the run"
    );
    let mut db = cluster.connect(&target);
    assert_eq!(committed_batches(&mut db, Some("cities")), 2);
    assert_eq!(
        strings(
            &mut db,
            "SELECT last_key FROM migration.table_state WHERE table_name = 'cities'"
        ),
        [r#"["FR","Lyon"]"#],
        "the checkpoint is the last committed key, both columns"
    );
    host_ok(&["run", plan]);
    assert_same_digests(&expected, &digests(&mut db));
    // `host retry` replays the quarantined rows by their keys: the same plugin, the same fates.
    host_ok(&["retry", plan]);
    assert_same_digests(&expected, &digests(&mut db));
}

#[test]
fn a_table_without_a_key_is_refused_by_check_with_what_to_do() {
    let cluster = Cluster::shared();
    let (source, _, plan) = keyed(cluster, "keys_none");
    cluster
        .connect(&source)
        .batch_execute("ALTER TABLE cities DROP CONSTRAINT cities_pkey")
        .unwrap();
    let out = host(&["check", plan.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("[cities] source table public.cities has no primary key and no unique index over NOT NULL columns")
            && stderr.contains(r#"hint: name a unique NOT NULL column set in the plan (key = ["a", "b"])"#),
        "{stderr}"
    );
    // Naming the key in the plan is enough: the source stays as it is.
    let text = std::fs::read_to_string(&plan).unwrap().replace(
        "name = \"cities\"",
        "name = \"cities\"\nkey = [\"country\", \"name\"]",
    );
    std::fs::write(&plan, text).unwrap();
    host_ok(&["check", plan.to_str().unwrap()]);
    host_ok(&["run", plan.to_str().unwrap()]);
}

/// `host plugin test` takes keys of any shape: migrated and skipped rows by text and
/// composite keys, and `@entity:key` placeholders for their UUIDs.
#[test]
fn fixtures_name_rows_by_keys_of_any_shape() {
    let dir = temp_dir("keys_fixtures");
    let fixtures = dir.join("fixtures.toml");
    std::fs::write(
        &fixtures,
        r#"
[migrated]
countries = ["DE"]
cities = [["DE", "Berlin"]]

[skipped]
countries = { "XX" = "a placeholder country" }

[[case]]
name = "a city near a migrated one"
input = { country = "DE", name = "Hamburg", population = 1800000, near = "Berlin" }
expect = { write = [
  { table = "cities", values = { id = '@cities:["DE","Hamburg"]', country_id = "@countries:DE", name = "Hamburg", population = 1800000, near_id = '@cities:["DE","Berlin"]' } },
] }

[[case]]
name = "a city of a skipped country is skipped"
input = { country = "XX", name = "Nowhere" }
expect = { skip = "country=XX: that countries row was skipped (a placeholder country)" }

[[case]]
name = "a city near one not migrated yet points at the id it will get"
input = { country = "DE", name = "Koeln", near = "Hamburg" }
expect = { write = [
  { table = "cities", values = { id = '@cities:["DE","Koeln"]', country_id = "@countries:DE", name = "Koeln", near_id = '@cities:["DE","Hamburg"]' } },
] }
"#,
    )
    .unwrap();
    let out = host_ok(&[
        "plugin",
        "test",
        guest("cities").to_str().unwrap(),
        fixtures.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("all 3 case(s) ok"), "{stdout}");
}
