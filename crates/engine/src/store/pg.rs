//! The state store in the target database: the `migration` schema of `state.rs`, and each
//! batch's target rows committed with it in one transaction.

use std::collections::HashMap;

use anyhow::Context;
use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Transaction};

use super::{BatchCommit, Checkpoint, CommitError, Committed, StateStore, SwapRecord};
use crate::batch::{source_json, Fate, FkCheck, TableSpec};
use crate::check::AdoptTarget;
use crate::chunk::Chunk;
use crate::codec;
use crate::deferred::DeferredFk;
use crate::key::Key;
use crate::pg::{self, error_text, ident, qualified};
use crate::state::{self, RunOutcome, StateValue, TableState};

/// The state store of one target connection; `schema` is the plan's target schema.
pub struct PgStore<'c> {
    client: &'c mut Client,
    schema: &'c str,
}

impl<'c> PgStore<'c> {
    pub fn new(client: &'c mut Client, schema: &'c str) -> Self {
        PgStore { client, schema }
    }

    /// The connection, for what is not state (the target's catalog, for a hot swap's check).
    pub fn client(&self) -> &Client {
        self.client
    }

    /// The connection, for a transaction of state outside the trait (chunk.rs).
    pub fn client_mut(&mut self) -> &mut Client {
        self.client
    }
}

impl StateStore for PgStore<'_> {
    async fn table_state(&mut self, table: &str) -> anyhow::Result<Option<TableState>> {
        state::table_state(&*self.client, table).await
    }

    async fn begin_table(&mut self, table: &str, source_rows: i64) -> anyhow::Result<()> {
        self.client
            .execute(
                "INSERT INTO migration.table_state (table_name, phase, source_rows, started_at, updated_at)
                 VALUES ($1, 'copying', $2, clock_timestamp(), clock_timestamp())
                 ON CONFLICT (table_name) DO UPDATE SET phase = 'copying', source_rows = $2, error = NULL, updated_at = clock_timestamp()",
                &[&table, &source_rows],
            )
            .await?;
        Ok(())
    }

    async fn commit_batch(&mut self, commit: &BatchCommit<'_>) -> Result<Committed, CommitError> {
        let tx = self
            .client
            .transaction()
            .await
            .map_err(CommitError::from_pg)?;
        let committed = write_batch(&tx, self.schema, commit).await?;
        let name = &commit.table.name;
        crate::failpoint::crash_point("before-commit", name, committed.batch_no);
        tx.commit().await.map_err(CommitError::from_pg)?;
        crate::failpoint::crash_point("after-commit", name, committed.batch_no);
        Ok(committed)
    }

    async fn finish_chunk(&mut self, chunk: &Chunk) -> anyhow::Result<(i64, i64)> {
        crate::chunk::finish(self.client, chunk).await
    }

    async fn build_table_keys<R: crate::batch::PageSource>(
        &mut self,
        table: &TableSpec,
        source: &R,
    ) -> anyhow::Result<crate::deferred::Built> {
        crate::deferred::build_table_keys(self.client, self.schema, table, source).await
    }

    async fn finish_table(&mut self, table: &str) -> anyhow::Result<()> {
        self.client
            .execute(
                "UPDATE migration.table_state SET phase = 'done', finished_at = clock_timestamp(), updated_at = clock_timestamp() WHERE table_name = $1",
                &[&table],
            )
            .await?;
        Ok(())
    }

    async fn fail_table(&mut self, table: &str, error: &str) -> anyhow::Result<()> {
        self.client
            .execute(
                "UPDATE migration.table_state SET phase = 'failed', error = $2, updated_at = clock_timestamp() WHERE table_name = $1",
                &[&table, &error],
            )
            .await?;
        Ok(())
    }

    async fn top_reject_reasons(
        &mut self,
        table: &str,
        n: i64,
    ) -> anyhow::Result<Vec<(String, i64)>> {
        state::top_reject_reasons(self.client, table, n).await
    }

    async fn quarantined_keys(&mut self, table: &str) -> anyhow::Result<Vec<Key>> {
        let rows = self
            .client
            .query(
                "SELECT legacy_key FROM migration.quarantine WHERE table_name = $1",
                &[&table],
            )
            .await?;
        // Integer keys in numeric order, as the source reads them.
        let mut keys: Vec<Key> = rows.iter().map(|r| Key::from_stored(r.get(0))).collect();
        keys.sort();
        Ok(keys)
    }

    async fn keep_id_map(&mut self, table: &str, wanted: bool) -> anyhow::Result<bool> {
        let st = state::table_state(&*self.client, table).await?;
        let (recorded, written) = st.map_or((None, 0), |s| (s.keep_id_map, s.counts.rows_written));
        let keep = state::keep_id_map(table, recorded, written, wanted)?;
        self.client
            .execute(
                "UPDATE migration.table_state SET keep_id_map = $2 WHERE table_name = $1",
                &[&table, &keep],
            )
            .await
            .with_context(|| format!("recording whether {table} keeps its id map"))?;
        Ok(keep)
    }

    async fn set_aside_foreign_keys(&mut self) -> anyhow::Result<Vec<DeferredFk>> {
        crate::deferred::deferred_fks(self.client).await
    }

    async fn adopted_ids(
        &mut self,
        adopt: &AdoptTarget,
        keys: &[Key],
    ) -> anyhow::Result<HashMap<Key, uuid::Uuid>> {
        adopted_ids(self.client, self.schema, adopt, keys).await
    }

    async fn record_adopt_extras(
        &mut self,
        table: &str,
        adopt: &AdoptTarget,
    ) -> anyhow::Result<i64> {
        let sql = format!(
            "WITH gone AS (DELETE FROM migration.adopt_extras WHERE table_name = $1)
             INSERT INTO migration.adopt_extras (table_name, target_table, id, legacy_id, reason) {}",
            crate::batch::adopt_extras_select_in(self.schema, adopt)
        );
        let n = self
            .client
            .execute(&sql, &[&table, &adopt.table])
            .await
            .map_err(|e| pg::db_error(format!("looking for extra rows in {}", adopt.table), e))?;
        Ok(n as i64)
    }

    async fn record_swap(&mut self, swap: &SwapRecord<'_>) -> anyhow::Result<()> {
        record_swap(self.client, swap).await
    }

    async fn start_run(
        &mut self,
        plan_path: &std::path::Path,
        outcome: Option<RunOutcome>,
    ) -> anyhow::Result<i64> {
        state::start_run(self.client, plan_path, outcome).await
    }

    async fn finish_run(&mut self, run_id: i64, outcome: Option<RunOutcome>) -> anyhow::Result<()> {
        match outcome {
            Some(outcome) => self.client
                .execute(
                    "UPDATE migration.runs SET finished_at = clock_timestamp(), outcome = $2 WHERE run_id = $1",
                    &[&run_id, &outcome.as_str()],
                )
                .await,
            None => self.client
                .execute(
                    "UPDATE migration.runs SET finished_at = clock_timestamp() WHERE run_id = $1",
                    &[&run_id],
                )
                .await,
        }
        .context("recording the end of the run in migration.runs")?;
        Ok(())
    }
}

/// Records a swap's outcome in `migration.swaps`, where `host swap` and `status` read it.
pub async fn record_swap(client: &Client, swap: &SwapRecord<'_>) -> anyhow::Result<()> {
    client
        .execute(
            "INSERT INTO migration.swaps (table_name, old_sha256, new_sha256, applied, message, run_id) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&swap.table, &swap.old_sha256, &swap.new_sha256, &swap.applied, &swap.message, &swap.run_id],
        )
        .await?;
    Ok(())
}

/// The UUIDs an earlier migration gave the rows of `keys`, by legacy id (an adopted table's
/// key is a single integer: `host check` says so).
pub async fn adopted_ids(
    target: &Client,
    schema: &str,
    a: &AdoptTarget,
    keys: &[Key],
) -> anyhow::Result<HashMap<Key, uuid::Uuid>> {
    let keys: Vec<i64> = keys.iter().filter_map(Key::as_int).collect();
    let sql = format!(
        "SELECT {legacy}::int8, {id} FROM {table} WHERE {legacy}::int8 = ANY($1)",
        legacy = ident(&a.legacy_id),
        id = ident(&a.id),
        table = qualified(schema, &a.table)
    );
    let found = target
        .query(&sql, &[&keys])
        .await
        .map_err(|e| pg::db_error(format!("reading the adopted rows of {}", a.table), e))?;
    Ok(found
        .iter()
        .map(|r| (Key::Int(r.get(0)), r.get(1)))
        .collect())
}

/// Everything of one batch, in its transaction: the checkpoint update also asserts nobody
/// else moved it. The table's state row is updated last but for the rows numbered by it (its
/// lock is what orders batches of one table committing side by side, from its chunks).
async fn write_batch(
    tx: &Transaction<'_>,
    schema: &str,
    c: &BatchCommit<'_>,
) -> Result<Committed, CommitError> {
    let name = &c.table.name;
    let keys: Vec<String> = c.rows.iter().map(|r| r.key.to_string()).collect();
    if c.checkpoint == Checkpoint::Stay {
        tx.execute(
            "DELETE FROM migration.quarantine WHERE table_name = $1 AND legacy_key = ANY($2)",
            &[name, &keys],
        )
        .await
        .map_err(CommitError::from_pg)?;
    }
    for (i, buf) in c.batch.target_copy.iter().enumerate() {
        if !buf.is_empty() {
            copy_in(tx, &copy_statement(schema, c.table, i), buf.clone()).await?;
        }
    }
    prove_foreign_keys(tx, schema, c).await?;
    write_id_map(tx, c).await?;
    let committed = move_checkpoint(tx, c, &keys).await?;
    write_skips_and_quarantine(tx, c, committed.batch_no).await?;
    write_lineage(tx, c, committed.batch_no, &keys).await?;
    Ok(committed)
}

/// The COPY statement for the plugin's `i`-th target table.
pub(crate) fn copy_statement(schema: &str, t: &TableSpec, i: usize) -> String {
    let (table, columns) = &t.target_columns[i];
    let cols = columns
        .iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    format!("COPY {} ({cols}) FROM STDIN", qualified(schema, table))
}

/// The query returning a value of `check`'s column with no parent row.
fn fk_check_sql(schema: &str, check: &FkCheck) -> String {
    let fk = &check.fk;
    format!(
        "SELECT v FROM unnest($1::text[]) v WHERE NOT EXISTS (SELECT 1 FROM {} p WHERE p.{} = v::{}) LIMIT 1",
        qualified(fk.ref_schema.as_deref().unwrap_or(schema), &fk.ref_table),
        ident(&fk.ref_column),
        fk.type_name
    )
}

/// The foreign keys set aside for the load, proven for this batch before it commits.
async fn prove_foreign_keys(
    tx: &Transaction<'_>,
    schema: &str,
    c: &BatchCommit<'_>,
) -> Result<(), CommitError> {
    for (check, values) in c.fk_checks.iter().zip(&c.batch.fk_values) {
        if values.is_empty() {
            continue;
        }
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let missing = tx
            .query_opt(&fk_check_sql(schema, check), &[&values])
            .await
            .map_err(CommitError::from_pg)?;
        if let Some(row) = missing {
            // PostgreSQL's own words for the same refusal, so a row's recorded reason does not
            // depend on whether its key was set aside (a resumed run keeps in place the keys
            // into tables already done, and PostgreSQL refuses those rows itself).
            let fk = &check.fk;
            return Err(CommitError::Data(format!(
                "insert or update on table \"{}\" violates foreign key constraint \"{}\" (Key ({})=({}) is not present in table \"{}\".)",
                fk.table,
                fk.name,
                fk.column,
                row.get::<_, String>(0),
                fk.ref_table
            )));
        }
    }
    Ok(())
}

/// The id-map rows of the batch's written rows, where the table's recorded decision keeps its
/// map (a table nobody resolves needs none; its UUIDs are minted from its keys anyway): read
/// in the same statement, so every commit of the table, whichever command, chunk or process
/// makes it, follows the one decision. An undecided table (a state row from before the
/// decision) keeps its map.
async fn write_id_map(tx: &Transaction<'_>, c: &BatchCommit<'_>) -> Result<(), CommitError> {
    let name = &c.table.name;
    let mut mapped_keys: Vec<String> = Vec::new();
    let mut mapped_ids: Vec<uuid::Uuid> = Vec::new();
    for (row, fate) in c.rows.iter().zip(&c.batch.fates) {
        if let Fate::Written(id) = fate {
            mapped_keys.push(row.key.to_string());
            mapped_ids.push(*id);
        }
    }
    if !mapped_keys.is_empty() {
        tx.execute(
            "INSERT INTO migration.id_map (entity, legacy_key, id)
             SELECT $1, k, i FROM unnest($2::text[], $3::uuid[]) AS u(k, i)
             WHERE coalesce((SELECT keep_id_map FROM migration.table_state WHERE table_name = $1), true)",
            &[name, &mapped_keys, &mapped_ids],
        )
        .await
        .map_err(CommitError::from_pg)?;
    }
    Ok(())
}

/// The quarantine and skipped rows of the batch's fates.
async fn write_skips_and_quarantine(
    tx: &Transaction<'_>,
    c: &BatchCommit<'_>,
    batch_no: i64,
) -> Result<(), CommitError> {
    let name = &c.table.name;
    let sha = c.sha256;
    let mut q_buf = Vec::new();
    let mut s_buf = Vec::new();
    for (row, fate) in c.rows.iter().zip(&c.batch.fates) {
        match fate {
            Fate::Written(_) => {}
            Fate::Skipped(reason) => {
                codec::escape_text(&mut s_buf, name);
                s_buf.push(b'\t');
                codec::escape_text(&mut s_buf, &row.key.to_string());
                s_buf.push(b'\t');
                codec::escape_text(&mut s_buf, reason);
                s_buf.extend_from_slice(format!("\t{batch_no}\n").as_bytes());
            }
            Fate::Quarantined(reason) => {
                let json = source_json(c.table, row);
                codec::escape_text(&mut q_buf, name);
                q_buf.push(b'\t');
                codec::escape_text(&mut q_buf, &row.key.to_string());
                q_buf.push(b'\t');
                codec::escape_text(&mut q_buf, &json);
                q_buf.push(b'\t');
                codec::escape_text(&mut q_buf, reason);
                q_buf.extend_from_slice(format!("\t{sha}\t{batch_no}\n").as_bytes());
            }
        }
    }
    if !q_buf.is_empty() {
        copy_in(tx, "COPY migration.quarantine (table_name, legacy_key, source_row, reason, component_sha256, batch_no) FROM STDIN", q_buf).await?;
    }
    if !s_buf.is_empty() {
        copy_in(
            tx,
            "COPY migration.skipped (table_name, legacy_key, reason, batch_no) FROM STDIN",
            s_buf,
        )
        .await?;
    }
    Ok(())
}

/// The batch's `migration.batches` row.
async fn write_lineage(
    tx: &Transaction<'_>,
    c: &BatchCommit<'_>,
    batch_no: i64,
    keys: &[String],
) -> Result<(), CommitError> {
    let counts = c.batch.counts();
    let first_key = keys.first().cloned().unwrap_or_default();
    let last_key = keys.last().cloned().unwrap_or_default();
    let kind = c.checkpoint.kind().as_str();
    tx.execute(
        "INSERT INTO migration.batches (table_name, batch_no, run_id, first_key, last_key, rows_in, rows_written, rows_skipped, rows_rejected, target_rows, component_sha256, kind)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[&c.table.name, &batch_no, &c.run_id, &first_key, &last_key, &(c.rows.len() as i32), &(counts.rows_written as i32), &(counts.rows_skipped as i32), &(counts.rows_rejected as i32), &(counts.target_rows as i32), &c.sha256, &kind],
    )
    .await
    .map_err(CommitError::from_pg)?;
    Ok(())
}

/// The table's counts, and its checkpoint (or its chunk's) for a run's batch. Returns the
/// batch's number and the table's counts after it.
async fn move_checkpoint(
    tx: &Transaction<'_>,
    c: &BatchCommit<'_>,
    keys: &[String],
) -> Result<Committed, CommitError> {
    let (name, sha, counts) = (&c.table.name, c.sha256, c.batch.counts());
    let last_key = keys.last().cloned().unwrap_or_default();
    const RETURNING: &str = "RETURNING batches, source_rows, rows_read, rows_written, rows_skipped, rows_rejected, target_rows";
    let moved = match &c.checkpoint {
        Checkpoint::Advance { from, chunk } => {
            let from = from.as_ref().map(Key::to_string);
            if let Some(no) = chunk {
                let chunk_moved = tx
                    .execute(
                        "UPDATE migration.chunks SET last_key = $3, updated_at = clock_timestamp()
                         WHERE table_name = $1 AND chunk_no = $2 AND last_key IS NOT DISTINCT FROM $4",
                        &[name, no, &last_key, &from],
                    )
                    .await
                    .map_err(CommitError::from_pg)?;
                if chunk_moved != 1 {
                    return Err(moved_under_us(name));
                }
            }
            // A chunk's batch leaves the table's own checkpoint alone (it stays NULL).
            let (table_key, table_from) = match chunk {
                Some(_) => (None, None),
                None => (Some(last_key), from),
            };
            tx
            .query_opt(
                &format!("UPDATE migration.table_state
                 SET last_key = $2, rows_read = rows_read + $3, rows_written = rows_written + $4, rows_skipped = rows_skipped + $5,
                     rows_rejected = rows_rejected + $6, target_rows = target_rows + $7, batches = batches + 1,
                     component_sha256 = $8, updated_at = clock_timestamp()
                 WHERE table_name = $1 AND last_key IS NOT DISTINCT FROM $9 {RETURNING}"),
                &[name, &table_key, &counts.rows_read, &counts.rows_written, &counts.rows_skipped, &counts.rows_rejected, &counts.target_rows, &sha, &table_from],
            )
            .await
            .map_err(CommitError::from_pg)?
        }
        Checkpoint::Stay => tx
            .query_opt(
                &format!("UPDATE migration.table_state
                 SET rows_written = rows_written + $2, rows_skipped = rows_skipped + $3, rows_rejected = rows_rejected - $4 + $5,
                     target_rows = target_rows + $6, batches = batches + 1, component_sha256 = $7, updated_at = clock_timestamp()
                 WHERE table_name = $1 {RETURNING}"),
                &[name, &counts.rows_written, &counts.rows_skipped, &counts.rows_read, &counts.rows_rejected, &counts.target_rows, &sha],
            )
            .await
            .map_err(CommitError::from_pg)?,
    };
    let Some(r) = moved else {
        return Err(moved_under_us(name));
    };
    let batch_no: i64 = r.get(0);
    Ok(Committed {
        batch_no,
        counts: state::TableCounts {
            source_rows: r.get(1),
            rows_read: r.get(2),
            rows_written: r.get(3),
            rows_skipped: r.get(4),
            rows_rejected: r.get(5),
            target_rows: r.get(6),
            batches: batch_no,
        },
    })
}

fn moved_under_us(table: &str) -> CommitError {
    CommitError::Other(anyhow::anyhow!(
        "the checkpoint of {table} moved under this runner (another `host run` on the same target?): stop the other runner, then run again"
    ))
}

pub(crate) async fn copy_in(
    tx: &Transaction<'_>,
    statement: &str,
    data: Vec<u8>,
) -> Result<(), CommitError> {
    let sink = tx.copy_in(statement).await.map_err(CommitError::from_pg)?;
    futures_util::pin_mut!(sink);
    sink.send(Bytes::from(data))
        .await
        .map_err(CommitError::from_pg)?;
    sink.finish().await.map_err(CommitError::from_pg)?;
    Ok(())
}

impl CommitError {
    /// A data exception or an integrity violation is the data's; anything else is not.
    pub(crate) fn from_pg(e: tokio_postgres::Error) -> Self {
        let data_error = e.code().is_some_and(|c| {
            let code = c.code();
            code.starts_with("22") || code.starts_with("23")
        }) && e.code() != Some(&SqlState::T_R_SERIALIZATION_FAILURE);
        if data_error {
            CommitError::Data(error_text(&e))
        } else {
            CommitError::Other(pg::db_error("writing to the target failed", e))
        }
    }
}
