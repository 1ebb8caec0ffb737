//! Bulk-load mode: the target's foreign keys and plain indexes are set aside while a run
//! loads, and put back (and so proven) once at its end; the primary keys and unique keys of
//! tables it fills from empty are built as each table finishes.
//!
//! Per-row foreign-key triggers and random inserts into secondary B-trees are most of what a
//! row costs the target. While they are set aside, every batch still proves its own foreign
//! keys before it commits: one anti-join per key against the parent's primary key (set-based,
//! without the triggers' row locks), so a row pointing nowhere is refused and bisected to
//! exactly as before. What was set aside is recorded in `migration.deferred_constraints`, in the
//! same transaction that drops it, so an interrupted run loses nothing: the next run (or
//! `host rollback`) restores it. Restoring re-adds each foreign key *validated* (a key that was
//! NOT VALID comes back NOT VALID, a DEFERRABLE one DEFERRABLE: `pg_get_constraintdef` keeps
//! both), so the end of a run proves orphans = 0 across every key. Check constraints stay.
//!
//! Primary keys and unique keys (constraints and unique indexes) of a table the run fills
//! **from empty** are set aside too, and built back by [`build_table_keys`] as soon as the
//! plan table writing it has committed all its rows, before any table depending on it starts
//! (their batches prove their keys against its primary key). Random UUID keys make every
//! row's insert into those B-trees a random page write; one sorted build is far cheaper. A
//! build that finds duplicates does not fail the run: it refuses the same source rows an
//! index-maintained load refuses (rows commit in key order, so of each group of rows sharing a
//! value the one of the lowest source key stays; a row is refused when a value it holds was
//! taken by a row kept before it), quarantined in PostgreSQL's own words (`duplicate key value
//! violates unique constraint "X" (Key (c)=(v) already exists.)`, as a checked load records
//! it), their target rows deleted from every table the plan table writes, their id-map
//! entries dropped and the table's and batches' counts moved, in one transaction; then the
//! build goes on. A target row is traced to its source row through the first uuid column of
//! its table (in the plugin's order) whose every value is an id of the plan table in
//! `migration.id_map` (a row's own id, or its parent's id for a row split off it); a table
//! where no such column exists keeps the key set aside with the reason, for the operator.
//! These keys stay in place:
//! - when the table holds rows at the start (a resumed run keeps what it set aside itself, and
//!   sets nothing new aside over rows already written);
//! - when several plan tables write the table (it is built when one plan table finishes), or
//!   the plan table is `load_mode = "checked"` or adopted, or one of its tables has no uuid
//!   column to trace a row by, or its id map is not kept (nothing resolves it: a duplicate
//!   is traced back to its source row through the map);
//! - when its plan table resolves its own rows (a self-reference through the id map): a later
//!   row may have resolved a row the build then quarantines, which an index-maintained load
//!   never committed, so the results would differ. A forward reference from another table is
//!   fine: settling sets a reference to a quarantined row to NULL either way;
//! - when a foreign key in place references it (it needs the index), or a set-aside foreign key
//!   of a table the same plan table writes does (its batches prove it against the index), so
//!   a parent whose child is split off it with `ON DELETE CASCADE` keeps its primary key;
//! - over expressions, partial, NULLS NOT DISTINCT, exclusion constraints, replica identities,
//!   partitions, or what something else depends on (dropped under a savepoint: it stays).
//!
//! One difference with a checked load remains: a row the load refused over a key kept in
//! place, repeating a row the build then quarantines, stays quarantined (a checked load would
//! have kept it): `host retry` writes it.
//!
//! Only what no other session can be affected by is set aside. A foreign key stays in place
//! when its parent table is not loaded by this run (a key into `auth.users`, into another
//! schema, into a table already done or adopted: other sessions may change the parent while
//! we load), when it has an ON DELETE / ON UPDATE action other than NO ACTION or RESTRICT (a
//! concurrent DELETE on the parent would skip its CASCADE), or when it spans several columns.
//! Tables of `load_mode = "checked"` keep everything. Whatever is set aside that the current
//! rule would not set aside (an older run, a plan changed since) is put back before loading.
//!
//! A forward reference (a cycle broken at a key, a self-reference: see order.rs) is different:
//! its row may point at a row not written yet, so its key is set aside whatever the load mode,
//! is NOT proven per batch, and stays set aside across runs until it is settled: once every
//! table writing either side is done, `settle` sets each reference to a row that never came
//! (skipped, quarantined, missing) to NULL and records it in `migration.dangling_refs`, and
//! stamps the key settled in `migration.forward_refs`, all in one transaction; then the key is
//! put back validated like any other. When `host retry` later writes a row such a reference
//! pointed at, `relink` gives the reference its id back. A NOT NULL column with such
//! references is not changed: the key stays set aside and the run reports it.

use anyhow::Context;
use tokio_postgres::Client;

use tracing::warn;

use crate::batch::{source_json, TableSpec};
use crate::key::Key;
use crate::order::ForwardRef;
use crate::pg::{error_text, ident, qualified};
use crate::plan::LoadMode;
use crate::state::{ConstraintKind, StateValue};
// Kept here by name too: set-aside keys are this module's subject; the records are state.
pub use crate::state::DeferredFk;

/// Column types a foreign key may have to be checked per batch (their COPY text needs no
/// unescaping); keys of other types stay in place.
const CHECKED_TYPES: &[&str] = &["uuid", "int2", "int4", "int8"];

/// The target tables a run writes, and which of them it loads in bulk.
#[derive(Debug, Default, Clone)]
pub struct Loading {
    /// Target tables of the tables this run writes (not done, not adopted), any load mode.
    pub written: Vec<String>,
    /// Of those, the tables whose keys and indexes may be set aside (`load_mode = "bulk"`, and
    /// no table of `load_mode = "checked"` writes them too).
    pub bulk: Vec<String>,
    /// The forward references set aside whatever the load mode: those of tables this run
    /// writes, and those set aside earlier and not settled yet.
    pub forward: Vec<ForwardRef>,
    /// Of `bulk`, the tables whose primary key and unique keys may be set aside too, each
    /// with the one plan table writing it (see the module doc): (target table, plan table).
    pub keyed: Vec<(String, String)>,
}

impl Loading {
    fn is_keyed(&self, table: &str) -> bool {
        self.keyed.iter().any(|(t, _)| t == table)
    }

    fn is_forward(&self, table: &str, name: &str) -> bool {
        self.forward
            .iter()
            .any(|f| f.table == table && f.name == name)
    }
}

/// The actions PostgreSQL prints in a key's definition that make it unsafe to set aside.
const ACTIONS: &[&str] = &["CASCADE", "SET NULL", "SET DEFAULT"];

fn has_action(definition: &str) -> bool {
    ACTIONS.iter().any(|a| {
        definition.contains(&format!("ON DELETE {a}"))
            || definition.contains(&format!("ON UPDATE {a}"))
    })
}

/// One row of `migration.deferred_constraints`.
#[derive(Debug, Clone)]
struct Record {
    table: String,
    name: String,
    kind: ConstraintKind,
    definition: String,
    column: Option<String>,
    ref_schema: Option<String>,
    ref_table: Option<String>,
    ref_column: Option<String>,
}

impl Record {
    /// The DDL that puts it back in `schema`.
    fn ddl(&self, schema: &str) -> String {
        // A key's definition is recorded as the whole statement that re-creates it.
        if self.kind == ConstraintKind::ForeignKey {
            format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {}",
                qualified(schema, &self.table),
                ident(&self.name),
                self.definition
            )
        } else {
            self.definition.clone()
        }
    }

    /// The line that says it could not be put back, and why.
    fn failure_line(&self, why: &str) -> String {
        let kind = match self.kind {
            ConstraintKind::ForeignKey => "foreign key",
            ConstraintKind::Index => "index",
            ConstraintKind::Key => "key",
        };
        format!("{kind} {} on {}: {why}", self.name, self.table)
    }

    /// Whether `defer` would set this aside now.
    fn still_wanted(&self, schema: &str, loading: &Loading) -> bool {
        if self.kind == ConstraintKind::ForeignKey && loading.is_forward(&self.table, &self.name) {
            return true;
        }
        if self.kind == ConstraintKind::Key {
            return loading.is_keyed(&self.table);
        }
        if !loading.bulk.contains(&self.table) {
            return false;
        }
        if self.kind != ConstraintKind::ForeignKey {
            return true;
        }
        self.ref_schema.as_deref() == Some(schema)
            && self
                .ref_table
                .as_ref()
                .is_some_and(|t| loading.written.contains(t))
            && !has_action(&self.definition)
    }
}

/// Sets aside the foreign keys and plain (non-unique) indexes of `loading.bulk` in `schema`
/// that only this run can affect (see the module doc), recording each; returns how many are
/// set aside now. What an earlier run set aside stays if the rule still wants it, and is put
/// back first otherwise (the result of that is returned too).
pub async fn defer(
    client: &mut Client,
    schema: &str,
    loading: &Loading,
) -> anyhow::Result<(usize, Restored)> {
    let put_back = restore_where(client, schema, |r| !r.still_wanted(schema, loading)).await?;
    let mut tx = client.transaction().await?;
    record_forward(&tx, loading).await?;
    let fks = keys_to_set_aside(&tx, schema, loading).await?;
    let indexes = tx
        .query(
            "SELECT ic.relname::text, c.relname::text, pg_get_indexdef(i.indexrelid)
             FROM pg_index i
             JOIN pg_class ic ON ic.oid = i.indexrelid
             JOIN pg_class c ON c.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = ANY($2) AND NOT i.indisunique AND NOT i.indisprimary
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
               AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid OR h.inhparent = i.indexrelid)
             ORDER BY 2, 1",
            &[&schema, &loading.bulk],
        )
        .await
        .context("listing the target's indexes")?;
    for r in &fks {
        let (name, table): (String, String) = (r.get(0), r.get(1));
        tx.execute(
            "INSERT INTO migration.deferred_constraints (table_name, name, kind, definition, column_name, ref_schema, ref_table, ref_column, type_name)
             VALUES ($1, $2, 'fk', $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            &[&table, &name, &r.get::<_, String>(2), &r.get::<_, String>(3), &r.get::<_, String>(4), &r.get::<_, String>(5), &r.get::<_, String>(6), &r.get::<_, String>(7)],
        )
        .await?;
        tx.batch_execute(&format!(
            "ALTER TABLE {} DROP CONSTRAINT {}",
            qualified(schema, &table),
            ident(&name)
        ))
        .await
        .with_context(|| format!("setting aside foreign key {name} of {table}"))?;
    }
    for r in &indexes {
        let (name, table): (String, String) = (r.get(0), r.get(1));
        tx.execute(
            "INSERT INTO migration.deferred_constraints (table_name, name, kind, definition)
             VALUES ($1, $2, 'index', $3) ON CONFLICT DO NOTHING",
            &[&table, &name, &r.get::<_, String>(2)],
        )
        .await?;
        tx.batch_execute(&format!("DROP INDEX {}", qualified(schema, &name)))
            .await
            .with_context(|| format!("setting aside index {name} of {table}"))?;
    }
    set_aside_keys(&mut tx, schema, loading).await?;
    tx.commit().await?;
    let now = count(client).await?;
    Ok((now.total(), put_back))
}

/// The foreign keys `defer` sets aside: those of `loading.bulk` only this run can affect, and
/// the forward references.
async fn keys_to_set_aside(
    tx: &tokio_postgres::Transaction<'_>,
    schema: &str,
    loading: &Loading,
) -> anyhow::Result<Vec<tokio_postgres::Row>> {
    let (forward_tables, forward_names): (Vec<&str>, Vec<&str>) = loading
        .forward
        .iter()
        .map(|f| (f.table.as_str(), f.name.as_str()))
        .unzip();
    tx
        .query(
            "SELECT con.conname::text, c.relname::text, pg_get_constraintdef(con.oid),
                    a.attname::text, rn.nspname::text, r.relname::text, ra.attname::text,
                    format_type(a.atttypid, NULL)
             FROM pg_constraint con
             JOIN pg_class c ON c.oid = con.conrelid
             JOIN pg_class r ON r.oid = con.confrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_namespace rn ON rn.oid = r.relnamespace
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
             JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = con.confkey[1]
             JOIN pg_type ty ON ty.oid = a.atttypid
             WHERE con.contype = 'f' AND con.conparentid = 0 AND cardinality(con.conkey) = 1
               AND n.nspname = $1
               AND ((c.relname = ANY($2) AND ty.typname = ANY($3)
                     AND rn.nspname = $1 AND r.relname = ANY($4)
                     AND con.confdeltype IN ('a', 'r') AND con.confupdtype IN ('a', 'r'))
                    OR (c.relname::text, con.conname::text) IN (SELECT * FROM unnest($5::text[], $6::text[])))
             ORDER BY 2, 1",
            &[&schema, &loading.bulk, &CHECKED_TYPES, &loading.written, &forward_tables, &forward_names],
        )
        .await
        .context("listing the target's foreign keys")
}

/// Records the forward references set aside, in the transaction that sets them aside.
async fn record_forward(
    tx: &tokio_postgres::Transaction<'_>,
    loading: &Loading,
) -> anyhow::Result<()> {
    for f in &loading.forward {
        // Rows this run writes may hold forward references: not settled, whatever an earlier
        // run (before a rollback) recorded.
        let written = loading.written.contains(&f.table);
        tx.execute(
            "INSERT INTO migration.forward_refs (table_name, name, column_name, ref_table)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (table_name, name) DO UPDATE SET settled_at = NULL, nulled = NULL WHERE $5",
            &[&f.table, &f.name, &f.column, &f.ref_table, &written],
        )
        .await
        .context("recording the forward references")?;
    }
    Ok(())
}

/// How many keys and indexes are set aside.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct SetAside {
    pub foreign_keys: i64,
    pub indexes: i64,
}

impl SetAside {
    pub fn total(&self) -> usize {
        (self.foreign_keys + self.indexes) as usize
    }
}

/// What is set aside now (nothing when the state schema is missing).
pub async fn count(client: &Client) -> anyhow::Result<SetAside> {
    if !crate::state::has_deferred_table(client).await? {
        return Ok(SetAside::default());
    }
    let r = client
        .query_one(
            "SELECT count(*) FILTER (WHERE kind = 'fk'), count(*) FILTER (WHERE kind <> 'fk')
             FROM migration.deferred_constraints",
            &[],
        )
        .await
        .context("reading migration.deferred_constraints")?;
    Ok(SetAside {
        foreign_keys: r.get(0),
        indexes: r.get(1),
    })
}

/// What set-aside keys `status`, `validate`, `report`, `check` and `run` say first, in one line on
/// stderr, and carry in their JSON: how many, whether a running command holds them, and how to
/// put them back. None when nothing is set aside.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Warning {
    pub foreign_keys: i64,
    pub indexes: i64,
    /// The command that set them aside and is still running (None: it was interrupted).
    pub running: Option<crate::lock::Holder>,
    pub message: String,
}

/// Prints the set-aside warning (see `Warning`) and returns it.
pub async fn warn_if_set_aside(
    client: &Client,
    plan: &std::path::Path,
) -> anyhow::Result<Option<Warning>> {
    let n = count(client).await?;
    if n.total() == 0 {
        return Ok(None);
    }
    let running = crate::lock::holder(client).await?;
    let what = format!(
        "{} foreign key(s) and {} index(es) of the target are set aside",
        n.foreign_keys, n.indexes
    );
    let message = match &running {
        Some(h) if h.command.as_deref() == Some("run") => {
            format!("{what} by the run in progress ({h}): it puts them back at its end")
        }
        _ => format!(
            "{what} by an interrupted run: `host run {}` puts them back (so does `host rollback`)",
            plan.display()
        ),
    };
    eprintln!("warning: {message}");
    Ok(Some(Warning {
        foreign_keys: n.foreign_keys,
        indexes: n.indexes,
        running,
        message,
    }))
}

/// What putting keys back achieved.
#[derive(Debug, Default)]
pub struct Restored {
    /// Keys and indexes put back.
    pub restored: usize,
    /// One line per key or index that could not be (it stays set aside, with the reason).
    pub failed: Vec<String>,
}

/// Puts back everything set aside (see `restore_where`).
pub async fn restore(client: &mut Client, schema: &str) -> anyhow::Result<Restored> {
    restore_where(client, schema, |_| true).await
}

/// Puts back everything set aside but the forward references not settled yet (their
/// referenced rows may still come: they are put back when settled).
pub async fn restore_settled(client: &mut Client, schema: &str) -> anyhow::Result<Restored> {
    let waiting = unsettled(client).await?;
    restore_where(client, schema, |r| {
        !waiting.iter().any(|(t, n)| *t == r.table && *n == r.name)
    })
    .await
}

/// The forward references recorded and not settled yet, as (table, key name).
async fn unsettled(client: &Client) -> anyhow::Result<Vec<(String, String)>> {
    if !has_forward_refs_table(client).await? {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT table_name, name FROM migration.forward_refs WHERE settled_at IS NULL",
            &[],
        )
        .await
        .context("reading migration.forward_refs")?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

async fn has_forward_refs_table(
    client: &impl tokio_postgres::GenericClient,
) -> anyhow::Result<bool> {
    Ok(client
        .query_one(
            "SELECT to_regclass('migration.forward_refs') IS NOT NULL",
            &[],
        )
        .await?
        .get(0))
}

/// The foreign keys set aside that each batch proves: all but the forward references not
/// settled yet (their referenced rows may not exist yet).
pub async fn deferred_fks(client: &Client) -> anyhow::Result<Vec<DeferredFk>> {
    let waiting = unsettled(client).await?;
    let mut fks = crate::state::deferred_fks(client).await?;
    fks.retain(|fk| !waiting.iter().any(|(t, n)| *t == fk.table && *n == fk.name));
    Ok(fks)
}

/// What settling a forward reference came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Settled now: this many references to rows that never came were set to NULL.
    Now { nulled: i64 },
    /// Settled by an earlier run.
    Before,
    /// Never set aside as a forward reference (PostgreSQL checked every row as it came).
    NotSetAside,
    /// The column is NOT NULL and this many rows point at no row: nothing changed.
    Dangling { rows: i64, missing: Vec<String> },
}

/// Settles forward reference `f` (every table writing either side done): in one transaction,
/// each reference to a row that is not there is set to NULL and recorded in
/// `migration.dangling_refs`, and the key is stamped settled; then the key is put back
/// validated. Idempotent: a settled key is left as it is. A NOT NULL column with dangling
/// references is not changed (`Settled::Dangling`).
pub async fn settle(
    client: &mut Client,
    schema: &str,
    f: &ForwardRef,
) -> anyhow::Result<(Settled, Restored)> {
    let settled = settle_rows(client, schema, f).await?;
    if let Settled::Dangling { rows, missing } = &settled {
        let why = why_unsettled(f, *rows, missing);
        client
            .execute(
                "UPDATE migration.forward_refs SET refused = $3 WHERE table_name = $1 AND name = $2",
                &[&f.table, &f.name, &why],
            )
            .await
            .context("recording why a forward reference could not be settled")?;
    }
    crate::failpoint::crash_point("after-settle", &f.table, 1);
    let restored = match settled {
        Settled::Dangling { .. } => Restored::default(),
        _ => {
            restore_where(client, schema, |r| {
                r.kind == ConstraintKind::ForeignKey && r.table == f.table && r.name == f.name
            })
            .await?
        }
    };
    Ok((settled, restored))
}

async fn settle_rows(client: &mut Client, schema: &str, f: &ForwardRef) -> anyhow::Result<Settled> {
    let tx = client.transaction().await?;
    if !has_forward_refs_table(&tx).await? {
        return Ok(Settled::NotSetAside);
    }
    let settled: Option<bool> = tx
        .query_opt(
            "SELECT settled_at IS NOT NULL FROM migration.forward_refs
             WHERE table_name = $1 AND name = $2 FOR UPDATE",
            &[&f.table, &f.name],
        )
        .await
        .context("reading migration.forward_refs")?
        .map(|r| r.get(0));
    match settled {
        None => return Ok(Settled::NotSetAside),
        Some(true) => return Ok(Settled::Before),
        Some(false) => {}
    }
    let table = qualified(schema, &f.table);
    let column = ident(&f.column);
    let dangling = format!(
        "c.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {} p WHERE p.{} = c.{column})",
        qualified(schema, &f.ref_table),
        ident(&f.ref_column)
    );
    if let Some(refused) = not_null_dangling(&tx, &table, f, &dangling).await? {
        return Ok(refused);
    }
    let row_id = row_id_expression(&tx, &table).await?;
    let nulled = tx
        .execute(
            &format!(
                "INSERT INTO migration.dangling_refs (table_name, column_name, row_id, missing_id, ref_table)
                 SELECT $1, $2, {row_id}, c.{column}::text, $3 FROM {table} c WHERE {dangling}
                 ON CONFLICT (table_name, column_name, row_id) DO UPDATE
                 SET missing_id = EXCLUDED.missing_id, ref_table = EXCLUDED.ref_table, settled_at = EXCLUDED.settled_at"
            ),
            &[&f.table, &f.column, &f.ref_table],
        )
        .await
        .with_context(|| format!("recording the dangling references of {}.{}", f.table, f.column))?;
    tx.execute(
        &format!("UPDATE {table} c SET {column} = NULL WHERE {dangling}"),
        &[],
    )
    .await
    .with_context(|| {
        format!(
            "setting the dangling references of {}.{} to NULL",
            f.table, f.column
        )
    })?;
    tx.execute(
        "UPDATE migration.forward_refs SET settled_at = clock_timestamp(), nulled = $3, refused = NULL
         WHERE table_name = $1 AND name = $2",
        &[&f.table, &f.name, &(nulled as i64)],
    )
    .await?;
    tx.commit().await?;
    if nulled > 0 {
        tracing::info!(table = %f.table, key = %f.name, nulled, "references to rows that never came set to NULL (recorded in migration.dangling_refs)");
    }
    Ok(Settled::Now {
        nulled: nulled as i64,
    })
}

/// Why `f` could not be settled: `rows` rows of its NOT NULL column point at rows that never
/// came (`missing`: some of their ids).
pub fn why_unsettled(f: &ForwardRef, rows: i64, missing: &[String]) -> String {
    format!(
        "{rows} row(s) of {} point with {} at no row of {} (ids {}: those rows were skipped, quarantined or are missing in the source), and {}.{} is NOT NULL: nothing was changed",
        f.table,
        f.column,
        f.ref_table,
        missing.join(", "),
        f.table,
        f.column
    )
}

/// Puts back the references settling set to NULL whose row has come since (`host retry`
/// wrote the quarantined row they pointed at): each gets the id it held again, and leaves
/// `migration.dangling_refs`, in one statement per key. Returns how many were put back.
pub async fn relink(client: &Client, schema: &str, refs: &[ForwardRef]) -> anyhow::Result<u64> {
    if !crate::state::has_table(client, "dangling_refs").await? {
        return Ok(0);
    }
    let mut relinked = 0;
    for f in refs {
        let table = qualified(schema, &f.table);
        let column = ident(&f.column);
        let referenced = qualified(schema, &f.ref_table);
        let ref_column = ident(&f.ref_column);
        let row_id = row_id_expression(client, &table).await?;
        let n = client
            .execute(
                &format!(
                    "WITH back AS (
                         DELETE FROM migration.dangling_refs d
                         USING {table} c, {referenced} p
                         WHERE d.table_name = $1 AND d.column_name = $2 AND d.row_id = {row_id}
                           AND c.{column} IS NULL AND p.{ref_column}::text = d.missing_id
                         RETURNING d.row_id, d.missing_id)
                     UPDATE {table} c SET {column} = p.{ref_column}
                     FROM back JOIN {referenced} p ON p.{ref_column}::text = back.missing_id
                     WHERE {row_id} = back.row_id"
                ),
                &[&f.table, &f.column],
            )
            .await
            .with_context(|| {
                format!(
                    "putting back the references of {}.{} to rows written since",
                    f.table, f.column
                )
            })?;
        if n > 0 {
            tracing::info!(table = %f.table, key = %f.name, relinked = n, "references set to NULL when settled point at their rows again (written since)");
        }
        relinked += n;
    }
    Ok(relinked)
}

/// When `f`'s column is NOT NULL and rows hold `dangling` references: how many, and some of
/// the ids they hold (such a column is never changed).
async fn not_null_dangling(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    f: &ForwardRef,
    dangling: &str,
) -> anyhow::Result<Option<Settled>> {
    let not_null: bool = tx
        .query_one(
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = $1::text::regclass AND attname = $2",
            &[&table, &f.column],
        )
        .await
        .with_context(|| format!("reading column {}.{}", f.table, f.column))?
        .get(0);
    if !not_null {
        return Ok(None);
    }
    let column = ident(&f.column);
    let r = tx
        .query_one(
            &format!(
                "SELECT count(*), coalesce((array_agg(DISTINCT c.{column}::text))[1:5], '{{}}') FROM {table} c WHERE {dangling}"
            ),
            &[],
        )
        .await
        .with_context(|| format!("looking for dangling references in {}", f.table))?;
    let rows: i64 = r.get(0);
    Ok((rows > 0).then(|| Settled::Dangling {
        rows,
        missing: r.get(1),
    }))
}

/// The text naming one row of `table` (as `c`): its primary key, or the whole row when it
/// has none.
async fn row_id_expression(
    client: &impl tokio_postgres::GenericClient,
    table: &str,
) -> anyhow::Result<String> {
    let columns: Vec<String> = client
        .query(
            "SELECT a.attname::text FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[])
             WHERE i.indrelid = $1::text::regclass AND i.indisprimary
             ORDER BY array_position(i.indkey::int2[], a.attnum)",
            &[&table],
        )
        .await
        .context("reading the primary key")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(match columns.as_slice() {
        [] => "c::text".to_string(),
        [one] => format!("c.{}::text", ident(one)),
        many => format!(
            "row({})::text",
            many.iter()
                .map(|c| format!("c.{}", ident(c)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// References set to NULL when settled, per table and column (for `host validate`).
pub async fn dangling_counts(client: &Client) -> anyhow::Result<Vec<(String, String, i64)>> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('migration.dangling_refs') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT table_name, column_name, count(*) FROM migration.dangling_refs GROUP BY 1, 2 ORDER BY 1, 2",
            &[],
        )
        .await
        .context("reading migration.dangling_refs")?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// In `sample` (a temporary copy of rows of target table `table`, with its `id` column), sets
/// to NULL the forward references that settling set to NULL in the table itself, so a
/// re-transformed sample compares equal to what the run left.
pub async fn null_settled_in(client: &Client, sample: &str, table: &str) -> anyhow::Result<()> {
    for (t, column, _) in dangling_counts(client).await? {
        if t != table {
            continue;
        }
        client
            .execute(
                &format!(
                    "UPDATE {sample} s SET {col} = NULL FROM migration.dangling_refs d
                     WHERE d.table_name = $1 AND d.column_name = $2 AND d.row_id = s.id::text
                       AND d.missing_id = s.{col}::text",
                    col = ident(&column)
                ),
                &[&t, &column],
            )
            .await
            .with_context(|| format!("applying the settled references of {t}.{column}"))?;
    }
    Ok(())
}

/// Forgets the dangling references recorded for `tables` (emptied by a rollback), and their
/// settled forward references (so `host status` does not call an emptied table's key settled;
/// the next run records it again). One not settled yet stays: its key is still set aside.
pub async fn forget_dangling(
    tx: &tokio_postgres::Transaction<'_>,
    tables: &[String],
) -> anyhow::Result<()> {
    let exists: bool = tx
        .query_one(
            "SELECT to_regclass('migration.dangling_refs') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if exists {
        tx.execute(
            "DELETE FROM migration.dangling_refs WHERE table_name = ANY($1)",
            &[&tables],
        )
        .await
        .context("clearing migration.dangling_refs")?;
        tx.execute(
            "DELETE FROM migration.forward_refs WHERE table_name = ANY($1) AND settled_at IS NOT NULL",
            &[&tables],
        )
        .await
        .context("clearing migration.forward_refs")?;
    }
    Ok(())
}

/// Sets aside, in the transaction `defer` sets the rest aside in, the primary keys, unique
/// constraints and unique indexes of `loading.keyed` (recording each): for each plan table whose
/// tables are all empty (filled from empty; a resumed run keeps what it set aside before, and
/// sets aside nothing new over rows already written). A key stays in place when a foreign key
/// in place references it (it needs the index), when a set-aside foreign key of a table the
/// same plan table writes references it (each batch proves those against it), and when it
/// is not a plain one: over expressions, partial, NULLS NOT DISTINCT, an exclusion
/// constraint, a replica identity, a partition's. Each drop runs under a savepoint: a key
/// something else depends on (a view grouping by it...) simply stays.
async fn set_aside_keys(
    tx: &mut tokio_postgres::Transaction<'_>,
    schema: &str,
    loading: &Loading,
) -> anyhow::Result<()> {
    let mut plan_tables: Vec<&str> = loading.keyed.iter().map(|(_, p)| p.as_str()).collect();
    plan_tables.sort();
    plan_tables.dedup();
    for plan_table in plan_tables {
        let tables: Vec<String> = loading
            .keyed
            .iter()
            .filter(|(_, p)| p == plan_table)
            .map(|(t, _)| t.clone())
            .collect();
        if !all_empty(tx, schema, &tables).await? {
            continue;
        }
        let keys = tx
            .query(
                "SELECT c.relname::text, ic.relname::text, con.conname::text,
                        CASE WHEN con.oid IS NULL THEN pg_get_indexdef(i.indexrelid) ELSE pg_get_constraintdef(con.oid) END,
                        ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, o)
                              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.o)
                 FROM pg_index i
                 JOIN pg_class ic ON ic.oid = i.indexrelid
                 JOIN pg_class c ON c.oid = i.indrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u')
                 WHERE n.nspname = $1 AND c.relname = ANY($2) AND c.relkind = 'r'
                   AND i.indisunique AND i.indisvalid AND NOT i.indisreplident
                   AND i.indexprs IS NULL AND i.indpred IS NULL
                   AND pg_get_indexdef(i.indexrelid) NOT LIKE '%NULLS NOT DISTINCT%'
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype NOT IN ('p', 'u'))
                   AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid OR h.inhparent = i.indexrelid)
                   AND NOT EXISTS (SELECT 1 FROM migration.deferred_constraints d
                                   WHERE d.kind = 'fk' AND d.ref_schema = $1 AND d.ref_table = c.relname
                                     AND d.table_name = ANY($2))
                 ORDER BY 1, i.indisprimary DESC, 2",
                &[&schema, &tables],
            )
            .await
            .context("listing the target's primary keys and unique keys")?;
        for r in &keys {
            set_key_aside(tx, schema, r).await?;
        }
    }
    Ok(())
}

/// Drops one key `set_aside_keys` listed (`r`: table, index, constraint, definition, columns)
/// and records it, under a savepoint: a key something else depends on stays in place.
async fn set_key_aside(
    tx: &mut tokio_postgres::Transaction<'_>,
    schema: &str,
    r: &tokio_postgres::Row,
) -> anyhow::Result<()> {
    let (table, index): (String, String) = (r.get(0), r.get(1));
    let constraint: Option<String> = r.get(2);
    let definition: String = r.get(3);
    let columns: Vec<String> = r.get(4);
    let relation = qualified(schema, &table);
    let (name, ddl, drop) = match &constraint {
        Some(con) => (
            con.clone(),
            format!(
                "ALTER TABLE {relation} ADD CONSTRAINT {} {definition}",
                ident(con)
            ),
            format!("ALTER TABLE {relation} DROP CONSTRAINT {}", ident(con)),
        ),
        None => (
            index.clone(),
            definition,
            format!("DROP INDEX {}", qualified(schema, &index)),
        ),
    };
    let savepoint = tx.savepoint("set_aside_key").await?;
    if let Err(e) = savepoint.batch_execute(&drop).await {
        tracing::info!(%table, key = %name, "kept in place: {}", error_text(&e));
        savepoint.rollback().await?;
        return Ok(());
    }
    savepoint
        .execute(
            "INSERT INTO migration.deferred_constraints (table_name, name, kind, definition, column_name)
             VALUES ($1, $2, 'key', $3, $4) ON CONFLICT DO NOTHING",
            &[&table, &name, &ddl, &serde_json::to_string(&columns)?],
        )
        .await?;
    savepoint.commit().await?;
    Ok(())
}

/// Whether none of `tables` (in `schema`) holds a row.
async fn all_empty(
    tx: &tokio_postgres::Transaction<'_>,
    schema: &str,
    tables: &[String],
) -> anyhow::Result<bool> {
    for table in tables {
        let relation = qualified(schema, table);
        let empty: bool = tx
            .query_one(
                &format!("SELECT NOT EXISTS (SELECT 1 FROM {relation})"),
                &[],
            )
            .await
            .with_context(|| format!("looking for rows in {relation}"))?
            .get(0);
        if !empty {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What building a finished table's keys came to.
#[derive(Debug, Default)]
pub struct Built {
    /// Keys built.
    pub built: usize,
    /// Source rows quarantined as duplicates.
    pub quarantined: i64,
    /// One line per key that could not be built (it stays set aside, with the reason).
    pub failed: Vec<String>,
}

/// Builds the primary keys and unique keys set aside for the tables `spec` writes, once all
/// its rows are committed (before any table depending on it starts: their batches prove
/// their keys against these). A build that finds duplicates does not fail: of each group
/// of rows sharing a value, the row of the lowest source key stays (the one an
/// index-maintained load commits first, rows committing in key order), and each other
/// source row is quarantined in PostgreSQL's words, its target rows in every table deleted,
/// its id-map entry dropped and the counts moved, in one transaction (see
/// `quarantine_duplicates`); then the build goes on.
pub async fn build_table_keys<R: crate::batch::PageSource>(
    client: &mut Client,
    schema: &str,
    spec: &TableSpec,
    source: &R,
) -> anyhow::Result<Built> {
    let mut built = Built::default();
    if !crate::state::has_deferred_table(client).await? {
        return Ok(built);
    }
    let tables: Vec<&str> = spec
        .target_columns
        .iter()
        .map(|(t, _)| t.as_str())
        .collect();
    let mut crashed_here = false;
    loop {
        let keys: Vec<Record> = records(client)
            .await?
            .into_iter()
            .filter(|r| r.kind == ConstraintKind::Key && tables.contains(&r.table.as_str()))
            .collect();
        if keys.is_empty() {
            return Ok(built);
        }
        if !crashed_here {
            // Between the load and the build: a kill here must lose nothing.
            crate::failpoint::crash_point("before-key-build", &spec.name, 1);
            crashed_here = true;
        }
        let mut duplicates = false;
        let mut left = Vec::new();
        for rec in &keys {
            let clock = std::time::Instant::now();
            match put_back(client, schema, rec).await? {
                Ok(()) => {
                    built.built += 1;
                    tracing::info!(table = %rec.table, key = %rec.name, seconds = format!("{:.1}", clock.elapsed().as_secs_f64()), "key built");
                }
                Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                    duplicates = true;
                    left.push(rec.clone());
                }
                Err(e) => {
                    let why = error_text(&e);
                    record_error(client, rec, &why).await?;
                    built.failed.push(rec.failure_line(&why));
                }
            }
        }
        if !duplicates {
            return Ok(built);
        }
        match quarantine_duplicates(client, schema, spec, source, &left).await? {
            Ok(n) if n > 0 => built.quarantined += n,
            outcome => {
                let why = match outcome {
                    Err(why) => why,
                    Ok(_) => "duplicates found, yet none could be told apart".to_string(),
                };
                let why =
                    format!("{why}: remove the duplicate rows by hand, then `host run` builds it");
                for rec in &left {
                    record_error(client, rec, &why).await?;
                    built.failed.push(rec.failure_line(&why));
                }
                return Ok(built);
            }
        }
    }
}

async fn record_error(client: &Client, rec: &Record, why: &str) -> anyhow::Result<()> {
    client
        .execute(
            "UPDATE migration.deferred_constraints SET error = $3 WHERE table_name = $1 AND name = $2",
            &[&rec.table, &rec.name, &why],
        )
        .await?;
    Ok(())
}

/// One target row in a group of rows sharing a value of a set-aside key.
struct Duplicate {
    /// Which key (index into the keys being built) and which group of it.
    group: (usize, i64),
    /// PostgreSQL's words for the row refused over this group.
    reason: String,
}

/// Finds the source rows the keys `keys` (of tables `spec` writes) refuse, as an
/// index-maintained load refuses them: source rows in key order, each refused when one of
/// its target rows repeats a value a row kept before it holds (or another of its own rows
/// does), and quarantines them with their target rows, id-map entries and counts in one
/// transaction. Returns how many; `Err(why)` when the rows cannot be traced to their source
/// rows (nothing changed).
async fn quarantine_duplicates<R: crate::batch::PageSource>(
    client: &mut Client,
    schema: &str,
    spec: &TableSpec,
    source: &R,
    keys: &[Record],
) -> anyhow::Result<Result<i64, String>> {
    let links = match trace_links(client, schema, spec).await? {
        Ok(links) => links,
        Err(why) => return Ok(Err(why)),
    };
    let by_key = match duplicate_groups(client, schema, spec, keys, &links).await? {
        Ok(groups) => groups,
        Err(why) => return Ok(Err(why)),
    };
    let refused = refused_in_key_order(by_key);
    if refused.is_empty() {
        return Ok(Ok(0));
    }
    remove_refused(client, schema, spec, source, &refused, &links)
        .await
        .map(Ok)
}

/// For each table `spec` writes, the uuid column linking its rows to their source rows
/// through the id map (see `link_column`); Err says which table cannot be traced.
async fn trace_links(
    client: &Client,
    schema: &str,
    spec: &TableSpec,
) -> anyhow::Result<Result<Vec<(String, String)>, String>> {
    let name = &spec.name;
    let mut links = Vec::new();
    for (table, columns) in &spec.target_columns {
        match link_column(client, schema, name, table, columns).await? {
            Some(c) => links.push((table.clone(), c)),
            None => {
                return Ok(Err(format!(
                    "the rows of {table} cannot be traced to their source rows (none of its uuid columns holds {name}'s id from migration.id_map in every row)"
                )))
            }
        }
    }
    Ok(Ok(links))
}

/// The rows in groups of duplicates of each set-aside key, by source key (Err: a row with no
/// source row in the id map).
async fn duplicate_groups(
    client: &Client,
    schema: &str,
    spec: &TableSpec,
    keys: &[Record],
    links: &[(String, String)],
) -> anyhow::Result<Result<std::collections::BTreeMap<Key, Vec<Duplicate>>, String>> {
    let name = &spec.name;
    let mut by_key: std::collections::BTreeMap<Key, Vec<Duplicate>> = Default::default();
    for (i, rec) in keys.iter().enumerate() {
        let columns: Vec<String> = rec
            .column
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .with_context(|| {
                format!("the columns of set-aside key {} are not recorded", rec.name)
            })?;
        let link = &links
            .iter()
            .find(|(t, _)| *t == rec.table)
            .expect("every table linked")
            .1;
        let list = columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let shown = columns
            .iter()
            .map(|c| format!("{}::text", ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let relation = qualified(schema, &rec.table);
        let rows = client
            .query(
                &format!(
                    "WITH d AS (SELECT t.{link} AS link_id, {list} FROM {relation} t
                                WHERE ({list}) IN (SELECT {list} FROM {relation} GROUP BY {list} HAVING count(*) > 1))
                     SELECT (dense_rank() OVER (ORDER BY {list}))::int8, m.legacy_key, concat_ws(', ', {shown}),
                            (SELECT string_agg(quote_ident(x), ', ' ORDER BY o) FROM unnest($2::text[]) WITH ORDINALITY u(x, o))
                     FROM d LEFT JOIN migration.id_map m ON m.entity = $1 AND m.id = d.link_id",
                    link = ident(link)
                ),
                &[name, &columns],
            )
            .await
            .with_context(|| format!("looking for the duplicates of {} in {}", rec.name, rec.table))?;
        for r in &rows {
            let Some(key) = r.get::<_, Option<String>>(1) else {
                return Ok(Err(format!(
                    "a row of {} repeating a value of {} has no source row in migration.id_map",
                    rec.table, rec.name
                )));
            };
            let reason = format!(
                "target refused the row: duplicate key value violates unique constraint \"{}\" (Key ({})=({}) already exists.)",
                rec.name,
                r.get::<_, String>(3),
                r.get::<_, String>(2)
            );
            by_key
                .entry(Key::from_stored(&key))
                .or_default()
                .push(Duplicate {
                    group: (i, r.get(0)),
                    reason,
                });
        }
    }
    Ok(Ok(by_key))
}

/// Deletes the target rows of the `refused` source rows in every table `spec` writes (children
/// first), takes them out of the id map, quarantines them with their reasons and fixes the
/// counts, in one transaction. Returns how many were refused.
async fn remove_refused<R: crate::batch::PageSource>(
    client: &mut Client,
    schema: &str,
    spec: &TableSpec,
    source: &R,
    refused: &[(Key, String)],
    links: &[(String, String)],
) -> anyhow::Result<i64> {
    let name = &spec.name;
    let keys_refused: Vec<Key> = refused.iter().map(|(k, _)| k.clone()).collect();
    let rows: std::collections::HashMap<Key, String> = source
        .rows_with_keys(spec, &keys_refused)
        .await?
        .iter()
        .map(|r| (r.key.clone(), source_json(spec, r)))
        .collect();
    let batches = client
        .query(
            "SELECT batch_no, first_key, last_key, component_sha256 FROM migration.batches
             WHERE table_name = $1 AND kind = 'run' AND rows_written > 0 ORDER BY batch_no",
            &[name],
        )
        .await?;
    let stored: Vec<String> = keys_refused.iter().map(Key::to_string).collect();
    let tx = client.transaction().await?;
    let ids: std::collections::HashMap<uuid::Uuid, String> = tx
        .query(
            "DELETE FROM migration.id_map WHERE entity = $1 AND legacy_key = ANY($2) RETURNING id, legacy_key",
            &[name, &stored],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let id_list: Vec<uuid::Uuid> = ids.keys().copied().collect();
    let mut target_rows: std::collections::HashMap<String, i32> = Default::default();
    // Children first: a key in place from a later table into an earlier one refuses the
    // parent's delete otherwise.
    for (table, link) in links.iter().rev() {
        let deleted = tx
            .query(
                &format!(
                    "DELETE FROM {} WHERE {} = ANY($1) RETURNING {}",
                    qualified(schema, table),
                    ident(link),
                    ident(link)
                ),
                &[&id_list],
            )
            .await
            .with_context(|| format!("deleting the duplicate rows of {table}"))?;
        for r in &deleted {
            if let Some(key) = ids.get(&r.get::<_, uuid::Uuid>(0)) {
                *target_rows.entry(key.clone()).or_default() += 1;
            }
        }
    }
    let total_target_rows =
        quarantine_refused(&tx, name, refused, &rows, &batches, &target_rows).await?;
    let n = refused.len() as i64;
    tx.execute(
        "UPDATE migration.table_state SET rows_written = rows_written - $2, rows_rejected = rows_rejected + $2,
                target_rows = target_rows - $3, updated_at = clock_timestamp()
         WHERE table_name = $1",
        &[name, &n, &total_target_rows],
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// Quarantines each refused source row (its source row, reason, batch and component) and
/// takes it off its batch's counts. Returns the target rows removed with them.
async fn quarantine_refused(
    tx: &tokio_postgres::Transaction<'_>,
    name: &str,
    refused: &[(Key, String)],
    rows: &std::collections::HashMap<Key, String>,
    batches: &[tokio_postgres::Row],
    target_rows: &std::collections::HashMap<String, i32>,
) -> anyhow::Result<i64> {
    let mut total_target_rows = 0i64;
    for (key, reason) in refused {
        let stored = key.to_string();
        let batch = batches
            .iter()
            .rev()
            .find(|b| Key::from_stored(b.get(1)) <= *key && *key <= Key::from_stored(b.get(2)));
        let (batch_no, sha): (i64, String) = match batch {
            Some(b) => (b.get(0), b.get(3)),
            None => (0, String::new()),
        };
        let deleted = target_rows.get(&stored).copied().unwrap_or(0);
        total_target_rows += deleted as i64;
        tx.execute(
            "INSERT INTO migration.quarantine (table_name, legacy_key, source_row, reason, component_sha256, batch_no)
             VALUES ($1, $2, $3::text::jsonb, $4, $5, $6)",
            &[&name, &stored, &rows.get(key).cloned().unwrap_or_else(|| "{}".into()), reason, &sha, &batch_no],
        )
        .await
        .context("quarantining a duplicate row")?;
        tx.execute(
            "UPDATE migration.batches SET rows_written = rows_written - 1, rows_rejected = rows_rejected + 1,
                    target_rows = target_rows - $3
             WHERE table_name = $1 AND batch_no = $2 AND kind = 'run'",
            &[&name, &batch_no, &deleted],
        )
        .await?;
        warn!(key = %key, %reason, "a key's build refused this row; quarantining it");
    }
    Ok(total_target_rows)
}

/// The source rows an index-maintained load refuses, with the reason, from each source row's
/// places in groups of duplicates: in key order, a row is refused when a group it is in was
/// taken by a row kept before it, or it is twice in one group; otherwise it is kept and
/// takes its groups.
fn refused_in_key_order(
    by_key: std::collections::BTreeMap<Key, Vec<Duplicate>>,
) -> Vec<(Key, String)> {
    let mut taken = std::collections::HashSet::new();
    let mut refused = Vec::new();
    for (key, places) in by_key {
        let clash = places.iter().enumerate().find(|(i, d)| {
            taken.contains(&d.group) || places[..*i].iter().any(|e| e.group == d.group)
        });
        match clash {
            Some((_, d)) => refused.push((key, d.reason.clone())),
            None => taken.extend(places.iter().map(|d| d.group)),
        }
    }
    refused
}

/// The column of `table` that names each row's source row: the first uuid column (in the
/// plugin's order) whose every value is an id of `entity` in the id map.
async fn link_column(
    client: &Client,
    schema: &str,
    entity: &str,
    table: &str,
    columns: &[crate::pg::Column],
) -> anyhow::Result<Option<String>> {
    for c in columns.iter().filter(|c| c.type_name == "uuid") {
        let linked: bool = client
            .query_one(
                &format!(
                    "SELECT NOT EXISTS (SELECT 1 FROM {} t WHERE NOT EXISTS
                        (SELECT 1 FROM migration.id_map m WHERE m.entity = $1 AND m.id = t.{}))",
                    qualified(schema, table),
                    ident(&c.name)
                ),
                &[&entity],
            )
            .await
            .with_context(|| format!("tracing the rows of {table} to their source rows"))?
            .get(0);
        if linked {
            return Ok(Some(c.name.clone()));
        }
    }
    Ok(None)
}

/// Puts back what `pick` selects of what is set aside: indexes first (so the keys' checks can
/// use them), then each foreign key, added validated (unless it was NOT VALID), each in its
/// own transaction with its record. A key whose rows do not all have their parent stays set
/// aside, with the reason recorded and the count of those rows.
async fn restore_where(
    client: &mut Client,
    schema: &str,
    pick: impl Fn(&Record) -> bool,
) -> anyhow::Result<Restored> {
    if !crate::state::has_deferred_table(client).await? {
        return Ok(Restored::default());
    }
    let mut done = Restored::default();
    for rec in records(client).await?.into_iter().filter(|r| pick(r)) {
        match put_back(client, schema, &rec).await? {
            Ok(()) => done.restored += 1,
            Err(e) => {
                let why = failure_reason(client, schema, &rec, &e).await;
                client
                    .execute(
                        "UPDATE migration.deferred_constraints SET error = $3 WHERE table_name = $1 AND name = $2",
                        &[&rec.table, &rec.name, &why],
                    )
                    .await?;
                done.failed.push(rec.failure_line(&why));
            }
        }
    }
    Ok(done)
}

/// Everything set aside, indexes first.
async fn records(client: &Client) -> anyhow::Result<Vec<Record>> {
    let rows = client
        .query(
            "SELECT table_name, name, kind, definition, column_name, ref_schema, ref_table, ref_column
             FROM migration.deferred_constraints
             ORDER BY kind = 'fk', table_name, name",
            &[],
        )
        .await
        .context("reading the constraints set aside")?;
    rows.iter()
        .map(|r| {
            Ok(Record {
                table: r.get(0),
                name: r.get(1),
                kind: ConstraintKind::parse(r.get(2))?,
                definition: r.get(3),
                column: r.get(4),
                ref_schema: r.get(5),
                ref_table: r.get(6),
                ref_column: r.get(7),
            })
        })
        .collect()
}

/// Re-creates one key or index and forgets its record, in one transaction; PostgreSQL's
/// refusal is returned as the inner error (nothing changed then).
async fn put_back(
    client: &mut Client,
    schema: &str,
    rec: &Record,
) -> anyhow::Result<Result<(), tokio_postgres::Error>> {
    let tx = client.transaction().await?;
    let result = match tx.batch_execute(&rec.ddl(schema)).await {
        Ok(()) => tx
            .execute(
                "DELETE FROM migration.deferred_constraints WHERE table_name = $1 AND name = $2",
                &[&rec.table, &rec.name],
            )
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            tx.commit().await?;
            Ok(Ok(()))
        }
        Err(e) => Ok(Err(e)),
    }
}

/// Why a key could not be put back: PostgreSQL's words, and for a key violated by rows, how
/// many rows point nowhere.
async fn failure_reason(
    client: &Client,
    schema: &str,
    rec: &Record,
    e: &tokio_postgres::Error,
) -> String {
    let why = error_text(e);
    if e.code() != Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) {
        return why;
    }
    match orphans(client, schema, rec).await {
        Some(n) => format!(
            "{n} row(s) of {} point to no row of {} (another session changed them while the key was set aside?): {why}",
            rec.table,
            rec.ref_table.as_deref().unwrap_or("its parent")
        ),
        None => why,
    }
}

/// The rows of a set-aside key's table whose value has no parent row (None: not countable).
async fn orphans(client: &Client, schema: &str, rec: &Record) -> Option<i64> {
    let (column, ref_table, ref_column) = (
        rec.column.as_ref()?,
        rec.ref_table.as_ref()?,
        rec.ref_column.as_ref()?,
    );
    let ref_schema = rec.ref_schema.as_deref().unwrap_or(schema);
    let sql = format!(
        "SELECT count(*) FROM {} c WHERE c.{col} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {} p WHERE p.{} = c.{col})",
        qualified(schema, &rec.table),
        qualified(ref_schema, ref_table),
        ident(ref_column),
        col = ident(column)
    );
    client.query_one(&sql, &[]).await.ok().map(|r| r.get(0))
}

/// The target tables a run of `only` (empty: every table) writes, and which it may load in
/// bulk: tables of the plan not done yet and not adopted; bulk unless a `load_mode =
/// "checked"` table writes them.
pub async fn loading(
    analysis: &crate::check::Analysis,
    target: &Client,
    only: &[String],
) -> anyhow::Result<Loading> {
    let has_state = crate::status::has_state(target).await?;
    let mut loading = Loading::default();
    let mut checked = Vec::new();
    let mut may_key = Vec::new();
    for t in &analysis.tables {
        let selected = only.is_empty() || only.contains(&t.plan.name);
        let done = has_state
            && matches!(
                crate::state::table_state(target, &t.plan.name)
                    .await?
                    .map(|s| s.phase),
                Some(crate::state::TablePhase::Done)
            );
        if !selected || done || t.plan.adopt.is_some() {
            continue;
        }
        if t.plan.load_mode == LoadMode::Bulk && may_set_keys_aside(analysis, t) {
            may_key.push(t);
        }
        for (table, _) in &t.target_columns {
            loading.written.push(table.clone());
            match t.plan.load_mode {
                LoadMode::Bulk => loading.bulk.push(table.clone()),
                LoadMode::Checked => checked.push(table.clone()),
            }
        }
    }
    loading.bulk.retain(|t| !checked.contains(t));
    loading.written.sort();
    loading.written.dedup();
    loading.bulk.sort();
    loading.bulk.dedup();
    for t in may_key {
        if t.target_columns
            .iter()
            .all(|(table, _)| loading.bulk.contains(table))
        {
            for (table, _) in &t.target_columns {
                loading.keyed.push((table.clone(), t.plan.name.clone()));
            }
        }
    }
    let waiting = if has_state {
        unsettled(target).await?
    } else {
        Vec::new()
    };
    loading.forward = analysis
        .forward_refs
        .iter()
        .filter(|f| {
            loading.written.contains(&f.table)
                || waiting.iter().any(|(t, n)| *t == f.table && *n == f.name)
        })
        .cloned()
        .collect();
    Ok(loading)
}

/// Whether plan table `t`'s primary keys and unique keys may be set aside (load mode aside):
/// it does not resolve its own rows (a row quarantined when a key is built would have been
/// resolved by later rows), no other plan table writes its tables (the keys would not be
/// built when it finishes), and each of its tables has a uuid column, through which a target
/// row is traced back to its source row (the id map) when a key's build finds duplicates.
fn may_set_keys_aside(analysis: &crate::check::Analysis, t: &crate::check::Prepared) -> bool {
    let resolves_itself = t.description.resolves.contains(&t.plan.name);
    let sole_writer = t.target_columns.iter().all(|(table, _)| {
        analysis
            .tables
            .iter()
            .filter(|o| o.target_columns.iter().any(|(w, _)| w == table))
            .count()
            == 1
    });
    let traceable = t
        .target_columns
        .iter()
        .all(|(_, columns)| columns.iter().any(|c| c.type_name == "uuid"));
    // A duplicate the build finds is traced back to its source row through the id map: a
    // table whose map is not kept (nothing resolves it) keeps its keys in place.
    let mapped = t.plan.keep_id_map;
    !resolves_itself && sole_writer && traceable && mapped && !t.target_columns.is_empty()
}

/// Bulk loading refused: each target table `loading.bulk` would set aside keys of while it
/// already holds rows this migration did not write (adopted rows, another application's), for
/// a plan table that did not opt in with its own `load_mode = "bulk"`. Rows this migration
/// wrote (a resumed run) are fine: a target table holding no more rows than the migration's
/// tables writing it have written (`table_state.target_rows`) is not refused.
pub async fn bulk_refusals(
    plan: &crate::plan::Plan,
    analysis: &crate::check::Analysis,
    target: &Client,
    loading: &Loading,
) -> anyhow::Result<Vec<crate::check::Problem>> {
    let has_state = crate::status::has_state(target).await?;
    let mut problems = Vec::new();
    let mut judged: Vec<(String, bool)> = Vec::new();
    for t in &analysis.tables {
        if t.plan.load_mode != LoadMode::Bulk || t.plan.bulk_over_existing_rows {
            continue;
        }
        for (table, _) in &t.target_columns {
            if !loading.bulk.contains(table) {
                continue;
            }
            let others = match judged.iter().find(|(j, _)| j == table) {
                Some((_, others)) => *others,
                None => {
                    let others =
                        holds_others_rows(plan, analysis, target, table, has_state).await?;
                    judged.push((table.clone(), others));
                    others
                }
            };
            if others {
                problems.push(crate::check::Problem {
                    table: Some(t.plan.name.clone()),
                    message: format!(
                        "target table {} already holds rows this migration did not write (adopted, or another application's): bulk-load mode would set its keys and indexes aside while they may be in use\n  hint: write `load_mode = \"checked\"` in the [[table]] entry of {} (every row checked by PostgreSQL as it is written), or `load_mode = \"bulk\"` there to set them aside anyway",
                        qualified(&plan.target_schema, table),
                        t.plan.name
                    ),
                });
            }
        }
    }
    Ok(problems)
}

/// Whether `table` (in the target schema) holds more rows than the plan's tables writing it
/// have written. Reads at most that many rows plus one.
async fn holds_others_rows(
    plan: &crate::plan::Plan,
    analysis: &crate::check::Analysis,
    target: &Client,
    table: &str,
    has_state: bool,
) -> anyhow::Result<bool> {
    let relation = qualified(&plan.target_schema, table);
    let exists: bool = target
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&relation])
        .await?
        .get(0);
    if !exists {
        return Ok(false);
    }
    let writers: Vec<String> = analysis
        .tables
        .iter()
        .filter(|t| t.target_columns.iter().any(|(name, _)| name == table))
        .map(|t| t.plan.name.clone())
        .collect();
    let ours: i64 = if has_state {
        target
            .query_one(
                "SELECT coalesce(sum(target_rows), 0)::bigint FROM migration.table_state WHERE table_name = ANY($1)",
                &[&writers],
            )
            .await?
            .get(0)
    } else {
        0
    };
    let seen: i64 = target
        .query_one(
            &format!("SELECT count(*) FROM (SELECT 1 FROM {relation} LIMIT $1) x"),
            &[&(ours + 1)],
        )
        .await
        .with_context(|| format!("counting the rows of {relation}"))?
        .get(0);
    Ok(seen > ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fk(table: &str, ref_table: &str, definition: &str) -> Record {
        Record {
            table: table.into(),
            name: format!("{table}_{ref_table}_fkey"),
            kind: ConstraintKind::ForeignKey,
            definition: definition.into(),
            column: Some(format!("{ref_table}_id")),
            ref_schema: Some("app".into()),
            ref_table: Some(ref_table.into()),
            ref_column: Some("id".into()),
        }
    }

    fn index(table: &str) -> Record {
        Record {
            table: table.into(),
            name: format!("{table}_name_idx"),
            kind: ConstraintKind::Index,
            definition: format!("CREATE INDEX {table}_name_idx ON app.{table} USING btree (name)"),
            column: None,
            ref_schema: None,
            ref_table: None,
            ref_column: None,
        }
    }

    fn loading(bulk: &[&str], written: &[&str]) -> Loading {
        Loading {
            written: written.iter().map(|t| t.to_string()).collect(),
            bulk: bulk.iter().map(|t| t.to_string()).collect(),
            forward: Vec::new(),
            keyed: Vec::new(),
        }
    }

    #[test]
    fn a_key_comes_back_under_its_own_name_and_an_index_by_its_definition() {
        let key = fk(
            "doctors",
            "offices",
            "FOREIGN KEY (offices_id) REFERENCES app.offices(id) NOT VALID",
        );
        assert_eq!(
            key.ddl("app"),
            "ALTER TABLE \"app\".\"doctors\" ADD CONSTRAINT \"doctors_offices_fkey\" FOREIGN KEY (offices_id) REFERENCES app.offices(id) NOT VALID"
        );
        let i = index("doctors");
        assert_eq!(i.ddl("app"), i.definition);
        assert_eq!(
            key.failure_line("3 row(s) point nowhere"),
            "foreign key doctors_offices_fkey on doctors: 3 row(s) point nowhere"
        );
        assert_eq!(
            i.failure_line("disk full"),
            "index doctors_name_idx on doctors: disk full"
        );
    }

    #[test]
    fn only_keys_between_tables_this_run_loads_in_bulk_stay_set_aside() {
        let plain = "FOREIGN KEY (offices_id) REFERENCES app.offices(id)";
        let both = loading(&["doctors"], &["doctors", "offices"]);
        assert!(fk("doctors", "offices", plain).still_wanted("app", &both));
        // The table is no longer loaded in bulk.
        assert!(!fk("doctors", "offices", plain).still_wanted("app", &loading(&[], &["doctors"])));
        // The parent is not written by this run: other sessions may change it.
        assert!(!fk("doctors", "offices", plain)
            .still_wanted("app", &loading(&["doctors"], &["doctors"])));
        // The parent is in another schema.
        assert!(!fk("doctors", "offices", plain).still_wanted("other", &both));
        // A cascading key.
        let cascade = format!("{plain} ON DELETE CASCADE");
        assert!(!fk("doctors", "offices", &cascade).still_wanted("app", &both));
        // Indexes follow their table only.
        assert!(index("doctors").still_wanted("app", &both));
        assert!(!index("offices").still_wanted("app", &both));
    }

    fn places(groups: &[(usize, i64)]) -> Vec<Duplicate> {
        groups
            .iter()
            .map(|g| Duplicate {
                group: *g,
                reason: format!("key {} group {}", g.0, g.1),
            })
            .collect()
    }

    #[test]
    fn a_build_refuses_the_rows_an_index_maintained_load_refuses() {
        let mut by_key = std::collections::BTreeMap::new();
        // Keys 2, 10 and 30 share a value of key 0; 10 and 20 one of key 1; 40 holds one
        // value twice.
        by_key.insert(Key::Int(10), places(&[(0, 1), (1, 1)]));
        by_key.insert(Key::Int(2), places(&[(0, 1)]));
        by_key.insert(Key::Int(30), places(&[(0, 1)]));
        by_key.insert(Key::Int(20), places(&[(1, 1)]));
        by_key.insert(Key::Int(40), places(&[(1, 2), (1, 2)]));
        let refused = refused_in_key_order(by_key);
        // 10 is refused (2 came first), so 20 is kept: 10 never took its value of key 1.
        assert_eq!(
            refused,
            vec![
                (Key::Int(10), "key 0 group 1".to_string()),
                (Key::Int(30), "key 0 group 1".to_string()),
                (Key::Int(40), "key 1 group 2".to_string()),
            ]
        );
    }

    #[test]
    fn actions_other_than_no_action_or_restrict_are_unsafe() {
        assert!(has_action(
            "FOREIGN KEY (a) REFERENCES p(id) ON UPDATE SET NULL"
        ));
        assert!(has_action(
            "FOREIGN KEY (a) REFERENCES p(id) ON DELETE SET DEFAULT"
        ));
        assert!(!has_action(
            "FOREIGN KEY (a) REFERENCES p(id) ON DELETE RESTRICT"
        ));
        assert!(!has_action("FOREIGN KEY (a) REFERENCES p(id)"));
    }
}
