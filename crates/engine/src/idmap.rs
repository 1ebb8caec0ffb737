//! The legacy-id map: legacy keys -> UUIDs, kept in `migration.id_map`.
//!
//! New UUIDs are deterministic (UUIDv5 of entity and key), so the same source always gives
//! the same target rows; mappings already in the map are honoured. A plugin that resolves its
//! own table sees its rows as they commit; a row not committed yet (later in the batch, or in
//! a later batch) is a forward reference (`ids.later`), which the runner settles.

use std::collections::HashMap;

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

/// The id maps of the entities one table's plugin may resolve, held in memory while it runs.
#[derive(Debug, Default)]
pub struct IdMaps {
    maps: HashMap<String, HashMap<Key, Uuid>>,
    /// Skip reasons of the same entities' skipped rows.
    skipped: HashMap<String, HashMap<Key, String>>,
    /// Rows of the running table committed since the maps were loaded, for a plugin that
    /// resolves its own table (replies to comments...): the same answers a resumed run gets.
    committed: std::sync::RwLock<Committed>,
}

#[derive(Debug, Default)]
struct Committed {
    entity: String,
    written: HashMap<Key, Uuid>,
    skipped: HashMap<Key, String>,
}

impl IdMaps {
    /// Loads the committed mappings of `entities` from the target.
    pub async fn load(client: &Client, entities: &[String]) -> anyhow::Result<IdMaps> {
        let mut maps = HashMap::new();
        let mut skipped = HashMap::new();
        for entity in entities {
            let rows = client
                .query(
                    "SELECT legacy_key, reason FROM migration.skipped WHERE table_name = $1",
                    &[entity],
                )
                .await
                .with_context(|| format!("loading the skipped rows of {entity}"))?;
            skipped.insert(
                entity.clone(),
                rows.iter()
                    .map(|r| (Key::from_stored(r.get(0)), r.get(1)))
                    .collect(),
            );
            let rows = client
                .query(
                    "SELECT legacy_key, id FROM migration.id_map WHERE entity = $1",
                    &[entity],
                )
                .await
                .with_context(|| format!("loading the id map of {entity}"))?;
            let map: HashMap<Key, Uuid> = rows
                .iter()
                .map(|r| (Key::from_stored(r.get(0)), r.get(1)))
                .collect();
            maps.insert(entity.clone(), map);
        }
        Ok(IdMaps {
            maps,
            skipped,
            committed: Default::default(),
        })
    }

    /// An id map held in memory only (`host plugin test`): every entity of `entities` counts
    /// as loaded; the `migrated` rows map to their minted UUIDs and the `skipped` rows carry
    /// their reasons, as a real run would have recorded them.
    pub fn in_memory(
        entities: &[String],
        migrated: &[(String, Key)],
        skipped: &[(String, Key, String)],
    ) -> IdMaps {
        let mut maps: HashMap<String, HashMap<Key, Uuid>> = entities
            .iter()
            .map(|e| (e.clone(), HashMap::new()))
            .collect();
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
            maps,
            skipped: skips,
            committed: Default::default(),
        }
    }

    pub fn is_loaded(&self, entity: &str) -> bool {
        self.maps.contains_key(entity)
    }

    /// The UUID of a migrated row, or None when it was never migrated.
    pub fn resolve(&self, entity: &str, key: &Key) -> Option<Uuid> {
        let map = self.maps.get(entity)?;
        map.get(key)
            .copied()
            .or_else(|| self.own(entity)?.written.get(key).copied())
    }

    /// Records rows of `entity` (the running table) as they commit, when its map is loaded.
    pub fn record(
        &self,
        entity: &str,
        written: impl IntoIterator<Item = (Key, Uuid)>,
        skipped: impl IntoIterator<Item = (Key, String)>,
    ) {
        if !self.maps.contains_key(entity) {
            return;
        }
        let mut c = self.own_mut(entity);
        c.written.extend(written);
        c.skipped.extend(skipped);
    }

    fn own_mut(&self, entity: &str) -> std::sync::RwLockWriteGuard<'_, Committed> {
        let mut c = self.committed.write().unwrap_or_else(|e| e.into_inner());
        if c.entity != entity {
            *c = Committed {
                entity: entity.to_string(),
                ..Default::default()
            };
        }
        c
    }

    fn own(&self, entity: &str) -> Option<std::sync::RwLockReadGuard<'_, Committed>> {
        self.committed.read().ok().filter(|c| c.entity == entity)
    }

    /// Why a row was skipped, if it was.
    pub fn skipped(&self, entity: &str, key: &Key) -> Option<String> {
        if let Some(reason) = self.skipped.get(entity)?.get(key) {
            return Some(reason.clone());
        }
        self.own(entity)?.skipped.get(key).cloned()
    }

    /// The UUID of a row being created: the existing mapping if there is one, else minted.
    pub fn mint(&self, entity: &str, key: &Key) -> Uuid {
        self.resolve(entity, key)
            .unwrap_or_else(|| mint(entity, key))
    }
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
        let maps = IdMaps {
            maps: HashMap::from([("offices".to_string(), HashMap::from([(Key::Int(1), kept)]))]),
            ..Default::default()
        };
        assert_eq!(maps.mint("offices", &Key::Int(1)), kept);
        assert_eq!(
            maps.mint("offices", &Key::Int(2)),
            mint("offices", &Key::Int(2))
        );
        assert_eq!(maps.resolve("offices", &Key::Int(2)), None);
    }

    #[test]
    fn rows_of_the_running_table_resolve_once_committed() {
        let maps = IdMaps::in_memory(&["staff".to_string()], &[], &[]);
        let a = Key::Int(7);
        assert_eq!(maps.resolve("staff", &a), None);
        maps.record("staff", [(a.clone(), mint("staff", &a))], []);
        assert_eq!(maps.resolve("staff", &a), Some(mint("staff", &a)));
        // Not loaded (the plugin does not resolve it): nothing is kept.
        maps.record("other", [(a.clone(), mint("other", &a))], []);
        assert_eq!(maps.resolve("other", &a), None);
    }
}
