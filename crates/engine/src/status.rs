//! `host status` and the end-of-run summary: read only the state tables and the data.

use anyhow::Context;
use tokio_postgres::Row;

use crate::plan::TablePlan;
use crate::state::{StateValue, TablePhase};

/// One table as `status` (and `report`) reports it.
#[derive(Debug, serde::Serialize)]
pub struct TableStatus {
    pub table: String,
    /// The plan's reporting group.
    pub group: String,
    pub phase: TablePhase,
    pub source_rows: Option<i64>,
    pub rows_read: i64,
    pub rows_written: i64,
    pub rows_skipped: i64,
    pub rows_rejected: i64,
    pub target_rows: i64,
    pub batches: i64,
    pub rows_per_second: Option<f64>,
    pub eta_seconds: Option<f64>,
    pub component_sha256: Option<String>,
    pub error: Option<String>,
    /// Lineage: which component versions produced how many rows.
    pub components: Vec<ComponentRows>,
}

/// The rows one component version produced for one table.
#[derive(Debug, serde::Serialize)]
pub struct ComponentRows {
    pub sha256: String,
    pub batches: i64,
    pub rows_in: i64,
    pub written: i64,
    pub skipped: i64,
    pub quarantined: i64,
    /// First batch this version committed.
    pub first_batch: i64,
}

/// Whether the target holds migration state at all (a `host run` started there).
pub async fn has_state(target: &tokio_postgres::Client) -> anyhow::Result<bool> {
    Ok(target
        .query_one(
            "SELECT to_regclass('migration.table_state') IS NOT NULL",
            &[],
        )
        .await
        .context("looking for the migration state in the target")?
        .get(0))
}

/// Every table of the plan with its phase, counts, rate and lineage, from the state tables
/// (all pending when the target has no state yet).
pub async fn tables(
    plan: &crate::plan::Plan,
    target: &tokio_postgres::Client,
) -> anyhow::Result<Vec<TableStatus>> {
    if !has_state(target).await? {
        return Ok(plan.tables.iter().map(TableStatus::pending).collect());
    }
    let rows = target
        .query(
            "SELECT table_name, phase, source_rows, rows_read, rows_written, rows_skipped, rows_rejected, target_rows, batches,
                    component_sha256, error, extract(epoch FROM coalesce(finished_at, updated_at) - started_at)::float8
             FROM migration.table_state",
            &[],
        )
        .await
        .context("reading migration.table_state")?;
    let mut tables = Vec::new();
    for t in &plan.tables {
        let status = match rows.iter().find(|r| r.get::<_, &str>(0) == t.name) {
            None => TableStatus::pending(t),
            Some(r) => TableStatus::from_row(t, r)?,
        };
        tables.push(status);
    }
    add_lineage(target, &mut tables).await?;
    Ok(tables)
}

impl TableStatus {
    /// A table that never started.
    fn pending(t: &TablePlan) -> Self {
        TableStatus {
            table: t.name.clone(),
            group: t.phase.clone(),
            phase: TablePhase::Pending,
            source_rows: None,
            rows_read: 0,
            rows_written: 0,
            rows_skipped: 0,
            rows_rejected: 0,
            target_rows: 0,
            batches: 0,
            rows_per_second: None,
            eta_seconds: None,
            component_sha256: None,
            error: None,
            components: Vec::new(),
        }
    }

    /// A table from its `migration.table_state` row (as `tables` selects it).
    fn from_row(t: &TablePlan, r: &Row) -> anyhow::Result<Self> {
        let read: i64 = r.get(3);
        let source: Option<i64> = r.get(2);
        let secs: Option<f64> = r.get(11);
        let rate = secs.filter(|s| *s > 0.0).map(|s| read as f64 / s);
        let phase = TablePhase::parse(r.get(1))
            .with_context(|| format!("reading the state of {}", t.name))?;
        let eta = match (phase, rate, source) {
            (TablePhase::Done, _, _) => Some(0.0),
            (_, Some(rate), Some(total)) if rate > 0.0 => Some((total - read).max(0) as f64 / rate),
            _ => None,
        };
        Ok(TableStatus {
            table: t.name.clone(),
            group: t.phase.clone(),
            phase,
            source_rows: source,
            rows_read: read,
            rows_written: r.get(4),
            rows_skipped: r.get(5),
            rows_rejected: r.get(6),
            target_rows: r.get(7),
            batches: r.get(8),
            rows_per_second: rate,
            eta_seconds: eta,
            component_sha256: r.get(9),
            error: r.get(10),
            components: Vec::new(),
        })
    }
}

/// Lineage: which component versions produced how many rows of each table.
async fn add_lineage(
    target: &tokio_postgres::Client,
    tables: &mut [TableStatus],
) -> anyhow::Result<()> {
    let lineage = target
        .query(
            "SELECT table_name, component_sha256, count(*), sum(rows_in), sum(rows_written), sum(rows_skipped), sum(rows_rejected), min(batch_no)
             FROM migration.batches GROUP BY 1, 2 ORDER BY 1, min(batch_no)",
            &[],
        )
        .await
        .context("reading migration.batches")?;
    for r in lineage {
        let name: &str = r.get(0);
        if let Some(t) = tables.iter_mut().find(|t| t.table == name) {
            t.components.push(ComponentRows {
                sha256: r.get(1),
                batches: r.get(2),
                rows_in: r.get(3),
                written: r.get(4),
                skipped: r.get(5),
                quarantined: r.get(6),
                first_batch: r.get(7),
            });
        }
    }
    Ok(())
}
