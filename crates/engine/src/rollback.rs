//! `host rollback`: removes what the migration wrote for some tables, in one transaction.
//!
//! A table's target rows, id-map rows, skips, quarantine, lineage and checkpoint all go, so a
//! later run migrates it again from the start and, the transforms being deterministic, writes
//! the same rows. Tables that depend on it must go too (`--cascade`), or it refuses.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use tokio_postgres::Client;

use crate::check::Analysis;
use crate::pg::{error_text, qualified};
use crate::plan::Plan;
use crate::state;

/// What a rollback will remove, worked out before anything is touched.
#[derive(Debug, serde::Serialize)]
pub struct RollbackPlan {
    /// Plan tables to roll back, dependents first.
    pub tables: Vec<String>,
    /// Target tables to empty.
    pub target_tables: Vec<String>,
    /// Tables that were added because they depend on a requested one (or share a target table).
    pub added: Vec<String>,
}

/// Works out the closure of `requested` over dependents and shared target tables.
pub fn plan_rollback(analysis: &Analysis, requested: &[String]) -> RollbackPlan {
    let order = analysis.order.clone().unwrap_or_default();
    let writes: BTreeMap<&str, BTreeSet<&str>> = analysis
        .tables
        .iter()
        .map(|t| {
            // An adopted table's rows were there before the migration: they are never emptied
            // (rows `host retry` added to it stay too, and the next run adopts them).
            let writes = match t.plan.adopt {
                Some(_) => BTreeSet::new(),
                None => t.target_columns.iter().map(|(w, _)| w.as_str()).collect(),
            };
            (t.plan.name.as_str(), writes)
        })
        .collect();
    let mut set: BTreeSet<String> = requested.iter().cloned().collect();
    loop {
        let mut grew = false;
        for step in &order {
            if set.contains(&step.table) {
                continue;
            }
            let depends = step.after.iter().any(|d| set.contains(d));
            let shares = set.iter().any(|s| {
                writes
                    .get(s.as_str())
                    .zip(writes.get(step.table.as_str()))
                    .is_some_and(|(a, b)| !a.is_disjoint(b))
            });
            if depends || shares {
                set.insert(step.table.clone());
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    let tables: Vec<String> = order
        .iter()
        .rev()
        .filter(|s| set.contains(&s.table))
        .map(|s| s.table.clone())
        .collect();
    let target_tables: BTreeSet<String> = tables
        .iter()
        .flat_map(|t| {
            writes
                .get(t.as_str())
                .into_iter()
                .flatten()
                .map(|w| w.to_string())
        })
        .collect();
    let added = tables
        .iter()
        .filter(|t| !requested.contains(t))
        .cloned()
        .collect();
    RollbackPlan {
        tables,
        target_tables: target_tables.into_iter().collect(),
        added,
    }
}

/// Tables of `names` that hold migrated rows or state.
pub async fn with_rows(target: &Client, names: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for n in names {
        if let Some(s) = state::table_state(target, n).await? {
            if s.counts.rows_read > 0 || s.phase != state::TablePhase::Pending {
                out.push(n.clone());
            }
        }
    }
    Ok(out)
}

/// Removes everything the migration wrote for `rollback.tables`, atomically.
pub async fn execute(
    plan: &Plan,
    target: &mut Client,
    rollback: &RollbackPlan,
) -> anyhow::Result<()> {
    let tx = target.transaction().await?;
    if !rollback.target_tables.is_empty() {
        let list = rollback
            .target_tables
            .iter()
            .map(|t| qualified(&plan.target_schema, t))
            .collect::<Vec<_>>()
            .join(", ");
        // One TRUNCATE for all of them: PostgreSQL allows tables that reference each other
        // to be emptied together, and refuses if a table outside the set still points in.
        tx.batch_execute(&format!("TRUNCATE {list}")).await.map_err(|e| {
            anyhow::anyhow!(
                "emptying {} failed: {}\n  hint: another table outside the plan references them; empty it first",
                rollback.target_tables.join(", "),
                error_text(&e)
            )
        })?;
    }
    for sql in [
        "DELETE FROM migration.id_map WHERE entity = ANY($1)",
        "DELETE FROM migration.skipped WHERE table_name = ANY($1)",
        "DELETE FROM migration.quarantine WHERE table_name = ANY($1)",
        "DELETE FROM migration.adopt_extras WHERE table_name = ANY($1)",
        "DELETE FROM migration.batches WHERE table_name = ANY($1)",
        "DELETE FROM migration.table_state WHERE table_name = ANY($1)",
        // The next run splits the table afresh (its rows may have changed since).
        "DELETE FROM migration.chunks WHERE table_name = ANY($1)",
    ] {
        tx.execute(sql, &[&rollback.tables])
            .await
            .context("clearing the migration state")?;
    }
    crate::deferred::forget_dangling(&tx, &rollback.target_tables).await?;
    tx.commit().await.context("committing the rollback")?;
    Ok(())
}
