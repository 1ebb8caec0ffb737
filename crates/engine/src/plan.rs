//! The migration plan (`plan.toml`): parsed strictly, then resolved against the command line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Problems with the plan file itself; each says what to change.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read plan {path}: {source}\n  hint: pass the path of an existing plan.toml")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid plan:\n{message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// `plan.toml` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    /// The legacy database to read.
    pub source: Endpoint,
    /// The new database to write; its `migration` schema holds the run state.
    pub target: TargetEndpoint,
    /// Defaults for every table.
    #[serde(default)]
    pub defaults: Defaults,
    /// The tables to migrate; the order they run in comes from the dependencies, not from here.
    #[serde(rename = "table", default)]
    pub tables: Vec<RawTable>,
    /// Thresholds `host validate` holds the run to.
    #[serde(default)]
    pub validate: ValidateCriteria,
}

/// Success criteria `host validate` holds the migration to, beyond its own checks. None is
/// set unless the plan says so: what share of rows must make it is the migration's call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateCriteria {
    /// Share of all source rows that must be migrated (written or deliberately skipped), e.g.
    /// 0.98; unset, the share is reported without a threshold.
    #[serde(default)]
    pub min_success_rate: Option<f64>,
    /// The share the tables of `core_phase` must exceed, e.g. 0.99.
    #[serde(default)]
    pub min_core_success_rate: Option<f64>,
    /// Which table `phase` holds the core entities, whose share is reported on its own.
    #[serde(default)]
    pub core_phase: Option<String>,
    /// Source rows per table re-transformed and compared with the target.
    #[serde(default = "default_sample_rows")]
    pub sample_rows: usize,
}

impl Default for ValidateCriteria {
    fn default() -> Self {
        ValidateCriteria {
            min_success_rate: None,
            min_core_success_rate: None,
            core_phase: None,
            sample_rows: default_sample_rows(),
        }
    }
}

fn default_sample_rows() -> usize {
    200
}

/// A money column whose sum must agree between source and target, to the cent.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MoneyCheck {
    /// The source column (of this table).
    pub source: String,
    /// `table.column` in the target.
    pub target: String,
    /// How the source stores it: "units" (decimal dollars, the default) or "cents" (integer cents).
    #[serde(default)]
    pub unit: MoneyUnit,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MoneyUnit {
    #[default]
    Units,
    Cents,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// PostgreSQL URL; `--source`/`--target` or MIGRATE_SOURCE_URL/MIGRATE_TARGET_URL override it.
    #[serde(default)]
    pub url: Option<String>,
    /// Schema holding the tables (default `public`).
    #[serde(default = "default_schema")]
    pub schema: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetEndpoint {
    /// PostgreSQL URL; `--target` or MIGRATE_TARGET_URL override it.
    #[serde(default)]
    pub url: Option<String>,
    /// Schema holding the tables (default `public`).
    #[serde(default = "default_schema")]
    pub schema: String,
    /// SQL files creating the target schema, applied in order, in one transaction, by
    /// `host run` when the target schema has no table yet (a fresh database).
    #[serde(default)]
    pub schema_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Source rows per plugin call and per target transaction.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Largest share of a table's rows that may be quarantined before the table stops.
    #[serde(default = "default_max_reject_rate")]
    pub max_reject_rate: f64,
    /// Tables migrated at the same time, each over its own pair of connections, when the
    /// dependency order allows (the target's writes are most of the work: one per core).
    #[serde(default = "default_parallel_tables")]
    pub parallel_tables: usize,
    /// A table with more source rows than this is split into key ranges ("chunks") of about
    /// this many rows when it first starts: each chunk has its own checkpoint, chunks of one
    /// table run side by side (in this process and in any `host worker`), and the table is
    /// done when its last chunk is. 0: never split. A table whose plugin resolves its own
    /// rows, or that is adopted, is never split (its rows depend on the rows before them).
    #[serde(default = "default_chunk_rows")]
    pub chunk_rows: u64,
    /// How long a transient database fault (lost connection, server restart, terminated
    /// backend, serialization failure, deadlock) is ridden out before the run stops: the runner
    /// pauses (0.25 s, doubling up to 15 s), reconnects and resumes after the last committed
    /// batch. 0 stops at the first fault.
    #[serde(default = "default_fault_timeout_seconds")]
    pub fault_timeout_seconds: u64,
    /// How tables load (see `LoadMode`); a table's own `load_mode` wins.
    #[serde(default)]
    pub load_mode: LoadMode,
    /// Log lines (from the `log` import, stdout and stderr) a plugin may print per batch,
    /// the re-runs of a bisected batch included; the rest are counted and summarised in one line.
    #[serde(default = "default_log_lines_per_batch")]
    pub log_lines_per_batch: u64,
    /// Bytes of log a plugin may print per batch (same budget, counted after truncation).
    #[serde(default = "default_log_bytes_per_batch")]
    pub log_bytes_per_batch: u64,
    /// Longest log line printed; a longer one is cut with a `… [truncated N bytes]` marker.
    #[serde(default = "default_log_line_max_bytes")]
    pub log_line_max_bytes: usize,
    /// Target rows one input row may produce; a row producing more is quarantined.
    #[serde(default = "default_max_rows_per_input")]
    pub max_rows_per_input: usize,
    /// Bytes of values one plugin call may return; a larger result fails the call, which is
    /// bisected like a trap until the row responsible is quarantined.
    #[serde(default = "default_max_output_bytes_per_call")]
    pub max_output_bytes_per_call: u64,
}

/// How a table's rows are written to its target tables.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadMode {
    /// Foreign keys and plain indexes that only this run can affect are set aside while it
    /// loads, each batch proves its own keys, and all are put back (validated) at the end.
    /// Refused for a target table that already holds rows this migration did not write,
    /// unless the table's own entry says `load_mode = "bulk"`.
    #[default]
    Bulk,
    /// Nothing is set aside: PostgreSQL checks every row against every key as it is written
    /// (for a target other applications use while the migration runs).
    Checked,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            batch_size: default_batch_size(),
            max_reject_rate: default_max_reject_rate(),
            parallel_tables: default_parallel_tables(),
            chunk_rows: default_chunk_rows(),
            fault_timeout_seconds: default_fault_timeout_seconds(),
            load_mode: LoadMode::default(),
            log_lines_per_batch: default_log_lines_per_batch(),
            log_bytes_per_batch: default_log_bytes_per_batch(),
            log_line_max_bytes: default_log_line_max_bytes(),
            max_rows_per_input: default_max_rows_per_input(),
            max_output_bytes_per_call: default_max_output_bytes_per_call(),
        }
    }
}

fn default_log_lines_per_batch() -> u64 {
    PluginLimits::DEFAULT.log_lines_per_batch
}
fn default_log_bytes_per_batch() -> u64 {
    PluginLimits::DEFAULT.log_bytes_per_batch
}
fn default_log_line_max_bytes() -> usize {
    PluginLimits::DEFAULT.log_line_max_bytes
}
fn default_max_rows_per_input() -> usize {
    PluginLimits::DEFAULT.max_rows_per_input
}
fn default_max_output_bytes_per_call() -> u64 {
    PluginLimits::DEFAULT.max_output_bytes_per_call
}

/// What one table's plugin may print and return, enforced by the host so that a plugin that
/// logs in a loop or returns millions of rows cannot exhaust the host (`[defaults]`, or per
/// table; see `Defaults` for each key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    pub log_lines_per_batch: u64,
    pub log_bytes_per_batch: u64,
    pub log_line_max_bytes: usize,
    pub max_rows_per_input: usize,
    pub max_output_bytes_per_call: u64,
}

impl PluginLimits {
    pub const DEFAULT: PluginLimits = PluginLimits {
        log_lines_per_batch: 200,
        log_bytes_per_batch: 256 << 10,
        log_line_max_bytes: 4 << 10,
        max_rows_per_input: 10_000,
        max_output_bytes_per_call: 64 << 20,
    };
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits::DEFAULT
    }
}

fn default_parallel_tables() -> usize {
    2
}

fn default_chunk_rows() -> u64 {
    250_000
}

fn default_fault_timeout_seconds() -> u64 {
    300
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTable {
    /// The legacy table; also the id-map entity its rows are recorded under.
    pub name: String,
    /// The transform component (`.wasm`), relative to the plan file.
    pub plugin: PathBuf,
    /// Reporting group (e.g. "core", "financial"); does not affect the order.
    #[serde(default)]
    pub phase: Option<String>,
    /// Tables that must finish first, beyond what the target's foreign keys imply.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// The key rows are paged, checkpointed and recorded by: a column (`key = "id"`) or a
    /// column list (`key = ["book_id", "author_id"]`), unique and NOT NULL. Default: the
    /// source table's primary key (else its first unique NOT NULL column set).
    #[serde(default)]
    pub key: Option<KeyColumns>,
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// This table's `chunk_rows` (see `[defaults]`); 0 never splits it.
    #[serde(default)]
    pub chunk_rows: Option<u64>,
    #[serde(default)]
    pub max_reject_rate: Option<f64>,
    #[serde(default)]
    pub log_lines_per_batch: Option<u64>,
    #[serde(default)]
    pub log_bytes_per_batch: Option<u64>,
    #[serde(default)]
    pub log_line_max_bytes: Option<usize>,
    #[serde(default)]
    pub max_rows_per_input: Option<usize>,
    #[serde(default)]
    pub max_output_bytes_per_call: Option<u64>,
    /// Money columns `host validate` sums in source and target.
    #[serde(default)]
    pub money: Vec<MoneyCheck>,
    /// The table was already migrated by an earlier tool: `true` (the plugin's first target
    /// table, ids in `id`, legacy ids in `legacy_id`) or `{ table, legacy_id, id }`. Its rows
    /// are adopted, not written: their UUIDs go into the id map, source rows without a
    /// counterpart are quarantined (`host retry` migrates them), extra target rows reported.
    #[serde(default)]
    pub adopt: Option<RawAdopt>,
    /// `"bulk"` or `"checked"` (default: `[defaults] load_mode`, itself `"bulk"`). Written
    /// here as `"bulk"`, it also allows bulk loading into target tables that already hold
    /// rows others wrote (otherwise refused).
    #[serde(default)]
    pub load_mode: Option<LoadMode>,
}

/// `key = "id"` or `key = ["a", "b"]`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyColumns(pub Vec<String>);

impl<'de> Deserialize<'de> for KeyColumns {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let columns = match toml::Value::deserialize(d)? {
            toml::Value::String(s) => vec![s],
            toml::Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s),
                    other => Err(D::Error::custom(format!(
                        "key: a column name must be a string, not {other}"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            other => Err(D::Error::custom(format!(
                "key must be a column name or a list of them, not {other}"
            )))?,
        };
        if columns.is_empty() || columns.iter().any(String::is_empty) {
            return Err(D::Error::custom(
                "key: name at least one column, none empty",
            ));
        }
        Ok(KeyColumns(columns))
    }
}

/// `adopt = true` or `adopt = { table = "...", legacy_id = "...", id = "..." }`.
#[derive(Debug, Clone)]
pub enum RawAdopt {
    Flag(bool),
    Columns(AdoptColumns),
}

impl<'de> Deserialize<'de> for RawAdopt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match toml::Value::deserialize(d)? {
            toml::Value::Boolean(b) => Ok(RawAdopt::Flag(b)),
            v @ toml::Value::Table(_) => AdoptColumns::deserialize(v)
                .map(RawAdopt::Columns)
                .map_err(|e| D::Error::custom(format!("adopt: {}", e.message()))),
            other => Err(D::Error::custom(format!(
                "adopt must be true, false or {{ table = \"...\", legacy_id = \"...\", id = \"...\" }}, not {other}"
            ))),
        }
    }
}

/// Where an earlier migration left a table's rows.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdoptColumns {
    /// The target table holding the rows (default: the first table the plugin writes).
    #[serde(default)]
    pub table: Option<String>,
    /// Its column holding the legacy id.
    #[serde(default = "default_legacy_id")]
    pub legacy_id: String,
    /// Its uuid key column.
    #[serde(default = "default_key")]
    pub id: String,
}

fn default_legacy_id() -> String {
    "legacy_id".into()
}

fn default_schema() -> String {
    "public".into()
}
fn default_batch_size() -> usize {
    1000
}
/// A table stops once more than 2% of its rows are quarantined: at that rate the plugin or
/// the data is wrong, and going on fills the quarantine instead of the target. A plan may
/// set its own.
fn default_max_reject_rate() -> f64 {
    0.02
}
fn default_key() -> String {
    "id".into()
}

/// The plan, validated and resolved: URLs chosen, paths absolute, defaults applied.
#[derive(Debug, Clone)]
pub struct Plan {
    pub path: PathBuf,
    pub source_url: String,
    pub source_schema: String,
    pub target_url: String,
    pub target_schema: String,
    pub target_schema_files: Vec<PathBuf>,
    pub tables: Vec<TablePlan>,
    pub validate: ValidateCriteria,
    /// Tables migrated at the same time (`[defaults] parallel_tables`).
    pub parallel_tables: usize,
    /// How long a transient fault is ridden out (`[defaults] fault_timeout_seconds`).
    pub fault_timeout: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct TablePlan {
    pub name: String,
    pub plugin: PathBuf,
    pub phase: String,
    pub depends_on: Vec<String>,
    /// The key columns: the plan's `key`, or (empty until `host check` resolves it) the
    /// source table's primary key.
    pub key: Vec<String>,
    pub batch_size: usize,
    /// Split into key-range chunks of about this many rows when larger (0: never).
    pub chunk_rows: u64,
    pub max_reject_rate: f64,
    /// What its plugin may print and return.
    pub limits: PluginLimits,
    pub money: Vec<MoneyCheck>,
    /// Set when an earlier migration already moved this table (see `RawTable::adopt`).
    pub adopt: Option<AdoptColumns>,
    pub load_mode: LoadMode,
    /// The table's own entry says `load_mode = "bulk"`: bulk even over rows others wrote.
    pub bulk_over_existing_rows: bool,
}

/// URL overrides from the command line (already merged with the environment by clap).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub source: Option<String>,
    pub target: Option<String>,
}

impl Plan {
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Plan, PlanError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
            path: path.into(),
            source,
        })?;
        Self::parse(path, &text, overrides)
    }

    pub fn parse(path: &Path, text: &str, overrides: &Overrides) -> Result<Plan, PlanError> {
        // toml's message quotes the offending line, which may be a connection string.
        let raw: RawPlan = toml::from_str(text).map_err(|e| PlanError::Parse {
            path: path.into(),
            message: crate::conninfo::mask_text(&e.to_string()),
        })?;
        raw.resolve(path, overrides)
    }
}

impl RawPlan {
    /// Every problem of the plan at once (URLs, files, defaults, tables, dependencies), or the
    /// plan with URLs chosen, paths made absolute and defaults applied.
    fn resolve(self, path: &Path, overrides: &Overrides) -> Result<Plan, PlanError> {
        let base = plan_dir(path);
        let source_url = overrides.source.clone().or(self.source.url.clone());
        let target_url = overrides.target.clone().or(self.target.url.clone());

        let mut problems = url_problems(&source_url, &target_url);
        problems.extend(self.schema_file_problems(&base));
        problems.extend(self.defaults_problems());
        problems.extend(self.table_problems());
        problems.extend(self.dependency_problems());
        if !problems.is_empty() {
            return Err(PlanError::Invalid {
                path: path.into(),
                message: problems.join("\n"),
            });
        }

        let defaults = &self.defaults;
        let tables = self
            .tables
            .into_iter()
            .map(|t| t.resolve(defaults, &base))
            .collect();
        Ok(Plan {
            path: path.to_path_buf(),
            source_url: source_url.unwrap_or_default(),
            source_schema: self.source.schema,
            target_url: target_url.unwrap_or_default(),
            target_schema: self.target.schema,
            target_schema_files: self
                .target
                .schema_files
                .iter()
                .map(|f| base.join(f))
                .collect(),
            tables,
            validate: self.validate,
            parallel_tables: self.defaults.parallel_tables,
            fault_timeout: std::time::Duration::from_secs(self.defaults.fault_timeout_seconds),
        })
    }

    fn schema_file_problems(&self, base: &Path) -> Vec<String> {
        self.target
            .schema_files
            .iter()
            .map(|file| base.join(file))
            .filter(|file| !file.is_file())
            .map(|file| {
                format!(
                    "[target] schema_files: {} does not exist (paths are relative to the plan file)",
                    file.display()
                )
            })
            .collect()
    }

    /// The plan has tables, and `[defaults]` holds sensible values.
    fn defaults_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.tables.is_empty() {
            problems.push(
                "the plan has no [[table]] entries: add one per legacy table to migrate"
                    .to_string(),
            );
        }
        let d = &self.defaults;
        check_rate(
            &mut problems,
            "[defaults] max_reject_rate",
            d.max_reject_rate,
        );
        if d.batch_size == 0 {
            problems.push("[defaults] batch_size must be at least 1".into());
        }
        if !(1..=16).contains(&d.parallel_tables) {
            problems.push("[defaults] parallel_tables must be between 1 and 16".into());
        }
        check_limits(
            &mut problems,
            "[defaults]",
            &PluginLimits {
                log_lines_per_batch: d.log_lines_per_batch,
                log_bytes_per_batch: d.log_bytes_per_batch,
                log_line_max_bytes: d.log_line_max_bytes,
                max_rows_per_input: d.max_rows_per_input,
                max_output_bytes_per_call: d.max_output_bytes_per_call,
            },
        );
        problems
    }

    /// Each table listed once, with sensible values of its own.
    fn table_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut seen = BTreeSet::new();
        for t in &self.tables {
            if !seen.insert(t.name.as_str()) {
                problems.push(format!(
                    "table `{}` is listed twice: keep one [[table]] entry per legacy table",
                    t.name
                ));
            }
            if t.batch_size == Some(0) {
                problems.push(format!("table `{}`: batch_size must be at least 1", t.name));
            }
            for m in &t.money {
                if m.target.split_once('.').is_none() {
                    problems.push(format!(
                        "table `{}`: money target `{}` must be `table.column`",
                        t.name, m.target
                    ));
                }
            }
            check_limits(
                &mut problems,
                &format!("table `{}`:", t.name),
                &t.limits(&self.defaults),
            );
            if let Some(rate) = t.max_reject_rate {
                check_rate(
                    &mut problems,
                    &format!("table `{}`: max_reject_rate", t.name),
                    rate,
                );
            }
        }
        problems
    }

    /// Every `depends_on` names another table of the plan.
    fn dependency_problems(&self) -> Vec<String> {
        let names: BTreeSet<&str> = self.tables.iter().map(|t| t.name.as_str()).collect();
        let mut problems = Vec::new();
        for t in &self.tables {
            for dep in &t.depends_on {
                if !names.contains(dep.as_str()) {
                    problems.push(format!(
                        "table `{}` depends_on `{dep}`, which is not a table of this plan: add it or remove the dependency",
                        t.name
                    ));
                }
                if dep == &t.name {
                    problems.push(format!(
                        "table `{}` depends on itself: remove it from its depends_on",
                        t.name
                    ));
                }
            }
        }
        problems
    }
}

/// The directory relative paths in the plan are read from: the plan file's own.
fn plan_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Both databases named, each by a URL or connection string the driver can read.
fn url_problems(source_url: &Option<String>, target_url: &Option<String>) -> Vec<String> {
    let mut problems = Vec::new();
    if source_url.is_none() {
        problems.push(
            "no source database: set [source] url, --source or MIGRATE_SOURCE_URL".to_string(),
        );
    }
    if target_url.is_none() {
        problems.push(
            "no target database: set [target] url, --target or MIGRATE_TARGET_URL".to_string(),
        );
    }
    for (side, url) in [("source", source_url), ("target", target_url)] {
        let Some(url) = url else { continue };
        let read = crate::conninfo::ConnInfo::parse(url).and_then(|c| c.driver_config());
        if let Err(e) = read {
            problems.push(format!(
                "the {side} URL {} is not a valid PostgreSQL URL or connection string: {e}\n  hint: write it as postgres://user:password@host:port/database (or host=... dbname=... user=...)",
                crate::conninfo::mask(url)
            ));
        }
    }
    problems
}

impl RawTable {
    /// This table as the plan runs it: its own keys over `[defaults]`, its plugin's path
    /// resolved against `base`.
    fn resolve(self, defaults: &Defaults, base: &Path) -> TablePlan {
        TablePlan {
            limits: self.limits(defaults),
            plugin: base.join(&self.plugin),
            phase: self.phase.unwrap_or_else(|| "default".into()),
            batch_size: self.batch_size.unwrap_or(defaults.batch_size),
            chunk_rows: self.chunk_rows.unwrap_or(defaults.chunk_rows),
            max_reject_rate: self.max_reject_rate.unwrap_or(defaults.max_reject_rate),
            name: self.name,
            depends_on: self.depends_on,
            key: self.key.map(|k| k.0).unwrap_or_default(),
            money: self.money,
            load_mode: self.load_mode.unwrap_or(defaults.load_mode),
            bulk_over_existing_rows: self.load_mode == Some(LoadMode::Bulk),
            adopt: match self.adopt {
                None | Some(RawAdopt::Flag(false)) => None,
                Some(RawAdopt::Flag(true)) => Some(AdoptColumns {
                    table: None,
                    legacy_id: default_legacy_id(),
                    id: default_key(),
                }),
                Some(RawAdopt::Columns(c)) => Some(c),
            },
        }
    }
}

impl RawTable {
    /// This table's plugin limits: its own keys over `[defaults]`.
    fn limits(&self, d: &Defaults) -> PluginLimits {
        PluginLimits {
            log_lines_per_batch: self.log_lines_per_batch.unwrap_or(d.log_lines_per_batch),
            log_bytes_per_batch: self.log_bytes_per_batch.unwrap_or(d.log_bytes_per_batch),
            log_line_max_bytes: self.log_line_max_bytes.unwrap_or(d.log_line_max_bytes),
            max_rows_per_input: self.max_rows_per_input.unwrap_or(d.max_rows_per_input),
            max_output_bytes_per_call: self
                .max_output_bytes_per_call
                .unwrap_or(d.max_output_bytes_per_call),
        }
    }
}

/// Limits that would make the host's bounds meaningless or every row fail.
fn check_limits(problems: &mut Vec<String>, what: &str, l: &PluginLimits) {
    if l.log_line_max_bytes < 80 {
        problems.push(format!(
            "{what} log_line_max_bytes = {} is too small: at least 80 (a line cut shorter says nothing)",
            l.log_line_max_bytes
        ));
    }
    if l.max_rows_per_input == 0 {
        problems.push(format!(
            "{what} max_rows_per_input must be at least 1 (a written row produces at least one target row)"
        ));
    }
    if l.max_output_bytes_per_call < 1024 {
        problems.push(format!(
            "{what} max_output_bytes_per_call = {} is too small: at least 1024",
            l.max_output_bytes_per_call
        ));
    }
}

fn check_rate(problems: &mut Vec<String>, what: &str, rate: f64) {
    if !(0.0..=1.0).contains(&rate) {
        problems.push(format!(
            "{what} = {rate} must be between 0.0 and 1.0 (0.02 means 2% of rows)"
        ));
    }
}

impl Plan {
    pub fn table(&self, name: &str) -> Option<&TablePlan> {
        self.tables.iter().find(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[source]
url = "postgres://a@localhost/legacy"
[target]
url = "postgres://a@localhost/new"
[[table]]
name = "offices"
plugin = "plugins/offices.wasm"
"#;

    #[test]
    fn defaults_apply_and_paths_resolve_against_the_plan() {
        let plan =
            Plan::parse(Path::new("/lab/plan.toml"), MINIMAL, &Overrides::default()).unwrap();
        let t = &plan.tables[0];
        assert_eq!(t.plugin, PathBuf::from("/lab/plugins/offices.wasm"));
        assert_eq!(t.batch_size, 1000);
        assert_eq!(t.max_reject_rate, 0.02);
        assert!(t.key.is_empty(), "resolved from the source's primary key");
        assert_eq!(plan.fault_timeout, std::time::Duration::from_secs(300));
        // No success thresholds unless the plan sets them.
        assert_eq!(plan.validate.min_success_rate, None);
        assert_eq!(plan.validate.min_core_success_rate, None);
        assert_eq!(plan.validate.core_phase, None);
    }

    #[test]
    fn a_key_is_a_column_or_a_column_list() {
        let parse = |key: &str| {
            let text = MINIMAL.replace(
                "plugin = \"plugins/offices.wasm\"",
                &format!("plugin = \"plugins/offices.wasm\"\nkey = {key}"),
            );
            Plan::parse(Path::new("plan.toml"), &text, &Overrides::default())
                .map(|p| p.tables[0].key.clone())
                .map_err(|e| e.to_string())
        };
        assert_eq!(parse(r#""code""#).unwrap(), ["code"]);
        assert_eq!(
            parse(r#"["book_id", "author_id"]"#).unwrap(),
            ["book_id", "author_id"]
        );
        assert!(parse("[]")
            .unwrap_err()
            .contains("name at least one column"));
        assert!(parse("7")
            .unwrap_err()
            .contains("key must be a column name or a list"));
    }

    #[test]
    fn plugin_limits_default_and_a_table_overrides_them() {
        let plan =
            Plan::parse(Path::new("/lab/plan.toml"), MINIMAL, &Overrides::default()).unwrap();
        assert_eq!(plan.tables[0].limits, PluginLimits::DEFAULT);
        let text = MINIMAL.replace(
            "[[table]]",
            "[defaults]\nlog_lines_per_batch = 5\n[[table]]\nmax_rows_per_input = 3",
        );
        let plan = Plan::parse(Path::new("plan.toml"), &text, &Overrides::default()).unwrap();
        let limits = plan.tables[0].limits;
        assert_eq!(
            (limits.log_lines_per_batch, limits.max_rows_per_input),
            (5, 3)
        );
        assert_eq!(
            limits.log_line_max_bytes,
            PluginLimits::DEFAULT.log_line_max_bytes
        );
    }

    #[test]
    fn command_line_urls_win() {
        let o = Overrides {
            source: Some("postgres://x/s".into()),
            target: None,
        };
        let plan = Plan::parse(Path::new("plan.toml"), MINIMAL, &o).unwrap();
        assert_eq!(plan.source_url, "postgres://x/s");
        assert_eq!(plan.target_url, "postgres://a@localhost/new");
    }

    #[test]
    fn urls_must_parse_and_schema_files_exist_and_passwords_stay_hidden() {
        let text = MINIMAL
            .replace(
                "postgres://a@localhost/legacy",
                "postgres://a:pw-4711@localhost:port/legacy",
            )
            .replace("[target]", "[target]\nschema_files = [\"nope.sql\"]");
        let err = Plan::parse(Path::new("/lab/plan.toml"), &text, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the source URL postgres://a:***@localhost:port/legacy is not a valid PostgreSQL URL"),
            "{err}"
        );
        assert!(!err.contains("pw-4711"), "{err}");
        assert!(
            err.contains("[target] schema_files: /lab/nope.sql does not exist"),
            "{err}"
        );
    }

    #[test]
    fn load_mode_defaults_to_bulk_and_a_table_may_say_otherwise() {
        let text = MINIMAL.replace(
            "[[table]]",
            "[defaults]\nload_mode = \"checked\"\n[[table]]",
        )
            + "\n[[table]]\nname = \"doctors\"\nplugin = \"d.wasm\"\nload_mode = \"bulk\"\n";
        let plan = Plan::parse(Path::new("plan.toml"), &text, &Overrides::default()).unwrap();
        assert_eq!(plan.tables[0].load_mode, LoadMode::Checked);
        assert!(!plan.tables[0].bulk_over_existing_rows);
        assert_eq!(plan.tables[1].load_mode, LoadMode::Bulk);
        assert!(plan.tables[1].bulk_over_existing_rows);
        let plan = Plan::parse(Path::new("plan.toml"), MINIMAL, &Overrides::default()).unwrap();
        assert_eq!(plan.tables[0].load_mode, LoadMode::Bulk);
        assert!(!plan.tables[0].bulk_over_existing_rows);
        let bad = MINIMAL.replace(
            "name = \"offices\"",
            "name = \"offices\"\nload_mode = \"fast\"",
        );
        let err = Plan::parse(Path::new("plan.toml"), &bad, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown variant `fast`, expected `bulk` or `checked`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_the_line() {
        let text = MINIMAL.replace("name = \"offices\"", "name = \"offices\"\nbatchsize = 5");
        let err = Plan::parse(Path::new("plan.toml"), &text, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `batchsize`"), "{err}");
        assert!(err.contains("line 8"), "{err}");
    }

    #[test]
    fn relative_paths_are_read_from_the_plan_files_directory() {
        assert_eq!(plan_dir(Path::new("plan.toml")), PathBuf::from("."));
        assert_eq!(plan_dir(Path::new("lab/plan.toml")), PathBuf::from("lab"));
        assert_eq!(plan_dir(Path::new("/lab/plan.toml")), PathBuf::from("/lab"));
    }

    #[test]
    fn every_problem_is_reported_at_once_in_plan_order() {
        let text = r#"
[source]
[target]
url = "postgres://a@localhost/new"
[defaults]
batch_size = 0
parallel_tables = 17
max_reject_rate = 2.0
[[table]]
name = "offices"
plugin = "o.wasm"
depends_on = ["offices", "rooms"]
[[table]]
name = "offices"
plugin = "o.wasm"
batch_size = 0
money = [{ source = "fee", target = "fee" }]
"#;
        let err = Plan::parse(Path::new("plan.toml"), text, &Overrides::default())
            .unwrap_err()
            .to_string();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(
            lines,
            [
                "plan.toml: no source database: set [source] url, --source or MIGRATE_SOURCE_URL",
                "[defaults] max_reject_rate = 2 must be between 0.0 and 1.0 (0.02 means 2% of rows)",
                "[defaults] batch_size must be at least 1",
                "[defaults] parallel_tables must be between 1 and 16",
                "table `offices` is listed twice: keep one [[table]] entry per legacy table",
                "table `offices`: batch_size must be at least 1",
                "table `offices`: money target `fee` must be `table.column`",
                "table `offices` depends on itself: remove it from its depends_on",
                "table `offices` depends_on `rooms`, which is not a table of this plan: add it or remove the dependency",
            ],
            "{err}"
        );
    }

    #[test]
    fn a_plan_without_tables_says_to_add_one() {
        let text = "[source]\nurl = \"postgres://a@h/s\"\n[target]\nurl = \"postgres://a@h/t\"\n";
        let err = Plan::parse(Path::new("plan.toml"), text, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("the plan has no [[table]] entries: add one per legacy table to migrate"),
            "{err}"
        );
    }

    #[test]
    fn adopt_true_takes_the_default_columns() {
        let text = MINIMAL.replace("plugin = ", "adopt = true\nplugin = ");
        let plan = Plan::parse(Path::new("plan.toml"), &text, &Overrides::default()).unwrap();
        let adopt = plan.tables[0].adopt.as_ref().unwrap();
        assert_eq!(
            (
                adopt.table.as_deref(),
                adopt.legacy_id.as_str(),
                adopt.id.as_str()
            ),
            (None, "legacy_id", "id")
        );
        let text = MINIMAL.replace("plugin = ", "adopt = false\nplugin = ");
        let plan = Plan::parse(Path::new("plan.toml"), &text, &Overrides::default()).unwrap();
        assert!(plan.tables[0].adopt.is_none());
    }
}
