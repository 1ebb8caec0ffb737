//! `host check`'s column-type checks: target columns no row can ever be written to, and the
//! same-named source → target column pairs (the common pass-through) whose types can never
//! convert. PostgreSQL itself decides, through probes inside a transaction (or savepoint)
//! that is rolled back: nothing changes in the target.
//!
//! Only what can *never* be written is a problem; a pair PostgreSQL can write through text
//! passes, even when some values would not fit (the run quarantines those rows with the
//! target's reason, and the dry run shows them).

use std::collections::HashMap;
use std::future::Future;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use crate::batch::SourceRow;
use crate::check::{Prepared, Problem};
use crate::codec;
use crate::pg::{self, ident, qualified, Column};
use crate::plan::Plan;
use crate::wasm::{Outcome, Value};

/// What the pass-through probe needs of the runner: the first source row `select` reads, as a
/// batch reads it, and what the table's plugin makes of it (resolving nothing). The runner
/// gives it (`run::PluginSampler`), so this module sits below run.rs, whose hot swaps run
/// these checks too.
pub trait PluginSample {
    /// None when there is no such row, it is unreadable, or the plugin could not run on it.
    fn sample(
        &self,
        source: &Client,
        select: &str,
        t: &Prepared,
    ) -> impl Future<Output = anyhow::Result<Option<(SourceRow, Vec<Outcome>)>>> + Send;
}

/// The first OID PostgreSQL gives to objects users create: types below it are built in and
/// mean the same in the source and the target.
const FIRST_USER_OID: u32 = 16384;

/// Every target column a plugin writes that can never be written (generated columns, types
/// with no input), then every pass-through pair whose types never convert (needs the source,
/// and `sampler` to run the plugin on a sampled row). `host check` runs it over every table
/// (`session::analyze`), a hot swap over the new component (`run::check_swap`).
pub async fn check(
    plan: &Plan,
    source: Option<&Client>,
    target: &Client,
    tables: &[Prepared],
    problems: &mut Vec<Problem>,
    sampler: &impl PluginSample,
) -> anyhow::Result<()> {
    let generated = generated_columns(target, &plan.target_schema).await?;
    let mut types = TypeNames::default();
    let mut no_input: HashMap<u32, Option<String>> = HashMap::new();
    for t in tables {
        let problem = |message: String| Problem {
            table: Some(t.plan.name.clone()),
            message,
        };
        for (table, columns) in &t.target_columns {
            for c in columns {
                let type_name = types.target(target, c.type_oid).await?;
                let name = &c.name;
                if let Some(expr) = generated.get(&(table.clone(), name.clone())) {
                    problems.push(problem(format!(
                        "target column {table}.{name} ({type_name}) is GENERATED ALWAYS AS ({expr}) STORED: PostgreSQL computes it, and COPY cannot write it (every batch would be refused)\n  hint: leave `{name}` out of the plugin's describe() writes; PostgreSQL fills it in"
                    )));
                    continue;
                }
                if codec::is_typed_by_codec(c) {
                    continue;
                }
                let why = match no_input.get(&c.type_oid) {
                    Some(why) => why.clone(),
                    None => {
                        let why = refuses_every_input(target, &type_name).await?;
                        no_input.insert(c.type_oid, why.clone());
                        why
                    }
                };
                if let Some(why) = why {
                    problems.push(problem(format!(
                        "target column {table}.{name} is of type {type_name}, which takes no input at all ({why}): no value the plugin sends can be written\n  hint: change the column's type in the target schema, or leave `{name}` out of the plugin's describe() writes"
                    )));
                }
            }
        }
    }
    if let Some(source) = source {
        for t in tables {
            check_pairs(plan, source, target, t, &mut types, problems, sampler).await?;
        }
    }
    Ok(())
}

/// `(table, column)` → generation expression, for the generated columns of `schema`.
async fn generated_columns(
    target: &Client,
    schema: &str,
) -> anyhow::Result<HashMap<(String, String), String>> {
    let rows = target
        .query(
            "SELECT c.relname::text, a.attname::text, pg_get_expr(d.adbin, d.adrelid)
             FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE n.nspname = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> ''",
            &[&schema],
        )
        .await
        .map_err(|e| pg::db_error("reading the target's generated columns", e))?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                (r.get(0), r.get(1)),
                r.get::<_, Option<String>>(2).unwrap_or_default(),
            )
        })
        .collect())
}

/// Why a type accepts no text at all (PostgreSQL refuses the type's input itself, as for
/// `pg_node_tree`), or None when it parses text (an empty string may still be invalid).
async fn refuses_every_input(target: &Client, type_name: &str) -> anyhow::Result<Option<String>> {
    let sql = format!("SELECT ''::text::{type_name}");
    Ok(match probe(target, &sql, &[]).await? {
        Err(e) if e.code() == Some(&SqlState::FEATURE_NOT_SUPPORTED) => Some(pg::error_text(&e)),
        _ => None,
    })
}

/// Type names as each side prints them (`format_type`: schema-qualified when not on the path).
#[derive(Default)]
struct TypeNames {
    source: HashMap<u32, String>,
    target: HashMap<u32, String>,
}

impl TypeNames {
    async fn target(&mut self, client: &Client, oid: u32) -> anyhow::Result<String> {
        Self::name(&mut self.target, client, oid).await
    }

    async fn source(&mut self, client: &Client, oid: u32) -> anyhow::Result<String> {
        Self::name(&mut self.source, client, oid).await
    }

    async fn name(
        cache: &mut HashMap<u32, String>,
        client: &Client,
        oid: u32,
    ) -> anyhow::Result<String> {
        if let Some(name) = cache.get(&oid) {
            return Ok(name.clone());
        }
        let name: String = client
            .query_one("SELECT format_type($1, NULL)", &[&oid])
            .await
            .map_err(|e| pg::db_error("reading a column type's name", e))?
            .get(0);
        cache.insert(oid, name.clone());
        Ok(name)
    }
}

/// A source column and the same-named target column a plugin writes.
struct Pair<'a> {
    source_index: usize,
    source: &'a Column,
    table: &'a str,
    target_index: usize,
    target: &'a Column,
}

/// The pass-through pairs of `t` whose types can never convert: a pair is only suspected when
/// PostgreSQL has no cast between the types and the source type's text is not free-form
/// (strings and JSON can hold anything); a suspect is a problem only when the plugin really
/// passes a sampled value through and PostgreSQL refuses that value's text.
async fn check_pairs(
    plan: &Plan,
    source: &Client,
    target: &Client,
    t: &Prepared,
    types: &mut TypeNames,
    problems: &mut Vec<Problem>,
    sampler: &impl PluginSample,
) -> anyhow::Result<()> {
    if t.source_columns.is_empty() {
        return Ok(());
    }
    let mut suspects = Vec::new();
    for (table, columns) in &t.target_columns {
        for (target_index, target_column) in columns.iter().enumerate() {
            let Some(source_index) = t
                .source_columns
                .iter()
                .position(|c| c.name == target_column.name)
            else {
                continue;
            };
            let pair = Pair {
                source_index,
                source: &t.source_columns[source_index],
                table,
                target_index,
                target: target_column,
            };
            if never_casts(source, target, &pair, types).await? {
                suspects.push(pair);
            }
        }
    }
    for pair in suspects {
        let refused = refused_pass_through(plan, source, target, t, &pair, types, sampler);
        if let Some(why) = refused.await? {
            let (from, to) = (
                types.source(source, pair.source.type_oid).await?,
                types.target(target, pair.target.type_oid).await?,
            );
            problems.push(Problem {
                table: Some(t.plan.name.clone()),
                message: format!(
                    "source {}.{} {from} -> target {}.{} {to}: the plugin passes the value through, and PostgreSQL cannot convert {from} to {to} ({why}): every row would be refused\n  hint: convert the value in the plugin, or give the target column a type {from} converts to (for example {from} itself)",
                    t.description.source_table, pair.source.name, pair.table, pair.target.name
                ),
            });
        }
    }
    Ok(())
}

/// Whether no value of the pair's source type can become its target type, as far as the
/// catalog tells: for an enum, every label is refused; for a built-in type whose text is not
/// free-form, PostgreSQL has no cast from it. Anything else (strings, JSON, composite and
/// extension types) is never suspected.
async fn never_casts(
    source: &Client,
    target: &Client,
    pair: &Pair<'_>,
    types: &mut TypeNames,
) -> anyhow::Result<bool> {
    let (s, t) = (pair.source, pair.target);
    let to = types.target(target, t.type_oid).await?;
    if let Some(labels) = &s.enum_labels {
        for label in labels {
            let sql = format!("SELECT $1::text::{to}");
            if probe(target, &sql, &[label]).await?.is_ok() {
                return Ok(false);
            }
        }
        return Ok(!labels.is_empty());
    }
    if s.type_oid >= FIRST_USER_OID || s.type_oid == t.type_oid {
        return Ok(false);
    }
    let (from_category, to_category) = (
        category(source, s.type_oid).await?,
        category(target, t.type_oid).await?,
    );
    // Strings hold any text, and JSON (category U) may hold a number or a word; a string,
    // JSON, xml or tsvector column reads almost any text; two arrays meet at the empty one.
    if matches!(from_category.as_str(), "S" | "U" | "X" | "P")
        || matches!(to_category.as_str(), "S" | "U" | "X" | "P")
        || (from_category == "A" && to_category == "A")
    {
        return Ok(false);
    }
    let from = types.source(source, s.type_oid).await?;
    let cast = probe(target, &format!("SELECT NULL::{from}::{to}"), &[]).await?;
    Ok(matches!(cast, Err(e) if e.code() == Some(&SqlState::CANNOT_COERCE)))
}

/// A type's category (`pg_type.typcategory`: A array, S string, U user-defined...).
async fn category(client: &Client, oid: u32) -> anyhow::Result<String> {
    Ok(client
        .query_one(
            "SELECT typcategory::text FROM pg_type WHERE oid = $1",
            &[&oid],
        )
        .await
        .map_err(|e| pg::db_error("reading a column type's category", e))?
        .get(0))
}

/// For a suspected pair: reads one source row with a value in the column, runs the plugin on
/// it and, when the plugin writes that very value to the target column and the codec lets it
/// through, asks PostgreSQL to read its text as the target type. Some(PostgreSQL's reason)
/// when it refuses; None when anything says otherwise (no such row, another value, a skip).
async fn refused_pass_through(
    plan: &Plan,
    source: &Client,
    target: &Client,
    t: &Prepared,
    pair: &Pair<'_>,
    types: &mut TypeNames,
    sampler: &impl PluginSample,
) -> anyhow::Result<Option<String>> {
    let select = format!(
        "SELECT {} FROM {} WHERE {} IS NOT NULL LIMIT 1",
        t.source_columns
            .iter()
            .map(|c| ident(&c.name))
            .collect::<Vec<_>>()
            .join(", "),
        qualified(&plan.source_schema, &t.description.source_table),
        ident(&pair.source.name)
    );
    let Some((row, outcomes)) = sampler.sample(source, &select, t).await? else {
        return Ok(None);
    };
    let (key, sent) = (row.key.clone(), row.values[pair.source_index].clone());
    let passed = outcomes.iter().any(|o| match o {
        Outcome::Write(out) => out
            .iter()
            .any(|r| r.table == pair.table && r.values.get(pair.target_index) == Some(&sent)),
        _ => false,
    });
    if !passed || sent == Value::Null {
        return Ok(None);
    }
    // The value's text as the source gives it: what PostgreSQL reads when the codec passes
    // the value on as text (a value the codec refuses for the column never gets that far).
    let mut encoded = Vec::new();
    if codec::encode(&mut encoded, pair.source, &sent).is_err() {
        return Ok(None);
    }
    let Some(Some(text)) = codec::split_copy_line(&encoded).into_iter().next() else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    let to = types.target(target, pair.target.type_oid).await?;
    Ok(
        match probe(target, &format!("SELECT $1::text::{to}"), &[&text]).await? {
            Err(e) if e.code().is_some_and(|c| c.code().starts_with("22")) => Some(format!(
                "{} for the value of key {}",
                pg::error_text(&e),
                key
            )),
            _ => None,
        },
    )
}

/// Runs `sql` on the target where it cannot change anything or break the session: inside a
/// savepoint rolled back when the session is in a transaction (`host check` rehearsing the
/// schema files), else inside a transaction rolled back. The outer Result is the session's;
/// the inner one the statement's.
async fn probe(
    client: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> anyhow::Result<Result<(), tokio_postgres::Error>> {
    let in_transaction = match client.batch_execute("SAVEPOINT host_type_probe").await {
        Ok(()) => true,
        Err(e) if e.code() == Some(&SqlState::NO_ACTIVE_SQL_TRANSACTION) => false,
        Err(e) => return Err(pg::db_error("probing a column type on the target", e)),
    };
    if !in_transaction {
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| pg::db_error("probing a column type on the target", e))?;
    }
    let result = client.query(sql, params).await.map(|_| ());
    let undo = if in_transaction {
        "ROLLBACK TO SAVEPOINT host_type_probe; RELEASE SAVEPOINT host_type_probe"
    } else {
        "ROLLBACK"
    };
    client
        .batch_execute(undo)
        .await
        .map_err(|e| pg::db_error("probing a column type on the target", e))?;
    Ok(result)
}
