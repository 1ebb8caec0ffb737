//! `host run --dry-run`: every table read and transformed, nothing written.
//!
//! Tables run in dependency order against an in-memory id map of what the earlier tables
//! would have written, so children see the same parents a real run gives them. Values that
//! do not fit their target column are caught as in a real run; what only the target database
//! can refuse (a unique violation, say) is not.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use tokio_postgres::{Client, IsolationLevel};

use crate::check::Analysis;
use crate::idmap::IdMaps;
use crate::pg::{ident, qualified};
use crate::plan::Plan;
use crate::run::{adopt_fates, adopted_ids, read_rows, transform_rows, Batch, Fate, TargetTables};

/// Examples kept per reason.
const EXAMPLE_KEYS: usize = 3;
/// Reasons listed per table and outcome.
const TOP_REASONS: usize = 5;

#[derive(Debug, Default, serde::Serialize)]
pub struct Reason {
    pub reason: String,
    pub rows: i64,
    pub example_keys: Vec<i64>,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct DryTable {
    pub table: String,
    pub source_rows: i64,
    pub would_write: i64,
    pub would_skip: i64,
    pub would_reject: i64,
    pub target_rows: i64,
    /// Rows an earlier migration wrote are adopted (counted as written), not written again.
    pub adopted: bool,
    pub skip_reasons: Vec<Reason>,
    pub reject_reasons: Vec<Reason>,
}

pub async fn dry_run(
    plan: &Plan,
    analysis: &Analysis,
    source: &mut Client,
    target: &Client,
) -> anyhow::Result<Vec<DryTable>> {
    let mut written: Vec<(String, i64)> = Vec::new();
    let mut skipped: Vec<(String, i64, String)> = Vec::new();
    let mut out = Vec::new();
    for step in analysis.order.iter().flatten() {
        let t = analysis
            .prepared(&step.table)
            .expect("ordered tables were prepared");
        let entities = &t.description.resolves;
        let ids: Arc<IdMaps> = Arc::new(IdMaps::in_memory(
            entities,
            &written
                .iter()
                .filter(|(e, _)| entities.contains(e))
                .cloned()
                .collect::<Vec<_>>(),
            &skipped
                .iter()
                .filter(|(e, _, _)| entities.contains(e))
                .cloned()
                .collect::<Vec<_>>(),
        ));
        let mut instance = t.plugin.instantiate(ids.clone(), &t.plan.name)?;
        let targets = TargetTables::new(t, &plan.target_schema);
        let src = source
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let select = t
            .source_columns
            .iter()
            .map(|c| ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let table = qualified(&plan.source_schema, &t.description.source_table);
        let key = ident(&t.plan.key);
        let adopt = t.adopt_target();
        let mut report = DryTable {
            table: t.plan.name.clone(),
            adopted: adopt.is_some(),
            ..Default::default()
        };
        let mut skips: BTreeMap<String, Reason> = BTreeMap::new();
        let mut rejects: BTreeMap<String, Reason> = BTreeMap::new();
        let mut after: Option<i64> = None;
        loop {
            let filter = after
                .map(|k| format!("WHERE {key} > {k}"))
                .unwrap_or_default();
            let sql = format!(
                "SELECT {select} FROM {table} {filter} ORDER BY {key} LIMIT {}",
                t.plan.batch_size
            );
            let mut rows = read_rows(src.client(), &sql, t)
                .await
                .with_context(|| format!("reading {}", t.plan.name))?;
            let Some(last) = rows.last() else { break };
            after = Some(last.key);
            // One row at a time after a trap, as the real run's bisection ends up doing.
            let mut fates = match transform_rows(&mut instance, &mut rows) {
                Ok(outcomes) => {
                    let batch = Batch::new(&rows, outcomes, &targets);
                    report.target_rows += batch.target_rows;
                    batch.fates
                }
                Err(_) => {
                    instance = t.plugin.instantiate(ids.clone(), &t.plan.name)?;
                    let mut fates = Vec::with_capacity(rows.len());
                    for row in &rows {
                        match instance.transform(std::slice::from_ref(&row.values)) {
                            Ok(outcomes) => {
                                let batch =
                                    Batch::new(std::slice::from_ref(row), outcomes, &targets);
                                report.target_rows += batch.target_rows;
                                fates.extend(batch.fates);
                            }
                            Err(trap) => {
                                instance = t.plugin.instantiate(ids.clone(), &t.plan.name)?;
                                fates.push(Fate::Quarantined(format!("plugin trapped: {trap}")));
                            }
                        }
                    }
                    fates
                }
            };
            if let Some(a) = &adopt {
                let existing = adopted_ids(target, plan, a, &rows).await?;
                adopt_fates(&rows, &mut fates, &existing, a);
            }
            for (row, fate) in rows.iter().zip(fates) {
                report.source_rows += 1;
                let (tally, reason) = match fate {
                    Fate::Written(_) => {
                        report.would_write += 1;
                        written.push((t.plan.name.clone(), row.key));
                        continue;
                    }
                    Fate::Skipped(reason) => {
                        report.would_skip += 1;
                        skipped.push((t.plan.name.clone(), row.key, reason.clone()));
                        (&mut skips, reason)
                    }
                    Fate::Quarantined(reason) => {
                        report.would_reject += 1;
                        (&mut rejects, reason)
                    }
                };
                let entry = tally.entry(reason.clone()).or_insert_with(|| Reason {
                    reason,
                    ..Default::default()
                });
                entry.rows += 1;
                if entry.example_keys.len() < EXAMPLE_KEYS {
                    entry.example_keys.push(row.key);
                }
            }
        }
        src.commit().await.ok();
        if adopt.is_some() {
            report.target_rows = 0;
        }
        report.skip_reasons = top(skips);
        report.reject_reasons = top(rejects);
        out.push(report);
    }
    Ok(out)
}

fn top(tally: BTreeMap<String, Reason>) -> Vec<Reason> {
    let mut reasons: Vec<Reason> = tally.into_values().collect();
    reasons.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.reason.cmp(&b.reason)));
    reasons.truncate(TOP_REASONS);
    reasons
}

/// The tables whose quarantined share would stop them in a real run, each with the reason
/// `host run` would give.
pub fn would_stop(analysis: &Analysis, tables: &[DryTable]) -> Vec<String> {
    tables
        .iter()
        .filter_map(|d| {
            let t = analysis.prepared(&d.table)?;
            let counts = crate::state::TableCounts {
                rows_read: d.source_rows,
                rows_rejected: d.would_reject,
                ..Default::default()
            };
            crate::run::check_reject_rate(t, &counts, d.source_rows, true)
                .err()
                .map(|e| format!("{}: {e}", d.table))
        })
        .collect()
}

pub fn print(tables: &[DryTable]) {
    println!("dry run: nothing was written");
    println!(
        "{:<22} {:>9} {:>11} {:>10} {:>12} {:>11}",
        "table", "source", "would write", "would skip", "would reject", "target rows"
    );
    for t in tables {
        let name = if t.adopted {
            format!("{} (adopt)", t.table)
        } else {
            t.table.clone()
        };
        println!(
            "{:<22} {:>9} {:>11} {:>10} {:>12} {:>11}",
            name, t.source_rows, t.would_write, t.would_skip, t.would_reject, t.target_rows
        );
        for (what, reasons) in [("reject", &t.reject_reasons), ("skip", &t.skip_reasons)] {
            for r in reasons.iter() {
                let keys = r
                    .example_keys
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                println!("    {what} {:>7} x {}  (keys {keys})", r.rows, r.reason);
            }
        }
    }
}
