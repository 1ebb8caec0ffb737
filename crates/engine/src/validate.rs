//! `host validate`: proves, from the data and the state tables, that the migration is whole.
//!
//! Per table: the accounting identity, recorded reasons, id-map completeness, foreign-key
//! orphans, money sums to the cent, and a sample of source rows re-transformed through the
//! current plugin and compared with the target. Then the lab's success criteria.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Context;
use tokio_postgres::Client;

use crate::check::{Analysis, Prepared};
use crate::idmap::IdMaps;
use crate::pg::{self, error_text, ident, qualified, ForeignKey};
use crate::plan::{MoneyUnit, Plan};
use crate::run::{self, Batch, Fate, TableSpec};
use crate::state;
use crate::wasm::Outcome;

/// One check's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckResult {
    /// The plan table, or None for run-wide checks.
    pub table: Option<String>,
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Everything validate found.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub ok: bool,
    pub checks: Vec<CheckResult>,
    pub success_rate: Option<f64>,
    pub core_success_rate: Option<f64>,
}

pub async fn validate(
    plan: &Plan,
    analysis: &Analysis,
    source: &Client,
    target: &Client,
) -> anyhow::Result<Report> {
    let fks = pg::foreign_keys(target, &plan.target_schema).await?;
    let mut checks = Vec::new();
    let (mut total, mut migrated, mut core_total, mut core_migrated) = (0i64, 0i64, 0i64, 0i64);
    for t in &analysis.tables {
        let name = &t.plan.name;
        let mut push = |check: &'static str, ok: bool, detail: String| {
            checks.push(CheckResult {
                table: Some(name.clone()),
                check,
                ok,
                detail,
            });
        };
        let Some(st) = state::table_state(target, name).await? else {
            push(
                "accounting",
                false,
                "never ran: run `host run` first".into(),
            );
            continue;
        };
        let c = &st.counts;
        let in_source: i64 = source
            .query_one(
                &format!(
                    "SELECT count(*) FROM {}",
                    qualified(&plan.source_schema, &t.description.source_table)
                ),
                &[],
            )
            .await
            .with_context(|| format!("counting source table {name}"))?
            .get(0);
        let done = st.phase == state::TablePhase::Done;
        let adds_up = c.rows_read == c.rows_written + c.rows_skipped + c.rows_rejected;
        push(
            "accounting",
            done && adds_up && c.rows_read == in_source,
            format!(
                "phase {}, source {in_source} = written {} + skipped {} + quarantined {}{}",
                st.phase.name(),
                c.rows_written,
                c.rows_skipped,
                c.rows_rejected,
                if c.rows_read == in_source {
                    String::new()
                } else {
                    format!(
                        " (read {}: the source changed or the run is unfinished)",
                        c.rows_read
                    )
                }
            ),
        );
        total += in_source;
        migrated += c.rows_written + c.rows_skipped;
        if plan.validate.core_phase.as_deref() == Some(t.plan.phase.as_str()) {
            core_total += in_source;
            core_migrated += c.rows_written + c.rows_skipped;
        }

        let row = target
            .query_one(
                "SELECT (SELECT count(*) FROM migration.skipped WHERE table_name = $1),
                        (SELECT count(*) FROM migration.skipped WHERE table_name = $1 AND btrim(reason) = ''),
                        (SELECT count(*) FROM migration.quarantine WHERE table_name = $1),
                        (SELECT count(*) FROM migration.quarantine WHERE table_name = $1 AND btrim(reason) = ''),
                        (SELECT count(*) FROM migration.id_map WHERE entity = $1)",
                &[name],
            )
            .await?;
        let (skips, blank_skips, rejects, blank_rejects, mapped): (i64, i64, i64, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        push(
            "reasons",
            skips == c.rows_skipped
                && rejects == c.rows_rejected
                && blank_skips + blank_rejects == 0,
            format!(
                "{skips} skips and {rejects} quarantined rows recorded, {} without a reason",
                blank_skips + blank_rejects
            ),
        );

        // Each id-map entry must name a row the plugin wrote, in whichever of its tables.
        let with_id: Vec<&String> = t
            .target_columns
            .iter()
            .filter(|(_, columns)| columns.iter().any(|c| c.name == "id"))
            .map(|(table, _)| table)
            .collect();
        let missing = if with_id.is_empty() {
            0
        } else {
            let absent = with_id
                .iter()
                .map(|table| {
                    format!(
                        "NOT EXISTS (SELECT 1 FROM {} x WHERE x.id = m.id)",
                        qualified(&plan.target_schema, table)
                    )
                })
                .collect::<Vec<_>>()
                .join(" AND ");
            target
                .query_one(
                    &format!(
                        "SELECT count(*) FROM migration.id_map m WHERE m.entity = $1 AND {absent}"
                    ),
                    &[name],
                )
                .await
                .map(|r| r.get::<_, i64>(0))
                .map_err(|e| anyhow::anyhow!("checking the id map of {name}: {}", error_text(&e)))?
        };
        let tables = with_id
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        push(
            "id_map",
            mapped == c.rows_written && missing == 0,
            format!(
                "{mapped} mappings for {} written rows; {missing} point at no row of {tables}",
                c.rows_written
            ),
        );

        let (orphans, detail) = fk_orphans(target, &plan.target_schema, t, &fks).await?;
        push("fk_orphans", orphans == 0, detail);

        for m in &t.plan.money {
            let (ok, detail) = money_check(plan, source, target, t, m).await?;
            push("money", ok, detail);
        }

        if let Some(a) = t.adopt_target() {
            // Counted afresh: rows deleted or fixed since the run no longer count.
            let extras: i64 = target
                .query_one(
                    &format!(
                        "SELECT count(*) FROM ({}) x",
                        crate::run::adopt_extras_select(plan, &a)
                    ),
                    &[name, &a.table],
                )
                .await
                .map_err(|e| {
                    anyhow::anyhow!("looking for extra rows in {}: {}", a.table, error_text(&e))
                })?
                .get(0);
            push(
                "adopted",
                extras == 0,
                if extras == 0 {
                    format!(
                        "{} rows of {} adopted, none without a source row",
                        c.rows_written, a.table
                    )
                } else {
                    format!(
                        "{extras} row(s) of {} have no source row (listed by `host run` in migration.adopt_extras): delete them or give them their legacy id, then `host run` and `host validate` again",
                        a.table
                    )
                },
            );
            push(
                "sample",
                true,
                "not re-transformed: an earlier migration wrote this table's rows".into(),
            );
        } else {
            let (ok, detail) = sample_check(plan, source, target, t).await?;
            push("sample", ok, detail);
        }
    }

    let set_aside: Vec<String> = target
        .query(
            "SELECT kind || ' ' || name || ' on ' || table_name || coalesce(': ' || error, '') FROM migration.deferred_constraints ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    checks.push(CheckResult {
        table: None,
        check: "constraints",
        ok: set_aside.is_empty(),
        detail: if set_aside.is_empty() {
            "every foreign key and index of the target is in place".into()
        } else {
            format!(
                "set aside by a run and not put back: {} (`host run` puts them back at its end)",
                set_aside.join("; ")
            )
        },
    });
    let rate = |done: i64, all: i64| (all > 0).then(|| done as f64 / all as f64);
    let success_rate = rate(migrated, total);
    let core_success_rate = rate(core_migrated, core_total);
    if let Some(r) = success_rate {
        checks.push(rate_check(
            "success_rate",
            r,
            plan.validate.min_success_rate,
            format!("of {total} source rows migrated (written or skipped with a reason)"),
            "min_success_rate",
        ));
    }
    if let (Some(r), Some(phase)) = (core_success_rate, &plan.validate.core_phase) {
        checks.push(rate_check(
            "core_success_rate",
            r,
            plan.validate.min_core_success_rate,
            format!("of {core_total} rows of the `{phase}` tables migrated"),
            "min_core_success_rate",
        ));
    }
    Ok(Report {
        ok: checks.iter().all(|c| c.ok),
        checks,
        success_rate,
        core_success_rate,
    })
}

/// A share of rows migrated, held to the plan's threshold when it sets one.
fn rate_check(
    check: &'static str,
    rate: f64,
    min: Option<f64>,
    what: String,
    key: &str,
) -> CheckResult {
    let percent = rate * 100.0;
    let (ok, bound) = match min {
        Some(min) => (rate > min, format!("must exceed {:.1}%", min * 100.0)),
        None => (true, format!("no threshold set ([validate] {key})")),
    };
    CheckResult {
        table: None,
        check,
        ok,
        detail: format!("{percent:.3}% {what}; {bound}"),
    }
}

/// Orphans across every foreign key whose child table this plugin writes.
async fn fk_orphans(
    target: &Client,
    schema: &str,
    t: &Prepared,
    fks: &[ForeignKey],
) -> anyhow::Result<(i64, String)> {
    let writes: BTreeSet<&str> = t
        .target_columns
        .iter()
        .map(|(table, _)| table.as_str())
        .collect();
    let mut total = 0;
    let mut bad = Vec::new();
    let mut checked = 0;
    for fk in fks.iter().filter(|fk| writes.contains(fk.table.as_str())) {
        checked += 1;
        let not_null = fk
            .columns
            .iter()
            .map(|c| format!("c.{} IS NOT NULL", ident(c)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let joins = fk
            .columns
            .iter()
            .zip(&fk.ref_columns)
            .map(|(c, r)| format!("p.{} = c.{}", ident(r), ident(c)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let sql = format!(
            "SELECT count(*) FROM {} c WHERE {not_null} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {joins})",
            qualified(schema, &fk.table),
            qualified(schema, &fk.ref_table)
        );
        let n: i64 = target
            .query_one(&sql, &[])
            .await
            .map_err(|e| anyhow::anyhow!("{}: {}", fk.name, error_text(&e)))?
            .get(0);
        if n > 0 {
            bad.push(format!(
                "{}.{} -> {}: {n}",
                fk.table,
                fk.columns.join(","),
                fk.ref_table
            ));
        }
        total += n;
    }
    let detail = if bad.is_empty() {
        format!("0 orphans across {checked} foreign keys")
    } else {
        format!("orphans: {}", bad.join("; "))
    };
    Ok((total, detail))
}

/// Source sum over the rows that were written vs target sum, to the cent.
async fn money_check(
    plan: &Plan,
    source: &Client,
    target: &Client,
    t: &Prepared,
    m: &crate::plan::MoneyCheck,
) -> anyhow::Result<(bool, String)> {
    let name = &t.plan.name;
    let (table, column) = m.target.split_once('.').unwrap_or_default();
    // The rows left behind are few: sum the source without them.
    let left_behind: Vec<i64> = target
        .query(
            "SELECT legacy_key FROM migration.skipped WHERE table_name = $1 UNION ALL SELECT legacy_key FROM migration.quarantine WHERE table_name = $1",
            &[name],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let divisor = match m.unit {
        MoneyUnit::Units => "",
        MoneyUnit::Cents => " / 100.0",
    };
    let source_sum: String = source
        .query_one(
            &format!(
                "SELECT coalesce(sum({col}{divisor}), 0)::numeric(20,2)::text FROM {tbl} WHERE NOT ({key} = ANY($1::bigint[]))",
                col = ident(&m.source),
                tbl = qualified(&plan.source_schema, &t.description.source_table),
                key = ident(&t.plan.key)
            ),
            &[&left_behind],
        )
        .await
        .map_err(|e| anyhow::anyhow!("summing source {name}.{}: {}", m.source, error_text(&e)))?
        .get(0);
    let target_sum: String = target
        .query_one(
            &format!(
                "SELECT coalesce(sum({}), 0)::numeric(20,2)::text FROM {}",
                ident(column),
                qualified(&plan.target_schema, table)
            ),
            &[],
        )
        .await
        .map_err(|e| anyhow::anyhow!("summing target {}: {}", m.target, error_text(&e)))?
        .get(0);
    Ok((
        source_sum == target_sum,
        format!(
            "{name}.{} (written rows) = {source_sum}, {} = {target_sum}",
            m.source, m.target
        ),
    ))
}

/// Re-transforms a deterministic sample of source rows with the current plugin and compares
/// what it would write with what the target holds (through a temporary table, so PostgreSQL
/// normalizes both sides the same way).
async fn sample_check(
    plan: &Plan,
    source: &Client,
    target: &Client,
    t: &Prepared,
) -> anyhow::Result<(bool, String)> {
    let n = plan.validate.sample_rows;
    if n == 0 {
        return Ok((true, "sampling disabled".into()));
    }
    let select_list = t
        .source_columns
        .iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let key = ident(&t.plan.key);
    let sql = format!(
        "SELECT {select_list} FROM {} ORDER BY md5({key}::text) LIMIT {n}",
        qualified(&plan.source_schema, &t.description.source_table)
    );
    let mut rows = run::read_rows(source, &sql, t).await?;
    rows.sort_by_key(|r| r.key);
    let ids = Arc::new(IdMaps::load(target, &t.description.resolves).await?);
    let mut instance = t.plugin.instantiate(ids, &t.plan.name)?;
    let outcomes = run::transform_rows(&mut instance, &mut rows)?;
    let spec = TableSpec::of(t);

    let mut problems = Vec::new();
    let keys: Vec<i64> = rows.iter().map(|r| r.key).collect();
    let recorded = target
        .query(
            "SELECT legacy_key, 'skipped' FROM migration.skipped WHERE table_name = $1 AND legacy_key = ANY($2)
             UNION ALL SELECT legacy_key, CASE WHEN reason LIKE 'target refused the row:%' THEN 'refused' ELSE 'quarantined' END
                       FROM migration.quarantine WHERE table_name = $1 AND legacy_key = ANY($2)
             UNION ALL SELECT legacy_id, 'written' FROM migration.id_map WHERE entity = $1 AND legacy_id = ANY($2)",
            &[&t.plan.name, &keys],
        )
        .await?;
    let recorded: std::collections::HashMap<i64, String> =
        recorded.iter().map(|r| (r.get(0), r.get(1))).collect();
    // A row the target refused (a duplicate link, say) was written by the plugin but is not
    // in the target: its fate is checked here, and it has no target rows to compare.
    let (mut compared_rows, mut compared_outcomes) = (Vec::new(), Vec::new());
    for (row, outcome) in rows.iter().zip(outcomes) {
        if recorded.get(&row.key).map(String::as_str) != Some("refused") {
            compared_rows.push(row.clone());
            compared_outcomes.push(outcome);
        } else if !matches!(outcome, Outcome::Write(_)) {
            problems.push(format!(
                "key {}: refused by the target, not written by the current plugin",
                row.key
            ));
        }
    }
    let batch = Batch::new(&spec, &[], &compared_rows, compared_outcomes);
    for (row, fate) in compared_rows.iter().zip(&batch.fates) {
        let now = match fate {
            Fate::Written(_) => "written",
            Fate::Skipped(_) => "skipped",
            Fate::Quarantined(_) => "quarantined",
        };
        let then = recorded
            .get(&row.key)
            .map(String::as_str)
            .unwrap_or("missing");
        if now != then {
            problems.push(format!(
                "key {}: {then} in the target, {now} by the current plugin",
                row.key
            ));
        }
    }

    // Compare the rows themselves, table by table.
    let mut compared = 0;
    for (i, (table, columns)) in t.target_columns.iter().enumerate() {
        let copy = &batch.target_copy[i];
        if copy.is_empty() {
            continue;
        }
        let temp = format!("validate_sample_{i}");
        let cols = columns
            .iter()
            .map(|c| ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let real = qualified(&plan.target_schema, table);
        target
            .batch_execute(&format!("DROP TABLE IF EXISTS {temp}; CREATE TEMP TABLE {temp} AS SELECT {cols} FROM {real} WITH NO DATA"))
            .await?;
        let sink = target
            .copy_in(&format!("COPY {temp} ({cols}) FROM STDIN"))
            .await?;
        futures_util::pin_mut!(sink);
        futures_util::SinkExt::send(&mut sink, bytes::Bytes::from(copy.clone())).await?;
        sink.finish()
            .await
            .map_err(|e| anyhow::anyhow!("loading the sample of {table}: {}", error_text(&e)))?;
        let has_id = columns.iter().any(|c| c.name == "id");
        if !has_id {
            continue;
        }
        let differ: i64 = target
            .query_one(
                &format!("SELECT count(*) FROM (SELECT * FROM {temp} EXCEPT SELECT {cols} FROM {real} WHERE id IN (SELECT id FROM {temp})) d"),
                &[],
            )
            .await?
            .get(0);
        let n: i64 = target
            .query_one(&format!("SELECT count(*) FROM {temp}"), &[])
            .await?
            .get(0);
        compared += n;
        if differ > 0 {
            problems.push(format!("{differ} of {n} sampled {table} rows differ from what the current plugin makes of their source rows"));
        }
        target.batch_execute(&format!("DROP TABLE {temp}")).await?;
    }
    let ok = problems.is_empty();
    let detail = if ok {
        format!(
            "{} source rows re-transformed by plugin {}: {compared} target rows identical",
            rows.len(),
            t.plugin.short_hash()
        )
    } else {
        problems.truncate(5);
        problems.join("; ")
    };
    Ok((ok, detail))
}

/// Human report.
pub fn print_report(report: &Report) {
    println!("{:<22} {:<18} {:<6} detail", "table", "check", "result");
    for c in &report.checks {
        println!(
            "{:<22} {:<18} {:<6} {}",
            c.table.as_deref().unwrap_or("(all)"),
            c.check,
            if c.ok { "ok" } else { "FAIL" },
            c.detail
        );
    }
    let failed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{} {}", c.table.as_deref().unwrap_or("(all)"), c.check))
        .collect();
    if failed.is_empty() {
        println!("validate passed: {} checks", report.checks.len());
    } else {
        println!("validate FAILED: {}", failed.join(", "));
    }
}
