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
#[derive(Debug, Default, Clone)]
pub struct IdMaps {
    maps: HashMap<String, HashMap<i64, Uuid>>,
    /// Skip reasons of the same entities' skipped rows.
    skipped: HashMap<String, HashMap<i64, String>>,
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
        Ok(IdMaps { maps, skipped })
    }

    pub fn is_loaded(&self, entity: &str) -> bool {
        self.maps.contains_key(entity)
    }

    /// The UUID of a migrated row, or None when it was never migrated.
    pub fn resolve(&self, entity: &str, legacy_id: i64) -> Option<Uuid> {
        self.maps.get(entity)?.get(&legacy_id).copied()
    }

    /// Why a row was skipped, if it was.
    pub fn skipped(&self, entity: &str, legacy_id: i64) -> Option<&str> {
        self.skipped
            .get(entity)?
            .get(&legacy_id)
            .map(String::as_str)
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
