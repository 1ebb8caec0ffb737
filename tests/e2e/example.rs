//! The bookshop example (examples/bookshop/): a legacy database nobody here designed around
//! (quoted CamelCase names, an enum, arrays, a domain, jsonb, bytea, a tsvector, exact money,
//! both kinds of timestamps), its own Python and JavaScript plugins, and a target whose books
//! point into a schema the migration does not own. From source.sql on an empty database to a
//! validated migration with the example's own plan.toml, run from another folder; and a run
//! crashed and killed part-way that ends identical to an uninterrupted one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use postgres::Client;

use crate::support::*;

fn example_dir() -> PathBuf {
    repo_root().join("examples/bookshop")
}

fn example_file(name: &str) -> String {
    std::fs::read_to_string(example_dir().join(name)).unwrap()
}

/// Every plugin of the example (examples/bookshop/plugins/<name>, built into dist/<name>.wasm).
const PLUGINS: [&str; 9] = [
    "authors",
    "books",
    "orders",
    "countries",
    "customers",
    "book_authors",
    "sales",
    "stores",
    "staff",
];

/// The example's plan.toml, once its components are built.
fn example_plan() -> PathBuf {
    for name in PLUGINS {
        let wasm = example_dir().join("dist").join(format!("{name}.wasm"));
        assert!(
            wasm.exists(),
            "{} is missing: run examples/bookshop/build.sh (scripts/test.sh does)",
            wasm.display()
        );
    }
    example_dir().join("plan.toml")
}

/// A legacy database made by source.sql, and a target holding nothing but what reference.sql
/// puts there (ref.genres, owned by someone else): the example's starting point.
struct Shop {
    cluster: &'static Cluster,
    legacy: String,
    target: String,
    /// The folder commands run from: not the plan's, so its relative paths must hold.
    cwd: PathBuf,
}

impl Shop {
    fn new(name: &str) -> Shop {
        let cluster = Cluster::shared();
        let legacy = cluster.fresh_db("bookshop_legacy");
        cluster
            .connect(&legacy)
            .batch_execute(&example_file("source.sql"))
            .unwrap();
        let target = cluster.fresh_db(name);
        cluster
            .connect(&target)
            .batch_execute(&example_file("reference.sql"))
            .unwrap();
        Shop {
            cluster,
            legacy,
            target,
            cwd: temp_dir(name),
        }
    }

    /// `host COMMAND PLAN ARGS... --source ... --target ...`, from [`Shop::cwd`].
    fn host(&self, command: &str, plan: &Path, args: &[&str]) -> Command {
        let (source, target) = (
            self.cluster.url(&self.legacy),
            self.cluster.url(&self.target),
        );
        let mut c = host(&[command, plan.to_str().unwrap()]);
        c.args(args)
            .args(["--source", &source, "--target", &target])
            .current_dir(&self.cwd);
        c
    }

    fn host_ok(&self, command: &str, plan: &Path, args: &[&str]) -> Output {
        run_ok(&mut self.host(command, plan, args))
    }

    fn source(&self) -> Client {
        self.cluster.connect(&self.legacy)
    }

    fn target(&self) -> Client {
        self.cluster.connect(&self.target)
    }

    /// The example's plan with absolute paths, these databases' URLs and `batch_size`, in a
    /// folder of its own (for `spawn_paced_run`, which passes no URLs).
    fn plan_with_batch(&self, batch_size: usize) -> PathBuf {
        let dir = example_dir();
        let mut section = "";
        let text: Vec<String> = example_file("plan.toml")
            .lines()
            .map(|line| {
                if line.starts_with('[') {
                    section = if line == "[source]" || line == "[target]" {
                        line
                    } else {
                        ""
                    };
                }
                match (section, line.split(" = ").next().unwrap_or("")) {
                    ("[source]", "url") => format!("url = \"{}\"", self.cluster.url(&self.legacy)),
                    ("[target]", "url") => format!("url = \"{}\"", self.cluster.url(&self.target)),
                    (_, "batch_size") => format!("batch_size = {batch_size}"),
                    _ => line
                        .replace("\"dist/", &format!("\"{}/dist/", dir.display()))
                        .replace(
                            "\"target.sql\"",
                            &format!("\"{}/target.sql\"", dir.display()),
                        ),
                }
            })
            .collect();
        let path = self.cwd.join("plan.toml");
        std::fs::write(&path, text.join("\n")).unwrap();
        path
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", stdout(out)))
}

/// Rows of `sql` (each column as text, NULL as "NULL"), keyed by the first column (an int8).
fn rows_by_key(client: &mut Client, sql: &str) -> BTreeMap<i64, Vec<String>> {
    client
        .query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| {
            let values = (1..r.len())
                .map(|i| {
                    r.get::<_, Option<String>>(i)
                        .unwrap_or_else(|| "NULL".into())
                })
                .collect();
            (r.get(0), values)
        })
        .collect()
}

/// legacy key -> reason, of what the migration skipped or quarantined for `table`.
fn left_behind(target: &mut Client, state: &str, table: &str) -> BTreeMap<i64, String> {
    target
        .query(
            &format!(
                "SELECT legacy_key::int8, reason FROM migration.{state} WHERE table_name = $1"
            ),
            &[&table],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// The keys of `sql`'s rows (an int8 first column).
fn keys(client: &mut Client, sql: &str) -> Vec<i64> {
    client
        .query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// What the shop's rules make of each legacy book: 'write', 'skip' (its author was
/// soft-deleted), 'orphan' (its author missing or quarantined), 'title' (no title) or 'genre'
/// (a genre ref.genres does not know, refused by the target's foreign key).
const BOOK_FATES: &str = r#"
    SELECT b."BookId", CASE
        WHEN a."DeletedAt" IS NOT NULL THEN 'skip'
        WHEN a."AuthorId" IS NULL OR btrim(coalesce(a."FullName", '')) = '' THEN 'orphan'
        WHEN btrim(coalesce(b."Title", '')) = '' THEN 'title'
        WHEN lower(btrim(b."Genre")) = 'poetry' THEN 'genre'
        ELSE 'write' END AS fate
    FROM shop."Books" b LEFT JOIN shop."Authors" a USING ("AuthorId")"#;

fn with_fate(source: &mut Client, sql: &str, fate: &str) -> Vec<i64> {
    keys(
        source,
        &format!("SELECT key::int8 FROM ({sql}) f(key, fate) WHERE fate = '{fate}' ORDER BY 1"),
    )
}

fn keys_of(map: &BTreeMap<i64, String>, reason: &str) -> Vec<i64> {
    map.iter()
        .filter(|(_, r)| r.contains(reason))
        .map(|(k, _)| *k)
        .collect()
}

#[test]
fn bookshop_from_an_empty_database_to_a_validated_migration() {
    let plan = example_plan();
    let shop = Shop::new("bookshop");

    let check = shop.host_ok("check", &plan, &[]);
    let text = stdout(&check);
    // In the plan's order, each after what it depends on: the customers after the countries
    // their key points at, the links and the sales after the books.
    let order: Vec<usize> = [
        "1. Authors",
        "2. Books",
        "3. Orders",
        "4. Countries",
        "5. Customers",
        "6. BookAuthors",
        "7. Sales",
        "8. Stores",
        "9. Staff",
    ]
    .iter()
    .map(|t| {
        text.find(t)
            .unwrap_or_else(|| panic!("{t} not in:\n{text}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(text.contains("check passed: 9 tables"), "{text}");
    assert!(
        text.contains("broken at stores.manager_id (nullable)"),
        "the cycle is broken at the nullable key: {text}"
    );

    // The rehearsal sees every fate the plugins decide (not the target's own refusals).
    let dry = json(&shop.host_ok("run", &plan, &["--dry-run", "--json"]));
    let dry: BTreeMap<String, (i64, i64, i64)> = dry
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let n = |k: &str| t[k].as_i64().unwrap();
            (
                t["table"].as_str().unwrap().to_string(),
                (n("would_write"), n("would_skip"), n("would_reject")),
            )
        })
        .collect();
    assert_eq!(dry["Authors"], (191, 8, 1), "{dry:?}");
    assert!(
        shop.target()
            .query_one("SELECT to_regclass('public.books') IS NULL", &[])
            .unwrap()
            .get::<_, bool>(0),
        "the dry run wrote the schema"
    );

    shop.host_ok("run", &plan, &[]);
    let (mut source, mut target) = (shop.source(), shop.target());
    // A second run finds everything done and changes nothing.
    let first = digests(&mut target);
    shop.host_ok("run", &plan, &[]);
    assert_same_digests(&first, &digests(&mut target));

    // ------------------------------------------------------------------ the cycle
    // Every store's manager and every staff member's manager is the legacy one, whether its
    // row came before or after (forward references, settled once Staff was done).
    let legacy_links = |db: &mut Client, sql: &str| -> Vec<(i64, Option<i64>)> {
        db.query(sql, &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    };
    assert_eq!(
        legacy_links(
            &mut target,
            "SELECT s.legacy_id, m.legacy_id FROM stores s LEFT JOIN staff m ON m.id = s.manager_id ORDER BY 1"
        ),
        legacy_links(
            &mut source,
            r#"SELECT "StoreId"::int8, "ManagerId"::int8 FROM shop."Stores" ORDER BY 1"#
        )
    );
    assert_eq!(
        legacy_links(
            &mut target,
            "SELECT s.legacy_id, m.legacy_id FROM staff s LEFT JOIN staff m ON m.id = s.reports_to ORDER BY 1"
        ),
        legacy_links(
            &mut source,
            r#"SELECT "StaffId"::int8, "ReportsTo"::int8 FROM shop."Staff" ORDER BY 1"#
        )
    );

    // ------------------------------------------------------------------ the dirt
    let skipped = left_behind(&mut target, "skipped", "Authors");
    let rejected = left_behind(&mut target, "quarantine", "Authors");
    let soft_deleted = keys(
        &mut source,
        r#"SELECT "AuthorId"::int8 FROM shop."Authors" WHERE "DeletedAt" IS NOT NULL ORDER BY 1"#,
    );
    assert_eq!(soft_deleted.len(), 8);
    assert_eq!(skipped.keys().copied().collect::<Vec<_>>(), soft_deleted);
    assert!(
        skipped
            .values()
            .all(|r| r == "soft-deleted author (DeletedAt is set)"),
        "{skipped:?}"
    );
    assert_eq!(
        rejected,
        BTreeMap::from([(7, "required column FullName is NULL or blank".to_string())])
    );

    let skipped = left_behind(&mut target, "skipped", "Books");
    let rejected = left_behind(&mut target, "quarantine", "Books");
    let skip = with_fate(&mut source, BOOK_FATES, "skip");
    assert!(skip.len() > 20, "{skip:?}");
    assert_eq!(skipped.keys().copied().collect::<Vec<_>>(), skip);
    assert!(
        skipped
            .values()
            .all(|r| r.contains(": that author was skipped (soft-deleted author")),
        "{skipped:?}"
    );
    let orphans = with_fate(&mut source, BOOK_FATES, "orphan");
    assert!(orphans.contains(&101) && orphans.contains(&777) && orphans.contains(&1203));
    assert_eq!(keys_of(&rejected, "orphan: AuthorId="), orphans);
    assert_eq!(rejected[&101], "orphan: AuthorId=9999 has no migrated row in Authors (missing in the legacy data, or quarantined)");
    assert_eq!(keys_of(&rejected, "required column Title"), vec![500]);
    // The genre the target's reference table does not know: refused by PostgreSQL's foreign
    // key into ref.genres, isolated by bisection, quarantined with PostgreSQL's reason.
    assert_eq!(with_fate(&mut source, BOOK_FATES, "genre"), vec![42, 1300]);
    for key in [42, 1300] {
        assert_eq!(
            rejected[&key],
            r#"target refused the row: insert or update on table "books" violates foreign key constraint "books_genre_fkey" (Key (genre)=(poetry) is not present in table "genres".)"#
        );
    }
    assert_eq!(rejected.len(), orphans.len() + 3, "{rejected:?}");

    let order_fates = format!(
        r#"SELECT o."OrderId", CASE WHEN b.fate = 'write' THEN 'write' WHEN b.fate = 'skip' THEN 'skip' ELSE 'orphan' END
           FROM shop."Orders" o LEFT JOIN ({BOOK_FATES}) b ON b."BookId" = o."BookId""#
    );
    let skipped = left_behind(&mut target, "skipped", "Orders");
    let rejected = left_behind(&mut target, "quarantine", "Orders");
    assert_eq!(
        skipped.keys().copied().collect::<Vec<_>>(),
        with_fate(&mut source, &order_fates, "skip")
    );
    assert!(
        skipped
            .values()
            .all(|r| r.contains(": that book was skipped (AuthorId=")),
        "{skipped:?}"
    );
    assert_eq!(
        rejected.keys().copied().collect::<Vec<_>>(),
        with_fate(&mut source, &order_fates, "orphan")
    );
    assert!(
        rejected.values().all(|r| r.starts_with("orphan: BookId=")),
        "{rejected:?}"
    );
    assert_eq!(rejected[&10], "orphan: BookId=99999 has no migrated row in Books (missing in the legacy data, or quarantined)");
    // The quarantined row itself is kept, for an operator to fix.
    let kept: String = target
        .query_one(
            "SELECT source_row->>'CustomerEmail' FROM migration.quarantine WHERE table_name = 'Orders' AND legacy_key = '10'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(kept.ends_with("@example.com"), "{kept}");

    // ------------------------------------------------------------------ values, exactly
    // Every written book: the enum, the domain, the arrays, the money, the bytes, the JSON,
    // the tsvector, the date and the timestamptz as the legacy row held them (no tags: '{}').
    let legacy_books = rows_by_key(
        &mut source,
        r#"SELECT "BookId"::int8, btrim("Title"), "Isbn"::text, "Format"::text, coalesce("Tags", '{}')::text,
                  "Ratings"::text, "Price"::text, encode("Cover", 'hex'), "Attributes"::text, "SearchText"::text,
                  "PublishedOn"::text, "UpdatedAt"::text, "AuthorId"::text
           FROM shop."Books""#,
    );
    let books = rows_by_key(
        &mut target,
        "SELECT b.legacy_id, title, isbn::text, format::text, tags::text, ratings::text, price::text,
                encode(cover, 'hex'), attributes::text, search::text, published_on::text, updated_at::text,
                a.legacy_id::text
         FROM public.books b JOIN public.authors a ON a.id = b.author_id",
    );
    assert_eq!(
        books.len(),
        with_fate(&mut source, BOOK_FATES, "write").len()
    );
    for (key, row) in &books {
        assert_eq!(row, &legacy_books[key], "book {key}");
    }
    // The dataset does hold the awkward values this comparison is about.
    let book = &books[&1];
    assert_eq!(
        book[1..5],
        ["9780037064698", "hardcover", "{}", "{2,1,2}"].map(String::from)
    );
    let awkward: (i64, i64, i64, i64, i64) = {
        let r = target
            .query_one(
                r#"SELECT count(*) FILTER (WHERE 'signed "first" edition' = ANY (tags)),
                          count(*) FILTER (WHERE 'new, revised' = ANY (tags)),
                          count(*) FILTER (WHERE position('\x00ff0a5c09'::bytea IN cover) > 0),
                          count(*) FILTER (WHERE search @@ to_tsquery('english', 'garden')),
                          count(*) FILTER (WHERE pg_typeof(format) = 'book_format'::regtype AND attributes->>'series' IS NOT NULL)
                   FROM public.books"#,
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
    };
    assert!(
        awkward.0 > 0 && awkward.1 > 0 && awkward.2 > 0 && awkward.3 > 0 && awkward.4 > 0,
        "{awkward:?}"
    );

    // Authors: names trimmed, blanks NULL, the shop's local time given its zone.
    let legacy_authors = rows_by_key(
        &mut source,
        r#"SELECT "AuthorId"::int8, btrim("FullName"), nullif(btrim("Email"), ''), "Country"::text,
                  nullif(btrim("Bio"), ''), "CreatedAt"::text FROM shop."Authors""#,
    );
    let authors = rows_by_key(
        &mut target,
        "SELECT legacy_id, full_name, email, country::text, bio, (created_at AT TIME ZONE 'Europe/Paris')::text
         FROM public.authors",
    );
    assert_eq!(authors.len(), 191);
    for (key, row) in &authors {
        assert_eq!(row, &legacy_authors[key], "author {key}");
    }
    assert_eq!(authors[&17][1], "NULL", "a blank e-mail becomes NULL");
    assert_eq!(authors[&11][3], "NULL", "a blank bio becomes NULL");

    // Orders: the book resolved, the total exact, blank e-mails NULL.
    let legacy_orders = rows_by_key(
        &mut source,
        r#"SELECT "OrderId"::int8, "BookId"::text, nullif(btrim("CustomerEmail"), ''), "Quantity"::text,
                  "UnitPrice"::text, ("UnitPrice" * "Quantity")::numeric(12,2)::text, "OrderedAt"::text
           FROM shop."Orders""#,
    );
    let orders = rows_by_key(
        &mut target,
        "SELECT o.legacy_id, b.legacy_id::text, customer_email, quantity::text, unit_price::text, total::text,
                (ordered_at AT TIME ZONE 'Europe/Paris')::text
         FROM public.orders o JOIN public.books b ON b.id = o.book_id",
    );
    assert_eq!(
        orders.len(),
        with_fate(&mut source, &order_fates, "write").len()
    );
    for (key, row) in &orders {
        assert_eq!(row, &legacy_orders[key], "order {key}");
    }
    assert!(
        orders.values().any(|o| o[1] == "NULL"),
        "no blank e-mail became NULL"
    );

    // Keys: UUIDs the runner minted (v5); those of the tables other plugins resolve (authors,
    // books) recorded in its id map, orders' (which nothing resolves) not.
    let unmapped: i64 = target
        .query_one(
            "SELECT count(*) FROM (SELECT id FROM public.authors UNION ALL SELECT id FROM public.books) t
             WHERE substr(id::text, 15, 1) <> '5' OR NOT EXISTS (SELECT 1 FROM migration.id_map m WHERE m.id = t.id)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(unmapped, 0);
    let orders_unminted_or_mapped: i64 = target
        .query_one(
            "SELECT count(*) FROM public.orders t
             WHERE substr(id::text, 15, 1) <> '5' OR EXISTS (SELECT 1 FROM migration.id_map m WHERE m.id = t.id)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(orders_unminted_or_mapped, 0);
    // The reference table the migration does not own is as it was.
    let genres: i64 = target
        .query_one("SELECT count(*) FROM ref.genres", &[])
        .unwrap()
        .get(0);
    assert_eq!(genres, 6);

    // ------------------------------------------------------------------ keys of every shape
    spot_check_keys(&mut source, &mut target);

    // ------------------------------------------------------------------ validate, status, report
    let validated = json(&shop.host_ok("validate", &plan, &["--json"]));
    assert_eq!(validated["ok"], true, "{validated:#}");
    let money: Vec<&serde_json::Value> = validated["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == "money")
        .collect();
    assert_eq!(money.len(), 3, "{validated:#}");

    let status = json(&shop.host_ok("status", &plan, &["--json"]));
    let tables = status["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 9);
    for t in tables {
        assert_eq!(t["phase"], "done", "{t:#}");
        let n = |k: &str| t[k].as_i64().unwrap();
        assert_eq!(
            n("source_rows"),
            n("rows_written") + n("rows_skipped") + n("rows_rejected"),
            "{t:#}"
        );
    }
    assert_eq!(status["rows_read"], 4700 + 12 + 600 + 2023 + 1685 + 8 + 120);

    let report = shop.host_ok("report", &plan, &["-o", "bookshop.html"]);
    assert!(
        stdout(&report).contains("validation passed"),
        "{}",
        stdout(&report)
    );
    let html = std::fs::read_to_string(shop.cwd.join("bookshop.html")).unwrap();
    assert!(
        html.contains("Orders") && html.contains("books_genre_fkey"),
        "the report lacks the tables or the reasons"
    );
}

#[test]
fn bookshop_crashed_and_killed_mid_run_ends_identical_to_an_uninterrupted_run() {
    example_plan();
    // Both from source.sql run afresh: the script is deterministic, so the sources are equal.
    let reference = Shop::new("bookshop_reference");
    let plan = reference.plan_with_batch(50);
    run_ok(&mut host(&["run", plan.to_str().unwrap()]));
    let expected = digests(&mut reference.target());

    let shop = Shop::new("bookshop_killed");
    let plan = shop.plan_with_batch(50);
    let plan = plan.to_str().unwrap();
    // A crash (abort, no cleanup) just before the third batch of books commits...
    let crashed = host(&["run", plan])
        .env("FAILPOINTS", "before-commit=return(Books:3)")
        .output()
        .unwrap();
    assert!(!crashed.status.success());
    assert!(
        String::from_utf8_lossy(&crashed.stderr)
            .contains("failpoint before-commit:Books:3 reached"),
        "{}",
        String::from_utf8_lossy(&crashed.stderr)
    );
    let mut db = shop.target();
    assert_eq!(committed_batches(&mut db, Some("Books")), 2);
    // ...a crash just before the fourth batch of the partitioned sales, keyed by (date,
    // number), commits...
    let crashed = host(&["run", plan])
        .env("FAILPOINTS", "before-commit=return(Sales:4)")
        .output()
        .unwrap();
    assert!(!crashed.status.success());
    assert!(
        String::from_utf8_lossy(&crashed.stderr)
            .contains("failpoint before-commit:Sales:4 reached"),
        "{}",
        String::from_utf8_lossy(&crashed.stderr)
    );
    assert_eq!(committed_batches(&mut db, Some("Sales")), 3);
    // ...then kill -9 while the sales load, a few batches further...
    let mut child = spawn_paced_run(plan, 20);
    wait_for_batches(&mut db, Some("Sales"), 6);
    child.kill().unwrap();
    assert!(
        !child.wait().unwrap().success(),
        "the run finished before the kill"
    );
    let sales_done: i64 = db
        .query_one(
            "SELECT count(*) FROM migration.table_state WHERE table_name = 'Sales' AND phase = 'done'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(sales_done, 0);
    // ...and a plain run finishes it: the same target as the uninterrupted run, to the byte.
    run_ok(&mut host(&["run", plan]));
    assert_same_digests(&expected, &digests(&mut db));
    let validated = json(&run_ok(&mut host(&["validate", plan, "--json"])));
    assert_eq!(validated["ok"], true, "{validated:#}");
}

#[test]
fn bookshop_plugins_pass_their_fixtures() {
    example_plan();
    // Each plugin with at least `cases` cases: the Python, JavaScript and Rust ones.
    for (name, cases) in [
        ("authors", 4),
        ("books", 4),
        ("orders", 4),
        ("countries", 2),
        ("customers", 2),
        ("book_authors", 3),
        ("sales", 3),
        ("stores", 2),
        ("staff", 3),
    ] {
        let dir = example_dir();
        let out = run_ok(&mut host(&[
            "plugin",
            "test",
            dir.join("dist")
                .join(format!("{name}.wasm"))
                .to_str()
                .unwrap(),
            dir.join("plugins")
                .join(name)
                .join("fixtures.toml")
                .to_str()
                .unwrap(),
            "--json",
        ]));
        let report = json(&out);
        assert_eq!(report["ok"], true, "{name}: {report:#}");
        assert!(
            report["cases"].as_array().unwrap().len() >= cases,
            "{name}: {report:#}"
        );
    }
}

/// One boolean per case the example exists to show, from the catalogs of the legacy and the
/// new database as source.sql, reference.sql and target.sql make them: a case dropped from a
/// script fails here, whatever the plan runs.
#[test]
fn bookshop_schemas_hold_every_case() {
    let shop = Shop::new("bookshop_cases");
    let flag = |client: &mut Client, sql: &str| -> bool {
        client
            .query_one(sql, &[])
            .unwrap_or_else(|e| panic!("{e}: {sql}"))
            .get(0)
    };
    // The key columns of a legacy table, in key order, with their types.
    const KEY: &str = r#"SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY k.ord)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace,
             unnest(i.indkey) WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attnum = k.attnum
        WHERE i.indisprimary AND a.attrelid = c.oid AND n.nspname = 'shop' AND c.relname = $1"#;
    let mut source = shop.source();
    let key = |client: &mut Client, table: &str| -> String {
        client.query_one(KEY, &[&table]).unwrap().get(0)
    };
    assert_eq!(
        key(&mut source, "BookAuthors"),
        r#"BookId integer, AuthorId integer"#
    );
    assert_eq!(key(&mut source, "Countries"), "Code character(2)");
    assert_eq!(key(&mut source, "Customers"), "CustomerId uuid");
    assert_eq!(key(&mut source, "Sales"), "SoldOn date, SaleNo integer");
    let source_cases = [
        (
            "a table partitioned by month",
            r#"SELECT count(*) = 12 FROM pg_inherits WHERE inhparent = 'shop."Sales"'::regclass"#,
        ),
        (
            "neither Sales key column unique alone",
            r#"SELECT (SELECT count(DISTINCT "SoldOn") < count(*) AND count(DISTINCT "SaleNo") < count(*) FROM shop."Sales")"#,
        ),
        (
            "staff reporting to a higher key",
            r#"SELECT count(*) > 50 FROM shop."Staff" WHERE "ReportsTo" > "StaffId""#,
        ),
        (
            "staff reporting to a lower key",
            r#"SELECT count(*) > 5 FROM shop."Staff" WHERE "ReportsTo" < "StaffId""#,
        ),
        (
            "stores managed by their staff",
            r#"SELECT count(*) = 7 FROM shop."Stores" s JOIN shop."Staff" m ON m."StaffId" = s."ManagerId" AND m."StoreId" = s."StoreId""#,
        ),
        (
            "a store without a manager",
            r#"SELECT count(*) = 1 FROM shop."Stores" WHERE "ManagerId" IS NULL"#,
        ),
        (
            "an enum",
            r#"SELECT 'shop.book_format'::regtype IS NOT NULL"#,
        ),
        (
            "a domain",
            r#"SELECT typtype = 'd' FROM pg_type WHERE oid = 'shop.isbn13'::regtype"#,
        ),
        (
            "arrays",
            r#"SELECT count(*) = 2 FROM information_schema.columns WHERE table_schema = 'shop' AND data_type = 'ARRAY'"#,
        ),
        (
            "jsonb, bytea, tsvector",
            r#"SELECT count(DISTINCT udt_name) = 3 FROM information_schema.columns WHERE table_schema = 'shop' AND udt_name IN ('jsonb', 'bytea', 'tsvector')"#,
        ),
        (
            "quoted CamelCase names",
            r#"SELECT count(*) = 9 FROM pg_tables WHERE schemaname = 'shop' AND tablename ~ '^[A-Z][A-Za-z]+$'"#,
        ),
    ];
    for (case, sql) in source_cases {
        assert!(flag(&mut source, sql), "source.sql lacks {case}");
    }

    // The target as `host run` makes it, rehearsed here: reference.sql, then target.sql.
    let mut target = shop.target();
    target.batch_execute(&example_file("target.sql")).unwrap();
    const FK: &str = "SELECT count(*) > 0 FROM pg_constraint WHERE contype = 'f' AND conrelid = $1::text::regclass AND confrelid = $2::text::regclass";
    let fk = |client: &mut Client, from: &str, to: &str| -> bool {
        client.query_one(FK, &[&from, &to]).unwrap().get(0)
    };
    assert!(
        fk(&mut target, "public.books", "ref.genres"),
        "no foreign key into another schema"
    );
    assert!(
        fk(&mut target, "public.stores", "public.staff")
            && fk(&mut target, "public.staff", "public.stores"),
        "no cycle"
    );
    assert!(
        fk(&mut target, "public.staff", "public.staff"),
        "no self-reference"
    );
    let target_cases = [
        ("a link table without an id", "SELECT NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'book_authors' AND column_name = 'id')"),
        ("the cycle breakable at a nullable column", "SELECT NOT attnotnull FROM pg_attribute WHERE attrelid = 'public.stores'::regclass AND attname = 'manager_id'"),
    ];
    for (case, sql) in target_cases {
        assert!(flag(&mut target, sql), "target.sql lacks {case}");
    }
}

/// Every row of `sql`, each column as text (NULL as "NULL"), sorted: for comparing a legacy
/// query with a target one whatever their keys.
fn text_rows(client: &mut Client, sql: &str) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = client
        .query(sql, &[])
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
        .iter()
        .map(|r| {
            (0..r.len())
                .map(|i| {
                    r.get::<_, Option<String>>(i)
                        .unwrap_or_else(|| "NULL".into())
                })
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

fn count(client: &mut Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
        .get(0)
}

/// The tables whose keys are not one integer column: each target row compared with the
/// legacy row it came from, and what was left behind counted by its fate.
fn spot_check_keys(source: &mut Client, target: &mut Client) {
    // A text key: the codes kept as the new key; no id map rows.
    assert_eq!(
        text_rows(target, "SELECT code::text, name FROM public.countries"),
        text_rows(
            source,
            r#"SELECT "Code"::text, "Name" FROM shop."Countries""#
        )
    );
    // A uuid key, the id minted from it; two customers of a country the target does not hold are
    // refused by its foreign key and quarantined with PostgreSQL's reason.
    assert_eq!(
        text_rows(
            target,
            "SELECT legacy_id::text, full_name, email, country::text, customer_since::text FROM public.customers"
        ),
        text_rows(
            source,
            r#"SELECT "CustomerId"::text, btrim("FullName"), nullif(btrim("Email"), ''), "Country"::text, "Since"::text
               FROM shop."Customers" WHERE "Country" <> 'XX'"#
        )
    );
    let refused = text_rows(
        target,
        "SELECT legacy_key, reason FROM migration.quarantine WHERE table_name = 'Customers'",
    );
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|r| r[1].contains("customers_country_fkey")),
        "{refused:?}"
    );

    // A composite key: the links written are exactly those whose book and author were.
    let link_fates = format!(
        r#"SELECT l."BookId", l."AuthorId", l."Role", CASE
               WHEN b.fate = 'skip' THEN 'skip'
               WHEN b.fate IS DISTINCT FROM 'write' THEN 'orphan'
               WHEN a."DeletedAt" IS NOT NULL THEN 'skip'
               WHEN btrim(coalesce(a."FullName", '')) = '' THEN 'orphan'
               ELSE 'write' END AS fate
           FROM shop."BookAuthors" l LEFT JOIN ({BOOK_FATES}) b USING ("BookId")
                LEFT JOIN shop."Authors" a ON a."AuthorId" = l."AuthorId""#
    );
    assert_eq!(
        text_rows(
            target,
            "SELECT b.legacy_id::text, a.legacy_id::text, role::text FROM public.book_authors l
             JOIN public.books b ON b.id = l.book_id JOIN public.authors a ON a.id = l.author_id"
        ),
        text_rows(
            source,
            &format!(
                r#"SELECT "BookId"::text, "AuthorId"::text, "Role" FROM ({link_fates}) f WHERE fate = 'write'"#
            )
        )
    );
    for (state, fate) in [("skipped", "skip"), ("quarantine", "orphan")] {
        let left = count(
            target,
            &format!("SELECT count(*) FROM migration.{state} WHERE table_name = 'BookAuthors'"),
        );
        let expected = count(
            source,
            &format!("SELECT count(*) FROM ({link_fates}) f WHERE fate = '{fate}'"),
        );
        assert!(expected > 0, "no link is {fate}");
        assert_eq!(left, expected, "BookAuthors {state}");
    }
    // A partitioned table keyed by (date, number).
    let sale_fates = format!(
        r#"SELECT s.*, CASE
               WHEN b.fate = 'skip' THEN 'skip'
               WHEN b.fate IS DISTINCT FROM 'write' THEN 'orphan'
               WHEN c."Country" = 'XX' THEN 'refused'
               ELSE 'write' END AS fate
           FROM shop."Sales" s LEFT JOIN ({BOOK_FATES}) b USING ("BookId")
                LEFT JOIN shop."Customers" c USING ("CustomerId")"#
    );
    assert_eq!(
        text_rows(
            target,
            "SELECT sold_on::text, sale_no::text, b.legacy_id::text, c.legacy_id::text, quantity::text, amount::text
             FROM public.sales s JOIN public.books b ON b.id = s.book_id LEFT JOIN public.customers c ON c.id = s.customer_id"
        ),
        text_rows(
            source,
            &format!(
                r#"SELECT "SoldOn"::text, "SaleNo"::text, "BookId"::text, "CustomerId"::text, "Quantity"::text, "Amount"::text
                   FROM ({sale_fates}) f WHERE fate = 'write'"#
            )
        )
    );
    for (state, fates) in [("skipped", "'skip'"), ("quarantine", "'orphan', 'refused'")] {
        assert_eq!(
            count(
                target,
                &format!("SELECT count(*) FROM migration.{state} WHERE table_name = 'Sales'")
            ),
            count(
                source,
                &format!("SELECT count(*) FROM ({sale_fates}) f WHERE fate IN ({fates})")
            ),
            "Sales {state}"
        );
    }
    assert!(
        count(
            source,
            &format!("SELECT count(*) FROM ({sale_fates}) f WHERE fate = 'refused'")
        ) > 0
    );
}
