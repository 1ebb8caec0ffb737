//! `host check`: everything that can be known before a row moves, all problems at once.
//!
//! The same analysis guards `host run`, which refuses to start while any problem remains.

use std::collections::BTreeMap;

use anyhow::Context;
use tokio_postgres::Client;

use crate::order::{self, Step};
use crate::pg::{self, qualified, Column, ForeignKey, TableInfo};
use crate::plan::{Plan, TablePlan};
use crate::wasm::{Description, Plugin, Runtime};

/// One thing wrong, with the table it concerns (None: the plan or a database).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    pub table: Option<String>,
    pub message: String,
}

/// `problems` as a list for a message, one `- problem` per line.
pub fn problem_list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("- {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.table {
            Some(t) => write!(f, "[{t}] {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A plan table whose plugin loaded and described itself.
#[derive(Clone)]
pub struct Prepared {
    pub plan: TablePlan,
    pub plugin: Plugin,
    pub description: Description,
    /// The source columns the plugin reads, in its order (set once the source was checked).
    pub source_columns: Vec<Column>,
    /// For each table the plugin writes (in its order), the target columns in its order.
    pub target_columns: Vec<(String, Vec<Column>)>,
}

/// What `check` learned.
pub struct Analysis {
    pub tables: Vec<Prepared>,
    pub order: Option<Vec<Step>>,
    /// The foreign keys the order does not wait for (cycles broken there, self-references).
    pub forward_refs: Vec<order::ForwardRef>,
    pub problems: Vec<Problem>,
}

/// Where an adopted table's rows are in the target: table, legacy-id column, id column.
#[derive(Debug, Clone, PartialEq)]
pub struct AdoptTarget {
    pub table: String,
    pub legacy_id: String,
    pub id: String,
}

impl Prepared {
    /// Where the earlier migration left this table's rows, if the plan adopts it.
    pub fn adopt_target(&self) -> Option<AdoptTarget> {
        let a = self.plan.adopt.as_ref()?;
        let table = a
            .table
            .clone()
            .or_else(|| self.description.writes.first().map(|w| w.table.clone()))?;
        Some(AdoptTarget {
            table,
            legacy_id: a.legacy_id.clone(),
            id: a.id.clone(),
        })
    }
}

impl Analysis {
    pub fn prepared(&self, name: &str) -> Option<&Prepared> {
        self.tables.iter().find(|t| t.plan.name == name)
    }
}

/// Loads every plugin and checks what it declares against both schemas. Databases that could
/// not be reached are `None`; their problems were already reported by the caller. The whole
/// analysis (with the column types probed in the databases) is `session::analyze`.
pub async fn analyze_declared(
    plan: &Plan,
    runtime: &Runtime,
    source: Option<&Client>,
    target: Option<&Client>,
) -> anyhow::Result<Analysis> {
    let mut problems = Vec::new();
    let mut tables = Vec::new();
    for t in &plan.tables {
        if let Some(prepared) = prepare(t, runtime, &mut problems) {
            tables.push(prepared);
        }
    }
    keep_id_maps(&mut tables);
    if let Some(source) = source {
        check_source_side(plan, source, &mut tables, &mut problems).await?;
    }
    let mut ordered = None;
    if let Some(target) = target {
        ordered = check_target_side(plan, target, &mut tables, &mut problems).await?;
    }
    let (order, forward_refs) = match ordered {
        Some(o) => (Some(o.steps), o.forward_refs),
        None => (None, Vec::new()),
    };
    Ok(Analysis {
        tables,
        order,
        forward_refs,
        problems,
    })
}

/// Which tables' id-map rows are written: those a plugin of the plan resolves (the map is how
/// it finds their rows), adopted ones (their UUIDs are an earlier migration's, kept nowhere
/// else) and those whose plan entry says `keep_id_map`. The others' UUIDs are minted from
/// their keys, so no reader needs a map of them.
pub fn keep_id_maps(tables: &mut [Prepared]) {
    let resolved: std::collections::BTreeSet<String> = tables
        .iter()
        .flat_map(|t| t.description.resolves.iter().cloned())
        .collect();
    for t in tables.iter_mut() {
        t.plan.keep_id_map |= t.plan.adopt.is_some() || resolved.contains(&t.plan.name);
    }
}

/// Whether `host rollback` must refuse to start over `p`: every problem but a map not kept,
/// which rolling the table back is how to fix.
pub fn problem_blocks_rollback(p: &Problem) -> bool {
    !p.message.contains(crate::state::NO_ID_MAP_ROWS)
}

/// The entities `t` resolves whose rows were committed without id-map rows: every resolve of
/// one would answer "not migrated". `decisions` is `state::id_map_decisions`.
fn unkept_resolves(t: &Prepared, decisions: &BTreeMap<String, (bool, i64)>) -> Vec<String> {
    t.description
        .resolves
        .iter()
        .filter_map(|e| match decisions.get(e) {
            Some(&(false, written)) if written > 0 => Some(format!(
                "its plugin resolves {e}, but {}",
                crate::state::id_map_not_kept(e, written)
            )),
            _ => None,
        })
        .collect()
}

/// Loads a table's plugin and asks it what it does; None (with the problem) when either fails.
fn prepare(t: &TablePlan, runtime: &Runtime, problems: &mut Vec<Problem>) -> Option<Prepared> {
    let problem = |message: String| Problem {
        table: Some(t.name.clone()),
        message,
    };
    let plugin = match runtime.load(&t.plugin) {
        Ok(p) => p,
        Err(e) => {
            problems.push(problem(e.to_string()));
            return None;
        }
    };
    let description = match plugin
        .instantiate(Default::default(), &t.name)
        .and_then(|mut i| i.describe())
    {
        Ok(d) => d,
        Err(e) => {
            problems.push(problem(format!("describe() failed: {e}")));
            return None;
        }
    };
    problems.extend(
        description_problems(t, &description)
            .into_iter()
            .map(problem),
    );
    Some(Prepared {
        plan: t.clone(),
        plugin,
        description,
        source_columns: Vec::new(),
        target_columns: Vec::new(),
    })
}

/// What a plugin says it does, against its plan table: the same legacy table.
fn description_problems(t: &TablePlan, description: &Description) -> Vec<String> {
    let mut problems = Vec::new();
    if description.source_table != t.name {
        problems.push(format!(
            "plugin {} transforms `{}`, not `{}`: point this table at the right plugin",
            t.plugin.display(),
            description.source_table,
            t.name
        ));
    }
    problems
}

/// Every plugin's reads against the source tables and each table's key; then the keys'
/// values where no unique index vouches for them.
async fn check_source_side(
    plan: &Plan,
    source: &Client,
    tables: &mut [Prepared],
    problems: &mut Vec<Problem>,
) -> anyhow::Result<()> {
    let catalog = pg::tables(source, &plan.source_schema).await?;
    let keys = pg::table_keys(source, &plan.source_schema).await?;
    for t in tables.iter_mut() {
        let table_keys = keys.get(&t.description.source_table);
        resolve_key(t, table_keys.map(Vec::as_slice).unwrap_or_default());
        check_source(t, &catalog, &plan.source_schema, problems);
    }
    for t in tables.iter() {
        let Some(info) = catalog.get(&t.description.source_table) else {
            continue;
        };
        let key: Vec<&Column> = t.plan.key.iter().filter_map(|k| info.column(k)).collect();
        let vouched = keys
            .get(&t.description.source_table)
            .is_some_and(|ks| ks.iter().any(|k| same_columns(k, &t.plan.key)));
        if !key.is_empty() && key.len() == t.plan.key.len() && !vouched {
            check_key_values(source, &plan.source_schema, t, &key, problems).await?;
        }
    }
    Ok(())
}

/// The plan's key, or else the source table's primary key (else its first unique NOT NULL
/// column set). Left empty when the table has neither (`check_source` says what to do).
fn resolve_key(t: &mut Prepared, table_keys: &[Vec<String>]) {
    if t.plan.key.is_empty() {
        t.plan.key = table_keys.first().cloned().unwrap_or_default();
    }
}

fn same_columns(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|c| b.contains(c))
}

/// Every plugin's writes (and adopted tables) against the target tables; then the order the
/// tables run in, when every plugin loaded and their dependencies have no cycle that cannot
/// be broken at a nullable or DEFERRABLE key.
async fn check_target_side(
    plan: &Plan,
    target: &Client,
    tables: &mut [Prepared],
    problems: &mut Vec<Problem>,
) -> anyhow::Result<Option<order::Ordered>> {
    let catalog = pg::tables(target, &plan.target_schema).await?;
    let fks = pg::foreign_keys(target, &plan.target_schema).await?;
    let decisions = crate::state::id_map_decisions(target).await?;
    for t in tables.iter_mut() {
        check_target(t, &catalog, &plan.target_schema, problems);
        check_adopted(t, &catalog, target, &plan.target_schema, problems).await?;
        problems.extend(
            unkept_resolves(t, &decisions)
                .into_iter()
                .map(|message| Problem {
                    table: Some(t.plan.name.clone()),
                    message,
                }),
        );
    }
    let loaded_all = tables.len() == plan.tables.len();
    Ok(match order_tables(tables, &fks, &catalog) {
        Ok(steps) if loaded_all => Some(steps),
        Ok(_) => None,
        Err(cycle) => {
            problems.push(Problem {
                table: None,
                message: cycle.to_string(),
            });
            None
        }
    })
}

/// Whether a column holds integers (an adopted table's key must: its legacy ids are integers).
fn is_integer(column: &Column) -> bool {
    matches!(column.type_name.as_str(), "int2" | "int4" | "int8")
}

/// The key rows are paged and checkpointed by: it must exist, be of an orderable type with an
/// exact text, and be read by the plugin (the key is taken from the row it reads).
fn key_problems(t: &Prepared, info: &TableInfo, schema: &str) -> Vec<String> {
    let table = &t.description.source_table;
    if t.plan.key.is_empty() {
        return vec![format!(
            "source table {schema}.{table} has no primary key and no unique index over NOT NULL columns: rows are paged, checkpointed and recorded by a key\n  hint: name a unique NOT NULL column set in the plan (key = [\"a\", \"b\"]); adding a primary key to the source is not needed"
        )];
    }
    let mut problems = Vec::new();
    for name in &t.plan.key {
        match info.column(name) {
            None => problems.push(format!(
                "key column `{name}` does not exist in source table {table} (it has: {})",
                column_names(info)
            )),
            Some(c) if !crate::key::is_key_type(&c.type_name) => problems.push(format!(
                "key column `{name}` is {}, which cannot be a key (no exact, ordered text)\n  hint: set `key` in the plan to other unique NOT NULL columns",
                c.sql_type
            )),
            Some(_) if !t.description.reads.contains(name) => problems.push(format!(
                "the plugin does not read key column `{name}` (it reads {:?}): add it to reads; each row's key is taken from the values it reads",
                t.description.reads
            )),
            Some(_) => {}
        }
    }
    if t.plan.adopt.is_some() {
        let integer =
            matches!(t.plan.key.as_slice(), [k] if info.column(k).is_some_and(is_integer));
        if !integer {
            problems.push(format!(
                "adopt needs a single integer key (its legacy ids are integers), and the key is {:?}",
                t.plan.key
            ));
        }
    }
    problems
}

fn check_source(
    t: &mut Prepared,
    catalog: &BTreeMap<String, TableInfo>,
    schema: &str,
    problems: &mut Vec<Problem>,
) {
    let problem = |message: String| Problem {
        table: Some(t.plan.name.clone()),
        message,
    };
    let Some(info) = catalog.get(&t.description.source_table) else {
        problems.push(problem(format!(
            "source table {schema}.{} does not exist\n  hint: check the table name in the plan and [source] schema, or that the source URL points at the legacy database",
            t.description.source_table
        )));
        return;
    };
    let mut columns = Vec::new();
    for name in &t.description.reads {
        match info.column(name) {
            Some(c) => columns.push(c.clone()),
            None => problems.push(problem(format!(
                "the plugin reads column `{name}`, which source table {} does not have (it has: {})",
                t.description.source_table,
                column_names(info)
            ))),
        }
    }
    problems.extend(key_problems(t, info, schema).into_iter().map(problem));
    if columns.len() == t.description.reads.len() {
        t.source_columns = columns;
    }
}

/// Rows are paged and checkpointed by the key, so every row needs one and no two may share
/// one (rows with the same key on both sides of a batch boundary would be lost). A key that
/// is a primary key or a unique index over NOT NULL columns is fine as it is (the caller
/// skips those); anything else is looked at in the data.
async fn check_key_values(
    source: &Client,
    schema: &str,
    t: &Prepared,
    key: &[&Column],
    problems: &mut Vec<Problem>,
) -> anyhow::Result<()> {
    let table = &t.description.source_table;
    let qtable = pg::qualified(schema, table);
    let names: Vec<&str> = key.iter().map(|c| c.name.as_str()).collect();
    let columns = key
        .iter()
        .map(|c| pg::ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let problem = |message: String| Problem {
        table: Some(t.plan.name.clone()),
        message,
    };
    let nullable: Vec<String> = key
        .iter()
        .filter(|c| !c.not_null)
        .map(|c| format!("{} IS NULL", pg::ident(&c.name)))
        .collect();
    if !nullable.is_empty() {
        let nulls: i64 = source
            .query_one(
                &format!(
                    "SELECT count(*) FROM {qtable} WHERE {}",
                    nullable.join(" OR ")
                ),
                &[],
            )
            .await
            .with_context(|| format!("looking for NULL keys in {schema}.{table}"))?
            .get(0);
        if nulls > 0 {
            problems.push(problem(format!(
                "source table {schema}.{table} has {nulls} row(s) with a NULL in key {names:?}: rows are read and checkpointed in key order, so every row needs a key\n  hint: give those rows a key (or delete them) in the source, or set `key` in the plan to NOT NULL columns"
            )));
        }
    }
    let duplicate = source
        .query_opt(
            &format!("SELECT ({columns})::text, count(*) FROM {qtable} WHERE ({columns}) IS NOT NULL GROUP BY {columns} HAVING count(*) > 1 ORDER BY 2 DESC, 1 LIMIT 1"),
            &[],
        )
        .await
        .with_context(|| format!("looking for duplicate keys in {schema}.{table}"))?;
    if let Some(row) = duplicate {
        let (value, count): (String, i64) = (row.get(0), row.get(1));
        problems.push(problem(format!(
            "key {names:?} of source table {schema}.{table} is not unique ({value} appears {count} times): rows sharing a key could be lost between two batches\n  hint: set `key` in the plan to unique columns (the primary key, say)"
        )));
    }
    Ok(())
}

/// An adopted table must name an existing, filled target table with both columns.
async fn check_adopted(
    t: &Prepared,
    catalog: &BTreeMap<String, TableInfo>,
    target: &Client,
    schema: &str,
    problems: &mut Vec<Problem>,
) -> anyhow::Result<()> {
    let Some(a) = t.adopt_target() else {
        return Ok(());
    };
    let problem = |message: String| Problem {
        table: Some(t.plan.name.clone()),
        message,
    };
    let Some(info) = catalog.get(&a.table) else {
        problems.push(problem(format!(
            "adopt: target table {schema}.{} does not exist\n  hint: name the table the earlier migration filled (adopt = {{ table = \"...\" }})",
            a.table
        )));
        return Ok(());
    };
    let mut complete = true;
    for (what, column, types) in [
        ("legacy_id", &a.legacy_id, &["int2", "int4", "int8"][..]),
        ("id", &a.id, &["uuid"][..]),
    ] {
        match info.column(column) {
            Some(c) if types.contains(&c.type_name.as_str()) => {}
            Some(c) => {
                complete = false;
                problems.push(problem(format!(
                    "adopt: {}.{column} is {}, but the {what} column must be one of {types:?}",
                    a.table, c.type_name
                )))
            }
            None => {
                complete = false;
                problems.push(problem(format!(
                    "adopt: target table {} has no column `{column}` (it has: {})\n  hint: set adopt = {{ {what} = \"<column>\" }}",
                    a.table,
                    column_names(info)
                )))
            }
        }
    }
    if !complete {
        return Ok(());
    }
    let rows: i64 = target
        .query_one(
            &format!("SELECT count(*) FROM {}", qualified(schema, &a.table)),
            &[],
        )
        .await
        .with_context(|| format!("counting the adopted rows of {}", a.table))?
        .get(0);
    if rows == 0 {
        problems.push(problem(format!(
            "adopt: target table {schema}.{} is empty, so there is nothing to adopt\n  hint: point --target at the database the earlier migration filled, or remove `adopt` from this table to migrate it here",
            a.table
        )));
    }
    Ok(())
}

fn check_target(
    t: &mut Prepared,
    catalog: &BTreeMap<String, TableInfo>,
    schema: &str,
    problems: &mut Vec<Problem>,
) {
    let problem = |message: String| Problem {
        table: Some(t.plan.name.clone()),
        message,
    };
    let mut resolved = Vec::new();
    for w in &t.description.writes {
        let Some(info) = catalog.get(&w.table) else {
            problems.push(problem(format!(
                "the plugin writes target table {schema}.{}, which does not exist\n  hint: create it in the target schema (schema/target.sql) or fix the plugin's describe()",
                w.table
            )));
            continue;
        };
        let mut columns = Vec::new();
        for name in &w.columns {
            match info.column(name) {
                Some(c) => columns.push(c.clone()),
                None => problems.push(problem(format!(
                    "the plugin writes column `{name}`, which target table {} does not have (it has: {})",
                    w.table,
                    column_names(info)
                ))),
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for name in &w.columns {
            if !seen.insert(name) {
                problems.push(problem(format!(
                    "the plugin writes column `{name}` of {} twice",
                    w.table
                )));
            }
        }
        for c in &info.columns {
            if c.not_null && !c.has_default && !w.columns.contains(&c.name) {
                problems.push(problem(format!(
                    "target column {}.{} is NOT NULL without a default, but the plugin does not write it: every row would fail",
                    w.table, c.name
                )));
            }
        }
        if columns.len() == w.columns.len() {
            resolved.push((w.table.clone(), columns));
        }
    }
    if resolved.len() == t.description.writes.len() {
        t.target_columns = resolved;
    }
}

/// Checks what a replacement component for `old` (a hot swap) declares as `host check` would:
/// the same legacy table, its reads in the source table, its writes in the target. Returns
/// the problems. The column types it writes are check_types.rs's (above this module): a hot
/// swap runs both (`run::check_swap`).
pub async fn recheck(
    new: &mut Prepared,
    plan: &Plan,
    old: &Prepared,
    source_info: &TableInfo,
    target: &Client,
) -> anyhow::Result<Vec<Problem>> {
    let mut problems = Vec::new();
    if new.description.source_table != old.description.source_table {
        problems.push(Problem {
            table: None,
            message: format!(
                "it transforms `{}`, not `{}`",
                new.description.source_table, old.description.source_table
            ),
        });
    }
    let source = BTreeMap::from([(new.description.source_table.clone(), source_info.clone())]);
    check_source(new, &source, &plan.source_schema, &mut problems);
    let catalog = pg::tables(target, &plan.target_schema).await?;
    check_target(new, &catalog, &plan.target_schema, &mut problems);
    // An entity the old component did not resolve may have begun without its map, or not
    // begun yet, and then begin without one (the plan's analysis did not see this resolve):
    // the new component may resolve it only once its map is recorded as kept, or (its own
    // table, not begun yet) when its own table then begins keeping it.
    let decisions = crate::state::id_map_decisions(target).await?;
    let problem = |message| Problem {
        table: None,
        message,
    };
    problems.extend(unkept_resolves(new, &decisions).into_iter().map(problem));
    let own = new.plan.name.clone();
    for e in &new.description.resolves {
        let decided = decisions.get(e).map(|&(kept, _)| kept);
        if e == &own && decided.is_none() {
            new.plan.keep_id_map = true;
        } else if !old.description.resolves.contains(e)
            && decided != Some(true)
            && !matches!(decisions.get(e), Some(&(false, written)) if written > 0)
        {
            problems.push(problem(format!(
                "it resolves {e}, which the running component does not, and {e} has not begun with its id map kept, so its rows may get no id-map rows and every resolve would answer \"not migrated\"\n  hint: declare {e} in the resolves of the component the run starts with (or set keep_id_map = true on [[table]] {e}) and run again"
            )));
        }
    }
    Ok(problems)
}

fn column_names(info: &TableInfo) -> String {
    info.columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn order_tables(
    tables: &[Prepared],
    fks: &[ForeignKey],
    catalog: &BTreeMap<String, TableInfo>,
) -> Result<order::Ordered, order::Cycle> {
    let nodes: Vec<order::Node> = tables
        .iter()
        .map(|t| order::Node {
            name: t.plan.name.clone(),
            writes: t
                .description
                .writes
                .iter()
                .map(|w| w.table.clone())
                .collect(),
            resolves: t.description.resolves.clone(),
            depends_on: t.plan.depends_on.clone(),
        })
        .collect();
    // A key can hold a forward reference set to NULL when all its columns are nullable.
    let nullable = |fk: &ForeignKey| {
        catalog.get(&fk.table).is_some_and(|info| {
            fk.columns
                .iter()
                .all(|c| info.column(c).is_some_and(|c| !c.not_null))
        })
    };
    order::order(&nodes, fks, nullable)
}

/// Connects to one side for `check`, turning a failure into a problem.
pub async fn connect_or_report(
    url: &str,
    side: pg::Side,
    problems: &mut Vec<Problem>,
) -> Option<Client> {
    match pg::connect(url, side).await {
        Ok(c) => Some(c),
        Err(e) => {
            problems.push(Problem {
                table: None,
                message: format!("{e:#}"),
            });
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Overrides;

    fn table_plan() -> TablePlan {
        let text = "[source]\nurl = \"postgres://a@h/s\"\n[target]\nurl = \"postgres://a@h/t\"\n[[table]]\nname = \"offices\"\nplugin = \"offices.wasm\"\n";
        let plan = Plan::parse(
            std::path::Path::new("/lab/plan.toml"),
            text,
            &Overrides::default(),
        )
        .unwrap();
        plan.tables[0].clone()
    }

    fn description(source_table: &str, reads: &[&str]) -> Description {
        Description {
            source_table: source_table.into(),
            reads: reads.iter().map(|r| r.to_string()).collect(),
            writes: Vec::new(),
            resolves: Vec::new(),
        }
    }

    #[test]
    fn a_plugin_must_transform_its_table() {
        let t = table_plan();
        // The key may be read anywhere: rows carry it wherever `reads` puts it.
        assert!(description_problems(&t, &description("offices", &["name", "id"])).is_empty());
        assert_eq!(
            description_problems(&t, &description("doctors", &["name", "id"])),
            [
                "plugin /lab/offices.wasm transforms `doctors`, not `offices`: point this table at the right plugin",
            ]
        );
    }

    #[test]
    fn keys_are_integers_of_any_width() {
        let column = |type_name: &str| Column {
            name: "id".into(),
            type_oid: 0,
            type_name: type_name.into(),
            max_chars: None,
            numeric_precision: None,
            not_null: true,
            has_default: false,
            enum_labels: None,
            sql_type: type_name.into(),
            element: None,
        };
        for t in ["int2", "int4", "int8"] {
            assert!(is_integer(&column(t)), "{t}");
        }
        for t in ["numeric", "uuid", "text"] {
            assert!(!is_integer(&column(t)), "{t}");
        }
    }

    #[test]
    fn a_problem_names_its_table() {
        let p = Problem {
            table: Some("offices".into()),
            message: "broken".into(),
        };
        assert_eq!(p.to_string(), "[offices] broken");
        let p = Problem {
            table: None,
            message: "broken".into(),
        };
        assert_eq!(p.to_string(), "broken");
    }
}
