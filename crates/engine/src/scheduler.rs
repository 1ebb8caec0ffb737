//! The table scheduler: which table runs when, on which connections; and `host run` as a
//! whole around it (keys set aside for the load and put back, the run's outcome recorded).

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::task::JoinHandle;
use tokio_postgres::Client;

use crate::error::{Error, ErrorKind};
use crate::run::TableReport;
use crate::session::connect;
use crate::state::{RunOutcome, TablePhase};
use crate::store::{PgStore, StateStore};
use crate::{check, deferred, lock, order, pg, plan, run, state, transient};

/// A table that could not start: a table it depends on is not done.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Blocked {
    pub table: String,
    pub waits_for: String,
}

/// One pair of connections: source, target.
type Connections = (Client, Client);

/// A table's task: its report and the connections it ran on, given back.
type TableTask = JoinHandle<(anyhow::Result<TableReport>, Client, Client)>;

/// Runs the selected tables in dependency order, up to `parallel_tables` at a time, each over
/// its own pair of connections; among the tables ready to start, those heading the longest
/// chain of rows still to come go first. Returns the reports and the tables that could not
/// start (with the dependency that was not done).
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
    let workers = plan.parallel_tables.min(waiting.len()).max(1);
    // Hot swaps of the tables not started yet are applied from now on.
    let names: Vec<&str> = waiting.iter().map(|s| s.table.as_str()).collect();
    let mut tables = Tables {
        plan,
        analysis,
        swaps: run::UnstartedSwaps::watch(plan, analysis, &names, run_id),
        shared_plan: std::sync::Arc::new(plan.clone()),
        run_id,
        idle: Vec::with_capacity(workers),
        running: FuturesUnordered::new(),
        running_names: Vec::new(),
        blocked: Vec::new(),
    };
    for _ in 0..workers {
        tables.idle.push((
            connect(&plan.source_url, pg::Side::Source).await?,
            connect(&plan.target_url, pg::Side::Target).await?,
        ));
    }
    let mut reports = Vec::new();
    loop {
        tables.start_ready(&mut waiting, target, run_lock).await?;
        let Some(joined) = tables.running.next().await else {
            break;
        };
        reports.push(tables.finished(joined)?);
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

/// The tables of a run as the scheduler moves them: running, and blocked.
struct Tables<'p> {
    plan: &'p plan::Plan,
    analysis: &'p check::Analysis,
    swaps: run::UnstartedSwaps,
    shared_plan: std::sync::Arc<plan::Plan>,
    run_id: i64,
    idle: Vec<Connections>,
    running: FuturesUnordered<TableTask>,
    running_names: Vec<String>,
    blocked: Vec<Blocked>,
}

impl Tables<'_> {
    /// Starts the waiting tables whose dependencies are all done, while connections are idle;
    /// a table whose dependency ended without being done is blocked.
    async fn start_ready(
        &mut self,
        waiting: &mut Vec<&order::Step>,
        target: &mut Client,
        run_lock: &lock::RunLock,
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
            match unfinished(self.plan, target, run_lock, &step.after).await? {
                Some(dep) => self.block(&step.table, dep),
                None => self.start(&step.table),
            }
        }
        Ok(())
    }

    fn block(&mut self, table: &str, waits_for: String) {
        self.blocked.push(Blocked {
            table: table.to_string(),
            waits_for,
        });
    }

    /// A task of its own per table: each plugin call blocks its worker thread, so tables side
    /// by side transform on as many cores.
    fn start(&mut self, table: &str) {
        let prepared = self.swaps.start(table).unwrap_or_else(|| {
            self.analysis
                .prepared(table)
                .expect("ordered tables were prepared")
                .clone()
        });
        let (mut src, mut tgt) = self.idle.pop().expect("a connection pair is idle");
        self.running_names.push(table.to_string());
        let (plan, run_id) = (self.shared_plan.clone(), self.run_id);
        self.running.push(tokio::spawn(async move {
            let report =
                run::run_table_riding_faults(&plan, &prepared, &mut src, &mut tgt, run_id).await;
            (report, src, tgt)
        }));
    }

    /// A table's task ended: its connections go back to the idle ones.
    fn finished(
        &mut self,
        joined: Result<(anyhow::Result<TableReport>, Client, Client), tokio::task::JoinError>,
    ) -> anyhow::Result<TableReport> {
        let (report, src, tgt) = joined.context("a table's task panicked")?;
        self.idle.push((src, tgt));
        let report = report?;
        self.running_names.retain(|t| t != &report.table);
        if let Some(error) = &report.error {
            tracing::error!(table = %report.table, "{}", error.message);
        }
        Ok(report)
    }
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
    transient::with_reconnect(
        target,
        &plan.target_url,
        pg::Side::Target,
        plan.fault_timeout,
        Some(run_lock),
        async |target| {
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
        },
    )
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
        let (settled, restored) = transient::with_reconnect(
            &mut o.target,
            &plan.target_url,
            pg::Side::Target,
            plan.fault_timeout,
            Some(&o.lock),
            async |t| deferred::settle(t, &plan.target_schema, f).await,
        )
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
                "{holder}: {rows} row(s) of {} point with {} at no row of {} (ids {}: those rows were skipped, quarantined or are missing in the source), and {}.{} is NOT NULL: nothing was changed and the key {} stays set aside\n    hint: migrate those rows (`host retry` for quarantined ones) and run `host run` again, or make the column nullable to have such references set to NULL and recorded",
                f.table,
                f.column,
                f.ref_table,
                missing.join(", "),
                f.table,
                f.column,
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
    let restored = transient::with_reconnect(
        &mut o.target,
        &plan.target_url,
        pg::Side::Target,
        plan.fault_timeout,
        Some(&o.lock),
        async |t| deferred::restore_settled(t, &plan.target_schema).await,
    )
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
    transient::with_reconnect(
        &mut o.target,
        &plan.target_url,
        pg::Side::Target,
        plan.fault_timeout,
        Some(&o.lock),
        async |t| {
            PgStore::new(t, &plan.target_schema)
                .finish_run(run_id, Some(outcome))
                .await
        },
    )
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
