//! The run state kept in the target's `migration` schema.
//!
//! Everything `host status` and `host validate` report comes from here and from the data, so
//! they work from any terminal, during or after a run. The checkpoint (`table_state.last_key`)
//! only ever changes in the same transaction as the rows it covers.

use anyhow::Context;
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
    phase            text NOT NULL,          -- pending | copying | done | failed
    last_key         bigint,                 -- last committed source key (the checkpoint)
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
    finished_at      timestamptz
);

-- Lineage: every committed batch and the component that produced it.
CREATE TABLE IF NOT EXISTS migration.batches (
    table_name       text NOT NULL,
    batch_no         bigint NOT NULL,
    run_id           bigint NOT NULL,
    first_key        bigint NOT NULL,
    last_key         bigint NOT NULL,
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
    legacy_id bigint NOT NULL,
    id        uuid NOT NULL,
    PRIMARY KEY (entity, legacy_id)
);

-- Rows a plugin rejected (or that did not fit the target), with the source row.
CREATE TABLE IF NOT EXISTS migration.quarantine (
    table_name       text NOT NULL,
    legacy_key       bigint NOT NULL,
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
    kind        text NOT NULL,          -- fk | index
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

-- Rows deliberately left behind (soft-deleted...), with the reason.
CREATE TABLE IF NOT EXISTS migration.skipped (
    table_name text NOT NULL,
    legacy_key bigint NOT NULL,
    reason     text NOT NULL,
    batch_no   bigint NOT NULL,
    PRIMARY KEY (table_name, legacy_key)
);
"#;

/// Creates the state schema if it is missing (idempotent).
pub async fn ensure_schema(client: &Client) -> anyhow::Result<()> {
    client
        .batch_execute(SCHEMA_SQL)
        .await
        .context("creating the migration state schema in the target")
}

/// Where one table stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum TablePhase {
    /// Nothing committed yet.
    Pending,
    /// Batches are being committed; `last_key` is the checkpoint.
    Copying { last_key: Option<i64> },
    /// Every source row is accounted for.
    Done,
    /// Stopped with an error; a new run resumes after `last_key`.
    Failed {
        last_key: Option<i64>,
        error: String,
    },
}

impl TablePhase {
    pub fn name(&self) -> &'static str {
        match self {
            TablePhase::Pending => "pending",
            TablePhase::Copying { .. } => "copying",
            TablePhase::Done => "done",
            TablePhase::Failed { .. } => "failed",
        }
    }
}

/// One `migration.table_state` row.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TableCounts {
    pub source_rows: Option<i64>,
    pub rows_read: i64,
    pub rows_written: i64,
    pub rows_skipped: i64,
    pub rows_rejected: i64,
    pub target_rows: i64,
    pub batches: i64,
}

#[derive(Debug, Clone)]
pub struct TableState {
    pub phase: TablePhase,
    pub last_key: Option<i64>,
    pub counts: TableCounts,
}

/// The state of `table`, or None if it never started.
pub async fn table_state(
    client: &impl GenericClient,
    table: &str,
) -> anyhow::Result<Option<TableState>> {
    let row = client
        .query_opt(
            "SELECT phase, last_key, source_rows, rows_read, rows_written, rows_skipped, rows_rejected,
                    target_rows, batches, error
             FROM migration.table_state WHERE table_name = $1",
            &[&table],
        )
        .await
        .with_context(|| format!("reading the state of {table}"))?;
    Ok(row.map(|r| {
        let last_key: Option<i64> = r.get(1);
        let phase = match r.get::<_, &str>(0) {
            "done" => TablePhase::Done,
            "failed" => TablePhase::Failed {
                last_key,
                error: r.get::<_, Option<String>>(9).unwrap_or_default(),
            },
            "copying" => TablePhase::Copying { last_key },
            _ => TablePhase::Pending,
        };
        TableState {
            phase,
            last_key,
            counts: TableCounts {
                source_rows: r.get(2),
                rows_read: r.get(3),
                rows_written: r.get(4),
                rows_skipped: r.get(5),
                rows_rejected: r.get(6),
                target_rows: r.get(7),
                batches: r.get(8),
            },
        }
    }))
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

/// `stop` (a table stopped by its reject rate) with the reasons that stopped it.
pub async fn with_top_reasons(client: &Client, table: &str, stop: anyhow::Error) -> anyhow::Error {
    match top_reject_reasons(client, table, 3).await {
        Ok(reasons) if !reasons.is_empty() => {
            let list = reasons
                .iter()
                .map(|(reason, n)| {
                    let short: String = reason.chars().take(300).collect();
                    format!("\n    {n} x {short}")
                })
                .collect::<String>();
            anyhow::anyhow!("{stop:#}\n  most frequent reasons:{list}")
        }
        _ => stop,
    }
}

/// Records a new run (or retry) in `migration.runs` and returns its id.
pub async fn start_run(
    client: &Client,
    plan_path: &std::path::Path,
    outcome: Option<&str>,
) -> anyhow::Result<i64> {
    let row = client
        .query_one(
            "INSERT INTO migration.runs (plan_path, host_version, outcome) VALUES ($1, $2, $3) RETURNING run_id",
            &[&plan_path.display().to_string(), &env!("CARGO_PKG_VERSION"), &outcome],
        )
        .await
        .context("recording the run in migration.runs")?;
    Ok(row.get(0))
}
