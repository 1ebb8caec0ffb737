//! The order tables run in: from the target's foreign keys, the ids each plugin resolves and
//! the plan's `depends_on`. Ties keep the plan's order, so the result is stable.
//!
//! A cycle between tables is broken at a foreign key that can wait: one whose column is
//! nullable in the target, or that is DEFERRABLE. The table holding that key runs first and
//! writes the referenced row's deterministic UUID before that row exists (a forward
//! reference); the key is set aside for the load and settled once the referenced table is
//! done (see deferred.rs). A self-reference that can wait is a forward reference the same way,
//! settled once its own table is done. A cycle with no such key is refused, naming each link
//! and why it cannot wait. A key over several columns never waits: a forward reference is one
//! id, set to NULL on its own when its row never comes, and NULL in only some columns of a key
//! would leave the rest unchecked (PostgreSQL skips a key with any NULL in it).

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

/// The tables in order, and the foreign keys the order does not wait for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ordered {
    pub steps: Vec<Step>,
    pub forward_refs: Vec<ForwardRef>,
}

/// Why a foreign key may hold a reference to a row not written yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CanWait {
    /// Its column is nullable in the target: a reference to a row that never comes is set to
    /// NULL (and recorded).
    Nullable,
    /// It is DEFERRABLE (and NOT NULL): every reference must find its row.
    Deferrable,
}

impl std::fmt::Display for CanWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CanWait::Nullable => "nullable",
            CanWait::Deferrable => "deferrable",
        })
    }
}

/// A foreign key filled as a forward reference: a cycle broken there, or a self-reference.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ForwardRef {
    /// The key's constraint name and the target table holding it.
    pub name: String,
    pub table: String,
    pub column: String,
    pub ref_table: String,
    pub ref_column: String,
    pub can_wait: CanWait,
    /// The plan tables of the broken cycle, from the one holding the key round to it again;
    /// empty for a self-reference.
    pub cycle: Vec<String>,
    /// The plan tables writing the referenced table: the key is settled once they are done.
    pub referenced_by: Vec<String>,
    /// Every plan table writing either side: all must be done before the key is settled.
    pub waits_for: Vec<String>,
}

impl std::fmt::Display for ForwardRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.cycle.is_empty() {
            "self-reference".to_string()
        } else {
            format!("cycle {} broken at", self.cycle.join(" -> "))
        };
        write!(
            f,
            "{what} {}.{} ({}): filled as a forward reference, checked after {} {} done",
            self.table,
            self.column,
            self.can_wait,
            self.referenced_by.join(", "),
            if self.referenced_by.len() == 1 {
                "is"
            } else {
                "are"
            }
        )
    }
}

/// A dependency cycle, as the loop of tables and what links them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub tables: Vec<String>,
    pub links: Vec<String>,
    /// Each link of the loop that cannot wait, and why.
    pub blocked: Vec<String>,
    /// The keys of the loop over several columns (`table.(a, b)`): they never break a cycle.
    pub multi_column: Vec<String>,
}

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "dependency cycle: {} ({})",
            self.tables.join(" -> "),
            self.links.join("; ")
        )?;
        if !self.blocked.is_empty() {
            write!(f, "\n  no link of it can wait:")?;
            for why in &self.blocked {
                write!(f, "\n  - {why}")?;
            }
        }
        write!(f, "\n  hint: make one of these foreign keys nullable or DEFERRABLE (a single-column key): the host then breaks the cycle there, the table holding it runs first and its plugin writes the referenced row's id with ids.mint (checked once the referenced table is done); or have a plugin mint instead of resolve, or drop a depends_on entry")?;
        if !self.multi_column.is_empty() {
            write!(
                f,
                "\n  hint: {} cannot hold a forward reference, nullable or DEFERRABLE: break the cycle at a single-column key of it instead, or, when the key's other columns only repeat what the referenced id already says (a tenant, a partition), have the target reference that row by its id alone",
                self.multi_column.join(" and ")
            )?;
        }
        Ok(())
    }
}

/// Why one table waits for another: a foreign key (which may or may not be able to wait), a
/// resolved id, or the plan's word.
#[derive(Debug, Clone)]
struct Link<'a> {
    why: String,
    /// The key, when it is one that can wait.
    can_wait: Option<(&'a ForeignKey, CanWait)>,
    /// Why it cannot wait, when it cannot.
    blocked: Option<String>,
    /// A key over several columns (which never waits), as `table.(a, b)`.
    multi_column: Option<String>,
}

/// Why foreign key `fk` cannot hold a forward reference (see `can_wait`).
fn why_key_cannot_wait(fk: &ForeignKey, nullable: &impl Fn(&ForeignKey) -> bool) -> String {
    let columns = fk.columns.join(", ");
    if fk.columns.len() > 1 {
        let how = match (nullable(fk), fk.deferrable) {
            (true, true) => "nullable and DEFERRABLE, but ",
            (true, false) => "nullable, but ",
            (false, true) => "DEFERRABLE, but ",
            (false, false) => "",
        };
        format!(
            "key {} on {}.({columns}) is {how}over {} columns: the host settles a forward reference as one id, set to NULL on its own when its row never comes, and NULL in only some columns of a key would leave the rest unchecked (PostgreSQL skips a key with any NULL in it)",
            fk.name,
            fk.table,
            fk.columns.len()
        )
    } else {
        format!(
            "key {} on {}.{columns} is NOT NULL in the target and not DEFERRABLE",
            fk.name, fk.table
        )
    }
}

/// Whether `fk` can hold a forward reference (see the module doc); `nullable` says whether a
/// key's columns are all nullable in the target.
fn can_wait(fk: &ForeignKey, nullable: &impl Fn(&ForeignKey) -> bool) -> Option<CanWait> {
    if fk.columns.len() != 1 {
        return None;
    }
    if nullable(fk) {
        Some(CanWait::Nullable)
    } else if fk.deferrable {
        Some(CanWait::Deferrable)
    } else {
        None
    }
}

/// For each plan table, the tables it waits for and why.
type Deps<'a> = BTreeMap<&'a str, BTreeMap<&'a str, Vec<Link<'a>>>>;

/// The plan tables writing each target table.
type Writers<'a> = BTreeMap<&'a str, Vec<&'a str>>;

/// Tables in an order where each runs after everything it depends on, cycles broken at keys
/// that can wait.
pub fn order(
    nodes: &[Node],
    fks: &[ForeignKey],
    nullable: impl Fn(&ForeignKey) -> bool,
) -> Result<Ordered, Cycle> {
    let mut writers: Writers = BTreeMap::new();
    for n in nodes {
        for w in &n.writes {
            writers.entry(w.as_str()).or_default().push(n.name.as_str());
        }
    }
    let mut forward_refs = Vec::new();
    let mut deps: Deps = BTreeMap::new();
    for n in nodes {
        let entry = deps.entry(n.name.as_str()).or_default();
        fk_links(n, fks, &nullable, &writers, entry, &mut forward_refs);
        other_links(n, nodes, entry);
    }
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut steps = Vec::new();
    while steps.len() < nodes.len() {
        let next = nodes.iter().find(|n| {
            !done.contains(n.name.as_str())
                && deps[n.name.as_str()].keys().all(|d| done.contains(d))
        });
        let Some(next) = next else {
            let cycle = find_cycle(&deps, &done);
            break_cycle(cycle, nodes, &writers, &mut deps, &mut forward_refs)?;
            continue;
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
    Ok(Ordered {
        steps,
        forward_refs,
    })
}

/// The foreign keys of the tables `n` writes: a self-reference that can wait is a forward
/// reference (a parent may come later in key order than its child; one that cannot is proven
/// batch by batch); a key into a table another plugin writes makes `n` wait for that plugin.
fn fk_links<'a>(
    n: &'a Node,
    fks: &'a [ForeignKey],
    nullable: &impl Fn(&ForeignKey) -> bool,
    writers: &Writers<'a>,
    entry: &mut BTreeMap<&'a str, Vec<Link<'a>>>,
    forward_refs: &mut Vec<ForwardRef>,
) {
    for w in &n.writes {
        for fk in fks.iter().filter(|fk| &fk.table == w && fk.ref_table == *w) {
            if let Some(how) = can_wait(fk, nullable) {
                add_forward(forward_refs, writers, fk, how, Vec::new());
            }
        }
        // A plugin that writes the referenced table itself fills both sides in the same
        // batch, so only other writers' tables make it wait.
        for fk in fks
            .iter()
            .filter(|fk| &fk.table == w && !n.writes.contains(&fk.ref_table))
        {
            for &owner in writers.get(fk.ref_table.as_str()).into_iter().flatten() {
                if owner != n.name {
                    let how = can_wait(fk, nullable);
                    entry.entry(owner).or_default().push(Link {
                        why: format!(
                            "{}.{} references {}",
                            fk.table,
                            fk.columns.join(","),
                            fk.ref_table
                        ),
                        can_wait: how.map(|how| (fk, how)),
                        blocked: how.is_none().then(|| why_key_cannot_wait(fk, nullable)),
                        multi_column: (fk.columns.len() > 1)
                            .then(|| format!("{}.({})", fk.table, fk.columns.join(", "))),
                    });
                }
            }
        }
    }
}

/// The ids `n` resolves and its `depends_on`: links that cannot wait.
fn other_links<'a>(n: &'a Node, nodes: &'a [Node], entry: &mut BTreeMap<&'a str, Vec<Link<'a>>>) {
    let name = |t: &str| nodes.iter().find(|m| m.name == t).map(|m| m.name.as_str());
    for r in n.resolves.iter().filter_map(|r| name(r)) {
        if r != n.name {
            entry.entry(r).or_default().push(Link {
                why: format!("{} resolves {r} ids", n.name),
                can_wait: None,
                blocked: Some(format!(
                    "{} resolves {r} ids: its plugin needs them before it runs",
                    n.name
                )),
                multi_column: None,
            });
        }
    }
    for d in n.depends_on.iter().filter_map(|d| name(d)) {
        entry.entry(d).or_default().push(Link {
            why: format!("{} depends_on {d}", n.name),
            can_wait: None,
            blocked: Some(format!("{} depends_on {d} in the plan", n.name)),
            multi_column: None,
        });
    }
}

/// Breaks `cycle` where every link is a key that can wait; among those, at the key whose
/// table comes first in the plan: that table runs first. A cycle with no such link is the
/// error.
fn break_cycle<'a>(
    cycle: Loop,
    nodes: &[Node],
    writers: &Writers<'a>,
    deps: &mut Deps<'a>,
    forward_refs: &mut Vec<ForwardRef>,
) -> Result<(), Cycle> {
    let plan_index = |name: &str| nodes.iter().position(|n| n.name == name);
    let breakable = cycle
        .tables
        .windows(2)
        .filter(|pair| {
            deps[pair[0].as_str()][pair[1].as_str()]
                .iter()
                .all(|l| l.can_wait.is_some())
        })
        .min_by_key(|pair| plan_index(&pair[0]));
    let Some(pair) = breakable else {
        return Err(cycle.into_named(deps));
    };
    let (holder, held) = (pair[0].as_str(), pair[1].as_str());
    // The loop as seen from the table holding the key.
    let start = cycle.tables.iter().position(|t| t == holder).unwrap_or(0);
    let last = cycle.tables.len() - 1;
    let mut around: Vec<String> = cycle.tables[start..last]
        .iter()
        .chain(&cycle.tables[..start])
        .cloned()
        .collect();
    around.push(holder.to_string());
    let links = deps
        .get_mut(holder)
        .and_then(|d| d.remove(held))
        .unwrap_or_default();
    for (fk, how) in links.iter().filter_map(|l| l.can_wait) {
        add_forward(forward_refs, writers, fk, how, around.clone());
    }
    Ok(())
}

/// Records `fk` as a forward reference (once).
fn add_forward(
    forward_refs: &mut Vec<ForwardRef>,
    writers: &Writers,
    fk: &ForeignKey,
    can_wait: CanWait,
    cycle: Vec<String>,
) {
    if forward_refs
        .iter()
        .any(|f| f.name == fk.name && f.table == fk.table)
    {
        return;
    }
    let of = |table: &str| -> Vec<String> {
        writers
            .get(table)
            .into_iter()
            .flatten()
            .map(|s| s.to_string())
            .collect()
    };
    let referenced_by = of(&fk.ref_table);
    let mut waits_for = of(&fk.table);
    waits_for.extend(referenced_by.iter().cloned());
    waits_for.sort();
    waits_for.dedup();
    forward_refs.push(ForwardRef {
        name: fk.name.clone(),
        table: fk.table.clone(),
        column: fk.columns[0].clone(),
        ref_table: fk.ref_table.clone(),
        ref_column: fk.ref_columns.first().cloned().unwrap_or_default(),
        can_wait,
        cycle,
        referenced_by,
        waits_for,
    });
}

/// A loop of tables, each waiting for the next (the last is the first again).
struct Loop {
    tables: Vec<String>,
}

impl Loop {
    /// The cycle as reported: the tables and why each waits for the next.
    fn into_named(self, deps: &Deps) -> Cycle {
        let pairs = || {
            self.tables
                .windows(2)
                .map(|pair| &deps[pair[0].as_str()][pair[1].as_str()])
        };
        let links = pairs()
            .map(|links| {
                links
                    .iter()
                    .map(|l| l.why.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect();
        let blocked: Vec<String> = pairs()
            .flatten()
            .filter_map(|l| l.blocked.clone())
            .collect();
        let mut multi_column: Vec<String> = pairs()
            .flatten()
            .filter_map(|l| l.multi_column.as_ref().map(|k| format!("the key on {k}")))
            .collect();
        multi_column.dedup();
        Cycle {
            tables: self.tables,
            links,
            blocked,
            multi_column,
        }
    }
}

fn find_cycle(deps: &Deps, done: &BTreeSet<&str>) -> Loop {
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
            tables.push(next.to_string());
            return Loop { tables };
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

    fn tables(ordered: &Ordered) -> Vec<&str> {
        ordered.steps.iter().map(|s| s.table.as_str()).collect()
    }

    /// Nothing is nullable.
    fn not_null(_: &ForeignKey) -> bool {
        false
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
        let ordered = order(&nodes, &fks, not_null).unwrap();
        assert_eq!(tables(&ordered), ["offices", "patients", "orders"]);
        assert!(ordered.forward_refs.is_empty());
    }

    #[test]
    fn cycles_with_no_key_that_can_wait_are_named() {
        let nodes = vec![node("a", &["a"], &[]), node("b", &["b"], &[])];
        let fks = vec![fk("a", "b_id", "b"), fk("b", "a_id", "a")];
        let cycle = order(&nodes, &fks, not_null).unwrap_err();
        assert_eq!(cycle.tables, ["a", "b", "a"]);
        assert!(cycle.to_string().contains("a.b_id references b"));
        assert!(cycle
            .to_string()
            .contains("hint: make one of these foreign keys nullable or DEFERRABLE"));
    }

    #[test]
    fn a_key_over_several_columns_never_breaks_a_cycle_and_the_refusal_says_why() {
        let nodes = vec![node("a", &["a"], &[]), node("b", &["b"], &[])];
        let mut composite = fk("a", "b_id", "b");
        composite.columns = vec!["b_id".into(), "tenant_id".into()];
        composite.ref_columns = vec!["id".into(), "tenant_id".into()];
        composite.deferrable = true;
        let fks = vec![composite, fk("b", "a_id", "a")];
        let composite_nullable = |fk: &ForeignKey| fk.columns.len() > 1;
        let cycle = order(&nodes, &fks, composite_nullable).unwrap_err();
        let said = cycle.to_string();
        assert_eq!(cycle.multi_column, ["the key on a.(b_id, tenant_id)"]);
        assert!(
            said.contains("- key a_b_id_fkey on a.(b_id, tenant_id) is nullable and DEFERRABLE, but over 2 columns: the host settles a forward reference as one id"),
            "{said}"
        );
        assert!(
            said.contains("hint: the key on a.(b_id, tenant_id) cannot hold a forward reference, nullable or DEFERRABLE: break the cycle at a single-column key of it instead"),
            "{said}"
        );
        // The other key is single-column and NOT NULL: it could break the cycle if nullable.
        assert!(
            said.contains(
                "- key b_a_id_fkey on b.a_id is NOT NULL in the target and not DEFERRABLE"
            ),
            "{said}"
        );
        let ordered = order(&nodes, &fks, |_| true).unwrap();
        assert_eq!(ordered.forward_refs[0].column, "a_id");
    }

    #[test]
    fn a_cycle_is_broken_at_a_nullable_key_whose_table_runs_first() {
        let nodes = vec![
            node("employees", &["employees"], &["departments"]),
            node("departments", &["departments"], &[]),
        ];
        let fks = vec![
            fk("departments", "manager_id", "employees"),
            fk("employees", "department_id", "departments"),
        ];
        let nullable = |fk: &ForeignKey| fk.columns == ["manager_id"];
        let ordered = order(&nodes, &fks, nullable).unwrap();
        assert_eq!(tables(&ordered), ["departments", "employees"]);
        assert!(ordered.steps[0].after.is_empty());
        assert_eq!(ordered.forward_refs.len(), 1);
        let f = &ordered.forward_refs[0];
        assert_eq!(
            (f.table.as_str(), f.column.as_str()),
            ("departments", "manager_id")
        );
        assert_eq!(f.waits_for, ["departments", "employees"]);
        assert_eq!(
            f.to_string(),
            "cycle departments -> employees -> departments broken at departments.manager_id (nullable): filled as a forward reference, checked after employees is done"
        );
    }

    #[test]
    fn a_deferrable_key_breaks_a_cycle_but_a_resolved_id_does_not() {
        let nodes = vec![node("a", &["a"], &[]), node("b", &["b"], &[])];
        let mut deferrable = fk("b", "a_id", "a");
        deferrable.deferrable = true;
        let fks = vec![fk("a", "b_id", "b"), deferrable];
        let ordered = order(&nodes, &fks, not_null).unwrap();
        assert_eq!(tables(&ordered), ["b", "a"]);
        assert_eq!(ordered.forward_refs[0].can_wait, CanWait::Deferrable);
        // The same link, also a resolved id: the plugin needs the ids before it runs.
        let nodes = vec![node("a", &["a"], &[]), node("b", &["b"], &["a"])];
        assert!(order(&nodes, &fks, not_null).is_err());
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
        assert_eq!(order(&nodes, &fks, not_null).unwrap().steps.len(), 2);
    }

    #[test]
    fn self_references_do_not_block_and_wait_when_nullable() {
        let nodes = vec![node("categories", &["categories"], &["categories"])];
        let fks = vec![fk("categories", "parent_id", "categories")];
        let ordered = order(&nodes, &fks, not_null).unwrap();
        assert_eq!(ordered.steps.len(), 1);
        assert!(
            ordered.forward_refs.is_empty(),
            "a NOT NULL self-reference is proven per batch"
        );
        let ordered = order(&nodes, &fks, |_| true).unwrap();
        assert_eq!(
            ordered.forward_refs[0].to_string(),
            "self-reference categories.parent_id (nullable): filled as a forward reference, checked after categories is done"
        );
    }
}
