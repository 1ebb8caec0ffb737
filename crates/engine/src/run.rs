//! `host run`: every table, in dependency order, batch by batch, exactly once.
//!
//! One batch = one keyset page of source rows, one plugin call, one target transaction that
//! commits the rows, the id-map rows, the quarantined and skipped rows, the lineage record and
//! the checkpoint together. A batch that traps the plugin or that the target refuses is split
//! in halves until the offending row is alone; that row is quarantined with the reason.
//!
//! The loop's seams: the source pages ([`PageSource`]), the transform ([`Transform`]) and the
//! target with its state ([`StateStore`]); the loop itself ([`copy_table`], [`TableWriter`])
//! needs no database, and its tests run it in memory.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::TryStreamExt;
use tokio_postgres::{Client, IsolationLevel};
use tracing::{info, info_span, warn, Instrument};

pub use crate::batch::{
    adopt_extras_select_in, adopt_fates, source_json, Batch, Fate, FkCheck, KeySpec, PageSource,
    SourceRow, TableSpec,
};
use crate::check::{AdoptTarget, Prepared};
use crate::chunk::Chunk;
use crate::codec;
use crate::deferred::DeferredFk;
use crate::error::{Error, ErrorKind};
use crate::idmap::IdMaps;
use crate::key::Key;
use crate::pg::{self, error_text, ident, qualified, Column};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::state::{self, BatchKind, TableCounts, TablePhase, TableState};
use crate::store::{
    BatchCommit, Checkpoint, CommitError, Committed, PgStore, StateStore, SwapRecord,
};
use crate::wasm::{Instance, Outcome, PluginError, PluginOutput, Value};

/// Why a table did not finish. Its kind decides the run's exit code: a database that could
/// not be reached is [`ErrorKind::Connect`]; the plugin or the data, [`ErrorKind::TableFailed`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableFailure {
    pub kind: ErrorKind,
    pub message: String,
}

impl TableFailure {
    pub fn of(err: &anyhow::Error) -> Self {
        let kind = match Error::kind_of(err) {
            Some(ErrorKind::Connect) => ErrorKind::Connect,
            _ => ErrorKind::TableFailed,
        };
        TableFailure {
            kind,
            message: pg::explain(err),
        }
    }
}

/// How a table ended in this run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableReport {
    pub table: String,
    pub phase: TablePhase,
    pub counts: TableCounts,
    pub seconds: f64,
    pub error: Option<TableFailure>,
}

/// The source database, through one connection (a table's snapshot, in a run).
pub struct PgSource<'a> {
    client: &'a Client,
    schema: &'a str,
}

impl<'a> PgSource<'a> {
    pub fn new(client: &'a Client, schema: &'a str) -> Self {
        PgSource { client, schema }
    }

    fn select_list(t: &TableSpec) -> String {
        t.source_columns
            .iter()
            .map(|c| ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl PageSource for PgSource<'_> {
    async fn count(&self, t: &TableSpec) -> anyhow::Result<i64> {
        let source_table = qualified(self.schema, &t.source_table);
        Ok(self
            .client
            .query_one(&format!("SELECT count(*) FROM {source_table}"), &[])
            .await
            .with_context(|| format!("counting {source_table}"))?
            .get(0))
    }

    /// The next keyset page (a row comparison over the key columns, which their B-tree
    /// serves), each field decoded by its source column type.
    async fn page(
        &self,
        t: &TableSpec,
        after: Option<&Key>,
        upto: Option<&Key>,
    ) -> anyhow::Result<Vec<SourceRow>> {
        let mut bounds = Vec::new();
        for (bound, op) in [(after, ">"), (upto, "<=")] {
            if let Some(k) = bound {
                let literal = t.key.literal(k).map_err(anyhow::Error::msg)?;
                bounds.push(format!("{} {op} {literal}", t.key.term()));
            }
        }
        let filter = match bounds.is_empty() {
            true => String::new(),
            false => format!("WHERE {}", bounds.join(" AND ")),
        };
        let sql = format!(
            "SELECT {} FROM {} {filter} ORDER BY {} LIMIT {}",
            Self::select_list(t),
            qualified(self.schema, &t.source_table),
            t.key.order_by(),
            t.batch_size
        );
        read_rows_of(
            self.client,
            &sql,
            &t.source_table,
            &t.source_columns,
            &t.key,
        )
        .await
    }

    /// One ordered pass over the key's index (row_number over the key columns only); the rows
    /// at the split points are then read whole, so their keys decode as a page's do.
    async fn split_points(&self, t: &TableSpec, every: i64) -> anyhow::Result<Vec<Key>> {
        let table = qualified(self.schema, &t.source_table);
        let (term, order) = (t.key.term(), t.key.order_by());
        let sql = format!(
            "SELECT {} FROM {table} WHERE {term} IN (SELECT {order} FROM (SELECT {order}, row_number() OVER (ORDER BY {order}) AS n FROM {table}) s WHERE n % {every} = 0) ORDER BY {order}",
            Self::select_list(t),
        );
        let rows = read_rows_of(
            self.client,
            &sql,
            &t.source_table,
            &t.source_columns,
            &t.key,
        )
        .await
        .with_context(|| format!("splitting {table} into chunks"))?;
        Ok(rows.into_iter().map(|r| r.key).collect())
    }

    async fn rows_with_keys(&self, t: &TableSpec, keys: &[Key]) -> anyhow::Result<Vec<SourceRow>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let list = keys
            .iter()
            .map(|k| t.key.literal(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?
            .join(", ");
        let sql = format!(
            "SELECT {} FROM {} WHERE {} IN ({list}) ORDER BY {}",
            Self::select_list(t),
            qualified(self.schema, &t.source_table),
            t.key.term(),
            t.key.order_by(),
        );
        read_rows_of(
            self.client,
            &sql,
            &t.source_table,
            &t.source_columns,
            &t.key,
        )
        .await
    }
}

/// The transform of a table's rows: a plugin instance, in a run.
pub trait Transform: Send {
    /// SHA-256 of the component, recorded with every batch and quarantined row it produces.
    fn sha256(&self) -> &str;
    /// One call over `rows`.
    fn transform(&mut self, rows: &mut [SourceRow]) -> Result<Vec<Outcome>, PluginError>;
    /// After a trap: a fresh instance (a trapped one cannot be entered again).
    fn restart(&mut self) -> anyhow::Result<()>;
    /// Rows of `table` just committed: a plugin resolving its own table sees them.
    fn committed(&self, table: &str, rows: &[SourceRow], fates: &[Fate]);
    /// The end of a batch.
    fn end_batch(&mut self);
}

/// A table's plugin, one instance at a time (a new one after each trap).
pub struct PluginTransform {
    plugin: crate::wasm::Plugin,
    ids: Arc<IdMaps>,
    /// What the plugin prints, bounded per batch across the instances a trap replaces.
    output: PluginOutput,
    instance: Instance,
}

impl PluginTransform {
    /// `t`'s plugin resolving ids through `ids`, within the plan's limits on its output.
    pub fn new(t: &Prepared, ids: IdMaps) -> Result<Self, PluginError> {
        Self::with_output(t, ids, PluginOutput::new(&t.plan.name, t.plan.limits))
    }

    /// The same table on a new component (a hot swap), printing through the same output.
    fn swapped(&self, t: &Prepared, ids: IdMaps) -> Result<Self, PluginError> {
        Self::with_output(t, ids, self.output.clone())
    }

    fn with_output(t: &Prepared, ids: IdMaps, output: PluginOutput) -> Result<Self, PluginError> {
        let ids = Arc::new(ids);
        let instance = t.plugin.instantiate_with(ids.clone(), &output)?;
        Ok(PluginTransform {
            plugin: t.plugin.clone(),
            ids,
            output,
            instance,
        })
    }
}

impl Transform for PluginTransform {
    fn sha256(&self) -> &str {
        &self.plugin.sha256
    }

    fn transform(&mut self, rows: &mut [SourceRow]) -> Result<Vec<Outcome>, PluginError> {
        // A failed prefetch is kept as the ids' fault; `restart` (which the error leads to)
        // stops the table with it.
        if let Err(e) = crate::wasm::outside_async(|| self.ids.before_call(rows)) {
            let message = format!("{e:#}");
            self.ids.keep_fault(e);
            return Err(PluginError::Trap {
                path: self.plugin.path.clone(),
                message,
            });
        }
        let outcomes = transform_rows(&mut self.instance, rows);
        self.ids.after_call(rows);
        outcomes
    }

    fn restart(&mut self) -> anyhow::Result<()> {
        // The call failed because the target could not be asked for an id, not because of
        // the rows: the table stops (a lost connection is ridden out), no row is quarantined.
        if let Some(fault) = self.ids.take_fault() {
            return Err(fault);
        }
        self.instance = self
            .plugin
            .instantiate_with(self.ids.clone(), &self.output)?;
        Ok(())
    }

    fn committed(&self, table: &str, rows: &[SourceRow], fates: &[Fate]) {
        self.ids.record(
            table,
            rows.iter().zip(fates).filter_map(|(r, f)| match f {
                Fate::Written(id) => Some((r.key.clone(), *id)),
                _ => None,
            }),
            rows.iter().zip(fates).filter_map(|(r, f)| match f {
                Fate::Skipped(reason) => Some((r.key.clone(), reason.clone())),
                _ => None,
            }),
        );
    }

    fn end_batch(&mut self) {
        // One line for what the plugin printed beyond its budget in this batch.
        self.output.end_batch();
    }
}

/// Takes the next run of rows off `pending` and transforms it: one plugin call. A run with an
/// unreadable row, or that traps the plugin, is halved back onto `pending` until the offending
/// row is alone; that row is quarantined with the reason. The run and the dry run both go
/// through here, so they treat every row alike.
pub fn transform_next<T: Transform>(
    transform: &mut T,
    spec: &TableSpec,
    fk_checks: &[FkCheck],
    pending: &mut Vec<Vec<SourceRow>>,
) -> anyhow::Result<Option<(Vec<SourceRow>, Batch)>> {
    while let Some(mut rows) = pending.pop() {
        if rows.len() > 1 && rows.iter().any(|r| r.unreadable.is_some()) {
            split_into(pending, rows);
            continue;
        }
        let transformed = match &rows[0].unreadable {
            Some(why) => Ok(vec![Outcome::Reject(format!(
                "the source row cannot be read: {why}"
            ))]),
            None => transform.transform(&mut rows),
        };
        match transformed {
            Ok(outcomes) => {
                let batch = Batch::new(spec, fk_checks, &rows, outcomes);
                return Ok(Some((rows, batch)));
            }
            Err(trap) => {
                transform.restart()?;
                if rows.len() > 1 {
                    split_into(pending, rows);
                    continue;
                }
                warn!(key = %rows[0].key, reason = %trap_reason(&trap), "plugin trapped on this row; quarantining it");
                return Ok(Some((rows, Batch::quarantined(trap_reason(&trap)))));
            }
        }
    }
    Ok(None)
}

/// Transforms and commits the rows of one table, holding its transform across batches.
pub struct TableWriter<'s, S, T> {
    pub store: &'s mut S,
    run_id: i64,
    /// The table as currently prepared: replaced whole by a hot swap.
    pub spec: Arc<TableSpec>,
    pub transform: T,
    /// Foreign keys set aside for the load: each batch proves its own (these, of its tables).
    deferred_fks: Vec<DeferredFk>,
    fk_checks: Vec<FkCheck>,
    pub counts: TableCounts,
    /// The checkpoint: the last committed key, after which a run reads on.
    pub last_key: Option<Key>,
    /// The chunk this writer copies (None: the whole table): its range bounds the pages, and
    /// its checkpoint is the one a batch moves.
    pub chunk: Option<Chunk>,
    pub timing: Timing,
}

impl<'s, S: StateStore, T: Transform> TableWriter<'s, S, T> {
    /// A writer that resumes from `state` (None: the table never started).
    pub async fn open(
        store: &'s mut S,
        run_id: i64,
        spec: TableSpec,
        transform: T,
        state: Option<&TableState>,
    ) -> anyhow::Result<Self> {
        let deferred_fks = store.set_aside_foreign_keys().await?;
        let fk_checks = FkCheck::for_table(&spec, &deferred_fks);
        Ok(TableWriter {
            store,
            run_id,
            spec: Arc::new(spec),
            transform,
            deferred_fks,
            fk_checks,
            counts: state.map(|s| s.counts.clone()).unwrap_or_default(),
            last_key: state.and_then(|s| s.last_key.clone()),
            chunk: None,
            timing: Timing::default(),
        })
    }

    /// The writer copies `chunk` only, from its checkpoint.
    pub fn for_chunk(mut self, chunk: Chunk) -> Self {
        self.last_key = chunk.last_key.clone();
        self.chunk = Some(chunk);
        self
    }

    /// The last key this writer copies (None: to the table's end).
    fn upto(&self) -> Option<&Key> {
        self.chunk.as_ref().and_then(|c| c.upto.as_ref())
    }

    /// The table goes on with a new component (a hot swap, at a batch boundary).
    pub fn replace(&mut self, spec: TableSpec, transform: T) {
        self.fk_checks = FkCheck::for_table(&spec, &self.deferred_fks);
        self.spec = Arc::new(spec);
        self.transform = transform;
    }

    /// Processes rows: one plugin call, one commit; a run that traps or that the target refuses
    /// is halved until the offending row is alone, and that row is quarantined.
    pub async fn process(&mut self, rows: Vec<SourceRow>, kind: BatchKind) -> anyhow::Result<()> {
        let result = self.process_rows(rows, kind).await;
        self.transform.end_batch();
        result
    }

    async fn process_rows(&mut self, rows: Vec<SourceRow>, kind: BatchKind) -> anyhow::Result<()> {
        let mut pending = vec![rows];
        loop {
            let clock = Instant::now();
            let next = transform_next(
                &mut self.transform,
                &self.spec,
                &self.fk_checks,
                &mut pending,
            )?;
            self.timing.transform += clock.elapsed();
            let Some((rows, mut batch)) = next else {
                return Ok(());
            };
            // Retry writes the rows an earlier migration missed; a run adopts.
            if let (Some(a), BatchKind::Run) = (&self.spec.adopt, kind) {
                let keys: Vec<Key> = rows.iter().map(|r| r.key.clone()).collect();
                let existing = self.store.adopted_ids(a, &keys).await?;
                batch.adopt(&rows, &existing, a);
            }
            let clock = Instant::now();
            let committed = self.commit_or_split(rows, batch, kind, &mut pending).await;
            self.timing.write += clock.elapsed();
            if let Some((rows, batch, committed)) = committed? {
                self.account(&rows, &batch, kind, committed);
            }
        }
    }

    /// Commits a transformed run of rows. When the target refuses a row, a run is halved back
    /// onto `pending` (None), and a row alone is quarantined with the target's reason.
    async fn commit_or_split(
        &mut self,
        rows: Vec<SourceRow>,
        batch: Batch,
        kind: BatchKind,
        pending: &mut Vec<Vec<SourceRow>>,
    ) -> anyhow::Result<Option<(Vec<SourceRow>, Batch, Committed)>> {
        let (batch, committed) = match self.commit(&rows, &batch, kind).await {
            Ok(committed) => (batch, committed),
            Err(CommitError::Data(reason)) if rows.len() > 1 => {
                tracing::debug!(%reason, "target refused the batch; bisecting");
                split_into(pending, rows);
                return Ok(None);
            }
            Err(CommitError::Data(reason)) => {
                warn!(key = %rows[0].key, %reason, "target refused this row; quarantining it");
                let alone = Batch::quarantined(format!("target refused the row: {reason}"));
                let committed = self
                    .commit(&rows, &alone, kind)
                    .await
                    .map_err(CommitError::into_anyhow)?;
                (alone, committed)
            }
            Err(other) => return Err(other.into_anyhow()),
        };
        Ok(Some((rows, batch, committed)))
    }

    async fn commit(
        &mut self,
        rows: &[SourceRow],
        batch: &Batch,
        kind: BatchKind,
    ) -> Result<Committed, CommitError> {
        let checkpoint = match kind {
            BatchKind::Run => Checkpoint::Advance {
                from: self.last_key.clone(),
                chunk: self.chunk.as_ref().map(|c| c.no),
            },
            BatchKind::Retry => Checkpoint::Stay,
        };
        let commit = BatchCommit {
            table: &self.spec,
            run_id: self.run_id,
            sha256: self.transform.sha256(),
            rows,
            batch,
            fk_checks: &self.fk_checks,
            checkpoint,
        };
        self.store.commit_batch(&commit).await
    }

    /// A committed batch in the writer's counts (the table's, as the commit left them: other
    /// chunks of the table commit too) and checkpoint, and for the plugin.
    fn account(
        &mut self,
        rows: &[SourceRow],
        batch: &Batch,
        kind: BatchKind,
        committed: Committed,
    ) {
        self.counts = committed.counts;
        self.transform
            .committed(&self.spec.name, rows, &batch.fates);
        if kind == BatchKind::Run {
            self.last_key = rows.last().map(|r| r.key.clone());
        }
    }

    /// All the table's rows are committed: the keys set aside for its tables are built (a
    /// duplicate is quarantined and the counts follow; see `deferred::build_table_keys`).
    pub async fn build_keys<R: PageSource>(&mut self, source: &R) -> anyhow::Result<()> {
        let clock = Instant::now();
        let quarantined = build_keys(self.store, &self.spec, source).await?;
        self.timing.write += clock.elapsed();
        if quarantined {
            if let Some(s) = self.store.table_state(&self.spec.name).await? {
                self.counts = s.counts;
            }
        }
        Ok(())
    }

    /// Stops the table, with its most frequent reasons, when its quarantined share is over
    /// its limit (see [`check_reject_rate`]).
    async fn stop_if_over_reject_rate(
        &mut self,
        source_rows: i64,
        finished: bool,
    ) -> anyhow::Result<()> {
        let spec = &self.spec;
        let checked = check_reject_rate(
            &spec.name,
            spec.max_reject_rate,
            &self.counts,
            source_rows,
            finished,
        );
        let Err(stop) = checked else { return Ok(()) };
        let reasons = self
            .store
            .top_reject_reasons(&self.spec.name, 3)
            .await
            .unwrap_or_default();
        Err(state::with_reasons(stop, &reasons))
    }
}

/// What happens between batches besides reading and committing: a hot swap, in a run.
pub trait BatchBoundary<S, T> {
    /// Before each page is read. True when the table's component was replaced: a page read
    /// ahead is read again, for the new component's columns.
    fn before_page(
        &mut self,
        w: &mut TableWriter<'_, S, T>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
}

/// No hot swaps: the component the table started with runs to its end.
pub struct NoSwaps;

impl<S: StateStore, T: Transform> BatchBoundary<S, T> for NoSwaps {
    async fn before_page(&mut self, _: &mut TableWriter<'_, S, T>) -> anyhow::Result<bool> {
        Ok(false)
    }
}

/// The table starts (or resumes) over the source's current rows: phase copying. Returns how
/// many rows the source has.
pub async fn begin_table<S: StateStore, R: PageSource>(
    store: &mut S,
    source: &R,
    spec: &TableSpec,
) -> anyhow::Result<i64> {
    let total = source.count(spec).await?;
    store.begin_table(&spec.name, total).await?;
    let kept = store.keep_id_map(&spec.name, spec.keep_id_map).await?;
    tracing::debug!(kept, "id map");
    Ok(total)
}

/// Copies the table's rows after the writer's checkpoint until the source has no more
/// (`total` rows in all), then records it done; stops when its reject rate is over the limit.
pub async fn copy_table<S, R, T, B>(
    w: &mut TableWriter<'_, S, T>,
    source: &R,
    boundary: &mut B,
    total: i64,
) -> anyhow::Result<()>
where
    S: StateStore,
    R: PageSource,
    T: Transform,
    B: BatchBoundary<S, T>,
{
    let mut progress = Progress::new(&w.spec.name, total as u64, w.counts.rows_read as u64);
    copy_pages(w, source, boundary, total, &mut progress).await?;
    w.build_keys(source).await?;
    w.timing.log();
    if let Some(a) = w.spec.adopt.clone() {
        let extras = w.store.record_adopt_extras(&w.spec.name, &a).await?;
        let adopted = w.counts.rows_written;
        info!(adopted, quarantined = w.counts.rows_rejected, extras, target = %a.table, "adopted the rows an earlier migration wrote");
        if extras > 0 {
            warn!(
                "{extras} row(s) of {} have no source row: listed in migration.adopt_extras (`host validate` fails until they are deleted or given their legacy id)",
                a.table
            );
        }
    }
    w.stop_if_over_reject_rate(total, true).await?;
    w.store.finish_table(&w.spec.name).await?;
    progress.finish(&w.counts);
    Ok(())
}

/// Whether `t` may be split into chunks: its rows do not depend on the rows before them (its
/// plugin does not resolve its own table) and it is not adopted (adoption ends with one look
/// over the whole target table).
pub fn splittable(t: &Prepared) -> bool {
    t.plan.chunk_rows > 0
        && t.plan.adopt.is_none()
        && !t.description.resolves.iter().any(|e| e == &t.plan.name)
}

/// Whether `t` runs split into chunks (see chunk.rs), and which chunks are left: Some (the
/// chunks not done; empty when only the table's finish is left) or None (it runs whole). A
/// table is split when it first starts with more source rows than its `chunk_rows` and
/// [`splittable`]; a table split before stays split. A split table is begun here (phase
/// copying, its rows counted, the component recorded, which a `host worker` must match).
pub async fn split_table(
    t: &Prepared,
    source: &PgSource<'_>,
    store: &mut PgStore<'_>,
) -> anyhow::Result<Option<Vec<Chunk>>> {
    let name = &t.plan.name;
    let state = store.table_state(name).await?;
    if state.as_ref().is_some_and(|s| s.phase == TablePhase::Done) {
        return Ok(None);
    }
    let spec = TableSpec::of(t);
    let mut chunks = crate::chunk::chunks(store.client(), name).await?;
    let rows = match chunks.is_empty() {
        false => source.count(&spec).await?,
        true => {
            let fresh = state
                .as_ref()
                .is_none_or(|s| s.last_key.is_none() && s.counts.rows_read == 0);
            if !fresh || !splittable(t) {
                return Ok(None);
            }
            let rows = source.count(&spec).await?;
            if rows <= t.plan.chunk_rows as i64 {
                return Ok(None);
            }
            let points = source.split_points(&spec, t.plan.chunk_rows as i64).await?;
            chunks = crate::chunk::record(store.client_mut(), name, &points).await?;
            rows
        }
    };
    store.begin_table(name, rows).await?;
    store.keep_id_map(name, spec.keep_id_map).await?;
    crate::chunk::set_component(store.client(), name, &t.plugin.sha256).await?;
    Ok(Some(chunks.into_iter().filter(|c| !c.done).collect()))
}

/// Copies the writer's chunk (see chunk.rs) from its checkpoint to its last key, then records
/// it done; the writer of a table's last chunk finishes the table ([`finish_split_table`]).
pub async fn copy_chunk<S, R, T, B>(
    w: &mut TableWriter<'_, S, T>,
    source: &R,
    boundary: &mut B,
    total: i64,
) -> anyhow::Result<()>
where
    S: StateStore,
    R: PageSource,
    T: Transform,
    B: BatchBoundary<S, T>,
{
    let chunk = w
        .chunk
        .clone()
        .context("copy_chunk needs a chunk's writer")?;
    let mut progress = Progress::new(&w.spec.name, total as u64, w.counts.rows_read as u64);
    copy_pages(w, source, boundary, total, &mut progress).await?;
    w.timing.log();
    let (done, of) = w.store.finish_chunk(&chunk).await?;
    crate::failpoint::crash_point("after-chunk", &chunk.table, done);
    if done < of {
        info!(chunk = %chunk.label(), "chunk done");
        progress.leave();
        return Ok(());
    }
    let counts = finish_split_table(w.store, &w.spec, source).await?;
    progress.finish(&counts);
    Ok(())
}

/// All of `spec`'s rows are committed (a whole table's, or every chunk's of a split one): the
/// keys set aside for its tables are built, before any table depending on it starts (see
/// `deferred::build_table_keys`). Returns whether a duplicate was quarantined (the table's
/// counts changed).
pub async fn build_keys<S: StateStore, R: PageSource>(
    store: &mut S,
    spec: &TableSpec,
    source: &R,
) -> anyhow::Result<bool> {
    let built = store.build_table_keys(spec, source).await?;
    for line in &built.failed {
        warn!("not built: {line} (it stays set aside)");
    }
    Ok(built.quarantined > 0)
}

/// A split table whose chunks are all done: its keys built, then done, or failed when its
/// quarantined share is over its limit (the counts of every chunk, as committed). Returns its
/// counts.
pub async fn finish_split_table<S: StateStore, R: PageSource>(
    store: &mut S,
    spec: &TableSpec,
    source: &R,
) -> anyhow::Result<TableCounts> {
    build_keys(store, spec, source).await?;
    let counts = store
        .table_state(&spec.name)
        .await?
        .map(|s| s.counts)
        .unwrap_or_default();
    let total = counts.source_rows.unwrap_or(counts.rows_read);
    if let Err(stop) = check_reject_rate(&spec.name, spec.max_reject_rate, &counts, total, true) {
        let reasons = store
            .top_reject_reasons(&spec.name, 3)
            .await
            .unwrap_or_default();
        return Err(state::with_reasons(stop, &reasons));
    }
    store.finish_table(&spec.name).await?;
    Ok(counts)
}

/// The page loop: the next page is read while the current one is transformed and committed.
async fn copy_pages<S, R, T, B>(
    w: &mut TableWriter<'_, S, T>,
    source: &R,
    boundary: &mut B,
    total: i64,
    progress: &mut Progress,
) -> anyhow::Result<()>
where
    S: StateStore,
    R: PageSource,
    T: Transform,
    B: BatchBoundary<S, T>,
{
    let mut prefetched: Option<Vec<SourceRow>> = None;
    loop {
        if boundary.before_page(w).await? {
            prefetched = None;
        }
        let rows = match prefetched.take() {
            Some(rows) => rows,
            None => {
                let clock = Instant::now();
                let rows = source.page(&w.spec, w.last_key.as_ref(), w.upto()).await?;
                w.timing.read += clock.elapsed();
                rows
            }
        };
        let Some(first) = rows.first() else { break };
        let span = info_span!(
            "batch",
            batch = w.counts.batches + 1,
            first_key = %first.key,
            rows = rows.len()
        );
        // A short page is the last one of the snapshot.
        let more = rows.len() >= w.spec.batch_size;
        let after = rows.last().map(|r| r.key.clone());
        let spec = w.spec.clone();
        let upto = w.upto().cloned();
        let read_next = async {
            let clock = Instant::now();
            let next = match more {
                true => source.page(&spec, after.as_ref(), upto.as_ref()).await,
                false => Ok(Vec::new()),
            };
            (next, clock.elapsed())
        };
        let (processed, (next, read_time)) =
            tokio::join!(w.process(rows, BatchKind::Run).instrument(span), read_next);
        processed?;
        w.timing.read += read_time;
        prefetched = Some(next?);
        crate::failpoint::batch_delay().await;
        progress.batch_committed(&w.counts);
        w.stop_if_over_reject_rate(total, false).await?;
    }
    Ok(())
}

/// How a table's attempt ended, for the run's summary: a failure is recorded for `status`
/// (the checkpoint stays where the last commit left it). A transient fault goes back as the
/// error, unrecorded, to be ridden out (the connection may be gone anyway).
pub async fn table_report<S: StateStore>(
    store: &mut S,
    table: &str,
    result: anyhow::Result<()>,
    started: Instant,
) -> anyhow::Result<TableReport> {
    let result = match result {
        Err(e) if pg::is_transient(&e) => return Err(e),
        other => other,
    };
    let state = store.table_state(table).await?;
    let (phase, counts, recorded) = match state {
        Some(s) => (s.phase, s.counts, s.error),
        None => (TablePhase::Pending, TableCounts::default(), None),
    };
    let error = match (&result, phase) {
        (Err(e), _) => Some(TableFailure::of(e)),
        (Ok(()), TablePhase::Failed) => Some(TableFailure {
            kind: ErrorKind::TableFailed,
            message: recorded.unwrap_or_default(),
        }),
        _ => None,
    };
    if let Err(e) = &result {
        let _ = store.fail_table(table, &format!("{e:#}")).await;
    }
    Ok(TableReport {
        table: table.to_string(),
        phase: if result.is_err() {
            TablePhase::Failed
        } else {
            phase
        },
        counts,
        seconds: started.elapsed().as_secs_f64(),
        error,
    })
}

/// Runs (or resumes) one table over `source` and `target`, once: a transient fault comes back
/// as the error (see [`run_table_riding_faults`]).
pub async fn run_table(
    plan: &Plan,
    t: &Prepared,
    source: &mut Client,
    target: &mut Client,
    run_id: i64,
    chunk: Option<&Chunk>,
) -> anyhow::Result<TableReport> {
    let started = Instant::now();
    let span = match chunk {
        Some(c) => info_span!("table", table = %t.plan.name, chunk = c.no),
        None => info_span!("table", table = %t.plan.name),
    };
    let mut store = PgStore::new(target, &plan.target_schema);
    let result = copy_table_from_pg(plan, t, source, &mut store, run_id, chunk)
        .instrument(span)
        .await;
    table_report(&mut store, &t.plan.name, result, started).await
}

/// One table from one source snapshot into the target, with hot swaps.
async fn copy_table_from_pg(
    plan: &Plan,
    t: &Prepared,
    source: &mut Client,
    store: &mut PgStore<'_>,
    run_id: i64,
    chunk: Option<&Chunk>,
) -> anyhow::Result<()> {
    let state = store.table_state(&t.plan.name).await?;
    if state.as_ref().is_some_and(|s| s.phase == TablePhase::Done) {
        info!("already done, skipping");
        return Ok(());
    }
    // A chunk's checkpoint as committed now (another process may have moved it).
    let chunk = match chunk {
        Some(c) => Some(crate::chunk::reread(store.client(), c).await?),
        None => None,
    };
    if chunk.as_ref().is_some_and(|c| c.done) {
        return Ok(());
    }
    // One snapshot of the source for the whole table.
    let snapshot = source
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .context("starting the source snapshot")?;
    let pages = PgSource::new(snapshot.client(), &plan.source_schema);
    let spec = TableSpec::of(t);
    let total = match (&chunk, &state) {
        // The scheduler began the split table and counted its rows.
        (Some(_), Some(s)) => s.counts.source_rows.unwrap_or_default(),
        _ => begin_table(store, &pages, &spec).await?,
    };
    let source_table = &t.description.source_table;
    let source_info = pg::tables(snapshot.client(), &plan.source_schema)
        .await?
        .remove(source_table)
        .with_context(|| format!("source table {source_table} disappeared"))?;
    let ids = IdMaps::connect(&plan.target_url, &t.description.resolves).await?;
    let transform = PluginTransform::new(t, ids)?;
    let mut swaps = HotSwap::new(plan, t.clone(), snapshot.client(), source_info);
    let writer = TableWriter::open(store, run_id, spec, transform, state.as_ref()).await?;
    match chunk {
        Some(c) => copy_chunk(&mut writer.for_chunk(c), &pages, &mut swaps, total).await?,
        None => copy_table(&mut { writer }, &pages, &mut swaps, total).await?,
    }
    snapshot.commit().await.ok();
    Ok(())
}

/// A table that ran this long since its last fault made progress: a new fault starts afresh.
const FAULT_EPISODE_RESET: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs (or resumes) one table over `source` and `target`, riding out transient faults: on a
/// lost connection, a serialization failure or a deadlock it pauses, reconnects both sides
/// (replacing the clients) and resumes after the last committed batch, until the fault has
/// lasted the plan's `fault_timeout_seconds`; then it fails with [`ErrorKind::Connect`]. Any
/// other error ends the table as before.
///
/// A chunk (see chunk.rs) is worked while this process holds its claim, taken on `target`
/// by the caller: after a reconnect the claim is taken again, and when another process took
/// the chunk over meanwhile, this one leaves it to that one.
pub async fn run_table_riding_faults(
    plan: &Plan,
    t: &Prepared,
    source: &mut Client,
    target: &mut Client,
    run_id: i64,
    chunk: Option<&Chunk>,
) -> anyhow::Result<TableReport> {
    let mut backoff = crate::transient::Backoff::new(plan.fault_timeout);
    let mut reclaim = false;
    loop {
        let attempt_started = Instant::now();
        if let (true, Some(c)) = (reclaim, chunk) {
            if !crate::chunk::try_claim(target, c, None).await? {
                info!(chunk = %c.label(), "another process took this chunk over while the connection was down");
                let mut store = PgStore::new(target, &plan.target_schema);
                return table_report(&mut store, &t.plan.name, Ok(()), attempt_started).await;
            }
        }
        reclaim = true;
        let fault = match run_table(plan, t, source, target, run_id, chunk).await {
            Err(e) if pg::is_transient(&e) => e,
            other => return other,
        };
        if attempt_started.elapsed() >= FAULT_EPISODE_RESET {
            backoff.reset();
        }
        let Some(pause) = backoff.next_pause() else {
            let seconds = backoff.fault_age().as_secs();
            let gave_up = fault.context(format!(
                "{}: still failing after {seconds} s of retries (fault_timeout_seconds = {})",
                t.plan.name,
                plan.fault_timeout.as_secs()
            ));
            return Err(Error::connect(pg::explain(&gave_up)).into());
        };
        warn!(
            table = %t.plan.name,
            attempt = backoff.attempts(),
            "transient fault, resuming after the last committed batch in {:.1} s: {}",
            pause.as_secs_f64(),
            pg::explain(&fault).lines().next().unwrap_or_default()
        );
        tokio::time::sleep(pause).await;
        let reconnected = async {
            *source = crate::transient::reconnect(&plan.source_url, pg::Side::Source, &mut backoff)
                .await?;
            *target = crate::transient::reconnect(&plan.target_url, pg::Side::Target, &mut backoff)
                .await?;
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = reconnected {
            // The fault stays the cause, so the message says what a lost connection means
            // for the run and what to do, whichever way the retries ran out.
            let stopped = fault.context(format!("{} stopped by a fault; {e:#}", t.plan.name));
            return Err(Error::connect(pg::explain(&stopped)).into());
        }
    }
}

/// Hot swaps while a table runs: a replaced plugin file is compiled on another thread, checked
/// as `host check` would, and applied at the next batch boundary, or refused (the old
/// component keeps running); each outcome is logged and recorded in `migration.swaps`.
pub struct HotSwap<'p> {
    plan: &'p Plan,
    /// The table as currently prepared.
    current: Prepared,
    /// The table's source snapshot, to probe a swapped-in component's column types on a row.
    source: &'p Client,
    /// The source table's columns, to check a swapped-in component's reads.
    source_info: pg::TableInfo,
    watcher: PluginWatcher,
    runtime: crate::wasm::Runtime,
    /// Whether the file was compared with the component the table was prepared with.
    started: bool,
}

impl<'p> HotSwap<'p> {
    pub fn new(
        plan: &'p Plan,
        current: Prepared,
        source: &'p Client,
        source_info: pg::TableInfo,
    ) -> Self {
        HotSwap {
            plan,
            source,
            watcher: PluginWatcher::new(&current.plan.plugin, &current.plugin.sha256),
            runtime: current.plugin.runtime(),
            current,
            source_info,
            started: false,
        }
    }

    /// Checks `candidate` and applies it to `w`, or refuses it; records the outcome. Returns
    /// whether it was applied.
    async fn swap(
        &mut self,
        w: &mut TableWriter<'_, PgStore<'_>, PluginTransform>,
        candidate: Result<crate::wasm::Plugin, String>,
    ) -> anyhow::Result<bool> {
        let old = self.current.plugin.sha256.clone();
        let outcome = match candidate {
            Err(message) => Err(message),
            Ok(plugin) => {
                let target = w.store.client();
                let tables = (self.source, &self.source_info, target);
                check_swap(plugin, &self.current, self.plan, tables).await
            }
        };
        let (new_sha, message) = match &outcome {
            Ok(prepared) => {
                let ids =
                    IdMaps::connect(&self.plan.target_url, &prepared.description.resolves).await?;
                let transform = w.transform.swapped(prepared, ids)?;
                w.replace(TableSpec::of(prepared), transform);
                let new = prepared.plugin.sha256.clone();
                info!(old = %&old[..12], new = %&new[..12], "hot swap: the next batch runs on the new component");
                (new, String::new())
            }
            Err(message) => {
                warn!(old = %&old[..12], "hot swap refused, the old component keeps running: {message}");
                let sha = watcher_sha(&self.current.plan.plugin).unwrap_or_default();
                (sha, message.clone())
            }
        };
        let record = SwapRecord {
            run_id: w.run_id,
            table: &self.current.plan.name,
            old_sha256: &old,
            new_sha256: &new_sha,
            applied: outcome.is_ok(),
            message: &message,
        };
        w.store.record_swap(&record).await?;
        let applied = outcome.is_ok();
        if let Ok(prepared) = outcome {
            self.current = prepared;
        }
        Ok(applied)
    }
}

impl BatchBoundary<PgStore<'_>, PluginTransform> for HotSwap<'_> {
    async fn before_page(
        &mut self,
        w: &mut TableWriter<'_, PgStore<'_>, PluginTransform>,
    ) -> anyhow::Result<bool> {
        let mut swapped = false;
        if !self.started {
            self.started = true;
            // A file replaced after the plan was loaded and not yet applied: the table runs on
            // it from its first batch.
            if let Some(candidate) = self.watcher.changed_before_start(&self.runtime) {
                swapped |= self.swap(w, candidate).await?;
            }
        }
        if let Some(candidate) = self.watcher.poll(&self.runtime) {
            swapped |= self.swap(w, candidate).await?;
        }
        Ok(swapped)
    }
}

/// Checks a new component for the table `current` and both schemas, as `host check` would:
/// what it declares (`check::recheck`), then the column types it writes (`check_types::check`,
/// as `session::analyze` runs it). Each problem reads as `host check` words it. `tables` is
/// the source (a client and the source table's columns) and the target.
async fn check_swap(
    plugin: crate::wasm::Plugin,
    current: &Prepared,
    plan: &Plan,
    (source, source_info, target): (&Client, &pg::TableInfo, &Client),
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
    let mut problems = crate::check::recheck(&mut prepared, plan, current, source_info, target)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let tables = std::slice::from_ref(&prepared);
    crate::check_types::check(
        plan,
        Some(source),
        target,
        tables,
        &mut problems,
        &PluginSampler,
    )
    .await
    .map_err(|e| format!("{e:#}"))?;
    if problems.is_empty() {
        Ok(prepared)
    } else {
        let messages: Vec<String> = problems.into_iter().map(|p| p.message).collect();
        Err(messages.join("; "))
    }
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
            check_swap(plugin, current, plan, (source, &source_info, target)).await
        }
    };
    let old = &current.plugin.sha256;
    if !still_unstarted(tables, name, &outcome) {
        // It started meanwhile: its own watcher applies the file from its first batch.
        return Ok(());
    }
    let (new_sha, message) = match &outcome {
        Ok(p) => {
            info!(old = %&old[..12], new = %&p.plugin.sha256[..12], "hot swap applied before the table started: it runs on the new component from its first batch");
            (p.plugin.sha256.as_str(), "")
        }
        Err(message) => {
            warn!(old = %&old[..12], "hot swap refused, the table will run on the old component: {message}");
            (new_sha.as_str(), message.as_str())
        }
    };
    let record = SwapRecord {
        run_id,
        table: name,
        old_sha256: old,
        new_sha256: new_sha,
        applied: outcome.is_ok(),
        message,
    };
    crate::store::pg::record_swap(target, &record).await
}

/// Whether `name` has still not started; if so, an accepted component is the one it starts on.
fn still_unstarted(
    tables: &std::sync::Mutex<HashMap<String, Unstarted>>,
    name: &str,
    outcome: &Result<Prepared, String>,
) -> bool {
    let mut tables = tables.lock().unwrap_or_else(|e| e.into_inner());
    let Some(entry) = tables.get_mut(name) else {
        return false;
    };
    if let Ok(prepared) = outcome {
        entry.prepared = prepared.clone();
    }
    true
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

impl Timing {
    fn log(&self) {
        info!(
            read_s = format!("{:.2}", self.read.as_secs_f64()),
            transform_s = format!("{:.2}", self.transform.as_secs_f64()),
            write_s = format!("{:.2}", self.write.as_secs_f64()),
            "where the time went"
        );
    }
}

/// The rows of an adopted table that no source row accounts for, as
/// `(table_name, target_table, id, legacy_id, reason)`; parameters $1 = plan table, $2 = target table.
pub fn adopt_extras_select(plan: &Plan, a: &AdoptTarget) -> String {
    adopt_extras_select_in(&plan.target_schema, a)
}

pub(crate) fn split_into(pending: &mut Vec<Vec<SourceRow>>, mut rows: Vec<SourceRow>) {
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
    table: &str,
    limit: f64,
    counts: &TableCounts,
    source_rows: i64,
    finished: bool,
) -> anyhow::Result<()> {
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
        table
    );
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

/// The runner's side of `host check`'s pass-through probe (see check_types.rs): the rows read
/// as a batch reads them, through the table's plugin resolving nothing (a row it skips or
/// rejects for want of a parent says nothing about a column's type).
pub struct PluginSampler;

impl crate::check_types::PluginSample for PluginSampler {
    async fn sample(
        &self,
        source: &Client,
        select: &str,
        t: &Prepared,
    ) -> anyhow::Result<Option<(SourceRow, Vec<Outcome>)>> {
        let mut rows = read_rows(source, select, t).await?;
        let Some(row) = rows.first().filter(|r| r.unreadable.is_none()).cloned() else {
            return Ok(None);
        };
        let ids = IdMaps::in_memory(&t.description.resolves, &[], &[]);
        let Ok(mut transform) = PluginTransform::new(t, ids) else {
            return Ok(None);
        };
        Ok(transform.transform(&mut rows).ok().map(|out| (row, out)))
    }
}

/// Runs `select` (the plugin's `reads` columns, in order) through COPY and decodes the rows.
pub async fn read_rows(src: &Client, select: &str, t: &Prepared) -> anyhow::Result<Vec<SourceRow>> {
    let key = KeySpec::of(t);
    read_rows_of(
        src,
        select,
        &t.description.source_table,
        &t.source_columns,
        &key,
    )
    .await
}

async fn read_rows_of(
    src: &Client,
    select: &str,
    source_table: &str,
    columns: &[Column],
    key: &KeySpec,
) -> anyhow::Result<Vec<SourceRow>> {
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
        for (column, raw) in columns.iter().zip(fields) {
            let (value, why) = codec::decode_or_keep(column, raw);
            unreadable = unreadable.or(why);
            values.push(value);
        }
        let key = match key.key_of(&values) {
            Ok(k) => k,
            Err(why) => bail!(
                "{source_table}: a row has no usable key {:?} ({why}); the key columns must be NOT NULL",
                key.columns
            ),
        };
        rows.push(SourceRow {
            key,
            values,
            unreadable,
        });
    }
    Ok(rows)
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
