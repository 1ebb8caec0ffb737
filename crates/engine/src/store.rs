//! The target side of a run, behind one trait: the `migration` state a run reads and changes
//! (table state and checkpoints, the batch commit and its bookkeeping, quarantine, skips,
//! lineage, runs) and the commit of the target rows that goes with each batch.
//!
//! [`PgStore`] is the real one (the target database). [`MemoryStore`] keeps the same state in
//! memory so that the run loop's decisions (batch splitting, the reject-rate stop, resuming
//! after the last committed batch, retry) are tested without a database.

use std::collections::HashMap;
use std::future::Future;

use crate::batch::{Batch, FkCheck, SourceRow, TableSpec};
use crate::check::AdoptTarget;
use crate::chunk::Chunk;
use crate::deferred::DeferredFk;
use crate::key::Key;
use crate::state::{BatchKind, RunOutcome, TableCounts, TableState};

pub mod memory;
pub mod pg;
#[cfg(test)]
mod tests;

pub use memory::MemoryStore;
pub use pg::PgStore;

/// How a committed batch moves the table's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkpoint {
    /// New rows (`host run`): the checkpoint moves from `from` (the value the table, or its
    /// chunk `chunk`, must still have: None before its first batch) to the batch's last key.
    Advance {
        from: Option<Key>,
        chunk: Option<i32>,
    },
    /// Quarantined rows replayed (`host retry`): they leave the quarantine; the checkpoint
    /// stays.
    Stay,
}

impl Checkpoint {
    /// The kind recorded with the batch.
    pub fn kind(&self) -> BatchKind {
        match self {
            Checkpoint::Advance { .. } => BatchKind::Run,
            Checkpoint::Stay => BatchKind::Retry,
        }
    }
}

/// One batch to commit, with everything that commits with it.
pub struct BatchCommit<'a> {
    pub table: &'a TableSpec,
    pub run_id: i64,
    /// SHA-256 of the component that produced it.
    pub sha256: &'a str,
    /// The source rows, in key order (the fates are indexed alike).
    pub rows: &'a [SourceRow],
    pub batch: &'a Batch,
    /// The set-aside foreign keys each batch proves for itself (indexed like the batch's values).
    pub fk_checks: &'a [FkCheck],
    pub checkpoint: Checkpoint,
}

/// A committed batch: its number (the table's batches count it, lineage and the failpoints
/// number them so) and the table's counts after it, every chunk's batches included.
#[derive(Debug, Clone)]
pub struct Committed {
    pub batch_no: i64,
    pub counts: TableCounts,
}

/// Why a commit failed: the data (split the batch and find the row) or anything else.
#[derive(Debug)]
pub enum CommitError {
    /// The target refused a row of the batch (a constraint, a value): nothing was committed.
    Data(String),
    /// Anything else (a lost connection, the checkpoint moved): nothing was committed.
    Other(anyhow::Error),
}

impl CommitError {
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            CommitError::Data(m) => anyhow::anyhow!("the target refused a row: {m}"),
            CommitError::Other(e) => e,
        }
    }
}

/// A recorded hot swap (`migration.swaps`).
pub struct SwapRecord<'a> {
    pub run_id: i64,
    pub table: &'a str,
    pub old_sha256: &'a str,
    pub new_sha256: &'a str,
    pub applied: bool,
    /// Why it was refused (empty when applied).
    pub message: &'a str,
}

/// What a run does to the target and its `migration` state. Every method either does all it
/// says or nothing (each is one transaction); an error leaves the state as it was.
///
/// The contract the run loop relies on:
/// - A table's checkpoint (`TableState::last_key`) only changes in [`StateStore::commit_batch`],
///   together with the rows it covers; so a run that stops anywhere resumes after the last
///   committed batch and no row is written twice.
/// - After every commit, rows read = written + skipped + quarantined for the table.
/// - Values of the state read back are read strictly: an unknown phase is an error.
pub trait StateStore: Send {
    /// The state of `table`, or None if it never started.
    fn table_state(
        &mut self,
        table: &str,
    ) -> impl Future<Output = anyhow::Result<Option<TableState>>> + Send;

    /// The table starts (or resumes) over `source_rows` source rows: phase copying, error
    /// cleared; counts and checkpoint stay.
    fn begin_table(
        &mut self,
        table: &str,
        source_rows: i64,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Commits one batch atomically (returning its number and the table's counts after it):
    /// its target rows, id-map rows (written rows, where the table's recorded decision keeps
    /// its map: see [`StateStore::keep_id_map`]), skipped and
    /// quarantined rows (with the source row and the component), the lineage record (kind
    /// from the checkpoint), the table's counts and, for [`Checkpoint::Advance`], the
    /// checkpoint, which must still be `from` (else `Other`: another runner moved it). A
    /// [`Checkpoint::Stay`] batch takes its rows out of the quarantine first. The set-aside
    /// foreign keys are proven for the batch's values. `Data` when the target refuses a row
    /// (the caller splits the batch), `Other` for anything else.
    fn commit_batch(
        &mut self,
        commit: &BatchCommit<'_>,
    ) -> impl Future<Output = Result<Committed, CommitError>> + Send;

    /// Every row of `chunk` is committed: it is done. Returns how many chunks of its table are
    /// done now, and of how many (all: the caller finishes the table).
    fn finish_chunk(
        &mut self,
        chunk: &Chunk,
    ) -> impl Future<Output = anyhow::Result<(i64, i64)>> + Send;

    /// All rows of `table` are committed: the primary keys and unique keys set aside for the
    /// tables it writes are built, a duplicate quarantined (see
    /// `deferred::build_table_keys`); `source` gives the quarantined rows' source values.
    fn build_table_keys<R: crate::batch::PageSource>(
        &mut self,
        table: &TableSpec,
        source: &R,
    ) -> impl Future<Output = anyhow::Result<crate::deferred::Built>> + Send;

    /// Every source row is accounted for: phase done.
    fn finish_table(&mut self, table: &str) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// The table stopped with `error`: phase failed; counts and checkpoint stay.
    fn fail_table(
        &mut self,
        table: &str,
        error: &str,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// The `n` most frequent quarantine reasons of `table`, most frequent first (ties by reason).
    fn top_reject_reasons(
        &mut self,
        table: &str,
        n: i64,
    ) -> impl Future<Output = anyhow::Result<Vec<(String, i64)>>> + Send;

    /// The quarantined keys of `table`, in key order.
    fn quarantined_keys(
        &mut self,
        table: &str,
    ) -> impl Future<Output = anyhow::Result<Vec<Key>>> + Send;

    /// Decides, when the table begins, whether its rows' id-map rows are written (see
    /// `state::keep_id_map`: `wanted` unless rows were committed under an earlier decision),
    /// and records it, so every later commit, retry and check reads the same answer.
    fn keep_id_map(
        &mut self,
        table: &str,
        wanted: bool,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;

    /// The foreign keys set aside for the load, which each batch proves for itself.
    fn set_aside_foreign_keys(
        &mut self,
    ) -> impl Future<Output = anyhow::Result<Vec<DeferredFk>>> + Send;

    /// The ids an earlier migration gave the rows of an adopted table, by legacy id.
    fn adopted_ids(
        &mut self,
        adopt: &AdoptTarget,
        keys: &[Key],
    ) -> impl Future<Output = anyhow::Result<HashMap<Key, uuid::Uuid>>> + Send;

    /// Records the rows of an adopted table no source row accounts for (replacing what an
    /// earlier run recorded); returns how many there are.
    fn record_adopt_extras(
        &mut self,
        table: &str,
        adopt: &AdoptTarget,
    ) -> impl Future<Output = anyhow::Result<i64>> + Send;

    /// Records a hot swap's outcome.
    fn record_swap(
        &mut self,
        swap: &SwapRecord<'_>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Records a new run (`outcome` None) or retry (`Some(Retry)`); returns its id.
    fn start_run(
        &mut self,
        plan_path: &std::path::Path,
        outcome: Option<RunOutcome>,
    ) -> impl Future<Output = anyhow::Result<i64>> + Send;

    /// The run ended: its finish time, and its outcome when given (a retry keeps `Retry`).
    fn finish_run(
        &mut self,
        run_id: i64,
        outcome: Option<RunOutcome>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}
