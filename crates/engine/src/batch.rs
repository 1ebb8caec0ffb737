//! A batch as the run loop and the state store both see it: the source rows read, the table
//! they belong to, and what became of each row once transformed and encoded for COPY. Below
//! both `run` (which drives the loop) and `store` (which commits batches), so neither needs
//! the other's internals.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;

use crate::check::{AdoptTarget, Prepared};
use crate::codec;
use crate::key::Key;
use crate::pg::{ident, qualified, Column};
use crate::state::{DeferredFk, TableCounts};
use crate::wasm::{Outcome, Value};

/// One source row: its key and values in the plugin's `reads` order.
#[derive(Debug, Clone)]
pub struct SourceRow {
    pub key: Key,
    pub values: Vec<Value>,
    /// Why the row cannot be decoded (invalid UTF-8 from a SQL_ASCII source...): it is
    /// quarantined without a plugin call, its text kept as well as it reads.
    pub unreadable: Option<String>,
}

impl crate::idmap::RowKeys for SourceRow {
    fn width(&self) -> usize {
        self.values.len()
    }

    fn key_at(&self, column: usize) -> Option<Key> {
        match self.values.get(column)? {
            Value::Int(n) => Some(Key::Int(*n)),
            Value::Null => None,
            other => crate::wasm::key_of(std::iter::once(other)).ok(),
        }
    }
}

/// What the batch loop knows of a table: a [`Prepared`] table without its plugin.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub name: String,
    pub source_table: String,
    /// The source key (the keyset pages' order).
    pub key: KeySpec,
    pub batch_size: usize,
    pub max_reject_rate: f64,
    /// The source columns the plugin reads, key first.
    pub source_columns: Vec<Column>,
    /// For each table the plugin writes (in its order), the target columns in its order.
    pub target_columns: Vec<(String, Vec<Column>)>,
    /// Set when an earlier migration already wrote this table's rows: they are adopted.
    pub adopt: Option<AdoptTarget>,
    /// Whether the analysis wants its id-map rows written (`TablePlan::keep_id_map`); what
    /// the commits follow is the decision recorded when the table began.
    pub keep_id_map: bool,
}

impl TableSpec {
    pub fn of(t: &Prepared) -> Self {
        TableSpec {
            name: t.plan.name.clone(),
            source_table: t.description.source_table.clone(),
            key: KeySpec::of(t),
            batch_size: t.plan.batch_size,
            max_reject_rate: t.plan.max_reject_rate,
            source_columns: t.source_columns.clone(),
            target_columns: t.target_columns.clone(),
            adopt: t.adopt_target(),
            keep_id_map: t.plan.keep_id_map,
        }
    }

    fn target_index(&self, table: &str) -> Option<usize> {
        self.target_columns.iter().position(|(t, _)| t == table)
    }
}

/// A table's key columns: where they are in the rows read, and their types.
#[derive(Debug, Clone, Default)]
pub struct KeySpec {
    /// The key columns, in key order.
    pub columns: Vec<String>,
    /// Each key column's position in the plugin's `reads`.
    pub positions: Vec<usize>,
    /// Each key column's declared type as SQL, to cast a key's text for comparisons.
    pub sql_types: Vec<String>,
}

impl KeySpec {
    pub fn of(t: &Prepared) -> Self {
        let mut spec = KeySpec::default();
        for name in &t.plan.key {
            let Some(position) = t.description.reads.iter().position(|r| r == name) else {
                continue;
            };
            spec.columns.push(name.clone());
            spec.positions.push(position);
            spec.sql_types.push(
                t.source_columns
                    .get(position)
                    .map_or_else(|| "text".to_string(), |c| c.sql_type.clone()),
            );
        }
        spec
    }

    /// The key of a row read in `reads` order.
    pub fn key_of(&self, values: &[Value]) -> Result<Key, String> {
        crate::wasm::key_of(self.positions.iter().filter_map(|&p| values.get(p)))
    }

    /// The key columns, quoted, comma-separated (an ORDER BY list).
    pub fn order_by(&self) -> String {
        self.columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `key` as typed SQL literals, parenthesized when there are several: `'7'::integer`,
    /// `('2024-01-31'::date, '7'::integer)`.
    pub fn literal(&self, key: &Key) -> Result<String, String> {
        let parts = key.parts(self.columns.len())?;
        let typed: Vec<String> = parts
            .iter()
            .zip(&self.sql_types)
            .map(|(p, t)| format!("{}::{t}", crate::pg::literal(p)))
            .collect();
        Ok(match typed.as_slice() {
            [one] => one.clone(),
            _ => format!("({})", typed.join(", ")),
        })
    }

    /// The key columns as one comparable SQL term: `"id"` or `("a", "b")`.
    pub fn term(&self) -> String {
        match self.columns.as_slice() {
            [one] => ident(one),
            _ => format!("({})", self.order_by()),
        }
    }
}

/// `run::adopt_extras_select` for the target schema `schema`.
pub fn adopt_extras_select_in(schema: &str, a: &AdoptTarget) -> String {
    format!(
        "SELECT $1::text, $2::text, t.{id}::text, t.{legacy}::int8,
                CASE WHEN t.{legacy} IS NULL THEN 'its legacy id is NULL'
                     WHEN EXISTS (SELECT 1 FROM migration.id_map m WHERE m.entity = $1 AND m.legacy_key = t.{legacy}::int8::text)
                       THEN 'a duplicate: another row with this legacy id was adopted'
                     ELSE 'no source row has this legacy id' END
         FROM {table} t
         WHERE NOT EXISTS (SELECT 1 FROM migration.id_map m WHERE m.entity = $1 AND m.id = t.{id})",
        legacy = ident(&a.legacy_id),
        id = ident(&a.id),
        table = qualified(schema, &a.table)
    )
}

/// A quarantined row's source values as JSON, by column name.
pub fn source_json(t: &TableSpec, row: &SourceRow) -> String {
    let map: serde_json::Map<String, serde_json::Value> = t
        .source_columns
        .iter()
        .zip(&row.values)
        .map(|(c, v)| (c.name.clone(), codec::to_json(v)))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// One foreign key set aside for the load, of a table the plugin writes: where its values
/// are in the batch. Each batch proves its distinct values have a parent before it commits.
#[derive(Debug, Clone)]
pub struct FkCheck {
    /// Index of the written table (as in `TableSpec::target_columns`) and of the column.
    pub table: usize,
    pub column: usize,
    pub fk: DeferredFk,
}

impl FkCheck {
    /// The checks of `deferred` that fall on tables `t` writes.
    pub fn for_table(t: &TableSpec, deferred: &[DeferredFk]) -> Vec<FkCheck> {
        deferred
            .iter()
            .filter_map(|fk| {
                let table = t.target_index(&fk.table)?;
                let column = t.target_columns[table]
                    .1
                    .iter()
                    .position(|c| c.name == fk.column)?;
                Some(FkCheck {
                    table,
                    column,
                    fk: fk.clone(),
                })
            })
            .collect()
    }
}

/// What became of one source row in a batch.
#[derive(Debug, Clone)]
pub enum Fate {
    Written(uuid::Uuid),
    Skipped(String),
    Quarantined(String),
}

/// A transformed batch, encoded for COPY.
pub struct Batch {
    pub fates: Vec<Fate>,
    /// COPY text per target table (indexed like `TableSpec::target_columns`).
    pub target_copy: Vec<Vec<u8>>,
    pub target_rows: i64,
    /// The distinct values of each set-aside foreign key (indexed like the writer's `FkCheck`s).
    pub fk_values: Vec<BTreeSet<String>>,
}

impl Batch {
    pub fn new(
        t: &TableSpec,
        fk_checks: &[FkCheck],
        rows: &[SourceRow],
        outcomes: Vec<Outcome>,
    ) -> Batch {
        let mut batch = Batch {
            fates: Vec::with_capacity(rows.len()),
            target_copy: vec![Vec::new(); t.target_columns.len()],
            target_rows: 0,
            fk_values: vec![BTreeSet::new(); fk_checks.len()],
        };
        let mut line = Vec::new();
        for (row, outcome) in rows.iter().zip(outcomes) {
            let fate = match outcome {
                Outcome::Skip(reason) => Fate::Skipped(reason),
                Outcome::Reject(reason) => Fate::Quarantined(reason),
                Outcome::Write(out) => match encode_rows(t, &out, &mut line) {
                    Err(reason) => Fate::Quarantined(reason),
                    Ok(encoded) => {
                        batch.add_rows(fk_checks, encoded);
                        Fate::Written(crate::idmap::mint(&t.name, &row.key))
                    }
                },
            };
            batch.fates.push(fate);
        }
        batch
    }

    /// One source row's encoded target rows, and their set-aside keys' values.
    fn add_rows(&mut self, fk_checks: &[FkCheck], encoded: Vec<(usize, Vec<u8>)>) {
        self.target_rows += encoded.len() as i64;
        for (i, bytes) in encoded {
            for (k, check) in fk_checks.iter().enumerate() {
                if check.table == i {
                    if let Some(v) = copy_field(&bytes, check.column) {
                        self.fk_values[k].insert(v);
                    }
                }
            }
            self.target_copy[i].extend_from_slice(&bytes);
        }
    }

    /// An adopted table's batch: fates as `adopt_fates` gives them, nothing written.
    pub fn adopt(
        &mut self,
        rows: &[SourceRow],
        existing: &HashMap<Key, uuid::Uuid>,
        a: &AdoptTarget,
    ) {
        adopt_fates(rows, &mut self.fates, existing, a);
        self.target_copy.clear();
        self.target_rows = 0;
        self.fk_values.clear();
    }

    pub fn quarantined(reason: String) -> Batch {
        Batch {
            fates: vec![Fate::Quarantined(reason)],
            target_copy: Vec::new(),
            target_rows: 0,
            fk_values: Vec::new(),
        }
    }

    pub(crate) fn counts(&self) -> TableCounts {
        let mut c = TableCounts {
            rows_read: self.fates.len() as i64,
            target_rows: self.target_rows,
            ..Default::default()
        };
        for f in &self.fates {
            match f {
                Fate::Written(_) => c.rows_written += 1,
                Fate::Skipped(_) => c.rows_skipped += 1,
                Fate::Quarantined(_) => c.rows_rejected += 1,
            }
        }
        c
    }
}

/// Field `n` of one COPY text line (without its newline), or None for NULL. Only for types
/// whose text needs no unescaping (uuid, integers).
fn copy_field(line: &[u8], n: usize) -> Option<String> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let field = line.split(|b| *b == b'\t').nth(n)?;
    (field != b"\\N").then(|| String::from_utf8_lossy(field).into_owned())
}

/// Encodes the rows one source row became, each with the index of its target table; the
/// first that does not fit gives the reason (the source row is quarantined).
fn encode_rows(
    t: &TableSpec,
    out: &[crate::wasm::TargetRow],
    line: &mut Vec<u8>,
) -> Result<Vec<(usize, Vec<u8>)>, String> {
    out.iter()
        .map(|row| encode_row(t, row, line).map(|i| (i, line.clone())))
        .collect()
}

/// Encodes one emitted row into `line`; returns the index of its target table.
fn encode_row(
    t: &TableSpec,
    row: &crate::wasm::TargetRow,
    line: &mut Vec<u8>,
) -> Result<usize, String> {
    line.clear();
    let Some(i) = t.target_index(&row.table) else {
        return Err(format!(
            "plugin emitted a row for table `{}`, which its describe() does not declare",
            row.table
        ));
    };
    let columns = &t.target_columns[i].1;
    if row.values.len() != columns.len() {
        return Err(format!(
            "plugin emitted {} values for {}, which declares {} columns",
            row.values.len(),
            row.table,
            columns.len()
        ));
    }
    for (n, (column, value)) in columns.iter().zip(&row.values).enumerate() {
        if n > 0 {
            line.push(b'\t');
        }
        codec::encode(line, column, value)
            .map_err(|m| format!("does not fit {}: {m}", row.table))?;
    }
    line.push(b'\n');
    Ok(i)
}

/// What becomes of the rows of an adopted table: a row the earlier migration wrote keeps its
/// UUID (whatever the plugin makes of it: children may already point at it); a row it missed
/// is quarantined for `host retry`; a row it rightly left out keeps the plugin's fate.
pub fn adopt_fates(
    rows: &[SourceRow],
    fates: &mut [Fate],
    existing: &HashMap<Key, uuid::Uuid>,
    a: &AdoptTarget,
) {
    for (row, fate) in rows.iter().zip(fates.iter_mut()) {
        match (existing.get(&row.key), &fate) {
            (Some(id), _) => *fate = Fate::Written(*id),
            (None, Fate::Written(_)) => {
                *fate = Fate::Quarantined(format!(
                    "missing in the adopted table: no row of {} has {} = {} (the earlier migration did not move it); `host retry` migrates it through the plugin",
                    a.table, a.legacy_id, row.key
                ))
            }
            (None, _) => {}
        }
    }
}

/// Where a table's source rows come from, page by page in key order.
pub trait PageSource: Sync {
    /// How many rows the table has.
    fn count(&self, t: &TableSpec) -> impl Future<Output = anyhow::Result<i64>> + Send;
    /// Up to `t.batch_size` rows with a key above `after` (from the first when None) and up to
    /// `upto` (to the last when None).
    fn page(
        &self,
        t: &TableSpec,
        after: Option<&Key>,
        upto: Option<&Key>,
    ) -> impl Future<Output = anyhow::Result<Vec<SourceRow>>> + Send;
    /// The keys of every `every`-th row in key order (the `every`-th, the `2 * every`-th...):
    /// where a table splits into chunks of `every` rows.
    fn split_points(
        &self,
        t: &TableSpec,
        every: i64,
    ) -> impl Future<Output = anyhow::Result<Vec<Key>>> + Send;
    /// The rows with these keys that are still there, in key order.
    fn rows_with_keys(
        &self,
        t: &TableSpec,
        keys: &[Key],
    ) -> impl Future<Output = anyhow::Result<Vec<SourceRow>>> + Send;
}
