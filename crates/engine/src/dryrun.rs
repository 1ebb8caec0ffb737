//! `host run --dry-run`: every table read and transformed, nothing written.
//!
//! Tables run in dependency order against an in-memory id map of what the earlier tables
//! would have written, so children see the same parents a real run gives them. Values that
//! do not fit their target column are caught as in a real run; what only the target database
//! can refuse (a unique violation, say) is not.

use std::collections::BTreeMap;

use tokio_postgres::{Client, IsolationLevel};

use crate::check::{Analysis, Prepared};
use crate::idmap::IdMaps;
use crate::key::Key;
use crate::plan::Plan;
use crate::run::{
    transform_next, Batch, Fate, PageSource, PgSource, PluginTransform, SourceRow, TableSpec,
    Transform,
};

/// Examples kept per reason.
const EXAMPLE_KEYS: usize = 3;
/// Reasons listed per table and outcome.
const TOP_REASONS: usize = 5;

#[derive(Debug, Default, serde::Serialize)]
pub struct Reason {
    pub reason: String,
    pub rows: i64,
    pub example_keys: Vec<Key>,
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

/// Reads and transforms every table as `host run` would (the same pages, the same transform
/// path), writing nothing; returns what each table would come to.
pub async fn dry_run(
    plan: &Plan,
    analysis: &Analysis,
    source: &mut Client,
    target: &Client,
) -> anyhow::Result<Vec<DryTable>> {
    let mut earlier = Earlier::default();
    let mut out = Vec::new();
    for step in analysis.order.iter().flatten() {
        let t = analysis
            .prepared(&step.table)
            .expect("ordered tables were prepared");
        let transform = PluginTransform::new(t, earlier.id_maps(t))?;
        let snapshot = source
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let pages = PgSource::new(snapshot.client(), &plan.source_schema);
        let spec = TableSpec::of(t);
        let mut tally = Tally::new(&spec);
        dry_table(
            &pages,
            &spec,
            transform,
            target,
            &plan.target_schema,
            &mut tally,
        )
        .await?;
        snapshot.commit().await.ok();
        earlier.written.append(&mut tally.written);
        earlier.skipped.append(&mut tally.skipped);
        out.push(tally.finish());
    }
    Ok(out)
}

/// What the tables before would have written and skipped (the id maps children resolve).
#[derive(Default)]
struct Earlier {
    written: Vec<(String, Key)>,
    skipped: Vec<(String, Key, String)>,
}

impl Earlier {
    fn id_maps(&self, t: &Prepared) -> IdMaps {
        let entities = &t.description.resolves;
        let written: Vec<(String, Key)> = self
            .written
            .iter()
            .filter(|(e, _)| entities.contains(e))
            .cloned()
            .collect();
        let skipped: Vec<(String, Key, String)> = self
            .skipped
            .iter()
            .filter(|(e, _, _)| entities.contains(e))
            .cloned()
            .collect();
        IdMaps::in_memory(entities, &written, &skipped)
    }
}

/// One table's pages through the run's transform path, tallied.
async fn dry_table(
    pages: &PgSource<'_>,
    spec: &TableSpec,
    mut transform: PluginTransform,
    target: &Client,
    target_schema: &str,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let mut after = None;
    loop {
        let rows = pages.page(spec, after.as_ref()).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.key.clone());
        let mut pending = vec![rows];
        while let Some((rows, mut batch)) = transform_next(&mut transform, spec, &[], &mut pending)?
        {
            if let Some(a) = &spec.adopt {
                let keys: Vec<Key> = rows.iter().map(|r| r.key.clone()).collect();
                let existing =
                    crate::store::pg::adopted_ids(target, target_schema, a, &keys).await?;
                batch.adopt(&rows, &existing, a);
            }
            transform.committed(&spec.name, &rows, &batch.fates);
            tally.add(&rows, batch);
        }
        transform.end_batch();
    }
    Ok(())
}

/// A table's would-be outcome as its batches come.
struct Tally {
    report: DryTable,
    skips: BTreeMap<String, Reason>,
    rejects: BTreeMap<String, Reason>,
    written: Vec<(String, Key)>,
    skipped: Vec<(String, Key, String)>,
}

impl Tally {
    fn new(spec: &TableSpec) -> Self {
        Tally {
            report: DryTable {
                table: spec.name.clone(),
                adopted: spec.adopt.is_some(),
                ..Default::default()
            },
            skips: BTreeMap::new(),
            rejects: BTreeMap::new(),
            written: Vec::new(),
            skipped: Vec::new(),
        }
    }

    fn add(&mut self, rows: &[SourceRow], batch: Batch) {
        let name = &self.report.table;
        self.report.target_rows += batch.target_rows;
        for (row, fate) in rows.iter().zip(batch.fates) {
            self.report.source_rows += 1;
            let (tally, reason) = match fate {
                Fate::Written(_) => {
                    self.report.would_write += 1;
                    self.written.push((name.clone(), row.key.clone()));
                    continue;
                }
                Fate::Skipped(reason) => {
                    self.report.would_skip += 1;
                    self.skipped
                        .push((name.clone(), row.key.clone(), reason.clone()));
                    (&mut self.skips, reason)
                }
                Fate::Quarantined(reason) => {
                    self.report.would_reject += 1;
                    (&mut self.rejects, reason)
                }
            };
            let entry = tally.entry(reason.clone()).or_insert_with(|| Reason {
                reason,
                ..Default::default()
            });
            entry.rows += 1;
            if entry.example_keys.len() < EXAMPLE_KEYS {
                entry.example_keys.push(row.key.clone());
            }
        }
    }

    fn finish(self) -> DryTable {
        DryTable {
            skip_reasons: top(self.skips),
            reject_reasons: top(self.rejects),
            ..self.report
        }
    }
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
            let limit = t.plan.max_reject_rate;
            let counts = crate::state::TableCounts {
                rows_read: d.source_rows,
                rows_rejected: d.would_reject,
                ..Default::default()
            };
            crate::run::check_reject_rate(&d.table, limit, &counts, d.source_rows, true)
                .err()
                .map(|e| format!("{}: {e}", d.table))
        })
        .collect()
}
