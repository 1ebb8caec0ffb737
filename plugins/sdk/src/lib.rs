//! Guest SDK for migration transforms.
//!
//! A plugin implements [`Transform`] for one legacy table and calls [`plugin!`]:
//!
//! ```ignore
//! struct Offices;
//! impl migrate_sdk::Transform for Offices {
//!     fn describe() -> Description { ... }
//!     fn transform_row(row: &Input) -> Result<Vec<TargetRow>, Fate> { ... }
//! }
//! migrate_sdk::plugin!(Offices);
//! ```
//!
//! The contract itself is the WIT package in the repository's `wit/` directory; this crate
//! only binds it once and adds helpers, so a plugin never calls `wit_bindgen::generate!`.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "transform",
        pub_export_macro: true,
        export_macro_name: "export_transform",
        default_bindings_module: "migrate_sdk::bindings",
        // Lets tests compare values, rows and outcomes.
        additional_derives: [PartialEq],
    });
}

pub use bindings::migrate::transform::log::Level;
pub use bindings::migrate::transform::types::{Description, Outcome, TargetColumns, TargetRow, Value};

pub mod json;
pub mod money;
pub mod time;

/// Why a row is not written: the two non-write outcomes, usable with `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Deliberately left behind (for example soft-deleted); recorded with the reason.
    Skip(String),
    /// Cannot be migrated as it is; quarantined with the reason.
    Reject(String),
}

impl Fate {
    pub fn reject(reason: impl Into<String>) -> Self {
        Fate::Reject(reason.into())
    }
    pub fn skip(reason: impl Into<String>) -> Self {
        Fate::Skip(reason.into())
    }
}

/// One table's transform.
pub trait Transform {
    /// What the plugin reads and writes (checked by `host check` before any row moves).
    fn describe() -> Description;
    /// Transform one source row (values in `describe().reads` order).
    fn transform_row(row: &Input<'_>) -> Result<Vec<TargetRow>, Fate>;

    /// Called before each batch. A plugin that remembers rows of the batch (for a reference
    /// to an earlier row of its own table) clears that memory here: rows of earlier batches
    /// come from `resolve`, which sees every committed row, so a resumed run gets the same
    /// answers as an uninterrupted one.
    fn begin_batch() {}
}

/// Runs a transform over a batch. Used by [`plugin!`]; public so plugin tests can call it.
pub fn transform_batch<T: Transform>(rows: &[Vec<Value>]) -> Vec<Outcome> {
    let columns = T::describe().reads;
    T::begin_batch();
    rows.iter()
        .map(|values| {
            let input = Input {
                columns: &columns,
                values,
            };
            match T::transform_row(&input) {
                Ok(rows) => Outcome::Write(rows),
                Err(Fate::Skip(reason)) => Outcome::Skip(reason),
                Err(Fate::Reject(reason)) => Outcome::Reject(reason),
            }
        })
        .collect()
}

/// Exports a [`Transform`] as the component's `describe` and `transform`.
#[macro_export]
macro_rules! plugin {
    ($transform:ty) => {
        struct __MigratePlugin;
        impl $crate::bindings::Guest for __MigratePlugin {
            fn describe() -> $crate::Description {
                <$transform as $crate::Transform>::describe()
            }
            fn transform(rows: ::std::vec::Vec<::std::vec::Vec<$crate::Value>>) -> ::std::vec::Vec<$crate::Outcome> {
                $crate::transform_batch::<$transform>(&rows)
            }
        }
        $crate::bindings::export_transform!(__MigratePlugin with_types_in $crate::bindings);
    };
}

/// Builds a [`Description`] from plain string slices.
pub fn describe(
    source_table: &str,
    reads: &[&str],
    writes: &[(&str, &[&str])],
    resolves: &[&str],
) -> Description {
    let strings = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    Description {
        source_table: source_table.to_string(),
        reads: strings(reads),
        writes: writes
            .iter()
            .map(|(table, columns)| TargetColumns {
                table: table.to_string(),
                columns: strings(columns),
            })
            .collect(),
        resolves: strings(resolves),
    }
}

/// One source row with typed, named access. Accessors take the column name as declared in
/// `describe().reads`; a name that was not declared is a bug in the plugin and panics
/// (the runner turns that into a failed batch with the message).
pub struct Input<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl<'a> Input<'a> {
    /// Wraps values for a test, with the columns they belong to.
    pub fn new(columns: &'a [String], values: &'a [Value]) -> Self {
        Input { columns, values }
    }

    pub fn value(&self, column: &str) -> &'a Value {
        let index = self
            .columns
            .iter()
            .position(|c| c == column)
            .unwrap_or_else(|| panic!("column `{column}` is not in describe().reads"));
        &self.values[index]
    }

    pub fn is_null(&self, column: &str) -> bool {
        matches!(self.value(column), Value::Null)
    }

    /// The table's key (the first column read).
    pub fn key(&self) -> i64 {
        match self.values.first() {
            Some(Value::Int(key)) => *key,
            other => panic!("the first column read must be the integer key, got {other:?}"),
        }
    }

    pub fn int(&self, column: &str) -> Option<i64> {
        match self.value(column) {
            Value::Int(v) => Some(*v),
            Value::Null => None,
            other => panic!("column `{column}` is not an integer: {other:?}"),
        }
    }

    pub fn boolean(&self, column: &str) -> Option<bool> {
        match self.value(column) {
            Value::Boolean(v) => Some(*v),
            Value::Null => None,
            other => panic!("column `{column}` is not a boolean: {other:?}"),
        }
    }

    /// Text-like values (text, numeric, uuid, dates, json) as their text.
    pub fn text(&self, column: &str) -> Option<&'a str> {
        match self.value(column) {
            Value::Text(s)
            | Value::Numeric(s)
            | Value::Uuid(s)
            | Value::Date(s)
            | Value::Timestamp(s)
            | Value::Timestamptz(s)
            | Value::Json(s) => Some(s.as_str()),
            Value::Null => None,
            other => panic!("column `{column}` is not text: {other:?}"),
        }
    }

    /// Text with surrounding blanks removed; empty text counts as missing.
    pub fn trimmed(&self, column: &str) -> Option<&'a str> {
        self.text(column).map(str::trim).filter(|s| !s.is_empty())
    }

    /// A value the target requires: rejects the row when it is NULL.
    pub fn require_int(&self, column: &str) -> Result<i64, Fate> {
        self.int(column)
            .ok_or_else(|| Fate::reject(format!("required column {column} is NULL")))
    }

    /// Text the target requires: rejects the row when it is NULL or blank.
    pub fn require_text(&self, column: &str) -> Result<&'a str, Fate> {
        self.trimmed(column)
            .ok_or_else(|| Fate::reject(format!("required column {column} is NULL or blank")))
    }
}

/// The UUID of an already migrated `entity` row. When there is none, the row follows its
/// parent: skipped if the parent was skipped (soft-deleted...), rejected as an orphan otherwise.
pub fn resolve(entity: &str, legacy_id: i64, column: &str) -> Result<String, Fate> {
    #[cfg(target_arch = "wasm32")]
    let (found, skipped) = (
        bindings::migrate::transform::ids::resolve(entity, legacy_id),
        || bindings::migrate::transform::ids::skipped(entity, legacy_id),
    );
    #[cfg(not(target_arch = "wasm32"))]
    let (found, skipped) = (testing::resolve(entity, legacy_id), || {
        testing::skipped(entity, legacy_id)
    });
    if let Some(id) = found {
        return Ok(id);
    }
    match skipped() {
        Some(reason) => Err(Fate::skip(format!("{column}={legacy_id}: that {entity} row was skipped ({reason})"))),
        None => Err(Fate::reject(format!(
            "orphan: {column}={legacy_id} has no migrated row in {entity} (missing in the legacy data, or quarantined)"
        ))),
    }
}

/// Like [`resolve`] for an optional reference: NULL stays NULL and a dangling id rejects,
/// but a reference to a skipped parent (a soft-deleted login, say) becomes NULL: the row
/// itself is still wanted, only the link is gone.
pub fn resolve_optional(entity: &str, legacy_id: Option<i64>, column: &str) -> Result<Value, Fate> {
    match legacy_id {
        None => Ok(Value::Null),
        Some(id) => match resolve(entity, id, column) {
            Ok(uuid) => Ok(Value::Uuid(uuid)),
            Err(Fate::Skip(_)) => Ok(Value::Null),
            Err(reject) => Err(reject),
        },
    }
}

/// For an optional reference whose loss must not cost the row: the parent's UUID, or NULL
/// when the parent is missing, quarantined or skipped. The dangling legacy id comes back so
/// the caller keeps it (in `legacy_metadata`): the link is unlinked, never silently lost.
pub fn resolve_or_unlink(
    entity: &str,
    legacy_id: Option<i64>,
    column: &str,
) -> (Value, Option<i64>) {
    match legacy_id {
        None => (Value::Null, None),
        Some(id) => match resolve(entity, id, column) {
            Ok(uuid) => (Value::Uuid(uuid), None),
            Err(_) => (Value::Null, Some(id)),
        },
    }
}

/// The deterministic UUID of a row this plugin creates.
pub fn mint(entity: &str, legacy_id: i64) -> String {
    #[cfg(target_arch = "wasm32")]
    return bindings::migrate::transform::ids::mint(entity, legacy_id);
    #[cfg(not(target_arch = "wasm32"))]
    return testing::uuid(entity, legacy_id);
}

pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    bindings::migrate::transform::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Native stand-ins for the runner's imports, so that plugin tests can run whole rows with
/// `cargo test` (the generated import stubs only work inside a component). Not part of the
/// WebAssembly build.
///
/// Outside wasm, [`mint`] returns [`testing::uuid`] and [`resolve`] finds the ids marked
/// with [`testing::migrated`] (per test thread).
#[cfg(not(target_arch = "wasm32"))]
pub mod testing {
    use super::{Fate, Input, TargetRow, Transform, Value};
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    thread_local! {
        static MIGRATED: RefCell<BTreeSet<(String, i64)>> = const { RefCell::new(BTreeSet::new()) };
        static SKIPPED: RefCell<BTreeSet<(String, i64)>> = const { RefCell::new(BTreeSet::new()) };
    }

    /// Marks rows of `entity` as skipped, so [`super::resolve`] skips their children.
    pub fn skipped_rows(entity: &str, legacy_ids: &[i64]) {
        SKIPPED.with(|m| {
            m.borrow_mut()
                .extend(legacy_ids.iter().map(|id| (entity.to_string(), *id)))
        })
    }

    pub(crate) fn skipped(entity: &str, legacy_id: i64) -> Option<String> {
        SKIPPED
            .with(|m| m.borrow().contains(&(entity.to_string(), legacy_id)))
            .then(|| "skipped in test".to_string())
    }

    /// The stand-in id of a row: readable, deterministic, distinct per entity and id.
    pub fn uuid(entity: &str, legacy_id: i64) -> String {
        format!("uuid:{entity}:{legacy_id}")
    }

    /// Marks rows of `entity` as migrated, so [`super::resolve`] finds them.
    pub fn migrated(entity: &str, legacy_ids: &[i64]) {
        MIGRATED.with(|m| {
            m.borrow_mut()
                .extend(legacy_ids.iter().map(|id| (entity.to_string(), *id)))
        })
    }

    /// Forgets every row marked with [`migrated`].
    pub fn reset() {
        MIGRATED.with(|m| m.borrow_mut().clear());
        SKIPPED.with(|m| m.borrow_mut().clear());
    }

    pub(crate) fn resolve(entity: &str, legacy_id: i64) -> Option<String> {
        MIGRATED
            .with(|m| m.borrow().contains(&(entity.to_string(), legacy_id)))
            .then(|| uuid(entity, legacy_id))
    }

    /// Runs `T` on one row given as `(column, value)` pairs in any order; columns of
    /// `describe().reads` left out are NULL. Panics when a pair names a column that is not
    /// read, or when an output row's table is not declared or its values do not match the
    /// declared columns in number.
    pub fn run<T: Transform>(values: &[(&str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let description = T::describe();
        let columns = description.reads;
        for (name, _) in values {
            assert!(
                columns.iter().any(|c| c == name),
                "column `{name}` is not in describe().reads"
            );
        }
        let row: Vec<Value> = columns
            .iter()
            .map(|c| {
                values
                    .iter()
                    .find(|(name, _)| name == c)
                    .map_or(Value::Null, |(_, v)| v.clone())
            })
            .collect();
        let result = T::transform_row(&Input::new(&columns, &row));
        if let Ok(rows) = &result {
            for out in rows {
                let declared = description
                    .writes
                    .iter()
                    .find(|w| w.table == out.table)
                    .unwrap_or_else(|| panic!("row for undeclared table `{}`", out.table));
                assert_eq!(
                    out.values.len(),
                    declared.columns.len(),
                    "row for `{}` has {} values for columns {:?}",
                    out.table,
                    out.values.len(),
                    declared.columns
                );
            }
        }
        result
    }

    /// The value of `column` in an output row, by the declared column name.
    pub fn get<'a, T: Transform>(row: &'a TargetRow, column: &str) -> &'a Value {
        let description = T::describe();
        let declared = description
            .writes
            .iter()
            .find(|w| w.table == row.table)
            .expect("declared table");
        let index = declared
            .columns
            .iter()
            .position(|c| c == column)
            .unwrap_or_else(|| panic!("no column `{column}`"));
        &row.values[index]
    }
}

/// Short constructors for target values.
pub mod v {
    use super::Value;

    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }
    pub fn opt_text(s: Option<&str>) -> Value {
        s.map_or(Value::Null, |s| Value::Text(s.to_string()))
    }
    pub fn uuid(s: impl Into<String>) -> Value {
        Value::Uuid(s.into())
    }
    pub fn int(i: i64) -> Value {
        Value::Int(i)
    }
    pub fn opt_int(i: Option<i64>) -> Value {
        i.map_or(Value::Null, Value::Int)
    }
    pub fn boolean(b: bool) -> Value {
        Value::Boolean(b)
    }
    pub fn numeric(s: impl Into<String>) -> Value {
        Value::Numeric(s.into())
    }
    pub fn json(s: impl Into<String>) -> Value {
        Value::Json(s.into())
    }
    pub fn opt(v: Option<Value>) -> Value {
        v.unwrap_or(Value::Null)
    }
}

/// A row for `table`.
pub fn row(table: &str, values: Vec<Value>) -> TargetRow {
    TargetRow {
        table: table.to_string(),
        values,
    }
}
