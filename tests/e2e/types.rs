//! Every column type PostgreSQL gives, through a plugin that passes values through (the
//! `typed` test guest): arrays of every scalar kind, enums, ranges, tsvector, network types,
//! interval, money, bit strings, xml, point and domains arrive unchanged; `host check` refuses
//! the target columns no row can ever be written to; a NULL for a NOT NULL column with a
//! DEFAULT is the row's fault, not the batch's; the dry run sees what only the target refuses.

use std::path::PathBuf;

use crate::catalogue::guest;
use crate::support::*;

/// The `typed` guest's columns after the key, with their type in both tables.
const COLUMNS: &[(&str, &str)] = &[
    ("note", "text"),
    ("text_arr", "text[]"),
    ("varchar_arr", "varchar(10)[]"),
    ("int2_arr", "int2[]"),
    ("int4_arr", "int4[]"),
    ("int8_arr", "int8[]"),
    ("numeric_arr", "numeric[]"),
    ("float8_arr", "float8[]"),
    ("bool_arr", "bool[]"),
    ("uuid_arr", "uuid[]"),
    ("date_arr", "date[]"),
    ("timestamp_arr", "timestamp[]"),
    ("timestamptz_arr", "timestamptz[]"),
    ("jsonb_arr", "jsonb[]"),
    ("bytea_arr", "bytea[]"),
    ("mood", "mood"),
    ("mood_arr", "mood[]"),
    ("int4range", "int4range"),
    ("numrange", "numrange"),
    ("tstzrange", "tstzrange"),
    ("daterange", "daterange"),
    ("tsvector", "tsvector"),
    ("inet", "inet"),
    ("cidr", "cidr"),
    ("macaddr", "macaddr"),
    ("interval", "interval"),
    ("money", "money"),
    ("bit", "bit(4)"),
    ("varbit", "varbit"),
    ("xml", "xml"),
    ("point", "point"),
    ("year", "year"),
    ("tags", "tags"),
];

/// The last column of both tables: the guest converts it (integer 5 becomes text `C-5`).
const CODE: &str = "code";

/// The enum and domains both sides declare.
const TYPES: &str = "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE DOMAIN year AS integer CHECK (VALUE BETWEEN 1900 AND 2100);
    CREATE DOMAIN tags AS text[];";

/// Three rows: ordinary values, every column NULL, and the awkward ones (escapes, empty and
/// multi-dimensional arrays, NULL elements, infinities, empty ranges, IPv6...).
const ROWS: &str = r#"
INSERT INTO typed VALUES
 (1, 'plain', '{a,b,"c d"}', '{x,yy}', '{1,-2}', '{3,4}', '{5000000000,-1}', '{1.50,-0.001,NaN}',
  '{1.5,-2.25e-10,Infinity}', '{t,f,NULL}', '{5f0c8a9e-3c1b-4e0a-9d2f-1a2b3c4d5e6f}',
  '{2024-02-29,infinity}', '{"2024-02-29 10:11:12.123456"}', '{"2024-02-29 10:11:12+02"}',
  ARRAY['{"a": [1, "x"]}'::jsonb, 'null'::jsonb], ARRAY['\x00ff'::bytea, '\x'::bytea],
  'happy', '{sad,happy}', '[1,10)', '(1.5,2.5]', '[2024-01-01 00:00+00,)', 'empty',
  'a:1A fat:2B cat', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',
  '1 year 2 months -3 days 04:05:06.5', '-1234.56', B'1010', B'101', '<a x="1">t &amp; u</a>',
  '(1.5,-2)', 1999, '{red,"blue green"}'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL),
 (3, E'tab\there\nnew "q" back\\slash', ARRAY[E'a\tb', 'c"d', E'e\\f', '', NULL, '{}', 'NULL'],
  '{}', '[0:1]={7,8}', '{{1,2},{3,4}}', '{}', '{}', '{-Infinity,-0}', '{}', '{}',
  '{-infinity}', '{}', '{}', '{}', '{}', 'sad', '{}', 'empty', '(,0]', '(,)', '(,2024-01-01)',
  '', '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', '-1 years -2 mons 3 days', '0', B'0000', B'',
  E'<x>\n line</x>', '(0,0)', 2100, '{}');
UPDATE typed SET code = id * 10 WHERE id <> 2;
"#;

/// `CREATE TABLE typed` with the key columns given and `COLUMNS`, each type as `retype`
/// says (the column's definition after its name, or None for the usual type).
fn create_typed(key: &str, retype: &dyn Fn(&str) -> Option<String>) -> String {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(name, ty)| {
            let def = retype(name).unwrap_or_else(|| ty.to_string());
            format!("{} {def}", quote(name))
        })
        .collect();
    let code = retype(CODE).unwrap_or_else(|| {
        if key.contains("uuid") {
            "text"
        } else {
            "integer"
        }
        .to_string()
    });
    format!(
        "CREATE TABLE typed ({key}, {}, {CODE} {code});",
        columns.join(", ")
    )
}

fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

/// A source database with `typed` and its rows (`rows` SQL after the table).
fn source_db(cluster: &Cluster, rows: &str) -> String {
    let db = cluster.fresh_db("typed_src");
    cluster
        .connect(&db)
        .batch_execute(&format!(
            "{TYPES}\n{}\n{rows}",
            create_typed("id integer PRIMARY KEY", &|_| None)
        ))
        .unwrap();
    db
}

/// A target database with `typed` (uuid id, legacy id), each column as `retype` says, after
/// the types and `before` (SQL).
fn target_db(cluster: &Cluster, before: &str, retype: &dyn Fn(&str) -> Option<String>) -> String {
    let db = cluster.fresh_db("typed_tgt");
    cluster
        .connect(&db)
        .batch_execute(&format!(
            "{TYPES}\n{before}\n{}",
            create_typed("id uuid PRIMARY KEY, legacy_id bigint NOT NULL", retype)
        ))
        .unwrap();
    db
}

/// A plan moving `typed` through the `typed` guest.
fn typed_plan(cluster: &Cluster, source: &str, target: &str, batch_size: usize) -> PathBuf {
    typed_plan_through(cluster, source, target, batch_size, "typed")
}

/// A plan moving `typed` through the guest `plugin` (`typed` or `typed_0_3`).
fn typed_plan_through(
    cluster: &Cluster,
    source: &str,
    target: &str,
    batch_size: usize,
    plugin: &str,
) -> PathBuf {
    let dir = temp_dir("types");
    let plan = format!(
        "[source]\nurl = \"{}\"\n\n[target]\nurl = \"{}\"\n\n[defaults]\nbatch_size = {batch_size}\nmax_reject_rate = 1.0\n\n[[table]]\nname = \"typed\"\nplugin = \"{}\"\n",
        cluster.url(source),
        cluster.url(target),
        guest(plugin).display()
    );
    let path = dir.join("plan.toml");
    std::fs::write(&path, plan).unwrap();
    path
}

/// Each row of `typed` as `key -> row::text` of its columns after the key.
fn rows_as_text(db: &mut postgres::Client, key: &str) -> Vec<(i64, Option<String>)> {
    let columns: Vec<String> = COLUMNS.iter().map(|(n, _)| quote(n)).collect();
    db.query(
        &format!(
            "SELECT {key}::int8, ROW({})::text FROM typed ORDER BY 1",
            columns.join(", ")
        ),
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_column_type_arrives_unchanged_and_validates() {
    let cluster = Cluster::shared();
    let source = source_db(cluster, ROWS);
    let target = target_db(cluster, "", &|_| None);
    let plan = typed_plan(cluster, &source, &target, 2);
    let plan = plan.to_str().unwrap();
    host_ok(&["check", plan]);
    let out = host_ok(&["run", plan]);
    let mut tgt = cluster.connect(&target);
    let quarantined: Vec<(i64, String)> = tgt
        .query(
            "SELECT legacy_key::int8, reason FROM migration.quarantine ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(
        quarantined.is_empty(),
        "quarantined: {quarantined:?}\n{}",
        stdout(&out)
    );
    let expected = rows_as_text(&mut cluster.connect(&source), "id");
    assert_eq!(expected.len(), 3);
    assert_eq!(rows_as_text(&mut tgt, "legacy_id"), expected);
    let codes: Vec<(i64, Option<String>)> = tgt
        .query("SELECT legacy_id, code FROM typed ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        codes,
        [
            (1, Some("C-10".into())),
            (2, None),
            (3, Some("C-30".into()))
        ]
    );
    host_ok(&["validate", plan]);

    // A component built against contract 0.3.0 gets every array as its text, as before
    // arrays were typed, and the target ends the same.
    let old_target = target_db(cluster, "", &|_| None);
    let old_plan = typed_plan_through(cluster, &source, &old_target, 2, "typed_0_3");
    host_ok(&["run", old_plan.to_str().unwrap()]);
    assert_eq!(
        rows_as_text(&mut cluster.connect(&old_target), "legacy_id"),
        expected
    );
}

/// Arrays reach a plugin typed (contract 0.4.0): each element by its type, in the
/// dimensions it has, so an array goes into a JSON column as a JSON array and into an array
/// of a wider type element by element; one with bounds other than 1 stays its text.
#[test]
fn arrays_are_typed_for_plugins_and_written_by_element() {
    let cluster = Cluster::shared();
    let source = source_db(cluster, ROWS);
    let target = target_db(cluster, "", &|name| match name {
        "uuid_arr" => Some("jsonb".into()),
        "jsonb_arr" => Some("jsonb".into()),
        "int2_arr" => Some("int8[]".into()),
        "int4_arr" => Some("numeric[]".into()),
        "text_arr" => Some("text".into()),
        _ => None,
    });
    let plan = typed_plan(cluster, &source, &target, 10);
    host_ok(&["run", plan.to_str().unwrap()]);
    let mut tgt = cluster.connect(&target);
    let quarantined: i64 = tgt
        .query_one("SELECT count(*) FROM migration.quarantine", &[])
        .unwrap()
        .get(0);
    assert_eq!(quarantined, 0);
    let rows: Vec<Vec<Option<String>>> = tgt
        .query(
            "SELECT legacy_id::text, uuid_arr::text, jsonb_arr::text, int2_arr::text, int4_arr::text, text_arr
             FROM typed ORDER BY legacy_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (0..6).map(|i| r.get(i)).collect())
        .collect();
    let some = |texts: &[&str]| -> Vec<Option<String>> {
        texts.iter().map(|t| Some(t.to_string())).collect()
    };
    assert_eq!(
        rows[0],
        some(&[
            "1",
            r#"["5f0c8a9e-3c1b-4e0a-9d2f-1a2b3c4d5e6f"]"#,
            r#"[{"a": [1, "x"]}, null]"#,
            "{1,-2}",
            "{3,4}",
            r#"{a,b,"c d"}"#,
        ])
    );
    assert_eq!(
        rows[2],
        some(&[
            "3",
            "[]",
            "[]",
            "[0:1]={7,8}",
            "{{1,2},{3,4}}",
            // PostgreSQL's own literal: quoted where needed, the tab as it is.
            "{\"a\tb\",\"c\\\"d\",\"e\\\\f\",\"\",NULL,\"{}\",\"NULL\"}",
        ])
    );
}

#[test]
fn check_refuses_columns_that_can_never_be_written_and_passes_what_postgresql_casts() {
    let cluster = Cluster::shared();
    let source = source_db(cluster, ROWS);
    let target = target_db(cluster, "", &|name| match name {
        // Never written: a generated column, a type without input, a pair never cast.
        "note" => Some("text GENERATED ALWAYS AS ('computed') STORED".into()),
        "point" => Some("pg_node_tree".into()),
        "text_arr" => Some("integer".into()),
        "mood" => Some("date".into()),
        // Written through text, or by COPY whatever the column says: no problem.
        "int4_arr" => Some("int8[]".into()),
        "mood_arr" => Some("text".into()),
        "inet" => Some("text".into()),
        "uuid_arr" => Some("jsonb".into()),
        "int4range" => Some("int8range".into()),
        "year" => Some("integer GENERATED ALWAYS AS IDENTITY".into()),
        // integer never becomes inet, but the plugin converts it: no problem either.
        "code" => Some("inet".into()),
        _ => None,
    });
    let plan = typed_plan(cluster, &source, &target, 10);
    let out = host(&["check", plan.to_str().unwrap()]).output().unwrap();
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{text}");
    for expected in [
        "target column typed.note (text) is GENERATED ALWAYS AS ('computed'::text) STORED: PostgreSQL computes it, and COPY cannot write it",
        "target column typed.point is of type pg_node_tree, which takes no input at all (cannot accept a value of type pg_node_tree)",
        "source typed.text_arr text[] -> target typed.text_arr integer: the plugin passes the value through, and PostgreSQL cannot convert text[] to integer (invalid input syntax for type integer: \"{a,b,\"c d\"}\" for the value of key 1)",
        "source typed.mood mood -> target typed.mood date: the plugin passes the value through, and PostgreSQL cannot convert mood to date",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let problems = text
        .lines()
        .filter(|l| l.starts_with("- ") || l.contains("[typed]"))
        .count();
    assert_eq!(
        problems, 4,
        "exactly the four columns that can never be written:\n{text}"
    );
    for fine in [
        "code",
        "int4_arr",
        "mood_arr",
        "inet",
        "uuid_arr",
        "int4range",
        "year",
    ] {
        assert!(
            !text.contains(&format!("typed.{fine} ")),
            "{fine} can be written, yet check names it:\n{text}"
        );
    }
}

#[test]
fn a_null_for_a_not_null_column_with_a_default_quarantines_its_row_alone() {
    let cluster = Cluster::shared();
    let source = source_db(
        cluster,
        "INSERT INTO typed (id, note) VALUES (1, 'one'), (2, NULL), (3, 'three');",
    );
    let target = target_db(cluster, "", &|name| {
        (name == "note").then(|| "text NOT NULL DEFAULT 'n/a'".into())
    });
    let plan = typed_plan(cluster, &source, &target, 10);
    host_ok(&["run", plan.to_str().unwrap()]);
    let mut tgt = cluster.connect(&target);
    let quarantined: Vec<(i64, String)> = tgt
        .query(
            "SELECT legacy_key::int8, reason FROM migration.quarantine ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        quarantined,
        [(2, "does not fit typed: NULL for required column note: it is NOT NULL, and its DEFAULT applies only to rows that leave the column out, never to a NULL written into it (write a value, or leave note out of describe()'s writes so PostgreSQL fills in the default)".to_string())]
    );
    let written: Vec<i64> = tgt
        .query("SELECT legacy_id FROM typed ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(written, [1, 3]);
    // Caught before the target saw it: one batch, never halved around the row.
    let batches: i64 = tgt
        .query_one("SELECT count(*) FROM migration.batches", &[])
        .unwrap()
        .get(0);
    assert_eq!(batches, 1, "the batch was split around the NULL");
}

#[test]
fn the_dry_run_sees_what_only_the_target_refuses_and_leaves_nothing() {
    let cluster = Cluster::shared();
    let source = source_db(
        cluster,
        "INSERT INTO typed (id, note) VALUES (1, 'ok'), (2, 'banned'), (3, 'ok'), (4, 'much too long'), (5, 'fine'), (6, 'fine too');",
    );
    let target = target_db(
        cluster,
        "CREATE DOMAIN short_note AS text CHECK (length(VALUE) <= 8);",
        &|name| (name == "note").then(|| "short_note UNIQUE CHECK (note <> 'banned')".into()),
    );
    let plan = typed_plan(cluster, &source, &target, 100);
    let plan = plan.to_str().unwrap();
    let dry = host_ok(&["run", plan, "--dry-run", "--json"]);
    let dry: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    let table = &dry[0];
    assert_eq!(table["would_write"], 3, "{dry:#}");
    assert_eq!(table["would_reject"], 3, "{dry:#}");
    assert_eq!(table["rehearsed"], true, "{dry:#}");
    let mut predicted: Vec<(i64, String)> = table["reject_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            let reason = r["reason"].as_str().unwrap().to_string();
            r["example_keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |k| (k.as_i64().unwrap(), reason.clone()))
        })
        .collect();
    predicted.sort();

    // Nothing stayed: no row, no state schema.
    let mut tgt = cluster.connect(&target);
    let left: i64 = tgt
        .query_one("SELECT count(*) FROM typed", &[])
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the dry run left rows in the target");
    let state: bool = tgt
        .query_one("SELECT to_regnamespace('migration') IS NOT NULL", &[])
        .unwrap()
        .get(0);
    assert!(!state, "the dry run created the migration schema");

    // The real run quarantines the same rows for the same reasons.
    host_ok(&["run", plan]);
    let real: Vec<(i64, String)> = tgt
        .query(
            "SELECT legacy_key::int8, reason FROM migration.quarantine ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(predicted, real);
    let reasons: Vec<&str> = real.iter().map(|(_, r)| r.as_str()).collect();
    assert!(
        reasons[0].contains("violates check constraint \"typed_note_check\""),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("duplicate key value violates unique constraint"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].contains("violates check constraint \"short_note_check\""),
        "{reasons:?}"
    );
}
