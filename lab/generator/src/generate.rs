//! `host generate`: creates the legacy schema (schema/legacy.sql) in an empty database and fills
//! it with a deterministic, realistically dirty copy of the lab's data.
//!
//! The data is a pure function of (seed, scale): a fixed PRNG (splitmix64 + xoshiro256**, see
//! `generate/rng.rs`) with one stream per table, a fixed base date, no clock and no hash-map
//! iteration. One thread generates the tables in dependency order as COPY text chunks of about
//! 1 MB; the async side streams them into `COPY ... FROM STDIN`. What is generated, at which
//! counts, and every planted anomaly is described in docs/generator.md.

mod cases;
mod misc;
mod orders;
mod out;
mod people;
mod rng;
mod spec;
mod words;
mod world;

use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::SinkExt;
use std::pin::Pin;
use std::time::Instant;
use tokio_postgres::{Client, CopyInSink};

use engine::progress::thousands;
use engine::Error;
use out::Msg;

/// The legacy schema the generator creates.
const LEGACY_SQL: &str = include_str!("../../../schema/legacy.sql");

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "host generate",
    bin_name = "host generate",
    version,
    about = "The lab example's legacy database: created and filled with deterministic, realistically dirty data; or a target seeded as the lab's old scripts left it",
    after_help = "Exit codes: 0 success; 2 bad arguments; 4 a database could not be reached; 1 anything else."
)]
pub struct GenerateArgs {
    /// Scale factor: 1.0 gives the lab's real row counts (about 1.4M rows).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Seed of the random generator: the same seed and scale give the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The (empty) legacy database to create and fill.
    #[arg(long, env = "MIGRATE_SOURCE_URL", hide_env_values = true)]
    pub url: String,
    /// Drop the legacy tables first if they exist.
    #[arg(long)]
    pub replace: bool,
    /// Also prepare this empty target database as the lab's old scripts left it: the plan's
    /// `adopt = true` tables (offices, categories, profiles, brackets) already migrated, with
    /// random UUIDs and their legacy ids, and nothing else. `host run` then adopts them.
    #[arg(long, value_name = "URL")]
    pub seed_target: Option<String>,
    /// The plan whose `adopt` tables --seed-target fills.
    #[arg(long, default_value = "plan.toml", value_name = "PLAN")]
    pub plan: std::path::PathBuf,
    /// The legacy database at --url is already generated: only prepare --seed-target.
    #[arg(long, requires = "seed_target", conflicts_with = "replace")]
    pub existing_source: bool,
}

/// The largest scale accepted (the generator keeps a few parent columns in memory).
const MAX_SCALE: f64 = 1000.0;

pub async fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    if !args.existing_source {
        generate(args).await?;
    }
    if let Some(target) = &args.seed_target {
        let started = Instant::now();
        crate::seed_target::prepare(&args.plan, &args.url, target).await?;
        println!(
            "seed target ready in {:.1} s: its adopted tables hold rows with random UUIDs, as the old scripts left them",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

async fn generate(args: &GenerateArgs) -> anyhow::Result<()> {
    if !(args.scale.is_finite() && args.scale > 0.0 && args.scale <= MAX_SCALE) {
        return Err(Error::plan(format!(
            "--scale must be a number above 0 and at most {MAX_SCALE}, got {}",
            args.scale
        ))
        .into());
    }
    let started = Instant::now();
    // The plain connection (no session settings): the data must not depend on them.
    let client = engine::pg::open(&args.url, engine::pg::Side::Source)
        .await
        .map_err(|e| Error::connect(format!("--url: {e:#}")))?;

    let tables: Vec<String> = schema_tables(LEGACY_SQL)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    for t in &tables {
        if !spec::TABLES.iter().any(|s| s.name == t) {
            tracing::warn!("schema/legacy.sql table {t} has no generator: it stays empty");
        }
    }
    let existing: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relname::text = ANY($1) ORDER BY 1",
            &[&tables],
        )
        .await
        .context("listing existing tables")?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if !existing.is_empty() && !args.replace {
        bail!(
            "the database already has {} of the legacy tables ({}); refusing to touch them. \
             Rerun with --replace to drop and recreate them, or point --url at an empty database",
            existing.len(),
            existing.join(", ")
        );
    }

    // Everything happens in one transaction: a failure leaves the database as it was.
    client.batch_execute("BEGIN").await?;
    if !existing.is_empty() {
        println!(
            "dropping {} existing legacy tables (--replace)",
            existing.len()
        );
        let drop = format!("DROP TABLE IF EXISTS {} CASCADE", tables.join(", "));
        client
            .batch_execute(&drop)
            .await
            .context("dropping the legacy tables")?;
    }
    client
        .batch_execute(LEGACY_SQL)
        .await
        .context("creating the legacy schema (schema/legacy.sql)")?;
    println!("generating scale {} seed {} ...", args.scale, args.seed);

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(8);
    let (seed, scale) = (args.seed, args.scale);
    let producer = tokio::task::spawn_blocking(move || {
        let mut emit = |m: Msg| {
            tx.blocking_send(m)
                .map_err(|_| anyhow::Error::new(LoaderGone))
        };
        generate_all(seed, scale, &mut emit)
    });
    let loaded = load(&client, &mut rx).await;
    drop(rx);
    let produced = producer.await.context("the generator thread panicked")?;
    let loaded = match (loaded, produced) {
        (_, Err(err)) if !err.is::<LoaderGone>() => return Err(err.context("generating the data")),
        (Err(err), _) => return Err(err),
        (Ok(_), Err(err)) => return Err(err),
        (Ok(loaded), Ok(())) => loaded,
    };

    let mut fix = String::new();
    for (table, _) in &loaded {
        fix.push_str(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST(max(id), 1), max(id) IS NOT NULL) FROM {table};\n"
        ));
    }
    client
        .batch_execute(&fix)
        .await
        .context("setting the id sequences")?;
    client.batch_execute("COMMIT").await.context("committing")?;
    let analyze = format!(
        "ANALYZE {}",
        loaded
            .iter()
            .map(|(t, _)| *t)
            .collect::<Vec<_>>()
            .join(", ")
    );
    client.batch_execute(&analyze).await.context("analyzing")?;

    let total: u64 = loaded.iter().map(|(_, n)| n).sum();
    println!(
        "generated {} tables, {} rows (scale {}, seed {}) in {:.1} s",
        loaded.len(),
        thousands(total),
        args.scale,
        args.seed,
        started.elapsed().as_secs_f64()
    );
    drop(client);
    Ok(())
}

/// The generator stopped because the loader went away (the loader's error is the one to report).
#[derive(Debug)]
struct LoaderGone;

impl std::fmt::Display for LoaderGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the loader stopped")
    }
}

impl std::error::Error for LoaderGone {}

/// Streams the generator's chunks into COPY, one table after the other.
async fn load(
    client: &Client,
    rx: &mut tokio::sync::mpsc::Receiver<Msg>,
) -> anyhow::Result<Vec<(&'static str, u64)>> {
    let mut sink: Option<Pin<Box<CopyInSink<Bytes>>>> = None;
    let mut current = "";
    let mut table_started = Instant::now();
    let mut done = Vec::new();
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Begin { table, columns } => {
                let stmt = format!("COPY {table} ({}) FROM STDIN", columns.join(", "));
                let s = client
                    .copy_in(&stmt)
                    .await
                    .with_context(|| format!("starting COPY into {table}"))?;
                sink = Some(Box::pin(s));
                current = table;
                table_started = Instant::now();
            }
            Msg::Chunk(bytes) => {
                let s = sink
                    .as_mut()
                    .context("generator sent rows outside a table")?;
                s.send(bytes)
                    .await
                    .with_context(|| format!("COPY into {current}"))?;
            }
            Msg::End { table, rows } => {
                let mut s = sink
                    .take()
                    .context("generator ended a table it did not begin")?;
                let copied = s
                    .as_mut()
                    .finish()
                    .await
                    .with_context(|| format!("finishing COPY into {table}"))?;
                if copied != rows {
                    bail!("COPY into {table} stored {copied} rows, the generator wrote {rows}");
                }
                println!(
                    "  {table:<20} {:>10} rows  {:>6.2} s",
                    thousands(rows),
                    table_started.elapsed().as_secs_f64()
                );
                done.push((table, rows));
            }
        }
    }
    if sink.is_some() {
        bail!("the generator stopped in the middle of {current}");
    }
    Ok(done)
}

type TableFn = fn(&mut world::World, &mut out::Out<'_, '_>) -> anyhow::Result<()>;

fn table_fn(name: &str) -> Option<TableFn> {
    Some(match name {
        "offices" => people::offices,
        "categories" => people::categories,
        "profiles" => people::profiles,
        "brackets" => people::brackets,
        "products" => people::products,
        "technician_roles" => people::technician_roles,
        "technicians" => people::technicians,
        "doctors" => people::doctors,
        "doctor_offices" => people::doctor_offices,
        "patients" => people::patients,
        "orders" => orders::orders,
        "jaws" => orders::jaws,
        "projects" => orders::projects,
        "treatment_plans" => orders::treatment_plans,
        "tasks" => orders::tasks,
        "cases" => cases::cases,
        "case_states" => cases::case_states,
        "case_messages" => cases::case_messages,
        "case_files" => cases::case_files,
        "messages" => orders::messages,
        "message_attachments" => orders::message_attachments,
        "communications" => misc::communications,
        "order_files" => orders::order_files,
        "offers" => misc::offers,
        "discounts" => misc::discounts,
        "purchases" => orders::purchases,
        "customer_feedback" => orders::customer_feedback,
        "doctor_notes" => misc::doctor_notes,
        "comments" => misc::comments,
        "dispatch_state" => misc::dispatch_state,
        _ => return None,
    })
}

/// Generates every table in order and hands the COPY text to `emit`. A pure function of
/// (seed, scale): no clock, no I/O, no hash-map iteration.
fn generate_all(seed: u64, scale: f64, emit: &mut out::Emit<'_>) -> anyhow::Result<()> {
    let mut w = world::World::new(seed, scale);
    for t in spec::TABLES {
        let f = table_fn(t.name).with_context(|| format!("no generator for table {}", t.name))?;
        let mut o = out::Out::begin(t.name, t.columns, &mut *emit)?;
        f(&mut w, &mut o)?;
        let rows = o.finish()?;
        let expected = w.count(t.name);
        if rows as usize != expected {
            bail!(
                "generator bug: {} wrote {rows} rows instead of {expected}",
                t.name
            );
        }
    }
    Ok(())
}

/// Tables and their columns, in the order of the CREATE TABLE statements of a schema file.
fn schema_tables(sql: &str) -> Vec<(String, Vec<String>)> {
    let text: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(found) = lower[pos..].find("create table") {
        let start = pos + found + "create table".len();
        let rest = &text[start..];
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        let Some(open) = rest.find('(') else { break };
        let mut depth = 0;
        let mut close = open;
        for (i, c) in rest[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body = &rest[open + 1..close];
        let mut cols = Vec::new();
        let mut depth = 0;
        let mut item = String::new();
        for c in body.chars().chain(std::iter::once(',')) {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    let first = item.split_whitespace().next().unwrap_or("").to_string();
                    let kw = first.to_ascii_uppercase();
                    if !first.is_empty()
                        && !matches!(
                            kw.as_str(),
                            "PRIMARY" | "UNIQUE" | "CONSTRAINT" | "FOREIGN" | "CHECK" | "EXCLUDE"
                        )
                    {
                        cols.push(first.trim_matches('"').to_string());
                    }
                    item.clear();
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        out.push((name, cols));
        pos = start + close;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::collections::BTreeMap;

    /// Runs the generator without a database: per-table digest and row count.
    fn digest(seed: u64, scale: f64) -> (String, BTreeMap<&'static str, (u64, u64)>) {
        let mut all = Sha256::new();
        let mut per_table: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
        let mut current = "";
        let mut emit = |m: Msg| {
            match m {
                Msg::Begin { table, .. } => {
                    current = table;
                    all.update(table.as_bytes());
                }
                Msg::Chunk(b) => {
                    all.update(&b);
                    per_table.entry(current).or_default().1 += b.len() as u64;
                }
                Msg::End { table, rows } => per_table.entry(table).or_default().0 = rows,
            }
            Ok(())
        };
        generate_all(seed, scale, &mut emit).unwrap();
        (hex::encode(all.finalize()), per_table)
    }

    #[test]
    fn same_seed_same_bytes() {
        let (a, counts) = digest(42, 0.01);
        let (b, _) = digest(42, 0.01);
        let (c, _) = digest(43, 0.01);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(counts.len(), spec::TABLES.len());
        assert_eq!(counts["orders"].0, 231);
        assert_eq!(counts["categories"].0, 40);
        assert_eq!(counts["tasks"].0, 7626);
    }

    /// The promise of docs/generator.md: this output never changes by accident. If a change to
    /// the generator is meant to change the data, update the digest (and the docs' numbers).
    #[test]
    fn output_is_pinned() {
        let (digest, _) = digest(42, 0.01);
        assert_eq!(
            digest, "e17e67aaeb14a1c66eec0df931043db0b0524aeb67300a5eb9534ae7e709fbae",
            "the generated data changed (seed 42, scale 0.01)"
        );
    }

    /// Scale 1 is the lab's dataset, the one the benchmark and the docs' figures are about:
    /// pinned too, so what changes the small scales cannot move it.
    #[test]
    fn scale_one_output_is_pinned() {
        let (digest, counts) = digest(42, 1.0);
        assert_eq!(counts["tasks"].0, 762_604);
        assert_eq!(
            digest, "5e8f69163ffffa2a3b6dacbdfbd31c4deae5deb50d9e8df1501d88c9af8d8025",
            "the generated data changed (seed 42, scale 1)"
        );
    }

    #[test]
    fn every_schema_table_has_a_generator_with_the_same_columns() {
        let schema = schema_tables(LEGACY_SQL);
        assert_eq!(
            schema.len(),
            spec::TABLES.len(),
            "tables in schema/legacy.sql vs generator"
        );
        for (name, cols) in &schema {
            let s = spec::TABLES
                .iter()
                .find(|t| t.name == name)
                .unwrap_or_else(|| panic!("no generator for {name}"));
            assert_eq!(
                cols,
                &s.columns.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                "columns of {name}"
            );
            assert!(table_fn(name).is_some(), "no table function for {name}");
        }
    }

    #[test]
    fn rows_are_well_formed_copy_text() {
        let mut tables: BTreeMap<&'static str, (usize, Vec<u8>)> = BTreeMap::new();
        let mut current = "";
        let mut emit = |m: Msg| {
            match m {
                Msg::Begin { table, columns } => {
                    current = table;
                    tables.insert(table, (columns.len(), Vec::new()));
                }
                Msg::Chunk(b) => tables.get_mut(current).unwrap().1.extend_from_slice(&b),
                Msg::End { .. } => {}
            }
            Ok(())
        };
        generate_all(7, 0.02, &mut emit).unwrap();
        for (table, (ncols, data)) in &tables {
            let text = std::str::from_utf8(data).unwrap_or_else(|_| panic!("{table}: not UTF-8"));
            for (i, line) in text.lines().enumerate() {
                assert_eq!(
                    line.split('\t').count(),
                    *ncols,
                    "{table} row {i}: {line:?}"
                );
                let id = line.split('\t').next().unwrap();
                assert_eq!(id, (i + 1).to_string(), "{table}: ids are 1..n in order");
            }
        }
    }

    #[test]
    fn tiny_and_odd_scales_work() {
        for scale in [0.0001, 0.0003, 0.001, 0.0042, 0.05, 0.37] {
            let (_, counts) = digest(3, scale);
            for t in spec::TABLES {
                assert_eq!(
                    counts[t.name].0 as usize,
                    t.rows_at(scale),
                    "{} at scale {scale}",
                    t.name
                );
            }
        }
    }

    #[test]
    fn counts_follow_the_scale() {
        for t in spec::TABLES {
            assert!(t.rows_at(0.0001) >= 1);
            if !t.fixed {
                assert_eq!(t.rows_at(1.0), t.rows);
            }
        }
        assert_eq!(spec::spec("tasks").rows_at(1.0), 762_604);
        let total: usize = spec::TABLES.iter().map(|t| t.rows).sum();
        assert!((1_400_000..1_450_000).contains(&total), "{total}");
        assert_eq!(thousands(1_431_234), "1,431,234");
        assert_eq!(thousands(12), "12");
    }
}
