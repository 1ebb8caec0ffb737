//! The run loop's decisions, in memory: halving a batch down to the row that traps the plugin
//! or that the target refuses, the reject-rate stop, resuming after the last committed batch,
//! and retry. No database: the loop runs over a [`MemoryStore`] and an in-memory source.

use std::sync::Mutex;

use super::*;
use crate::error::ErrorKind;
use crate::key::Key;
use crate::pg::Column;
use crate::run::{
    begin_table, copy_table, table_report, NoSwaps, PageSource, SourceRow, TableSpec, TableWriter,
    Transform,
};
use crate::state::{BatchKind, StateValue, TablePhase};
use crate::wasm::{Outcome, PluginError, TargetRow, Value};

fn column(name: &str, type_oid: u32, type_name: &str) -> Column {
    Column {
        name: name.into(),
        type_oid,
        type_name: type_name.into(),
        max_chars: None,
        numeric_precision: None,
        not_null: false,
        has_default: false,
        enum_labels: None,
        sql_type: type_name.into(),
        element: None,
    }
}

/// `offices` from the source table `office (id, name)` into `offices (legacy_id, name)`.
fn spec(batch_size: usize, max_reject_rate: f64) -> TableSpec {
    let columns = || vec![column("id", 20, "int8"), column("name", 25, "text")];
    TableSpec {
        name: "offices".into(),
        source_table: "office".into(),
        key: crate::batch::KeySpec {
            columns: vec!["id".into()],
            positions: vec![0],
            sql_types: vec!["bigint".into()],
        },
        batch_size,
        max_reject_rate,
        source_columns: columns(),
        target_columns: vec![("offices".into(), columns())],
        adopt: None,
        keep_id_map: true,
    }
}

/// Source rows with keys 1..=n, and the pages asked for (the key each page starts after).
struct Source {
    rows: Vec<SourceRow>,
    pages_after: Mutex<Vec<Option<i64>>>,
}

impl Source {
    fn new(n: i64) -> Self {
        let rows = (1..=n)
            .map(|key| SourceRow {
                key: Key::Int(key),
                values: vec![Value::Int(key), Value::Text(format!("office {key}"))],
                unreadable: None,
            })
            .collect();
        Source {
            rows,
            pages_after: Mutex::new(Vec::new()),
        }
    }

    fn pages_after(&self) -> Vec<Option<i64>> {
        std::mem::take(&mut self.pages_after.lock().unwrap())
    }
}

impl PageSource for Source {
    async fn count(&self, _: &TableSpec) -> anyhow::Result<i64> {
        Ok(self.rows.len() as i64)
    }

    async fn page(
        &self,
        t: &TableSpec,
        after: Option<&Key>,
        upto: Option<&Key>,
    ) -> anyhow::Result<Vec<SourceRow>> {
        self.pages_after
            .lock()
            .unwrap()
            .push(after.and_then(Key::as_int));
        let rows = self
            .rows
            .iter()
            .filter(|r| after.is_none_or(|a| r.key > *a) && upto.is_none_or(|u| r.key <= *u));
        Ok(rows.take(t.batch_size).cloned().collect())
    }

    async fn split_points(&self, _: &TableSpec, every: i64) -> anyhow::Result<Vec<Key>> {
        let every = every as usize;
        Ok(self
            .rows
            .iter()
            .skip(every - 1)
            .step_by(every)
            .map(|r| r.key.clone())
            .collect())
    }

    async fn rows_with_keys(&self, _: &TableSpec, keys: &[Key]) -> anyhow::Result<Vec<SourceRow>> {
        let rows = self.rows.iter().filter(|r| keys.contains(&r.key));
        Ok(rows.cloned().collect())
    }
}

/// A transform by rule: a call holding a key of `trap_on` traps; a key `reject` picks is
/// rejected; any other row is written as it is.
struct Rules {
    trap_on: Vec<i64>,
    reject: fn(i64) -> bool,
}

impl Rules {
    fn writing_all() -> Self {
        Rules {
            trap_on: Vec::new(),
            reject: |_| false,
        }
    }
}

impl Transform for Rules {
    fn sha256(&self) -> &str {
        "rules"
    }

    fn transform(&mut self, rows: &mut [SourceRow]) -> Result<Vec<Outcome>, PluginError> {
        if let Some(r) = rows.iter().find(|r| self.trap_on.contains(&int(r))) {
            return Err(PluginError::Trap {
                path: "rules.wasm".into(),
                message: format!("panicked on {}", r.key),
            });
        }
        let outcome = |r: &SourceRow| match (self.reject)(int(r)) {
            true => Outcome::Reject(format!("bad office {}", int(r) % 2)),
            false => Outcome::Write(vec![TargetRow {
                table: "offices".into(),
                values: r.values.clone(),
            }]),
        };
        Ok(rows.iter().map(outcome).collect())
    }

    fn restart(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    fn committed(&self, _: &str, _: &[SourceRow], _: &[crate::run::Fate]) {}

    fn end_batch(&mut self) {}
}

/// Runs (or resumes) `spec` from `source` into `store`, as `host run` does one table.
async fn run(
    store: &mut MemoryStore,
    source: &Source,
    spec: &TableSpec,
    rules: Rules,
) -> anyhow::Result<()> {
    let state = store.table_state(&spec.name).await?;
    let total = begin_table(store, source, spec).await?;
    let mut writer = TableWriter::open(store, 1, spec.clone(), rules, state.as_ref()).await?;
    copy_table(&mut writer, source, &mut NoSwaps, total).await
}

fn state(store: &MemoryStore) -> &crate::state::TableState {
    &store.tables["offices"]
}

fn quarantined_keys(store: &MemoryStore) -> Vec<i64> {
    store
        .quarantine
        .keys()
        .filter_map(|(_, k)| k.as_int())
        .collect()
}

/// A test row's integer key.
fn int(r: &SourceRow) -> i64 {
    r.key.as_int().expect("test rows have integer keys")
}

#[tokio::test]
async fn a_trapping_row_and_a_refused_row_are_halved_out_and_quarantined() {
    let mut store = MemoryStore {
        refuse: Some(Box::new(|_, line| {
            line.ends_with(b"\toffice 13\n")
                .then(|| "new row violates check constraint \"no_13\"".to_string())
        })),
        ..Default::default()
    };
    let source = Source::new(100);
    let rules = Rules {
        trap_on: vec![7],
        reject: |_| false,
    };
    run(&mut store, &source, &spec(25, 0.5), rules)
        .await
        .unwrap();

    let s = state(&store);
    assert_eq!(s.phase, TablePhase::Done);
    assert_eq!(s.last_key, Some(Key::Int(100)));
    assert_eq!(
        (
            s.counts.rows_read,
            s.counts.rows_written,
            s.counts.rows_rejected
        ),
        (100, 98, 2)
    );
    assert_eq!(quarantined_keys(&store), vec![7, 13]);
    let reason = |k: i64| {
        store.quarantine[&("offices".to_string(), Key::Int(k))]
            .reason
            .clone()
    };
    assert_eq!(reason(7), "plugin trapped: panicked on 7");
    assert_eq!(
        reason(13),
        "target refused the row: new row violates check constraint \"no_13\""
    );
    let written = store.rows_of("offices");
    assert_eq!(written.len(), 98);
    assert!(!written
        .iter()
        .any(|l| l == "7\toffice 7" || l == "13\toffice 13"));
    // The halves commit in key order, each a batch of its own: together they cover every key once.
    let mut next = 1;
    for b in &store.batches {
        assert_eq!(
            (b.first_key.clone(), b.kind),
            (Some(Key::Int(next)), BatchKind::Run),
            "{b:?}"
        );
        next = b.last_key.as_ref().and_then(Key::as_int).unwrap() + 1;
    }
    assert_eq!(next, 101);
    assert!(store.batches.len() > 4, "the first two pages were halved");
    assert_eq!(s.counts.batches, store.batches.len() as i64);
}

#[tokio::test]
async fn the_reject_rate_stops_the_table_once_its_limit_cannot_be_met() {
    let mut store = MemoryStore::default();
    let source = Source::new(200);
    // Every even key of the first 40 is rejected: 10 of 200 (5%) after the first page, 20
    // after the second, which no later row can bring back under 5%.
    let rules = Rules {
        trap_on: Vec::new(),
        reject: |k| k <= 40 && k % 2 == 0,
    };
    let spec = spec(20, 0.05);
    let started = std::time::Instant::now();
    let result = run(&mut store, &source, &spec, rules).await;
    let report = table_report(&mut store, "offices", result, started)
        .await
        .unwrap();

    assert_eq!(report.phase, TablePhase::Failed);
    let failure = report.error.expect("the table stopped");
    assert_eq!(failure.kind, ErrorKind::TableFailed);
    assert!(
        failure.message.contains(
            "20 of 40 rows read (50.00%) were quarantined, already more than max_reject_rate 5.00%"
        ) && failure
            .message
            .contains("most frequent reasons:\n    20 x bad office 0"),
        "{}",
        failure.message
    );
    let s = state(&store);
    assert_eq!(s.phase, TablePhase::Failed);
    assert_eq!(s.error.as_deref(), Some(failure.message.as_str()));
    // What it committed stays, and balances.
    assert_eq!(
        (s.last_key.clone(), s.counts.rows_read),
        (Some(Key::Int(40)), 40)
    );
    assert_eq!(s.counts.rows_written + s.counts.rows_rejected, 40);
}

#[tokio::test]
async fn a_few_rejected_rows_early_in_the_table_do_not_stop_it() {
    let mut store = MemoryStore::default();
    let source = Source::new(400);
    // 12 rejects in the first 40 rows (30%), 3% of the table: under a 5% limit in the end.
    let rules = Rules {
        trap_on: Vec::new(),
        reject: |k| k <= 12,
    };
    run(&mut store, &source, &spec(20, 0.05), rules)
        .await
        .unwrap();
    assert_eq!(state(&store).phase, TablePhase::Done);
    assert_eq!(state(&store).counts.rows_rejected, 12);
}

#[tokio::test]
async fn a_run_stopped_after_a_committed_batch_resumes_after_it() {
    let source = Source::new(100);
    let spec = spec(10, 0.5);
    let mut reference = MemoryStore::default();
    run(&mut reference, &source, &spec, Rules::writing_all())
        .await
        .unwrap();
    source.pages_after();

    let mut store = MemoryStore {
        lose_connection_at: vec![4],
        ..Default::default()
    };
    let stopped = run(&mut store, &source, &spec, Rules::writing_all()).await;
    assert!(stopped.unwrap_err().to_string().contains("connection lost"));
    let s = state(&store);
    assert_eq!(
        (s.phase, s.last_key.clone(), s.counts.rows_read),
        (TablePhase::Copying, Some(Key::Int(30)), 30)
    );
    assert_eq!(store.rows_of("offices").len(), 30, "batch 4 did not commit");
    source.pages_after();

    run(&mut store, &source, &spec, Rules::writing_all())
        .await
        .unwrap();
    assert_eq!(
        source.pages_after().first(),
        Some(&Some(30)),
        "the second run reads on after the checkpoint"
    );
    assert_eq!(state(&store), state(&reference));
    assert_eq!(store.rows_of("offices"), reference.rows_of("offices"));
    assert_eq!(store.id_map, reference.id_map);
    let keys = |s: &MemoryStore| -> Vec<(i64, Option<Key>, Option<Key>)> {
        s.batches
            .iter()
            .map(|b| (b.batch_no, b.first_key.clone(), b.last_key.clone()))
            .collect()
    };
    assert_eq!(keys(&store), keys(&reference));
}

#[tokio::test]
async fn retry_writes_the_quarantined_rows_that_now_pass_and_the_checkpoint_stays() {
    let mut store = MemoryStore::default();
    let source = Source::new(100);
    let spec = spec(10, 0.5);
    let rules = Rules {
        trap_on: vec![42],
        reject: |k| k % 25 == 0,
    };
    run(&mut store, &source, &spec, rules).await.unwrap();
    assert_eq!(quarantined_keys(&store), vec![25, 42, 50, 75, 100]);
    let batches = state(&store).counts.batches;

    // The fixed component still rejects 50.
    let keys = store.quarantined_keys("offices").await.unwrap();
    let state_before = store.table_state("offices").await.unwrap();
    let fixed = Rules {
        trap_on: Vec::new(),
        reject: |k| k == 50,
    };
    let writer = TableWriter::open(&mut store, 2, spec.clone(), fixed, state_before.as_ref())
        .await
        .unwrap();
    let report = crate::retry::retry_table(writer, &source, &keys)
        .await
        .unwrap();

    assert_eq!(
        (
            report.quarantined_before,
            report.written,
            report.still_quarantined
        ),
        (5, 4, 1)
    );
    assert_eq!(quarantined_keys(&store), vec![50]);
    let s = state(&store);
    assert_eq!(
        s.last_key,
        Some(Key::Int(100)),
        "the checkpoint does not move"
    );
    assert_eq!(
        (
            s.counts.rows_read,
            s.counts.rows_written,
            s.counts.rows_rejected
        ),
        (100, 99, 1)
    );
    assert_eq!(s.counts.batches, batches + 1);
    assert_eq!(store.batches.last().map(|b| b.kind), Some(BatchKind::Retry));
    assert_eq!(store.rows_of("offices").len(), 99);
    assert!(store
        .rows_of("offices")
        .contains(&"42\toffice 42".to_string()));
}

#[tokio::test]
async fn a_table_stopped_by_an_unreachable_database_fails_with_the_connect_kind() {
    let mut store = MemoryStore::default();
    let lost: anyhow::Result<()> =
        Err(crate::Error::connect("the target could not be reached").into());
    let report = table_report(&mut store, "offices", lost, std::time::Instant::now())
        .await
        .unwrap();
    assert_eq!(report.error.map(|e| e.kind), Some(ErrorKind::Connect));
}

#[test]
fn an_unknown_value_in_the_state_is_an_error_naming_it_and_its_table() {
    assert_eq!(TablePhase::parse("done").unwrap(), TablePhase::Done);
    let e = TablePhase::parse("paused").unwrap_err().to_string();
    assert!(
        e.starts_with("migration.table_state.phase holds `paused`, which this host does not know (it knows pending, copying, done, failed)"),
        "{e}"
    );
    let e = crate::state::ConstraintKind::parse("trigger")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("migration.deferred_constraints.kind holds `trigger`"),
        "{e}"
    );
}
