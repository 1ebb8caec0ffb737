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

/// Where a forward reference (a cycle broken at a key, a self-reference: see order.rs) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardRefState {
    /// Set aside and not settled: its rows may point at rows not written yet, unchecked.
    Waiting,
    /// Settled, but the key is not back in the target yet.
    SettledNotPutBack,
    /// Settled and the key back in the target, validated.
    Settled,
}

/// One forward reference of the migration, as the state tables say it stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ForwardRefStatus {
    /// The target table holding the key, the key's name, its column, the table it references.
    pub table: String,
    pub key: String,
    pub column: String,
    pub ref_table: String,
    pub state: ForwardRefState,
    pub settled: bool,
    /// When it was settled (UTC).
    pub settled_at: Option<String>,
    /// References set to NULL when settled because their row never came (skipped,
    /// quarantined, never in the source): `migration.dangling_refs`.
    pub nulled: i64,
    /// The first of those rows, by the row's primary key.
    pub nulled_rows: Vec<NulledRef>,
    /// The query listing every one of them.
    pub nulled_query: String,
    /// Whether the key is still set aside (not in the target).
    pub set_aside: bool,
    /// Why the key could not be put back, when it could not.
    pub error: Option<String>,
    /// Why the last run could not settle it (its NOT NULL column points at rows that never
    /// came), until it settles.
    pub refused: Option<String>,
    /// What the state means and what to do, in a sentence.
    pub message: String,
}

/// A reference set to NULL when its key was settled: the row (its primary key as text), the
/// id it held, and what became of the row that id was minted for.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NulledRef {
    pub row: String,
    pub missing_id: String,
    /// `<table> <key>, skipped: <reason>` or `..., quarantined: <reason>`; else that no row of
    /// the migration has that id (the plugin pointed at a key the source does not have).
    pub missing_row: String,
}

/// How much of a skip or quarantine reason a nulled reference quotes.
const REASON_CHARS: usize = 100;

/// What became of the rows `missing` ids were minted for: the skipped and quarantined rows of
/// the plan's tables, each id matched against `idmap::mint(table, key)`.
async fn missing_rows(
    plan: &crate::plan::Plan,
    target: &tokio_postgres::Client,
    missing: &[String],
) -> anyhow::Result<std::collections::HashMap<String, String>> {
    let tables: Vec<&str> = plan.tables.iter().map(|t| t.name.as_str()).collect();
    let rows = target
        .query(
            "SELECT table_name, legacy_key, 'skipped', reason FROM migration.skipped WHERE table_name = ANY($1)
             UNION ALL
             SELECT table_name, legacy_key, 'quarantined', reason FROM migration.quarantine WHERE table_name = ANY($1)",
            &[&tables],
        )
        .await
        .context("reading migration.skipped and migration.quarantine")?;
    let mut found = std::collections::HashMap::new();
    for r in &rows {
        let (table, key, what, full): (&str, &str, &str, &str) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        let id = crate::idmap::mint(table, &crate::key::Key::from_stored(key)).to_string();
        if missing.contains(&id) {
            let mut reason: String = full.chars().take(REASON_CHARS).collect();
            if reason.len() < full.len() {
                reason.push('…');
            }
            found.insert(id, format!("{table} {key}, {what}: {reason}"));
        }
    }
    Ok(found)
}

/// How many nulled rows a forward reference lists (its query lists them all).
const NULLED_ROWS_SHOWN: i64 = 5;

/// Every forward reference a run recorded (`migration.forward_refs`: from the first run that
/// set it aside), with what settling it came to; none before a run.
pub async fn forward_refs(
    plan: &crate::plan::Plan,
    target: &tokio_postgres::Client,
) -> anyhow::Result<Vec<ForwardRefStatus>> {
    let recorded: bool = target
        .query_one(
            "SELECT to_regclass('migration.forward_refs') IS NOT NULL AND to_regclass('migration.dangling_refs') IS NOT NULL
                    AND to_regclass('migration.deferred_constraints') IS NOT NULL",
            &[],
        )
        .await
        .context("looking for migration.forward_refs")?
        .get(0);
    if !recorded {
        return Ok(Vec::new());
    }
    let rows = target
        .query(
            "SELECT f.table_name, f.name, f.column_name, f.ref_table,
                    to_char(f.settled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                    d.name IS NOT NULL, d.error, f.refused
             FROM migration.forward_refs f
             LEFT JOIN migration.deferred_constraints d ON d.table_name = f.table_name AND d.name = f.name AND d.kind = 'fk'
             ORDER BY 1, 2",
            &[],
        )
        .await
        .context("reading migration.forward_refs")?;
    let mut refs = Vec::new();
    for r in &rows {
        refs.push(forward_ref(plan, target, r).await?);
    }
    Ok(refs)
}

/// One forward reference from its `migration.forward_refs` row (as `forward_refs` selects it),
/// with the references settling set to NULL.
async fn forward_ref(
    plan: &crate::plan::Plan,
    target: &tokio_postgres::Client,
    r: &Row,
) -> anyhow::Result<ForwardRefStatus> {
    let (table, column): (String, String) = (r.get(0), r.get(2));
    let nulled = target
        .query_one(
            "SELECT count(*), coalesce((array_agg(row_id ORDER BY row_id))[1:$3], '{}'),
                    coalesce((array_agg(missing_id ORDER BY row_id))[1:$3], '{}')
             FROM migration.dangling_refs WHERE table_name = $1 AND column_name = $2",
            &[&table, &column, &(NULLED_ROWS_SHOWN as i32)],
        )
        .await
        .context("reading migration.dangling_refs")?;
    let (ids, missing): (Vec<String>, Vec<String>) = (nulled.get(1), nulled.get(2));
    let explained = if ids.is_empty() {
        Default::default()
    } else {
        missing_rows(plan, target, &missing).await?
    };
    let mut status = ForwardRefStatus {
        nulled_query: format!(
            "SELECT row_id, missing_id FROM migration.dangling_refs WHERE table_name = {} AND column_name = {} ORDER BY row_id",
            crate::pg::literal(&table),
            crate::pg::literal(&column)
        ),
        table,
        key: r.get(1),
        column,
        ref_table: r.get(3),
        state: ForwardRefState::Waiting,
        settled_at: r.get(4),
        settled: false,
        nulled: nulled.get(0),
        nulled_rows: ids
            .into_iter()
            .zip(missing)
            .map(|(row, missing_id)| NulledRef {
                missing_row: explained.get(&missing_id).cloned().unwrap_or_else(|| {
                    "no row of the migration has this id (not in the source)".into()
                }),
                row,
                missing_id,
            })
            .collect(),
        set_aside: r.get(5),
        error: r.get(6),
        refused: r.get(7),
        message: String::new(),
    };
    status.settled = status.settled_at.is_some();
    status.state = match (status.settled, status.set_aside) {
        (false, _) => ForwardRefState::Waiting,
        (true, true) => ForwardRefState::SettledNotPutBack,
        (true, false) => ForwardRefState::Settled,
    };
    status.message = status.explain(&plan.path);
    Ok(status)
}

impl ForwardRefStatus {
    /// The state in a sentence, with what to do next.
    fn explain(&self, plan: &std::path::Path) -> String {
        let run = format!("`host run {}`", plan.display());
        let nulled = match self.nulled {
            0 => "every reference found its row".to_string(),
            n => format!(
                "{n} reference(s) to rows that never came (skipped, quarantined or not in the source) set to NULL"
            ),
        };
        match self.state {
            ForwardRefState::Settled => format!("settled: {nulled}; the key is back, validated"),
            ForwardRefState::SettledNotPutBack => match &self.error {
                Some(why) => format!(
                    "settled ({nulled}), but the key could not be put back: {why}; fix those rows, then {run} puts it back"
                ),
                None => format!(
                    "settled ({nulled}), but the key is still set aside (the run stopped before putting it back): {run} puts it back"
                ),
            },
            ForwardRefState::Waiting if self.refused.is_some() => format!(
                "NOT SETTLED: the last run could not settle it: {}; the key stays set aside. Migrate those rows (`host retry` for quarantined ones) and run {run} again, or make the column nullable to have such references set to NULL and recorded",
                self.refused.as_deref().unwrap_or_default()
            ),
            ForwardRefState::Waiting => {
                let sides = if self.table == self.ref_table {
                    self.table.clone()
                } else {
                    format!("{} and {}", self.table, self.ref_table)
                };
                format!(
                    "NOT SETTLED: the key is still set aside and its references are unchecked (rows may point at {} rows not written yet); {run} settles it once every table writing {sides} is done (a run that could not settle it said why and what to fix first)",
                    self.ref_table
                )
            }
        }
    }
}
