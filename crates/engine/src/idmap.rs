//! The legacy-id map: legacy integer ids -> UUIDs, kept in `migration.id_map`.
//!
//! New UUIDs are deterministic (UUIDv5 of entity and legacy id), so the same source always
//! gives the same target rows; mappings already in the map are honoured.

use std::collections::HashMap;

use anyhow::Context;
use tokio_postgres::Client;
use uuid::Uuid;

/// The namespace of every UUID this tool mints. Never change it: it would change every id.
pub const NAMESPACE: Uuid = Uuid::from_u128(0x6c61_622d_6d69_6772_6174_652d_7631_0001);

/// The UUID for a new row of `entity` with `legacy_id`.
pub fn mint(entity: &str, legacy_id: i64) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("{entity}:{legacy_id}").as_bytes())
}

/// The id maps of the entities one table's plugin may resolve, held in memory while it runs.
#[derive(Debug, Default)]
pub struct IdMaps {
    maps: HashMap<String, HashMap<i64, Uuid>>,
    /// Skip reasons of the same entities' skipped rows.
    skipped: HashMap<String, HashMap<i64, String>>,
    /// Rows of the running table committed since the maps were loaded, for a plugin that
    /// resolves its own table (replies to comments...): the same answers a resumed run gets.
    committed: std::sync::RwLock<Committed>,
}

#[derive(Debug, Default)]
struct Committed {
    entity: String,
    written: HashMap<i64, Uuid>,
    skipped: HashMap<i64, String>,
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
                rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
            );
            let rows = client
                .query(
                    "SELECT legacy_id, id FROM migration.id_map WHERE entity = $1",
                    &[entity],
                )
                .await
                .with_context(|| format!("loading the id map of {entity}"))?;
            let map: HashMap<i64, Uuid> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
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
        migrated: &[(String, i64)],
        skipped: &[(String, i64, String)],
    ) -> IdMaps {
        let mut maps: HashMap<String, HashMap<i64, Uuid>> = entities
            .iter()
            .map(|e| (e.clone(), HashMap::new()))
            .collect();
        let mut skips: HashMap<String, HashMap<i64, String>> = HashMap::new();
        for (entity, id) in migrated {
            maps.entry(entity.clone())
                .or_default()
                .insert(*id, mint(entity, *id));
        }
        for (entity, id, reason) in skipped {
            skips
                .entry(entity.clone())
                .or_default()
                .insert(*id, reason.clone());
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
    pub fn resolve(&self, entity: &str, legacy_id: i64) -> Option<Uuid> {
        let map = self.maps.get(entity)?;
        map.get(&legacy_id).copied().or_else(|| {
            self.own(entity)
                .and_then(|c| c.written.get(&legacy_id).copied())
        })
    }

    /// Records rows of `entity` (the running table) as they commit, when its map is loaded.
    pub fn record(
        &self,
        entity: &str,
        written: impl IntoIterator<Item = (i64, Uuid)>,
        skipped: impl IntoIterator<Item = (i64, String)>,
    ) {
        if !self.maps.contains_key(entity) {
            return;
        }
        let mut c = self.committed.write().unwrap_or_else(|e| e.into_inner());
        if c.entity != entity {
            *c = Committed {
                entity: entity.to_string(),
                ..Default::default()
            };
        }
        c.written.extend(written);
        c.skipped.extend(skipped);
    }

    fn own(&self, entity: &str) -> Option<std::sync::RwLockReadGuard<'_, Committed>> {
        self.committed.read().ok().filter(|c| c.entity == entity)
    }

    /// Why a row was skipped, if it was.
    pub fn skipped(&self, entity: &str, legacy_id: i64) -> Option<String> {
        if let Some(reason) = self.skipped.get(entity)?.get(&legacy_id) {
            return Some(reason.clone());
        }
        self.own(entity)?.skipped.get(&legacy_id).cloned()
    }

    /// The UUID of a row being created: the existing mapping if there is one, else minted.
    pub fn mint(&self, entity: &str, legacy_id: i64) -> Uuid {
        self.resolve(entity, legacy_id)
            .unwrap_or_else(|| mint(entity, legacy_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minting_is_deterministic_and_distinct() {
        assert_eq!(mint("offices", 1), mint("offices", 1));
        assert_ne!(mint("offices", 1), mint("offices", 2));
        assert_ne!(mint("offices", 1), mint("doctors", 1));
        assert_eq!(mint("offices", 1).get_version_num(), 5);
    }

    #[test]
    fn existing_mappings_win() {
        let kept = Uuid::from_u128(7);
        let maps = IdMaps {
            maps: HashMap::from([("offices".to_string(), HashMap::from([(1, kept)]))]),
            ..Default::default()
        };
        assert_eq!(maps.mint("offices", 1), kept);
        assert_eq!(maps.mint("offices", 2), mint("offices", 2));
        assert_eq!(maps.resolve("offices", 2), None);
    }
}
