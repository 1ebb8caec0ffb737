//! The report's page: HTML and inline SVG through maud, which escapes every value it is given
//! (text from a database, a plugin or the plan cannot become markup). SVG elements are always
//! written with a body (`rect ... {}`): a bare `<rect>` is not closed in HTML's SVG.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use engine::conninfo::mask;
use engine::plan::Plan;
use engine::progress::format_duration;
use engine::state::TablePhase;
use engine::status::{ForwardRefState, TableStatus};
use engine::validate::{CheckResult, Status};

use super::{throughput, Data, Reasons, Timeline, Validation, BAR_COLOUR, LINE_COLOUR};

const AREA_COLOUR: &str = "#dbe8f5";

pub(crate) struct Page<'a> {
    pub plan: &'a Plan,
    /// The plan file's absolute path when it can be had.
    pub plan_path: String,
    pub plan_text: &'a str,
    /// As `YYYY-MM-DD HH:MM:SS UTC`.
    pub generated_at: String,
    pub data: &'a Data,
    pub validation: &'a Validation,
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

/// A coordinate with one decimal.
fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// One bar per table on the run's clock, in the order the tables ran.
fn gantt_svg(t: &Timeline, failed: &[&str]) -> Markup {
    let top = 8.0;
    let axis = 26.0;
    let rows_h = t.spans.len() as f64 * ROW_H;
    let h = top + rows_h + axis;
    let x = |secs: f64| LABEL_W + secs / t.duration * plot_w();
    html! {
        svg class="chart" role="img" aria-label=(format!("time line of run {}", t.run_id))
            viewBox=(format!("0 0 {CHART_W} {h}")) width=(CHART_W) height=(h) {
            @for i in (0..t.spans.len()).step_by(2) {
                rect x="0" y=(top + i as f64 * ROW_H) width=(CHART_W) height=(ROW_H) fill="#f4f5f7" {}
            }
            (grid_x(t.duration, top, top + rows_h))
            @for (i, span) in t.spans.iter().enumerate() {
                @let y = top + i as f64 * ROW_H;
                @let mid = y + ROW_H / 2.0 + 4.0;
                @let secs = span.end - span.start;
                @let x0 = x(span.start);
                text x=(LABEL_W - 8.0) y=(mid) text-anchor="end"
                    class=(if failed.contains(&span.table.as_str()) { "lbl failed" } else { "lbl" }) {
                    (label(&span.table))
                }
                rect x=(f1(x0)) y=(f1(y + 3.5)) width=(f1((x(span.end) - x0).max(2.0))) height="13" rx="2" fill=(BAR_COLOUR) {
                    title {
                        (span.table) ": " (num(span.rows)) " rows in " (seconds(secs)) " ("
                        (rate(span.rows, secs)) " rows/s), " (num(span.batches)) " batches"
                    }
                }
                text x=(LABEL_W + plot_w() + 10.0) y=(mid) class="val" {
                    (short_num(span.rows as f64)) " rows · "
                    (short_num(if secs > 0.0 { span.rows as f64 / secs } else { 0.0 })) "/s"
                }
            }
        }
    }
}

/// A table's name as a bar's label: at most 26 characters.
fn label(table: &str) -> String {
    if table.chars().count() > 26 {
        format!("{}…", table.chars().take(25).collect::<String>())
    } else {
        table.to_string()
    }
}

/// Vertical grid lines and time labels under them.
fn grid_x(duration: f64, y0: f64, y1: f64) -> Markup {
    let step = time_step(duration);
    let mut ticks = Vec::new();
    let mut tick = 0.0;
    while tick <= duration + 1e-9 {
        ticks.push(tick);
        tick += step;
    }
    html! {
        @for tick in ticks {
            @let x = f1(LABEL_W + tick / duration * plot_w());
            line x1=(x) y1=(y0) x2=(x) y2=(y1) stroke="#c9ced6" stroke-width="1" {}
            text x=(x) y=(y1 + 16.0) text-anchor="middle" class="tick" { (tick_time(tick)) }
        }
    }
}

/// Rows read so far in the run, over the same clock as the bars.
fn cumulative_svg(t: &Timeline) -> Markup {
    let (top, plot_h, axis) = (10.0, 190.0, 40.0);
    let h = top + plot_h + axis;
    let max_rows = t.points.last().map_or(0, |p| p.1).max(1) as f64;
    let step = count_step(max_rows);
    let y_max = (max_rows / step).ceil() * step;
    let x = |secs: f64| LABEL_W + secs / t.duration * plot_w();
    let y = |rows: f64| top + plot_h - rows / y_max * plot_h;
    let mut ticks = Vec::new();
    let mut tick = 0.0;
    while tick <= y_max + 1e-9 {
        ticks.push(tick);
        tick += step;
    }
    let line: String = t
        .points
        .iter()
        .enumerate()
        .map(|(i, (secs, rows))| {
            format!(
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                x(*secs),
                y(*rows as f64)
            )
        })
        .collect();
    let last_x = x(t.points.last().map_or(0.0, |p| p.0));
    html! {
        svg class="chart" role="img" aria-label=(format!("rows read over time, run {}", t.run_id))
            viewBox=(format!("0 0 {CHART_W} {h}")) width=(CHART_W) height=(h) {
            @for tick in ticks {
                @let yy = f1(y(tick));
                line x1=(LABEL_W) y1=(yy) x2=(f1(LABEL_W + plot_w())) y2=(yy) stroke="#c9ced6" stroke-width="1" {}
                text x=(LABEL_W - 8.0) y=(f1(y(tick) + 4.0)) text-anchor="end" class="tick" { (short_num(tick)) }
            }
            (grid_x(t.duration, top, top + plot_h))
            path d=(format!("{line} L{last_x:.1},{:.1} Z", y(0.0))) fill=(AREA_COLOUR) stroke="none" {}
            path d=(line) fill="none" stroke=(LINE_COLOUR) stroke-width="2.5" stroke-linejoin="round" {}
            text x=(last_x.min(LABEL_W + plot_w()) + 10.0) y=(f1(y(max_rows) + 4.0)) class="val" {
                (num(max_rows as i64)) " rows read"
            }
            text x=(LABEL_W + plot_w() / 2.0) y=(h - 4.0) text-anchor="middle" class="tick" {
                "time from the start of run " (t.run_id)
            }
        }
    }
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
.warn { color: #9a6700; font-weight: 600; }
tr.warn td { background: #fff8e6; }
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

pub(crate) fn render(p: &Page<'_>) -> String {
    let d = p.data;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Migration report: " (p.plan_path) }
                style { (PreEscaped(CSS)) }
            }
            body {
                (header(p))
                nav {
                    a href="#summary" { "Summary" }
                    a href="#runs" { "Runs" }
                    a href="#timeline" { "Timeline" }
                    a href="#throughput" { "Throughput" }
                    a href="#validation" { "Validation" }
                    a href="#reasons" { "Reject and skip reasons" }
                    @if !d.forward_refs.is_empty() {
                        a href="#forward" { "Forward references" }
                    }
                    a href="#lineage" { "Components" }
                    a href="#plan" { "Plan" }
                }
                main {
                    (summary(p))
                    (runs(d))
                    (timelines(d))
                    (throughput_section(d))
                    (validation(p.validation))
                    (reasons(d))
                    (forward_refs(d))
                    (lineage(d))
                    section id="plan" {
                        h2 { "The plan" }
                        p.muted {
                            (p.plan_path)
                            " as it is now (passwords masked); the runs above recorded the path they were given."
                        }
                        pre.plan { (p.plan_text) }
                    }
                }
                footer {
                    "Written by " code { "host report" } " " (env!("CARGO_PKG_VERSION")) " at "
                    (p.generated_at) ". Everything above comes from the target's "
                    code { "migration" } " schema"
                    @if let Validation::Ran(_) = p.validation {
                        " and a fresh validation against both databases."
                    } @else {
                        "."
                    }
                }
            }
        }
    };
    page.into_string()
}

fn header(p: &Page<'_>) -> Markup {
    html! {
        header.top {
            h1 { "Migration report" }
            dl {
                dt { "plan" } dd { (p.plan_path) }
                dt { "source" } dd { (mask(&p.plan.source_url)) }
                dt { "target" } dd { (mask(&p.plan.target_url)) }
                dt { "host version" } dd { (env!("CARGO_PKG_VERSION")) }
                dt { "generated at" } dd { (p.generated_at) }
            }
        }
    }
}

fn card(value: &str, key: &str, class: &str) -> Markup {
    html! {
        div.card {
            div class=(format!("v {class}")) { (value) }
            div.k { (key) }
        }
    }
}

fn summary(p: &Page<'_>) -> Markup {
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
    let wall: f64 = d.timelines.iter().map(|t| t.duration).sum();
    let timed_rows: i64 = d
        .timelines
        .iter()
        .map(|t| t.points.last().map_or(0, |p| p.1))
        .sum();
    let (verdict, class) = match p.validation {
        Validation::Ran(r) if r.ok => ("passed", "ok"),
        Validation::Ran(_) => ("FAILED", "bad"),
        Validation::CouldNot(_) => ("did not run", "bad"),
        Validation::Skipped => ("left out", ""),
    };
    html! {
        section id="summary" {
            h2 { "Summary" }
            div.cards {
                (card(
                    &format!("{done} / {}", d.tables.len()),
                    "tables done",
                    if done == d.tables.len() { "ok" } else { "bad" },
                ))
                @if failed > 0 {
                    (card(&failed.to_string(), "tables failed", "bad"))
                }
                (card(&num(sum(|t| t.rows_read)), "source rows read", ""))
                (card(&num(sum(|t| t.rows_written)), "written", ""))
                (card(&num(sum(|t| t.rows_skipped)), "skipped (with a reason)", ""))
                (card(&num(sum(|t| t.rows_rejected)), "quarantined", ""))
                (card(&num(sum(|t| t.target_rows)), "target rows", ""))
                (card(&compact_seconds(wall), "run time (all runs)", ""))
                (card(&rate(timed_rows, wall), "rows/s overall", ""))
                (card(verdict, "validation", class))
            }
        }
    }
}

fn runs(d: &Data) -> Markup {
    html! {
        section id="runs" {
            h2 { "Runs" }
            table {
                tr {
                    th.n { "run" } th { "started (UTC)" } th { "finished (UTC)" } th.n { "duration" }
                    th { "outcome" } th { "host version" } th { "plan" }
                }
                @for r in &d.runs {
                    tr {
                        td.n { (r.id) }
                        td { (super::utc_text(r.started)) }
                        td { (r.finished.map_or("-".into(), super::utc_text)) }
                        td.n { (r.finish().map_or("-".into(), |f| compact_seconds(f - r.start()))) }
                        td {
                            @match (r.outcome.as_deref(), &r.finished) {
                                (Some("done"), _) => { span.ok { "done" } }
                                (Some("retry"), Some(_)) => { "retry (host retry)" }
                                (Some("retry"), None) => { "retry, unfinished" }
                                (Some(o), _) => { span.bad { (o) } }
                                (None, _) => {
                                    span.bad { "unfinished" } " "
                                    span.muted { "(still running, or stopped before its end)" }
                                }
                            }
                        }
                        td { (r.host_version) }
                        td { code { (r.plan_path) } }
                    }
                }
            }
        }
    }
}

fn timelines(d: &Data) -> Markup {
    let failed: Vec<&str> = d
        .tables
        .iter()
        .filter(|t| t.phase == TablePhase::Failed)
        .map(|t| t.table.as_str())
        .collect();
    html! {
        section id="timeline" {
            h2 { "Timeline" }
            @if d.timelines.is_empty() {
                p.note { "No batch has been committed yet: nothing to draw." }
            } @else {
                p.muted {
                    "Per run: one bar per table from its start to its last committed batch, in the order the tables ran (hover a bar for its numbers), and below, the rows read so far, on the same clock."
                }
            }
            @for t in &d.timelines {
                @let started = d.runs.iter().find(|r| r.id == t.run_id).map_or("?".into(), |r| super::utc_text(r.started));
                @let rows = t.points.last().map_or(0, |p| p.1);
                h3 {
                    "Run " (t.run_id) " — started " (started) " UTC, " (t.spans.len()) " tables, "
                    (num(rows)) " rows in " (seconds(t.duration)) " (" (rate(rows, t.duration)) " rows/s)"
                }
                (gantt_svg(t, &failed))
                (cumulative_svg(t))
            }
        }
    }
}

fn throughput_section(d: &Data) -> Markup {
    let by_table = throughput(&d.timelines);
    let (mut rows, mut secs, mut batches) = (0i64, 0f64, 0i64);
    for t in &d.tables {
        let (r, s, b) = by_table.get(t.table.as_str()).copied().unwrap_or_default();
        rows += r;
        secs += s;
        batches += b;
    }
    let wall: f64 = d.timelines.iter().map(|t| t.duration).sum();
    let total = |f: fn(&TableStatus) -> i64| num(d.tables.iter().map(f).sum::<i64>());
    html! {
        section id="throughput" {
            h2 { "Throughput and accounting" }
            p.muted {
                "Wall seconds and rows/s from the committed batches of every run (" code { "host retry" }
                " replays not counted); the counts are the table's state now. source = written + skipped + quarantined once a table is done."
            }
            table {
                tr {
                    th { "group" } th { "table" } th { "phase" } th.n { "source rows" } th.n { "read" }
                    th.n { "written" } th.n { "skipped" } th.n { "quarantined" } th.n { "target rows" }
                    th.n { "batches" } th.n { "wall s" } th.n { "rows/s" }
                }
                @for t in &d.tables {
                    @let (r, s, b) = by_table.get(t.table.as_str()).copied().unwrap_or_default();
                    @let adds_up = t.rows_read == t.rows_written + t.rows_skipped + t.rows_rejected
                        && (t.phase != TablePhase::Done || Some(t.rows_read) == t.source_rows);
                    tr class=[(!adds_up).then_some("bad")] {
                        td { (t.group) }
                        td { (t.table) }
                        td {
                            @match t.phase {
                                TablePhase::Done => { span.ok { "done" } }
                                TablePhase::Failed => { span.bad { "failed" } }
                                other => { (other.name()) }
                            }
                            @if !adds_up {
                                " " span.bad { "(does not add up)" }
                            }
                        }
                        td.n { (t.source_rows.map_or("-".into(), num)) }
                        td.n { (num(t.rows_read)) }
                        td.n { (num(t.rows_written)) }
                        td.n { (num(t.rows_skipped)) }
                        td.n { (num(t.rows_rejected)) }
                        td.n { (num(t.target_rows)) }
                        td.n { (num(b)) }
                        td.n { @if b > 0 { (format!("{s:.2}")) } @else { "-" } }
                        td.n { @if b > 0 { (rate(r, s)) } @else { "-" } }
                    }
                    @if let Some(e) = &t.error {
                        tr.bad { td {} td colspan="11" { div.reason { (e) } } }
                    }
                }
                tr.total {
                    td {} td { "all tables" } td {}
                    td.n { (total(|t| t.source_rows.unwrap_or(0))) }
                    td.n { (total(|t| t.rows_read)) }
                    td.n { (total(|t| t.rows_written)) }
                    td.n { (total(|t| t.rows_skipped)) }
                    td.n { (total(|t| t.rows_rejected)) }
                    td.n { (total(|t| t.target_rows)) }
                    td.n { (num(batches)) }
                    td.n { (format!("{secs:.2}")) }
                    td.n { (rate(rows, secs)) }
                }
            }
            p {
                "Overall: " (num(rows)) " rows read in " (seconds(wall)) " of run time ("
                (rate(rows, wall)) " rows/s, between tables included)."
            }
        }
    }
}

fn pct(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{:.3}%", r * 100.0))
}

/// A check's result: ok, FAILED, or "not checked" (it had rows to look at and could not).
fn check_status(status: Status) -> Markup {
    html! {
        @match status {
            Status::Ok => span.ok { "ok" },
            Status::Failed => span.bad { "FAILED" },
            Status::NotChecked => span.warn { "not checked" },
        }
    }
}

/// The worst of several checks' results (a failure, then a check not made).
fn worst(checks: &[&CheckResult]) -> Status {
    if checks.iter().any(|c| c.failed()) {
        Status::Failed
    } else if checks.iter().any(|c| c.status == Status::NotChecked) {
        Status::NotChecked
    } else {
        Status::Ok
    }
}

fn validation(v: &Validation) -> Markup {
    html! {
        section id="validation" {
            h2 { "Validation" }
            @match v {
                Validation::Skipped => {
                    p.note {
                        "Left out (" code { "--no-validate" } "): run " code { "host report" }
                        " without it, or " code { "host validate" } "."
                    }
                }
                Validation::CouldNot(why) => {
                    p.note {
                        "Validation could not run, so this report has no validation results. Fix the cause and run "
                        code { "host report" } " (or " code { "host validate" } ") again:"
                    }
                    div.error { (why) }
                }
                Validation::Ran(r) => {
                    @let failed: Vec<&CheckResult> = r.failed().collect();
                    @let unchecked: Vec<&CheckResult> = r.unchecked().collect();
                    @let run_wide: Vec<&CheckResult> = r.checks.iter().filter(|c| c.table.is_none()).collect();
                    p {
                        @if r.ok { span.ok { "validate passed" } } @else { span.bad { "validate FAILED" } }
                        " — " (r.checks.len()) " checks, " (failed.len()) " failed, "
                        (unchecked.len()) " could not check. Success rate "
                        b { (pct(r.success_rate)) } " of all source rows, "
                        b { (pct(r.core_success_rate)) }
                        " of the core tables' rows (written, or skipped with a reason)."
                    }
                    @if !run_wide.is_empty() {
                        (check_table(&run_wide, false))
                    }
                    (check_matrix(&r.checks))
                    @if !failed.is_empty() {
                        h3 { "Failed checks" }
                        (check_table(&failed, true))
                    }
                    @if !unchecked.is_empty() {
                        h3 { "Checks that could not check" }
                        p.note { "Each had rows to look at and compared none; its detail says why." }
                        (check_table(&unchecked, true))
                    }
                    details {
                        summary { "Every check with its detail (" (r.checks.len()) ")" }
                        (check_table(&r.checks.iter().collect::<Vec<_>>(), true))
                    }
                }
            }
        }
    }
}

fn check_table(checks: &[&CheckResult], with_table: bool) -> Markup {
    html! {
        table {
            tr {
                @if with_table { th { "table" } }
                th { "check" } th { "result" } th { "detail" }
            }
            @for c in checks {
                tr class=[match c.status { Status::Failed => Some("bad"), Status::NotChecked => Some("warn"), Status::Ok => None }] {
                    @if with_table { td { (c.table.as_deref().unwrap_or("(all)")) } }
                    td { (c.check) }
                    td { (check_status(c.status)) }
                    td.reason { (c.detail) }
                }
            }
        }
    }
}

/// Tables down, checks across: one cell per (table, check), its details on hover.
fn check_matrix(checks: &[CheckResult]) -> Markup {
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
        return html! {};
    }
    html! {
        table.matrix {
            tr {
                th { "table" }
                @for n in &names { th { (n) } }
            }
            @for t in &tables {
                tr {
                    td { (t) }
                    @for n in &names {
                        @let cell: Vec<&CheckResult> = checks
                            .iter()
                            .filter(|c| c.table.as_deref() == Some(*t) && c.check == *n)
                            .collect();
                        @if cell.is_empty() {
                            td.muted { "-" }
                        } @else {
                            @let title = cell.iter().map(|c| c.detail.as_str()).collect::<Vec<_>>().join("\n");
                            td title=(title) {
                                (check_status(worst(&cell)))
                                @if cell.len() > 1 { " ×" (cell.len()) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn reason_table(what: &str, total: i64, reasons: &Reasons) -> Markup {
    // The exact reasons only add something when the patterns merged some.
    let merged = reasons.exact.len() > reasons.patterns.len()
        || reasons.exact.iter().map(|r| r.1).sum::<i64>()
            < reasons.patterns.iter().map(|p| p.1).sum::<i64>();
    html! {
        table {
            tr { th.n { "rows" } th { (what) " reason (numbers as N)" } th { "for example" } }
            @for (pattern, n, example) in &reasons.patterns {
                tr {
                    td.n { (num(*n)) }
                    td.reason { (shorten(pattern)) }
                    td class="reason muted" {
                        @if example != pattern { (shorten(example)) }
                    }
                }
            }
            (other_reasons(total, reasons.patterns.iter().map(|p| p.1).sum(), 3))
        }
        @if merged {
            details {
                summary { "The most frequent exact " (what) " reasons" }
                table {
                    tr { th.n { "rows" } th { "reason" } }
                    @for (reason, n) in &reasons.exact {
                        tr { td.n { (num(*n)) } td.reason { (shorten(reason)) } }
                    }
                    (other_reasons(total, reasons.exact.iter().map(|r| r.1).sum(), 2))
                }
            }
        }
    }
}

fn other_reasons(total: i64, shown: i64, columns: usize) -> Markup {
    html! {
        @if total > shown {
            tr {
                td.n { (num(total - shown)) }
                td.muted colspan=(columns - 1) { "under other, rarer reasons" }
            }
        }
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

fn reasons(d: &Data) -> Markup {
    let rejected: Vec<&TableStatus> = d.tables.iter().filter(|t| t.rows_rejected > 0).collect();
    let skipped: Vec<&TableStatus> = d.tables.iter().filter(|t| t.rows_skipped > 0).collect();
    let none = Reasons::default();
    html! {
        section id="reasons" {
            h2 { "Reject and skip reasons" }
            h3 { "Quarantined rows" }
            @if rejected.is_empty() {
                p { "No row was quarantined." }
            } @else {
                p.muted {
                    "Each row with its source row in " code { "migration.quarantine" } "; "
                    code { "host retry" } " replays them through the current component."
                }
            }
            @for t in &rejected {
                h4 { (t.table) " " span.muted { "— " (num(t.rows_rejected)) " quarantined" } }
                (reason_table("quarantine", t.rows_rejected, d.reasons.get(&t.table).map_or(&none, |r| &r.0)))
            }
            h3 { "Skipped rows" }
            @if skipped.is_empty() {
                p { "No row was skipped." }
            } @else {
                p.muted { "Rows deliberately left behind, in " code { "migration.skipped" } "." }
            }
            @for t in &skipped {
                h4 { (t.table) " " span.muted { "— " (num(t.rows_skipped)) " skipped" } }
                (reason_table("skip", t.rows_skipped, d.reasons.get(&t.table).map_or(&none, |r| &r.1)))
            }
        }
    }
}

/// The forward references (cycles broken at a key, self-references): whether each is settled,
/// and the references set to NULL because their row never came, with the rows to look at.
fn forward_refs(d: &Data) -> Markup {
    if d.forward_refs.is_empty() {
        return html! {};
    }
    html! {
        section id="forward" {
            h2 { "Forward references" }
            p.muted {
                "Foreign keys whose rows may point at rows written later (a cycle broken at the key, a self-reference): set aside while the tables load, then settled: each reference to a row that never came is set to NULL and recorded in "
                code { "migration.dangling_refs" } ", and the key is put back validated."
            }
            table {
                tr {
                    th { "key" } th { "column" } th { "references" } th { "state" }
                    th.n { "set to NULL" } th { "what it means" }
                }
                @for f in &d.forward_refs {
                    @let warn = f.state != ForwardRefState::Settled;
                    tr class=[warn.then_some("warn")] {
                        td { code { (f.key) } }
                        td { (f.table) "." (f.column) }
                        td { (f.ref_table) }
                        td {
                            @match f.state {
                                ForwardRefState::Settled => { span.ok { "settled" } }
                                ForwardRefState::SettledNotPutBack => { span.bad { "settled, key not back" } }
                                ForwardRefState::Waiting => { span.bad { "NOT SETTLED" } }
                            }
                            @if let Some(at) = &f.settled_at { br; span.muted { (at) " UTC" } }
                        }
                        td.n { (num(f.nulled)) }
                        td.reason {
                            (f.message)
                            @if f.nulled > 0 {
                                details {
                                    summary { "rows set to NULL" }
                                    table {
                                        tr { th { "row (primary key)" } th { "id it held" } th { "what became of that row" } }
                                        @for r in &f.nulled_rows {
                                            tr {
                                                td { code { (r.row) } }
                                                td { code { (r.missing_id) } }
                                                td.reason { (r.missing_row) }
                                            }
                                        }
                                    }
                                    @if f.nulled > f.nulled_rows.len() as i64 {
                                        p.muted { "and " (num(f.nulled - f.nulled_rows.len() as i64)) " more" }
                                    }
                                    p { "All of them: " code { (f.nulled_query) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The first 12 characters of a SHA-256, the whole on hover.
fn short_hash(sha256: &str) -> Markup {
    html! {
        code title=(sha256) { (sha256.chars().take(12).collect::<String>()) }
    }
}

fn lineage(d: &Data) -> Markup {
    html! {
        section id="lineage" {
            h2 { "Component versions (lineage)" }
            p.muted {
                "Which component (by SHA-256 of its " code { ".wasm" } ") produced which batches, from "
                code { "migration.batches" } "; hover a hash for all of it."
            }
            table {
                tr {
                    th { "table" } th { "component" } th.n { "first batch" } th.n { "batches" }
                    th.n { "rows in" } th.n { "written" } th.n { "skipped" } th.n { "quarantined" }
                }
                @for t in d.tables.iter().filter(|t| !t.components.is_empty()) {
                    @for (i, c) in t.components.iter().enumerate() {
                        tr {
                            td {
                                @if i == 0 {
                                    (t.table)
                                    @if t.components.len() > 1 {
                                        " " span.muted { "(" (t.components.len()) " versions)" }
                                    }
                                }
                            }
                            td { (short_hash(&c.sha256)) }
                            td.n { (num(c.first_batch)) }
                            td.n { (num(c.batches)) }
                            td.n { (num(c.rows_in)) }
                            td.n { (num(c.written)) }
                            td.n { (num(c.skipped)) }
                            td.n { (num(c.quarantined)) }
                        }
                    }
                }
            }
            h3 { "Hot swaps" }
            @if d.swaps.is_empty() {
                p { "No component was swapped during a run." }
            } @else {
                table {
                    tr {
                        th { "at (UTC)" } th.n { "run" } th { "table" } th { "from" } th { "to" }
                        th { "result" } th { "message" }
                    }
                    @for s in &d.swaps {
                        tr {
                            td { (super::utc_text(s.at)) }
                            td.n { (s.run_id.map_or("-".into(), |r| r.to_string())) }
                            td { (s.table) }
                            td { (short_hash(&s.old)) }
                            td { (short_hash(&s.new)) }
                            td {
                                @if s.applied { span.ok { "applied" } } @else { span.bad { "refused" } }
                            }
                            td.reason { (s.message) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(time_step(240.0) >= 30.0);
        assert_eq!(count_step(1000.0), 200.0);
    }

    #[test]
    fn charts_close_every_svg_element() {
        let t = Timeline {
            run_id: 1,
            duration: 10.0,
            spans: vec![super::super::Span {
                table: "<b>orders</b>".into(),
                start: 0.0,
                end: 2.0,
                rows: 20,
                batches: 2,
            }],
            points: vec![(0.0, 0), (2.0, 20)],
        };
        let gantt = gantt_svg(&t, &["<b>orders</b>"]).into_string();
        assert!(
            gantt.contains(BAR_COLOUR) && gantt.contains("lbl failed"),
            "{gantt}"
        );
        assert!(
            gantt.contains("&lt;b&gt;orders&lt;/b&gt;") && !gantt.contains("<b>"),
            "{gantt}"
        );
        let line = cumulative_svg(&t).into_string();
        assert!(line.contains(LINE_COLOUR), "{line}");
        // An unclosed <rect> or <line> would swallow the rest of the chart.
        for svg in [&gantt, &line] {
            for element in ["rect", "line", "path", "text"] {
                assert_eq!(
                    svg.matches(&format!("<{element} ")).count(),
                    svg.matches(&format!("</{element}>")).count(),
                    "{element} in {svg}"
                );
            }
        }
    }
}
