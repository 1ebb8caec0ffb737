//! Key-range chunks: a large table split so that several connections, and several processes
//! (`host worker`), copy it side by side.
//!
//! When a table with more than its `chunk_rows` source rows first starts, the runner reads the
//! key of every `chunk_rows`-th row (one ordered scan of the key's index) and records the
//! ranges in `migration.chunks`: chunk n covers the keys after chunk n-1's `upto_key` up to and
//! including its own (the last has no upper bound, so rows inserted into a live source later
//! still fall in a chunk). The ranges never change afterwards; a resumed run reuses them.
//!
//! Each chunk is a table of its own as far as the run loop goes: its checkpoint (`last_key`,
//! starting at the range's lower bound) moves only with a committed batch, compared and set in
//! the batch's transaction, so a chunk commits each row exactly once whoever works it. A
//! process works a chunk while it holds a session advisory lock on the chunk's id: taken with
//! `pg_try_advisory_lock`, so two processes never work one chunk, and released by PostgreSQL
//! when the session ends, however it ends (kill -9 of the process, a lost connection), so a
//! dead worker's chunk is free at once and another process resumes it after its checkpoint.
//! The counts stay the table's (`migration.table_state`), and so do the reject-rate limit and
//! `done`: the table is done once its last chunk is.
//!
//! Every process of a migration is recorded in `migration.workers` and holds an advisory lock
//! on its row's id while it lives, so `host status` lists the live ones and what each works.

use anyhow::Context;
use tokio_postgres::{Client, GenericClient};

use crate::key::Key;

/// The advisory-lock class of chunk claims ("chnk"), in the two-key form: never equal to the
/// run lock (one bigint key) nor to a worker's.
const CHUNK_CLASS: i32 = 0x6368_6e6b;
/// The advisory-lock class of live processes ("work").
const WORKER_CLASS: i32 = 0x776f_726b;

/// One chunk of a table, as `migration.chunks` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub table: String,
    pub no: i32,
    /// The id its claim lock is taken on.
    pub id: i64,
    /// The last key it covers (None: to the end).
    pub upto: Option<Key>,
    /// The checkpoint: the last committed key, or the range's lower bound (None: from the start).
    pub last_key: Option<Key>,
    pub done: bool,
}

impl Chunk {
    /// `tasks#2`, for logs and status.
    pub fn label(&self) -> String {
        format!("{}#{}", self.table, self.no)
    }
}

/// The chunks of `table`, in key order (empty: it is not split).
pub async fn chunks(client: &impl GenericClient, table: &str) -> anyhow::Result<Vec<Chunk>> {
    let rows = client
        .query(
            "SELECT chunk_no, chunk_id, upto_key, last_key, done FROM migration.chunks
             WHERE table_name = $1 ORDER BY chunk_no",
            &[&table],
        )
        .await
        .with_context(|| format!("reading the chunks of {table}"))?;
    Ok(rows
        .iter()
        .map(|r| Chunk {
            table: table.to_string(),
            no: r.get(0),
            id: r.get(1),
            upto: r.get::<_, Option<&str>>(2).map(Key::from_stored),
            last_key: r.get::<_, Option<&str>>(3).map(Key::from_stored),
            done: r.get(4),
        })
        .collect())
}

/// Records `table`'s chunks, split at `bounds` (each the last key of a chunk, ascending):
/// `bounds.len() + 1` chunks. Returns them.
pub async fn record(
    client: &mut Client,
    table: &str,
    bounds: &[Key],
) -> anyhow::Result<Vec<Chunk>> {
    let tx = client.transaction().await?;
    for i in 0..=bounds.len() {
        let upto = bounds.get(i).map(Key::to_string);
        let from = i.checked_sub(1).map(|p| bounds[p].to_string());
        tx.execute(
            "INSERT INTO migration.chunks (table_name, chunk_no, upto_key, last_key, updated_at)
             VALUES ($1, $2, $3, $4, clock_timestamp()) ON CONFLICT DO NOTHING",
            &[&table, &(i as i32), &upto, &from],
        )
        .await
        .with_context(|| format!("recording the chunks of {table}"))?;
    }
    tx.commit().await?;
    chunks(&*client, table).await
}

/// Records `sha256` as the component `table` runs with, which a worker's must match.
pub async fn set_component(client: &Client, table: &str, sha256: &str) -> anyhow::Result<()> {
    client
        .execute(
            "UPDATE migration.table_state SET component_sha256 = $2 WHERE table_name = $1",
            &[&table, &sha256],
        )
        .await
        .with_context(|| format!("recording the component of {table}"))?;
    Ok(())
}

/// Takes the claim on `chunk` for this session (recording `worker` as working it, when
/// given); false when another session holds it.
pub async fn try_claim(
    client: &Client,
    chunk: &Chunk,
    worker: Option<&str>,
) -> anyhow::Result<bool> {
    let claimed: bool = client
        .query_one(
            "SELECT pg_try_advisory_lock($1, $2)",
            &[&CHUNK_CLASS, &(chunk.id as i32)],
        )
        .await
        .with_context(|| format!("claiming chunk {}", chunk.label()))?
        .get(0);
    if let (true, Some(worker)) = (claimed, worker) {
        client
            .execute(
                "UPDATE migration.chunks SET worker = $3, updated_at = clock_timestamp()
                 WHERE table_name = $1 AND chunk_no = $2",
                &[&chunk.table, &chunk.no, &worker],
            )
            .await?;
    }
    Ok(claimed)
}

/// Gives the claim on `chunk` back (a session that ends gives it back anyway).
pub async fn release(client: &Client, chunk: &Chunk) -> anyhow::Result<()> {
    client
        .execute(
            "SELECT pg_advisory_unlock($1, $2)",
            &[&CHUNK_CLASS, &(chunk.id as i32)],
        )
        .await?;
    Ok(())
}

/// The chunk as recorded now (its checkpoint moves as batches commit).
pub async fn reread(client: &impl GenericClient, chunk: &Chunk) -> anyhow::Result<Chunk> {
    chunks(client, &chunk.table)
        .await?
        .into_iter()
        .find(|c| c.no == chunk.no)
        .with_context(|| format!("chunk {} disappeared from migration.chunks", chunk.label()))
}

/// Marks `chunk` done. Returns how many chunks of its table are done now, and of how many.
pub async fn finish(client: &Client, chunk: &Chunk) -> anyhow::Result<(i64, i64)> {
    let row = client
        .query_one(
            "WITH done AS (UPDATE migration.chunks SET done = true, updated_at = clock_timestamp()
                           WHERE table_name = $1 AND chunk_no = $2)
             SELECT count(*) FILTER (WHERE done OR chunk_no = $2), count(*)
             FROM migration.chunks WHERE table_name = $1",
            &[&chunk.table, &chunk.no],
        )
        .await
        .with_context(|| format!("recording chunk {} done", chunk.label()))?;
    Ok((row.get(0), row.get(1)))
}

/// This process in `migration.workers`, live while its session holds the lock on its id.
#[derive(Debug, Clone)]
pub struct Worker {
    pub id: i64,
    /// `host:pid`, as recorded with the chunks it works.
    pub name: String,
}

impl Worker {
    /// Records this process (`command`: run or worker) and takes its liveness lock.
    pub async fn register(client: &Client, command: &str) -> anyhow::Result<Worker> {
        let host = crate::state::hostname();
        let pid = std::process::id() as i32;
        let id: i64 = client
            .query_one(
                "INSERT INTO migration.workers (command, hostname, pid, backend_pid, updated_at)
                 VALUES ($1, $2, $3, pg_backend_pid(), clock_timestamp()) RETURNING worker_id",
                &[&command, &host, &pid],
            )
            .await
            .context("recording this process in migration.workers")?
            .get(0);
        client
            .execute(
                "SELECT pg_advisory_lock($1, $2)",
                &[&WORKER_CLASS, &(id as i32)],
            )
            .await?;
        Ok(Worker {
            id,
            name: format!("{host}:{pid}"),
        })
    }

    /// Records what this process works now (None: nothing).
    pub async fn working_on(&self, client: &Client, chunk: Option<&Chunk>) -> anyhow::Result<()> {
        client
            .execute(
                "UPDATE migration.workers SET table_name = $2, chunk_no = $3, updated_at = clock_timestamp()
                 WHERE worker_id = $1",
                &[&self.id, &chunk.map(|c| c.table.as_str()), &chunk.map(|c| c.no)],
            )
            .await?;
        Ok(())
    }
}

/// A live process of the migration, for `host status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveWorker {
    pub command: String,
    pub hostname: String,
    pub pid: i32,
    /// `table#n` of the chunk it works, if any.
    pub chunk: Option<String>,
    pub started_at: String,
}

/// The processes of the migration alive now (their liveness lock is held).
pub async fn live_workers(client: &impl GenericClient) -> anyhow::Result<Vec<LiveWorker>> {
    let rows = client
        .query(
            "SELECT w.command, w.hostname, w.pid, w.table_name || '#' || w.chunk_no,
                    to_char(w.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC'
             FROM migration.workers w
             JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
              AND l.classid::bigint = $1 AND l.objid::bigint = w.worker_id
              AND l.pid = w.backend_pid
             ORDER BY w.worker_id",
            &[&(WORKER_CLASS as i64)],
        )
        .await
        .context("reading migration.workers")?;
    Ok(rows
        .iter()
        .map(|r| LiveWorker {
            command: r.get(0),
            hostname: r.get(1),
            pid: r.get(2),
            chunk: r.get(3),
            started_at: r.get(4),
        })
        .collect())
}

/// How far a split table's chunks are, for `host status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SplitProgress {
    pub table: String,
    pub chunks: i64,
    pub done: i64,
}

/// Every split table's chunks (none when the state has no chunks table yet).
pub async fn split_progress(client: &impl GenericClient) -> anyhow::Result<Vec<SplitProgress>> {
    if !crate::state::has_table(client, "chunks").await? {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT table_name, count(*), count(*) FILTER (WHERE done) FROM migration.chunks GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .context("reading migration.chunks")?;
    Ok(rows
        .iter()
        .map(|r| SplitProgress {
            table: r.get(0),
            chunks: r.get(1),
            done: r.get(2),
        })
        .collect())
}

/// The live processes, or none when the state has no workers table yet.
pub async fn live_workers_if_any(client: &impl GenericClient) -> anyhow::Result<Vec<LiveWorker>> {
    match crate::state::has_table(client, "workers").await? {
        true => live_workers(client).await,
        false => Ok(Vec::new()),
    }
}
