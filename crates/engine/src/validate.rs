//! `host validate`: proves, from the data and the state tables, that the migration is whole.
//!
//! Per table: the accounting identity, recorded reasons, id-map completeness (target tables
//! with a uuid `id`), target row counts (target tables keyed otherwise: link tables, natural
//! keys), foreign-key orphans (every key of the tables written, into any schema, of any width),
//! money sums to the cent, and a sample of source rows re-transformed through the current
//! plugin and compared with the target by each target table's key. Then the plan's success
//! criteria (`[validate]`).
//!
//! No check says "ok" over nothing: a check that had rows to look at and compared none either
//! does its job another way or says [`Status::NotChecked`] with why (a warning: validate still
//! passes, and says which checks it could not make).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::Context;
use tokio_postgres::Client;

use crate::check::{AdoptTarget, Analysis, Prepared};
use crate::idmap::IdMaps;
use crate::key::Key;
use crate::pg::{error_text, ident, qualified};
use crate::plan::{MoneyUnit, Plan};
use crate::run::{self, Batch, Fate, KeySpec, SourceRow, TableSpec};
use crate::state::{self, TableCounts};
use crate::wasm::Outcome;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Checked, and found what it should.
    Ok,
    /// There was something to check and this check could not look at it (its detail says
    /// why and what would let it). Not a failure, never an "ok".
    NotChecked,
    /// Checked, and found a problem.
    Failed,
}

impl Status {
    fn passed(ok: bool) -> Status {
        if ok {
            Status::Ok
        } else {
            Status::Failed
        }
    }

    /// The word `host validate` prints.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NotChecked => "NOT CHECKED",
            Status::Failed => "FAIL",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckResult {
    /// The plan table, or None for run-wide checks.
    pub table: Option<String>,
    pub check: &'static str,
    /// Checked and passed (false for a failed check and for one that could not check).
    pub ok: bool,
    pub status: Status,
    pub detail: String,
}

impl CheckResult {
    fn new(table: Option<String>, check: &'static str, status: Status, detail: String) -> Self {
        CheckResult {
            table,
            check,
            ok: status == Status::Ok,
            status,
            detail,
        }
    }

    pub fn failed(&self) -> bool {
        self.status == Status::Failed
    }
}

/// Everything validate found.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// No check failed (some may not have been able to check: `not_checked`).
    pub ok: bool,
    pub checks: Vec<CheckResult>,
    /// How many checks could not check.
    pub not_checked: usize,
    pub success_rate: Option<f64>,
    pub core_success_rate: Option<f64>,
}

impl Report {
    pub fn failed(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| c.failed())
    }

    pub fn unchecked(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks
            .iter()
            .filter(|c| c.status == Status::NotChecked)
    }
}

pub async fn validate(
    plan: &Plan,
    analysis: &Analysis,
    source: &Client,
    target: &Client,
) -> anyhow::Result<Report> {
    let fks = target_foreign_keys(target, &plan.target_schema).await?;
    let mut checks = Vec::new();
    let mut tally = Tally::default();
    for t in &analysis.tables {
        checks.extend(check_table(plan, analysis, source, target, t, &fks, &mut tally).await?);
    }
    checks.push(constraints_check(target).await?);
    let success_rate = tally.success_rate();
    let core_success_rate = tally.core_success_rate();
    checks.extend(rate_checks(plan, &tally));
    Ok(Report {
        ok: !checks.iter().any(CheckResult::failed),
        not_checked: checks
            .iter()
            .filter(|c| c.status == Status::NotChecked)
            .count(),
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
    analysis: &Analysis,
    source: &Client,
    target: &Client,
    t: &Prepared,
    fks: &[TargetFk],
    tally: &mut Tally,
) -> anyhow::Result<Vec<CheckResult>> {
    let name = &t.plan.name;
    let result = |check: &'static str, (status, detail): (Status, String)| {
        CheckResult::new(Some(name.clone()), check, status, detail)
    };
    let passed = |check: &'static str, (ok, detail): (bool, String)| {
        result(check, (Status::passed(ok), detail))
    };
    let Some(st) = state::table_state(target, name).await? else {
        return Ok(vec![passed(
            "accounting",
            (false, "never ran: run `host run` first".into()),
        )]);
    };
    let c = &st.counts;
    let in_source = count_source(plan, source, t).await?;
    let mut checks = vec![passed("accounting", accounting(&st, in_source))];
    let core = plan.validate.core_phase.as_deref() == Some(t.plan.phase.as_str());
    tally.add(core, in_source, c);

    let recorded = Recorded::read(target, name).await?;
    checks.push(passed("reasons", recorded.reasons(c)));
    let adopted_table = t.adopt_target();
    // The id map is kept where the run decided to when the table began (a plugin resolves
    // it, it is adopted, or its plan entry says so; state from before the decision says so
    // for every table): where it is, it must be whole. Undecided (it never got to begin its
    // first batch): what the plan wants now, or what the state holds.
    let id_map_kept = st.keep_id_map.unwrap_or_else(|| {
        let resolved = analysis
            .tables
            .iter()
            .any(|o| o.description.resolves.contains(name));
        recorded.mapped > 0 || resolved || adopted_table.is_some() || t.plan.keep_id_map
    });
    if !tables_with_id(t).is_empty() && id_map_kept {
        let missing = id_map_dangling(plan, target, t).await?;
        checks.push(passed("id_map", id_map(t, &recorded, missing, c)));
    }
    // A target table keyed otherwise than by a uuid id (or rows no id map records) is
    // counted instead: its rows against the rows the run wrote into it.
    let has_keyed = tables_with_id(t).len() < t.target_columns.len();
    if adopted_table.is_none() && (has_keyed || (!id_map_kept && c.rows_written > 0)) {
        checks.push(result(
            "target_rows",
            target_rows_check(plan, analysis, target, t).await?,
        ));
    }

    if let Some(orphans) = orphan_check(plan, target, t, fks).await? {
        checks.push(passed("fk_orphans", orphans));
    }
    for m in &t.plan.money {
        checks.push(passed(
            "money",
            money_check(plan, source, target, t, m).await?,
        ));
    }

    // An adopted table's rows were written by an earlier migration: not re-transformed (the
    // current plugin would not make them); the `adopted` check compares them with the source.
    if let Some(a) = adopted_table {
        let extras = adopt_extras(plan, target, t, &a).await?;
        checks.push(passed("adopted", adopted(&a, extras, c)));
    } else {
        checks.push(result(
            "sample",
            sample_check(plan, source, target, t, in_source, id_map_kept).await?,
        ));
    }
    Ok(checks)
}

/// Orphans across the foreign keys of the tables `t` writes; None when they have none (no
/// orphan check to make, and no line saying so).
async fn orphan_check(
    plan: &Plan,
    target: &Client,
    t: &Prepared,
    fks: &[TargetFk],
) -> anyhow::Result<Option<(bool, String)>> {
    let written: BTreeSet<&str> = t
        .target_columns
        .iter()
        .map(|(table, _)| table.as_str())
        .collect();
    let own: Vec<&TargetFk> = fks
        .iter()
        .filter(|fk| written.contains(fk.table.as_str()))
        .collect();
    if own.is_empty() {
        return Ok(None);
    }
    let (orphans, detail) = fk_orphans(target, &plan.target_schema, &own).await?;
    Ok(Some((orphans == 0, detail)))
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

/// The target tables the plugin writes that have a uuid `id` column (what id-map entries
/// point at). The others (link tables, natural keys) are counted and compared by their key.
fn tables_with_id(t: &Prepared) -> Vec<&String> {
    t.target_columns
        .iter()
        .filter(|(_, columns)| {
            columns
                .iter()
                .any(|c| c.name == "id" && c.type_name == "uuid")
        })
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
    Ok(CheckResult::new(
        None,
        "constraints",
        Status::passed(set_aside.is_empty()),
        if set_aside.is_empty() {
            "every foreign key and index of the target is in place".into()
        } else {
            format!(
                "set aside by a run and not put back: {} (`host run` puts them back at its end)",
                set_aside.join("; ")
            )
        },
    ))
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
    CheckResult::new(
        None,
        check,
        Status::passed(ok),
        format!("{percent:.3}% {what}; {bound}"),
    )
}

/// A foreign key of a target table: into any schema, of any number of columns.
#[derive(Debug, Clone, PartialEq)]
struct TargetFk {
    name: String,
    table: String,
    columns: Vec<String>,
    ref_schema: String,
    ref_table: String,
    ref_columns: Vec<String>,
}

/// Every foreign key of the tables of `schema`, wherever it points (`auth.users`, a
/// `ref.countries` owned by someone else), with the keys a run set aside while it loads.
async fn target_foreign_keys(target: &Client, schema: &str) -> anyhow::Result<Vec<TargetFk>> {
    let rows = target
        .query(
            "SELECT con.conname::text, c.relname::text, rn.nspname::text, r.relname::text,
                    ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i),
                    ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i)
             FROM pg_constraint con
             JOIN pg_class c ON c.oid = con.conrelid
             JOIN pg_class r ON r.oid = con.confrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_namespace rn ON rn.oid = r.relnamespace
             WHERE con.contype = 'f' AND n.nspname = $1
             ORDER BY c.relname, con.conname",
            &[&schema],
        )
        .await
        .map_err(|e| anyhow::anyhow!("reading the target's foreign keys: {}", error_text(&e)))?;
    let mut fks: Vec<TargetFk> = rows
        .iter()
        .map(|r| TargetFk {
            name: r.get(0),
            table: r.get(1),
            ref_schema: r.get(2),
            ref_table: r.get(3),
            columns: r.get(4),
            ref_columns: r.get(5),
        })
        .collect();
    fks.extend(
        state::deferred_fks(target)
            .await?
            .into_iter()
            .map(|d| TargetFk {
                name: d.name,
                table: d.table,
                columns: vec![d.column],
                ref_schema: d.ref_schema.unwrap_or_else(|| schema.to_string()),
                ref_table: d.ref_table,
                ref_columns: vec![d.ref_column],
            }),
    );
    Ok(fks)
}

/// The rows of `fk.table` whose key (every column set: PostgreSQL's MATCH SIMPLE) names no
/// row of the table it references.
fn orphans_sql(schema: &str, fk: &TargetFk) -> String {
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
    format!(
        "SELECT count(*) FROM {} c WHERE {not_null} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {joins})",
        qualified(schema, &fk.table),
        qualified(&fk.ref_schema, &fk.ref_table)
    )
}

/// Orphans across `fks` (the foreign keys of the tables one plugin writes).
async fn fk_orphans(
    target: &Client,
    schema: &str,
    fks: &[&TargetFk],
) -> anyhow::Result<(i64, String)> {
    let mut total = 0;
    let mut bad = Vec::new();
    for fk in fks {
        let n: i64 = target
            .query_one(&orphans_sql(schema, fk), &[])
            .await
            .map_err(|e| anyhow::anyhow!("{} of {}: {}", fk.name, fk.table, error_text(&e)))?
            .get(0);
        if n > 0 {
            let parent = if fk.ref_schema == schema {
                fk.ref_table.clone()
            } else {
                format!("{}.{}", fk.ref_schema, fk.ref_table)
            };
            bad.push(format!(
                "{}.{} -> {parent}: {n}",
                fk.table,
                fk.columns.join(",")
            ));
        }
        total += n;
    }
    let mut detail = if bad.is_empty() {
        format!("0 orphans across {} foreign keys", fks.len())
    } else {
        format!("orphans: {}", bad.join("; "))
    };
    // Forward references to rows that never came were set to NULL and recorded: accounted
    // for, reported, not orphans.
    let nulled: Vec<String> = crate::deferred::dangling_counts(target)
        .await?
        .into_iter()
        .filter(|(table, _, _)| fks.iter().any(|fk| &fk.table == table))
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

/// The rows of the target tables this plan table writes, against the target rows the run
/// wrote into them. Tables another plan table writes too are counted together with it (the
/// run records target rows per plan table, not per target table).
async fn target_rows_check(
    plan: &Plan,
    analysis: &Analysis,
    target: &Client,
    t: &Prepared,
) -> anyhow::Result<(Status, String)> {
    let (tables, writers) = writing_group(analysis, t);
    if let Some(a) = writers.iter().find(|w| w.plan.adopt.is_some()) {
        return Ok((
            Status::NotChecked,
            format!(
                "{} is also written by adopted table {} (whose rows an earlier migration wrote, uncounted): the sample check compares rows instead",
                tables.join(", "),
                a.plan.name
            ),
        ));
    }
    let names: Vec<&str> = writers.iter().map(|w| w.plan.name.as_str()).collect();
    let written: i64 = target
        .query_one(
            "SELECT coalesce(sum(target_rows), 0)::bigint FROM migration.table_state WHERE table_name = ANY($1)",
            &[&names],
        )
        .await?
        .get(0);
    let mut held = 0;
    for table in &tables {
        let n: i64 = target
            .query_one(
                &format!(
                    "SELECT count(*) FROM {}",
                    qualified(&plan.target_schema, table)
                ),
                &[],
            )
            .await
            .map_err(|e| anyhow::anyhow!("counting the rows of {table}: {}", error_text(&e)))?
            .get(0);
        held += n;
    }
    Ok(target_rows(&tables, &names, held, written))
}

fn target_rows(tables: &[&str], writers: &[&str], held: i64, written: i64) -> (Status, String) {
    let what = format!(
        "{held} rows in {} for {written} target rows written by {}",
        tables.join(" + "),
        writers.join(" + ")
    );
    if held == written {
        (Status::Ok, what)
    } else if held < written {
        (
            Status::Failed,
            format!(
                "{what}: {} row(s) missing (deleted since the run?); `host rollback` and `host run` the table(s) to write them again",
                written - held
            ),
        )
    } else {
        (
            Status::Failed,
            format!(
                "{what}: {} row(s) this migration did not write",
                held - written
            ),
        )
    }
}

/// The target tables `t` writes, and the plan tables writing any of them, closed over
/// sharing: every writer's tables are in the group, so the rows it holds are theirs alone.
fn writing_group<'a>(analysis: &'a Analysis, t: &'a Prepared) -> (Vec<&'a str>, Vec<&'a Prepared>) {
    let mut tables: BTreeSet<&str> = t.target_columns.iter().map(|(n, _)| n.as_str()).collect();
    loop {
        let writers: Vec<&Prepared> = analysis
            .tables
            .iter()
            .filter(|o| {
                o.target_columns
                    .iter()
                    .any(|(n, _)| tables.contains(n.as_str()))
            })
            .collect();
        let before = tables.len();
        tables.extend(
            writers
                .iter()
                .flat_map(|w| w.target_columns.iter().map(|(n, _)| n.as_str())),
        );
        if tables.len() == before {
            return (tables.into_iter().collect(), writers);
        }
    }
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
/// normalizes both sides the same way), row by row by each target table's key.
async fn sample_check(
    plan: &Plan,
    source: &Client,
    target: &Client,
    t: &Prepared,
    in_source: i64,
    id_map_kept: bool,
) -> anyhow::Result<(Status, String)> {
    let n = plan.validate.sample_rows;
    if n == 0 {
        return Ok(if in_source == 0 {
            (
                Status::Ok,
                "sampling disabled; the source table is empty".into(),
            )
        } else {
            (
                Status::NotChecked,
                "sampling disabled ([validate] sample_rows = 0): no row re-transformed".into(),
            )
        });
    }
    let mut rows = read_sample(plan, source, t, n).await?;
    let ids = Arc::new(IdMaps::connect(&plan.target_url, &t.description.resolves).await?);
    let mut instance = t.plugin.instantiate(ids, &t.plan.name)?;
    let outcomes = run::transform_rows(&mut instance, &mut rows)?;
    let spec = TableSpec::of(t);

    let keys: Vec<Key> = rows.iter().map(|r| r.key.clone()).collect();
    let recorded = recorded_fates(target, &t.plan.name, &keys, id_map_kept).await?;
    let mut problems = Vec::new();
    let (compared_rows, compared_outcomes) =
        set_refused_aside(&rows, outcomes, &recorded, &mut problems);
    let batch = Batch::new(&spec, &[], &compared_rows, compared_outcomes);
    problems.extend(fate_changes(&compared_rows, &batch.fates, &recorded));
    let written = batch
        .fates
        .iter()
        .filter(|f| matches!(f, Fate::Written(_)))
        .count();
    let compared = compare_written(plan, target, t, &batch, &mut problems).await?;
    Ok(sample_verdict(
        rows.len(),
        written,
        &compared,
        problems,
        t.plugin.short_hash(),
    ))
}

/// What the target tables' comparison found: rows compared, and the tables holding sampled
/// rows that could not be compared (no key to match rows by).
#[derive(Debug, Default)]
struct Compared {
    rows: i64,
    without_key: Vec<String>,
}

/// The sample's verdict: problems fail it; written rows of which no target row could be
/// compared make it "not checked", never "ok".
fn sample_verdict(
    sampled: usize,
    written: usize,
    compared: &Compared,
    mut problems: Vec<String>,
    plugin: &str,
) -> (Status, String) {
    if !problems.is_empty() {
        problems.truncate(5);
        return (Status::Failed, problems.join("; "));
    }
    let head = format!(
        "{sampled} source rows re-transformed by plugin {plugin}, fates as recorded ({written} written): {} target rows identical",
        compared.rows
    );
    if !compared.without_key.is_empty() {
        return (
            Status::NotChecked,
            format!(
                "{head}; not compared: {} (no primary key or unique NOT NULL key among the columns written, to match rows by)",
                compared.without_key.join(", ")
            ),
        );
    }
    if written > 0 && compared.rows == 0 {
        return (
            Status::NotChecked,
            format!("{head}: the sampled rows written made no target rows to compare"),
        );
    }
    (Status::Ok, head)
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
/// the target). Where no id map is kept for the table, a row neither skipped nor quarantined
/// counts as written (whether it is, the comparison with the target shows).
async fn recorded_fates(
    target: &Client,
    table: &str,
    keys: &[Key],
    id_map_kept: bool,
) -> anyhow::Result<HashMap<Key, String>> {
    let stored: Vec<String> = keys.iter().map(Key::to_string).collect();
    let recorded = target
        .query(
            "SELECT legacy_key, 'skipped' FROM migration.skipped WHERE table_name = $1 AND legacy_key = ANY($2)
             UNION ALL SELECT legacy_key, CASE WHEN reason LIKE 'target refused the row:%' THEN 'refused' ELSE 'quarantined' END
                       FROM migration.quarantine WHERE table_name = $1 AND legacy_key = ANY($2)
             UNION ALL SELECT legacy_key, 'written' FROM migration.id_map WHERE entity = $1 AND legacy_key = ANY($2) AND $3",
            &[&table, &stored, &id_map_kept],
        )
        .await?;
    let mut fates: HashMap<Key, String> = recorded
        .iter()
        .map(|r| (Key::from_stored(r.get(0)), r.get(1)))
        .collect();
    if !id_map_kept {
        for key in keys {
            fates.entry(key.clone()).or_insert_with(|| "written".into());
        }
    }
    Ok(fates)
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
/// table, matching rows by the table's key.
async fn compare_written(
    plan: &Plan,
    target: &Client,
    t: &Prepared,
    batch: &Batch,
    problems: &mut Vec<String>,
) -> anyhow::Result<Compared> {
    let mut compared = Compared::default();
    for (i, (table, columns)) in t.target_columns.iter().enumerate() {
        let copy = &batch.target_copy[i];
        if copy.is_empty() {
            continue;
        }
        let real = qualified(&plan.target_schema, table);
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let Some(key) = row_key(target, &real, &names).await? else {
            compared.without_key.push(table.clone());
            continue;
        };
        let temp = format!("validate_sample_{i}");
        let cols = names
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let key_in = |alias: &str| {
            key.iter()
                .map(|c| format!("{alias}{}", ident(c)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (key_r, key_s, key) = (key_in("r."), key_in("s."), key_in(""));
        load_sample(target, &temp, &cols, &real, table, copy).await?;
        crate::deferred::null_settled_in(target, &temp, table).await?;
        let row = target
            .query_one(
                // Rows compared as text: some types have no equality operator (xml, point).
                &format!(
                    "SELECT (SELECT count(*) FROM (SELECT s::text FROM {temp} s EXCEPT SELECT r::text FROM (SELECT {cols} FROM {real} WHERE ({key}) IN (SELECT {key} FROM {temp})) r) d),
                            (SELECT count(*) FROM {temp} s WHERE NOT EXISTS (SELECT 1 FROM {real} r WHERE ({key_r}) = ({key_s}))),
                            (SELECT count(*) FROM {temp})"
                ),
                &[],
            )
            .await
            .map_err(|e| anyhow::anyhow!("comparing the sample of {table}: {}", error_text(&e)))?;
        let (differ, missing, n): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        compared.rows += n;
        if differ > 0 {
            let missing = if missing > 0 {
                format!(" ({missing} of them missing from the target)")
            } else {
                String::new()
            };
            problems.push(format!("{differ} of {n} sampled {table} rows differ from what the current plugin makes of their source rows{missing}"));
        }
        target.batch_execute(&format!("DROP TABLE {temp}")).await?;
    }
    Ok(compared)
}

/// The columns rows of `table` are matched by: its primary key, else a unique key of NOT NULL
/// columns (no expression, no predicate), among the `written` columns. None when it has none.
async fn row_key(
    target: &Client,
    table: &str,
    written: &[&str],
) -> anyhow::Result<Option<Vec<String>>> {
    let keys = target
        .query(
            "SELECT ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o)
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o)
             FROM pg_index i
             WHERE i.indrelid = $1::text::regclass AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
               AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) k(n)
                               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
                               WHERE NOT a.attnotnull)
             ORDER BY i.indisprimary DESC, i.indnatts, i.indexrelid",
            &[&table],
        )
        .await
        .map_err(|e| anyhow::anyhow!("reading the keys of {table}: {}", error_text(&e)))?;
    Ok(keys
        .iter()
        .map(|r| r.get::<_, Vec<String>>(0))
        .find(|key| !key.is_empty() && key.iter().all(|c| written.contains(&c.as_str()))))
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
            keep_id_map: None,
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

    #[test]
    fn a_sample_is_never_ok_over_nothing() {
        let compared = |rows, without_key: &[&str]| Compared {
            rows,
            without_key: without_key.iter().map(|t| t.to_string()).collect(),
        };
        let (status, detail) = sample_verdict(10, 8, &compared(8, &[]), Vec::new(), "abc");
        assert_eq!(status, Status::Ok);
        assert_eq!(
            detail,
            "10 source rows re-transformed by plugin abc, fates as recorded (8 written): 8 target rows identical"
        );
        // Every sampled row skipped: their fates were compared, no target row is due.
        assert_eq!(
            sample_verdict(10, 0, &compared(0, &[]), Vec::new(), "abc").0,
            Status::Ok
        );
        // Rows written, none compared.
        let (status, detail) = sample_verdict(10, 8, &compared(0, &[]), Vec::new(), "abc");
        assert_eq!(status, Status::NotChecked);
        assert!(
            detail.ends_with("made no target rows to compare"),
            "{detail}"
        );
        let (status, detail) = sample_verdict(10, 8, &compared(8, &["links"]), Vec::new(), "abc");
        assert_eq!(status, Status::NotChecked);
        assert!(
            detail.contains("not compared: links (no primary key"),
            "{detail}"
        );
        let (status, detail) =
            sample_verdict(10, 8, &compared(8, &["links"]), vec!["bad".into()], "abc");
        assert_eq!((status, detail.as_str()), (Status::Failed, "bad"));
    }

    #[test]
    fn target_rows_must_be_the_rows_written() {
        assert_eq!(
            target_rows(&["links"], &["links"], 5, 5),
            (
                Status::Ok,
                "5 rows in links for 5 target rows written by links".into()
            )
        );
        let (status, detail) = target_rows(&["a", "b"], &["x", "y"], 4, 5);
        assert_eq!(status, Status::Failed);
        assert!(
            detail.starts_with(
                "4 rows in a + b for 5 target rows written by x + y: 1 row(s) missing"
            ),
            "{detail}"
        );
        let (status, detail) = target_rows(&["a"], &["x"], 6, 5);
        assert_eq!(status, Status::Failed);
        assert!(
            detail.ends_with("1 row(s) this migration did not write"),
            "{detail}"
        );
    }

    #[test]
    fn orphans_are_sought_in_the_referenced_schema_over_every_column() {
        let fk = TargetFk {
            name: "authors_region_fkey".into(),
            table: "authors".into(),
            columns: vec!["country".into(), "region".into()],
            ref_schema: "ref".into(),
            ref_table: "regions".into(),
            ref_columns: vec!["country".into(), "region".into()],
        };
        assert_eq!(
            orphans_sql("public", &fk),
            "SELECT count(*) FROM \"public\".\"authors\" c WHERE c.\"country\" IS NOT NULL AND c.\"region\" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM \"ref\".\"regions\" p WHERE p.\"country\" = c.\"country\" AND p.\"region\" = c.\"region\")"
        );
    }

    #[test]
    fn a_check_not_made_is_neither_ok_nor_a_failure() {
        let c = CheckResult::new(None, "sample", Status::NotChecked, "why".into());
        assert!(!c.ok && !c.failed());
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["status"], "not_checked");
        assert_eq!(json["ok"], false);
    }
}
