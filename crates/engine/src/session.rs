//! Opening a migration: both sides connected, the plan checked against them, the run lock
//! taken when the command writes.

use crate::error::Error;
use crate::{check, check_types, deferred, lock, pg, plan, run, wasm};

/// One connection; a failure exits with the connect code (4) and says why.
pub async fn connect(url: &str, side: pg::Side) -> Result<tokio_postgres::Client, Error> {
    pg::connect_typed(url, side).await
}

/// Connects both sides and loads every plugin; any check problem is fatal.
pub async fn open(
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
pub struct Opened {
    pub source: tokio_postgres::Client,
    pub target: tokio_postgres::Client,
    pub analysis: check::Analysis,
    pub run_lock: Option<lock::RunLock>,
    /// Keys and indexes set aside when it connected (already warned about on stderr).
    pub set_aside: Option<deferred::Warning>,
}

/// `open`, first taking the run lock for `command` when given (refused at once while another
/// command holds it, before any plugin loads).
pub async fn open_locked(plan: &plan::Plan, command: Option<&str>) -> anyhow::Result<Opened> {
    let target = connect(&plan.target_url, pg::Side::Target).await?;
    let set_aside = deferred::warn_if_set_aside(&target, &plan.path).await?;
    let run_lock = match command {
        Some(command) => Some(lock::acquire_or_refuse(&target, command).await?),
        None => None,
    };
    let source = connect(&plan.source_url, pg::Side::Source).await?;
    let runtime = wasm::Runtime::new()?;
    let (mut analysis, _) = analyze_rehearsed(plan, &runtime, Some(&source), Some(&target)).await?;
    if command == Some("rollback") {
        analysis.problems.retain(check::problem_blocks_rollback);
    }
    if !analysis.problems.is_empty() {
        let list = crate::check::problem_list(&analysis.problems);
        return Err(Error::check(format!(
            "the plan does not check out (run `host check`):\n{list}"
        ))
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

/// [`analyze`], against the schema files `host run` would apply when the target schema is
/// still empty: applied inside a transaction that is rolled back, so nothing changes.
/// Returns whether it rehearsed them.
pub async fn analyze_rehearsed(
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
    let analysis = analyze(plan, runtime, source, target).await;
    if let (true, Some(target)) = (rehearsed, target) {
        target.batch_execute("ROLLBACK").await?;
    }
    Ok((analysis?, rehearsed))
}

/// Everything `host check` knows before a row moves: each plugin's declarations against both
/// schemas (`check::analyze_declared`), then the column types it writes, probed in the
/// databases (`check_types::check`). Databases that could not be reached are `None`.
pub async fn analyze(
    plan: &plan::Plan,
    runtime: &wasm::Runtime,
    source: Option<&tokio_postgres::Client>,
    target: Option<&tokio_postgres::Client>,
) -> anyhow::Result<check::Analysis> {
    let mut analysis = check::analyze_declared(plan, runtime, source, target).await?;
    if let Some(target) = target {
        check_types::check(
            plan,
            source,
            target,
            &analysis.tables,
            &mut analysis.problems,
            &run::PluginSampler,
        )
        .await?;
    }
    Ok(analysis)
}

/// `--table` names must be tables of the plan.
pub fn require_plan_tables(plan: &plan::Plan, tables: &[String]) -> Result<(), Error> {
    match tables.iter().find(|t| plan.table(t).is_none()) {
        Some(t) => Err(Error::plan(format!("--table {t}: not a table of the plan"))),
        None => Ok(()),
    }
}
