//! One function per command: load the plan, call the engine, print, and return the engine's
//! typed error (main turns its kind into the exit code).

use std::ffi::OsString;

use anyhow::Context;
use engine::session::{analyze_rehearsed, open, open_locked, require_plan_tables, Opened};
use engine::state::RunOutcome;
use engine::store::{PgStore, StateStore};
use engine::{check, deferred, dryrun, lock, pg, rollback, scheduler, state, wasm, Error};

use crate::{summary, PlanArgs, ReportArgs, RetryArgs, RollbackArgs, RunArgs, SwapArgs};

pub async fn check(args: &PlanArgs) -> anyhow::Result<()> {
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
        let json = serde_json::json!({ "ok": problems.is_empty(), "order": order, "forward_refs": analysis.forward_refs, "problems": problems, "set_aside": set_aside });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        crate::print::check_report(&plan, &analysis, &problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        let kind = if source.is_none() || target.is_none() {
            engine::ErrorKind::Connect
        } else {
            engine::ErrorKind::Check
        };
        Err(Error::new(
            kind,
            format!(
                "{} problem(s); fix them and run `host check` again",
                problems.len()
            ),
        )
        .into())
    }
}

pub async fn run(args: &RunArgs) -> anyhow::Result<()> {
    if args.dry_run {
        return dry_run(args).await;
    }
    let plan = args.plan.load()?;
    let ran = scheduler::run(&plan, &args.tables).await?;
    if args.plan.json {
        summary::print_run_json(&ran)?;
    } else {
        summary::print_run(&ran);
    }
    match ran.failure() {
        None => Ok(()),
        Some(failure) => Err(failure.into()),
    }
}

pub async fn worker(args: &PlanArgs) -> anyhow::Result<()> {
    let plan = args.load()?;
    let worked = scheduler::work(&plan).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&worked)?);
    } else {
        summary::print_work(&worked);
    }
    match worked.failure() {
        None => Ok(()),
        Some(failure) => Err(failure.into()),
    }
}

pub async fn validate(args: &PlanArgs) -> anyhow::Result<()> {
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
        return Err(
            Error::validate("the target has no migration state: run `host run` first").into(),
        );
    }
    let report = engine::validate::validate(&plan, &analysis, &source, &target).await?;
    if args.json {
        let mut json = serde_json::to_value(&report)?;
        json["set_aside"] = serde_json::to_value(&set_aside)?;
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        crate::print::validate_report(&report);
    }
    if report.ok {
        Ok(())
    } else {
        let failed = report.failed().count();
        Err(Error::validate(format!("{failed} check(s) failed")).into())
    }
}

pub async fn dry_run(args: &RunArgs) -> anyhow::Result<()> {
    let plan = args.plan.load()?;
    // A fresh target is only rehearsed (in a rolled-back transaction): nothing is written.
    let (mut source, mut target, analysis) = open(&plan).await?;
    let tables = dryrun::dry_run(&plan, &analysis, &mut source, &mut target).await?;
    if args.plan.json {
        println!("{}", serde_json::to_string_pretty(&tables)?);
    } else {
        summary::print_dry_run(&tables);
    }
    let stopping = dryrun::would_stop(&analysis, &tables);
    if stopping.is_empty() {
        Ok(())
    } else {
        Err(Error::table_failed(format!(
            "a real run would stop {} table(s):\n  {}",
            stopping.len(),
            stopping.join("\n  ")
        ))
        .into())
    }
}

pub async fn swap(args: &SwapArgs) -> anyhow::Result<()> {
    let plan = args.plan.load()?;
    let Some(table) = plan.table(&args.table).cloned() else {
        return Err(Error::plan(format!("--table {}: not a table of the plan", args.table)).into());
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
        return Err(Error::connect(
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
        Err(held) => return Err(held.into_error("swap").into()),
    };
    let analysis = engine::session::analyze(&trial, &runtime, Some(&source), Some(&target)).await?;
    if !analysis.problems.is_empty() {
        let list = check::problem_list(&analysis.problems);
        return Err(Error::check(format!(
            "refused: {} does not fit {}; the current component stays:\n{list}",
            args.plugin.display(),
            table.name
        ))
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
            return Err(Error::check(format!("the runner refused it: {message}")).into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    println!("no running `host run` picked it up (is {} done, or no run going?); the next `host run` or `host retry` uses it", table.name);
    Ok(())
}

pub async fn retry(args: &RetryArgs) -> anyhow::Result<()> {
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
    let mut store = PgStore::new(&mut target, &plan.target_schema);
    let run_id = store.start_run(&plan.path, Some(RunOutcome::Retry)).await?;
    let reports =
        engine::retry::retry(&plan, &analysis, &source, &mut target, &args.tables, run_id).await?;
    PgStore::new(&mut target, &plan.target_schema)
        .finish_run(run_id, None)
        .await?;
    if args.plan.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        summary::print_retry(&reports);
    }
    Ok(())
}

pub async fn rollback(args: &RollbackArgs) -> anyhow::Result<()> {
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
        return Err(Error::plan(format!(
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
            return Err(Error::plan(format!(
                "{summary}\n  this deletes data: pass --yes to confirm"
            ))
            .into());
        }
        eprintln!("{summary}\nType `yes` to go on:");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            return Err(Error::plan("not confirmed: nothing was changed").into());
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

pub async fn status(args: &PlanArgs) -> anyhow::Result<()> {
    let plan = args.load()?;
    let target = pg::connect(&plan.target_url, pg::Side::Target)
        .await
        .map_err(|e| Error::connect(format!("{e:#}")))?;
    let set_aside = deferred::warn_if_set_aside(&target, &plan.path).await?;
    let holder = lock::holder(&target).await?;
    let tables = engine::status::tables(&plan, &target).await?;
    let forward_refs = engine::status::forward_refs(&plan, &target).await?;
    let overall = summary::Overall::of(&tables);
    let workers = engine::chunk::live_workers_if_any(&target).await?;
    let split = engine::chunk::split_progress(&target).await?;
    if args.json {
        let json = serde_json::json!({
            "tables": tables,
            "workers": workers,
            "split_tables": split,
            "tables_done": overall.done,
            "tables_total": tables.len(),
            "rows_read": overall.read,
            "rows_known_total": overall.total,
            "run_eta_seconds_at_least": overall.eta,
            "lock_holder": holder,
            "set_aside": set_aside,
            "forward_refs": forward_refs,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        summary::print_status(&tables, &overall, holder.as_ref(), set_aside.as_ref());
        summary::print_workers(&workers, &split);
        summary::print_forward_refs(&forward_refs);
    }
    Ok(())
}

pub async fn report(args: &ReportArgs) -> anyhow::Result<()> {
    let plan = args.plan.load()?;
    report::write(&plan, &args.output, args.no_validate, args.plan.json).await
}

/// A child command failed with this exit code; it has said why on its own stderr.
#[derive(Debug, thiserror::Error)]
#[error("the command exited with code {0}")]
pub struct ChildFailed(pub u8);

/// `host NAME ARGS...`: runs `host-NAME` from beside this binary, else from PATH, with the
/// same standard streams, and passes its exit code on.
pub fn external(name: &str, args: &[OsString]) -> anyhow::Result<()> {
    let program = format!("host-{name}{}", std::env::consts::EXE_SUFFIX);
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&program)))
        .filter(|p| p.is_file());
    let path = beside.unwrap_or_else(|| program.clone().into());
    let status = match std::process::Command::new(&path).args(args).status() {
        Ok(status) => status,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::plan(format!(
                "`host {name}` is not a command of host, and no `{program}` was found beside host or on PATH\n  hint: `host --help` lists the commands{}",
                if name == "generate" {
                    "; the lab example's generator, host-generate, is built with `cargo build --release --workspace` (scripts/lab.sh does it)"
                } else {
                    ""
                }
            ))
            .into())
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("running {}", path.display()))),
    };
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(ChildFailed(u8::try_from(code).unwrap_or(1)).into()),
        None => Err(anyhow::anyhow!(
            "{} was stopped by a signal",
            path.display()
        )),
    }
}
