//! The human reports of the commands: the engine returns data, the binary prints it.

use engine::check::{Analysis, Problem};
use engine::plan::Plan;
use engine::validate::Report;

/// `host check`: the table order, then the verdict and its problems (on stderr).
pub fn check_report(plan: &Plan, analysis: &Analysis, problems: &[Problem]) {
    if let Some(order) = &analysis.order {
        println!("Table order ({} tables):", order.len());
        for (i, step) in order.iter().enumerate() {
            let t = analysis.prepared(&step.table);
            let writes = t
                .map(|t| {
                    t.description
                        .writes
                        .iter()
                        .map(|w| w.table.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let after = if step.after.is_empty() {
                String::new()
            } else {
                format!("  (after {})", step.after.join(", "))
            };
            let hash = t
                .map(|t| t.plugin.short_hash().to_string())
                .unwrap_or_default();
            println!(
                "  {:>2}. {:<20} -> {writes}{after}  [plugin {hash}]",
                i + 1,
                step.table
            );
        }
    }
    for f in &analysis.forward_refs {
        println!("  {f}");
    }
    if problems.is_empty() {
        println!(
            "check passed: {} tables, every plugin matches both schemas ({})",
            plan.tables.len(),
            plan.path.display()
        );
    } else {
        eprintln!(
            "check found {} problem(s) in {}:",
            problems.len(),
            plan.path.display()
        );
        for p in problems {
            eprintln!("- {p}");
        }
    }
}

/// `host validate`: one line per check, then the verdict (and the checks it could not make).
pub fn validate_report(report: &Report) {
    println!("{:<22} {:<18} {:<11} detail", "table", "check", "result");
    for c in &report.checks {
        println!(
            "{:<22} {:<18} {:<11} {}",
            c.table.as_deref().unwrap_or("(all)"),
            c.check,
            c.status.word(),
            c.detail
        );
    }
    let named = |c: &engine::validate::CheckResult| {
        format!("{} {}", c.table.as_deref().unwrap_or("(all)"), c.check)
    };
    let failed: Vec<String> = report.failed().map(named).collect();
    let unchecked: Vec<String> = report.unchecked().map(named).collect();
    let unchecked = if unchecked.is_empty() {
        String::new()
    } else {
        format!("; NOT CHECKED: {}", unchecked.join(", "))
    };
    if failed.is_empty() {
        println!("validate passed: {} checks{unchecked}", report.checks.len());
    } else {
        println!("validate FAILED: {}{unchecked}", failed.join(", "));
    }
}
