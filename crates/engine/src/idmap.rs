//! The legacy-id map: legacy keys -> UUIDs, kept in `migration.id_map`.
//!
//! New UUIDs are deterministic (UUIDv5 of entity and key), so the same source always gives
//! the same target rows; mappings already in the map are honoured. A plugin that resolves its
//! own table sees its rows as they commit; a row not committed yet (later in the batch, or in
//! a later batch) is a forward reference (`ids.later`), which the runner settles.
//!
//! A run answers from the target itself ([`IdMaps::connect`]): memory stays flat however many
//! rows the maps hold. Before each plugin call the keys the batch will likely ask for are
//! fetched in one query per entity (the source columns whose values earlier asks named); a key
//! asked for anyway is looked up there and then (one round trip). Answers are kept in a
//! bounded cache; rows the running table commits refresh theirs. `host plugin test` and the
//! dry run hold their maps in memory ([`IdMaps::in_memory`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::key::Key;

/// The namespace of every UUID this tool mints. Never change it: it would change every id.
pub const NAMESPACE: Uuid = Uuid::from_u128(0x6c61_622d_6d69_6772_6174_652d_7631_0001);

/// The UUID for a new row of `entity` with key `key`: UUIDv5 of `entity:<canonical key text>`
/// (see `key`), so an integer key 42 gives the UUID of `entity:42`.
pub fn mint(entity: &str, key: &Key) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("{entity}:{key}").as_bytes())
}

/// Answers a table run keeps, at most: some 150 bytes each with the hash table's overhead, so
/// about 3 MB per running table whatever the size of the maps (a 5,000-row batch's keys of a
/// few parents fit; a batch needing more is answered all the same, a few more queries).
pub const CACHE_ENTRIES: usize = 20_000;

/// The id maps of the entities one table's plugin declares it resolves: the one place that
/// answers ids.
#[derive(Debug, Default)]
pub struct IdMaps {
    /// The entities the plugin declared (`describe().resolves`): only these are answered.
    declared: HashSet<String>,
    answers: Answers,
}

#[derive(Debug)]
enum Answers {
    Memory(MemoryMaps),
    Target(Lookup),
}

impl Default for Answers {
    fn default() -> Self {
        Answers::Memory(MemoryMaps::default())
    }
}

/// Whole maps in memory (`host plugin test`, the dry run).
#[derive(Debug, Default)]
struct MemoryMaps {
    maps: HashMap<String, HashMap<Key, Uuid>>,
    /// Skip reasons of the same entities' skipped rows.
    skipped: HashMap<String, HashMap<Key, String>>,
    /// Rows of the running table committed since, for a plugin that resolves its own table.
    committed: std::sync::RwLock<HashMap<String, HashMap<Key, Answer>>>,
}

/// What the target records for one key of an entity.
#[derive(Debug, Clone, Default, PartialEq)]
struct Answer {
    id: Option<Uuid>,
    skipped: Option<String>,
}

/// Answers from the target: a connection of the table run's own and a bounded cache.
struct Lookup {
    client: Arc<Client>,
    state: Mutex<LookupState>,
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lookup")
    }
}

#[derive(Default)]
struct LookupState {
    cache: Cache,
    /// For each entity, the source columns (positions in the rows read) whose values earlier
    /// asks named: fetched before each call.
    learned: HashMap<String, BTreeSet<usize>>,
    /// Keys asked for in the current call that were not fetched before it.
    misses: Vec<(String, Key)>,
    /// The current call's integer values, by source column (empty for other columns): a
    /// miss on an integer key fetches, at once, the batch's values of the columns holding it.
    batch_ints: Vec<Vec<i64>>,
    /// Each integer of `batch_ints` -> its columns, built at the call's first such miss.
    int_columns: Option<HashMap<i64, Vec<usize>>>,
    /// A lookup that failed inside a call (the call traps); the run stops with it.
    fault: Option<anyhow::Error>,
    /// Queries sent: before calls, and for single keys.
    prefetches: u64,
    single_lookups: u64,
}

impl Drop for Lookup {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        tracing::debug!(
            prefetches = st.prefetches,
            single_lookups = st.single_lookups,
            cached = st.cache.len,
            "id lookups"
        );
    }
}

/// Answers by entity and key, about `capacity` of them. When the next ones would not fit, the
/// answers no part of the current call has used are dropped: what a call asked for or had
/// fetched for it stays until the call ends, whatever it asks next (dropping those would turn
/// each later ask into a round trip of its own). A call needing more than `capacity` answers
/// holds them all until it ends; the bound is then the call's own keys (a batch's worth).
#[derive(Default)]
struct Cache {
    entries: HashMap<String, HashMap<Key, (Answer, u64)>>,
    len: usize,
    capacity: usize,
    /// The current call's number: an answer stamped with it is in use.
    call: u64,
}

impl Cache {
    fn new(capacity: usize) -> Cache {
        Cache {
            capacity: capacity.max(1),
            ..Default::default()
        }
    }

    /// A new plugin call begins: the answers earlier calls used may go when room is needed.
    fn begin_call(&mut self) {
        self.call += 1;
    }

    /// The answer held for `key`, now in use by the current call.
    fn get(&mut self, entity: &str, key: &Key) -> Option<&Answer> {
        let call = self.call;
        let (answer, used) = self.entries.get_mut(entity)?.get_mut(key)?;
        *used = call;
        Some(answer)
    }

    /// Whether an answer is held for `key`; if so, it is now in use by the current call.
    fn keep(&mut self, entity: &str, key: &Key) -> bool {
        self.get(entity, key).is_some()
    }

    /// Room for `n` more answers: the answers the current call has not used go when the
    /// `n` would not fit.
    fn make_room(&mut self, n: usize) {
        if self.len + n > self.capacity {
            let call = self.call;
            for map in self.entries.values_mut() {
                map.retain(|_, (_, used)| *used == call);
            }
            self.entries.retain(|_, map| !map.is_empty());
            self.len = self.entries.values().map(HashMap::len).sum();
        }
    }

    fn insert(&mut self, entity: &str, key: Key, answer: Answer) {
        if !self.keep(entity, &key) {
            self.make_room(1);
        }
        let map = match self.entries.get_mut(entity) {
            Some(map) => map,
            None => self.entries.entry(entity.to_string()).or_default(),
        };
        if map.insert(key, (answer, self.call)).is_none() {
            self.len += 1;
        }
    }

    /// Replaces the answer for `key` if one is held (a row of the running table committed).
    fn refresh(&mut self, entity: &str, key: &Key, answer: Answer) {
        if let Some((held, _)) = self.entries.get_mut(entity).and_then(|m| m.get_mut(key)) {
            *held = answer;
        }
    }
}

/// The cache bound: [`CACHE_ENTRIES`], or the `id-cache-entries` failpoint (tests make it
/// small to run a map larger than the cache).
fn cache_entries() -> usize {
    crate::failpoint::id_cache_entries().unwrap_or(CACHE_ENTRIES)
}

impl IdMaps {
    /// The maps of `entities`, answered from the target at `target_url` on a connection of
    /// their own (none when the plugin resolves nothing).
    pub async fn connect(target_url: &str, entities: &[String]) -> anyhow::Result<IdMaps> {
        if entities.is_empty() {
            return Ok(IdMaps::default());
        }
        let client = crate::pg::connect_typed(target_url, crate::pg::Side::Target).await?;
        Ok(IdMaps {
            declared: entities.iter().cloned().collect(),
            answers: Answers::Target(Lookup {
                client: Arc::new(client),
                state: Mutex::new(LookupState {
                    cache: Cache::new(cache_entries()),
                    ..Default::default()
                }),
            }),
        })
    }

    /// An id map held in memory only (`host plugin test`, the dry run): every entity of
    /// `entities` counts as declared; the `migrated` rows map to their minted UUIDs and the
    /// `skipped` rows carry their reasons, as a real run would have recorded them.
    pub fn in_memory(
        entities: &[String],
        migrated: &[(String, Key)],
        skipped: &[(String, Key, String)],
    ) -> IdMaps {
        let mut maps: HashMap<String, HashMap<Key, Uuid>> = HashMap::new();
        let mut skips: HashMap<String, HashMap<Key, String>> = HashMap::new();
        for (entity, key) in migrated {
            maps.entry(entity.clone())
                .or_default()
                .insert(key.clone(), mint(entity, key));
        }
        for (entity, key, reason) in skipped {
            skips
                .entry(entity.clone())
                .or_default()
                .insert(key.clone(), reason.clone());
        }
        IdMaps {
            declared: entities.iter().cloned().collect(),
            answers: Answers::Memory(MemoryMaps {
                maps,
                skipped: skips,
                committed: Default::default(),
            }),
        }
    }

    /// Whether the plugin declared `entity`: only a declared entity is answered.
    pub fn is_loaded(&self, entity: &str) -> bool {
        self.declared.contains(entity)
    }

    /// What is recorded for `key` of a declared entity (an undeclared one has nothing).
    fn answer(&self, entity: &str, key: &Key) -> anyhow::Result<Answer> {
        if !self.is_loaded(entity) {
            return Ok(Answer::default());
        }
        match &self.answers {
            Answers::Memory(m) => Ok(m.answer(entity, key)),
            Answers::Target(l) => l.answer(entity, key),
        }
    }

    /// The UUID of a migrated row, or None when it was never migrated. Err: the target could
    /// not be asked (the run stops with it, see [`IdMaps::take_fault`]).
    pub fn resolve(&self, entity: &str, key: &Key) -> anyhow::Result<Option<Uuid>> {
        Ok(self.answer(entity, key)?.id)
    }

    /// Why a row was skipped, if it was.
    pub fn skipped(&self, entity: &str, key: &Key) -> anyhow::Result<Option<String>> {
        Ok(self.answer(entity, key)?.skipped)
    }

    /// The UUID of a row being created: the existing mapping if there is one, else minted.
    pub fn mint(&self, entity: &str, key: &Key) -> anyhow::Result<Uuid> {
        Ok(self
            .resolve(entity, key)?
            .unwrap_or_else(|| mint(entity, key)))
    }

    /// Records rows of `entity` (the running table) as they commit, when it is declared: the
    /// plugin's later asks see them (and only then: a row of the batch in progress is not
    /// migrated yet).
    pub fn record(
        &self,
        entity: &str,
        written: impl IntoIterator<Item = (Key, Uuid)>,
        skipped: impl IntoIterator<Item = (Key, String)>,
    ) {
        if !self.is_loaded(entity) {
            return;
        }
        let answers = written
            .into_iter()
            .map(|(k, id)| {
                let a = Answer {
                    id: Some(id),
                    skipped: None,
                };
                (k, a)
            })
            .chain(skipped.into_iter().map(|(k, reason)| {
                let a = Answer {
                    id: None,
                    skipped: Some(reason),
                };
                (k, a)
            }));
        match &self.answers {
            Answers::Memory(m) => {
                let mut c = m.committed.write().unwrap_or_else(|e| e.into_inner());
                c.entry(entity.to_string()).or_default().extend(answers);
            }
            Answers::Target(l) => {
                let mut st = l.state();
                for (key, answer) in answers {
                    st.cache.refresh(entity, &key, answer);
                }
            }
        }
    }

    /// Before a plugin call over `rows`: fetches what it will likely ask for (one query per
    /// entity), from the source columns earlier asks named.
    pub fn before_call<R: RowKeys>(&self, rows: &[R]) -> anyhow::Result<()> {
        match &self.answers {
            Answers::Memory(_) => Ok(()),
            Answers::Target(l) => l.prefetch(rows),
        }
    }

    /// After a plugin call over `rows`: the source columns holding the keys it asked for that
    /// were not fetched are fetched before the next calls.
    pub fn after_call<R: RowKeys>(&self, rows: &[R]) {
        if let Answers::Target(l) = &self.answers {
            l.learn(rows);
        }
    }

    /// Keeps `fault` (a failed prefetch) for [`IdMaps::take_fault`].
    pub fn keep_fault(&self, fault: anyhow::Error) {
        if let Answers::Target(l) = &self.answers {
            l.state().fault = Some(fault);
        }
    }

    /// A lookup that failed during the last call (its host function trapped the call): the
    /// caller stops the table with it instead of blaming the row.
    pub fn take_fault(&self) -> Option<anyhow::Error> {
        match &self.answers {
            Answers::Memory(_) => None,
            Answers::Target(l) => l.state().fault.take(),
        }
    }
}

impl MemoryMaps {
    fn answer(&self, entity: &str, key: &Key) -> Answer {
        let committed = self.committed.read().unwrap_or_else(|e| e.into_inner());
        let own = committed.get(entity).and_then(|m| m.get(key));
        Answer {
            id: self
                .maps
                .get(entity)
                .and_then(|m| m.get(key))
                .copied()
                .or_else(|| own.and_then(|a| a.id)),
            skipped: self
                .skipped
                .get(entity)
                .and_then(|m| m.get(key))
                .cloned()
                .or_else(|| own.and_then(|a| a.skipped.clone())),
        }
    }
}

/// What the id maps read of a batch's source rows (`batch::SourceRow` is one): each value as
/// the key a plugin passing it would name (None: NULL, or a value of no key type).
pub trait RowKeys {
    /// How many values the row has.
    fn width(&self) -> usize;
    /// Value `column` as a key.
    fn key_at(&self, column: usize) -> Option<Key>;
}

impl Lookup {
    fn state(&self) -> std::sync::MutexGuard<'_, LookupState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A key asked for inside a plugin call: the cache, else (an integer held in columns of
    /// the batch not learned yet for `entity`) those columns' values at once, else one round
    /// trip for the key.
    fn answer(&self, entity: &str, key: &Key) -> anyhow::Result<Answer> {
        let mut st = self.state();
        if let Some(a) = st.cache.get(entity, key) {
            return Ok(a.clone());
        }
        if let Some(n) = key.as_int() {
            match self.fetch_columns_holding(&mut st, entity, n) {
                Ok(()) => {
                    if let Some(a) = st.cache.get(entity, key) {
                        return Ok(a.clone());
                    }
                }
                Err(e) => {
                    let message = format!("{e:#}");
                    st.fault = Some(e);
                    return Err(anyhow::anyhow!(message));
                }
            }
        }
        st.misses.push((entity.to_string(), key.clone()));
        st.single_lookups += 1;
        let fetched = block_on(fetch(&self.client, entity, std::slice::from_ref(key)))
            .and_then(|r| r.map_err(anyhow::Error::from))
            .with_context(|| format!("looking up a {entity} id in the target"));
        match fetched {
            Ok(mut answers) => {
                let answer = answers.pop().map(|(_, a)| a).unwrap_or_default();
                st.cache.insert(entity, key.clone(), answer.clone());
                Ok(answer)
            }
            Err(e) => {
                let message = format!("{e:#}");
                st.fault = Some(e);
                Err(anyhow::anyhow!(message))
            }
        }
    }

    /// Learns for `entity` the batch's integer columns holding `n` that it had not learned,
    /// and fetches their values (one query).
    fn fetch_columns_holding(
        &self,
        st: &mut LookupState,
        entity: &str,
        n: i64,
    ) -> anyhow::Result<()> {
        if st.int_columns.is_none() {
            let mut index: HashMap<i64, Vec<usize>> = HashMap::new();
            for (p, values) in st.batch_ints.iter().enumerate() {
                for &v in values {
                    let columns = index.entry(v).or_default();
                    if columns.last() != Some(&p) {
                        columns.push(p);
                    }
                }
            }
            st.int_columns = Some(index);
        }
        let learned = st.learned.get(entity);
        let new: Vec<usize> = st
            .int_columns
            .as_ref()
            .and_then(|index| index.get(&n))
            .into_iter()
            .flatten()
            .copied()
            .filter(|p| !learned.is_some_and(|l| l.contains(p)))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        st.learned
            .entry(entity.to_string())
            .or_default()
            .extend(new.iter().copied());
        let mut seen = HashSet::new();
        let keys: Vec<Key> = new
            .iter()
            .flat_map(|&p| st.batch_ints[p].iter())
            .map(|&v| Key::Int(v))
            .filter(|k| !st.cache.keep(entity, k) && seen.insert(k.clone()))
            .collect();
        self.fetch_into(st, entity, &keys)
    }

    /// Fetches `keys` of `entity` into the cache, all of them held together.
    fn fetch_into(&self, st: &mut LookupState, entity: &str, keys: &[Key]) -> anyhow::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        st.cache.make_room(keys.len());
        st.prefetches += 1;
        let answers = block_on(fetch(&self.client, entity, keys))?
            .with_context(|| format!("looking up {entity} ids in the target"))?;
        for (key, answer) in answers {
            st.cache.insert(entity, key, answer);
        }
        Ok(())
    }

    fn prefetch<R: RowKeys>(&self, rows: &[R]) -> anyhow::Result<()> {
        let mut st = self.state();
        let st = &mut *st;
        st.cache.begin_call();
        st.int_columns = None;
        st.batch_ints.clear();
        let width = rows.first().map_or(0, RowKeys::width);
        for p in 0..width {
            let ints: Option<Vec<i64>> = rows
                .iter()
                .filter_map(|r| r.key_at(p))
                .map(|k| k.as_int())
                .collect();
            st.batch_ints.push(ints.unwrap_or_default());
        }
        if st.learned.is_empty() {
            return Ok(());
        }
        let mut wanted: Vec<(&str, Vec<Key>)> = Vec::new();
        for (entity, columns) in &st.learned {
            let mut seen = HashSet::new();
            let keys: Vec<Key> = rows
                .iter()
                .flat_map(|r| columns.iter().filter_map(|&p| r.key_at(p)))
                .filter(|k| !st.cache.keep(entity, k) && seen.insert(k.clone()))
                .collect();
            if !keys.is_empty() {
                wanted.push((entity, keys));
            }
        }
        let wanted: Vec<(String, Vec<Key>)> = wanted
            .into_iter()
            .map(|(e, keys)| (e.to_string(), keys))
            .collect();
        st.cache
            .make_room(wanted.iter().map(|(_, keys)| keys.len()).sum());
        for (entity, keys) in wanted {
            // Room was made for all of them: none of this call's answers is dropped.
            st.prefetches += 1;
            let answers = block_on(fetch(&self.client, &entity, &keys))?
                .with_context(|| format!("looking up {entity} ids in the target"))?;
            for (key, answer) in answers {
                st.cache.insert(&entity, key, answer);
            }
        }
        Ok(())
    }

    fn learn<R: RowKeys>(&self, rows: &[R]) {
        let mut st = self.state();
        if st.misses.is_empty() {
            return;
        }
        let misses = std::mem::take(&mut st.misses);
        let columns_of = columns_of(rows);
        for (entity, key) in misses {
            if let Some(columns) = columns_of.get(&key) {
                st.learned
                    .entry(entity)
                    .or_default()
                    .extend(columns.iter().copied());
            }
        }
    }
}

/// Each value of `rows` that could be a key -> the columns holding it.
fn columns_of<R: RowKeys>(rows: &[R]) -> HashMap<Key, BTreeSet<usize>> {
    let mut columns: HashMap<Key, BTreeSet<usize>> = HashMap::new();
    for row in rows {
        for p in 0..row.width() {
            if let Some(k) = row.key_at(p) {
                columns.entry(k).or_default().insert(p);
            }
        }
    }
    columns
}

/// Runs `f` to completion from inside a plugin call (synchronous code on a runtime worker:
/// the call itself runs under `block_in_place`, see `wasm::outside_async`).
fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    let handle = tokio::runtime::Handle::try_current()
        .context("id lookups in the target need the tokio runtime")?;
    if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        anyhow::bail!("id lookups in the target need the multi-threaded tokio runtime");
    }
    Ok(tokio::task::block_in_place(|| handle.block_on(f)))
}

/// What the target records for `keys` of `entity`, one answer per key: one `= ANY` query
/// over the id map's and the skips' primary keys (a join from the keys' list would read every
/// skipped row of the entity each time, a cost that grows with the data).
async fn fetch(
    client: &Client,
    entity: &str,
    keys: &[Key],
) -> Result<Vec<(Key, Answer)>, tokio_postgres::Error> {
    let texts: Vec<String> = keys.iter().map(Key::to_string).collect();
    let rows = client
        .query(
            "SELECT legacy_key, id, NULL::text FROM migration.id_map
             WHERE entity = $1 AND legacy_key = ANY($2::text[])
             UNION ALL
             SELECT legacy_key, NULL::uuid, reason FROM migration.skipped
             WHERE table_name = $1 AND legacy_key = ANY($2::text[])",
            &[&entity, &texts],
        )
        .await?;
    let mut answers: HashMap<&str, Answer> = HashMap::with_capacity(rows.len());
    for r in &rows {
        let answer = answers.entry(r.get(0)).or_default();
        if let Some(id) = r.get(1) {
            answer.id = Some(id);
        }
        if let Some(reason) = r.get(2) {
            answer.skipped = Some(reason);
        }
    }
    Ok(keys
        .iter()
        .zip(&texts)
        .map(|(key, text)| {
            let answer = answers.get(text.as_str()).cloned().unwrap_or_default();
            (key.clone(), answer)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minting_is_deterministic_and_distinct() {
        let k = |n: i64| Key::Int(n);
        assert_eq!(mint("offices", &k(1)), mint("offices", &k(1)));
        assert_ne!(mint("offices", &k(1)), mint("offices", &k(2)));
        assert_ne!(mint("offices", &k(1)), mint("doctors", &k(1)));
        assert_eq!(mint("offices", &k(1)).get_version_num(), 5);
        // An integer key keeps the UUID it had when keys were integers only.
        assert_eq!(
            mint("offices", &k(1)),
            Uuid::new_v5(&NAMESPACE, b"offices:1")
        );
    }

    #[test]
    fn existing_mappings_win() {
        let kept = Uuid::from_u128(7);
        let maps = IdMaps::in_memory(&["offices".to_string()], &[], &[]);
        maps.record("offices", [(Key::Int(1), kept)], []);
        assert_eq!(maps.mint("offices", &Key::Int(1)).unwrap(), kept);
        assert_eq!(
            maps.mint("offices", &Key::Int(2)).unwrap(),
            mint("offices", &Key::Int(2))
        );
        assert_eq!(maps.resolve("offices", &Key::Int(2)).unwrap(), None);
    }

    #[test]
    fn rows_of_the_running_table_resolve_once_committed() {
        let maps = IdMaps::in_memory(&["staff".to_string()], &[], &[]);
        let a = Key::Int(7);
        assert_eq!(maps.resolve("staff", &a).unwrap(), None);
        maps.record("staff", [(a.clone(), mint("staff", &a))], []);
        assert_eq!(maps.resolve("staff", &a).unwrap(), Some(mint("staff", &a)));
        maps.record("staff", [], [(Key::Int(8), "gone".to_string())]);
        assert_eq!(
            maps.skipped("staff", &Key::Int(8)).unwrap().as_deref(),
            Some("gone")
        );
        // Not declared (the plugin does not resolve it): nothing is kept or answered.
        maps.record("other", [(a.clone(), mint("other", &a))], []);
        assert_eq!(maps.resolve("other", &a).unwrap(), None);
        assert_eq!(maps.mint("other", &a).unwrap(), mint("other", &a));
    }

    #[test]
    fn the_cache_stays_within_its_bound_and_keeps_what_the_call_uses() {
        let mut cache = Cache::new(3);
        cache.begin_call();
        for n in 0..3 {
            cache.insert("e", Key::Int(n), Answer::default());
        }
        assert_eq!(cache.len, 3);
        cache.insert("e", Key::Int(1), Answer::default());
        assert_eq!(cache.len, 3, "replacing an answer takes no room");
        // Full, but every answer is the current call's: none is dropped.
        cache.insert("f", Key::Int(9), Answer::default());
        assert_eq!(cache.len, 4);
        assert!(cache.keep("e", &Key::Int(0)));
        // The next call uses e:2 only: room is made by dropping the rest.
        cache.begin_call();
        assert!(cache.keep("e", &Key::Int(2)));
        cache.insert("g", Key::Int(5), Answer::default());
        assert_eq!(cache.len, 2);
        assert!(cache.keep("e", &Key::Int(2)) && cache.keep("g", &Key::Int(5)));
        assert!(!cache.keep("e", &Key::Int(0)) && !cache.keep("f", &Key::Int(9)));
        // A refresh never adds an answer (the target has what is not held).
        cache.refresh("f", &Key::Int(10), Answer::default());
        assert!(!cache.keep("f", &Key::Int(10)));
        let id = Answer {
            id: Some(Uuid::from_u128(1)),
            skipped: None,
        };
        cache.refresh("g", &Key::Int(5), id.clone());
        assert_eq!(cache.get("g", &Key::Int(5)), Some(&id));
    }

    #[test]
    fn a_miss_teaches_the_columns_holding_its_key() {
        struct Row(Vec<Key>);
        impl RowKeys for Row {
            fn width(&self) -> usize {
                self.0.len()
            }
            fn key_at(&self, column: usize) -> Option<Key> {
                self.0.get(column).cloned()
            }
        }
        let rows: Vec<Row> = (1..=3)
            .map(|n| Row(vec![Key::Int(n), Key::Int(n * 100), Key::Text("x".into())]))
            .collect();
        let columns_of = columns_of(&rows);
        assert_eq!(columns_of[&Key::Int(200)], BTreeSet::from([1]));
        assert_eq!(columns_of[&Key::Int(2)], BTreeSet::from([0]));
        assert_eq!(columns_of[&Key::Text("x".into())], BTreeSet::from([2]));
    }
}
