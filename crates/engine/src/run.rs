//! `host run`: every table, in dependency order, batch by batch, exactly once.
//!
//! One batch = one keyset page of source rows, one plugin call, one target transaction that
//! commits the rows, the id-map rows, the quarantined and skipped rows, the lineage record and
//! the checkpoint together. A batch that traps the plugin or that the target refuses is split
//! in halves until the offending row is alone; that row is quarantined with the reason.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::{SinkExt, TryStreamExt};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, IsolationLevel, Transaction};
use tracing::{info, info_span, warn, Instrument};

use crate::check::{AdoptTarget, Prepared};
use crate::codec;
use crate::deferred::DeferredFk;
use crate::idmap::IdMaps;
use crate::pg::{self, error_text, ident, qualified};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::state::{self, TableCounts, TablePhase};
use crate::wasm::{Instance, Outcome, PluginError, PluginOutput, Value};

/// One source row: its key and values in the plugin's `reads` order.
#[derive(Debug, Clone)]
pub struct SourceRow {
    pub key: i64,
    pub values: Vec<Value>,
    /// Why the row cannot be decoded (invalid UTF-8 from a SQL_ASCII source...): it is
    /// quarantined without a plugin call, its text kept as well as it reads.
    pub unreadable: Option<String>,
}

/// How a table ended in this run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableReport {
    pub table: String,
    pub phase: String,
    pub counts: TableCounts,
    pub seconds: f64,
    pub error: Option<String>,
}

/// What the runner needs while it runs.
pub struct Runner<'a> {
    pub plan: &'a Plan,
    pub source: &'a mut Client,
    pub target: &'a mut Client,
    pub run_id: i64,
}

impl Runner<'_> {
    /// Runs (or resumes) one table until every source row is accounted for.
    pub async fn run_table(&mut self, t: &Prepared) -> anyhow::Result<TableReport> {
        let started = Instant::now();
        let name = t.plan.name.clone();
        let span = info_span!("table", table = %name);
        let result = self.copy_table(t).instrument(span).await;
        // A transient fault goes back to `run_table_riding_faults`, which reconnects and
        // resumes: nothing is recorded as failed (the connection may be gone anyway).
        if result.as_ref().is_err_and(pg::is_transient) {
            return Err(result.unwrap_err());
        }
        let state = state::table_state(&*self.target, &name).await?;
        let (phase, counts) = state
            .map(|s| (s.phase, s.counts))
            .unwrap_or((TablePhase::Pending, TableCounts::default()));
        let error = match (&result, &phase) {
            (Err(e), _) => Some(pg::explain(e)),
            (_, TablePhase::Failed { error, .. }) => Some(error.clone()),
            _ => None,
        };
        if let Err(e) = &result {
            // Record the failure for `status`; the checkpoint stays where the last commit left it.
            let _ = self
                .target
                .execute(
                    "UPDATE migration.table_state SET phase = 'failed', error = $2, updated_at = clock_timestamp() WHERE table_name = $1",
                    &[&name, &format!("{e:#}")],
                )
                .await;
        }
        let phase = if result.is_err() {
            "failed".to_string()
        } else {
            phase.name().to_string()
        };
        Ok(TableReport {
            table: name,
            phase,
            counts,
            seconds: started.elapsed().as_secs_f64(),
            error,
        })
    }

    async fn copy_table(&mut self, t: &Prepared) -> anyhow::Result<()> {
        let name = &t.plan.name;
        let Runner {
            plan,
            source,
            target,
            run_id,
        } = self;
        let existing = state::table_state(&**target, name).await?;
        if matches!(existing.as_ref().map(|s| &s.phase), Some(TablePhase::Done)) {
            info!("already done, skipping");
            return Ok(());
        }
        let mut last_key = existing.as_ref().and_then(|s| s.last_key);
        let counts = existing.map(|s| s.counts).unwrap_or_default();

        // One snapshot of the source for the whole table.
        let src = source
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .context("starting the source snapshot")?;
        let source_table = qualified(&plan.source_schema, &t.description.source_table);
        let total: i64 = src
            .query_one(&format!("SELECT count(*) FROM {source_table}"), &[])
            .await
            .with_context(|| format!("counting {source_table}"))?
            .get(0);
        target
            .execute(
                "INSERT INTO migration.table_state (table_name, phase, source_rows, started_at, updated_at)
                 VALUES ($1, 'copying', $2, clock_timestamp(), clock_timestamp())
                 ON CONFLICT (table_name) DO UPDATE SET phase = 'copying', source_rows = $2, error = NULL, updated_at = clock_timestamp()",
                &[name, &total],
            )
            .await?;

        let source_info = pg::tables(src.client(), &plan.source_schema)
            .await?
            .remove(&t.description.source_table)
            .with_context(|| format!("source table {source_table} disappeared"))?;
        let mut progress = Progress::new(name, total as u64, counts.rows_read as u64);
        let mut writer = TableWriter::new(target, *run_id, plan, t.clone(), counts).await?;
        writer.source_info = Some(source_info);
        let mut watcher = PluginWatcher::new(&t.plan.plugin, &t.plugin.sha256);
        // A file replaced after the plan was loaded and not yet applied: the table runs on it
        // from its first batch.
        if let Some(candidate) = watcher.changed_before_start(&writer.runtime) {
            writer.swap(candidate).await?;
        }
        // The next page is read while the current one is transformed and committed.
        let mut prefetched: Option<Vec<SourceRow>> = None;
        loop {
            if let Some(candidate) = watcher.poll(&writer.runtime) {
                writer.swap(candidate).await?;
                // A new component may read other columns: read its page afresh.
                prefetched = None;
            }
            let rows = match prefetched.take() {
                Some(rows) => rows,
                None => {
                    let clock = Instant::now();
                    let rows = read_page(&src, &writer.t, &plan.source_schema, last_key).await?;
                    writer.timing.read += clock.elapsed();
                    rows
                }
            };
            let Some(first) = rows.first() else { break };
            let span = info_span!(
                "batch",
                batch = writer.counts.batches + 1,
                first_key = first.key,
                rows = rows.len()
            );
            // A short page is the last one of the snapshot.
            let more = rows.len() >= writer.t.plan.batch_size;
            let after = rows.last().map(|r| r.key);
            let reader = writer.t.clone();
            let read_next = async {
                let clock = Instant::now();
                let next = if more {
                    read_page(&src, &reader, &plan.source_schema, after).await
                } else {
                    Ok(Vec::new())
                };
                (next, clock.elapsed())
            };
            let mut mode = Mode::Advance {
                last_key: &mut last_key,
            };
            let (processed, (next, read_time)) =
                tokio::join!(writer.process(rows, &mut mode).instrument(span), read_next);
            processed?;
            writer.timing.read += read_time;
            prefetched = Some(next?);
            crate::failpoint::batch_delay().await;
            progress.batch_committed(&writer.counts);
            if let Err(stop) = check_reject_rate(&writer.t, &writer.counts, total, false) {
                return Err(state::with_top_reasons(&*writer.target, name, stop).await);
            }
        }
        let timing = &writer.timing;
        info!(
            read_s = format!("{:.2}", timing.read.as_secs_f64()),
            transform_s = format!("{:.2}", timing.transform.as_secs_f64()),
            write_s = format!("{:.2}", timing.write.as_secs_f64()),
            "where the time went"
        );
        src.commit().await.ok();
        if let Some(a) = &writer.adopt {
            let extras = record_adopt_extras(&*writer.target, plan, name, a).await?;
            let adopted = writer.counts.rows_written;
            info!(adopted, quarantined = writer.counts.rows_rejected, extras, target = %a.table, "adopted the rows an earlier migration wrote");
            if extras > 0 {
                warn!(
                    "{extras} row(s) of {} have no source row: listed in migration.adopt_extras (`host validate` fails until they are deleted or given their legacy id)",
                    a.table
                );
            }
        }
        if let Err(stop) = check_reject_rate(&writer.t, &writer.counts, total, true) {
            return Err(state::with_top_reasons(&*writer.target, name, stop).await);
        }
        writer
            .target
            .execute(
                "UPDATE migration.table_state SET phase = 'done', finished_at = clock_timestamp(), updated_at = clock_timestamp() WHERE table_name = $1",
                &[name],
            )
            .await?;
        progress.finish(&writer.counts);
        Ok(())
    }
}

/// A table that ran this long since its last fault made progress: a new fault starts afresh.
const FAULT_EPISODE_RESET: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs (or resumes) one table over `source` and `target`, riding out transient faults: on a
/// lost connection, a serialization failure or a deadlock it pauses, reconnects both sides
/// (replacing the clients) and resumes after the last committed batch, until the fault has
/// lasted the plan's `fault_timeout_seconds`. Any other error ends the table as before.
pub async fn run_table_riding_faults(
    plan: &Plan,
    t: &Prepared,
    source: &mut Client,
    target: &mut Client,
    run_id: i64,
) -> anyhow::Result<TableReport> {
    let mut backoff = crate::transient::Backoff::new(plan.fault_timeout);
    loop {
        let attempt_started = Instant::now();
        let result = Runner {
            plan,
            source: &mut *source,
            target: &mut *target,
            run_id,
        }
        .run_table(t)
        .await;
        let fault = match result {
            Err(e) if pg::is_transient(&e) => e,
            other => return other,
        };
        if attempt_started.elapsed() >= FAULT_EPISODE_RESET {
            backoff.reset();
        }
        let Some(pause) = backoff.next_pause() else {
            let seconds = backoff.fault_age().as_secs();
            return Err(fault.context(format!(
                "{}: still failing after {seconds} s of retries (fault_timeout_seconds = {})",
                t.plan.name,
                plan.fault_timeout.as_secs()
            )));
        };
        warn!(
            table = %t.plan.name,
            attempt = backoff.attempts(),
            "transient fault, resuming after the last committed batch in {:.1} s: {}",
            pause.as_secs_f64(),
            pg::explain(&fault).lines().next().unwrap_or_default()
        );
        tokio::time::sleep(pause).await;
        *source = crate::transient::reconnect(&plan.source_url, pg::Side::Source, &mut backoff)
            .await
            .map_err(|e| e.context(format!("{} stopped by a fault: {fault:#}", t.plan.name)))?;
        *target = crate::transient::reconnect(&plan.target_url, pg::Side::Target, &mut backoff)
            .await
            .map_err(|e| e.context(format!("{} stopped by a fault: {fault:#}", t.plan.name)))?;
    }
}

/// How a processed run of rows moves the table's state.
pub enum Mode<'k> {
    /// New rows: the checkpoint advances to the last key, from the value it must still have.
    Advance { last_key: &'k mut Option<i64> },
    /// Quarantined rows replayed (`host retry`): they leave the quarantine, the checkpoint stays.
    Retry,
}

/// Transforms and commits the rows of one table, holding its plugin instance across batches.
pub struct TableWriter<'a> {
    pub target: &'a mut Client,
    run_id: i64,
    plan: &'a Plan,
    /// The table as currently prepared: replaced whole by a hot swap.
    pub t: Prepared,
    ids: Arc<IdMaps>,
    instance: Instance,
    /// What the plugin prints, bounded per batch across the instances a trap replaces.
    output: PluginOutput,
    pub counts: TableCounts,
    pub timing: Timing,
    pub runtime: crate::wasm::Runtime,
    /// The source table's columns, to check a swapped-in component's reads.
    pub source_info: Option<pg::TableInfo>,
    /// Set when an earlier migration already wrote this table's rows: they are adopted.
    adopt: Option<AdoptTarget>,
    /// Foreign keys set aside for the load, which each batch checks itself.
    deferred_fks: Vec<DeferredFk>,
}

impl<'a> TableWriter<'a> {
    pub async fn new(
        target: &'a mut Client,
        run_id: i64,
        plan: &'a Plan,
        t: Prepared,
        counts: TableCounts,
    ) -> anyhow::Result<Self> {
        let ids = Arc::new(IdMaps::load(&*target, &t.description.resolves).await?);
        let output = PluginOutput::new(&t.plan.name, t.plan.limits);
        let instance = t.plugin.instantiate_with(ids.clone(), &output)?;
        let runtime = t.plugin.runtime();
        let adopt = t.adopt_target();
        let deferred_fks = crate::deferred::deferred_fks(&*target).await?;
        Ok(TableWriter {
            adopt,
            deferred_fks,
            target,
            run_id,
            plan,
            t,
            ids,
            instance,
            output,
            counts,
            timing: Timing::default(),
            runtime,
            source_info: None,
        })
    }

    /// Processes rows: one plugin call, one commit; a run that traps or that the target refuses
    /// is halved until the offending row is alone, and that row is quarantined.
    pub async fn process(
        &mut self,
        rows: Vec<SourceRow>,
        mode: &mut Mode<'_>,
    ) -> anyhow::Result<()> {
        let result = self.process_batch(rows, mode).await;
        // One line for what the plugin printed beyond its budget in this batch.
        self.output.end_batch();
        result
    }

    async fn process_batch(
        &mut self,
        rows: Vec<SourceRow>,
        mode: &mut Mode<'_>,
    ) -> anyhow::Result<()> {
        let targets = TargetTables::new(&self.t, &self.plan.target_schema)
            .with_fk_checks(&self.deferred_fks, &self.plan.target_schema);
        let mut pending = vec![rows];
        while let Some(mut rows) = pending.pop() {
            if rows.len() > 1 && rows.iter().any(|r| r.unreadable.is_some()) {
                split_into(&mut pending, rows);
                continue;
            }
            let clock = Instant::now();
            let transformed = match &rows[0].unreadable {
                Some(why) => Ok(vec![Outcome::Reject(format!(
                    "the source row cannot be read: {why}"
                ))]),
                None => transform_rows(&mut self.instance, &mut rows),
            };
            self.timing.transform += clock.elapsed();
            let batch = match transformed {
                Ok(outcomes) => {
                    let mut batch = Batch::new(&rows, outcomes, &targets);
                    // Retry writes the rows an earlier migration missed; a run adopts.
                    if let (Some(a), Mode::Advance { .. }) = (&self.adopt, &*mode) {
                        let existing = adopted_ids(self.target, self.plan, a, &rows).await?;
                        batch.adopt(&rows, &existing, a);
                    }
                    batch
                }
                Err(trap) => {
                    // A trapped instance cannot be entered again.
                    self.instance = self
                        .t
                        .plugin
                        .instantiate_with(self.ids.clone(), &self.output)?;
                    if rows.len() > 1 {
                        split_into(&mut pending, rows);
                        continue;
                    }
                    warn!(key = rows[0].key, reason = %trap_reason(&trap), "plugin trapped on this row; quarantining it");
                    Batch::quarantined(trap_reason(&trap))
                }
            };
            let clock = Instant::now();
            let batch_no = self.counts.batches + 1;
            let mut result = commit(
                self.target,
                self.run_id,
                &self.t,
                &targets,
                &rows,
                &batch,
                batch_no,
                mode,
            )
            .await;
            let batch = match result {
                Err(CommitError::Data(reason)) if rows.len() > 1 => {
                    tracing::debug!(%reason, "target refused the batch; bisecting");
                    split_into(&mut pending, rows);
                    self.timing.write += clock.elapsed();
                    continue;
                }
                Err(CommitError::Data(reason)) => {
                    warn!(key = rows[0].key, %reason, "target refused this row; quarantining it");
                    let alone = Batch::quarantined(format!("target refused the row: {reason}"));
                    result = commit(
                        self.target,
                        self.run_id,
                        &self.t,
                        &targets,
                        &rows,
                        &alone,
                        batch_no,
                        mode,
                    )
                    .await;
                    alone
                }
                _ => batch,
            };
            self.timing.write += clock.elapsed();
            result.map_err(CommitError::into_anyhow)?;
            let mut c = batch.counts();
            if matches!(mode, Mode::Retry) {
                // Replayed rows were counted when first read, as quarantined.
                c.rows_rejected -= c.rows_read;
                c.rows_read = 0;
            }
            self.counts.add(&c);
            self.counts.batches += 1;
            // A plugin resolving its own table sees the rows committed so far in this run.
            let name = &self.t.plan.name;
            self.ids.record(
                name,
                rows.iter().zip(&batch.fates).filter_map(|(r, f)| match f {
                    Fate::Written(id) => Some((r.key, *id)),
                    _ => None,
                }),
                rows.iter().zip(&batch.fates).filter_map(|(r, f)| match f {
                    Fate::Skipped(reason) => Some((r.key, reason.clone())),
                    _ => None,
                }),
            );
            if let Mode::Advance { last_key } = mode {
                **last_key = rows.last().map(|r| r.key);
            }
        }
        Ok(())
    }

    /// Swaps in a new component at a batch boundary if it fits the schemas; otherwise keeps
    /// the old one. Either way the outcome is logged and recorded in `migration.swaps`.
    pub async fn swap(
        &mut self,
        candidate: Result<crate::wasm::Plugin, String>,
    ) -> anyhow::Result<()> {
        let name = self.t.plan.name.clone();
        let old = self.t.plugin.sha256.clone();
        let outcome = match (candidate, &self.source_info) {
            (Err(message), _) => Err(message),
            (Ok(_), None) => Err("the source table's columns are unknown".to_string()),
            (Ok(plugin), Some(source_info)) => {
                check_swap(plugin, &self.t, self.plan, source_info, &*self.target).await
            }
        };
        let (new_sha, applied, message) = match outcome {
            Ok(prepared) => {
                let new = prepared.plugin.sha256.clone();
                self.ids =
                    Arc::new(IdMaps::load(&*self.target, &prepared.description.resolves).await?);
                self.instance = prepared
                    .plugin
                    .instantiate_with(self.ids.clone(), &self.output)?;
                self.t = prepared;
                info!(old = %&old[..12], new = %&new[..12], "hot swap: the next batch runs on the new component");
                (new, true, String::new())
            }
            Err(message) => {
                warn!(old = %&old[..12], "hot swap refused, the old component keeps running: {message}");
                (
                    watcher_sha(&self.t.plan.plugin).unwrap_or_default(),
                    false,
                    message,
                )
            }
        };
        record_swap(
            &*self.target,
            self.run_id,
            &name,
            &old,
            &new_sha,
            applied,
            &message,
        )
        .await
    }
}

/// Checks a new component for the table `current` and both schemas, as `host check` would.
async fn check_swap(
    plugin: crate::wasm::Plugin,
    current: &Prepared,
    plan: &Plan,
    source_info: &pg::TableInfo,
    target: &Client,
) -> Result<Prepared, String> {
    let description = plugin
        .instantiate(Default::default(), &current.plan.name)
        .and_then(|mut i| i.describe())
        .map_err(|e| format!("describe() failed: {e}"))?;
    let mut prepared = Prepared {
        plan: current.plan.clone(),
        plugin,
        description,
        source_columns: Vec::new(),
        target_columns: Vec::new(),
    };
    let problems = crate::check::recheck(&mut prepared, plan, current, source_info, target)
        .await
        .map_err(|e| format!("{e:#}"))?;
    if problems.is_empty() {
        Ok(prepared)
    } else {
        Err(problems.join("; "))
    }
}

/// Records a swap's outcome in `migration.swaps`, where `host swap` and `status` read it.
async fn record_swap(
    target: &Client,
    run_id: i64,
    table: &str,
    old_sha: &str,
    new_sha: &str,
    applied: bool,
    message: &str,
) -> anyhow::Result<()> {
    target
        .execute(
            "INSERT INTO migration.swaps (table_name, old_sha256, new_sha256, applied, message, run_id) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&table, &old_sha, &new_sha, &applied, &message, &run_id],
        )
        .await?;
    Ok(())
}

/// Hot swaps for the tables of a run that have not started yet, watched from the start of the
/// run: a plugin file replaced (`host swap`, or a new file renamed over it) is compiled,
/// checked and recorded in `migration.swaps` at once, and the table later starts on it. Once
/// a table starts, its own [`PluginWatcher`] takes over.
pub struct UnstartedSwaps {
    tables: Arc<std::sync::Mutex<HashMap<String, Unstarted>>>,
    task: tokio::task::JoinHandle<()>,
}

struct Unstarted {
    prepared: Prepared,
    seen: Option<(std::time::SystemTime, u64)>,
}

/// How often the plugin files of tables not started yet are looked at (one stat each).
const UNSTARTED_POLL: std::time::Duration = std::time::Duration::from_millis(200);

impl UnstartedSwaps {
    /// Watches the plugin files of `tables` (prepared in `analysis`) until each starts.
    pub fn watch(
        plan: &Plan,
        analysis: &crate::check::Analysis,
        tables: &[&str],
        run_id: i64,
    ) -> Self {
        let watched: HashMap<String, Unstarted> = tables
            .iter()
            .filter_map(|name| analysis.prepared(name))
            .map(|t| {
                let unstarted = Unstarted {
                    seen: file_stamp(&t.plan.plugin),
                    prepared: t.clone(),
                };
                (t.plan.name.clone(), unstarted)
            })
            .collect();
        let tables = Arc::new(std::sync::Mutex::new(watched));
        let task = tokio::spawn(watch_unstarted(plan.clone(), tables.clone(), run_id));
        UnstartedSwaps { tables, task }
    }

    /// The table starts: its component as of now (swapped or not), and it is no longer
    /// watched here.
    pub fn start(&self, table: &str) -> Option<Prepared> {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        tables.remove(table).map(|u| u.prepared)
    }
}

impl Drop for UnstartedSwaps {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn watch_unstarted(
    plan: Plan,
    tables: Arc<std::sync::Mutex<HashMap<String, Unstarted>>>,
    run_id: i64,
) {
    // Connected on the first swap only: most runs never see one.
    let mut clients: Option<(Client, Client)> = None;
    loop {
        tokio::time::sleep(UNSTARTED_POLL).await;
        let changed: Vec<Prepared> = {
            let mut tables = tables.lock().unwrap_or_else(|e| e.into_inner());
            if tables.is_empty() {
                return;
            }
            tables
                .values_mut()
                .filter_map(|u| {
                    let stamp = file_stamp(&u.prepared.plan.plugin);
                    (stamp.is_some() && stamp != u.seen).then(|| {
                        u.seen = stamp;
                        u.prepared.clone()
                    })
                })
                .collect()
        };
        for current in changed {
            let name = current.plan.name.clone();
            let span = info_span!("table", table = %name);
            let result = swap_unstarted(&plan, &current, &tables, &mut clients, run_id)
                .instrument(span)
                .await;
            if let Err(e) = result {
                // The table's own watcher checks the file again when it starts.
                warn!(table = %name, "a swap of a table not started yet could not be checked now ({e:#}); it is checked when the table starts");
                clients = None;
            }
        }
    }
}

/// Compiles, checks and records the new component of a table that has not started.
async fn swap_unstarted(
    plan: &Plan,
    current: &Prepared,
    tables: &std::sync::Mutex<HashMap<String, Unstarted>>,
    clients: &mut Option<(Client, Client)>,
    run_id: i64,
) -> anyhow::Result<()> {
    let name = &current.plan.name;
    let path = current.plan.plugin.clone();
    let Some(new_sha) = watcher_sha(&path) else {
        return Ok(());
    };
    if new_sha == current.plugin.sha256 {
        return Ok(());
    }
    info!(file = %path.display(), "plugin file of a table not started yet changed: compiling the new component");
    let runtime = current.plugin.runtime();
    let candidate = tokio::task::spawn_blocking(move || runtime.load(&path))
        .await?
        .map_err(|e| e.to_string());
    if clients.is_none() {
        let target = pg::connect(&plan.target_url, pg::Side::Target).await?;
        let source = pg::connect(&plan.source_url, pg::Side::Source).await?;
        *clients = Some((source, target));
    }
    let (source, target) = clients.as_ref().expect("connected above");
    if matches!(
        state::table_state(target, name).await?.map(|s| s.phase),
        Some(TablePhase::Done)
    ) {
        // A finished table is not run again: `host swap` says the next run or retry uses it.
        tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        return Ok(());
    }
    let outcome = match candidate {
        Err(message) => Err(message),
        Ok(plugin) => {
            let source_table = &current.description.source_table;
            let source_info = pg::tables(source, &plan.source_schema)
                .await?
                .remove(source_table)
                .with_context(|| format!("source table {source_table} disappeared"))?;
            check_swap(plugin, current, plan, &source_info, target).await
        }
    };
    let old = &current.plugin.sha256;
    {
        let mut tables = tables.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = tables.get_mut(name) else {
            // It started meanwhile: its own watcher applies the file from its first batch.
            return Ok(());
        };
        if let Ok(prepared) = &outcome {
            entry.prepared = prepared.clone();
        }
    }
    match &outcome {
        Ok(p) => {
            info!(old = %&old[..12], new = %&p.plugin.sha256[..12], "hot swap applied before the table started: it runs on the new component from its first batch");
            record_swap(target, run_id, name, old, &p.plugin.sha256, true, "").await
        }
        Err(message) => {
            warn!(old = %&old[..12], "hot swap refused, the table will run on the old component: {message}");
            record_swap(target, run_id, name, old, &new_sha, false, message).await
        }
    }
}

fn watcher_sha(path: &std::path::Path) -> Option<String> {
    use sha2::Digest;
    std::fs::read(path)
        .ok()
        .map(|b| hex::encode(sha2::Sha256::digest(&b)))
}

/// Notices a changed plugin file between batches and compiles it on another thread, so the
/// running batches never wait for a compile.
pub struct PluginWatcher {
    path: std::path::PathBuf,
    seen: Option<(std::time::SystemTime, u64)>,
    current_sha: String,
    compiling: Option<std::thread::JoinHandle<Result<crate::wasm::Plugin, String>>>,
}

impl PluginWatcher {
    pub fn new(path: &std::path::Path, sha: &str) -> Self {
        PluginWatcher {
            path: path.to_path_buf(),
            seen: file_stamp(path),
            current_sha: sha.to_string(),
            compiling: None,
        }
    }

    /// The file's component, compiled now, if it is not the one the table was prepared with
    /// (replaced between the plan's loading and the table's start).
    pub fn changed_before_start(
        &mut self,
        runtime: &crate::wasm::Runtime,
    ) -> Option<Result<crate::wasm::Plugin, String>> {
        let sha = watcher_sha(&self.path)?;
        if sha == self.current_sha {
            return None;
        }
        info!(file = %self.path.display(), "plugin file changed before the table started: compiling the new component");
        let result =
            crate::wasm::outside_async(|| runtime.load(&self.path)).map_err(|e| e.to_string());
        if let Ok(p) = &result {
            self.current_sha = p.sha256.clone();
        }
        Some(result)
    }

    /// A finished candidate, if the file changed and its compile is done (one stat per call).
    pub fn poll(
        &mut self,
        runtime: &crate::wasm::Runtime,
    ) -> Option<Result<crate::wasm::Plugin, String>> {
        if let Some(handle) = &self.compiling {
            if !handle.is_finished() {
                return None;
            }
            let result = self
                .compiling
                .take()?
                .join()
                .unwrap_or_else(|_| Err("the compile thread panicked".into()));
            if let Ok(p) = &result {
                self.current_sha = p.sha256.clone();
            }
            return Some(result);
        }
        let stamp = file_stamp(&self.path);
        if stamp == self.seen || stamp.is_none() {
            return None;
        }
        self.seen = stamp;
        if watcher_sha(&self.path).as_deref() == Some(self.current_sha.as_str()) {
            return None;
        }
        info!(file = %self.path.display(), "plugin file changed: compiling the new component");
        let (runtime, path) = (runtime.clone(), self.path.clone());
        self.compiling = Some(std::thread::spawn(move || {
            runtime.load(&path).map_err(|e| e.to_string())
        }));
        None
    }
}

fn file_stamp(path: &std::path::Path) -> Option<(std::time::SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Time spent per stage of one table, for the operator and for tuning.
#[derive(Debug, Default)]
pub struct Timing {
    read: std::time::Duration,
    transform: std::time::Duration,
    write: std::time::Duration,
}

/// Commits one batch: target rows, id map, quarantine, skips, lineage and checkpoint in
/// one transaction. The checkpoint update also asserts nobody else moved it.
#[allow(clippy::too_many_arguments)]
async fn commit(
    target: &mut Client,
    run_id: i64,
    t: &Prepared,
    targets: &TargetTables<'_>,
    rows: &[SourceRow],
    batch: &Batch,
    batch_no: i64,
    mode: &Mode<'_>,
) -> Result<(), CommitError> {
    let name = &t.plan.name;
    let tx = target.transaction().await.map_err(CommitError::from_pg)?;
    let keys: Vec<i64> = rows.iter().map(|r| r.key).collect();
    if matches!(mode, Mode::Retry) {
        tx.execute(
            "DELETE FROM migration.quarantine WHERE table_name = $1 AND legacy_key = ANY($2)",
            &[name, &keys],
        )
        .await
        .map_err(CommitError::from_pg)?;
    }
    for (i, buf) in batch.target_copy.iter().enumerate() {
        if !buf.is_empty() {
            copy_in(&tx, &targets.copy_statements[i], buf.clone()).await?;
        }
    }
    // The foreign keys set aside for the load, proven for this batch before it commits.
    for (check, values) in targets.fk_checks.iter().zip(&batch.fk_values) {
        if values.is_empty() {
            continue;
        }
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let missing = tx
            .query_opt(&check.sql, &[&values])
            .await
            .map_err(CommitError::from_pg)?;
        if let Some(row) = missing {
            let fk = &check.fk;
            return Err(CommitError::Data(format!(
                "insert on table \"{}\" violates foreign key \"{}\": {} = {} has no row in {}",
                fk.table,
                fk.name,
                fk.column,
                row.get::<_, String>(0),
                fk.ref_table
            )));
        }
    }
    let sha = &t.plugin.sha256;
    let mut id_buf = Vec::new();
    let mut q_buf = Vec::new();
    let mut s_buf = Vec::new();
    for (row, fate) in rows.iter().zip(&batch.fates) {
        match fate {
            Fate::Written(id) => {
                codec::escape_text(&mut id_buf, name);
                id_buf.extend_from_slice(format!("\t{}\t{id}\n", row.key).as_bytes());
            }
            Fate::Skipped(reason) => {
                codec::escape_text(&mut s_buf, name);
                s_buf.extend_from_slice(format!("\t{}\t", row.key).as_bytes());
                codec::escape_text(&mut s_buf, reason);
                s_buf.extend_from_slice(format!("\t{batch_no}\n").as_bytes());
            }
            Fate::Quarantined(reason) => {
                let json = source_json(t, row);
                codec::escape_text(&mut q_buf, name);
                q_buf.extend_from_slice(format!("\t{}\t", row.key).as_bytes());
                codec::escape_text(&mut q_buf, &json);
                q_buf.push(b'\t');
                codec::escape_text(&mut q_buf, reason);
                q_buf.extend_from_slice(format!("\t{sha}\t{batch_no}\n").as_bytes());
            }
        }
    }
    if !id_buf.is_empty() {
        copy_in(
            &tx,
            "COPY migration.id_map (entity, legacy_id, id) FROM STDIN",
            id_buf,
        )
        .await?;
    }
    if !q_buf.is_empty() {
        copy_in(&tx, "COPY migration.quarantine (table_name, legacy_key, source_row, reason, component_sha256, batch_no) FROM STDIN", q_buf).await?;
    }
    if !s_buf.is_empty() {
        copy_in(
            &tx,
            "COPY migration.skipped (table_name, legacy_key, reason, batch_no) FROM STDIN",
            s_buf,
        )
        .await?;
    }
    let c = batch.counts();
    let first_key = keys.first().copied().unwrap_or_default();
    let last_key = keys.last().copied().unwrap_or_default();
    let kind = if matches!(mode, Mode::Retry) {
        "retry"
    } else {
        "run"
    };
    tx.execute(
        "INSERT INTO migration.batches (table_name, batch_no, run_id, first_key, last_key, rows_in, rows_written, rows_skipped, rows_rejected, target_rows, component_sha256, kind)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[name, &batch_no, &run_id, &first_key, &last_key, &(rows.len() as i32), &(c.rows_written as i32), &(c.rows_skipped as i32), &(c.rows_rejected as i32), &(c.target_rows as i32), sha, &kind],
    )
    .await
    .map_err(CommitError::from_pg)?;
    let moved = match mode {
        Mode::Advance { last_key: prev_key } => tx
            .execute(
                "UPDATE migration.table_state
                 SET last_key = $2, rows_read = rows_read + $3, rows_written = rows_written + $4, rows_skipped = rows_skipped + $5,
                     rows_rejected = rows_rejected + $6, target_rows = target_rows + $7, batches = batches + 1,
                     component_sha256 = $8, updated_at = clock_timestamp()
                 WHERE table_name = $1 AND last_key IS NOT DISTINCT FROM $9",
                &[name, &last_key, &c.rows_read, &c.rows_written, &c.rows_skipped, &c.rows_rejected, &c.target_rows, sha, &**prev_key],
            )
            .await
            .map_err(CommitError::from_pg)?,
        Mode::Retry => tx
            .execute(
                "UPDATE migration.table_state
                 SET rows_written = rows_written + $2, rows_skipped = rows_skipped + $3, rows_rejected = rows_rejected - $4 + $5,
                     target_rows = target_rows + $6, batches = batches + 1, component_sha256 = $7, updated_at = clock_timestamp()
                 WHERE table_name = $1",
                &[name, &c.rows_written, &c.rows_skipped, &c.rows_read, &c.rows_rejected, &c.target_rows, sha],
            )
            .await
            .map_err(CommitError::from_pg)?,
    };
    if moved != 1 {
        return Err(CommitError::Other(anyhow::anyhow!(
            "the checkpoint of {name} moved under this runner (another `host run` on the same target?): stop the other runner, then run again"
        )));
    }
    crate::failpoint::crash_point("before-commit", name, batch_no);
    tx.commit().await.map_err(CommitError::from_pg)?;
    crate::failpoint::crash_point("after-commit", name, batch_no);
    Ok(())
}

/// What becomes of the rows of an adopted table: a row the earlier migration wrote keeps its
/// UUID (whatever the plugin makes of it: children may already point at it); a row it missed
/// is quarantined for `host retry`; a row it rightly left out keeps the plugin's fate.
pub fn adopt_fates(
    rows: &[SourceRow],
    fates: &mut [Fate],
    existing: &HashMap<i64, uuid::Uuid>,
    a: &AdoptTarget,
) {
    for (row, fate) in rows.iter().zip(fates.iter_mut()) {
        match (existing.get(&row.key), &fate) {
            (Some(id), _) => *fate = Fate::Written(*id),
            (None, Fate::Written(_)) => {
                *fate = Fate::Quarantined(format!(
                    "missing in the adopted table: no row of {} has {} = {} (the earlier migration did not move it); `host retry` migrates it through the plugin",
                    a.table, a.legacy_id, row.key
                ))
            }
            (None, _) => {}
        }
    }
}

/// The UUIDs an earlier migration gave these rows, by legacy id.
pub async fn adopted_ids(
    target: &Client,
    plan: &Plan,
    a: &AdoptTarget,
    rows: &[SourceRow],
) -> anyhow::Result<HashMap<i64, uuid::Uuid>> {
    let keys: Vec<i64> = rows.iter().map(|r| r.key).collect();
    let sql = format!(
        "SELECT {legacy}::int8, {id} FROM {table} WHERE {legacy}::int8 = ANY($1)",
        legacy = ident(&a.legacy_id),
        id = ident(&a.id),
        table = qualified(&plan.target_schema, &a.table)
    );
    let found = target
        .query(&sql, &[&keys])
        .await
        .map_err(|e| pg::db_error(format!("reading the adopted rows of {}", a.table), e))?;
    Ok(found.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The rows of an adopted table that no source row accounts for, as
/// `(table_name, target_table, id, legacy_id, reason)`; parameters $1 = plan table, $2 = target table.
pub fn adopt_extras_select(plan: &Plan, a: &AdoptTarget) -> String {
    format!(
        "SELECT $1::text, $2::text, t.{id}::text, t.{legacy}::int8,
                CASE WHEN t.{legacy} IS NULL THEN 'its legacy id is NULL'
                     WHEN EXISTS (SELECT 1 FROM migration.id_map m WHERE m.entity = $1 AND m.legacy_id = t.{legacy}::int8)
                       THEN 'a duplicate: another row with this legacy id was adopted'
                     ELSE 'no source row has this legacy id' END
         FROM {table} t
         WHERE NOT EXISTS (SELECT 1 FROM migration.id_map m WHERE m.entity = $1 AND m.id = t.{id})",
        legacy = ident(&a.legacy_id),
        id = ident(&a.id),
        table = qualified(&plan.target_schema, &a.table)
    )
}

/// Records the extra rows of an adopted table (replacing what an earlier run recorded);
/// returns how many there are.
async fn record_adopt_extras(
    target: &Client,
    plan: &Plan,
    name: &str,
    a: &AdoptTarget,
) -> anyhow::Result<i64> {
    let sql = format!(
        "WITH gone AS (DELETE FROM migration.adopt_extras WHERE table_name = $1)
         INSERT INTO migration.adopt_extras (table_name, target_table, id, legacy_id, reason) {}",
        adopt_extras_select(plan, a)
    );
    let n = target
        .execute(&sql, &[&name, &a.table])
        .await
        .map_err(|e| pg::db_error(format!("looking for extra rows in {}", a.table), e))?;
    Ok(n as i64)
}

fn split_into(pending: &mut Vec<Vec<SourceRow>>, mut rows: Vec<SourceRow>) {
    let second = rows.split_off(rows.len() / 2);
    // A stack: push the later half first so rows commit in key order.
    pending.push(second);
    pending.push(rows);
}

fn trap_reason(trap: &PluginError) -> String {
    match trap {
        PluginError::Trap { message, .. } => format!("plugin trapped: {message}"),
        PluginError::OverLimit { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// A table is never stopped for fewer rejected rows than this: one bad row in a 30-row
/// lookup table is a row to fix, not a broken transform.
const MIN_REJECTS_TO_STOP: i64 = 10;

/// Stops the table when its quarantined share is over `max_reject_rate`. Part-way it stops
/// only once the limit can no longer be met whatever the remaining rows do (so a dirty stretch
/// early in the table does not stop it); at the end, when the final share is over.
pub fn check_reject_rate(
    t: &Prepared,
    counts: &TableCounts,
    source_rows: i64,
    finished: bool,
) -> anyhow::Result<()> {
    let limit = t.plan.max_reject_rate;
    let over = if finished {
        counts.rows_rejected as f64 > limit * counts.rows_read as f64
    } else {
        counts.rows_rejected as f64 > limit * source_rows as f64
    };
    if counts.rows_rejected < MIN_REJECTS_TO_STOP || !over {
        return Ok(());
    }
    let rate = counts.rows_rejected as f64 / counts.rows_read.max(1) as f64;
    bail!(
        "{} of {} rows read ({:.2}%) were quarantined, {} max_reject_rate {:.2}% of the table's {source_rows} rows: the table stopped. \
         Inspect them (SELECT reason, count(*) FROM migration.quarantine WHERE table_name = '{}' GROUP BY 1), fix the plugin or the data, \
         then run again (committed batches stay; it resumes after the last one)",
        counts.rows_rejected,
        counts.rows_read,
        rate * 100.0,
        if finished { "above" } else { "already more than" },
        limit * 100.0,
        t.plan.name
    );
}

fn source_json(t: &Prepared, row: &SourceRow) -> String {
    let map: serde_json::Map<String, serde_json::Value> = t
        .source_columns
        .iter()
        .zip(&row.values)
        .map(|(c, v)| (c.name.clone(), codec::to_json(v)))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// One plugin call over `rows`: their values are lent to the call and put back (not copied:
/// a batch's values are most of what the runner allocates).
pub fn transform_rows(
    instance: &mut Instance,
    rows: &mut [SourceRow],
) -> Result<Vec<Outcome>, PluginError> {
    let values: Vec<Vec<Value>> = rows
        .iter_mut()
        .map(|r| std::mem::take(&mut r.values))
        .collect();
    let result = instance.transform(&values);
    for (row, v) in rows.iter_mut().zip(values) {
        row.values = v;
    }
    result
}

/// Reads the next keyset page, decoding each field by its source column type.
async fn read_page(
    src: &Transaction<'_>,
    t: &Prepared,
    schema: &str,
    after: Option<i64>,
) -> anyhow::Result<Vec<SourceRow>> {
    let key = ident(&t.plan.key);
    let select_list = t
        .source_columns
        .iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let source_table = qualified(schema, &t.description.source_table);
    let filter = after
        .map(|k| format!("WHERE {key} > {k}"))
        .unwrap_or_default();
    let limit = t.plan.batch_size;
    let sql =
        format!("SELECT {select_list} FROM {source_table} {filter} ORDER BY {key} LIMIT {limit}");
    read_rows(src.client(), &sql, t).await
}

/// Runs `select` (the plugin's `reads` columns, key first) through COPY and decodes the rows.
pub async fn read_rows(src: &Client, select: &str, t: &Prepared) -> anyhow::Result<Vec<SourceRow>> {
    let source_table = &t.description.source_table;
    let stream = src
        .copy_out(&format!("COPY ({select}) TO STDOUT"))
        .await
        .map_err(|e| pg::db_error(format!("reading source table {source_table}"), e))?;
    let chunks: Vec<Bytes> = stream
        .try_collect()
        .await
        .map_err(|e| pg::db_error(format!("reading source table {source_table}"), e))?;
    let data: Vec<u8> = chunks.concat();
    let mut rows = Vec::new();
    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let fields = codec::split_copy_line(line);
        let mut values = Vec::with_capacity(fields.len());
        let mut unreadable = None;
        for (column, raw) in t.source_columns.iter().zip(fields) {
            let (value, why) = codec::decode_or_keep(column, raw);
            unreadable = unreadable.or(why);
            values.push(value);
        }
        let key = match values.first() {
            Some(Value::Int(k)) => *k,
            _ => bail!("{source_table}: a row has a NULL key; the key column must be NOT NULL"),
        };
        rows.push(SourceRow {
            key,
            values,
            unreadable,
        });
    }
    Ok(rows)
}

async fn copy_in(tx: &Transaction<'_>, statement: &str, data: Vec<u8>) -> Result<(), CommitError> {
    let sink = tx.copy_in(statement).await.map_err(CommitError::from_pg)?;
    futures_util::pin_mut!(sink);
    sink.send(Bytes::from(data))
        .await
        .map_err(CommitError::from_pg)?;
    sink.finish().await.map_err(CommitError::from_pg)?;
    Ok(())
}

/// Why a commit failed: the data (split the batch and find the row) or anything else.
#[derive(Debug)]
enum CommitError {
    Data(String),
    Other(anyhow::Error),
}

impl CommitError {
    fn from_pg(e: tokio_postgres::Error) -> Self {
        let data_error = e.code().is_some_and(|c| {
            let code = c.code();
            code.starts_with("22") || code.starts_with("23")
        }) && e.code() != Some(&SqlState::T_R_SERIALIZATION_FAILURE);
        if data_error {
            CommitError::Data(error_text(&e))
        } else {
            CommitError::Other(pg::db_error("writing to the target failed", e))
        }
    }

    fn into_anyhow(self) -> anyhow::Error {
        match self {
            CommitError::Data(m) => anyhow::anyhow!("the target refused a row: {m}"),
            CommitError::Other(e) => e,
        }
    }
}

/// The COPY statements for the tables a plugin writes, and their columns.
pub struct TargetTables<'a> {
    pub copy_statements: Vec<String>,
    prepared: &'a Prepared,
    /// Foreign keys of these tables set aside for the load, checked per batch.
    fk_checks: Vec<FkCheck>,
}

/// One set-aside foreign key of a written table: where its values are, and the query that
/// returns a value with no parent row.
struct FkCheck {
    table: usize,
    column: usize,
    fk: DeferredFk,
    sql: String,
}

impl<'a> TargetTables<'a> {
    pub fn new(t: &'a Prepared, schema: &str) -> Self {
        let copy_statements = t
            .target_columns
            .iter()
            .map(|(table, columns)| {
                let cols = columns
                    .iter()
                    .map(|c| ident(&c.name))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("COPY {} ({cols}) FROM STDIN", qualified(schema, table))
            })
            .collect();
        TargetTables {
            copy_statements,
            prepared: t,
            fk_checks: Vec::new(),
        }
    }

    /// Adds a check for each of `deferred` on a table the plugin writes.
    pub fn with_fk_checks(mut self, deferred: &[DeferredFk], schema: &str) -> Self {
        for fk in deferred {
            let Some(table) = self.index(&fk.table) else {
                continue;
            };
            let Some(column) = self.prepared.target_columns[table]
                .1
                .iter()
                .position(|c| c.name == fk.column)
            else {
                continue;
            };
            let sql = format!(
                "SELECT v FROM unnest($1::text[]) v WHERE NOT EXISTS (SELECT 1 FROM {} p WHERE p.{} = v::{}) LIMIT 1",
                qualified(fk.ref_schema.as_deref().unwrap_or(schema), &fk.ref_table),
                ident(&fk.ref_column),
                fk.type_name
            );
            self.fk_checks.push(FkCheck {
                table,
                column,
                fk: fk.clone(),
                sql,
            });
        }
        self
    }

    fn index(&self, table: &str) -> Option<usize> {
        self.prepared
            .target_columns
            .iter()
            .position(|(t, _)| t == table)
    }
}

/// What became of one source row in a batch.
#[derive(Debug, Clone)]
pub enum Fate {
    Written(uuid::Uuid),
    Skipped(String),
    Quarantined(String),
}

/// A transformed batch, encoded for COPY.
pub struct Batch {
    pub fates: Vec<Fate>,
    /// COPY text per target table (indexed like `Prepared::target_columns`).
    pub target_copy: Vec<Vec<u8>>,
    pub target_rows: i64,
    /// The distinct values of each set-aside foreign key (indexed like `TargetTables::fk_checks`).
    fk_values: Vec<BTreeSet<String>>,
}

impl Batch {
    pub fn new(rows: &[SourceRow], outcomes: Vec<Outcome>, targets: &TargetTables<'_>) -> Batch {
        let t = targets.prepared;
        let mut target_copy = vec![Vec::new(); t.target_columns.len()];
        let mut fk_values = vec![BTreeSet::new(); targets.fk_checks.len()];
        let mut fates = Vec::with_capacity(rows.len());
        let mut target_rows = 0;
        let mut line = Vec::new();
        for (row, outcome) in rows.iter().zip(outcomes) {
            let fate = match outcome {
                Outcome::Skip(reason) => Fate::Skipped(reason),
                Outcome::Reject(reason) => Fate::Quarantined(reason),
                Outcome::Write(out) => {
                    let mut encoded: Vec<(usize, Vec<u8>)> = Vec::with_capacity(out.len());
                    let mut misfit = None;
                    for target_row in &out {
                        match encode_row(targets, target_row, &mut line) {
                            Ok(i) => encoded.push((i, line.clone())),
                            Err(reason) => {
                                misfit = Some(reason);
                                break;
                            }
                        }
                    }
                    match misfit {
                        Some(reason) => Fate::Quarantined(reason),
                        None => {
                            target_rows += encoded.len() as i64;
                            for (i, bytes) in encoded {
                                for (k, check) in targets.fk_checks.iter().enumerate() {
                                    if check.table == i {
                                        if let Some(v) = copy_field(&bytes, check.column) {
                                            fk_values[k].insert(v);
                                        }
                                    }
                                }
                                target_copy[i].extend_from_slice(&bytes);
                            }
                            Fate::Written(crate::idmap::mint(&t.plan.name, row.key))
                        }
                    }
                }
            };
            fates.push(fate);
        }
        Batch {
            fates,
            target_copy,
            target_rows,
            fk_values,
        }
    }

    /// An adopted table's batch: fates as `adopt_fates` gives them, nothing written.
    fn adopt(&mut self, rows: &[SourceRow], existing: &HashMap<i64, uuid::Uuid>, a: &AdoptTarget) {
        adopt_fates(rows, &mut self.fates, existing, a);
        self.target_copy.clear();
        self.target_rows = 0;
        self.fk_values.clear();
    }

    fn quarantined(reason: String) -> Batch {
        Batch {
            fates: vec![Fate::Quarantined(reason)],
            target_copy: Vec::new(),
            target_rows: 0,
            fk_values: Vec::new(),
        }
    }

    fn counts(&self) -> TableCounts {
        let mut c = TableCounts {
            rows_read: self.fates.len() as i64,
            target_rows: self.target_rows,
            ..Default::default()
        };
        for f in &self.fates {
            match f {
                Fate::Written(_) => c.rows_written += 1,
                Fate::Skipped(_) => c.rows_skipped += 1,
                Fate::Quarantined(_) => c.rows_rejected += 1,
            }
        }
        c
    }
}

/// Field `n` of one COPY text line (without its newline), or None for NULL. Only for types
/// whose text needs no unescaping (uuid, integers).
fn copy_field(line: &[u8], n: usize) -> Option<String> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let field = line.split(|b| *b == b'\t').nth(n)?;
    (field != b"\\N").then(|| String::from_utf8_lossy(field).into_owned())
}

/// Encodes one emitted row into `line`; returns the index of its target table.
fn encode_row(
    targets: &TargetTables<'_>,
    row: &crate::wasm::TargetRow,
    line: &mut Vec<u8>,
) -> Result<usize, String> {
    line.clear();
    let Some(i) = targets.index(&row.table) else {
        return Err(format!(
            "plugin emitted a row for table `{}`, which its describe() does not declare",
            row.table
        ));
    };
    let columns = &targets.prepared.target_columns[i].1;
    if row.values.len() != columns.len() {
        return Err(format!(
            "plugin emitted {} values for {}, which declares {} columns",
            row.values.len(),
            row.table,
            columns.len()
        ));
    }
    for (n, (column, value)) in columns.iter().zip(&row.values).enumerate() {
        if n > 0 {
            line.push(b'\t');
        }
        codec::encode(line, column, value)
            .map_err(|m| format!("does not fit {}: {m}", row.table))?;
    }
    line.push(b'\n');
    Ok(i)
}

impl TableCounts {
    fn add(&mut self, other: &TableCounts) {
        self.rows_read += other.rows_read;
        self.rows_written += other.rows_written;
        self.rows_skipped += other.rows_skipped;
        self.rows_rejected += other.rows_rejected;
        self.target_rows += other.target_rows;
    }
}

/// Applies the plan's target schema files when the target schema holds no table yet, all in
/// one transaction. Returns whether it applied them.
pub async fn ensure_target_schema(plan: &Plan, target: &Client) -> anyhow::Result<bool> {
    if plan.target_schema_files.is_empty()
        || !pg::tables(target, &plan.target_schema).await?.is_empty()
    {
        return Ok(false);
    }
    // One simple-query string runs as one implicit transaction (or inside check's rehearsal).
    let mut sql = String::new();
    for file in &plan.target_schema_files {
        sql += &std::fs::read_to_string(file)
            .with_context(|| format!("reading the target schema file {}", file.display()))?;
        sql += "\n";
    }
    let names = plan
        .target_schema_files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    target.batch_execute(&sql).await.map_err(|e| {
        crate::Error::plan(format!(
                "applying {names} to the target failed: {}\n  hint: fix the schema file, or create the target schema yourself and remove `schema_files` from the plan",
                error_text(&e)
            ),
        )
    })?;
    Ok(true)
}
