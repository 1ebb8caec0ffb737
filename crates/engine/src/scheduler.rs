//! The table scheduler: which table runs when, on which connections; and `host run` as a
//! whole around it (keys set aside for the load and put back, the run's outcome recorded).

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::task::JoinHandle;
use tokio_postgres::Client;
use tracing::info;

use crate::batch::TableSpec;
use crate::error::{Error, ErrorKind};
use crate::run::TableReport;
use crate::session::connect;
use crate::state::{RunOutcome, TablePhase};
use crate::store::{PgStore, StateStore};
use crate::{check, chunk, deferred, lock, order, pg, plan, run, state, transient};

/// A table that could not start: a table it depends on is not done.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Blocked {
    pub table: String,
    pub waits_for: String,
}

/// One pair of connections: source, target.
type Connections = (Client, Client);

/// What a pair of connections works on: a whole table, or one chunk of a split table.
#[derive(Debug, Clone)]
enum Unit {
    Table(String),
    Chunk(chunk::Chunk),
}

/// A unit's task: its report and the connections it ran on, given back.
type UnitTask = JoinHandle<(Unit, anyhow::Result<TableReport>, Client, Client)>;

/// How often a table whose last chunks other processes hold is looked at again.
const POLL: Duration = Duration::from_secs(1);

/// Runs the selected tables in dependency order, `parallel_tables` units at a time, each over
/// its own pair of connections; among the tables ready to start, those heading the longest
/// chain of rows still to come go first. A table larger than its `chunk_rows` is split into
/// key ranges (see chunk.rs) worked side by side, here and by any `host worker`. Returns the
/// reports and the tables that could not start (with the dependency that was not done).
pub async fn run_tables(
    plan: &plan::Plan,
    analysis: &check::Analysis,
    only: &[String],
    source: &mut Client,
    target: &mut Client,
    run_lock: &lock::RunLock,
    run_id: i64,
) -> anyhow::Result<(Vec<TableReport>, Vec<Blocked>)> {
    let order = analysis.order.as_deref().unwrap_or_default();
    let mut waiting: Vec<&order::Step> = order
        .iter()
        .filter(|s| only.is_empty() || only.contains(&s.table))
        .collect();
    let priority = critical_path(source, &plan.source_schema, analysis, order).await?;
    waiting.sort_by_key(|s| std::cmp::Reverse(priority.get(&s.table).copied().unwrap_or(0)));
    // Hot swaps of the tables not started yet are applied from now on.
    let names: Vec<&str> = waiting.iter().map(|s| s.table.as_str()).collect();
    let worker = chunk::Worker::register(target, "run").await?;
    let mut tables = Tables::new(plan, analysis, &names, run_id, worker).await?;
    let mut reports = Vec::new();
    loop {
        tables
            .start_ready(&mut waiting, source, target, run_lock, &mut reports)
            .await?;
        tables.start_chunks().await?;
        match tables.next_finished().await {
            Some(joined) => reports.extend(tables.finished(joined).await?),
            None if tables.awaits_others() => reports.extend(tables.look_again(target).await?),
            None => break,
        }
    }
    // Tables whose dependency failed in this run never became ready.
    for step in waiting {
        let dep = unfinished(plan, target, run_lock, &step.after)
            .await?
            .unwrap_or_default();
        tables.block(&step.table, dep);
    }
    Ok((reports, tables.blocked))
}

/// The tables of a run (or of a worker) as the scheduler moves them: running, split, blocked.
struct Tables<'p> {
    plan: &'p plan::Plan,
    analysis: &'p check::Analysis,
    swaps: run::UnstartedSwaps,
    shared_plan: std::sync::Arc<plan::Plan>,
    run_id: i64,
    worker: chunk::Worker,
    idle: Vec<Connections>,
    running: FuturesUnordered<UnitTask>,
    /// Tables started and not finished: whole ones running, split ones with chunks left.
    running_names: Vec<String>,
    /// Split tables with chunks left, in the order they started.
    split: Vec<Split>,
    blocked: Vec<Blocked>,
}

/// A split table in this process: the chunks still to claim here and how many run here now.
struct Split {
    prepared: std::sync::Arc<check::Prepared>,
    queue: std::collections::VecDeque<chunk::Chunk>,
    running: usize,
    started: Instant,
    /// The first chunk that failed here: the table's report once its other chunks here stop.
    failure: Option<TableReport>,
}

impl<'p> Tables<'p> {
    async fn new(
        plan: &'p plan::Plan,
        analysis: &'p check::Analysis,
        unstarted: &[&str],
        run_id: i64,
        worker: chunk::Worker,
    ) -> anyhow::Result<Tables<'p>> {
        let pairs = plan.parallel_tables.max(1);
        let mut idle = Vec::with_capacity(pairs);
        for _ in 0..pairs {
            idle.push((
                connect(&plan.source_url, pg::Side::Source).await?,
                connect(&plan.target_url, pg::Side::Target).await?,
            ));
        }
        Ok(Tables {
            plan,
            analysis,
            swaps: run::UnstartedSwaps::watch(plan, analysis, unstarted, run_id),
            shared_plan: std::sync::Arc::new(plan.clone()),
            run_id,
            worker,
            idle,
            running: FuturesUnordered::new(),
            running_names: Vec::new(),
            split: Vec::new(),
            blocked: Vec::new(),
        })
    }

    /// Starts the waiting tables whose dependencies are all done, while connections are idle;
    /// a table whose dependency ended without being done is blocked. A large table is split
    /// into chunks here (its chunks start in [`Tables::start_chunks`]).
    async fn start_ready(
        &mut self,
        waiting: &mut Vec<&order::Step>,
        source: &Client,
        target: &mut Client,
        run_lock: &lock::RunLock,
        reports: &mut Vec<TableReport>,
    ) -> anyhow::Result<()> {
        let mut i = 0;
        while i < waiting.len() && !self.idle.is_empty() {
            let step = waiting[i];
            let pending = |d: &String| {
                self.running_names.contains(d) || waiting.iter().any(|w| &w.table == d)
            };
            if step.after.iter().any(pending) {
                i += 1;
                continue;
            }
            waiting.remove(i);
            if let Some(dep) = unfinished(self.plan, target, run_lock, &step.after).await? {
                self.block(&step.table, dep);
                continue;
            }
            let prepared = self.swaps.start(&step.table).unwrap_or_else(|| {
                self.analysis
                    .prepared(&step.table)
                    .expect("ordered tables were prepared")
                    .clone()
            });
            let split = self.split_decision(&prepared, target, run_lock).await?;
            let mut store = PgStore::new(target, &self.plan.target_schema);
            match split {
                None => self.start(
                    Unit::Table(step.table.clone()),
                    std::sync::Arc::new(prepared),
                ),
                Some(chunks) if chunks.is_empty() => {
                    // Every chunk was done before the table could be finished (a kill).
                    let started = Instant::now();
                    let pages = run::PgSource::new(source, &self.plan.source_schema);
                    let finished =
                        run::finish_split_table(&mut store, &TableSpec::of(&prepared), &pages)
                            .await;
                    reports.push(
                        run::table_report(&mut store, &step.table, finished.map(|_| ()), started)
                            .await?,
                    );
                }
                Some(chunks) => {
                    info!(table = %step.table, chunks = chunks.len(), "split into key-range chunks");
                    self.running_names.push(step.table.clone());
                    self.split.push(Split {
                        prepared: std::sync::Arc::new(prepared),
                        queue: chunks.into(),
                        running: 0,
                        started: Instant::now(),
                        failure: None,
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether `prepared` runs split, and its chunks left (`run::split_table`), riding out a
    /// fault of either side: the target reconnected, a fresh source connection per attempt.
    async fn split_decision(
        &self,
        prepared: &check::Prepared,
        target: &mut Client,
        run_lock: &lock::RunLock,
    ) -> anyhow::Result<Option<Vec<chunk::Chunk>>> {
        let plan = self.plan;
        on_target(plan, target, run_lock, async |t| {
            let mut backoff = transient::Backoff::new(plan.fault_timeout);
            let source =
                transient::reconnect(&plan.source_url, pg::Side::Source, &mut backoff).await?;
            let pages = run::PgSource::new(&source, &plan.source_schema);
            run::split_table(prepared, &pages, &mut PgStore::new(t, &plan.target_schema)).await
        })
        .await
    }

    /// Starts queued chunks on idle connections, the earliest split table first; a chunk
    /// another process holds is left to it.
    async fn start_chunks(&mut self) -> anyhow::Result<()> {
        'pairs: while !self.idle.is_empty() {
            for s in 0..self.split.len() {
                while let Some(chunk) = self.split[s].queue.pop_front() {
                    // The claim is taken on the target connection of the pair that will work
                    // the chunk: back on top of `idle`, where `start` takes it from.
                    let (src, tgt) = self.idle.pop().expect("a connection pair is idle");
                    let claimed = chunk::try_claim(&tgt, &chunk, Some(&self.worker.name)).await?;
                    self.idle.push((src, tgt));
                    if !claimed {
                        continue;
                    }
                    self.split[s].running += 1;
                    let prepared = self.split[s].prepared.clone();
                    self.start(Unit::Chunk(chunk), prepared);
                    continue 'pairs;
                }
            }
            break;
        }
        Ok(())
    }

    /// The next unit to end (None when none runs).
    async fn next_finished(
        &mut self,
    ) -> Option<Result<(Unit, anyhow::Result<TableReport>, Client, Client), tokio::task::JoinError>>
    {
        if self.running.is_empty() {
            if self.awaits_others() {
                tokio::time::sleep(POLL).await;
            }
            return None;
        }
        match self.awaits_others() {
            false => self.running.next().await,
            true => tokio::select! {
                joined = self.running.next() => joined,
                () = tokio::time::sleep(POLL) => None,
            },
        }
    }

    /// Some split table has no chunk queued or running here: other processes hold the rest.
    fn awaits_others(&self) -> bool {
        self.split
            .iter()
            .any(|s| s.queue.is_empty() && s.running == 0)
    }

    fn block(&mut self, table: &str, waits_for: String) {
        self.blocked.push(Blocked {
            table: table.to_string(),
            waits_for,
        });
    }

    /// A task of its own per unit: each plugin call blocks its worker thread, so units side
    /// by side transform on as many cores.
    fn start(&mut self, unit: Unit, prepared: std::sync::Arc<check::Prepared>) {
        let (mut src, mut tgt) = self.idle.pop().expect("a connection pair is idle");
        if let Unit::Table(table) = &unit {
            self.running_names.push(table.clone());
        }
        let (plan, run_id) = (self.shared_plan.clone(), self.run_id);
        let worker = self.worker.clone();
        self.running.push(tokio::spawn(async move {
            let chunk = match &unit {
                Unit::Chunk(c) => Some(c),
                Unit::Table(_) => None,
            };
            let _ = worker.working_on(&tgt, chunk).await;
            let report =
                run::run_table_riding_faults(&plan, &prepared, &mut src, &mut tgt, run_id, chunk)
                    .await;
            if let Some(c) = chunk {
                let _ = chunk::release(&tgt, c).await;
            }
            let _ = worker.working_on(&tgt, None).await;
            (unit, report, src, tgt)
        }));
    }

    /// A unit's task ended: its connections go back to the idle ones. Returns the table's
    /// report when the table ended here (a whole table, the last chunk, a failure).
    async fn finished(
        &mut self,
        joined: Result<(Unit, anyhow::Result<TableReport>, Client, Client), tokio::task::JoinError>,
    ) -> anyhow::Result<Option<TableReport>> {
        let (unit, report, src, tgt) = joined.context("a table's task panicked")?;
        self.idle.push((src, tgt));
        let report = report?;
        let Unit::Chunk(chunk) = unit else {
            return Ok(Some(self.ended(report)));
        };
        let Some(s) = self
            .split
            .iter()
            .position(|s| s.prepared.plan.name == chunk.table)
        else {
            return Ok(None);
        };
        let split = &mut self.split[s];
        split.running -= 1;
        if report.error.is_some() {
            split.queue.clear();
            split.failure.get_or_insert(report.clone());
        }
        if report.phase == TablePhase::Done {
            let mut report = report;
            report.seconds = split.started.elapsed().as_secs_f64();
            self.split.remove(s);
            return Ok(Some(self.ended(report)));
        }
        if split.running == 0 && split.failure.is_some() {
            let report = self.split.remove(s).failure.expect("a failure");
            return Ok(Some(self.ended(report)));
        }
        Ok(None)
    }

    /// A table ended in this process: it no longer runs.
    fn ended(&mut self, report: TableReport) -> TableReport {
        self.running_names.retain(|t| t != &report.table);
        if let Some(error) = &report.error {
            tracing::error!(table = %report.table, "{}", error.message);
        }
        report
    }

    /// A worker takes up the split tables the run is copying that it does not work yet (their
    /// chunks not done), once it checked that it runs the same component for each.
    async fn join_split(&mut self, target: &Client) -> anyhow::Result<()> {
        let rows = target
            .query(
                "SELECT s.table_name, s.component_sha256 FROM migration.table_state s
                 WHERE s.phase = 'copying'
                   AND EXISTS (SELECT 1 FROM migration.chunks c WHERE c.table_name = s.table_name AND NOT c.done)
                 ORDER BY s.started_at",
                &[],
            )
            .await
            .context("looking for split tables to work")?;
        for r in rows {
            let table: String = r.get(0);
            let run_sha: Option<String> = r.get(1);
            if self.split.iter().any(|s| s.prepared.plan.name == table) {
                continue;
            }
            let Some(prepared) = self.analysis.prepared(&table) else {
                continue;
            };
            let sha = &prepared.plugin.sha256;
            if let Some(run_sha) = run_sha.filter(|r| r != sha) {
                return Err(Error::check(format!(
                    "table {table}: this worker's component {} has sha256 {}, but the run copies {table} with {}: a worker must run the component the run runs (copy the run's plugin file here, or `host swap` the run to this one first); nothing of {table} was written by this worker",
                    prepared.plan.plugin.display(),
                    &sha[..12.min(sha.len())],
                    &run_sha[..12.min(run_sha.len())],
                ))
                .into());
            }
            let left: Vec<chunk::Chunk> = chunk::chunks(target, &table)
                .await?
                .into_iter()
                .filter(|c| !c.done)
                .collect();
            self.running_names.push(table.clone());
            self.split.push(Split {
                prepared: std::sync::Arc::new(prepared.clone()),
                queue: left.into(),
                running: 0,
                started: Instant::now(),
                failure: None,
            });
        }
        Ok(())
    }

    /// The split tables whose last chunks other processes hold: a table done or failed there
    /// ends here too; a chunk left unclaimed (its process died) is queued to be claimed here;
    /// a table whose chunks are all done but which nobody finished is finished here.
    async fn look_again(&mut self, target: &mut Client) -> anyhow::Result<Vec<TableReport>> {
        let mut reports = Vec::new();
        let mut s = 0;
        while s < self.split.len() {
            let split = &self.split[s];
            if !(split.queue.is_empty() && split.running == 0) {
                s += 1;
                continue;
            }
            let table = split.prepared.plan.name.clone();
            let state = state::table_state(&*target, &table).await?;
            let phase = state.as_ref().map(|s| s.phase);
            let left: Vec<chunk::Chunk> = chunk::chunks(&*target, &table)
                .await?
                .into_iter()
                .filter(|c| !c.done)
                .collect();
            let mut store = PgStore::new(target, &self.plan.target_schema);
            let report = match phase {
                Some(TablePhase::Done | TablePhase::Failed) => {
                    Some(run::table_report(&mut store, &table, Ok(()), split.started).await?)
                }
                _ if left.is_empty() => {
                    let spec = TableSpec::of(&split.prepared);
                    // The source, for the rows a key's build may quarantine.
                    let source = connect(&self.plan.source_url, pg::Side::Source).await?;
                    let pages = run::PgSource::new(&source, &self.plan.source_schema);
                    let finished = run::finish_split_table(&mut store, &spec, &pages).await;
                    Some(
                        run::table_report(&mut store, &table, finished.map(|_| ()), split.started)
                            .await?,
                    )
                }
                _ => {
                    self.split[s].queue = left.into();
                    None
                }
            };
            match report {
                Some(mut r) => {
                    r.seconds = self.split[s].started.elapsed().as_secs_f64();
                    self.split.remove(s);
                    reports.push(self.ended(r));
                }
                None => s += 1,
            }
        }
        Ok(reports)
    }
}

/// What `host worker` did.
#[derive(Debug, serde::Serialize)]
pub struct WorkSummary {
    /// The tables this worker saw end (it worked their last chunk, or found them ended).
    pub tables: Vec<TableReport>,
    pub elapsed_seconds: f64,
}

impl WorkSummary {
    /// A table that failed while this worker worked it (the run reports it too).
    pub fn failure(&self) -> Option<Error> {
        let failed: Vec<String> = self
            .tables
            .iter()
            .filter_map(|r| Some(format!("{}: {}", r.table, r.error.as_ref()?.message)))
            .collect();
        (!failed.is_empty()).then(|| {
            Error::new(
                ErrorKind::TableFailed,
                format!(
                    "tables failed while this worker worked them:\n  {}",
                    failed.join("\n  ")
                ),
            )
        })
    }
}

/// `host worker`: joins the `host run` going on in the plan's target and works chunks of its
/// split tables (see chunk.rs) beside it, until that run has ended. Refused when no run holds
/// the target, when the plan does not check out, and when this worker's component for a table
/// is not the one the run runs.
pub async fn work(plan: &plan::Plan) -> anyhow::Result<WorkSummary> {
    let started = Instant::now();
    let mut target = connect(&plan.target_url, pg::Side::Target).await?;
    if lock::holder(&target).await?.is_none() {
        return Err(Error::plan(
            "no `host run` is running on this target: a worker joins a running migration; start `host run` with this plan (on any machine), then the workers",
        )
        .into());
    }
    let source = connect(&plan.source_url, pg::Side::Source).await?;
    let runtime = crate::wasm::Runtime::new()?;
    let analysis = crate::session::analyze(plan, &runtime, Some(&source), Some(&target)).await?;
    if !analysis.problems.is_empty() {
        let list = crate::check::problem_list(&analysis.problems);
        return Err(Error::check(format!(
            "the plan does not check out here, this worker worked nothing:\n{list}"
        ))
        .into());
    }
    let run_id: i64 = target
        .query_one("SELECT coalesce(max(run_id), 0) FROM migration.runs", &[])
        .await?
        .get(0);
    let worker = chunk::Worker::register(&target, "worker").await?;
    info!(worker = %worker.name, run_id, "joined the run");
    let mut tables = Tables::new(plan, &analysis, &[], run_id, worker).await?;
    let mut reports = Vec::new();
    loop {
        tables.join_split(&target).await?;
        tables.start_chunks().await?;
        match tables.next_finished().await {
            Some(joined) => reports.extend(tables.finished(joined).await?),
            None if tables.running.is_empty() && lock::holder(&target).await?.is_none() => break,
            None if tables.awaits_others() => reports.extend(tables.look_again(&mut target).await?),
            None => tokio::time::sleep(POLL).await,
        }
    }
    Ok(WorkSummary {
        tables: reports,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Per table: its source rows plus the largest such sum along any chain of tables that must
/// wait for it (the source's row estimates; exact counts are not needed to order the work).
pub async fn critical_path(
    source: &tokio_postgres::Client,
    schema: &str,
    analysis: &check::Analysis,
    order: &[order::Step],
) -> anyhow::Result<std::collections::HashMap<String, i64>> {
    let estimates: std::collections::HashMap<String, f32> = source
        .query(
            "SELECT c.relname::text, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')",
            &[&schema],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut priority = std::collections::HashMap::new();
    for step in order.iter().rev() {
        let rows = analysis
            .prepared(&step.table)
            .and_then(|t| estimates.get(&t.description.source_table))
            .map_or(0, |r| r.max(0.0) as i64);
        let after_it = order
            .iter()
            .filter(|s| s.after.contains(&step.table))
            .filter_map(|s| priority.get(&s.table).copied())
            .max()
            .unwrap_or(0);
        priority.insert(step.table.clone(), rows + after_it);
    }
    Ok(priority)
}

/// The first of `tables` that is not done yet, if any (riding out a transient fault of the
/// run's target connection).
pub async fn unfinished(
    plan: &plan::Plan,
    target: &mut tokio_postgres::Client,
    run_lock: &lock::RunLock,
    tables: &[String],
) -> anyhow::Result<Option<String>> {
    on_target(plan, target, run_lock, async |target| {
        for t in tables {
            let done = matches!(
                state::table_state(target, t).await?.map(|s| s.phase),
                Some(TablePhase::Done)
            );
            if !done {
                return Ok(Some(t.clone()));
            }
        }
        Ok(None)
    })
    .await
}

/// What `host run` did.
#[derive(Debug)]
pub struct RunSummary {
    pub run_id: i64,
    pub tables: Vec<TableReport>,
    pub blocked: Vec<Blocked>,
    /// Keys and indexes set aside for the load that could not be put back, and why.
    pub not_put_back: Vec<String>,
    /// Forward references that could not be settled (a NOT NULL column pointing at rows that
    /// never came), one line each: their table did not finish.
    pub unsettled: Vec<String>,
    pub elapsed: Duration,
    pub outcome: RunOutcome,
    /// The three most frequent quarantine reasons of each table with quarantined rows.
    pub reject_reasons: Vec<(String, Vec<(String, i64)>)>,
}

impl RunSummary {
    /// Why the run did not finish, with its kind (none when it did): a database that could
    /// not be reached is [`ErrorKind::Connect`]; anything else, [`ErrorKind::TableFailed`].
    pub fn failure(&self) -> Option<Error> {
        if self.outcome == RunOutcome::Done {
            return None;
        }
        let failed = self.tables.iter().filter(|r| r.phase != TablePhase::Done);
        let unreachable = failed.clone().any(|r| {
            r.error
                .as_ref()
                .is_some_and(|e| e.kind == ErrorKind::Connect)
        });
        let mut lines: Vec<String> = failed
            .map(|r| {
                let why = r
                    .error
                    .as_ref()
                    .map_or("did not finish", |e| e.message.as_str());
                format!("{}: {why}", r.table)
            })
            .collect();
        lines.extend(self.unsettled.iter().cloned());
        lines.extend(self.not_put_back.iter().map(|u| {
            format!("not put back: {u} (`host validate` lists the rows that point nowhere; the next `host run` tries again)")
        }));
        lines.extend(self.blocked.iter().map(|b| {
            let dep = &b.waits_for;
            format!("{}: not started, it waits for {dep}, which is not done (run {dep} first: `host run` without --table, or with --table {dep})", b.table)
        }));
        let kind = match unreachable {
            true => ErrorKind::Connect,
            false => ErrorKind::TableFailed,
        };
        Some(Error::new(kind, format!("the run did not finish:\n  {}\nfix the cause and run again: committed batches stay and the run resumes after them", lines.join("\n  "))))
    }
}

/// `host run`: checks the plan against both databases, sets keys and indexes aside for the
/// load, runs the tables of `only` (all when empty), puts the keys back whatever the tables
/// came to, and records the run's outcome. A table that fails does not make this an error:
/// see [`RunSummary::failure`].
pub async fn run(plan: &plan::Plan, only: &[String]) -> anyhow::Result<RunSummary> {
    let mut opened = open_run(plan, only).await?;
    let started = Instant::now();
    let o = &mut opened;
    let tables = run_tables(
        plan,
        &o.analysis,
        only,
        &mut o.source,
        &mut o.target,
        &o.lock,
        o.run_id,
    )
    .await;
    // Forward references whose tables are all done are settled (and their keys put back).
    let settled = match &tables {
        Ok(_) => settle_ready(plan, &mut opened).await,
        Err(_) => Ok((Vec::new(), Vec::new())),
    };
    // Whatever the tables came to, what was set aside goes back now while the target answers.
    let (restored, note) = put_back(plan, &mut opened).await;
    let (tables, blocked) = tables.map_err(|e| with_note(e, &note))?;
    let (unsettled, settle_not_put_back) = settled.map_err(|e| with_note(e, &note))?;
    let mut not_put_back = std::mem::take(&mut opened.not_put_back);
    not_put_back.extend(settle_not_put_back);
    not_put_back.extend(restored.map_err(|e| with_note(e, &note))?);
    let finished = tables.iter().all(|r| r.phase == TablePhase::Done);
    let outcome =
        match finished && blocked.is_empty() && not_put_back.is_empty() && unsettled.is_empty() {
            true => RunOutcome::Done,
            false => RunOutcome::Failed,
        };
    record_outcome(plan, &mut opened, outcome).await?;
    let mut reject_reasons = Vec::new();
    let mut store = PgStore::new(&mut opened.target, &plan.target_schema);
    for r in tables.iter().filter(|r| r.counts.rows_rejected > 0) {
        if let Ok(reasons) = store.top_reject_reasons(&r.table, 3).await {
            reject_reasons.push((r.table.clone(), reasons));
        }
    }
    opened.lock.release(&opened.target).await?;
    Ok(RunSummary {
        run_id: opened.run_id,
        tables,
        blocked,
        not_put_back,
        unsettled,
        elapsed: started.elapsed(),
        outcome,
        reject_reasons,
    })
}

/// A run, checked and started: both sides connected, the run lock held, the run recorded and
/// the keys and indexes of the tables it loads in bulk set aside.
struct OpenedRun {
    source: Client,
    target: Client,
    lock: lock::RunLock,
    analysis: check::Analysis,
    run_id: i64,
    /// What an earlier run set aside and this one could not put back.
    not_put_back: Vec<String>,
}

async fn open_run(plan: &plan::Plan, only: &[String]) -> anyhow::Result<OpenedRun> {
    let mut target = connect(&plan.target_url, pg::Side::Target).await?;
    deferred::warn_if_set_aside(&target, &plan.path).await?;
    // One command at a time writes a target (see lock.rs); refused at once otherwise.
    let lock = lock::acquire_or_refuse(&target, "run").await?;
    state::ensure_schema(&target).await?;
    let source = connect(&plan.source_url, pg::Side::Source).await?;
    if run::ensure_target_schema(plan, &target).await? {
        tracing::info!("the target schema was empty: created it from the plan's schema_files");
    }
    let runtime = crate::wasm::Runtime::new()?;
    let analysis = crate::session::analyze(plan, &runtime, Some(&source), Some(&target)).await?;
    let loading = deferred::loading(&analysis, &target, only).await?;
    let mut problems = analysis.problems.clone();
    if problems.is_empty() {
        problems.extend(deferred::bulk_refusals(plan, &analysis, &target, &loading).await?);
    }
    if !problems.is_empty() {
        let list = crate::check::problem_list(&problems);
        return Err(Error::check(format!(
            "the plan does not check out, nothing was migrated:\n{list}"
        ))
        .into());
    }
    crate::session::require_plan_tables(plan, only)?;
    let tables = analysis.order.as_ref().map_or(0, Vec::len);
    for f in &analysis.forward_refs {
        tracing::info!("{f}");
    }
    let run_id = PgStore::new(&mut target, &plan.target_schema)
        .start_run(&plan.path, None)
        .await?;
    tracing::info!(run_id, tables, "run started");
    let not_put_back = set_aside(plan, &mut target, &loading).await?;
    Ok(OpenedRun {
        source,
        target,
        lock,
        analysis,
        run_id,
        not_put_back,
    })
}

/// Bulk-load mode for the tables this run writes (see deferred.rs). Returns what an earlier
/// run set aside that could not be put back.
async fn set_aside(
    plan: &plan::Plan,
    target: &mut Client,
    loading: &deferred::Loading,
) -> anyhow::Result<Vec<String>> {
    let (set_aside, put_back) = deferred::defer(target, &plan.target_schema, loading).await?;
    if put_back.restored > 0 || !put_back.failed.is_empty() {
        tracing::info!(
            put_back = put_back.restored,
            "keys and indexes an earlier run set aside, which this run does not set aside, put back"
        );
    }
    if set_aside > 0 {
        tracing::info!(
            set_aside,
            "foreign keys and indexes set aside for the load: each batch checks its own keys, the primary and unique keys of a table filled from empty are built when it finishes, and the rest are put back (validated) at the end"
        );
    }
    Ok(put_back.failed)
}

/// Settles each forward reference whose tables (both sides) are all done, and puts its key
/// back (see deferred.rs), riding out a transient fault. Returns the lines of the references
/// that could not be settled (a NOT NULL column pointing at rows that never came) and of the
/// keys that could not be put back.
async fn settle_ready(
    plan: &plan::Plan,
    o: &mut OpenedRun,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let (mut unsettled, mut not_put_back) = (Vec::new(), Vec::new());
    for f in &o.analysis.forward_refs {
        if unfinished(plan, &mut o.target, &o.lock, &f.waits_for)
            .await?
            .is_some()
        {
            continue;
        }
        let (settled, restored) = on_target(plan, &mut o.target, &o.lock, async |t| {
            deferred::settle(t, &plan.target_schema, f).await
        })
        .await?;
        not_put_back.extend(restored.failed);
        if let deferred::Settled::Dangling { rows, missing } = settled {
            // The plan table holding the key: first in its cycle, or the self-referencing one.
            let holder = f
                .cycle
                .first()
                .or(f.referenced_by.first())
                .cloned()
                .unwrap_or_default();
            unsettled.push(format!(
                "{holder}: {} and the key {} stays set aside\n    hint: migrate those rows (`host retry` for quarantined ones) and run `host run` again, or make the column nullable to have such references set to NULL and recorded",
                deferred::why_unsettled(f, rows, &missing),
                f.name
            ));
        }
    }
    Ok((unsettled, not_put_back))
}

/// Puts back what was set aside (riding out a transient fault). Returns what could not be put
/// back, and the note for an error of the run (what became of the keys).
async fn put_back(plan: &plan::Plan, o: &mut OpenedRun) -> (anyhow::Result<Vec<String>>, String) {
    let clock = Instant::now();
    let restored = on_target(plan, &mut o.target, &o.lock, async |t| {
        deferred::restore_settled(t, &plan.target_schema).await
    })
    .await;
    match restored {
        Ok(r) if r.failed.is_empty() => {
            if r.restored > 0 {
                tracing::info!(
                    put_back = r.restored,
                    seconds = format!("{:.1}", clock.elapsed().as_secs_f64()),
                    "indexes rebuilt and foreign keys validated"
                );
            }
            let note = format!(
                "the {} foreign key(s) and index(es) set aside were put back",
                r.restored
            );
            (Ok(Vec::new()), note)
        }
        Ok(r) => {
            let list = r.failed.join("; ");
            tracing::warn!(
                put_back = r.restored,
                not_put_back = r.failed.len(),
                "{} of the foreign keys and indexes set aside could not be put back: {list}",
                r.failed.len(),
            );
            let note = format!(
                "{} foreign key(s) and index(es) set aside could not be put back (`host validate` lists the rows that point nowhere; the next `host run` tries again): {list}",
                r.failed.len(),
            );
            (Ok(r.failed), note)
        }
        Err(e) => {
            let why = pg::explain(&e);
            tracing::warn!("the foreign keys and indexes set aside could not be put back: {why}");
            let note = format!("the foreign keys and indexes set aside could not be put back ({why}); they stay recorded in migration.deferred_constraints and the next `host run` (or `host rollback`) puts them back");
            (Err(e), note)
        }
    }
}

/// The run's end and outcome in `migration.runs` (riding out a transient fault).
async fn record_outcome(
    plan: &plan::Plan,
    o: &mut OpenedRun,
    outcome: RunOutcome,
) -> anyhow::Result<()> {
    let run_id = o.run_id;
    on_target(plan, &mut o.target, &o.lock, async |t| {
        PgStore::new(t, &plan.target_schema)
            .finish_run(run_id, Some(outcome))
            .await
    })
    .await
    .map_err(unreachable_is_connect)
}

/// `err` with `note` (what became of the keys set aside) added, its kind kept.
fn with_note(err: anyhow::Error, note: &str) -> anyhow::Error {
    let err = unreachable_is_connect(err);
    match err.downcast_ref::<Error>() {
        Some(e) => Error::new(e.kind, format!("{}\n  {note}", e.message)).into(),
        None => anyhow::anyhow!("{}\n  {note}", pg::explain(&err)),
    }
}

/// A transient fault that outlasted its riding out is a database that cannot be reached.
fn unreachable_is_connect(err: anyhow::Error) -> anyhow::Error {
    if Error::kind_of(&err).is_none() && pg::is_transient(&err) {
        Error::connect(pg::explain(&err)).into()
    } else {
        err
    }
}

/// `work` on the run's own target connection, riding out transient faults: after a reconnect
/// the run lock is taken again on the new session (`transient::with_reconnect`).
async fn on_target<T>(
    plan: &plan::Plan,
    target: &mut Client,
    run_lock: &lock::RunLock,
    work: impl AsyncFnMut(&mut Client) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    transient::with_reconnect(
        target,
        &plan.target_url,
        pg::Side::Target,
        plan.fault_timeout,
        Some(run_lock),
        work,
    )
    .await
}
