//! What `host run`, `run --dry-run`, `retry` and `status` print: the engine returns the data,
//! this lays it out.

use engine::deferred::Warning;
use engine::dryrun::DryTable;
use engine::lock::Holder;
use engine::retry::RetryReport;
use engine::scheduler::RunSummary;
use engine::state::TablePhase;
use engine::status::TableStatus;

/// `host run --json`: the tables, the blocked ones and the time.
pub fn print_run_json(summary: &RunSummary) -> anyhow::Result<()> {
    let json = serde_json::json!({
        "tables": summary.tables,
        "blocked": summary.blocked,
        "seconds": summary.elapsed.as_secs_f64(),
    });
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

/// The per-table summary at the end of `host run`, then why the rows of each table with
/// quarantined rows were quarantined (its most frequent reasons) and where to see them all.
/// What `host worker` did: the tables it saw end; the run's own summary has every table.
pub fn print_work(summary: &engine::scheduler::WorkSummary) {
    println!(
        "the run ended; this worker stops after {:.1} s",
        summary.elapsed_seconds
    );
    for r in &summary.tables {
        let error = r
            .error
            .as_ref()
            .map_or(String::new(), |e| format!(": {}", e.message));
        println!("  {} {}{error}", r.table, r.phase);
    }
}

pub fn print_run(summary: &RunSummary) {
    println!();
    println!(
        "{:<22} {:<8} {:>9} {:>9} {:>9} {:>9} {:>11} {:>8}  check",
        "table", "phase", "source", "written", "skipped", "rejected", "target rows", "seconds"
    );
    for r in &summary.tables {
        let c = &r.counts;
        let source = c.source_rows.unwrap_or(0);
        let adds_up = c.rows_read == c.rows_written + c.rows_skipped + c.rows_rejected
            && (r.phase != TablePhase::Done || c.rows_read == source);
        println!(
            "{:<22} {:<8} {:>9} {:>9} {:>9} {:>9} {:>11} {:>8.1}  {}",
            r.table,
            r.phase,
            source,
            c.rows_written,
            c.rows_skipped,
            c.rows_rejected,
            c.target_rows,
            r.seconds,
            if adds_up {
                "source = written + skipped + rejected"
            } else {
                "DOES NOT ADD UP"
            }
        );
    }
    for b in &summary.blocked {
        println!("{:<22} blocked  (waits for {})", b.table, b.waits_for);
    }
    println!("total {:.1} s", summary.elapsed.as_secs_f64());
    for (table, reasons) in &summary.reject_reasons {
        let rejected = summary
            .tables
            .iter()
            .find(|r| &r.table == table)
            .map_or(0, |r| r.counts.rows_rejected);
        println!(
            "{table}: {rejected} row(s) quarantined (SELECT * FROM migration.quarantine WHERE table_name = '{}'), most often:",
            table.replace('\'', "''")
        );
        for (reason, n) in reasons {
            let short: String = reason.chars().take(300).collect();
            println!("  {n} x {short}");
        }
    }
}

pub fn print_dry_run(tables: &[DryTable]) {
    println!("dry run: nothing was written");
    println!(
        "{:<22} {:>9} {:>11} {:>10} {:>12} {:>11}",
        "table", "source", "would write", "would skip", "would reject", "target rows"
    );
    for t in tables {
        let name = if t.adopted {
            format!("{} (adopt)", t.table)
        } else {
            t.table.clone()
        };
        println!(
            "{:<22} {:>9} {:>11} {:>10} {:>12} {:>11}",
            name, t.source_rows, t.would_write, t.would_skip, t.would_reject, t.target_rows
        );
        for (what, reasons) in [("reject", &t.reject_reasons), ("skip", &t.skip_reasons)] {
            for r in reasons.iter() {
                let keys = r
                    .example_keys
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                println!("    {what} {:>7} x {}  (keys {keys})", r.rows, r.reason);
            }
        }
    }
}

pub fn print_retry(reports: &[RetryReport]) {
    if reports.is_empty() {
        println!("nothing to retry: no quarantined rows");
        return;
    }
    println!(
        "{:<22} {:>11} {:>9} {:>9} {:>17} {:>10}",
        "table", "quarantined", "written", "skipped", "still quarantined", "gone"
    );
    for r in reports {
        println!(
            "{:<22} {:>11} {:>9} {:>9} {:>17} {:>10}",
            r.table,
            r.quarantined_before,
            r.written,
            r.skipped,
            r.still_quarantined,
            r.gone_from_source
        );
    }
}

/// The whole run as `status` sums it up.
pub struct Overall {
    pub done: usize,
    pub read: i64,
    /// Source rows of the tables started so far.
    pub total: i64,
    /// The rows known still to read at the rate of everything read so far; tables not started
    /// yet are not counted, so it is a lower bound.
    pub eta: Option<f64>,
}

impl Overall {
    pub fn of(tables: &[TableStatus]) -> Self {
        let total: i64 = tables.iter().filter_map(|t| t.source_rows).sum();
        let read: i64 = tables.iter().map(|t| t.rows_read).sum();
        let done = tables
            .iter()
            .filter(|t| t.phase == TablePhase::Done)
            .count();
        let seconds: f64 = tables
            .iter()
            .filter(|t| t.rows_per_second.is_some())
            .map(|t| t.rows_read as f64 / t.rows_per_second.unwrap_or(1.0))
            .sum();
        let eta = (seconds > 0.0 && done < tables.len())
            .then(|| (total - read).max(0) as f64 / (read as f64 / seconds));
        Overall {
            done,
            read,
            total,
            eta,
        }
    }
}

pub fn print_status(
    tables: &[TableStatus],
    overall: &Overall,
    holder: Option<&Holder>,
    set_aside: Option<&Warning>,
) {
    if let Some(h) = holder {
        println!("in progress: {h} holds this target (the run lock)");
    }
    println!(
        "{:<12} {:<22} {:<8} {:>19} {:>9} {:>9} {:>9} {:>10} {:>8}",
        "group", "table", "phase", "read/total", "written", "skipped", "rejected", "rows/s", "ETA"
    );
    for t in tables {
        print_status_table(t);
    }
    // Tables done is not the end while keys are set aside: say so on the same line.
    let aside = set_aside
        .map(|w| {
            format!(
                "; {} foreign key(s) and {} index(es) still set aside (see the warning above)",
                w.foreign_keys, w.indexes
            )
        })
        .unwrap_or_default();
    let (done, read, total) = (overall.done, overall.read, overall.total);
    match overall.eta {
        Some(eta) => println!(
            "{done}/{} tables done, {read} of at least {total} rows read, ETA at least {} ({} tables not started){aside}",
            tables.len(),
            engine::progress::format_duration(eta),
            tables.iter().filter(|t| t.source_rows.is_none()).count()
        ),
        None => println!("{done}/{} tables done, {read} rows read{aside}", tables.len()),
    }
}

/// The forward references (cycles broken at a key, self-references) and where each stands.
pub fn print_forward_refs(refs: &[engine::status::ForwardRefStatus]) {
    if refs.is_empty() {
        return;
    }
    println!("forward references (a cycle broken at a key, a self-reference):");
    for f in refs {
        println!(
            "  {}.{} -> {} (key {}): {}",
            f.table, f.column, f.ref_table, f.key, f.message
        );
        if f.nulled == 0 {
            continue;
        }
        let shown: Vec<String> = f
            .nulled_rows
            .iter()
            .map(|r| format!("\n      {} held {}: {}", r.row, r.missing_id, r.missing_row))
            .collect();
        let more = f.nulled - f.nulled_rows.len() as i64;
        let more = if more > 0 {
            format!("\n      and {more} more")
        } else {
            String::new()
        };
        println!(
            "    rows set to NULL (row: the id it held, and what became of that row):{}{more}",
            shown.join("")
        );
        println!("    all of them: {}", f.nulled_query);
    }
}

/// The processes working the migration now and how far each split table's chunks are.
pub fn print_workers(
    workers: &[engine::chunk::LiveWorker],
    split: &[engine::chunk::SplitProgress],
) {
    for s in split.iter().filter(|s| s.done < s.chunks) {
        println!("{}: {} of {} chunks done", s.table, s.done, s.chunks);
    }
    for w in workers {
        let on = w.chunk.as_deref().unwrap_or("nothing right now");
        println!(
            "{} pid {} on host {} (since {}): working {on}",
            w.command, w.pid, w.hostname, w.started_at
        );
    }
}

fn print_status_table(t: &TableStatus) {
    let total = t.source_rows.map_or("?".to_string(), |n| n.to_string());
    println!(
        "{:<12} {:<22} {:<8} {:>19} {:>9} {:>9} {:>9} {:>10} {:>8}",
        t.group,
        t.table,
        t.phase,
        format!("{}/{total}", t.rows_read),
        t.rows_written,
        t.rows_skipped,
        t.rows_rejected,
        t.rows_per_second.map_or("-".into(), |r| format!("{r:.0}")),
        t.eta_seconds
            .map_or("-".into(), engine::progress::format_duration)
    );
    if let Some(e) = &t.error {
        println!("    error: {e}");
    }
    if t.components.len() > 1 {
        for c in &t.components {
            println!(
                "    component {}: {} batches from batch {}, {} rows in, {} written, {} skipped, {} quarantined",
                &c.sha256[..12.min(c.sha256.len())],
                c.batches,
                c.first_batch,
                c.rows_in,
                c.written,
                c.skipped,
                c.quarantined
            );
        }
    }
}
