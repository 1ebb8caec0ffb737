//! `host report`: the whole migration in one self-contained HTML file, from the target's state
//! tables (and, when the plugins and the source can be had, a fresh `host validate`).
//!
//! The file needs nothing else to open: no script, no external font or stylesheet, inline CSS
//! and inline SVG charts drawn here ([`html`], where maud escapes every value).

mod html;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use jiff::Timestamp;
use tokio_postgres::Client;

use engine::conninfo::{mask, mask_text};
use engine::pg;
use engine::plan::Plan;
use engine::status::{self, TableStatus};
use engine::validate::{self, Report};
use engine::{state, Error};

use html::{render, Page};

/// The colour of the timeline bars (the e2e test counts its pixels in a screenshot: keep it
/// unique on the page).
pub const BAR_COLOUR: &str = "#d9480f";
/// The colour of the cumulative rows line (counted by the e2e test too).
pub const LINE_COLOUR: &str = "#1864ab";
/// Reasons listed per table and kind; the rest are summed up in one line.
const MAX_REASONS: i64 = 12;
/// Points of the cumulative chart; more batches than that are thinned out evenly.
const MAX_POINTS: usize = 4000;

/// Writes the report of `plan`'s migration to `output` (atomically), validating first unless
/// `no_validate`; prints where it went (as JSON with `json`).
pub async fn write(
    plan: &Plan,
    output: &Path,
    no_validate: bool,
    json: bool,
) -> anyhow::Result<()> {
    let target = pg::connect(&plan.target_url, pg::Side::Target)
        .await
        .map_err(|e| Error::connect(format!("{e:#}")))?;
    engine::deferred::warn_if_set_aside(&target, &plan.path).await?;
    if !status::has_state(&target).await? {
        // As `host validate` says it: there is no migration to vouch for.
        return Err(Error::validate(format!(
                "the target {} has no migration state (schema `migration`): nothing to report; run `host run {}` first",
                mask(&plan.target_url),
                plan.path.display()
            ),
        )
        .into());
    }
    let data = gather(plan, &target).await?;
    let validation = if no_validate {
        Validation::Skipped
    } else {
        tracing::info!("validating (--no-validate leaves it out)");
        match run_validation(plan).await {
            Ok(report) => Validation::Ran(report),
            Err(e) => {
                let why = pg::explain(&e);
                tracing::warn!("validation could not run; the report says why: {why}");
                Validation::CouldNot(why)
            }
        }
    };
    let plan_text = std::fs::read_to_string(&plan.path)
        .map(|t| mask_text(&t))
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", plan.path.display()));
    let html = render(&Page {
        plan,
        plan_path: std::fs::canonicalize(&plan.path)
            .unwrap_or_else(|_| plan.path.clone())
            .display()
            .to_string(),
        plan_text: &plan_text,
        generated_at: format!("{} UTC", utc_text(Timestamp::now())),
        data: &data,
        validation: &validation,
    });
    write_atomically(output, &html).map_err(|e| {
        anyhow::anyhow!(
            format!(
                "cannot write the report to {}: {e:#}\n  hint: pass -o with a path in a writable directory",
                output.display()
            ),
        )
    })?;
    let (validation_state, failed_checks) = match &validation {
        Validation::Ran(r) if r.ok => ("passed", 0),
        Validation::Ran(r) => ("failed", r.failed().count()),
        Validation::CouldNot(_) => ("could_not_run", 0),
        Validation::Skipped => ("left_out", 0),
    };
    if json {
        let json = serde_json::json!({
            "output": output.display().to_string(),
            "tables": data.tables.len(),
            "runs": data.runs.len(),
            "validation": validation_state,
            "failed_checks": failed_checks,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    let verdict = match validation_state {
        "passed" => "validation passed".to_string(),
        "failed" => format!("validation FAILED ({failed_checks} check(s))"),
        "could_not_run" => "validation could not run (the report says why)".into(),
        _ => "validation left out".into(),
    };
    println!(
        "wrote {} ({} tables, {} run(s), {verdict}); open it in any browser, it needs no network",
        output.display(),
        data.tables.len(),
        data.runs.len()
    );
    Ok(())
}

/// Validation as `host validate` does it, with every failure to get that far as an error.
async fn run_validation(plan: &Plan) -> anyhow::Result<Report> {
    let (source, target, analysis) = engine::session::open(plan).await?;
    validate::validate(plan, &analysis, &source, &target).await
}

fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut staging = path.as_os_str().to_owned();
    staging.push(".tmp");
    let staging = std::path::PathBuf::from(staging);
    std::fs::write(&staging, text).with_context(|| format!("writing {}", staging.display()))?;
    std::fs::rename(&staging, path).with_context(|| format!("renaming it to {}", path.display()))
}

enum Validation {
    Ran(Report),
    CouldNot(String),
    Skipped,
}

/// One `migration.runs` row.
struct RunRow {
    id: i64,
    plan_path: String,
    host_version: String,
    started: Timestamp,
    finished: Option<Timestamp>,
    outcome: Option<String>,
}

impl RunRow {
    /// Its start, in seconds since the epoch (the timeline's clock).
    fn start(&self) -> f64 {
        seconds_since_epoch(self.started)
    }

    fn finish(&self) -> Option<f64> {
        self.finished.map(seconds_since_epoch)
    }
}

/// One committed batch, as the timeline needs it.
struct BatchPoint {
    run_id: i64,
    table: String,
    rows_in: i64,
    /// When it committed, in seconds since the epoch.
    at: f64,
    kind: String,
}

/// One `migration.swaps` row.
struct Swap {
    table: String,
    old: String,
    new: String,
    applied: bool,
    message: String,
    run_id: Option<i64>,
    at: Timestamp,
}

fn seconds_since_epoch(t: Timestamp) -> f64 {
    t.as_microsecond() as f64 / 1e6
}

/// An instant as `YYYY-MM-DD HH:MM:SS`, in UTC whatever the time zone of this machine or of
/// the database session.
fn utc_text(t: Timestamp) -> String {
    t.to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// What the report shows, read from the target.
struct Data {
    runs: Vec<RunRow>,
    tables: Vec<TableStatus>,
    timelines: Vec<Timeline>,
    swaps: Vec<Swap>,
    /// Forward references (cycles broken at a key, self-references) and how each was settled.
    forward_refs: Vec<status::ForwardRefStatus>,
    /// Per table: (quarantine reasons, skip reasons).
    reasons: BTreeMap<String, (Reasons, Reasons)>,
}

/// Why rows of one table were quarantined (or skipped), most frequent first.
#[derive(Default)]
struct Reasons {
    /// Reasons as recorded.
    exact: Vec<(String, i64)>,
    /// Reasons with their numbers as N (keys, amounts...): (pattern, rows, an example).
    patterns: Vec<(String, i64, String)>,
}

/// One table's stretch of a run.
struct Span {
    table: String,
    /// Seconds from the run's start.
    start: f64,
    end: f64,
    rows: i64,
    batches: i64,
}

/// One run's batches on its own clock.
struct Timeline {
    run_id: i64,
    /// Seconds from the run's start to its end (or its last batch, when unfinished).
    duration: f64,
    spans: Vec<Span>,
    /// (seconds from the start, rows read so far in this run).
    points: Vec<(f64, i64)>,
}

async fn gather(plan: &Plan, target: &Client) -> anyhow::Result<Data> {
    let tables = status::tables(plan, target).await?;
    let runs = target
        .query(
            "SELECT run_id, plan_path, host_version, started_at, finished_at, outcome
             FROM migration.runs ORDER BY run_id",
            &[],
        )
        .await
        .context("reading migration.runs")?
        .iter()
        .map(|r| RunRow {
            id: r.get(0),
            plan_path: r.get(1),
            host_version: r.get(2),
            started: r.get(3),
            finished: r.get(4),
            outcome: r.get(5),
        })
        .collect::<Vec<_>>();
    // `kind` through jsonb: a state schema from before the column still reads.
    let batches = target
        .query(
            "SELECT run_id, table_name, rows_in::int8, committed_at,
                    coalesce(to_jsonb(b) ->> 'kind', 'run')
             FROM migration.batches b ORDER BY committed_at, table_name, batch_no",
            &[],
        )
        .await
        .context("reading migration.batches")?
        .iter()
        .map(|r| BatchPoint {
            run_id: r.get(0),
            table: r.get(1),
            rows_in: r.get(2),
            at: seconds_since_epoch(r.get(3)),
            kind: r.get(4),
        })
        .collect::<Vec<_>>();
    let table_started: BTreeMap<String, f64> = target
        .query(
            "SELECT table_name, started_at FROM migration.table_state WHERE started_at IS NOT NULL",
            &[],
        )
        .await
        .context("reading migration.table_state")?
        .iter()
        .map(|r| (r.get(0), seconds_since_epoch(r.get(1))))
        .collect();
    let timelines = runs
        .iter()
        .filter_map(|run| timeline(run, &batches, &table_started))
        .collect();

    let has_swaps: bool = target
        .query_one("SELECT to_regclass('migration.swaps') IS NOT NULL", &[])
        .await?
        .get(0);
    let mut swaps = Vec::new();
    if has_swaps {
        swaps = target
            .query(
                "SELECT table_name, old_sha256, new_sha256, applied, message, run_id, at FROM migration.swaps ORDER BY at",
                &[],
            )
            .await
            .context("reading migration.swaps")?
            .iter()
            .map(|r| Swap {
                table: r.get(0),
                old: r.get(1),
                new: r.get(2),
                applied: r.get(3),
                message: r.get(4),
                run_id: r.get(5),
                at: r.get(6),
            })
            .collect();
    }

    let mut reasons = BTreeMap::new();
    for t in &tables {
        let mut rejects = Reasons::default();
        if t.rows_rejected > 0 {
            rejects.exact = state::top_reject_reasons(target, &t.table, MAX_REASONS).await?;
            rejects.patterns = reason_patterns(target, "migration.quarantine", &t.table).await?;
        }
        let mut skips = Reasons::default();
        if t.rows_skipped > 0 {
            skips.exact = state::top_skip_reasons(target, &t.table, MAX_REASONS).await?;
            skips.patterns = reason_patterns(target, "migration.skipped", &t.table).await?;
        }
        reasons.insert(t.table.clone(), (rejects, skips));
    }
    let forward_refs = status::forward_refs(plan, target).await?;
    Ok(Data {
        runs,
        tables,
        timelines,
        swaps,
        forward_refs,
        reasons,
    })
}

/// The reasons of `table` in `relation` (a state table with `table_name` and `reason`) grouped
/// with their numbers replaced by N, so "orphan: patient_id=7 ..." and "orphan: patient_id=9
/// ..." count as one.
async fn reason_patterns(
    target: &Client,
    relation: &str,
    table: &str,
) -> anyhow::Result<Vec<(String, i64, String)>> {
    let rows = target
        .query(
            &format!(
                r"SELECT regexp_replace(reason, '(^|[^A-Za-z_0-9])-?[0-9]+(\.[0-9]+)?', '\1N', 'g'), count(*), min(reason)
                  FROM {relation} WHERE table_name = $1 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $2"
            ),
            &[&table, &MAX_REASONS],
        )
        .await
        .with_context(|| format!("reading the reasons in {relation} of {table}"))?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// The timeline of one run from its batches (those of `host run`, not `host retry`'s
/// replays); None when it committed none. A table's stretch starts at the run's start, the
/// previous batch of the run or the table's own start, whichever is latest, and ends at its
/// last batch.
fn timeline(
    run: &RunRow,
    batches: &[BatchPoint],
    table_started: &BTreeMap<String, f64>,
) -> Option<Timeline> {
    let mine: Vec<&BatchPoint> = batches
        .iter()
        .filter(|b| b.run_id == run.id && b.kind == "run")
        .collect();
    if mine.is_empty() {
        return None;
    }
    let mut spans: Vec<Span> = Vec::new();
    let mut points = vec![(0.0, 0)];
    let mut previous = run.start();
    let mut rows = 0;
    for b in &mine {
        rows += b.rows_in;
        let at = (b.at - run.start()).max(0.0);
        points.push((at, rows));
        match spans.iter_mut().find(|s| s.table == b.table) {
            Some(s) => {
                s.end = s.end.max(at);
                s.rows += b.rows_in;
                s.batches += 1;
            }
            None => {
                let own = table_started
                    .get(&b.table)
                    .copied()
                    .filter(|t| *t <= b.at)
                    .unwrap_or(run.start());
                let start = previous.max(own).max(run.start()) - run.start();
                spans.push(Span {
                    table: b.table.clone(),
                    start: start.min(at),
                    end: at,
                    rows: b.rows_in,
                    batches: 1,
                });
            }
        }
        previous = previous.max(b.at);
    }
    let last = points.last().map_or(0.0, |p| p.0);
    let duration = run
        .finish()
        .map_or(last, |f| (f - run.start()).max(last))
        .max(0.001);
    if points.len() > MAX_POINTS {
        let step = points.len().div_ceil(MAX_POINTS);
        let last_point = *points.last().expect("not empty");
        points = points.into_iter().step_by(step).collect();
        points.push(last_point);
    }
    Some(Timeline {
        run_id: run.id,
        duration,
        spans,
        points,
    })
}

/// Per table over every run: (rows read, wall seconds, batches).
fn throughput(timelines: &[Timeline]) -> BTreeMap<&str, (i64, f64, i64)> {
    let mut out: BTreeMap<&str, (i64, f64, i64)> = BTreeMap::new();
    for s in timelines.iter().flat_map(|t| &t.spans) {
        let e = out.entry(s.table.as_str()).or_default();
        e.0 += s.rows;
        e.1 += s.end - s.start;
        e.2 += s.batches;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_read_in_utc() {
        let t = |s: i64| Timestamp::from_second(s).unwrap();
        assert_eq!(utc_text(t(0)), "1970-01-01 00:00:00");
        assert_eq!(utc_text(t(1_709_210_096)), "2024-02-29 12:34:56");
        assert_eq!(utc_text(t(951_825_600)), "2000-02-29 12:00:00");
        assert_eq!(seconds_since_epoch(t(1_709_210_096)), 1_709_210_096.0);
    }

    #[test]
    fn timeline_spans_follow_the_batches() {
        let run = RunRow {
            id: 1,
            plan_path: "p".into(),
            host_version: "v".into(),
            started: Timestamp::from_second(100).unwrap(),
            finished: Some(Timestamp::from_second(110).unwrap()),
            outcome: None,
        };
        let b = |table: &str, at: f64| BatchPoint {
            run_id: 1,
            table: table.into(),
            rows_in: 10,
            at,
            kind: "run".into(),
        };
        let batches = vec![b("a", 101.0), b("a", 102.0), b("b", 105.0), b("b", 106.0)];
        let started = BTreeMap::from([("b".to_string(), 104.0)]);
        let t = timeline(&run, &batches, &started).unwrap();
        assert_eq!(t.duration, 10.0);
        assert_eq!(
            (t.spans[0].start, t.spans[0].end, t.spans[0].rows),
            (0.0, 2.0, 20)
        );
        assert_eq!((t.spans[1].start, t.spans[1].end), (4.0, 6.0));
        assert_eq!(t.points.last(), Some(&(6.0, 40)));
    }
}
