//! The run state kept in the target's `migration` schema.
//!
//! Everything `host status` and `host validate` report comes from here and from the data, so
//! they work from any terminal, during or after a run. The checkpoint (`table_state.last_key`)
//! only ever changes in the same transaction as the rows it covers.

use anyhow::Context;

use crate::key::Key;
use tokio_postgres::{Client, GenericClient};

pub const SCHEMA_SQL: &str = r#"
CREATE SCHEMA IF NOT EXISTS migration;

CREATE TABLE IF NOT EXISTS migration.runs (
    run_id       bigserial PRIMARY KEY,
    plan_path    text NOT NULL,
    host_version text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at  timestamptz,
    outcome      text
);

-- One row per legacy table: its phase and checkpoint.
CREATE TABLE IF NOT EXISTS migration.table_state (
    table_name       text PRIMARY KEY,
    phase            text NOT NULL,          -- pending | copying | done | failed (TablePhase)
    last_key         text COLLATE "C",       -- last committed source key (the checkpoint; key.rs)
    source_rows      bigint,                 -- rows in the source when the table started
    rows_read        bigint NOT NULL DEFAULT 0,
    rows_written     bigint NOT NULL DEFAULT 0,  -- source rows that were written
    rows_skipped     bigint NOT NULL DEFAULT 0,
    rows_rejected    bigint NOT NULL DEFAULT 0,
    target_rows      bigint NOT NULL DEFAULT 0,  -- rows written to target tables
    batches          bigint NOT NULL DEFAULT 0,
    component_sha256 text,
    error            text,
    started_at       timestamptz,
    updated_at       timestamptz,
    finished_at      timestamptz,
    keep_id_map      boolean                 -- id-map rows written for its rows (decided when it begins)
);

-- Lineage: every committed batch and the component that produced it.
CREATE TABLE IF NOT EXISTS migration.batches (
    table_name       text NOT NULL,
    batch_no         bigint NOT NULL,
    run_id           bigint NOT NULL,
    first_key        text COLLATE "C" NOT NULL,
    last_key         text COLLATE "C" NOT NULL,
    rows_in          integer NOT NULL,
    rows_written     integer NOT NULL,
    rows_skipped     integer NOT NULL,
    rows_rejected    integer NOT NULL,
    target_rows      integer NOT NULL,
    component_sha256 text NOT NULL,
    committed_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (table_name, batch_no)
);

-- Batches of `host retry` are marked 'retry'; a state schema from before lacked the column.
ALTER TABLE migration.batches ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'run';

-- Every hot swap a runner applied or refused.
CREATE TABLE IF NOT EXISTS migration.swaps (
    table_name  text NOT NULL,
    old_sha256  text NOT NULL,
    new_sha256  text NOT NULL,
    applied     boolean NOT NULL,
    message     text NOT NULL,
    run_id      bigint,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE IF NOT EXISTS migration.id_map (
    entity    text NOT NULL,
    legacy_key text COLLATE "C" NOT NULL,  -- the row's source key, as key.rs writes it
    id         uuid NOT NULL,
    PRIMARY KEY (entity, legacy_key)
);

-- Rows a plugin rejected (or that did not fit the target), with the source row.
CREATE TABLE IF NOT EXISTS migration.quarantine (
    table_name       text NOT NULL,
    legacy_key       text COLLATE "C" NOT NULL,
    source_row       jsonb NOT NULL,
    reason           text NOT NULL,
    component_sha256 text NOT NULL,
    batch_no         bigint NOT NULL,
    quarantined_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (table_name, legacy_key)
);

-- Rows of an adopted table (migrated by an earlier tool) that no source row accounts for.
CREATE TABLE IF NOT EXISTS migration.adopt_extras (
    table_name   text NOT NULL,
    target_table text NOT NULL,
    id           text NOT NULL,
    legacy_id    bigint,
    reason       text NOT NULL,
    PRIMARY KEY (table_name, id)
);

-- Foreign keys and plain indexes a run set aside while it loads (see deferred.rs), put back
-- at its end; what is still here after a run could not be put back (error says why).
CREATE TABLE IF NOT EXISTS migration.deferred_constraints (
    table_name  text NOT NULL,
    name        text NOT NULL,
    kind        text NOT NULL,          -- fk | index | key
    definition  text NOT NULL,
    column_name text,
    ref_table   text,
    ref_column  text,
    type_name   text,
    error       text,
    PRIMARY KEY (table_name, name)
);

-- The schema of each set-aside key's parent table (a state schema from before lacked it: NULL
-- there means unknown, and such a key is put back before the next run loads).
ALTER TABLE migration.deferred_constraints ADD COLUMN IF NOT EXISTS ref_schema text;

-- Foreign keys filled as forward references (a cycle broken there, a self-reference; see
-- order.rs): set aside while either side loads, settled once both sides are done. Settling
-- sets to NULL each reference to a row that never came (recorded in dangling_refs) and stamps
-- settled_at, in one transaction; the key is then put back validated.
CREATE TABLE IF NOT EXISTS migration.forward_refs (
    table_name  text NOT NULL,
    name        text NOT NULL,
    column_name text NOT NULL,
    ref_table   text NOT NULL,
    settled_at  timestamptz,
    nulled      bigint,
    PRIMARY KEY (table_name, name)
);
-- Why the last run could not settle it (a NOT NULL column pointing at rows that never came),
-- for `host status`; cleared when it settles.
ALTER TABLE migration.forward_refs ADD COLUMN IF NOT EXISTS refused text;

-- Each forward reference that pointed at no row when it was settled (the referenced row was
-- skipped, quarantined or never existed) and was set to NULL: the row (its primary key as
-- text) and the id it held.
CREATE TABLE IF NOT EXISTS migration.dangling_refs (
    table_name  text NOT NULL,
    column_name text NOT NULL,
    row_id      text NOT NULL,
    missing_id  text NOT NULL,
    ref_table   text NOT NULL,
    settled_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (table_name, column_name, row_id)
);

-- Rows deliberately left behind (soft-deleted...), with the reason.
CREATE TABLE IF NOT EXISTS migration.skipped (
    table_name text NOT NULL,
    legacy_key text COLLATE "C" NOT NULL,
    reason     text NOT NULL,
    batch_no   bigint NOT NULL,
    PRIMARY KEY (table_name, legacy_key)
);

-- A large table's key ranges ("chunks", see chunk.rs), planned once when it first starts:
-- chunk n covers the keys after the previous chunk's upto_key up to its own (NULL: no bound).
-- last_key is the chunk's checkpoint (it starts at the range's lower bound). A process working
-- a chunk holds a session advisory lock on chunk_id, so a chunk is worked by one process at a
-- time and a killed process's chunk is free at once.
CREATE TABLE IF NOT EXISTS migration.chunks (
    table_name  text NOT NULL,
    chunk_no    integer NOT NULL,
    chunk_id    bigserial UNIQUE,
    upto_key    text COLLATE "C",
    last_key    text COLLATE "C",
    done        boolean NOT NULL DEFAULT false,
    worker      text,                  -- the process that last worked it (host:pid)
    updated_at  timestamptz,
    PRIMARY KEY (table_name, chunk_no)
);

-- Every process of a migration (`host run` and each `host worker`): a live one holds a
-- session advisory lock on its worker_id (see chunk.rs), so pg_locks tells live from gone.
CREATE TABLE IF NOT EXISTS migration.workers (
    worker_id   bigserial PRIMARY KEY,
    command     text NOT NULL,         -- run | worker
    hostname    text NOT NULL,
    pid         integer NOT NULL,
    backend_pid integer NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    table_name  text,                  -- the chunk it works now
    chunk_no    integer,
    updated_at  timestamptz
);

-- Keys were integers before any key could be (a state schema from then, a migration in
-- progress across the upgrade): they become their text, which is what key.rs writes for an
-- integer, so nothing already recorded changes meaning.
DO $upgrade$
DECLARE
    c record;
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = 'migration' AND table_name = 'id_map' AND column_name = 'legacy_id') THEN
        ALTER TABLE migration.id_map RENAME COLUMN legacy_id TO legacy_key;
    END IF;
    -- Hosts before the decision wrote id-map rows for every table: their tables keep them.
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = 'migration' AND table_name = 'table_state' AND column_name = 'keep_id_map') THEN
        ALTER TABLE migration.table_state ADD COLUMN keep_id_map boolean;
        UPDATE migration.table_state SET keep_id_map = true;
    END IF;
    FOR c IN SELECT table_name, column_name FROM information_schema.columns
             WHERE table_schema = 'migration' AND data_type = 'bigint'
               AND (table_name, column_name) IN (('id_map', 'legacy_key'), ('quarantine', 'legacy_key'),
                   ('skipped', 'legacy_key'), ('table_state', 'last_key'), ('batches', 'first_key'),
                   ('batches', 'last_key'))
    LOOP
        EXECUTE format('ALTER TABLE migration.%I ALTER COLUMN %I TYPE text COLLATE "C" USING %I::text',
                       c.table_name, c.column_name, c.column_name);
    END LOOP;
END
$upgrade$;
"#;

/// Creates the state schema if it is missing (idempotent).
pub async fn ensure_schema(client: &Client) -> anyhow::Result<()> {
    client
        .batch_execute(SCHEMA_SQL)
        .await
        .context("creating the migration state schema in the target")
}

/// A value in a state table this host does not know: written by a newer host, or by hand.
#[derive(Debug, thiserror::Error)]
#[error("{column} holds `{value}`, which this host does not know (it knows {known}): was the state written by a newer host, or edited by hand? Use the host that wrote it, or set the value back to one of those")]
pub struct UnknownValue {
    /// Where the value is kept, as `migration.table.column`.
    pub column: &'static str,
    pub value: String,
    pub known: String,
}

/// A closed set of values kept as text in a state table, read strictly.
pub trait StateValue: Copy + PartialEq + Sized + 'static {
    /// Where the value is kept, as `migration.table.column`.
    const COLUMN: &'static str;
    const ALL: &'static [Self];
    /// The text stored in the column.
    fn as_str(self) -> &'static str;

    /// The value `text` stands for; an unknown text is an error naming it and the column.
    fn parse(text: &str) -> Result<Self, UnknownValue> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == text)
            .ok_or_else(|| UnknownValue {
                column: Self::COLUMN,
                value: text.to_string(),
                known: Self::ALL
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// Declares a [`StateValue`] enum: its variants, their stored text, and where it is kept.
macro_rules! state_value {
    ($(#[$doc:meta])* $name:ident in $column:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl StateValue for $name {
            const COLUMN: &'static str = $column;
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

state_value! {
    /// Where one table stands.
    TablePhase in "migration.table_state.phase" {
        /// Nothing committed yet.
        Pending = "pending",
        /// Batches are being committed; `last_key` is the checkpoint.
        Copying = "copying",
        /// Every source row is accounted for.
        Done = "done",
        /// Stopped with an error; a new run resumes after `last_key`.
        Failed = "failed",
    }
}

impl TablePhase {
    /// The stored text (kept for callers that print it).
    pub fn name(self) -> &'static str {
        self.as_str()
    }
}

state_value! {
    /// How a run (or retry) ended, in `migration.runs.outcome` (NULL while it runs).
    RunOutcome in "migration.runs.outcome" {
        /// Every table done and every key set aside put back.
        Done = "done",
        /// A table failed or could not start, or a key could not be put back.
        Failed = "failed",
        /// A `host retry` (recorded when it starts).
        Retry = "retry",
    }
}

state_value! {
    /// Which command committed a batch, in `migration.batches.kind`.
    BatchKind in "migration.batches.kind" {
        /// `host run`: new rows; the checkpoint advances.
        Run = "run",
        /// `host retry`: quarantined rows replayed; the checkpoint stays.
        Retry = "retry",
    }
}

state_value! {
    /// What a run set aside for the load, in `migration.deferred_constraints.kind`.
    ConstraintKind in "migration.deferred_constraints.kind" {
        ForeignKey = "fk",
        Index = "index",
        /// A primary key, unique constraint or unique index of a table filled from empty:
        /// built back when its plan table finishes (deferred.rs `build_table_keys`).
        Key = "key",
    }
}

/// One `migration.table_state` row's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableCounts {
    pub source_rows: Option<i64>,
    pub rows_read: i64,
    pub rows_written: i64,
    pub rows_skipped: i64,
    pub rows_rejected: i64,
    pub target_rows: i64,
    pub batches: i64,
}

/// One `migration.table_state` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableState {
    pub phase: TablePhase,
    /// The checkpoint: the last committed source key.
    pub last_key: Option<Key>,
    pub counts: TableCounts,
    /// Why it failed (set with [`TablePhase::Failed`]).
    pub error: Option<String>,
    /// Whether its rows' id-map rows are written (None: not decided yet, see [`keep_id_map`]).
    pub keep_id_map: Option<bool>,
}

/// The state of `table`, or None if it never started.
pub async fn table_state(
    client: &impl GenericClient,
    table: &str,
) -> anyhow::Result<Option<TableState>> {
    let row = client
        .query_opt(
            "SELECT phase, last_key, source_rows, rows_read, rows_written, rows_skipped, rows_rejected,
                    target_rows, batches, error, keep_id_map
             FROM migration.table_state WHERE table_name = $1",
            &[&table],
        )
        .await
        .with_context(|| format!("reading the state of {table}"))?;
    let Some(r) = row else { return Ok(None) };
    let phase =
        TablePhase::parse(r.get(0)).with_context(|| format!("reading the state of {table}"))?;
    Ok(Some(TableState {
        phase,
        last_key: r.get::<_, Option<&str>>(1).map(Key::from_stored),
        counts: TableCounts {
            source_rows: r.get(2),
            rows_read: r.get(3),
            rows_written: r.get(4),
            rows_skipped: r.get(5),
            rows_rejected: r.get(6),
            target_rows: r.get(7),
            batches: r.get(8),
        },
        error: r.get(9),
        keep_id_map: r.get(10),
    }))
}

/// Whether the id-map rows of a table are written, decided once when it begins: `wanted` (a
/// plugin of the plan resolves it, it is adopted, or its plan entry has `keep_id_map`) unless
/// rows were already committed under an earlier decision, which then stands. A map kept once
/// stays kept; a map not kept cannot start once rows were committed without it (some would be
/// missing): `host check` refuses that plan first, this is the last guard. Returns the decision.
pub fn keep_id_map(
    table: &str,
    recorded: Option<bool>,
    rows_written: i64,
    wanted: bool,
) -> anyhow::Result<bool> {
    match recorded {
        None => Ok(wanted),
        Some(_) if rows_written == 0 => Ok(wanted),
        Some(true) => Ok(true),
        Some(false) if wanted => Err(anyhow::anyhow!(
            "{table} cannot start keeping its id map: {}",
            id_map_not_kept(table, rows_written)
        )),
        Some(false) => Ok(false),
    }
}

/// What every message about a map not kept says (`host rollback`, which is the way out, lets
/// such problems pass: see `check::problem_blocks_rollback`).
pub const NO_ID_MAP_ROWS: &str = "have no id-map rows";

/// Why a table's id map cannot be resolved: its written rows have no id-map rows.
pub fn id_map_not_kept(table: &str, rows_written: i64) -> String {
    format!(
        "the {rows_written} rows written for {table} {NO_ID_MAP_ROWS} (no plugin of the plan resolved {table} when they were committed, and its [[table]] has no keep_id_map = true), so every resolve of a {table} id would answer \"not migrated\"\n  hint: migrate {table} again, so that it keeps its map: `host rollback PLAN --table {table} --cascade`, then `host run`; to keep a map for a plugin added later, set keep_id_map = true on its [[table]] before it runs"
    )
}

/// The recorded id-map decision and written rows of every table that began (none when the
/// state schema is missing; a state schema from before the decision kept every map).
pub async fn id_map_decisions(
    client: &impl GenericClient,
) -> anyhow::Result<std::collections::BTreeMap<String, (bool, i64)>> {
    let has_column: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns
              WHERE table_schema = 'migration' AND table_name = 'table_state' AND column_name = 'keep_id_map')",
            &[],
        )
        .await
        .context("reading the migration state")?
        .get(0);
    if !has_column {
        return Ok(Default::default());
    }
    let rows = client
        .query(
            "SELECT table_name, keep_id_map, rows_written FROM migration.table_state",
            &[],
        )
        .await
        .context("reading which tables keep their id map")?;
    Ok(rows
        .iter()
        .map(|r| {
            let kept: Option<bool> = r.get(1);
            (r.get(0), (kept.unwrap_or(true), r.get(2)))
        })
        .collect())
}

/// The most frequent quarantine reasons of `table`, most frequent first (for the message of a
/// table that stopped, the run summary and `host report`).
pub async fn top_reject_reasons(
    client: &Client,
    table: &str,
    n: i64,
) -> anyhow::Result<Vec<(String, i64)>> {
    top_reasons(client, "migration.quarantine", table, n)
        .await
        .with_context(|| format!("reading the quarantine reasons of {table}"))
}

/// The most frequent skip reasons of `table`, most frequent first (for `host report`).
pub async fn top_skip_reasons(
    client: &Client,
    table: &str,
    n: i64,
) -> anyhow::Result<Vec<(String, i64)>> {
    top_reasons(client, "migration.skipped", table, n)
        .await
        .with_context(|| format!("reading the skip reasons of {table}"))
}

/// `relation` is one of the state tables with `table_name` and `reason` columns.
async fn top_reasons(
    client: &Client,
    relation: &str,
    table: &str,
    n: i64,
) -> Result<Vec<(String, i64)>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "SELECT reason, count(*) FROM {relation} WHERE table_name = $1
                 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $2"
            ),
            &[&table, &n],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// `stop` (a table stopped by its reject rate) with the reasons that stopped it, most
/// frequent first.
pub fn with_reasons(stop: anyhow::Error, reasons: &[(String, i64)]) -> anyhow::Error {
    if reasons.is_empty() {
        return stop;
    }
    let list = reasons
        .iter()
        .map(|(reason, n)| {
            let short: String = reason.chars().take(300).collect();
            format!("\n    {n} x {short}")
        })
        .collect::<String>();
    anyhow::anyhow!("{stop:#}\n  most frequent reasons:{list}")
}

/// Records a new run (or retry) in `migration.runs` and returns its id.
pub async fn start_run(
    client: &Client,
    plan_path: &std::path::Path,
    outcome: Option<RunOutcome>,
) -> anyhow::Result<i64> {
    let outcome = outcome.map(RunOutcome::as_str);
    let row = client
        .query_one(
            "INSERT INTO migration.runs (plan_path, host_version, outcome) VALUES ($1, $2, $3) RETURNING run_id",
            &[&plan_path.display().to_string(), &env!("CARGO_PKG_VERSION"), &outcome],
        )
        .await
        .context("recording the run in migration.runs")?;
    Ok(row.get(0))
}

/// A foreign key set aside, as each batch checks it.
#[derive(Debug, Clone)]
pub struct DeferredFk {
    pub name: String,
    pub table: String,
    pub column: String,
    /// The parent's schema (None: recorded by an older version, which did not record it).
    pub ref_schema: Option<String>,
    pub ref_table: String,
    pub ref_column: String,
    pub type_name: String,
    pub deferrable: bool,
}

/// The foreign keys currently set aside (none when the state schema is missing).
pub async fn deferred_fks(client: &Client) -> anyhow::Result<Vec<DeferredFk>> {
    if !has_deferred_table(client).await? {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT name, table_name, column_name, ref_schema, ref_table, ref_column, type_name, definition
             FROM migration.deferred_constraints WHERE kind = 'fk' ORDER BY table_name, name",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let definition: String = r.get(7);
            DeferredFk {
                name: r.get(0),
                table: r.get(1),
                column: r.get(2),
                ref_schema: r.get(3),
                ref_table: r.get(4),
                ref_column: r.get(5),
                type_name: r.get(6),
                deferrable: definition.contains(" DEFERRABLE")
                    && !definition.contains("NOT DEFERRABLE"),
            }
        })
        .collect())
}

/// Whether the target has the table of keys and indexes set aside.
pub async fn has_deferred_table(client: &Client) -> anyhow::Result<bool> {
    Ok(client
        .query_one(
            "SELECT to_regclass('migration.deferred_constraints') IS NOT NULL",
            &[],
        )
        .await?
        .get(0))
}

/// This machine's name, as the state records who holds the run lock and who works a chunk.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether the state table `migration.<table>` exists (a state schema from an older host, or
/// none yet, lacks it).
pub async fn has_table(client: &impl GenericClient, table: &str) -> anyhow::Result<bool> {
    Ok(client
        .query_one(
            "SELECT to_regclass(format('migration.%I', $1::text)) IS NOT NULL",
            &[&table],
        )
        .await
        .with_context(|| format!("looking for migration.{table}"))?
        .get(0))
}
