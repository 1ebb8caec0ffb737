//! The order tables run in: from the target's foreign keys, the ids each plugin resolves and
//! the plan's `depends_on`. Ties keep the plan's order, so the result is stable.

use std::collections::{BTreeMap, BTreeSet};

use crate::pg::ForeignKey;

/// What ordering needs to know of one plan table.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    /// Target tables its plugin writes.
    pub writes: Vec<String>,
    /// Entities (plan tables) whose ids its plugin resolves.
    pub resolves: Vec<String>,
    /// The plan's explicit dependencies.
    pub depends_on: Vec<String>,
}

/// One table's place in the order, with why it waits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    pub table: String,
    pub after: Vec<String>,
}

/// A dependency cycle, as the loop of tables and what links them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub tables: Vec<String>,
    pub links: Vec<String>,
}

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "dependency cycle: {} ({})\n  hint: make one of these foreign keys DEFERRABLE INITIALLY DEFERRED and fill it in a second pass, or drop a depends_on entry",
            self.tables.join(" -> "),
            self.links.join("; ")
        )
    }
}

/// Tables in an order where each runs after everything it depends on.
pub fn order(nodes: &[Node], fks: &[ForeignKey]) -> Result<Vec<Step>, Cycle> {
    let names: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let mut writers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for n in nodes {
        for w in &n.writes {
            writers.entry(w.as_str()).or_default().push(n.name.as_str());
        }
    }
    // deps[table] = {dependency -> why}
    let mut deps: BTreeMap<&str, BTreeMap<&str, String>> = BTreeMap::new();
    for n in nodes {
        let entry = deps.entry(n.name.as_str()).or_default();
        for w in &n.writes {
            // A plugin that writes the referenced table itself fills both sides in the same
            // batch, so only other writers' tables make it wait.
            for fk in fks
                .iter()
                .filter(|fk| &fk.table == w && !n.writes.contains(&fk.ref_table))
            {
                for &owner in writers.get(fk.ref_table.as_str()).into_iter().flatten() {
                    if owner != n.name {
                        entry.entry(owner).or_insert_with(|| {
                            format!(
                                "{}.{} references {}",
                                fk.table,
                                fk.columns.join(","),
                                fk.ref_table
                            )
                        });
                    }
                }
            }
        }
        for r in &n.resolves {
            if let Some(r) = names.get(r.as_str()) {
                if *r != n.name {
                    entry
                        .entry(r)
                        .or_insert_with(|| format!("{} resolves {r} ids", n.name));
                }
            }
        }
        for d in &n.depends_on {
            if let Some(d) = names.get(d.as_str()) {
                entry
                    .entry(d)
                    .or_insert_with(|| format!("{} depends_on {d}", n.name));
            }
        }
    }

    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut steps = Vec::new();
    while steps.len() < nodes.len() {
        let next = nodes.iter().find(|n| {
            !done.contains(n.name.as_str())
                && deps[n.name.as_str()].keys().all(|d| done.contains(d))
        });
        let Some(next) = next else {
            return Err(find_cycle(&deps, &done));
        };
        done.insert(next.name.as_str());
        steps.push(Step {
            table: next.name.clone(),
            after: deps[next.name.as_str()]
                .keys()
                .map(|s| s.to_string())
                .collect(),
        });
    }
    Ok(steps)
}

fn find_cycle(deps: &BTreeMap<&str, BTreeMap<&str, String>>, done: &BTreeSet<&str>) -> Cycle {
    // Every remaining table waits on another remaining one, so walking "waits on" edges
    // from any of them must come back to a table already on the path.
    let start = deps
        .keys()
        .find(|k| !done.contains(*k))
        .copied()
        .unwrap_or_default();
    let mut path = vec![start];
    loop {
        let last = *path.last().unwrap_or(&start);
        let next = deps[last]
            .keys()
            .find(|d| !done.contains(*d))
            .copied()
            .unwrap_or(start);
        if let Some(pos) = path.iter().position(|p| *p == next) {
            let mut tables: Vec<String> = path[pos..].iter().map(|s| s.to_string()).collect();
            let links = path[pos..]
                .iter()
                .zip(path[pos + 1..].iter().chain(std::iter::once(&next)))
                .map(|(a, b)| deps[a][b].clone())
                .collect();
            tables.push(next.to_string());
            return Cycle { tables, links };
        }
        path.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, writes: &[&str], resolves: &[&str]) -> Node {
        Node {
            name: name.into(),
            writes: writes.iter().map(|s| s.to_string()).collect(),
            resolves: resolves.iter().map(|s| s.to_string()).collect(),
            depends_on: vec![],
        }
    }

    fn fk(table: &str, column: &str, ref_table: &str) -> ForeignKey {
        ForeignKey {
            name: format!("{table}_{column}_fkey"),
            table: table.into(),
            columns: vec![column.into()],
            ref_table: ref_table.into(),
            ref_columns: vec!["id".into()],
            deferrable: false,
        }
    }

    #[test]
    fn parents_first_ties_in_plan_order() {
        let nodes = vec![
            node("orders", &["orders", "order_status_history"], &["patients"]),
            node("patients", &["patients"], &[]),
            node("offices", &["offices"], &[]),
        ];
        let fks = vec![
            fk("order_status_history", "order_id", "orders"),
            fk("orders", "patient_id", "patients"),
            fk("patients", "office_id", "offices"),
        ];
        let order: Vec<String> = order(&nodes, &fks)
            .unwrap()
            .into_iter()
            .map(|s| s.table)
            .collect();
        assert_eq!(order, ["offices", "patients", "orders"]);
    }

    #[test]
    fn cycles_are_named() {
        let nodes = vec![node("a", &["a"], &[]), node("b", &["b"], &[])];
        let fks = vec![fk("a", "b_id", "b"), fk("b", "a_id", "a")];
        let cycle = order(&nodes, &fks).unwrap_err();
        assert_eq!(cycle.tables, ["a", "b", "a"]);
        assert!(cycle.to_string().contains("a.b_id references b"));
    }

    #[test]
    fn a_shared_parent_table_written_by_each_plugin_is_no_cycle() {
        let nodes = vec![
            node("case_files", &["storage_objects", "case_files"], &[]),
            node(
                "message_attachments",
                &["storage_objects", "message_attachments"],
                &[],
            ),
        ];
        let fks = vec![
            fk("case_files", "object_id", "storage_objects"),
            fk("message_attachments", "object_id", "storage_objects"),
        ];
        assert_eq!(order(&nodes, &fks).unwrap().len(), 2);
    }

    #[test]
    fn self_references_do_not_block() {
        let nodes = vec![node("categories", &["categories"], &["categories"])];
        let fks = vec![fk("categories", "parent_id", "categories")];
        assert_eq!(order(&nodes, &fks).unwrap().len(), 1);
    }
}
