//! `host run --dry-run`: every table read and transformed, nothing kept.
//!
//! Tables run in dependency order against an in-memory id map of what the earlier tables
//! would have written, so children see the same parents a real run gives them. Values that
//! do not fit their target column are caught as in a real run, and so is what only the target
//! can refuse (a CHECK or unique violation, a value a domain refuses, a missing parent): every
//! batch is copied into the target inside one transaction that is rolled back at the end (a
//! savepoint per batch, so a refused batch is halved to its row as a real run does). The
//! schema files a first run would apply are applied in the same transaction. Nothing stays,
//! whatever happens: a dry run that stops, or is killed, ends the transaction with its
//! session. What it cannot undo are sequence values (PostgreSQL never rolls `nextval` back):
//! a column the plugin leaves to a sequence default skips the numbers the dry run drew.
//!
//! A table an earlier run already started is transformed but not rehearsed (its rows would
//! collide with those already migrated), nor is an adopted one (nothing is written), nor one
//! resolving an adopted table (the in-memory id map mints the adopted rows' UUIDs, which are
//! not theirs) or a table a run left half done (the target lacks the rest of its rows), nor
//! one holding a forward reference (a cycle broken there, a self-reference: the referenced
//! row comes later), nor, in turn, their dependents. Constraints deferred to commit are not checked: the transaction
//! never commits.

use std::collections::BTreeMap;

use tokio_postgres::{Client, IsolationLevel, Transaction};

use crate::check::{Analysis, Prepared};
use crate::idmap::IdMaps;
use crate::key::Key;
use crate::plan::Plan;
use crate::run::{
    split_into, transform_next, Batch, Fate, PageSource, PgSource, PluginTransform, SourceRow,
    TableSpec, Transform,
};
use crate::store::pg::{copy_in, copy_statement};
use crate::store::CommitError;

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
    /// Whether its batches were copied into the target (and rolled back): false for a table an
    /// earlier run started, whose target refusals the dry run cannot foresee.
    pub rehearsed: bool,
    pub skip_reasons: Vec<Reason>,
    pub reject_reasons: Vec<Reason>,
}

/// Reads and transforms every table as `host run` would (the same pages, the same transform
/// path), copies the batches into the target in a transaction it rolls back; returns what
/// each table would come to.
pub async fn dry_run(
    plan: &Plan,
    analysis: &Analysis,
    source: &mut Client,
    target: &mut Client,
) -> anyhow::Result<Vec<DryTable>> {
    let mut rehearsal = target.transaction().await?;
    crate::run::ensure_target_schema(plan, rehearsal.client()).await?;
    let started = started_tables(&rehearsal).await?;
    let mut earlier = Earlier::default();
    // Tables whose rows the target does not hold as the in-memory id map has them.
    let mut unheld = Vec::new();
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
        // The rows of an adopted table have their own UUIDs, not the in-memory id map's, and
        // a table a run left half done holds only part of its rows: a table resolving either
        // would see its references refused.
        let resolves_unheld = t.description.resolves.iter().any(|e| unheld.contains(e));
        let started_here = started.iter().find(|(name, _)| name == &spec.name);
        // A forward reference points at a row the target gets only later: refused until then.
        let holds_forward_refs = analysis
            .forward_refs
            .iter()
            .any(|f| t.description.writes.iter().any(|w| w.table == f.table));
        let rehearse = spec.adopt.is_none()
            && started_here.is_none()
            && !resolves_unheld
            && !holds_forward_refs;
        if spec.adopt.is_some()
            || started_here.is_some_and(|(_, done)| !done)
            || resolves_unheld
            || holds_forward_refs
        {
            unheld.push(spec.name.clone());
        }
        tally.report.rehearsed = rehearse;
        dry_table(
            &pages,
            &spec,
            transform,
            &mut rehearsal,
            rehearse.then_some(plan.target_schema.as_str()),
            &plan.target_schema,
            &mut tally,
        )
        .await?;
        snapshot.commit().await.ok();
        earlier.written.append(&mut tally.written);
        earlier.skipped.append(&mut tally.skipped);
        out.push(tally.finish());
    }
    rehearsal.rollback().await?;
    Ok(out)
}

/// The plan tables an earlier run started (they have a state row), each with whether it is done.
async fn started_tables(target: &Transaction<'_>) -> anyhow::Result<Vec<(String, bool)>> {
    let has_state: bool = target
        .query_one(
            "SELECT to_regclass('migration.table_state') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !has_state {
        return Ok(Vec::new());
    }
    Ok(target
        .query(
            "SELECT table_name, phase = 'done' FROM migration.table_state",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
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

/// One table's pages through the run's transform path, tallied; with `rehearse_in` (the
/// target schema), each batch is copied into the target, and a row the target refuses is
/// quarantined with its reason, as `host run` would.
async fn dry_table(
    pages: &PgSource<'_>,
    spec: &TableSpec,
    mut transform: PluginTransform,
    target: &mut Transaction<'_>,
    rehearse_in: Option<&str>,
    target_schema: &str,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let mut after = None;
    loop {
        let rows = pages.page(spec, after.as_ref(), None).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.key.clone());
        let mut pending = vec![rows];
        while let Some((rows, mut batch)) = transform_next(&mut transform, spec, &[], &mut pending)?
        {
            if let Some(a) = &spec.adopt {
                let keys: Vec<Key> = rows.iter().map(|r| r.key.clone()).collect();
                let existing =
                    crate::store::pg::adopted_ids(target.client(), target_schema, a, &keys).await?;
                batch.adopt(&rows, &existing, a);
            }
            if let Some(schema) = rehearse_in {
                match rehearse(target, schema, spec, &batch).await {
                    Ok(()) => {}
                    Err(CommitError::Data(_)) if rows.len() > 1 => {
                        split_into(&mut pending, rows);
                        continue;
                    }
                    Err(CommitError::Data(reason)) => {
                        batch = Batch::quarantined(format!("target refused the row: {reason}"));
                    }
                    Err(CommitError::Other(e)) => {
                        return Err(e.context(format!(
                            "rehearsing a batch of {} in the target (rolled back)",
                            spec.name
                        )))
                    }
                }
            }
            transform.committed(&spec.name, &rows, &batch.fates);
            tally.add(&rows, batch);
        }
        transform.end_batch();
    }
    Ok(())
}

/// Copies a batch's target rows into the target under a savepoint: kept (until the dry run's
/// transaction is rolled back) so later batches and tables meet them, as in a real run;
/// undone when the target refuses a row.
async fn rehearse(
    target: &mut Transaction<'_>,
    schema: &str,
    spec: &TableSpec,
    batch: &Batch,
) -> Result<(), CommitError> {
    if batch.target_copy.iter().all(Vec::is_empty) {
        return Ok(());
    }
    let savepoint = target
        .savepoint("dry_run_batch")
        .await
        .map_err(CommitError::from_pg)?;
    for (i, buf) in batch.target_copy.iter().enumerate() {
        if !buf.is_empty() {
            if let Err(e) = copy_in(&savepoint, &copy_statement(schema, spec, i), buf.clone()).await
            {
                savepoint.rollback().await.map_err(CommitError::from_pg)?;
                return Err(e);
            }
        }
    }
    savepoint.commit().await.map_err(CommitError::from_pg)
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
