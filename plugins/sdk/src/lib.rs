//! Guest SDK for migration transforms.
//!
//! A plugin names the columns it reads and writes once, in two macros, and implements
//! [`Transform`] for one legacy table:
//!
//! ```ignore
//! use migrate_sdk::{mint, Fate, Table, TargetRow, Transform, Uuid};
//!
//! migrate_sdk::source! {
//!     /// What the plugin reads from legacy `offices`, the integer key first.
//!     pub struct Office from "offices" {
//!         id: Key,
//!         name: Text,
//!         is_deleted: Bool,
//!     }
//! }
//!
//! migrate_sdk::target! {
//!     /// One row of `public.offices`.
//!     pub struct OfficeRow into "offices" {
//!         id: Uuid,
//!         legacy_id: i64,
//!         name: String,
//!     }
//! }
//!
//! #[derive(Default)]
//! pub struct Offices;
//!
//! impl Transform for Offices {
//!     type Source = Office;
//!     const WRITES: &'static [Table] = &[OfficeRow::TABLE];
//!
//!     fn transform_row(&mut self, office: Office) -> Result<Vec<TargetRow>, Fate> {
//!         if office.is_deleted.get() == Some(true) {
//!             return Err(Fate::skip("soft-deleted office"));
//!         }
//!         Ok(vec![OfficeRow {
//!             id: Uuid(mint("offices", office.id)),
//!             legacy_id: office.id,
//!             name: office.name.require()?.to_string(),
//!         }
//!         .into()])
//!     }
//! }
//!
//! migrate_sdk::plugin!(Offices);
//! ```
//!
//! A misspelt column does not compile: the row below names `nmae`, which `OfficeRow` has
//! not (without the typo, the same code builds):
//!
//! ```compile_fail
//! migrate_sdk::target! {
//!     pub struct OfficeRow into "offices" { id: migrate_sdk::Uuid, legacy_id: i64, name: String }
//! }
//! let _ = OfficeRow { id: migrate_sdk::Uuid("u".into()), legacy_id: 1, nmae: "x".into() };
//! ```
//!
//! ```
//! migrate_sdk::target! {
//!     pub struct OfficeRow into "offices" { id: migrate_sdk::Uuid, legacy_id: i64, name: String }
//! }
//! let _ = OfficeRow { id: migrate_sdk::Uuid("u".into()), legacy_id: 1, name: "x".into() };
//! ```
//!
//! The struct fields are the column names: a misspelt column is a compile error in the
//! plugin, or a `host check` problem when the name is not in the real table, and the values
//! of a row are set by name, so two columns cannot trade places. `describe` is derived from
//! the two declarations.
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
pub use bindings::migrate::transform::types::{
    Array as ArrayValue, Description, Element, Outcome, TargetColumns, TargetRow, Value,
};

/// The text an element carries (text, numeric, uuid, date and time, json); None for NULL and
/// the other kinds.
pub fn element_text(element: &Element) -> Option<&str> {
    match element {
        Element::Text(s)
        | Element::Numeric(s)
        | Element::Uuid(s)
        | Element::Date(s)
        | Element::Timestamp(s)
        | Element::Timestamptz(s)
        | Element::Json(s) => Some(s),
        Element::Null
        | Element::Boolean(_)
        | Element::Int(_)
        | Element::Float(_)
        | Element::Bytes(_) => None,
    }
}

pub mod json;
pub mod money;
pub mod read;
pub mod time;

mod key;
mod write;
pub use key::{KeyValues, LegacyKey};
pub use write::{Date, IntoValue, Numeric, Timestamptz, Uuid};

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

/// The columns read from the source table, decoded by position. Implemented by [`source!`].
pub trait Source: Sized {
    /// The legacy table.
    const TABLE: &'static str;
    /// The columns read, in the order each input row carries them (the key first).
    const COLUMNS: &'static [&'static str];
    /// One input row, its values in [`Self::COLUMNS`] order.
    fn decode(values: Vec<Value>) -> Self;
}

/// A target table and the columns a plugin fills in it. [`target!`] makes one per struct
/// (`MyRow::TABLE`); [`Transform::WRITES`] lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

/// One table's transform. One instance lives as long as the component instance (the
/// runner reuses it for every batch of a run), so `self` may remember things across rows.
pub trait Transform: Default + 'static {
    /// The source row, declared with [`source!`].
    type Source: Source;
    /// Every target table this transform writes, each declared with [`target!`].
    const WRITES: &'static [Table];
    /// Entities (id-map names) whose legacy ids this transform resolves: their tables must
    /// be migrated first.
    const RESOLVES: &'static [&'static str] = &[];

    /// Transform one source row into the rows to write, or say why not.
    fn transform_row(&mut self, row: Self::Source) -> Result<Vec<TargetRow>, Fate>;

    /// Called before each batch. A plugin that remembers rows of the batch (for a reference
    /// to an earlier row of its own table) clears that memory here: rows of earlier batches
    /// come from `resolve`, which sees every committed row, so a resumed run gets the same
    /// answers as an uninterrupted one.
    fn begin_batch(&mut self) {}
}

/// What `T` reads and writes, from its declarations (checked by `host check`).
pub fn description<T: Transform>() -> Description {
    let strings = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    Description {
        source_table: <T::Source as Source>::TABLE.to_string(),
        reads: strings(<T::Source as Source>::COLUMNS),
        writes: T::WRITES
            .iter()
            .map(|table| TargetColumns {
                table: table.name.to_string(),
                columns: strings(table.columns),
            })
            .collect(),
        resolves: strings(T::RESOLVES),
    }
}

/// One transform and its description, computed once. [`plugin!`] keeps one per component
/// instance (WebAssembly is single-threaded); tests may make their own.
pub struct Instance<T: Transform> {
    transform: T,
    description: Description,
}

impl<T: Transform> Default for Instance<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: Transform> Instance<T> {
    pub fn new(transform: T) -> Self {
        Instance {
            transform,
            description: description::<T>(),
        }
    }

    pub fn description(&self) -> &Description {
        &self.description
    }

    /// The transform itself, for a test that looks at what it remembers.
    pub fn transform(&mut self) -> &mut T {
        &mut self.transform
    }

    /// Runs the transform over a batch: one outcome per row, in order.
    pub fn transform_batch(&mut self, rows: Vec<Vec<Value>>) -> Vec<Outcome> {
        self.transform.begin_batch();
        rows.into_iter()
            .map(|values| {
                match self
                    .transform
                    .transform_row(<T::Source as Source>::decode(values))
                {
                    Ok(rows) => Outcome::Write(rows),
                    Err(Fate::Skip(reason)) => Outcome::Skip(reason),
                    Err(Fate::Reject(reason)) => Outcome::Reject(reason),
                }
            })
            .collect()
    }
}

/// Exports a [`Transform`] as the component's `describe` and `transform`.
#[macro_export]
macro_rules! plugin {
    ($transform:ty) => {
        ::std::thread_local! {
            // The one instance of this component instance; made at the first call.
            static __MIGRATE_INSTANCE: ::std::cell::RefCell<::std::option::Option<$crate::Instance<$transform>>> =
                const { ::std::cell::RefCell::new(::std::option::Option::None) };
        }
        fn __migrate_with<R>(f: impl FnOnce(&mut $crate::Instance<$transform>) -> R) -> R {
            __MIGRATE_INSTANCE.with(|cell| {
                let mut slot = cell.borrow_mut();
                f(slot.get_or_insert_with(::std::default::Default::default))
            })
        }
        struct __MigratePlugin;
        impl $crate::bindings::Guest for __MigratePlugin {
            fn describe() -> $crate::Description {
                __migrate_with(|instance| instance.description().clone())
            }
            fn transform(rows: ::std::vec::Vec<::std::vec::Vec<$crate::Value>>) -> ::std::vec::Vec<$crate::Outcome> {
                __migrate_with(|instance| instance.transform_batch(rows))
            }
        }
        $crate::bindings::export_transform!(__MigratePlugin with_types_in $crate::bindings);
    };
}

/// Declares the columns a plugin reads from its source table, as a struct with one field
/// per column, in the order the rows carry them (the integer key first). Each field's kind
/// is one of [`read`]'s: `Key` (the integer key, an `i64`), `Int`, `Bool`, `Text` (text,
/// numbers, dates, times, json as their text) or `Any` (the value as it comes). A column
/// whose name is not a Rust identifier takes `as "name"`: `kind: Text as "type"`.
///
/// ```ignore
/// migrate_sdk::source! {
///     pub struct Office from "offices" { id: Key, name: Text, is_deleted: Bool }
/// }
/// ```
#[macro_export]
macro_rules! source {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident from $table:literal {
            $( $(#[$field_meta:meta])* $field:ident : $kind:ident $(as $column:literal)? ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$field_meta])* pub $field: $crate::read::$kind, )+
        }

        impl $crate::Source for $name {
            const TABLE: &'static str = $table;
            const COLUMNS: &'static [&'static str] = &[ $( $crate::__column!($field $($column)?) ),+ ];
            fn decode(values: ::std::vec::Vec<$crate::Value>) -> Self {
                $crate::read::check_width(<Self as $crate::Source>::COLUMNS, &values);
                let mut values = values.into_iter();
                $name {
                    $( $field: $crate::read::Decode::decode(
                        $crate::__column!($field $($column)?),
                        values.next().expect("checked width"),
                    ), )+
                }
            }
        }
    };
}

/// Declares one target table a plugin writes, as a struct with one field per column it
/// fills. Field types are Rust types that become WIT values through [`IntoValue`]: `i64`,
/// `bool`, `String`, `f64`, [`Uuid`], [`Numeric`], [`Date`], [`Timestamptz`], [`Value`]
/// (any value, NULL included), and `Option<T>` of those for a nullable column (None is
/// NULL). A column whose name is not a Rust identifier takes `as "name"`.
///
/// The struct gets `TABLE` (for [`Transform::WRITES`]) and `.into()` a [`TargetRow`].
///
/// ```ignore
/// migrate_sdk::target! {
///     pub struct OfficeRow into "offices" { id: Uuid, legacy_id: i64, name: Option<String> }
/// }
/// ```
#[macro_export]
macro_rules! target {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident into $table:literal {
            $( $(#[$field_meta:meta])* $field:ident : $type:ty $(as $column:literal)? ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        $vis struct $name {
            $( $(#[$field_meta])* pub $field: $type, )+
        }

        impl $name {
            /// The target table and the columns this struct fills, in order.
            pub const TABLE: $crate::Table = $crate::Table {
                name: $table,
                columns: &[ $( $crate::__column!($field $($column)?) ),+ ],
            };
        }

        impl ::std::convert::From<$name> for $crate::TargetRow {
            fn from(row: $name) -> $crate::TargetRow {
                $crate::TargetRow {
                    table: $name::TABLE.name.to_string(),
                    values: ::std::vec![ $( $crate::IntoValue::into_value(row.$field) ),+ ],
                }
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __column {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident $column:literal) => {
        $column
    };
}

/// The UUID of an already migrated `entity` row (`key`: its legacy id, or any key, see
/// [`LegacyKey`]). When there is none, the row follows its parent: skipped if the parent was
/// skipped (soft-deleted...), rejected as an orphan otherwise.
pub fn resolve(entity: &str, key: impl LegacyKey, column: &str) -> Result<String, Fate> {
    let key = key.key_values();
    if let Some(id) = ids::resolve(entity, &key) {
        return Ok(id);
    }
    let shown = key.text();
    match ids::skipped(entity, &key) {
        Some(reason) => Err(Fate::skip(format!("{column}={shown}: that {entity} row was skipped ({reason})"))),
        None => Err(Fate::reject(format!(
            "orphan: {column}={shown} has no migrated row in {entity} (missing in the legacy data, or quarantined)"
        ))),
    }
}

/// Like [`resolve`] for an optional reference: NULL stays NULL and a dangling id rejects,
/// but a reference to a skipped parent (a soft-deleted login, say) becomes NULL: the row
/// itself is still wanted, only the link is gone.
pub fn resolve_optional<K: LegacyKey>(
    entity: &str,
    key: Option<K>,
    column: &str,
) -> Result<Value, Fate> {
    match key {
        None => Ok(Value::Null),
        Some(key) => match resolve(entity, key, column) {
            Ok(uuid) => Ok(Value::Uuid(uuid)),
            Err(Fate::Skip(_)) => Ok(Value::Null),
            Err(reject) => Err(reject),
        },
    }
}

/// For an optional reference whose loss must not cost the row: the parent's UUID, or NULL
/// when the parent is missing, quarantined or skipped. The dangling key comes back so the
/// caller keeps it (in `legacy_metadata`): the link is unlinked, never silently lost.
pub fn resolve_or_unlink<K: LegacyKey + Clone>(
    entity: &str,
    key: Option<K>,
    column: &str,
) -> (Value, Option<K>) {
    match key {
        None => (Value::Null, None),
        Some(key) => match resolve(entity, key.clone(), column) {
            Ok(uuid) => (Value::Uuid(uuid), None),
            Err(_) => (Value::Null, Some(key)),
        },
    }
}

/// The deterministic UUID of a row this plugin creates.
pub fn mint(entity: &str, key: impl LegacyKey) -> String {
    ids::mint(entity, &key.key_values())
}

/// A reference to a row that is not migrated yet (a later row of the same table, or of a
/// table later in a cycle): the UUID it will get. The runner checks such references once
/// that table is done; where the row never arrives the reference becomes NULL and is
/// recorded. A row of the plugin's own table in the same batch already resolves with
/// [`resolve`]; `resolve(..).or_else(|_| Ok(later(..)))` keeps the output the same
/// wherever batches happen to end.
pub fn later(entity: &str, key: impl LegacyKey) -> String {
    ids::later(entity, &key.key_values())
}

/// The runner's `ids` imports (or, outside WebAssembly, the [`testing`] stand-ins), with the
/// integer functions used for integer keys so a plugin's imports stay what they were.
mod ids {
    #[cfg(target_arch = "wasm32")]
    use super::KeyValues;
    #[cfg(target_arch = "wasm32")]
    use crate::bindings::migrate::transform::ids as host;

    #[cfg(target_arch = "wasm32")]
    pub fn resolve(entity: &str, key: &KeyValues) -> Option<String> {
        match key {
            KeyValues::Int(n) => host::resolve(entity, *n),
            KeyValues::Values(v) => host::resolve_key(entity, v),
        }
    }

    #[cfg(target_arch = "wasm32")]
    pub fn skipped(entity: &str, key: &KeyValues) -> Option<String> {
        match key {
            KeyValues::Int(n) => host::skipped(entity, *n),
            KeyValues::Values(v) => host::skipped_key(entity, v),
        }
    }

    #[cfg(target_arch = "wasm32")]
    pub fn mint(entity: &str, key: &KeyValues) -> String {
        match key {
            KeyValues::Int(n) => host::mint(entity, *n),
            KeyValues::Values(v) => host::mint_key(entity, v),
        }
    }

    #[cfg(target_arch = "wasm32")]
    pub fn later(entity: &str, key: &KeyValues) -> String {
        match key {
            KeyValues::Int(n) => host::later(entity, &[crate::Value::Int(*n)]),
            KeyValues::Values(v) => host::later(entity, v),
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) use crate::testing::{later_key as later, mint_key as mint, resolve, skipped};
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
    use super::{Fate, KeyValues, LegacyKey, Source, Table, TargetRow, Transform, Value};
    use std::any::{Any, TypeId};
    use std::cell::RefCell;
    use std::collections::{BTreeSet, HashMap};

    thread_local! {
        static MIGRATED: RefCell<BTreeSet<(String, String)>> = const { RefCell::new(BTreeSet::new()) };
        static SKIPPED: RefCell<BTreeSet<(String, String)>> = const { RefCell::new(BTreeSet::new()) };
    }

    /// Marks rows of `entity` as skipped, so [`super::resolve`] skips their children.
    pub fn skipped_rows(entity: &str, legacy_ids: &[i64]) {
        skipped_keys(entity, legacy_ids.iter().copied())
    }

    /// [`skipped_rows`] for keys of any shape.
    pub fn skipped_keys<K: LegacyKey>(entity: &str, keys: impl IntoIterator<Item = K>) {
        SKIPPED.with(|m| {
            m.borrow_mut().extend(
                keys.into_iter()
                    .map(|k| (entity.to_string(), k.key_values().text())),
            )
        })
    }

    pub(crate) fn skipped(entity: &str, key: &KeyValues) -> Option<String> {
        SKIPPED
            .with(|m| m.borrow().contains(&(entity.to_string(), key.text())))
            .then(|| "skipped in test".to_string())
    }

    /// The stand-in id of a row: readable, deterministic, distinct per entity and key.
    pub fn uuid(entity: &str, key: impl LegacyKey) -> String {
        format!("uuid:{entity}:{}", key.key_values().text())
    }

    pub(crate) fn mint_key(entity: &str, key: &KeyValues) -> String {
        uuid(entity, key.clone())
    }

    pub(crate) fn later_key(entity: &str, key: &KeyValues) -> String {
        uuid(entity, key.clone())
    }

    /// Marks rows of `entity` as migrated, so [`super::resolve`] finds them.
    pub fn migrated(entity: &str, legacy_ids: &[i64]) {
        migrated_keys(entity, legacy_ids.iter().copied())
    }

    /// [`migrated`] for keys of any shape.
    pub fn migrated_keys<K: LegacyKey>(entity: &str, keys: impl IntoIterator<Item = K>) {
        MIGRATED.with(|m| {
            m.borrow_mut().extend(
                keys.into_iter()
                    .map(|k| (entity.to_string(), k.key_values().text())),
            )
        })
    }

    /// Forgets every row marked with [`migrated`] or [`skipped_rows`], and the instances
    /// [`run`] kept.
    pub fn reset() {
        MIGRATED.with(|m| m.borrow_mut().clear());
        SKIPPED.with(|m| m.borrow_mut().clear());
        INSTANCES.with(|i| i.borrow_mut().clear());
    }

    pub(crate) fn resolve(entity: &str, key: &KeyValues) -> Option<String> {
        MIGRATED
            .with(|m| m.borrow().contains(&(entity.to_string(), key.text())))
            .then(|| uuid(entity, key.clone()))
    }

    thread_local! {
        /// One instance per transform type and test thread, so rows of one test see what
        /// earlier rows of that test left in `self` (as rows of one batch do).
        static INSTANCES: RefCell<HashMap<TypeId, Box<dyn Any>>> = RefCell::new(HashMap::new());
    }

    /// Runs `T` on one row given as `(column, value)` pairs in any order; columns of
    /// `T::Source` left out are NULL. The instance of `T` is kept per test thread (until
    /// [`reset`]). Panics when a pair names a column that is not read, or when an output
    /// row's table is not in `T::WRITES`.
    pub fn run<T: Transform>(values: &[(&str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let columns = <T::Source as Source>::COLUMNS;
        for (name, _) in values {
            assert!(
                columns.contains(name),
                "column `{name}` is not read by the transform (not in its source! struct)"
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
        let mut transform: Box<T> = INSTANCES
            .with(|i| i.borrow_mut().remove(&TypeId::of::<T>()))
            .map(|b| b.downcast().expect("instance of T"))
            .unwrap_or_default();
        let result = transform.transform_row(<T::Source as Source>::decode(row));
        INSTANCES.with(|i| i.borrow_mut().insert(TypeId::of::<T>(), transform));
        if let Ok(rows) = &result {
            for out in rows {
                let declared = table::<T>(&out.table);
                assert_eq!(out.values.len(), declared.columns.len());
            }
        }
        result
    }

    fn table<T: Transform>(name: &str) -> Table {
        *T::WRITES
            .iter()
            .find(|w| w.name == name)
            .unwrap_or_else(|| panic!("row for `{name}`, a table not in WRITES"))
    }

    /// The value of `column` in an output row, by the declared column name.
    pub fn get<'a, T: Transform>(row: &'a TargetRow, column: &str) -> &'a Value {
        let index = table::<T>(&row.table)
            .columns
            .iter()
            .position(|c| *c == column)
            .unwrap_or_else(|| panic!("no column `{column}` in `{}`", row.table));
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
    /// A one-dimensional array of `elements` (an empty one for none).
    pub fn array(elements: Vec<super::Element>) -> Value {
        let dims = if elements.is_empty() {
            vec![]
        } else {
            vec![elements.len() as u32]
        };
        Value::Array(super::ArrayValue { dims, elements })
    }
    /// A one-dimensional text array (`text[]`, `varchar[]`, an enum's array...); None is a
    /// NULL element.
    pub fn texts<S: Into<String>>(items: impl IntoIterator<Item = Option<S>>) -> Value {
        array(
            items
                .into_iter()
                .map(|s| s.map_or(super::Element::Null, |s| super::Element::Text(s.into())))
                .collect(),
        )
    }
    /// A one-dimensional integer array (`integer[]`, `bigint[]`...); None is a NULL element.
    pub fn ints(items: impl IntoIterator<Item = Option<i64>>) -> Value {
        array(
            items
                .into_iter()
                .map(|i| i.map_or(super::Element::Null, super::Element::Int))
                .collect(),
        )
    }
}
