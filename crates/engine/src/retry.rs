//! `host retry`: replays quarantined rows through the current component.
//!
//! Rows are read again from the source (so a fix made in the legacy data counts too), in key
//! order, parents' tables before children's. A row that now succeeds is written and leaves the
//! quarantine in the same transaction as its id-map row; one that still fails stays, with the
//! new reason and component hash. The checkpoint does not move; the accounting identity holds.
//! A forward reference settling set to NULL because its row was quarantined points at the row
//! again once the retry writes it (`deferred::relink`).

use tokio_postgres::Client;
use tracing::{info, info_span, Instrument};

use crate::check::Analysis;
use crate::idmap::IdMaps;
use crate::key::Key;
use crate::plan::Plan;
use crate::run::{PageSource, PgSource, PluginTransform, TableSpec, TableWriter, Transform};
use crate::state::BatchKind;
use crate::store::{PgStore, StateStore};

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

/// Replays the quarantined rows of the tables of `only` (all when empty), parents first.
pub async fn retry(
    plan: &Plan,
    analysis: &Analysis,
    source: &Client,
    target: &mut Client,
    only: &[String],
    run_id: i64,
) -> anyhow::Result<Vec<RetryReport>> {
    let pages = PgSource::new(source, &plan.source_schema);
    let mut store = PgStore::new(target, &plan.target_schema);
    let mut reports = Vec::new();
    for step in analysis.order.iter().flatten() {
        if !only.is_empty() && !only.contains(&step.table) {
            continue;
        }
        let t = analysis
            .prepared(&step.table)
            .expect("ordered tables were prepared");
        let keys = store.quarantined_keys(&t.plan.name).await?;
        if keys.is_empty() {
            continue;
        }
        let state = store.table_state(&t.plan.name).await?;
        let ids = IdMaps::connect(&plan.target_url, &t.description.resolves).await?;
        let transform = PluginTransform::new(t, ids)?;
        let spec = TableSpec::of(t);
        let writer = TableWriter::open(&mut store, run_id, spec, transform, state.as_ref()).await?;
        reports.push(retry_table(writer, &pages, &keys).await?);
    }
    // A row written now may be one a forward reference was set to NULL for, when settled.
    crate::deferred::relink(target, &plan.target_schema, &analysis.forward_refs).await?;
    Ok(reports)
}

/// Replays the rows of `keys` (quarantined) through the writer's transform, a batch at a time.
pub async fn retry_table<S: StateStore, R: PageSource, T: Transform>(
    mut writer: TableWriter<'_, S, T>,
    source: &R,
    keys: &[Key],
) -> anyhow::Result<RetryReport> {
    let before = writer.counts.clone();
    let spec = writer.spec.clone();
    let mut found = 0;
    for chunk in keys.chunks(spec.batch_size) {
        let rows = source.rows_with_keys(&spec, chunk).await?;
        found += rows.len() as i64;
        if rows.is_empty() {
            continue;
        }
        let span =
            info_span!("retry", table = %spec.name, first_key = %rows[0].key, rows = rows.len());
        writer
            .process(rows, BatchKind::Retry)
            .instrument(span)
            .await?;
    }
    let after = &writer.counts;
    let report = RetryReport {
        table: spec.name.clone(),
        quarantined_before: keys.len() as i64,
        written: after.rows_written - before.rows_written,
        skipped: after.rows_skipped - before.rows_skipped,
        still_quarantined: after.rows_rejected,
        gone_from_source: keys.len() as i64 - found,
    };
    info!(table = %report.table, written = report.written, still = report.still_quarantined, "retried");
    Ok(report)
}
