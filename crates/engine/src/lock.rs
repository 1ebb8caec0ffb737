//! The run lock: one command at a time writes a target.
//!
//! `host run`, `retry`, `rollback` and `swap` (while it puts a file in place) hold a session
//! advisory lock in the target database. PostgreSQL releases it when the session ends, however
//! it ends (kill -9 included), so it can never be left stale: `pg_locks` is the truth. The row
//! in `migration.run_lock` only names the holder (host, pid, start, command) for the refusal
//! message and `host status`; a row whose backend no longer holds the lock is ignored.

use anyhow::Context;
use tokio_postgres::Client;

use crate::Error;

/// The advisory lock key, in the target database: "host-run" in ASCII. Fixed forever, so
/// every version of the tool excludes every other.
const KEY: i64 = 0x686f_7374_2d72_756e;

/// Who holds the lock, as `host status` and the refusal name it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Holder {
    /// The command holding it (`run`, `retry`, `rollback`, `swap`).
    pub command: Option<String>,
    pub hostname: Option<String>,
    /// The holding process on its host.
    pub pid: Option<i32>,
    /// When it took the lock, UTC (`YYYY-MM-DD HH:MM:SS UTC`).
    pub started_at: Option<String>,
    /// The PostgreSQL backend holding the lock (`pg_terminate_backend` ends it).
    pub backend_pid: i32,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.pid, &self.hostname) {
            (Some(pid), Some(host)) => write!(f, "pid {pid} on host {host}")?,
            _ => write!(f, "target backend pid {}", self.backend_pid)?,
        }
        if let Some(at) = &self.started_at {
            write!(f, ", started {at}")?;
        }
        if let Some(command) = &self.command {
            write!(f, " (command: {command})")?;
        }
        Ok(())
    }
}

/// The lock is held by another session.
#[derive(Debug)]
pub struct Held(pub Holder);

impl Held {
    /// The refusal, exit code 4 (the target cannot be used now, like an unreachable one).
    pub fn into_error(self, command: &str) -> Error {
        Error::connect(format!(
                "another host command holds this target: {}; `host {command}` waits for nothing and changed nothing: wait for it to finish or stop it, then try again (`host status` shows the holder)",
                self.0
            ),
        )
    }
}

/// The run lock, held by the session of the client that took it until `release` or until
/// that session ends.
#[derive(Debug)]
pub struct RunLock {
    command: String,
    started_at: std::time::SystemTime,
}

impl RunLock {
    /// Takes the lock for `command` on `client`'s session, or says who holds it. Creates the
    /// table naming the holder (under the lock, so two first commands never race to).
    pub async fn acquire(client: &Client, command: &str) -> anyhow::Result<Result<RunLock, Held>> {
        if !try_lock(client).await? {
            return Ok(Err(Held(holder(client).await?.unwrap_or_else(unknown))));
        }
        client
            .batch_execute(TABLE_SQL)
            .await
            .context("creating migration.run_lock in the target")?;
        let lock = RunLock {
            command: command.to_string(),
            started_at: std::time::SystemTime::now(),
        };
        lock.record(client).await?;
        Ok(Ok(lock))
    }

    /// Takes the lock again on a new session of the same command (after a reconnect: the old
    /// session's end released it). Fails with the holder if another command took it meanwhile.
    pub async fn reacquire(&self, client: &Client) -> anyhow::Result<Result<(), Held>> {
        if !try_lock(client).await? {
            return Ok(Err(Held(holder(client).await?.unwrap_or_else(unknown))));
        }
        self.record(client).await?;
        Ok(Ok(()))
    }

    /// The command holding the lock.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Gives the lock up before the session ends (a session that ends gives it up anyway).
    pub async fn release(self, client: &Client) -> anyhow::Result<()> {
        client
            .batch_execute(&format!(
                "DELETE FROM migration.run_lock WHERE backend_pid = pg_backend_pid();
                 SELECT pg_advisory_unlock({KEY})"
            ))
            .await
            .context("releasing the run lock")
    }

    async fn record(&self, client: &Client) -> anyhow::Result<()> {
        let started = self
            .started_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        // Rows of sessions that no longer hold the lock are history: clear them.
        client
            .execute(
                &format!(
                    "DELETE FROM migration.run_lock r WHERE NOT EXISTS ({HOLDERS} AND l.pid = r.backend_pid)"
                ),
                &[&KEY],
            )
            .await
            .context("clearing old run lock rows")?;
        client
            .execute(
                "INSERT INTO migration.run_lock (backend_pid, command, hostname, pid, started_at)
                 VALUES (pg_backend_pid(), $1, $2, $3, to_timestamp($4))
                 ON CONFLICT (backend_pid) DO UPDATE SET command = $1, hostname = $2, pid = $3, started_at = to_timestamp($4)",
                &[&self.command, &crate::state::hostname(), &(std::process::id() as i32), &started],
            )
            .await
            .context("recording the run lock holder in migration.run_lock")?;
        Ok(())
    }
}

/// Who holds the lock: a row per holding session. The lock itself is the advisory lock: it
/// dies with its session, so a row left by a killed process blocks nothing and is ignored (and
/// cleared by the next holder).
const TABLE_SQL: &str = "CREATE SCHEMA IF NOT EXISTS migration;
CREATE TABLE IF NOT EXISTS migration.run_lock (
    backend_pid integer PRIMARY KEY,
    command     text NOT NULL,
    hostname    text NOT NULL,
    pid         integer NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);";

/// The sessions holding the lock in this database (`$1` is the key).
const HOLDERS: &str = "SELECT l.pid FROM pg_locks l
     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND ((l.classid::bigint << 32) | l.objid::bigint) = $1";

async fn try_lock(client: &Client) -> anyhow::Result<bool> {
    Ok(client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&KEY])
        .await
        .context("taking the run lock of the target")?
        .get(0))
}

/// Who holds the lock now (None: nobody). Reads only.
pub async fn holder(client: &Client) -> anyhow::Result<Option<Holder>> {
    let Some(row) = client
        .query_opt(&format!("{HOLDERS} LIMIT 1"), &[&KEY])
        .await
        .context("looking for the holder of the run lock")?
    else {
        return Ok(None);
    };
    let backend_pid: i32 = row.get(0);
    let has_table: bool = client
        .query_one("SELECT to_regclass('migration.run_lock') IS NOT NULL", &[])
        .await?
        .get(0);
    let named = if has_table {
        client
            .query_opt(
                "SELECT command, hostname, pid,
                        to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC'
                 FROM migration.run_lock WHERE backend_pid = $1",
                &[&backend_pid],
            )
            .await
            .context("reading migration.run_lock")?
    } else {
        None
    };
    Ok(Some(match named {
        Some(r) => Holder {
            command: r.get(0),
            hostname: r.get(1),
            pid: r.get(2),
            started_at: r.get(3),
            backend_pid,
        },
        None => Holder {
            backend_pid,
            ..unknown()
        },
    }))
}

/// A holder that vanished between the two queries, or has not written its row yet.
fn unknown() -> Holder {
    Holder {
        command: None,
        hostname: None,
        pid: None,
        started_at: None,
        backend_pid: 0,
    }
}


/// Takes the lock for `command`, or refuses with the holder named (exit 4). Workers of an
/// ended run may still be finishing their chunks (see chunk.rs): a new `host run` goes on
/// beside them, any other command waits for them.
pub async fn acquire_or_refuse(client: &Client, command: &str) -> anyhow::Result<RunLock> {
    let lock = match RunLock::acquire(client, command).await? {
        Ok(lock) => lock,
        Err(held) => return Err(held.into_error(command).into()),
    };
    if command == "run" {
        return Ok(lock);
    }
    let workers: Vec<String> = crate::chunk::live_workers_if_any(client)
        .await?
        .iter()
        .filter(|w| w.command == "worker")
        .map(|w| format!("pid {} on host {}", w.pid, w.hostname))
        .collect();
    if workers.is_empty() {
        return Ok(lock);
    }
    lock.release(client).await?;
    Err(crate::Error::connect(format!(
        "`host worker` processes are still working this target ({}); `host {command}` changed nothing: let them finish (they stop once the run's chunks are done) or stop them, then try again",
        workers.join(", ")
    ))
    .into())
}
