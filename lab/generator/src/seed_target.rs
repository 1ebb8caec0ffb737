//! `host generate --seed-target`: a target in the state the lab's old scripts left it.
//!
//! The plan's `adopt` tables are migrated (by their own plugins), then every UUID they were
//! given is replaced by a random one, references included, and the migration state is
//! dropped: what remains is rows with random UUIDs and their legacy ids, as a script that
//! knew nothing of this tool would have written them.

use std::path::Path;

use anyhow::{bail, Context};

use engine::pg::{self, ident, qualified};
use engine::plan::{Overrides, Plan};
use engine::{check, run, state, wasm};

pub async fn prepare(plan_path: &Path, source_url: &str, target_url: &str) -> anyhow::Result<()> {
    let overrides = Overrides {
        source: Some(source_url.to_string()),
        target: Some(target_url.to_string()),
    };
    let mut plan = Plan::load(plan_path, &overrides)?;
    plan.tables.retain(|t| t.adopt.is_some());
    if plan.tables.is_empty() {
        bail!(
            "the plan {} adopts no table (`adopt = true` on a [[table]]): there is no earlier migration to prepare",
            plan_path.display()
        );
    }
    for t in &mut plan.tables {
        t.adopt = None;
        t.depends_on.clear();
    }
    let mut target = pg::connect(target_url, pg::Side::Target).await?;
    let mut source = pg::connect(source_url, pg::Side::Source).await?;
    if !pg::tables(&target, &plan.target_schema).await?.is_empty() {
        bail!(
            "--seed-target {} already has tables in schema {}: give it an empty database",
            engine::conninfo::mask(target_url),
            plan.target_schema
        );
    }
    state::ensure_schema(&target).await?;
    run::ensure_target_schema(&plan, &target).await?;
    let runtime = wasm::Runtime::new()?;
    let analysis = engine::session::analyze(&plan, &runtime, Some(&source), Some(&target)).await?;
    if let Some(p) = analysis.problems.first() {
        bail!("the adopted tables do not check out: {}", p.message);
    }
    let run_id = state::start_run(&target, &plan.path, None).await?;
    for step in analysis.order.clone().unwrap_or_default() {
        let prepared = analysis
            .prepared(&step.table)
            .expect("ordered tables were prepared");
        let report = run::run_table(&plan, prepared, &mut source, &mut target, run_id, None).await?;
        if let Some(error) = report.error {
            bail!("{}: {}", report.table, error.message);
        }
        println!(
            "seed target: {} migrated as the old scripts did ({} rows)",
            report.table, report.counts.rows_written
        );
    }
    randomize_ids(&mut target, &plan, &analysis).await?;
    target
        .batch_execute("DROP SCHEMA migration CASCADE")
        .await
        .context("dropping the migration state of the seed target")?;
    Ok(())
}

/// Gives every row of the adopted tables a random UUID, and every reference to it the same.
async fn randomize_ids(
    target: &mut tokio_postgres::Client,
    plan: &Plan,
    analysis: &check::Analysis,
) -> anyhow::Result<()> {
    let fks = pg::foreign_keys(target, &plan.target_schema).await?;
    let tx = target.transaction().await?;
    // Foreign-key triggers off while ids and references change together (superuser only).
    tx.batch_execute("SET LOCAL session_replication_role = replica")
        .await
        .context("the seed target needs a superuser connection (session_replication_role)")?;
    for (table, columns) in analysis.tables.iter().flat_map(|t| &t.target_columns) {
        if !columns
            .iter()
            .any(|c| c.name == "id" && c.type_name == "uuid")
        {
            continue;
        }
        let q = qualified(&plan.target_schema, table);
        let mut sql = format!(
            "CREATE TEMP TABLE remap ON COMMIT DROP AS SELECT id AS old, gen_random_uuid() AS new FROM {q};
             UPDATE {q} x SET id = r.new FROM remap r WHERE x.id = r.old;"
        );
        for fk in fks
            .iter()
            .filter(|fk| &fk.ref_table == table && fk.ref_columns == ["id"])
        {
            let col = ident(&fk.columns[0]);
            sql += &format!(
                "UPDATE {} x SET {col} = r.new FROM remap r WHERE x.{col} = r.old;",
                qualified(&plan.target_schema, &fk.table)
            );
        }
        sql += "DROP TABLE remap;";
        tx.batch_execute(&sql)
            .await
            .with_context(|| format!("giving {table} random ids"))?;
    }
    tx.commit().await?;
    Ok(())
}
