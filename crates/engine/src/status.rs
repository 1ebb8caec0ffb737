//! `host status` and the end-of-run summary: read only the state tables and the data.

use std::time::Duration;

use anyhow::Context;

use crate::run::TableReport;

/// One table as `status` (and `report`) reports it.
#[derive(Debug, serde::Serialize)]
pub struct TableStatus {
    pub table: String,
    /// The plan's reporting group.
    pub group: String,
    pub phase: String,
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
    let has_state = has_state(target).await?;
    let mut rows = Vec::new();
    if has_state {
        rows = target
            .query(
                "SELECT table_name, phase, source_rows, rows_read, rows_written, rows_skipped, rows_rejected, target_rows, batches,
                        component_sha256, error, extract(epoch FROM coalesce(finished_at, updated_at) - started_at)::float8
                 FROM migration.table_state",
                &[],
            )
            .await
            .context("reading migration.table_state")?;
    }
    let mut tables = Vec::new();
    for t in &plan.tables {
        let row = rows.iter().find(|r| r.get::<_, &str>(0) == t.name);
        let status = match row {
            None => TableStatus {
                table: t.name.clone(),
                group: t.phase.clone(),
                phase: "pending".into(),
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
            },
            Some(r) => {
                let read: i64 = r.get(3);
                let source: Option<i64> = r.get(2);
                let secs: Option<f64> = r.get(11);
                let rate = secs.filter(|s| *s > 0.0).map(|s| read as f64 / s);
                let phase: String = r.get(1);
                let eta = match (phase.as_str(), rate, source) {
                    ("done", _, _) => Some(0.0),
                    (_, Some(rate), Some(total)) if rate > 0.0 => {
                        Some((total - read).max(0) as f64 / rate)
                    }
                    _ => None,
                };
                TableStatus {
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
                }
            }
        };
        tables.push(status);
    }
    if has_state {
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
    }
    Ok(tables)
}

/// The per-table summary printed at the end of `host run`.
pub fn print_summary(
    reports: &[TableReport],
    blocked: &[(String, String)],
    elapsed: Duration,
    json: bool,
) {
    if json {
        let json = serde_json::json!({
            "tables": reports,
            "blocked": blocked.iter().map(|(t, d)| serde_json::json!({"table": t, "waits_for": d})).collect::<Vec<_>>(),
            "seconds": elapsed.as_secs_f64(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
        return;
    }
    println!();
    println!(
        "{:<22} {:<8} {:>9} {:>9} {:>9} {:>9} {:>11} {:>8}  check",
        "table", "phase", "source", "written", "skipped", "rejected", "target rows", "seconds"
    );
    for r in reports {
        let c = &r.counts;
        let source = c.source_rows.unwrap_or(0);
        let adds_up = c.rows_read == c.rows_written + c.rows_skipped + c.rows_rejected
            && (r.phase != "done" || c.rows_read == source);
        println!(
            "{:<22} {:<8} {:>9} {:>9} {:>9} {:>9} {:>11} {:>8.1}  {}",
            r.table,
            r.phase,
            source,
            c.rows_written,
            c.rows_skipped,
            c.rows_rejected,
            c.target_rows,
            r.seconds,
            if adds_up {
                "source = written + skipped + rejected"
            } else {
                "DOES NOT ADD UP"
            }
        );
    }
    for (t, dep) in blocked {
        println!("{t:<22} blocked  (waits for {dep})");
    }
    println!("total {:.1} s", elapsed.as_secs_f64());
}

/// After the summary: why the rows of each table with quarantined rows were quarantined (the
/// three most frequent reasons), and where to see them all.
pub async fn print_reject_reasons(target: &tokio_postgres::Client, reports: &[TableReport]) {
    for r in reports.iter().filter(|r| r.counts.rows_rejected > 0) {
        let Ok(reasons) = crate::state::top_reject_reasons(target, &r.table, 3).await else {
            continue;
        };
        println!(
            "{}: {} row(s) quarantined (SELECT * FROM migration.quarantine WHERE table_name = '{}'), most often:",
            r.table,
            r.counts.rows_rejected,
            r.table.replace('\'', "''")
        );
        for (reason, n) in reasons {
            let short: String = reason.chars().take(300).collect();
            println!("  {n} x {short}");
        }
    }
}
