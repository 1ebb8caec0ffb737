//! The table scheduler: which table runs when, on which connections.

use anyhow::Context;

use crate::session::connect;
use crate::{check, lock, order, pg, plan, run, state, transient};

/// Runs the selected tables in dependency order, up to `parallel_tables` at a time, each over
/// its own pair of connections; among the tables ready to start, those heading the longest
/// chain of rows still to come go first. Returns the reports and the tables that could not
/// start (with the dependency that was not done).
pub async fn run_tables(
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
