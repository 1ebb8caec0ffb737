//! `host`: moves a legacy PostgreSQL database into a new schema through sandboxed
//! WebAssembly transforms, one per table. See README.md.

mod check;
mod codec;
mod conninfo;
mod deferred;
mod dryrun;
mod generate;
mod idmap;
mod lock;
mod order;
mod pg;
mod plan;
mod plugin_cmd;
mod progress;
mod report;
mod retry;
mod rollback;
mod run;
mod seed_target;
mod state;
mod status;
mod tls;
mod transient;
mod validate;
mod wasm;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::plan::{Overrides, Plan};

#[derive(Parser)]
#[command(
    name = "host",
    version,
    about = "Moves a legacy PostgreSQL database into a new schema through sandboxed WebAssembly transforms",
    after_help = "Exit codes: 0 success; 2 bad command line or plan; 3 check found problems; 4 a database could not be reached, or another host command (run, retry, rollback, swap) holds the target: the message names it; 5 a table failed or stopped during the run, or keys set aside could not be put back; 6 validate found a failing check; 1 anything else."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the plan, the plugins and both schemas before any row moves; prints the table order.
    Check(PlanArgs),
    /// Run the migration, or resume it after the last committed batch.
    Run(RunArgs),
    /// Show per-table progress from the target's state tables (works from any terminal).
    Status(PlanArgs),
    /// Prove the migration is whole: accounting, reasons, id map, FK orphans, money, a
    /// re-transformed sample, and the plan's success thresholds. Exit 0 only if every check passes.
    Validate(PlanArgs),
    /// Write the whole migration into one self-contained HTML file (opens offline in any
    /// browser): the runs, a timeline per table, throughput, validation, reject and skip
    /// reasons, component versions and hot swaps, and the plan. Reads the target's state
    /// tables (during or after a run); validation needs the source and the plugins too.
    Report(ReportArgs),
    /// Swap a new component in for one table: checked here first, then put in place of the
    /// plan's plugin file, where a running `host run` picks it up at its next batch boundary.
    Swap(SwapArgs),
    /// Replay quarantined rows through the current component (after a fix to the plugin or to
    /// the legacy data); rows that now succeed are written, the rest stay with the new reason.
    Retry(RetryArgs),
    /// Remove what the migration wrote for some tables (rows, id map, skips, quarantine,
    /// checkpoints), so a later run migrates them again.
    Rollback(RollbackArgs),
    /// Create and fill a legacy database with deterministic, realistically dirty data.
    Generate(generate::GenerateArgs),
    /// Plugin authoring: scaffold a plugin crate, or test a component on fixture rows (no database).
    #[command(subcommand)]
    Plugin(plugin_cmd::PluginCommand),
}

#[derive(Args, Clone)]
struct PlanArgs {
    /// The migration plan.
    #[arg(default_value = "plan.toml")]
    plan: PathBuf,
    /// Legacy database URL (overrides the plan's [source] url).
    #[arg(long, env = "MIGRATE_SOURCE_URL", hide_env_values = true)]
    source: Option<String>,
    /// New database URL (overrides the plan's [target] url).
    #[arg(long, env = "MIGRATE_TARGET_URL", hide_env_values = true)]
    target: Option<String>,
    /// Machine-readable output on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Clone)]
struct RunArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// Run only these tables (repeatable); their dependencies must be done already.
    #[arg(long = "table")]
    tables: Vec<String>,
    /// Read and transform every table, write nothing: prints what would be written, skipped
    /// and rejected, with the most frequent reasons and example keys.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args, Clone)]
struct RetryArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// Retry only these tables' quarantined rows (repeatable).
    #[arg(long = "table")]
    tables: Vec<String>,
}

#[derive(Args, Clone)]
struct ReportArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// Where to write the HTML file (replaced if it exists).
    #[arg(short, long, default_value = "report.html")]
    output: PathBuf,
    /// Leave validation out (it re-reads the source and re-transforms a sample per table);
    /// when it cannot run, the report says why instead.
    #[arg(long)]
    no_validate: bool,
}

#[derive(Args, Clone)]
struct SwapArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// The table whose plugin to replace.
    #[arg(long)]
    table: String,
    /// The new component (.wasm).
    #[arg(long)]
    plugin: PathBuf,
    /// Seconds to wait for a running `host run` to apply it.
    #[arg(long, default_value_t = 30)]
    wait: u64,
}

#[derive(Args, Clone)]
struct RollbackArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// A table to roll back (repeatable).
    #[arg(long = "table", required_unless_present = "all")]
    tables: Vec<String>,
    /// Roll back every table of the plan.
    #[arg(long, conflicts_with = "tables")]
    all: bool,
    /// Also roll back the tables that depend on these (otherwise it refuses while they hold rows).
    #[arg(long)]
    cascade: bool,
    /// Do it without asking (required when stdin is not a terminal).
    #[arg(long)]
    yes: bool,
}

/// A failure with the exit code of its family.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl Exit {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Exit {
            code,
            message: message.into(),
        }
    }
}

pub const EXIT_PLAN: u8 = 2;
pub const EXIT_CHECK: u8 = 3;
pub const EXIT_CONNECT: u8 = 4;
pub const EXIT_TABLE_FAILED: u8 = 5;
pub const EXIT_VALIDATE: u8 = 6;

impl PlanArgs {
    fn load(&self) -> Result<Plan, Exit> {
        let overrides = Overrides {
            source: self.source.clone(),
            target: self.target.clone(),
        };
        Plan::load(&self.plan, &overrides).map_err(|e| Exit::new(EXIT_PLAN, e.to_string()))
    }
}

/// A batch is thousands of short-lived strings: glibc's allocator spent about a third of the
/// runner's CPU on them (bench/RESULTS.md, profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOST_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Check(args) => cmd_check(args).await,
        Command::Run(args) => cmd_run(args).await,
        Command::Status(args) => status::run(args).await,
        Command::Validate(args) => cmd_validate(args).await,
        Command::Report(args) => report::run(args).await,
        Command::Rollback(args) => cmd_rollback(args).await,
        Command::Retry(args) => cmd_retry(args).await,
        Command::Swap(args) => cmd_swap(args).await,
        Command::Generate(args) => generate::run(args).await,
        Command::Plugin(command) => plugin_cmd::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = err.downcast_ref::<Exit>().map_or(1, |e| e.code);
            eprintln!("error: {}", pg::explain(&err));
            ExitCode::from(code)
        }
    }
}

/// `check::analyze`, against the schema files `host run` would apply when the target schema is
/// still empty: applied inside a transaction that is rolled back, so nothing changes.
/// Returns whether it rehearsed them.
async fn analyze_rehearsed(
    plan: &plan::Plan,
    runtime: &wasm::Runtime,
    source: Option<&tokio_postgres::Client>,
    target: Option<&tokio_postgres::Client>,
) -> anyhow::Result<(check::Analysis, bool)> {
    let mut rehearsed = false;
    if let Some(target) = target {
        if !plan.target_schema_files.is_empty()
            && pg::tables(target, &plan.target_schema).await?.is_empty()
        {
            target.batch_execute("BEGIN").await?;
            rehearsed = run::ensure_target_schema(plan, target).await?;
        }
    }
    let analysis = check::analyze(plan, runtime, source, target).await;
    if let (true, Some(target)) = (rehearsed, target) {
        target.batch_execute("ROLLBACK").await?;
    }
    Ok((analysis?, rehearsed))
}

async fn cmd_check(args: &PlanArgs) -> anyhow::Result<()> {
    let plan = args.load()?;
    let runtime = wasm::Runtime::new()?;
    let mut problems = Vec::new();
    let source = check::connect_or_report(&plan.source_url, pg::Side::Source, &mut problems).await;
    let target = check::connect_or_report(&plan.target_url, pg::Side::Target, &mut problems).await;
    let set_aside = match &target {
        Some(target) => deferred::warn_if_set_aside(target, &plan.path).await?,
        None => None,
    };
    let (analysis, rehearsed) =
        analyze_rehearsed(&plan, &runtime, source.as_ref(), target.as_ref()).await?;
    if let (Some(target), true) = (&target, analysis.problems.is_empty()) {
        let loading = deferred::loading(&analysis, target, &[]).await?;
        problems.extend(deferred::bulk_refusals(&plan, &analysis, target, &loading).await?);
    }
    if rehearsed && !args.json {
        println!(
            "The target schema is empty: checked against the schema files `host run` will apply."
        );
    }
    problems.extend(analysis.problems.iter().cloned());
    if args.json {
        let order = analysis
            .order
            .as_ref()
            .map(|o| o.iter().map(|s| &s.table).collect::<Vec<_>>());
        let json = serde_json::json!({ "ok": problems.is_empty(), "order": order, "problems": problems, "set_aside": set_aside });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        check::print_report(&plan, &analysis, &problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        let code = if source.is_none() || target.is_none() {
            EXIT_CONNECT
        } else {
            EXIT_CHECK
        };
        Err(Exit::new(
            code,
            format!(
                "{} problem(s); fix them and run `host check` again",
                problems.len()
            ),
        )
        .into())
    }
}

async fn cmd_run(args: &RunArgs) -> anyhow::Result<()> {
    if args.dry_run {
        return cmd_dry_run(args).await;
    }
    let plan = args.plan.load()?;
    let mut target = connect(&plan.target_url, pg::Side::Target).await?;
    deferred::warn_if_set_aside(&target, &plan.path).await?;
    // One command at a time writes a target (see lock.rs); refused at once otherwise.
    let run_lock = lock::acquire_or_refuse(&target, "run").await?;
    state::ensure_schema(&target).await?;
    let mut source = connect(&plan.source_url, pg::Side::Source).await?;
    if run::ensure_target_schema(&plan, &target).await? {
        tracing::info!("the target schema was empty: created it from the plan's schema_files");
    }

    let runtime = wasm::Runtime::new()?;
    let analysis = check::analyze(&plan, &runtime, Some(&source), Some(&target)).await?;
    let loading = deferred::loading(&analysis, &target, &args.tables).await?;
    let mut problems = analysis.problems.clone();
    if problems.is_empty() {
        problems.extend(deferred::bulk_refusals(&plan, &analysis, &target, &loading).await?);
    }
    if !problems.is_empty() {
        let list = problems
            .iter()
            .map(|p| format!("- {p}"))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(Exit::new(
            EXIT_CHECK,
            format!("the plan does not check out, nothing was migrated:\n{list}"),
        )
        .into());
    }
    let order = analysis.order.clone().unwrap_or_default();
    require_plan_tables(&plan, &args.tables)?;

    let run_id = state::start_run(&target, &plan.path, None).await?;
    tracing::info!(run_id, tables = order.len(), "run started");
    // Bulk-load mode for the tables this run writes (see deferred.rs).
    let (set_aside, put_back) = deferred::defer(&mut target, &plan.target_schema, &loading).await?;
    if put_back.restored > 0 || !put_back.failed.is_empty() {
        tracing::info!(
            put_back = put_back.restored,
            "keys and indexes an earlier run set aside, which this run does not set aside, put back"
        );
    }
    if set_aside > 0 {
        tracing::info!(
            set_aside,
            "foreign keys and plain indexes set aside for the load: each batch checks its own keys, and all are put back (validated) at the end"
        );
    }
    let started = std::time::Instant::now();
    let tables = run_tables(
        &plan,
        &analysis,
        &args.tables,
        &mut source,
        &mut target,
        &run_lock,
        run_id,
    )
    .await;
    // Whatever the tables came to, what was set aside goes back now while the target answers.
    let clock = std::time::Instant::now();
    let restored = transient::with_reconnect(
        &mut target,
        &plan.target_url,
        pg::Side::Target,
        plan.fault_timeout,
        Some(&run_lock),
        async |t| deferred::restore(t, &plan.target_schema).await,
    )
    .await;
    let mut unrestored = put_back.failed;
    let restore_note = match &restored {
        Ok(r) if r.failed.is_empty() => {
            if r.restored > 0 {
                tracing::info!(
                    put_back = r.restored,
                    seconds = format!("{:.1}", clock.elapsed().as_secs_f64()),
                    "indexes rebuilt and foreign keys validated"
                );
            }
            format!(
                "the {} foreign key(s) and index(es) set aside were put back",
                r.restored
            )
        }
        Ok(r) => {
            tracing::warn!(
                put_back = r.restored,
                not_put_back = r.failed.len(),
                "{} of the foreign keys and indexes set aside could not be put back: {}",
                r.failed.len(),
                r.failed.join("; ")
            );
            unrestored.extend(r.failed.iter().cloned());
            format!(
                "{} foreign key(s) and index(es) set aside could not be put back (`host validate` lists the rows that point nowhere; the next `host run` tries again): {}",
                r.failed.len(),
                r.failed.join("; ")
            )
        }
        Err(e) => {
            let why = pg::explain(e);
            tracing::warn!("the foreign keys and indexes set aside could not be put back: {why}");
            format!("the foreign keys and indexes set aside could not be put back ({why}); they stay recorded in migration.deferred_constraints and the next `host run` (or `host rollback`) puts them back")
        }
    };
    let (reports, blocked) = match tables {
        Ok(r) => r,
        Err(e) => return Err(with_note(e, &restore_note)),
    };
    if let Err(e) = restored {
        return Err(with_note(e, &restore_note));
    }
    let failed: Vec<&run::TableReport> = reports.iter().filter(|r| r.phase != "done").collect();
    let outcome = if failed.is_empty() && blocked.is_empty() && unrestored.is_empty() {
        "done"
    } else {
        "failed"
    };
    transient::with_reconnect(
        &mut target,
        &plan.target_url,
        pg::Side::Target,
        plan.fault_timeout,
        Some(&run_lock),
        async |t| {
            t.execute("UPDATE migration.runs SET finished_at = clock_timestamp(), outcome = $2 WHERE run_id = $1", &[&run_id, &outcome])
                .await
                .map_err(anyhow::Error::from)
        },
    )
    .await?;
    status::print_summary(&reports, &blocked, started.elapsed(), args.plan.json);
    if !args.plan.json {
        status::print_reject_reasons(&target, &reports).await;
    }
    run_lock.release(&target).await?;
    if outcome == "done" {
        Ok(())
    } else {
        let mut lines: Vec<String> = failed
            .iter()
            .map(|r| {
                format!(
                    "{}: {}",
                    r.table,
                    r.error.as_deref().unwrap_or("did not finish")
                )
            })
            .collect();
        lines.extend(unrestored.iter().map(|u| {
            format!("not put back: {u} (`host validate` lists the rows that point nowhere; the next `host run` tries again)")
        }));
        lines.extend(
            blocked
                .iter()
                .map(|(t, dep)| format!("{t}: not started, it waits for {dep}, which is not done (run {dep} first: `host run` without --table, or with --table {dep})")),
        );
        Err(Exit::new(EXIT_TABLE_FAILED, format!("the run did not finish:\n  {}\nfix the cause and run again: committed batches stay and the run resumes after them", lines.join("\n  "))).into())
    }
}

/// `err` with `note` (what became of the keys set aside) added, its exit code kept.
fn with_note(err: anyhow::Error, note: &str) -> anyhow::Error {
    match err.downcast_ref::<Exit>() {
        Some(exit) => Exit::new(exit.code, format!("{}\n  {note}", exit.message)).into(),
        None => anyhow::anyhow!("{}\n  {note}", pg::explain(&err)),
    }
}

/// Runs the selected tables in dependency order, up to `parallel_tables` at a time, each over
/// its own pair of connections; among the tables ready to start, those heading the longest
/// chain of rows still to come go first. Returns the reports and the tables that could not
/// start (with the dependency that was not done).
async fn run_tables(
    plan: &plan::Plan,
    analysis: &check::Analysis,
    only: &[String],
    source: &mut tokio_postgres::Client,
    target: &mut tokio_postgres::Client,
    run_lock: &lock::RunLock,
    run_id: i64,
) -> anyhow::Result<(Vec<run::TableReport>, Vec<(String, String)>)> {
    use futures_util::stream::{FuturesUnordered, StreamExt};
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
    let swaps = run::UnstartedSwaps::watch(plan, analysis, &names, run_id);
    let mut idle = Vec::with_capacity(workers);
    for _ in 0..workers {
        idle.push((
            connect(&plan.source_url, pg::Side::Source).await?,
            connect(&plan.target_url, pg::Side::Target).await?,
        ));
    }
    let shared_plan = std::sync::Arc::new(plan.clone());
    let mut running = FuturesUnordered::new();
    let mut running_names: Vec<String> = Vec::new();
    let mut reports = Vec::new();
    let mut blocked: Vec<(String, String)> = Vec::new();
    loop {
        let mut i = 0;
        while i < waiting.len() && !idle.is_empty() {
            let step = waiting[i];
            let pending =
                |d: &String| running_names.contains(d) || waiting.iter().any(|w| &w.table == d);
            if step.after.iter().any(pending) {
                i += 1;
                continue;
            }
            waiting.remove(i);
            if let Some(dep) = unfinished(plan, target, run_lock, &step.after).await? {
                blocked.push((step.table.clone(), dep));
                continue;
            }
            let prepared = swaps.start(&step.table).unwrap_or_else(|| {
                analysis
                    .prepared(&step.table)
                    .expect("ordered tables were prepared")
                    .clone()
            });
            let (mut src, mut tgt) = idle.pop().expect("a connection pair is idle");
            running_names.push(step.table.clone());
            // A task of its own per table: each plugin call blocks its worker thread, so
            // tables side by side transform on as many cores.
            let shared = shared_plan.clone();
            running.push(tokio::spawn(async move {
                let report =
                    run::run_table_riding_faults(&shared, &prepared, &mut src, &mut tgt, run_id)
                        .await;
                (report, src, tgt)
            }));
        }
        let Some(joined) = running.next().await else {
            break;
        };
        let (report, src, tgt) = joined.context("a table's task panicked")?;
        idle.push((src, tgt));
        let report = report?;
        running_names.retain(|t| t != &report.table);
        if let Some(error) = &report.error {
            tracing::error!(table = %report.table, "{error}");
        }
        reports.push(report);
    }
    // Tables whose dependency failed in this run never became ready.
    for step in waiting {
        let dep = unfinished(plan, target, run_lock, &step.after)
            .await?
            .unwrap_or_default();
        blocked.push((step.table.clone(), dep));
    }
    Ok((reports, blocked))
}

/// Per table: its source rows plus the largest such sum along any chain of tables that must
/// wait for it (the source's row estimates; exact counts are not needed to order the work).
async fn critical_path(
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

/// One connection; a failure exits with the connect code (4) and says why.
async fn connect(url: &str, side: pg::Side) -> Result<tokio_postgres::Client, Exit> {
    pg::connect(url, side)
        .await
        .map_err(|e| Exit::new(EXIT_CONNECT, format!("{e:#}")))
}

/// Connects both sides and loads every plugin; any check problem is fatal.
async fn open(
    plan: &plan::Plan,
) -> anyhow::Result<(
    tokio_postgres::Client,
    tokio_postgres::Client,
    check::Analysis,
)> {
    let o = open_locked(plan, None).await?;
    Ok((o.source, o.target, o.analysis))
}

/// Both sides connected, every plugin loaded, and what `open_locked` found or took.
struct Opened {
    source: tokio_postgres::Client,
    target: tokio_postgres::Client,
    analysis: check::Analysis,
    run_lock: Option<lock::RunLock>,
    /// Keys and indexes set aside when it connected (already warned about on stderr).
    set_aside: Option<deferred::Warning>,
}

/// `open`, first taking the run lock for `command` when given (refused at once while another
/// command holds it, before any plugin loads).
async fn open_locked(plan: &plan::Plan, command: Option<&str>) -> anyhow::Result<Opened> {
    let target = connect(&plan.target_url, pg::Side::Target).await?;
    let set_aside = deferred::warn_if_set_aside(&target, &plan.path).await?;
    let run_lock = match command {
        Some(command) => Some(lock::acquire_or_refuse(&target, command).await?),
        None => None,
    };
    let source = connect(&plan.source_url, pg::Side::Source).await?;
    let runtime = wasm::Runtime::new()?;
    let (analysis, _) = analyze_rehearsed(plan, &runtime, Some(&source), Some(&target)).await?;
    if !analysis.problems.is_empty() {
        let list = analysis
            .problems
            .iter()
            .map(|p| format!("- {p}"))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(Exit::new(
            EXIT_CHECK,
            format!("the plan does not check out (run `host check`):\n{list}"),
        )
        .into());
    }
    Ok(Opened {
        source,
        target,
        analysis,
        run_lock,
        set_aside,
    })
}

async fn cmd_validate(args: &PlanArgs) -> anyhow::Result<()> {
    let plan = args.load()?;
    let Opened {
        source,
        target,
        analysis,
        set_aside,
        ..
    } = open_locked(&plan, None).await?;
    let has_state: bool = target
        .query_one(
            "SELECT to_regclass('migration.table_state') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !has_state {
        return Err(Exit::new(
            EXIT_VALIDATE,
            "the target has no migration state: run `host run` first",
        )
        .into());
    }
    let report = validate::validate(&plan, &analysis, &source, &target).await?;
    if args.json {
        let mut json = serde_json::to_value(&report)?;
        json["set_aside"] = serde_json::to_value(&set_aside)?;
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        validate::print_report(&report);
    }
    if report.ok {
        Ok(())
    } else {
        let failed = report.checks.iter().filter(|c| !c.ok).count();
        Err(Exit::new(EXIT_VALIDATE, format!("{failed} check(s) failed")).into())
    }
}

async fn cmd_dry_run(args: &RunArgs) -> anyhow::Result<()> {
    let plan = args.plan.load()?;
    // A fresh target is only rehearsed (in a rolled-back transaction): nothing is written.
    let (mut source, target, analysis) = open(&plan).await?;
    let tables = dryrun::dry_run(&plan, &analysis, &mut source, &target).await?;
    if args.plan.json {
        println!("{}", serde_json::to_string_pretty(&tables)?);
    } else {
        dryrun::print(&tables);
    }
    let stopping = dryrun::would_stop(&analysis, &tables);
    if stopping.is_empty() {
        Ok(())
    } else {
        Err(Exit::new(
            EXIT_TABLE_FAILED,
            format!(
                "a real run would stop {} table(s):\n  {}",
                stopping.len(),
                stopping.join("\n  ")
            ),
        )
        .into())
    }
}

async fn cmd_swap(args: &SwapArgs) -> anyhow::Result<()> {
    let plan = args.plan.load()?;
    let Some(table) = plan.table(&args.table).cloned() else {
        return Err(Exit::new(
            EXIT_PLAN,
            format!("--table {}: not a table of the plan", args.table),
        )
        .into());
    };
    // Check the candidate exactly as `host check` would, in the plan's place.
    let mut trial = plan.clone();
    trial.tables.retain(|t| t.name == table.name);
    trial.tables[0].plugin = args.plugin.clone();
    let runtime = wasm::Runtime::new()?;
    let mut problems = Vec::new();
    let source = check::connect_or_report(&plan.source_url, pg::Side::Source, &mut problems).await;
    let target = check::connect_or_report(&plan.target_url, pg::Side::Target, &mut problems).await;
    let (Some(source), Some(target)) = (source, target) else {
        return Err(Exit::new(
            EXIT_CONNECT,
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .into());
    };
    // A swap hands a component to a running `host run`: it goes ahead while a run holds the
    // target. Otherwise it holds the lock itself while it checks and places the file (not
    // while it waits), so it is refused while a retry, rollback or another swap holds it.
    let swap_lock = match lock::RunLock::acquire(&target, "swap").await? {
        Ok(held_here) => Some(held_here),
        Err(held) if held.0.command.as_deref() == Some("run") => None,
        Err(held) => return Err(held.into_exit("swap").into()),
    };
    let analysis = check::analyze(&trial, &runtime, Some(&source), Some(&target)).await?;
    if !analysis.problems.is_empty() {
        let list = analysis
            .problems
            .iter()
            .map(|p| format!("- {p}"))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(Exit::new(
            EXIT_CHECK,
            format!(
                "refused: {} does not fit {}; the current component stays:\n{list}",
                args.plugin.display(),
                table.name
            ),
        )
        .into());
    }
    let sha = analysis.tables[0].plugin.sha256.clone();
    // Into place atomically: a runner never sees half a file.
    let staging = table.plugin.with_extension("wasm.swap-tmp");
    std::fs::copy(&args.plugin, &staging).with_context(|| {
        format!(
            "copying {} next to {}",
            args.plugin.display(),
            table.plugin.display()
        )
    })?;
    std::fs::rename(&staging, &table.plugin)
        .with_context(|| format!("replacing {}", table.plugin.display()))?;
    if let Some(swap_lock) = swap_lock {
        swap_lock.release(&target).await?;
    }
    println!(
        "{} is now {} (component {}); waiting up to {} s for a running `host run` to pick it up",
        table.plugin.display(),
        args.plugin.display(),
        &sha[..12],
        args.wait
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(args.wait);
    let has_swaps: bool = target
        .query_one("SELECT to_regclass('migration.swaps') IS NOT NULL", &[])
        .await?
        .get(0);
    while has_swaps && std::time::Instant::now() < deadline {
        let row = target
            .query_opt(
                "SELECT applied, message FROM migration.swaps WHERE table_name = $1 AND new_sha256 = $2 AND at > clock_timestamp() - interval '1 hour' ORDER BY at DESC LIMIT 1",
                &[&table.name, &sha],
            )
            .await?;
        if let Some(row) = row {
            let (applied, message): (bool, String) = (row.get(0), row.get(1));
            if applied {
                println!(
                    "applied: the running migration of {} now uses component {}",
                    table.name,
                    &sha[..12]
                );
                return Ok(());
            }
            return Err(Exit::new(EXIT_CHECK, format!("the runner refused it: {message}")).into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    println!("no running `host run` picked it up (is {} done, or no run going?); the next `host run` or `host retry` uses it", table.name);
    Ok(())
}

async fn cmd_retry(args: &RetryArgs) -> anyhow::Result<()> {
    let plan = args.plan.load()?;
    let Opened {
        source,
        mut target,
        analysis,
        run_lock: _run_lock,
        ..
    } = open_locked(&plan, Some("retry")).await?;
    state::ensure_schema(&target).await?;
    require_plan_tables(&plan, &args.tables)?;
    let run_id = state::start_run(&target, &plan.path, Some("retry")).await?;
    let reports =
        retry::retry(&plan, &analysis, &source, &mut target, &args.tables, run_id).await?;
    target
        .execute(
            "UPDATE migration.runs SET finished_at = clock_timestamp() WHERE run_id = $1",
            &[&run_id],
        )
        .await?;
    if args.plan.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else if reports.is_empty() {
        println!("nothing to retry: no quarantined rows");
    } else {
        println!(
            "{:<22} {:>11} {:>9} {:>9} {:>17} {:>10}",
            "table", "quarantined", "written", "skipped", "still quarantined", "gone"
        );
        for r in &reports {
            println!(
                "{:<22} {:>11} {:>9} {:>9} {:>17} {:>10}",
                r.table,
                r.quarantined_before,
                r.written,
                r.skipped,
                r.still_quarantined,
                r.gone_from_source
            );
        }
    }
    Ok(())
}

async fn cmd_rollback(args: &RollbackArgs) -> anyhow::Result<()> {
    let plan = args.plan.load()?;
    let Opened {
        mut target,
        analysis,
        run_lock: _run_lock,
        ..
    } = open_locked(&plan, Some("rollback")).await?;
    state::ensure_schema(&target).await?;
    let requested: Vec<String> = if args.all {
        plan.tables.iter().map(|t| t.name.clone()).collect()
    } else {
        args.tables.clone()
    };
    require_plan_tables(&plan, &requested)?;
    let rb = rollback::plan_rollback(&analysis, &requested);
    let added_with_rows = rollback::with_rows(&target, &rb.added).await?;
    if !added_with_rows.is_empty() && !args.cascade {
        return Err(Exit::new(
            EXIT_PLAN,
            format!(
                "refusing: these tables depend on {} (or share its target tables) and still hold rows: {}\n  hint: add --cascade to roll them back too",
                requested.join(", "),
                added_with_rows.join(", ")
            ),
        )
        .into());
    }
    let summary = format!(
        "rolling back {} (target tables emptied: {})",
        rb.tables.join(", "),
        rb.target_tables.join(", ")
    );
    if !args.yes {
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return Err(Exit::new(
                EXIT_PLAN,
                format!("{summary}\n  this deletes data: pass --yes to confirm"),
            )
            .into());
        }
        eprintln!("{summary}\nType `yes` to go on:");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            return Err(Exit::new(EXIT_PLAN, "not confirmed: nothing was changed").into());
        }
    }
    rollback::execute(&plan, &mut target, &rb).await?;
    // Keys and indexes an interrupted run set aside go back now (the emptied tables can't
    // block that; another table's orphans can, and are named).
    for line in deferred::restore(&mut target, &plan.target_schema)
        .await?
        .failed
    {
        eprintln!("warning: not put back: {line}\n  hint: `host validate` lists the rows that point nowhere");
    }
    if args.plan.json {
        println!("{}", serde_json::to_string_pretty(&rb)?);
    } else {
        println!("{summary}: done. `host run` migrates them again.");
    }
    Ok(())
}

/// `--table` names must be tables of the plan.
fn require_plan_tables(plan: &plan::Plan, tables: &[String]) -> Result<(), Exit> {
    match tables.iter().find(|t| plan.table(t).is_none()) {
        Some(t) => Err(Exit::new(
            EXIT_PLAN,
            format!("--table {t}: not a table of the plan"),
        )),
        None => Ok(()),
    }
}

/// The first of `tables` that is not done yet, if any (riding out a transient fault of the
/// run's target connection).
async fn unfinished(
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
                    Some(state::TablePhase::Done)
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
