//! `host validate`: proves, from the data and the state tables, that the migration is whole.
//!
//! Per table: the accounting identity, recorded reasons, id-map completeness, foreign-key
//! orphans, money sums to the cent, and a sample of source rows re-transformed through the
//! current plugin and compared with the target. Then the plan's success criteria (`[validate]`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::Context;
use tokio_postgres::Client;

use crate::check::{AdoptTarget, Analysis, Prepared};
use crate::idmap::IdMaps;
use crate::key::Key;
use crate::pg::{self, error_text, ident, qualified, ForeignKey};
use crate::plan::{MoneyUnit, Plan};
use crate::run::{self, Batch, Fate, KeySpec, SourceRow, TableSpec};
use crate::state::{self, TableCounts};
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
    let mut tally = Tally::default();
    for t in &analysis.tables {
        checks.extend(check_table(plan, source, target, t, &fks, &mut tally).await?);
    }
    checks.push(constraints_check(target).await?);
    let success_rate = tally.success_rate();
    let core_success_rate = tally.core_success_rate();
    checks.extend(rate_checks(plan, &tally));
    Ok(Report {
        ok: checks.iter().all(|c| c.ok),
        checks,
        success_rate,
        core_success_rate,
    })
}

/// Source rows seen and migrated (written or skipped with a reason), over every table and over
/// the tables of the core phase.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Tally {
    total: i64,
    migrated: i64,
    core_total: i64,
    core_migrated: i64,
}

impl Tally {
    fn add(&mut self, core: bool, in_source: i64, c: &TableCounts) {
        self.total += in_source;
        self.migrated += c.rows_written + c.rows_skipped;
        if core {
            self.core_total += in_source;
            self.core_migrated += c.rows_written + c.rows_skipped;
        }
    }

    fn success_rate(&self) -> Option<f64> {
        rate(self.migrated, self.total)
    }

    fn core_success_rate(&self) -> Option<f64> {
        rate(self.core_migrated, self.core_total)
    }
}

fn rate(done: i64, all: i64) -> Option<f64> {
    (all > 0).then(|| done as f64 / all as f64)
}

/// Every check of one plan table, in the order they are reported.
async fn check_table(
    plan: &Plan,
    source: &Client,
    target: &Client,
    t: &Prepared,
    fks: &[ForeignKey],
    tally: &mut Tally,
) -> anyhow::Result<Vec<CheckResult>> {
    let name = &t.plan.name;
    let result = |check: &'static str, (ok, detail): (bool, String)| CheckResult {
        table: Some(name.clone()),
        check,
        ok,
        detail,
    };
    let Some(st) = state::table_state(target, name).await? else {
        return Ok(vec![result(
            "accounting",
            (false, "never ran: run `host run` first".into()),
        )]);
    };
    let c = &st.counts;
    let in_source = count_source(plan, source, t).await?;
    let mut checks = vec![result("accounting", accounting(&st, in_source))];
    let core = plan.validate.core_phase.as_deref() == Some(t.plan.phase.as_str());
    tally.add(core, in_source, c);

    let recorded = Recorded::read(target, name).await?;
    checks.push(result("reasons", recorded.reasons(c)));
    let missing = id_map_dangling(plan, target, t).await?;
    checks.push(result("id_map", id_map(t, &recorded, missing, c)));

    let (orphans, detail) = fk_orphans(target, &plan.target_schema, t, fks).await?;
    checks.push(result("fk_orphans", (orphans == 0, detail)));
    for m in &t.plan.money {
        checks.push(result(
            "money",
            money_check(plan, source, target, t, m).await?,
        ));
    }

    if let Some(a) = t.adopt_target() {
        let extras = adopt_extras(plan, target, t, &a).await?;
        checks.push(result("adopted", adopted(&a, extras, c)));
        checks.push(result(
            "sample",
            (
                true,
                "not re-transformed: an earlier migration wrote this table's rows".into(),
            ),
        ));
    } else {
        checks.push(result(
            "sample",
            sample_check(plan, source, target, t).await?,
        ));
    }
    Ok(checks)
}

/// The rows of the table in the source now.
async fn count_source(plan: &Plan, source: &Client, t: &Prepared) -> anyhow::Result<i64> {
    Ok(source
        .query_one(
            &format!(
                "SELECT count(*) FROM {}",
                qualified(&plan.source_schema, &t.description.source_table)
            ),
            &[],
        )
        .await
        .with_context(|| format!("counting source table {}", t.plan.name))?
        .get(0))
}

/// Done, and every row read accounted for, and every source row read.
fn accounting(st: &state::TableState, in_source: i64) -> (bool, String) {
    let c = &st.counts;
    let done = st.phase == state::TablePhase::Done;
    let adds_up = c.rows_read == c.rows_written + c.rows_skipped + c.rows_rejected;
    (
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
    )
}

/// What the state tables record for one plan table.
#[derive(Debug, Default, Clone, Copy)]
struct Recorded {
    skips: i64,
    blank_skips: i64,
    rejects: i64,
    blank_rejects: i64,
    mapped: i64,
}

impl Recorded {
    async fn read(target: &Client, name: &str) -> anyhow::Result<Recorded> {
        let row = target
            .query_one(
                "SELECT (SELECT count(*) FROM migration.skipped WHERE table_name = $1),
                        (SELECT count(*) FROM migration.skipped WHERE table_name = $1 AND btrim(reason) = ''),
                        (SELECT count(*) FROM migration.quarantine WHERE table_name = $1),
                        (SELECT count(*) FROM migration.quarantine WHERE table_name = $1 AND btrim(reason) = ''),
                        (SELECT count(*) FROM migration.id_map WHERE entity = $1)",
                &[&name],
            )
            .await?;
        Ok(Recorded {
            skips: row.get(0),
            blank_skips: row.get(1),
            rejects: row.get(2),
            blank_rejects: row.get(3),
            mapped: row.get(4),
        })
    }

    /// Every skip and quarantined row recorded, each with a reason.
    fn reasons(&self, c: &TableCounts) -> (bool, String) {
        let blank = self.blank_skips + self.blank_rejects;
        (
            self.skips == c.rows_skipped && self.rejects == c.rows_rejected && blank == 0,
            format!(
                "{} skips and {} quarantined rows recorded, {blank} without a reason",
                self.skips, self.rejects
            ),
        )
    }
}

/// The target tables the plugin writes that have an `id` column (what id-map entries point at).
fn tables_with_id(t: &Prepared) -> Vec<&String> {
    t.target_columns
        .iter()
        .filter(|(_, columns)| columns.iter().any(|c| c.name == "id"))
        .map(|(table, _)| table)
        .collect()
}

/// Id-map entries of the table that name no row the plugin wrote, in whichever of its tables.
async fn id_map_dangling(plan: &Plan, target: &Client, t: &Prepared) -> anyhow::Result<i64> {
    let with_id = tables_with_id(t);
    if with_id.is_empty() {
        return Ok(0);
    }
    let name = &t.plan.name;
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
            &format!("SELECT count(*) FROM migration.id_map m WHERE m.entity = $1 AND {absent}"),
            &[name],
        )
        .await
        .map(|r| r.get::<_, i64>(0))
        .map_err(|e| anyhow::anyhow!("checking the id map of {name}: {}", error_text(&e)))
}

/// One mapping per written row, none pointing nowhere.
fn id_map(t: &Prepared, recorded: &Recorded, missing: i64, c: &TableCounts) -> (bool, String) {
    let tables = tables_with_id(t)
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    (
        recorded.mapped == c.rows_written && missing == 0,
        format!(
            "{} mappings for {} written rows; {missing} point at no row of {tables}",
            recorded.mapped, c.rows_written
        ),
    )
}

/// Rows of an adopted table without a source row, counted afresh: rows deleted or fixed since
/// the run no longer count.
async fn adopt_extras(
    plan: &Plan,
    target: &Client,
    t: &Prepared,
    a: &AdoptTarget,
) -> anyhow::Result<i64> {
    Ok(target
        .query_one(
            &format!(
                "SELECT count(*) FROM ({}) x",
                crate::run::adopt_extras_select(plan, a)
            ),
            &[&t.plan.name, &a.table],
        )
        .await
        .map_err(|e| anyhow::anyhow!("looking for extra rows in {}: {}", a.table, error_text(&e)))?
        .get(0))
}

fn adopted(a: &AdoptTarget, extras: i64, c: &TableCounts) -> (bool, String) {
    let detail = if extras == 0 {
        format!(
            "{} rows of {} adopted, none without a source row",
            c.rows_written, a.table
        )
    } else {
        format!(
            "{extras} row(s) of {} have no source row (listed by `host run` in migration.adopt_extras): delete them or give them their legacy id, then `host run` and `host validate` again",
            a.table
        )
    };
    (extras == 0, detail)
}

/// Keys and indexes a run set aside and did not put back.
async fn constraints_check(target: &Client) -> anyhow::Result<CheckResult> {
    let set_aside: Vec<String> = target
        .query(
            "SELECT kind || ' ' || name || ' on ' || table_name || coalesce(': ' || error, '') FROM migration.deferred_constraints ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(CheckResult {
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
    })
}

/// The run-wide success rates, each when there are rows to rate.
fn rate_checks(plan: &Plan, tally: &Tally) -> Vec<CheckResult> {
    let mut checks = Vec::new();
    if let Some(r) = tally.success_rate() {
        checks.push(rate_check(
            "success_rate",
            r,
            plan.validate.min_success_rate,
            format!(
                "of {} source rows migrated (written or skipped with a reason)",
                tally.total
            ),
            "min_success_rate",
        ));
    }
    if let (Some(r), Some(phase)) = (tally.core_success_rate(), &plan.validate.core_phase) {
        checks.push(rate_check(
            "core_success_rate",
            r,
            plan.validate.min_core_success_rate,
            format!(
                "of {} rows of the `{phase}` tables migrated",
                tally.core_total
            ),
            "min_core_success_rate",
        ));
    }
    checks
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
    let mut detail = if bad.is_empty() {
        format!("0 orphans across {checked} foreign keys")
    } else {
        format!("orphans: {}", bad.join("; "))
    };
    // Forward references to rows that never came were set to NULL and recorded: accounted
    // for, reported, not orphans.
    let nulled: Vec<String> = crate::deferred::dangling_counts(target)
        .await?
        .into_iter()
        .filter(|(table, _, _)| writes.contains(table.as_str()))
        .map(|(table, column, n)| format!("{table}.{column}: {n}"))
        .collect();
    if !nulled.is_empty() {
        detail.push_str(&format!(
            "; references to rows that never came set to NULL (migration.dangling_refs): {}",
            nulled.join(", ")
        ));
    }
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
    let left_behind: Vec<Key> = target
        .query(
            "SELECT legacy_key FROM migration.skipped WHERE table_name = $1 UNION ALL SELECT legacy_key FROM migration.quarantine WHERE table_name = $1",
            &[name],
        )
        .await?
        .iter()
        .map(|r| Key::from_stored(r.get(0)))
        .collect();
    let key = KeySpec::of(t);
    let filter = match left_behind.is_empty() {
        true => String::new(),
        false => format!(
            "WHERE {} NOT IN ({})",
            key.term(),
            left_behind
                .iter()
                .map(|k| key.literal(k))
                .collect::<Result<Vec<_>, _>>()
                .map_err(anyhow::Error::msg)?
                .join(", ")
        ),
    };
    let divisor = match m.unit {
        MoneyUnit::Units => "",
        MoneyUnit::Cents => " / 100.0",
    };
    let source_sum: String = source
        .query_one(
            &format!(
                "SELECT coalesce(sum({col}{divisor}), 0)::numeric(20,2)::text FROM {tbl} {filter}",
                col = ident(&m.source),
                tbl = qualified(&plan.source_schema, &t.description.source_table),
            ),
            &[],
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
    let mut rows = read_sample(plan, source, t, n).await?;
    let ids = Arc::new(IdMaps::load(target, &t.description.resolves).await?);
    let mut instance = t.plugin.instantiate(ids, &t.plan.name)?;
    let outcomes = run::transform_rows(&mut instance, &mut rows)?;
    let spec = TableSpec::of(t);

    let keys: Vec<String> = rows.iter().map(|r| r.key.to_string()).collect();
    let recorded = recorded_fates(target, &t.plan.name, &keys).await?;
    let mut problems = Vec::new();
    let (compared_rows, compared_outcomes) =
        set_refused_aside(&rows, outcomes, &recorded, &mut problems);
    let batch = Batch::new(&spec, &[], &compared_rows, compared_outcomes);
    problems.extend(fate_changes(&compared_rows, &batch.fates, &recorded));
    let compared = compare_written(plan, target, t, &batch, &mut problems).await?;

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

/// `n` source rows picked by the hash of their key (the same rows every time), in key order.
async fn read_sample(
    plan: &Plan,
    source: &Client,
    t: &Prepared,
    n: usize,
) -> anyhow::Result<Vec<SourceRow>> {
    let select_list = t
        .source_columns
        .iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let key = KeySpec::of(t).term();
    let sql = format!(
        "SELECT {select_list} FROM {} ORDER BY md5(({key})::text) LIMIT {n}",
        qualified(&plan.source_schema, &t.description.source_table)
    );
    let mut rows = run::read_rows(source, &sql, t).await?;
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(rows)
}

/// What the run recorded for each of `keys`: written, skipped, quarantined, or refused (by
/// the target).
async fn recorded_fates(
    target: &Client,
    table: &str,
    keys: &[String],
) -> anyhow::Result<HashMap<Key, String>> {
    let recorded = target
        .query(
            "SELECT legacy_key, 'skipped' FROM migration.skipped WHERE table_name = $1 AND legacy_key = ANY($2)
             UNION ALL SELECT legacy_key, CASE WHEN reason LIKE 'target refused the row:%' THEN 'refused' ELSE 'quarantined' END
                       FROM migration.quarantine WHERE table_name = $1 AND legacy_key = ANY($2)
             UNION ALL SELECT legacy_key, 'written' FROM migration.id_map WHERE entity = $1 AND legacy_key = ANY($2)",
            &[&table, &keys],
        )
        .await?;
    Ok(recorded
        .iter()
        .map(|r| (Key::from_stored(r.get(0)), r.get(1)))
        .collect())
}

/// A row the target refused (a duplicate link, say) was written by the plugin but is not in
/// the target: its fate is checked here (a problem unless the plugin still writes it), and it
/// has no target rows to compare. Returns the rows and outcomes left to compare.
fn set_refused_aside(
    rows: &[SourceRow],
    outcomes: Vec<Outcome>,
    recorded: &HashMap<Key, String>,
    problems: &mut Vec<String>,
) -> (Vec<SourceRow>, Vec<Outcome>) {
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
    (compared_rows, compared_outcomes)
}

/// Rows whose fate under the current plugin differs from the one the run recorded.
fn fate_changes(
    rows: &[SourceRow],
    fates: &[Fate],
    recorded: &HashMap<Key, String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (row, fate) in rows.iter().zip(fates) {
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
    problems
}

/// Compares the rows the current plugin makes of the sample with the target's, table by
/// table; returns how many target rows were compared.
async fn compare_written(
    plan: &Plan,
    target: &Client,
    t: &Prepared,
    batch: &Batch,
    problems: &mut Vec<String>,
) -> anyhow::Result<i64> {
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
        load_sample(target, &temp, &cols, &real, table, copy).await?;
        // Rows are matched by id: without one there is nothing to compare against.
        if !columns.iter().any(|c| c.name == "id") {
            continue;
        }
        crate::deferred::null_settled_in(target, &temp, table).await?;
        let differ: i64 = target
            .query_one(
                // Rows compared as text: some types have no equality operator (xml, point).
                &format!("SELECT count(*) FROM (SELECT s::text FROM {temp} s EXCEPT SELECT r::text FROM (SELECT {cols} FROM {real} WHERE id IN (SELECT id FROM {temp})) r) d"),
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
    Ok(compared)
}

/// Copies the sample's COPY text for `table` into a fresh temporary table `temp` shaped like
/// `real`.
async fn load_sample(
    target: &Client,
    temp: &str,
    cols: &str,
    real: &str,
    table: &str,
    copy: &[u8],
) -> anyhow::Result<()> {
    target
        .batch_execute(&format!("DROP TABLE IF EXISTS {temp}; CREATE TEMP TABLE {temp} AS SELECT {cols} FROM {real} WITH NO DATA"))
        .await?;
    let sink = target
        .copy_in(&format!("COPY {temp} ({cols}) FROM STDIN"))
        .await?;
    futures_util::pin_mut!(sink);
    futures_util::SinkExt::send(&mut sink, bytes::Bytes::from(copy.to_vec())).await?;
    sink.finish()
        .await
        .map_err(|e| anyhow::anyhow!("loading the sample of {table}: {}", error_text(&e)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(read: i64, written: i64, skipped: i64, rejected: i64) -> TableCounts {
        TableCounts {
            rows_read: read,
            rows_written: written,
            rows_skipped: skipped,
            rows_rejected: rejected,
            ..TableCounts::default()
        }
    }

    fn table_state(phase: state::TablePhase, counts: TableCounts) -> state::TableState {
        state::TableState {
            phase,
            last_key: None,
            counts,
            error: None,
        }
    }

    fn row(key: i64) -> SourceRow {
        SourceRow {
            key: Key::Int(key),
            values: Vec::new(),
            unreadable: None,
        }
    }

    #[test]
    fn accounting_needs_done_a_sum_that_adds_up_and_every_source_row_read() {
        let done = |c| table_state(state::TablePhase::Done, c);
        assert_eq!(
            accounting(&done(counts(10, 7, 2, 1)), 10),
            (
                true,
                "phase done, source 10 = written 7 + skipped 2 + quarantined 1".into()
            )
        );
        // A row read but neither written, skipped nor quarantined.
        assert!(!accounting(&done(counts(10, 7, 2, 0)), 10).0);
        let (ok, detail) = accounting(&done(counts(10, 7, 2, 1)), 12);
        assert!(!ok);
        assert!(
            detail.ends_with("(read 10: the source changed or the run is unfinished)"),
            "{detail}"
        );
        let copying = table_state(state::TablePhase::Copying, counts(10, 7, 2, 1));
        assert!(!accounting(&copying, 10).0);
    }

    #[test]
    fn reasons_must_be_recorded_for_every_skip_and_quarantined_row() {
        let recorded = Recorded {
            skips: 2,
            rejects: 1,
            ..Recorded::default()
        };
        assert_eq!(
            recorded.reasons(&counts(10, 7, 2, 1)),
            (
                true,
                "2 skips and 1 quarantined rows recorded, 0 without a reason".into()
            )
        );
        assert!(!recorded.reasons(&counts(10, 6, 3, 1)).0);
        let blank = Recorded {
            blank_rejects: 1,
            ..recorded
        };
        let (ok, detail) = blank.reasons(&counts(10, 7, 2, 1));
        assert!(!ok);
        assert!(detail.ends_with("1 without a reason"), "{detail}");
    }

    #[test]
    fn success_rates_count_written_and_skipped_rows_and_the_core_phase_apart() {
        let mut tally = Tally::default();
        assert_eq!(tally.success_rate(), None);
        tally.add(true, 10, &counts(10, 8, 1, 1));
        tally.add(false, 10, &counts(10, 5, 0, 5));
        assert_eq!(tally.success_rate(), Some(14.0 / 20.0));
        assert_eq!(tally.core_success_rate(), Some(9.0 / 10.0));
    }

    #[test]
    fn a_rate_must_exceed_its_threshold() {
        let at = rate_check("success_rate", 0.98, Some(0.98), "of 100".into(), "min");
        assert!(!at.ok);
        assert_eq!(at.detail, "98.000% of 100; must exceed 98.0%");
        assert!(rate_check("success_rate", 0.99, Some(0.98), "x".into(), "min").ok);
        let unset = rate_check("success_rate", 0.5, None, "x".into(), "min_success_rate");
        assert!(unset.ok);
        assert!(unset
            .detail
            .ends_with("no threshold set ([validate] min_success_rate)"));
    }

    #[test]
    fn adopted_rows_without_a_source_row_fail() {
        let a = AdoptTarget {
            table: "offices".into(),
            legacy_id: "legacy_id".into(),
            id: "id".into(),
        };
        assert_eq!(
            adopted(&a, 0, &counts(3, 3, 0, 0)),
            (
                true,
                "3 rows of offices adopted, none without a source row".into()
            )
        );
        let (ok, detail) = adopted(&a, 2, &counts(3, 3, 0, 0));
        assert!(!ok);
        assert!(detail.starts_with("2 row(s) of offices have no source row"));
    }

    #[test]
    fn a_sampled_row_whose_fate_changed_is_a_problem() {
        let recorded = HashMap::from([
            (Key::Int(1), "written".to_string()),
            (Key::Int(2), "skipped".to_string()),
        ]);
        let fates = [
            Fate::Written(uuid::Uuid::nil()),
            Fate::Quarantined("bad".into()),
            Fate::Skipped("gone".into()),
        ];
        assert_eq!(
            fate_changes(&[row(1), row(2), row(3)], &fates, &recorded),
            vec![
                "key 2: skipped in the target, quarantined by the current plugin",
                "key 3: missing in the target, skipped by the current plugin",
            ]
        );
    }

    #[test]
    fn rows_the_target_refused_are_not_compared_but_must_still_be_written() {
        let recorded = HashMap::from([
            (Key::Int(1), "refused".to_string()),
            (Key::Int(2), "refused".to_string()),
        ]);
        let mut problems = Vec::new();
        let (rows, outcomes) = set_refused_aside(
            &[row(1), row(2), row(3)],
            vec![
                Outcome::Write(Vec::new()),
                Outcome::Skip("now skipped".into()),
                Outcome::Write(Vec::new()),
            ],
            &recorded,
            &mut problems,
        );
        assert_eq!(
            rows.iter().map(|r| r.key.clone()).collect::<Vec<_>>(),
            [Key::Int(3)]
        );
        assert_eq!(outcomes.len(), 1);
        assert_eq!(
            problems,
            ["key 2: refused by the target, not written by the current plugin"]
        );
    }
}
