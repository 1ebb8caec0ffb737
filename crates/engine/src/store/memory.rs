//! The state store in memory, for tests of the run loop without a database. It keeps what
//! the `migration` schema keeps and refuses what the target would refuse (a key committed
//! twice, a checkpoint moved by someone else), plus the faults a test arranges.

use std::collections::{BTreeMap, HashMap};

use super::{BatchCommit, Checkpoint, CommitError, Committed, StateStore, SwapRecord};
use crate::batch::{source_json, Fate, TableSpec};
use crate::check::AdoptTarget;
use crate::chunk::Chunk;
use crate::deferred::DeferredFk;
use crate::key::Key;
use crate::state::{BatchKind, RunOutcome, TableCounts, TablePhase, TableState};

/// A quarantined row as `migration.quarantine` keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    pub source_row: String,
    pub reason: String,
    pub component_sha256: String,
    pub batch_no: i64,
}

/// A committed batch as `migration.batches` keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRecord {
    pub table: String,
    pub batch_no: i64,
    pub run_id: i64,
    pub first_key: Option<Key>,
    pub last_key: Option<Key>,
    pub rows_in: i64,
    pub counts: TableCounts,
    pub kind: BatchKind,
}

/// Decides whether the target refuses one COPY line of a target table (`Some(why)`), like a
/// constraint would.
pub type Refusal = Box<dyn Fn(&str, &[u8]) -> Option<String> + Send>;

/// The `migration` state and the target rows, in memory.
#[derive(Default)]
pub struct MemoryStore {
    pub tables: BTreeMap<String, TableState>,
    /// Target rows per target table, as COPY text lines, in commit order.
    pub target_rows: BTreeMap<String, Vec<Vec<u8>>>,
    pub id_map: BTreeMap<(String, Key), uuid::Uuid>,
    pub quarantine: BTreeMap<(String, Key), Quarantined>,
    pub skipped: BTreeMap<(String, Key), (String, i64)>,
    pub batches: Vec<BatchRecord>,
    /// Chunk checkpoints and whether done, by table and chunk number.
    pub chunks: BTreeMap<(String, i32), (Option<Key>, bool)>,
    /// Runs by id: outcome and whether finished.
    pub runs: BTreeMap<i64, (Option<RunOutcome>, bool)>,
    pub swaps: usize,
    /// What the target refuses (None: everything fits).
    pub refuse: Option<Refusal>,
    /// Batch numbers whose commit fails as if the connection dropped (each once).
    pub lose_connection_at: Vec<i64>,
}

impl MemoryStore {
    /// The target rows of `table` as text, one line each (tabs between fields).
    pub fn rows_of(&self, table: &str) -> Vec<String> {
        self.target_rows
            .get(table)
            .into_iter()
            .flatten()
            .map(|l| String::from_utf8_lossy(l).trim_end().to_string())
            .collect()
    }

    /// Checks a batch against what is committed, as the target's keys would.
    fn refused(&self, c: &BatchCommit<'_>) -> Option<String> {
        let name = &c.table.name;
        for (row, fate) in c.rows.iter().zip(&c.batch.fates) {
            let key = (name.clone(), row.key.clone());
            let taken = match fate {
                Fate::Written(_) => self.id_map.contains_key(&key),
                Fate::Skipped(_) => self.skipped.contains_key(&key),
                Fate::Quarantined(_) => {
                    c.checkpoint != Checkpoint::Stay && self.quarantine.contains_key(&key)
                }
            };
            if taken {
                return Some(format!("duplicate key: {name} row {}", row.key));
            }
        }
        let refuse = self.refuse.as_ref()?;
        c.batch
            .target_copy
            .iter()
            .enumerate()
            .flat_map(|(i, data)| data.split_inclusive(|b| *b == b'\n').map(move |l| (i, l)))
            .find_map(|(i, line)| refuse(&c.table.target_columns[i].0, line))
    }

    /// Applies a checked batch.
    fn apply(&mut self, c: &BatchCommit<'_>, batch_no: i64) {
        let name = &c.table.name;
        for (i, data) in c.batch.target_copy.iter().enumerate() {
            let lines = self
                .target_rows
                .entry(c.table.target_columns[i].0.clone())
                .or_default();
            lines.extend(data.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec));
        }
        for (row, fate) in c.rows.iter().zip(&c.batch.fates) {
            let key = (name.clone(), row.key.clone());
            if c.checkpoint == Checkpoint::Stay {
                self.quarantine.remove(&key);
            }
            match fate {
                Fate::Written(id) => {
                    self.id_map.insert(key, *id);
                }
                Fate::Skipped(reason) => {
                    self.skipped.insert(key, (reason.clone(), batch_no));
                }
                Fate::Quarantined(reason) => {
                    let q = Quarantined {
                        source_row: source_json(c.table, row),
                        reason: reason.clone(),
                        component_sha256: c.sha256.to_string(),
                        batch_no,
                    };
                    self.quarantine.insert(key, q);
                }
            }
        }
        self.batches.push(BatchRecord {
            table: name.clone(),
            batch_no,
            run_id: c.run_id,
            first_key: c.rows.first().map(|r| r.key.clone()),
            last_key: c.rows.last().map(|r| r.key.clone()),
            rows_in: c.rows.len() as i64,
            counts: c.batch.counts(),
            kind: c.checkpoint.kind(),
        });
    }

    /// Moves the table's counts (and checkpoint) as the batch says.
    fn account(&mut self, c: &BatchCommit<'_>) -> Result<(), CommitError> {
        let counts = c.batch.counts();
        let moved_away = || {
            CommitError::Other(anyhow::anyhow!(
                "the checkpoint of {} moved under this runner",
                c.table.name
            ))
        };
        let state = self.tables.get_mut(&c.table.name).ok_or_else(moved_away)?;
        let s = &mut state.counts;
        match &c.checkpoint {
            Checkpoint::Advance { from, chunk } => {
                let last = c.rows.last().map(|r| r.key.clone());
                match chunk {
                    Some(no) => {
                        let checkpoint =
                            self.chunks.entry((c.table.name.clone(), *no)).or_default();
                        if checkpoint.0 != *from {
                            return Err(moved_away());
                        }
                        checkpoint.0 = last;
                    }
                    None if state.last_key != *from => return Err(moved_away()),
                    None => state.last_key = last,
                }
                s.rows_read += counts.rows_read;
                s.rows_rejected += counts.rows_rejected;
            }
            Checkpoint::Stay => s.rows_rejected += counts.rows_rejected - counts.rows_read,
        }
        s.rows_written += counts.rows_written;
        s.rows_skipped += counts.rows_skipped;
        s.target_rows += counts.target_rows;
        s.batches += 1;
        Ok(())
    }

    fn set_phase(&mut self, table: &str, phase: TablePhase, error: Option<String>) {
        if let Some(state) = self.tables.get_mut(table) {
            state.phase = phase;
            state.error = error;
        }
    }
}

impl StateStore for MemoryStore {
    async fn table_state(&mut self, table: &str) -> anyhow::Result<Option<TableState>> {
        Ok(self.tables.get(table).cloned())
    }

    async fn begin_table(&mut self, table: &str, source_rows: i64) -> anyhow::Result<()> {
        let state = self
            .tables
            .entry(table.to_string())
            .or_insert_with(|| TableState {
                phase: TablePhase::Copying,
                last_key: None,
                counts: TableCounts::default(),
                error: None,
                keep_id_map: None,
            });
        state.phase = TablePhase::Copying;
        state.error = None;
        state.counts.source_rows = Some(source_rows);
        Ok(())
    }

    async fn commit_batch(&mut self, c: &BatchCommit<'_>) -> Result<Committed, CommitError> {
        let batch_no = self
            .tables
            .get(&c.table.name)
            .map_or(0, |s| s.counts.batches)
            + 1;
        if let Some(i) = self.lose_connection_at.iter().position(|n| *n == batch_no) {
            self.lose_connection_at.remove(i);
            return Err(CommitError::Other(anyhow::anyhow!(
                "connection lost (arranged by the test)"
            )));
        }
        if let Some(why) = self.refused(c) {
            return Err(CommitError::Data(why));
        }
        // Counts first: it is the only step that can still fail, and nothing is applied then.
        self.account(c)?;
        self.apply(c, batch_no);
        let counts = self.tables[&c.table.name].counts.clone();
        Ok(Committed { batch_no, counts })
    }

    async fn finish_chunk(&mut self, chunk: &Chunk) -> anyhow::Result<(i64, i64)> {
        self.chunks
            .entry((chunk.table.clone(), chunk.no))
            .or_default()
            .1 = true;
        let of_table = self.chunks.iter().filter(|((t, _), _)| t == &chunk.table);
        let done = of_table.clone().filter(|(_, (_, done))| *done).count();
        Ok((done as i64, of_table.count() as i64))
    }

    async fn build_table_keys<R: crate::batch::PageSource>(
        &mut self,
        _: &TableSpec,
        _: &R,
    ) -> anyhow::Result<crate::deferred::Built> {
        // Nothing is set aside in memory.
        Ok(Default::default())
    }

    async fn finish_table(&mut self, table: &str) -> anyhow::Result<()> {
        self.set_phase(table, TablePhase::Done, None);
        Ok(())
    }

    async fn fail_table(&mut self, table: &str, error: &str) -> anyhow::Result<()> {
        self.set_phase(table, TablePhase::Failed, Some(error.to_string()));
        Ok(())
    }

    async fn top_reject_reasons(
        &mut self,
        table: &str,
        n: i64,
    ) -> anyhow::Result<Vec<(String, i64)>> {
        let mut tally: BTreeMap<&str, i64> = BTreeMap::new();
        for ((t, _), q) in &self.quarantine {
            if t == table {
                *tally.entry(q.reason.as_str()).or_default() += 1;
            }
        }
        let mut reasons: Vec<(String, i64)> =
            tally.into_iter().map(|(r, n)| (r.to_string(), n)).collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        reasons.truncate(n.max(0) as usize);
        Ok(reasons)
    }

    async fn quarantined_keys(&mut self, table: &str) -> anyhow::Result<Vec<Key>> {
        Ok(self
            .quarantine
            .keys()
            .filter(|(t, _)| t == table)
            .map(|(_, k)| k.clone())
            .collect())
    }

    async fn keep_id_map(&mut self, table: &str, wanted: bool) -> anyhow::Result<bool> {
        let Some(st) = self.tables.get_mut(table) else {
            return Ok(wanted);
        };
        let keep =
            crate::state::keep_id_map(table, st.keep_id_map, st.counts.rows_written, wanted)?;
        st.keep_id_map = Some(keep);
        Ok(keep)
    }

    async fn set_aside_foreign_keys(&mut self) -> anyhow::Result<Vec<DeferredFk>> {
        Ok(Vec::new())
    }

    async fn adopted_ids(
        &mut self,
        _adopt: &AdoptTarget,
        _keys: &[Key],
    ) -> anyhow::Result<HashMap<Key, uuid::Uuid>> {
        Ok(HashMap::new())
    }

    async fn record_adopt_extras(
        &mut self,
        _table: &str,
        _adopt: &AdoptTarget,
    ) -> anyhow::Result<i64> {
        Ok(0)
    }

    async fn record_swap(&mut self, _swap: &SwapRecord<'_>) -> anyhow::Result<()> {
        self.swaps += 1;
        Ok(())
    }

    async fn start_run(
        &mut self,
        _plan_path: &std::path::Path,
        outcome: Option<RunOutcome>,
    ) -> anyhow::Result<i64> {
        let id = self.runs.len() as i64 + 1;
        self.runs.insert(id, (outcome, false));
        Ok(id)
    }

    async fn finish_run(&mut self, run_id: i64, outcome: Option<RunOutcome>) -> anyhow::Result<()> {
        if let Some(run) = self.runs.get_mut(&run_id) {
            run.0 = outcome.or(run.0);
            run.1 = true;
        }
        Ok(())
    }
}
