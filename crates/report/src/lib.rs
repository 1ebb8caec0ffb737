//! `host report`: the whole migration in one self-contained HTML file, from the target's state
//! tables (and, when the plugins and the source can be had, a fresh `host validate`).
//!
//! The file needs nothing else to open: no script, no external font or stylesheet, inline CSS
//! and inline SVG charts drawn here. Every text that comes from a database, a plugin or the
//! plan goes through [`esc`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use tokio_postgres::Client;

use engine::conninfo::{mask, mask_text};
use engine::pg;
use engine::plan::Plan;
use engine::progress::format_duration;
use engine::state::TablePhase;
use engine::status::{self, TableStatus};
use engine::validate::{self, CheckResult, Report};
use engine::{state, Error};

/// The colour of the timeline bars (the e2e test counts its pixels in a screenshot: keep it
/// unique on the page).
pub const BAR_COLOUR: &str = "#d9480f";
/// The colour of the cumulative rows line (counted by the e2e test too).
pub const LINE_COLOUR: &str = "#1864ab";
const AREA_COLOUR: &str = "#dbe8f5";
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
        generated_at: utc_now(),
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
        Validation::Ran(r) => ("failed", r.checks.iter().filter(|c| !c.ok).count()),
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
    started: String,
    finished: Option<String>,
    outcome: Option<String>,
    start: f64,
    finish: Option<f64>,
}

/// One committed batch, as the timeline needs it.
struct BatchPoint {
    run_id: i64,
    table: String,
    rows_in: i64,
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
    at: String,
}

/// What the report shows, read from the target.
struct Data {
    runs: Vec<RunRow>,
    tables: Vec<TableStatus>,
    timelines: Vec<Timeline>,
    swaps: Vec<Swap>,
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

const TS: &str = "'YYYY-MM-DD HH24:MI:SS'";

async fn gather(plan: &Plan, target: &Client) -> anyhow::Result<Data> {
    let tables = status::tables(plan, target).await?;
    // The session's time zone is UTC (pg::connect), so these read as UTC.
    let runs = target
        .query(
            &format!(
                "SELECT run_id, plan_path, host_version, to_char(started_at, {TS}), to_char(finished_at, {TS}), outcome,
                        extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8
                 FROM migration.runs ORDER BY run_id"
            ),
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
            start: r.get(6),
            finish: r.get(7),
        })
        .collect::<Vec<_>>();
    // `kind` through jsonb: a state schema from before the column still reads.
    let batches = target
        .query(
            "SELECT run_id, table_name, rows_in::int8, extract(epoch FROM committed_at)::float8,
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
            at: r.get(3),
            kind: r.get(4),
        })
        .collect::<Vec<_>>();
    let table_started: BTreeMap<String, f64> = target
        .query(
            "SELECT table_name, extract(epoch FROM started_at)::float8 FROM migration.table_state WHERE started_at IS NOT NULL",
            &[],
        )
        .await
        .context("reading migration.table_state")?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
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
                &format!(
                    "SELECT table_name, old_sha256, new_sha256, applied, message, run_id, to_char(at, {TS}) FROM migration.swaps ORDER BY at"
                ),
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
    Ok(Data {
        runs,
        tables,
        timelines,
        swaps,
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
    let mut previous = run.start;
    let mut rows = 0;
    for b in &mine {
        rows += b.rows_in;
        let at = (b.at - run.start).max(0.0);
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
                    .unwrap_or(run.start);
                let start = previous.max(own).max(run.start) - run.start;
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
        .finish
        .map_or(last, |f| (f - run.start).max(last))
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

// ---------------------------------------------------------------------------------------------
// Rendering

struct Page<'a> {
    plan: &'a Plan,
    /// The plan file's absolute path when it can be had.
    plan_path: String,
    plan_text: &'a str,
    generated_at: String,
    data: &'a Data,
    validation: &'a Validation,
}

/// Text fit for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// 1234567 -> "1,234,567".
fn num(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// 1234567 -> "1.2M", for axis labels.
fn short_num(n: f64) -> String {
    let a = n.abs();
    let (v, unit) = if a >= 1e9 {
        (n / 1e9, "G")
    } else if a >= 1e6 {
        (n / 1e6, "M")
    } else if a >= 1e3 {
        (n / 1e3, "k")
    } else {
        (n, "")
    };
    let s = if v.fract().abs() < 1e-9 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    };
    format!("{}{unit}", s.trim_end_matches(".0"))
}

fn rate(rows: i64, secs: f64) -> String {
    if secs > 0.0 {
        num((rows as f64 / secs).round() as i64)
    } else {
        "-".into()
    }
}

fn seconds(secs: f64) -> String {
    if secs < 10.0 {
        format!("{secs:.2} s")
    } else if secs < 120.0 {
        format!("{secs:.1} s")
    } else {
        format!("{secs:.0} s ({})", format_duration(secs))
    }
}

/// "0.59 s", "42.0 s", "4m00s".
fn compact_seconds(secs: f64) -> String {
    if secs < 10.0 {
        format!("{secs:.2} s")
    } else if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        format_duration(secs)
    }
}

/// A tick label on a time axis.
fn tick_time(secs: f64) -> String {
    if secs == 0.0 {
        "0".into()
    } else if secs < 60.0 {
        let text = format!("{secs:.2}");
        format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
    } else if secs < 3600.0 {
        let s = secs.round() as u64;
        if s.is_multiple_of(60) {
            format!("{}m", s / 60)
        } else {
            format!("{}m{:02}s", s / 60, s % 60)
        }
    } else {
        let m = (secs / 60.0).round() as u64;
        if m.is_multiple_of(60) {
            format!("{}h", m / 60)
        } else {
            format!("{}h{:02}m", m / 60, m % 60)
        }
    }
}

/// A step that cuts `max` into at most about 8 round pieces.
fn time_step(max: f64) -> f64 {
    const STEPS: &[f64] = &[
        0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0,
        1800.0, 3600.0, 7200.0, 10800.0, 21600.0, 43200.0, 86400.0,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| max / s <= 8.0)
        .unwrap_or(max / 8.0)
}

fn count_step(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| max / s <= 5.0)
        .unwrap_or(10.0 * mag)
        .max(1.0)
}

const CHART_W: f64 = 1100.0;
const LABEL_W: f64 = 190.0;
const RIGHT_W: f64 = 200.0;
const ROW_H: f64 = 20.0;

fn plot_w() -> f64 {
    CHART_W - LABEL_W - RIGHT_W
}

/// One bar per table on the run's clock, in the order the tables ran.
fn gantt_svg(t: &Timeline, failed: &[&str]) -> String {
    let top = 8.0;
    let axis = 26.0;
    let h = top + t.spans.len() as f64 * ROW_H + axis;
    let x = |secs: f64| LABEL_W + secs / t.duration * plot_w();
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" aria-label="time line of run {}" viewBox="0 0 {CHART_W} {h}" width="{CHART_W}" height="{h}">"#,
        t.run_id
    );
    for i in (0..t.spans.len()).step_by(2) {
        let y = top + i as f64 * ROW_H;
        {
            let _ = write!(
                s,
                r##"<rect x="0" y="{y}" width="{CHART_W}" height="{ROW_H}" fill="#f4f5f7"/>"##
            );
        }
    }
    grid_x(
        &mut s,
        t.duration,
        top,
        top + t.spans.len() as f64 * ROW_H,
        true,
    );
    for (i, span) in t.spans.iter().enumerate() {
        let y = top + i as f64 * ROW_H;
        let mid = y + ROW_H / 2.0 + 4.0;
        let name: String = if span.table.chars().count() > 26 {
            format!("{}…", span.table.chars().take(25).collect::<String>())
        } else {
            span.table.clone()
        };
        let is_failed = failed.contains(&span.table.as_str());
        let _ = write!(
            s,
            r#"<text x="{}" y="{mid}" text-anchor="end" class="{}">{}</text>"#,
            LABEL_W - 8.0,
            if is_failed { "lbl failed" } else { "lbl" },
            esc(&name)
        );
        let x0 = x(span.start);
        let w = (x(span.end) - x0).max(2.0);
        let secs = span.end - span.start;
        let _ = write!(
            s,
            r#"<rect x="{x0:.1}" y="{:.1}" width="{w:.1}" height="13" rx="2" fill="{BAR_COLOUR}"><title>{}: {} rows in {} ({} rows/s), {} batches</title></rect>"#,
            y + 3.5,
            esc(&span.table),
            num(span.rows),
            seconds(secs),
            rate(span.rows, secs),
            num(span.batches)
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="{mid}" class="val">{} rows · {}/s</text>"#,
            LABEL_W + plot_w() + 10.0,
            short_num(span.rows as f64),
            short_num(if secs > 0.0 {
                span.rows as f64 / secs
            } else {
                0.0
            })
        );
    }
    s.push_str("</svg>");
    s
}

/// Vertical grid lines and time labels under them.
fn grid_x(s: &mut String, duration: f64, y0: f64, y1: f64, labels: bool) {
    let step = time_step(duration);
    let mut tick = 0.0;
    while tick <= duration + 1e-9 {
        let x = LABEL_W + tick / duration * plot_w();
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{y1}" stroke="#c9ced6" stroke-width="1"/>"##
        );
        if labels {
            let _ = write!(
                s,
                r#"<text x="{x:.1}" y="{}" text-anchor="middle" class="tick">{}</text>"#,
                y1 + 16.0,
                tick_time(tick)
            );
        }
        tick += step;
    }
}

/// Rows read so far in the run, over the same clock as the bars.
fn cumulative_svg(t: &Timeline) -> String {
    let (top, plot_h, axis) = (10.0, 190.0, 40.0);
    let h = top + plot_h + axis;
    let max_rows = t.points.last().map_or(0, |p| p.1).max(1) as f64;
    let step = count_step(max_rows);
    let y_max = (max_rows / step).ceil() * step;
    let x = |secs: f64| LABEL_W + secs / t.duration * plot_w();
    let y = |rows: f64| top + plot_h - rows / y_max * plot_h;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" aria-label="rows read over time, run {}" viewBox="0 0 {CHART_W} {h}" width="{CHART_W}" height="{h}">"#,
        t.run_id
    );
    let mut tick = 0.0;
    while tick <= y_max + 1e-9 {
        let yy = y(tick);
        let _ = write!(
            s,
            r##"<line x1="{LABEL_W}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#c9ced6" stroke-width="1"/><text x="{}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            LABEL_W + plot_w(),
            LABEL_W - 8.0,
            yy + 4.0,
            short_num(tick)
        );
        tick += step;
    }
    grid_x(&mut s, t.duration, top, top + plot_h, true);
    let mut line = String::new();
    for (i, (secs, rows)) in t.points.iter().enumerate() {
        let _ = write!(
            line,
            "{}{:.1},{:.1}",
            if i == 0 { "M" } else { " L" },
            x(*secs),
            y(*rows as f64)
        );
    }
    let last_x = x(t.points.last().map_or(0.0, |p| p.0));
    let _ = write!(
        s,
        r#"<path d="{line} L{last_x:.1},{:.1} Z" fill="{AREA_COLOUR}" stroke="none"/>"#,
        y(0.0)
    );
    let _ = write!(
        s,
        r#"<path d="{line}" fill="none" stroke="{LINE_COLOUR}" stroke-width="2.5" stroke-linejoin="round"/>"#
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="{:.1}" class="val">{} rows read</text>"#,
        last_x.min(LABEL_W + plot_w()) + 10.0,
        y(max_rows) + 4.0,
        num(max_rows as i64)
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle" class="tick">time from the start of run {}</text>"#,
        LABEL_W + plot_w() / 2.0,
        h - 4.0,
        t.run_id
    );
    s.push_str("</svg>");
    s
}

const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1d2330; background: #fff; }
header.top { background: #1d2330; color: #f1f3f6; padding: 18px 32px 14px; }
header.top h1 { margin: 0 0 8px; font-size: 22px; font-weight: 600; }
header.top dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; font-size: 13px; }
header.top dt { color: #9aa4b5; }
header.top dd { margin: 0; font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; word-break: break-all; }
nav { padding: 8px 32px; background: #eef0f4; border-bottom: 1px solid #d8dce3; font-size: 13px; }
nav a { color: #2a3f66; margin-right: 16px; text-decoration: none; }
main { padding: 8px 32px 40px; max-width: 1200px; }
section { margin-top: 26px; }
h2 { font-size: 18px; margin: 0 0 10px; padding-bottom: 4px; border-bottom: 2px solid #e3e6eb; }
h3 { font-size: 15px; margin: 18px 0 6px; }
h4 { font-size: 14px; margin: 14px 0 4px; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 10px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e6e8ec; text-align: left; vertical-align: top; }
th { background: #f4f5f7; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; border-top: 2px solid #c9ced6; }
tr.bad td { background: #fff0f0; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 12px; }
.ok { color: #1b7f3b; font-weight: 600; }
.bad { color: #b42318; font-weight: 600; }
.muted { color: #6b7385; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid #dfe2e8; border-radius: 6px; padding: 8px 14px; min-width: 140px; }
.card .v { font-size: 20px; font-weight: 600; }
.card .k { font-size: 12px; color: #6b7385; }
.note { background: #fff8e6; border-left: 4px solid #e0a800; padding: 8px 12px; margin: 8px 0; }
.error { background: #fff0f0; border-left: 4px solid #b42318; padding: 8px 12px; margin: 8px 0; white-space: pre-wrap; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg.chart text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans", Arial, sans-serif; fill: #1d2330; }
svg.chart text.tick { fill: #5b6375; font-size: 11px; }
svg.chart text.val { fill: #3b4354; font-size: 11px; }
svg.chart text.failed { fill: #b42318; font-weight: 600; }
pre.plan { background: #f6f7f9; border: 1px solid #e1e4ea; padding: 12px; overflow-x: auto; font-size: 12px; line-height: 1.4; }
.reason { max-width: 820px; white-space: pre-wrap; word-break: break-word; }
table.matrix td { text-align: center; }
table.matrix td:first-child { text-align: left; }
details summary { cursor: pointer; color: #2a3f66; margin: 6px 0; }
footer { color: #6b7385; font-size: 12px; padding: 12px 32px 24px; }
"#;

fn render(p: &Page<'_>) -> String {
    let d = p.data;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Migration report: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&p.plan_path)
    );
    header(&mut h, p);
    h.push_str(r##"<nav><a href="#summary">Summary</a><a href="#runs">Runs</a><a href="#timeline">Timeline</a><a href="#throughput">Throughput</a><a href="#validation">Validation</a><a href="#reasons">Reject and skip reasons</a><a href="#lineage">Components</a><a href="#plan">Plan</a></nav>"##);
    h.push_str("\n<main>\n");
    summary(&mut h, p);
    runs(&mut h, d);
    timelines(&mut h, d);
    throughput_section(&mut h, d);
    validation(&mut h, p.validation);
    reasons(&mut h, d);
    lineage(&mut h, d);
    let _ = writeln!(
        h,
        "<section id=\"plan\"><h2>The plan</h2><p class=\"muted\">{} as it is now (passwords masked); the runs above recorded the path they were given.</p><pre class=\"plan\">{}</pre></section>",
        esc(&p.plan_path),
        esc(p.plan_text)
    );
    h.push_str("</main>\n");
    let _ = write!(
        h,
        "<footer>Written by <code>host report</code> {} at {}. Everything above comes from the target's <code>migration</code> schema",
        esc(env!("CARGO_PKG_VERSION")),
        esc(&p.generated_at)
    );
    h.push_str(match p.validation {
        Validation::Ran(_) => " and a fresh validation against both databases.",
        _ => ".",
    });
    h.push_str("</footer>\n</body>\n</html>\n");
    h
}

fn header(h: &mut String, p: &Page<'_>) {
    let _ = writeln!(
        h,
        "<header class=\"top\"><h1>Migration report</h1><dl>\
         <dt>plan</dt><dd>{}</dd><dt>source</dt><dd>{}</dd><dt>target</dt><dd>{}</dd>\
         <dt>host version</dt><dd>{}</dd><dt>generated at</dt><dd>{}</dd></dl></header>",
        esc(&p.plan_path),
        esc(&mask(&p.plan.source_url)),
        esc(&mask(&p.plan.target_url)),
        esc(env!("CARGO_PKG_VERSION")),
        esc(&p.generated_at)
    );
}

fn card(h: &mut String, value: &str, key: &str, class: &str) {
    let _ = write!(
        h,
        "<div class=\"card\"><div class=\"v {class}\">{}</div><div class=\"k\">{}</div></div>",
        esc(value),
        esc(key)
    );
}

fn summary(h: &mut String, p: &Page<'_>) {
    let d = p.data;
    let done = d
        .tables
        .iter()
        .filter(|t| t.phase == TablePhase::Done)
        .count();
    let failed = d
        .tables
        .iter()
        .filter(|t| t.phase == TablePhase::Failed)
        .count();
    let sum = |f: fn(&TableStatus) -> i64| d.tables.iter().map(f).sum::<i64>();
    let read = sum(|t| t.rows_read);
    let wall: f64 = d.timelines.iter().map(|t| t.duration).sum();
    let timed_rows: i64 = d
        .timelines
        .iter()
        .map(|t| t.points.last().map_or(0, |p| p.1))
        .sum();
    h.push_str("<section id=\"summary\"><h2>Summary</h2><div class=\"cards\">");
    card(
        h,
        &format!("{done} / {}", d.tables.len()),
        "tables done",
        if done == d.tables.len() { "ok" } else { "bad" },
    );
    if failed > 0 {
        card(h, &failed.to_string(), "tables failed", "bad");
    }
    card(h, &num(read), "source rows read", "");
    card(h, &num(sum(|t| t.rows_written)), "written", "");
    card(
        h,
        &num(sum(|t| t.rows_skipped)),
        "skipped (with a reason)",
        "",
    );
    card(h, &num(sum(|t| t.rows_rejected)), "quarantined", "");
    card(h, &num(sum(|t| t.target_rows)), "target rows", "");
    card(h, &compact_seconds(wall), "run time (all runs)", "");
    card(h, &rate(timed_rows, wall), "rows/s overall", "");
    match p.validation {
        Validation::Ran(r) => card(
            h,
            if r.ok { "passed" } else { "FAILED" },
            "validation",
            if r.ok { "ok" } else { "bad" },
        ),
        Validation::CouldNot(_) => card(h, "did not run", "validation", "bad"),
        Validation::Skipped => card(h, "left out", "validation", ""),
    }
    h.push_str("</div></section>\n");
}

fn runs(h: &mut String, d: &Data) {
    h.push_str("<section id=\"runs\"><h2>Runs</h2><table><tr><th class=\"n\">run</th><th>started (UTC)</th><th>finished (UTC)</th><th class=\"n\">duration</th><th>outcome</th><th>host version</th><th>plan</th></tr>");
    for r in &d.runs {
        let outcome = match (r.outcome.as_deref(), &r.finished) {
            (Some("done"), _) => "<span class=\"ok\">done</span>".to_string(),
            (Some("retry"), Some(_)) => "retry (host retry)".to_string(),
            (Some("retry"), None) => "retry, unfinished".to_string(),
            (Some(o), _) => format!("<span class=\"bad\">{}</span>", esc(o)),
            (None, _) => {
                "<span class=\"bad\">unfinished</span> <span class=\"muted\">(still running, or stopped before its end)</span>".to_string()
            }
        };
        let duration = r
            .finish
            .map_or("-".to_string(), |f| compact_seconds(f - r.start));
        let _ = write!(
            h,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{outcome}</td><td>{}</td><td><code>{}</code></td></tr>",
            r.id,
            esc(&r.started),
            esc(r.finished.as_deref().unwrap_or("-")),
            duration,
            esc(&r.host_version),
            esc(&r.plan_path)
        );
    }
    h.push_str("</table></section>\n");
}

fn timelines(h: &mut String, d: &Data) {
    h.push_str("<section id=\"timeline\"><h2>Timeline</h2>");
    if d.timelines.is_empty() {
        h.push_str("<p class=\"note\">No batch has been committed yet: nothing to draw.</p>");
    } else {
        h.push_str("<p class=\"muted\">Per run: one bar per table from its start to its last committed batch, in the order the tables ran (hover a bar for its numbers), and below, the rows read so far, on the same clock.</p>");
    }
    let failed: Vec<&str> = d
        .tables
        .iter()
        .filter(|t| t.phase == TablePhase::Failed)
        .map(|t| t.table.as_str())
        .collect();
    for t in &d.timelines {
        let run = d.runs.iter().find(|r| r.id == t.run_id);
        let rows = t.points.last().map_or(0, |p| p.1);
        let _ = write!(
            h,
            "<h3>Run {} — started {} UTC, {} tables, {} rows in {} ({} rows/s)</h3>",
            t.run_id,
            esc(run.map_or("?", |r| r.started.as_str())),
            t.spans.len(),
            num(rows),
            seconds(t.duration),
            rate(rows, t.duration)
        );
        h.push_str(&gantt_svg(t, &failed));
        h.push_str(&cumulative_svg(t));
    }
    h.push_str("</section>\n");
}

fn throughput_section(h: &mut String, d: &Data) {
    let by_table = throughput(&d.timelines);
    h.push_str("<section id=\"throughput\"><h2>Throughput and accounting</h2>");
    h.push_str("<p class=\"muted\">Wall seconds and rows/s from the committed batches of every run (<code>host retry</code> replays not counted); the counts are the table's state now. source = written + skipped + quarantined once a table is done.</p>");
    h.push_str("<table><tr><th>group</th><th>table</th><th>phase</th><th class=\"n\">source rows</th><th class=\"n\">read</th><th class=\"n\">written</th><th class=\"n\">skipped</th><th class=\"n\">quarantined</th><th class=\"n\">target rows</th><th class=\"n\">batches</th><th class=\"n\">wall s</th><th class=\"n\">rows/s</th></tr>");
    let (mut rows, mut secs, mut batches) = (0i64, 0f64, 0i64);
    for t in &d.tables {
        let (r, s, b) = by_table.get(t.table.as_str()).copied().unwrap_or_default();
        rows += r;
        secs += s;
        batches += b;
        let adds_up = t.rows_read == t.rows_written + t.rows_skipped + t.rows_rejected
            && (t.phase != TablePhase::Done || Some(t.rows_read) == t.source_rows);
        let phase = match t.phase {
            TablePhase::Done => "<span class=\"ok\">done</span>".to_string(),
            TablePhase::Failed => "<span class=\"bad\">failed</span>".to_string(),
            other => esc(other.name()),
        };
        let _ = write!(
            h,
            "<tr{}><td>{}</td><td>{}</td><td>{phase}{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            if adds_up { "" } else { " class=\"bad\"" },
            esc(&t.group),
            esc(&t.table),
            if adds_up { "" } else { " <span class=\"bad\">(does not add up)</span>" },
            t.source_rows.map_or("-".into(), num),
            num(t.rows_read),
            num(t.rows_written),
            num(t.rows_skipped),
            num(t.rows_rejected),
            num(t.target_rows),
            num(b),
            if b > 0 { format!("{s:.2}") } else { "-".into() },
            if b > 0 { rate(r, s) } else { "-".into() }
        );
        if let Some(e) = &t.error {
            let _ = write!(
                h,
                "<tr class=\"bad\"><td></td><td colspan=\"11\"><div class=\"reason\">{}</div></td></tr>",
                esc(e)
            );
        }
    }
    let wall: f64 = d.timelines.iter().map(|t| t.duration).sum();
    let total = |f: fn(&TableStatus) -> i64| num(d.tables.iter().map(f).sum::<i64>());
    let _ = write!(
        h,
        "<tr class=\"total\"><td></td><td>all tables</td><td></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{secs:.2}</td><td class=\"n\">{}</td></tr></table>",
        total(|t| t.source_rows.unwrap_or(0)),
        total(|t| t.rows_read),
        total(|t| t.rows_written),
        total(|t| t.rows_skipped),
        total(|t| t.rows_rejected),
        total(|t| t.target_rows),
        num(batches),
        rate(rows, secs)
    );
    let _ = writeln!(
        h,
        "<p>Overall: {} rows read in {} of run time ({} rows/s, between tables included).</p></section>",
        num(rows),
        seconds(wall),
        rate(rows, wall)
    );
}

fn pct(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{:.3}%", r * 100.0))
}

fn validation(h: &mut String, v: &Validation) {
    h.push_str("<section id=\"validation\"><h2>Validation</h2>");
    match v {
        Validation::Skipped => h.push_str(
            "<p class=\"note\">Left out (<code>--no-validate</code>): run <code>host report</code> without it, or <code>host validate</code>.</p>",
        ),
        Validation::CouldNot(why) => {
            let _ = write!(
                h,
                "<p class=\"note\">Validation could not run, so this report has no validation results. Fix the cause and run <code>host report</code> (or <code>host validate</code>) again:</p><div class=\"error\">{}</div>",
                esc(why)
            );
        }
        Validation::Ran(r) => {
            let failed = r.checks.iter().filter(|c| !c.ok).count();
            let _ = write!(
                h,
                "<p>{} — {} checks, {failed} failed. Success rate <b>{}</b> of all source rows, <b>{}</b> of the core tables' rows (written, or skipped with a reason).</p>",
                if r.ok {
                    "<span class=\"ok\">validate passed</span>"
                } else {
                    "<span class=\"bad\">validate FAILED</span>"
                },
                r.checks.len(),
                pct(r.success_rate),
                pct(r.core_success_rate)
            );
            let run_wide: Vec<&CheckResult> =
                r.checks.iter().filter(|c| c.table.is_none()).collect();
            if !run_wide.is_empty() {
                check_table(h, &run_wide, false);
            }
            check_matrix(h, &r.checks);
            let failed: Vec<&CheckResult> = r.checks.iter().filter(|c| !c.ok).collect();
            if !failed.is_empty() {
                h.push_str("<h3>Failed checks</h3>");
                check_table(h, &failed, true);
            }
            let _ = write!(
                h,
                "<details><summary>Every check with its detail ({})</summary>",
                r.checks.len()
            );
            check_table(h, &r.checks.iter().collect::<Vec<_>>(), true);
            h.push_str("</details>");
        }
    }
    h.push_str("</section>\n");
}

fn check_table(h: &mut String, checks: &[&CheckResult], with_table: bool) {
    h.push_str("<table><tr>");
    if with_table {
        h.push_str("<th>table</th>");
    }
    h.push_str("<th>check</th><th>result</th><th>detail</th></tr>");
    for c in checks {
        h.push_str(if c.ok { "<tr>" } else { "<tr class=\"bad\">" });
        if with_table {
            let _ = write!(h, "<td>{}</td>", esc(c.table.as_deref().unwrap_or("(all)")));
        }
        let _ = write!(
            h,
            "<td>{}</td><td>{}</td><td class=\"reason\">{}</td></tr>",
            esc(c.check),
            if c.ok {
                "<span class=\"ok\">ok</span>"
            } else {
                "<span class=\"bad\">FAILED</span>"
            },
            esc(&c.detail)
        );
    }
    h.push_str("</table>");
}

/// Tables down, checks across: one cell per (table, check), its details on hover.
fn check_matrix(h: &mut String, checks: &[CheckResult]) {
    let mut names: Vec<&str> = Vec::new();
    let mut tables: Vec<&str> = Vec::new();
    for c in checks {
        if let Some(t) = c.table.as_deref() {
            if !names.contains(&c.check) {
                names.push(c.check);
            }
            if !tables.contains(&t) {
                tables.push(t);
            }
        }
    }
    if tables.is_empty() {
        return;
    }
    h.push_str("<table class=\"matrix\"><tr><th>table</th>");
    for n in &names {
        let _ = write!(h, "<th>{}</th>", esc(n));
    }
    h.push_str("</tr>");
    for t in tables {
        let _ = write!(h, "<tr><td>{}</td>", esc(t));
        for n in &names {
            let cell: Vec<&CheckResult> = checks
                .iter()
                .filter(|c| c.table.as_deref() == Some(t) && c.check == *n)
                .collect();
            if cell.is_empty() {
                h.push_str("<td class=\"muted\">-</td>");
                continue;
            }
            let ok = cell.iter().all(|c| c.ok);
            let title = cell
                .iter()
                .map(|c| c.detail.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            let count = if cell.len() > 1 {
                format!(" ×{}", cell.len())
            } else {
                String::new()
            };
            let _ = write!(
                h,
                "<td title=\"{}\">{}{count}</td>",
                esc(&title),
                if ok {
                    "<span class=\"ok\">ok</span>"
                } else {
                    "<span class=\"bad\">FAILED</span>"
                }
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

fn reason_table(h: &mut String, what: &str, total: i64, reasons: &Reasons) {
    let _ = write!(
        h,
        "<table><tr><th class=\"n\">rows</th><th>{} reason (numbers as N)</th><th>for example</th></tr>",
        esc(what)
    );
    for (pattern, n, example) in &reasons.patterns {
        let example = if example == pattern {
            String::new()
        } else {
            esc(&shorten(example))
        };
        let _ = write!(
            h,
            "<tr><td class=\"n\">{}</td><td class=\"reason\">{}</td><td class=\"reason muted\">{example}</td></tr>",
            num(*n),
            esc(&shorten(pattern))
        );
    }
    other_reasons(h, total, reasons.patterns.iter().map(|p| p.1).sum(), 3);
    h.push_str("</table>");
    // The exact reasons only add something when the patterns merged some.
    let merged = reasons.exact.len() > reasons.patterns.len()
        || reasons.exact.iter().map(|r| r.1).sum::<i64>()
            < reasons.patterns.iter().map(|p| p.1).sum::<i64>();
    if merged {
        let _ = write!(
            h,
            "<details><summary>The most frequent exact {} reasons</summary><table><tr><th class=\"n\">rows</th><th>reason</th></tr>",
            esc(what)
        );
        for (reason, n) in &reasons.exact {
            let _ = write!(
                h,
                "<tr><td class=\"n\">{}</td><td class=\"reason\">{}</td></tr>",
                num(*n),
                esc(&shorten(reason))
            );
        }
        other_reasons(h, total, reasons.exact.iter().map(|r| r.1).sum(), 2);
        h.push_str("</table></details>");
    }
}

fn other_reasons(h: &mut String, total: i64, shown: i64, columns: usize) {
    if total > shown {
        let _ = write!(
            h,
            "<tr><td class=\"n\">{}</td><td class=\"muted\" colspan=\"{}\">under other, rarer reasons</td></tr>",
            num(total - shown),
            columns - 1
        );
    }
}

/// At most 600 characters of a reason.
fn shorten(reason: &str) -> String {
    let mut short: String = reason.chars().take(600).collect();
    if short.len() < reason.len() {
        short.push('…');
    }
    short
}

fn reasons(h: &mut String, d: &Data) {
    h.push_str("<section id=\"reasons\"><h2>Reject and skip reasons</h2>");
    let rejected: Vec<&TableStatus> = d.tables.iter().filter(|t| t.rows_rejected > 0).collect();
    let skipped: Vec<&TableStatus> = d.tables.iter().filter(|t| t.rows_skipped > 0).collect();
    let none = Reasons::default();
    h.push_str("<h3>Quarantined rows</h3>");
    if rejected.is_empty() {
        h.push_str("<p>No row was quarantined.</p>");
    } else {
        h.push_str("<p class=\"muted\">Each row with its source row in <code>migration.quarantine</code>; <code>host retry</code> replays them through the current component.</p>");
    }
    for t in rejected {
        let _ = write!(
            h,
            "<h4>{} <span class=\"muted\">— {} quarantined</span></h4>",
            esc(&t.table),
            num(t.rows_rejected)
        );
        let list = d.reasons.get(&t.table).map_or(&none, |r| &r.0);
        reason_table(h, "quarantine", t.rows_rejected, list);
    }
    h.push_str("<h3>Skipped rows</h3>");
    if skipped.is_empty() {
        h.push_str("<p>No row was skipped.</p>");
    } else {
        h.push_str("<p class=\"muted\">Rows deliberately left behind, in <code>migration.skipped</code>.</p>");
    }
    for t in skipped {
        let _ = write!(
            h,
            "<h4>{} <span class=\"muted\">— {} skipped</span></h4>",
            esc(&t.table),
            num(t.rows_skipped)
        );
        let list = d.reasons.get(&t.table).map_or(&none, |r| &r.1);
        reason_table(h, "skip", t.rows_skipped, list);
    }
    h.push_str("</section>\n");
}

fn lineage(h: &mut String, d: &Data) {
    h.push_str("<section id=\"lineage\"><h2>Component versions (lineage)</h2>");
    h.push_str("<p class=\"muted\">Which component (by SHA-256 of its <code>.wasm</code>) produced which batches, from <code>migration.batches</code>; hover a hash for all of it.</p>");
    h.push_str("<table><tr><th>table</th><th>component</th><th class=\"n\">first batch</th><th class=\"n\">batches</th><th class=\"n\">rows in</th><th class=\"n\">written</th><th class=\"n\">skipped</th><th class=\"n\">quarantined</th></tr>");
    for t in d.tables.iter().filter(|t| !t.components.is_empty()) {
        let n = t.components.len();
        for (i, c) in t.components.iter().enumerate() {
            let name = if i == 0 {
                format!(
                    "{}{}",
                    esc(&t.table),
                    if n > 1 {
                        format!(" <span class=\"muted\">({n} versions)</span>")
                    } else {
                        String::new()
                    }
                )
            } else {
                String::new()
            };
            let _ = write!(
                h,
                "<tr><td>{name}</td><td><code title=\"{}\">{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&c.sha256),
                esc(&c.sha256.chars().take(12).collect::<String>()),
                num(c.first_batch),
                num(c.batches),
                num(c.rows_in),
                num(c.written),
                num(c.skipped),
                num(c.quarantined)
            );
        }
    }
    h.push_str("</table><h3>Hot swaps</h3>");
    if d.swaps.is_empty() {
        h.push_str("<p>No component was swapped during a run.</p>");
    } else {
        h.push_str("<table><tr><th>at (UTC)</th><th class=\"n\">run</th><th>table</th><th>from</th><th>to</th><th>result</th><th>message</th></tr>");
        for s in &d.swaps {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td><code title=\"{}\">{}</code></td><td><code title=\"{}\">{}</code></td><td>{}</td><td class=\"reason\">{}</td></tr>",
                esc(&s.at),
                s.run_id.map_or("-".into(), |r| r.to_string()),
                esc(&s.table),
                esc(&s.old),
                esc(&s.old.chars().take(12).collect::<String>()),
                esc(&s.new),
                esc(&s.new.chars().take(12).collect::<String>()),
                if s.applied {
                    "<span class=\"ok\">applied</span>"
                } else {
                    "<span class=\"bad\">refused</span>"
                },
                esc(&s.message)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>\n");
}

/// Now, as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

fn utc(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<b a="1">&'x'</b>"#),
            "&lt;b a=&quot;1&quot;&gt;&amp;&#39;x&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn numbers_and_times_read_well() {
        assert_eq!(num(1234567), "1,234,567");
        assert_eq!(num(-1000), "-1,000");
        assert_eq!(num(999), "999");
        assert_eq!(short_num(1_500_000.0), "1.5M");
        assert_eq!(short_num(2000.0), "2k");
        assert_eq!(short_num(950.0), "950");
        assert_eq!(tick_time(90.0), "1m30s");
        assert_eq!(tick_time(1.5), "1.5s");
        assert_eq!(tick_time(2.0), "2s");
        assert_eq!(tick_time(0.05), "0.05s");
        assert_eq!(tick_time(0.1 + 0.2), "0.3s");
        assert_eq!(tick_time(3600.0), "1h");
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_709_210_096), "2024-02-29 12:34:56 UTC");
        assert!(time_step(240.0) >= 30.0);
        assert_eq!(count_step(1000.0), 200.0);
    }

    #[test]
    fn timeline_spans_follow_the_batches() {
        let run = RunRow {
            id: 1,
            plan_path: "p".into(),
            host_version: "v".into(),
            started: "s".into(),
            finished: None,
            outcome: None,
            start: 100.0,
            finish: Some(110.0),
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
        let svg = gantt_svg(&t, &["b"]);
        assert!(svg.contains(BAR_COLOUR) && svg.contains("lbl failed"));
        assert!(cumulative_svg(&t).contains(LINE_COLOUR));
    }
}
