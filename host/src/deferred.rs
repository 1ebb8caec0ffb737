//! Bulk-load mode: the target's foreign keys and plain indexes are set aside while a run
//! loads, and put back (and so proven) once at its end.
//!
//! Per-row foreign-key triggers and random inserts into secondary B-trees are most of what a
//! row costs the target. While they are set aside, every batch still proves its own foreign
//! keys before it commits: one anti-join per key against the parent's primary key (set-based,
//! without the triggers' row locks), so a row pointing nowhere is refused and bisected to
//! exactly as before. What was set aside is recorded in `migration.deferred_constraints`, in the
//! same transaction that drops it, so an interrupted run loses nothing: the next run (or
//! `host rollback`) restores it. Restoring re-adds each foreign key *validated*, so the end of
//! a run proves orphans = 0 across every key. Primary keys, unique and check constraints stay:
//! they decide which rows the target refuses.

use anyhow::Context;
use tokio_postgres::Client;

use crate::pg::{error_text, ident, qualified};

/// Column types a foreign key may have to be checked per batch (their COPY text needs no
/// unescaping); keys of other types stay in place.
const CHECKED_TYPES: &[&str] = &["uuid", "int2", "int4", "int8"];

/// A foreign key set aside, as each batch checks it.
#[derive(Debug, Clone)]
pub struct DeferredFk {
    pub name: String,
    pub table: String,
    pub column: String,
    pub ref_table: String,
    pub ref_column: String,
    pub type_name: String,
}

/// Sets aside the single-column foreign keys and the plain (non-unique) indexes of `tables`
/// in `schema`, recording each; returns how many. Idempotent: what is already set aside stays.
pub async fn defer(client: &mut Client, schema: &str, tables: &[String]) -> anyhow::Result<usize> {
    let tx = client.transaction().await?;
    let fks = tx
        .query(
            "SELECT con.conname::text, c.relname::text, pg_get_constraintdef(con.oid),
                    a.attname::text, r.relname::text, ra.attname::text, format_type(a.atttypid, NULL)
             FROM pg_constraint con
             JOIN pg_class c ON c.oid = con.conrelid
             JOIN pg_class r ON r.oid = con.confrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
             JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = con.confkey[1]
             JOIN pg_type ty ON ty.oid = a.atttypid
             WHERE con.contype = 'f' AND con.conparentid = 0 AND cardinality(con.conkey) = 1
               AND n.nspname = $1 AND c.relname = ANY($2) AND ty.typname = ANY($3)
             ORDER BY 2, 1",
            &[&schema, &tables, &CHECKED_TYPES],
        )
        .await
        .context("listing the target's foreign keys")?;
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
            &[&schema, &tables],
        )
        .await
        .context("listing the target's indexes")?;
    for r in &fks {
        let (name, table): (String, String) = (r.get(0), r.get(1));
        tx.execute(
            "INSERT INTO migration.deferred_constraints (table_name, name, kind, definition, column_name, ref_table, ref_column, type_name)
             VALUES ($1, $2, 'fk', $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            &[&table, &name, &r.get::<_, String>(2), &r.get::<_, String>(3), &r.get::<_, String>(4), &r.get::<_, String>(5), &r.get::<_, String>(6)],
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
    tx.commit().await?;
    Ok(fks.len() + indexes.len())
}

/// The foreign keys currently set aside (none when the state schema is missing).
pub async fn deferred_fks(client: &Client) -> anyhow::Result<Vec<DeferredFk>> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('migration.deferred_constraints') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT name, table_name, column_name, ref_table, ref_column, type_name
             FROM migration.deferred_constraints WHERE kind = 'fk' ORDER BY table_name, name",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| DeferredFk {
            name: r.get(0),
            table: r.get(1),
            column: r.get(2),
            ref_table: r.get(3),
            ref_column: r.get(4),
            type_name: r.get(5),
        })
        .collect())
}

/// Puts back everything set aside (returns what could not be, one line each): indexes first (so the keys' checks can use them), then
/// each foreign key, added validated, each in its own transaction with its record. A key
/// whose rows do not all have their parent stays set aside, with the reason recorded.
pub async fn restore(client: &mut Client, schema: &str) -> anyhow::Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT table_name, name, kind, definition FROM migration.deferred_constraints
             ORDER BY kind = 'fk', table_name, name",
            &[],
        )
        .await
        .context("reading the constraints set aside")?;
    let mut failed = Vec::new();
    for r in rows {
        let (table, name, kind, definition): (String, String, String, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        let ddl = if kind == "fk" {
            format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {definition}",
                qualified(schema, &table),
                ident(&name)
            )
        } else {
            definition
        };
        let tx = client.transaction().await?;
        let result = match tx.batch_execute(&ddl).await {
            Ok(()) => tx
                .execute(
                    "DELETE FROM migration.deferred_constraints WHERE table_name = $1 AND name = $2",
                    &[&table, &name],
                )
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => tx.commit().await?,
            Err(e) => {
                drop(tx);
                let why = error_text(&e);
                client
                    .execute(
                        "UPDATE migration.deferred_constraints SET error = $3 WHERE table_name = $1 AND name = $2",
                        &[&table, &name, &why],
                    )
                    .await?;
                failed.push(format!("{kind} {name} on {table}: {why}"));
            }
        }
    }
    Ok(failed)
}
