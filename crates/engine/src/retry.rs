//! `host retry`: replays quarantined rows through the current component.
//!
//! Rows are read again from the source (so a fix made in the legacy data counts too), in key
//! order, parents' tables before children's. A row that now succeeds is written and leaves the
//! quarantine in the same transaction as its id-map row; one that still fails stays, with the
//! new reason and component hash. The checkpoint does not move; the accounting identity holds.

use tokio_postgres::Client;
use tracing::{info, info_span, Instrument};

use crate::check::Analysis;
use crate::pg::{ident, qualified};
use crate::plan::Plan;
use crate::run::{read_rows, Mode, TableWriter};
use crate::state;

/// What a retry did for one table.
#[derive(Debug, serde::Serialize)]
pub struct RetryReport {
    pub table: String,
    pub quarantined_before: i64,
    pub written: i64,
    pub skipped: i64,
    pub still_quarantined: i64,
    /// Quarantined keys whose source row no longer exists (they stay quarantined).
    pub gone_from_source: i64,
}

pub async fn retry(
    plan: &Plan,
    analysis: &Analysis,
    source: &Client,
    target: &mut Client,
    only: &[String],
    run_id: i64,
) -> anyhow::Result<Vec<RetryReport>> {
    let mut reports = Vec::new();
    for step in analysis.order.iter().flatten() {
        if !only.is_empty() && !only.contains(&step.table) {
            continue;
        }
        let t = analysis
            .prepared(&step.table)
            .expect("ordered tables were prepared");
        let keys: Vec<i64> = target
            .query(
                "SELECT legacy_key FROM migration.quarantine WHERE table_name = $1 ORDER BY legacy_key",
                &[&t.plan.name],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if keys.is_empty() {
            continue;
        }
        let counts = state::table_state(&*target, &t.plan.name)
            .await?
            .map(|s| s.counts)
            .unwrap_or_default();
        let before = counts.clone();
        let mut writer = TableWriter::new(target, run_id, plan, t.clone(), counts).await?;
        let mut found = 0;
        for chunk in keys.chunks(t.plan.batch_size) {
            let list = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let sql = format!(
                "SELECT {} FROM {} WHERE {key} = ANY('{{{list}}}'::bigint[]) ORDER BY {key}",
                t.source_columns
                    .iter()
                    .map(|c| ident(&c.name))
                    .collect::<Vec<_>>()
                    .join(", "),
                qualified(&plan.source_schema, &t.description.source_table),
                key = ident(&t.plan.key),
            );
            let rows = read_rows(source, &sql, t).await?;
            found += rows.len() as i64;
            if rows.is_empty() {
                continue;
            }
            let span = info_span!("retry", table = %t.plan.name, first_key = rows[0].key, rows = rows.len());
            writer
                .process(rows, &mut Mode::Retry)
                .instrument(span)
                .await?;
        }
        let after = &writer.counts;
        let report = RetryReport {
            table: t.plan.name.clone(),
            quarantined_before: keys.len() as i64,
            written: after.rows_written - before.rows_written,
            skipped: after.rows_skipped - before.rows_skipped,
            still_quarantined: after.rows_rejected,
            gone_from_source: keys.len() as i64 - found,
        };
        info!(table = %report.table, written = report.written, still = report.still_quarantined, "retried");
        reports.push(report);
    }
    Ok(reports)
}
