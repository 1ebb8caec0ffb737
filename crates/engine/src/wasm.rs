//! Loading and calling transform components: the host side of `wit/`.
//!
//! The WIT world is bound here, once per contract version the host accepts: the current
//! `wit/migrate.wit` and the frozen 0.3.0, 0.2.0 and 0.1.0 (see `contract_of`; `legacy.rs`
//! converts the frozen types). Each plugin is compiled and pre-instantiated once ([`Plugin`]);
//! a fresh [`Instance`] (store + instance) is cheap and is made again after any trap, since a
//! trapped instance cannot be entered again.

mod legacy;
mod output;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::idmap::IdMaps;
use crate::key::Key;
pub use output::PluginOutput;
use output::Source;

// The contract, `wit/migrate.wit` (migrate:transform@0.4.0): the types the whole host works in.
wasmtime::component::bindgen!({
    path: "../../wit",
    world: "transform",
    imports: { default: trappable },
    additional_derives: [PartialEq],
});

pub use migrate::transform::types::{Array, Element, TargetRow, Value};

/// The contract as released at 0.3.0 (frozen in wit/frozen/): `value` without `array`. Its
/// types are its own (`legacy.rs` converts them: an array crosses as its text); 0.2.0 and
/// 0.1.0 share them.
mod contract_0_3 {
    wasmtime::component::bindgen!({
        path: "../../wit/frozen/migrate-transform-0.3.0.wit",
        world: "transform",
        imports: { default: trappable },
    });
}

/// The contract as released at 0.2.0 (frozen in wit/frozen/): the types of 0.3.0, and `ids`
/// with integer keys only. Its imports are served by the current ones.
mod contract_0_2 {
    wasmtime::component::bindgen!({
        path: "../../wit/frozen/migrate-transform-0.2.0.wit",
        world: "transform",
        imports: { default: trappable },
        with: { "migrate:transform/types": super::contract_0_3::migrate::transform::types },
    });
}

/// The contract as released at 0.1.0 (`lab:migrate`, frozen in wit/frozen/), bound so the
/// components built against it keep loading: the types of 0.3.0 (the component model matches
/// types by structure) under the old package name.
mod contract_0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/frozen/lab-migrate-0.1.0.wit",
        world: "transform",
        imports: { default: trappable },
        with: { "lab:migrate/types": super::contract_0_3::migrate::transform::types },
    });
}

/// How long one plugin call may run, in epoch ticks of [`EPOCH_TICK`] (30 s).
const CALL_DEADLINE_TICKS: u64 = 3_000;

/// The call deadline in ticks: [`CALL_DEADLINE_TICKS`], or the `call-deadline-ms` failpoint
/// (tests use it to catch an endless loop in a second).
fn call_deadline_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        crate::failpoint::call_deadline_ms().map_or(CALL_DEADLINE_TICKS, |ms| {
            (ms / EPOCH_TICK.as_millis() as u64).max(1)
        })
    })
}

/// Runs a plugin call where it may block: wasmtime-wasi's synchronous WASI (a plugin's panic
/// message flushed to stderr, say) enters the tokio runtime, which panics on an async worker.
pub fn outside_async<T>(call: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(call)
        }
        _ => call(),
    }
}
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Linear memory one plugin instance may grow to.
const MEMORY_LIMIT_BYTES: usize = 256 << 20;
/// Elements of one table (function references, mostly) an instance may grow to: the largest
/// real plugin (a Python interpreter) needs well under this.
const TABLE_ELEMENTS_LIMIT: usize = 1 << 20;
/// Core instances, tables and memories one plugin instance may create: a component is a
/// handful of core modules (its code, the WASI adapter, glue), an interpreter a few dozen.
const INSTANCES_LIMIT: usize = 100;
const TABLES_LIMIT: usize = 100;
const MEMORIES_LIMIT: usize = 10;

/// Why a plugin could not be used; the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin file {path} does not exist\n  hint: build the plugins (scripts/build-plugins.sh) or fix the `plugin` path in the plan")]
    Missing { path: PathBuf },
    #[error("cannot read plugin {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a WebAssembly component: {reason}\n  hint: build it with `cargo component build` or `cargo build --target wasm32-wasip2`")]
    NotComponent { path: PathBuf, reason: String },
    #[error("{path} does not implement the `transform` world of a contract this host accepts, {}: {reason}\n  hint: rebuild it against this host's wit/migrate.wit ({CONTRACT}); it may target another world or contract", accepted_contracts())]
    WrongWorld { path: PathBuf, reason: String },
    #[error("plugin {path} trapped: {message}")]
    Trap { path: PathBuf, message: String },
    /// The call returned more than the plan allows (`max_output_bytes_per_call`).
    #[error("plugin {path}: {message}")]
    OverLimit { path: PathBuf, message: String },
    #[error("{path} was built against {found}, but this host implements {}: {why}\n  hint: rebuild it against this host's wit/migrate.wit ({CONTRACT}), or run it with a host built for {found}", accepted_contracts())]
    IncompatibleContract {
        path: PathBuf,
        found: String,
        why: String,
    },
}

/// The wasmtime engine shared by every plugin, with its epoch ticker.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
}

impl Runtime {
    pub fn new() -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;
        Ok(Runtime { engine })
    }

    /// Reads, hashes, compiles and links a plugin; it is refused unless it is a component
    /// of our world whose imports this host provides.
    pub fn load(&self, path: &Path) -> Result<Plugin, PluginError> {
        let bytes = std::fs::read(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => PluginError::Missing { path: path.into() },
            _ => PluginError::Read {
                path: path.into(),
                source,
            },
        })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', 0x0d, 0, 0x01, 0]) => {}
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => {
                return Err(PluginError::NotComponent {
                    path: path.into(),
                    reason: "it is a core WebAssembly module, not a component".into(),
                })
            }
            _ => {
                return Err(PluginError::NotComponent {
                    path: path.into(),
                    reason: "it has no WebAssembly header (is it the right file?)".into(),
                })
            }
        }
        let component =
            self.compile_cached(&bytes, &sha256)
                .map_err(|e| PluginError::NotComponent {
                    path: path.into(),
                    reason: root_message(&e),
                })?;
        let contract = contract_of(&self.engine, &component, path)?;
        let mut linker: Linker<PluginState> = Linker::new(&self.engine);
        let wrong_world = |e: wasmtime::Error| PluginError::WrongWorld {
            path: path.into(),
            reason: format!("{e:#}"),
        };
        match contract {
            Contract::Current => {
                Transform::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)
            }
            Contract::V0_3 => contract_0_3::Transform::add_to_linker::<
                PluginState,
                HasSelf<PluginState>,
            >(&mut linker, |s| s),
            Contract::V0_2 => contract_0_2::Transform::add_to_linker::<
                PluginState,
                HasSelf<PluginState>,
            >(&mut linker, |s| s),
            Contract::V0_1 => contract_0_1::Transform::add_to_linker::<
                PluginState,
                HasSelf<PluginState>,
            >(&mut linker, |s| s),
        }
        .map_err(wrong_world)?;
        // Components built by standard toolchains import WASI even when they never use it.
        // It is linked deny-by-default: no files, sockets, environment or arguments; the
        // clocks read zero and randomness is seeded, so transforms stay deterministic.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(wrong_world)?;
        let pre = linker.instantiate_pre(&component).map_err(wrong_world)?;
        let pre = match contract {
            Contract::Current => TransformPre::new(pre).map(ContractPre::Current),
            Contract::V0_3 => contract_0_3::TransformPre::new(pre).map(ContractPre::V0_3),
            Contract::V0_2 => contract_0_2::TransformPre::new(pre).map(ContractPre::V0_2),
            Contract::V0_1 => contract_0_1::TransformPre::new(pre).map(ContractPre::V0_1),
        }
        .map_err(wrong_world)?;
        Ok(Plugin {
            path: path.into(),
            sha256,
            pre,
            engine: self.engine.clone(),
        })
    }
}

impl Runtime {
    /// Compiles a component, or loads its earlier compilation from the cache (keyed by the
    /// component's SHA-256 and the engine's compatibility hash), so a restart or a swap back
    /// to a known version does not compile again. `HOST_CACHE_DIR` moves the cache;
    /// `HOST_CACHE_DIR=off` disables it. Cache failures only cost a compile.
    fn compile_cached(&self, bytes: &[u8], sha256: &str) -> wasmtime::Result<Component> {
        let Some(dir) = cache_dir() else {
            return Component::new(&self.engine, bytes);
        };
        let engine_hash = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            self.engine.precompile_compatibility_hash().hash(&mut h);
            format!("{:016x}", h.finish())
        };
        let file = dir.join(format!("{sha256}-{engine_hash}.cwasm"));
        if file.exists() {
            // SAFETY: the file is one this host serialized itself (named by the content hash
            // of its source and this engine's compatibility hash); a file that fails to load
            // is simply compiled again.
            match unsafe { Component::deserialize_file(&self.engine, &file) } {
                Ok(component) => {
                    tracing::debug!(file = %file.display(), "loaded from the compile cache");
                    return Ok(component);
                }
                Err(e) => {
                    tracing::warn!(file = %file.display(), "ignoring an unreadable compile cache entry: {e}")
                }
            }
        }
        let component = Component::new(&self.engine, bytes)?;
        if let Ok(serialized) = component.serialize() {
            let staging = file.with_extension(format!("tmp{}", std::process::id()));
            let stored = std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(&staging, serialized))
                .and_then(|()| std::fs::rename(&staging, &file));
            if let Err(e) = stored {
                tracing::debug!(dir = %dir.display(), "compile cache not written: {e}");
            }
        }
        Ok(component)
    }
}

fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os("HOST_CACHE_DIR") {
        Some(v) if v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(base.join("migrate-host").join("components"))
        }
    }
}

fn root_message(e: &wasmtime::Error) -> String {
    format!("{e:#}")
}

/// A compiled, linked plugin: cloneable, and the unit a hot swap replaces.
#[derive(Clone)]
pub struct Plugin {
    pub path: PathBuf,
    /// SHA-256 of the component file, recorded on every batch it produces.
    pub sha256: String,
    pre: ContractPre,
    engine: Engine,
}

/// A plugin pre-instantiated against the contract version it was built for.
#[derive(Clone)]
enum ContractPre {
    Current(TransformPre<PluginState>),
    V0_3(contract_0_3::TransformPre<PluginState>),
    V0_2(contract_0_2::TransformPre<PluginState>),
    V0_1(contract_0_1::TransformPre<PluginState>),
}

/// The bindings of one live instance, by contract version. The frozen ones share the types
/// of 0.3.0, converted to and from the current ones around each call (`legacy.rs`).
enum ContractBindings {
    Current(Transform),
    V0_3(contract_0_3::Transform),
    V0_2(contract_0_2::Transform),
    V0_1(contract_0_1::Transform),
}

impl Plugin {
    /// The runtime this plugin was compiled by (to compile its successor alike).
    pub fn runtime(&self) -> Runtime {
        Runtime {
            engine: self.engine.clone(),
        }
    }

    pub fn short_hash(&self) -> &str {
        &self.sha256[..12]
    }

    /// An instance with the default limits on its output (see [`PluginOutput`]).
    pub fn instantiate(&self, ids: Arc<IdMaps>, table: &str) -> Result<Instance, PluginError> {
        self.instantiate_with(ids, &PluginOutput::new(table, Default::default()))
    }

    /// An instance printing through `output`, whose budget and limits it shares with the
    /// instances before and after it (one per trap) in the same batch.
    pub fn instantiate_with(
        &self,
        ids: Arc<IdMaps>,
        output: &PluginOutput,
    ) -> Result<Instance, PluginError> {
        let wasi = WasiCtx::builder()
            .stderr(output.stream(Source::Stderr))
            .stdout(output.stream(Source::Stdout))
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(wasmtime_wasi::Deterministic::new(vec![0x5a; 32]))
            .insecure_random(wasmtime_wasi::Deterministic::new(vec![0xa5; 32]))
            .insecure_random_seed(0)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = PluginState {
            wasi,
            resources: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(MEMORY_LIMIT_BYTES)
                .table_elements(TABLE_ELEMENTS_LIMIT)
                .instances(INSTANCES_LIMIT)
                .tables(TABLES_LIMIT)
                .memories(MEMORIES_LIMIT)
                .trap_on_grow_failure(true)
                .build(),
            ids,
            output: output.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(call_deadline_ticks());
        let bindings = match &self.pre {
            ContractPre::Current(pre) => pre.instantiate(&mut store).map(ContractBindings::Current),
            ContractPre::V0_3(pre) => pre.instantiate(&mut store).map(ContractBindings::V0_3),
            ContractPre::V0_2(pre) => pre.instantiate(&mut store).map(ContractBindings::V0_2),
            ContractPre::V0_1(pre) => pre.instantiate(&mut store).map(ContractBindings::V0_1),
        }
        .map_err(|e| self.trap(&store, e))?;
        Ok(Instance {
            store,
            bindings,
            path: self.path.clone(),
        })
    }

    fn trap(&self, store: &Store<PluginState>, e: wasmtime::Error) -> PluginError {
        trap_error(&self.path, store, e)
    }
}

fn trap_error(path: &Path, store: &Store<PluginState>, e: wasmtime::Error) -> PluginError {
    let mut message = match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => format!(
            "ran longer than {:.1} s on one call (an endless loop? the runner stops every call at that deadline)",
            (call_deadline_ticks() * EPOCH_TICK.as_millis() as u64) as f64 / 1000.0
        ),
        // The store limiter's own wording, when the plugin outgrows its memory.
        _ if e.root_cause().to_string().starts_with("forcing trap when growing memory") => format!(
            "ran out of memory: it tried to grow past the limit of {} MiB per plugin instance",
            MEMORY_LIMIT_BYTES >> 20
        ),
        _ if e.root_cause().to_string().starts_with("forcing trap when growing table") => format!(
            "tried to grow a table past the limit of {TABLE_ELEMENTS_LIMIT} elements per plugin instance"
        ),
        // The cause alone: the wasm backtrace (code offsets) helps nobody reading the quarantine.
        Some(trap) => trap.to_string(),
        None => e.root_cause().to_string(),
    };
    let printed = store.data().output.trap_stderr();
    let printed = String::from_utf8_lossy(&printed);
    // A Rust panic prints "thread '<unnamed>' (1) panicked at src/lib.rs:9:5:\n<message>\nnote:
    // run with `RUST_BACKTRACE=1`...": keep where and what.
    let printed = printed
        .lines()
        .filter(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
        .map(
            |l| match (l.starts_with("thread '"), l.find("panicked at ")) {
                (true, Some(at)) => &l[at..],
                _ => l,
            },
        )
        .collect::<Vec<_>>()
        .join("\n");
    let printed = printed.trim();
    if !printed.is_empty() {
        message = format!("{printed} ({message})");
    }
    PluginError::Trap {
        path: path.into(),
        message: message.replace('\n', " "),
    }
}

/// One live instance of a plugin.
pub struct Instance {
    store: Store<PluginState>,
    bindings: ContractBindings,
    path: PathBuf,
}

impl Instance {
    pub fn describe(&mut self) -> Result<Description, PluginError> {
        self.store.set_epoch_deadline(call_deadline_ticks());
        let output = self.store.data().output.clone();
        output.begin_call();
        let result = outside_async(|| match &self.bindings {
            ContractBindings::Current(b) => b.call_describe(&mut self.store),
            ContractBindings::V0_3(b) => b.call_describe(&mut self.store).map(legacy::description),
            ContractBindings::V0_2(b) => b.call_describe(&mut self.store).map(legacy::description),
            ContractBindings::V0_1(b) => b.call_describe(&mut self.store).map(legacy::description),
        })
        .map_err(|e| trap_error(&self.path, &self.store, e));
        output.end_call();
        result
    }

    /// One call for the whole batch; a trap leaves this instance unusable (drop it). A row
    /// producing more than `max_rows_per_input` target rows becomes a reject with the reason;
    /// a result over `max_output_bytes_per_call` fails the call like a trap (the caller
    /// bisects until the row responsible is alone).
    pub fn transform(&mut self, rows: &[Vec<Value>]) -> Result<Vec<Outcome>, PluginError> {
        self.store.set_epoch_deadline(call_deadline_ticks());
        let output = self.store.data().output.clone();
        output.begin_call();
        let result = outside_async(|| match &self.bindings {
            ContractBindings::Current(b) => b.call_transform(&mut self.store, rows),
            ContractBindings::V0_3(b) => {
                legacy::transform(rows, |old| b.call_transform(&mut self.store, old))
            }
            ContractBindings::V0_2(b) => {
                legacy::transform(rows, |old| b.call_transform(&mut self.store, old))
            }
            ContractBindings::V0_1(b) => {
                legacy::transform(rows, |old| b.call_transform(&mut self.store, old))
            }
        })
        .map_err(|e| trap_error(&self.path, &self.store, e));
        output.end_call();
        let mut outcomes = result?;
        let limits = output.limits();
        let mut bytes = 0u64;
        for outcome in &mut outcomes {
            if let Outcome::Write(out) = outcome {
                if out.len() > limits.max_rows_per_input {
                    let produced = out.len();
                    // Its rows are dropped now, not carried to the commit.
                    *outcome = Outcome::Reject(format!(
                        "plugin output over the limit: {} target rows for this one input row (max_rows_per_input = {}); raise the limit in the plan if that many is right",
                        crate::progress::thousands(produced as u64),
                        crate::progress::thousands(limits.max_rows_per_input as u64),
                    ));
                }
            }
            // Counted after: a row over the row cap is already settled without a bisection.
            bytes += outcome_bytes(outcome);
        }
        if bytes > limits.max_output_bytes_per_call {
            return Err(PluginError::OverLimit {
                path: self.path.clone(),
                message: format!(
                    "plugin output over the limit: it returned {} for {} input row(s) in one call (max_output_bytes_per_call = {}); raise the limit in the plan if that much is right",
                    output::human_bytes(bytes),
                    rows.len(),
                    output::human_bytes(limits.max_output_bytes_per_call),
                ),
            });
        }
        if outcomes.len() != rows.len() {
            return Err(PluginError::Trap {
                path: self.path.clone(),
                message: format!(
                    "broke the contract: returned {} outcomes for {} rows (one per row is required)",
                    outcomes.len(),
                    rows.len()
                ),
            });
        }
        Ok(outcomes)
    }
}

/// What one outcome weighs: the bytes of its values and reasons (as COPY text, roughly).
fn outcome_bytes(outcome: &Outcome) -> u64 {
    let value = |v: &Value| -> u64 {
        match v {
            Value::Null | Value::Boolean(_) => 1,
            Value::Int(_) | Value::Float(_) => 8,
            Value::Bytes(b) => b.len() as u64,
            other => carried_text(other).map_or(0, |s| s.len() as u64),
        }
    };
    match outcome {
        Outcome::Write(out) => out
            .iter()
            .map(|r| r.table.len() as u64 + r.values.iter().map(value).sum::<u64>())
            .sum(),
        Outcome::Skip(reason) | Outcome::Reject(reason) => reason.len() as u64,
    }
}

/// Per-instance host state.
pub struct PluginState {
    wasi: WasiCtx,
    resources: ResourceTable,
    limits: StoreLimits,
    ids: Arc<IdMaps>,
    output: PluginOutput,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.resources,
        }
    }
}

impl migrate::transform::types::Host for PluginState {}
impl contract_0_3::migrate::transform::types::Host for PluginState {}

impl PluginState {
    /// An entity's id map must be loaded to be read: the plugin declares what it resolves.
    fn require_loaded(&self, entity: &str) -> wasmtime::Result<()> {
        if self.ids.is_loaded(entity) {
            return Ok(());
        }
        Err(wasmtime::Error::msg(format!(
            "plugin resolved an id of `{entity}` without declaring it in describe().resolves: declare it so the runner loads its id map and orders the tables"
        )))
    }
}

/// The key of values (a row's key columns, or what a plugin passed), in key order: each
/// value's text (`42`, `US`, `2024-01-31`, a lowercase uuid, `\x0aff`), see `key`. Err says
/// why they cannot be a key (a NULL, a float, JSON).
pub fn key_of<'a>(values: impl IntoIterator<Item = &'a Value>) -> Result<Key, String> {
    let part = |value: &Value| -> Result<String, String> {
        Ok(match value {
            Value::Int(n) => n.to_string(),
            Value::Uuid(s) => s.to_ascii_lowercase(),
            Value::Text(s)
            | Value::Numeric(s)
            | Value::Date(s)
            | Value::Timestamp(s)
            | Value::Timestamptz(s) => s.clone(),
            Value::Boolean(b) => b.to_string(),
            Value::Bytes(b) => format!("\\x{}", hex::encode(b)),
            Value::Null => return Err("a key value is NULL".into()),
            Value::Float(_) => {
                return Err("a floating-point value cannot be a key (it has no exact text)".into())
            }
            Value::Json(_) => return Err("a JSON value cannot be a key".into()),
            Value::Array(_) => return Err("an array cannot be a key".into()),
        })
    };
    Key::from_parts(values.into_iter().map(part).collect::<Result<_, _>>()?)
}

/// A key a plugin passed; one that cannot be a key (a NULL, a float) traps the call, which
/// quarantines the row with the reason.
fn plugin_key(entity: &str, key: &[Value]) -> wasmtime::Result<Key> {
    key_of(key).map_err(|why| {
        wasmtime::Error::msg(format!("plugin passed an invalid key of `{entity}`: {why}"))
    })
}

/// A lookup in the target failed: the call traps, and the runner stops the table with the
/// failure (`IdMaps::take_fault`) rather than quarantining the row.
fn lookup_failed(e: anyhow::Error) -> wasmtime::Error {
    wasmtime::Error::msg(format!("{e:#}"))
}

impl migrate::transform::ids::Host for PluginState {
    fn resolve(&mut self, entity: String, legacy_id: i64) -> wasmtime::Result<Option<String>> {
        self.require_loaded(&entity)?;
        let id = self.ids.resolve(&entity, &Key::Int(legacy_id));
        Ok(id.map_err(lookup_failed)?.map(|u| u.to_string()))
    }

    fn skipped(&mut self, entity: String, legacy_id: i64) -> wasmtime::Result<Option<String>> {
        let reason = self.ids.skipped(&entity, &Key::Int(legacy_id));
        reason.map_err(lookup_failed)
    }

    fn mint(&mut self, entity: String, legacy_id: i64) -> wasmtime::Result<String> {
        let id = self.ids.mint(&entity, &Key::Int(legacy_id));
        Ok(id.map_err(lookup_failed)?.to_string())
    }

    fn resolve_key(&mut self, entity: String, key: Vec<Value>) -> wasmtime::Result<Option<String>> {
        self.require_loaded(&entity)?;
        let key = plugin_key(&entity, &key)?;
        let id = self.ids.resolve(&entity, &key);
        Ok(id.map_err(lookup_failed)?.map(|u| u.to_string()))
    }

    fn skipped_key(&mut self, entity: String, key: Vec<Value>) -> wasmtime::Result<Option<String>> {
        let key = plugin_key(&entity, &key)?;
        self.ids.skipped(&entity, &key).map_err(lookup_failed)
    }

    fn mint_key(&mut self, entity: String, key: Vec<Value>) -> wasmtime::Result<String> {
        let key = plugin_key(&entity, &key)?;
        let id = self.ids.mint(&entity, &key);
        Ok(id.map_err(lookup_failed)?.to_string())
    }

    /// The UUID the row will get: what `mint-key` gives; the runner settles the reference.
    fn later(&mut self, entity: String, key: Vec<Value>) -> wasmtime::Result<String> {
        self.mint_key(entity, key)
    }
}

impl migrate::transform::log::Host for PluginState {
    fn log(
        &mut self,
        level: migrate::transform::log::Level,
        message: String,
    ) -> wasmtime::Result<()> {
        use migrate::transform::log::Level;
        let level = match level {
            Level::Debug => tracing::Level::DEBUG,
            Level::Info => tracing::Level::INFO,
            Level::Warn => tracing::Level::WARN,
            Level::Error => tracing::Level::ERROR,
        };
        self.output.log(level, &message);
        Ok(())
    }
}

/// A frozen contract's imports, served by the current ones: `ids` with integer keys only (the
/// same functions) and `log` (the same levels under the old names).
macro_rules! frozen_contract_imports {
    ($($ids:ident)::+ ; $($log:ident)::+ $(; $($more:item)*)?) => {
        impl $($ids)::+::Host for PluginState {
            $($($more)*)?

            fn resolve(&mut self, entity: String, legacy_id: i64) -> wasmtime::Result<Option<String>> {
                migrate::transform::ids::Host::resolve(self, entity, legacy_id)
            }

            fn skipped(&mut self, entity: String, legacy_id: i64) -> wasmtime::Result<Option<String>> {
                migrate::transform::ids::Host::skipped(self, entity, legacy_id)
            }

            fn mint(&mut self, entity: String, legacy_id: i64) -> wasmtime::Result<String> {
                migrate::transform::ids::Host::mint(self, entity, legacy_id)
            }
        }

        impl $($log)::+::Host for PluginState {
            fn log(&mut self, level: $($log)::+::Level, message: String) -> wasmtime::Result<()> {
                use $($log)::+::Level as Old;
                use migrate::transform::log::Level;
                let level = match level {
                    Old::Debug => Level::Debug,
                    Old::Info => Level::Info,
                    Old::Warn => Level::Warn,
                    Old::Error => Level::Error,
                };
                migrate::transform::log::Host::log(self, level, message)
            }
        }
    };
}

// Contract 0.3.0: keys of any shape, as the 0.3.0 values (no array is a key).
frozen_contract_imports!(contract_0_3::migrate::transform::ids; contract_0_3::migrate::transform::log;
    fn resolve_key(&mut self, entity: String, key: Vec<legacy::Old>) -> wasmtime::Result<Option<String>> {
        migrate::transform::ids::Host::resolve_key(self, entity, legacy::key(key))
    }
    fn skipped_key(&mut self, entity: String, key: Vec<legacy::Old>) -> wasmtime::Result<Option<String>> {
        migrate::transform::ids::Host::skipped_key(self, entity, legacy::key(key))
    }
    fn mint_key(&mut self, entity: String, key: Vec<legacy::Old>) -> wasmtime::Result<String> {
        migrate::transform::ids::Host::mint_key(self, entity, legacy::key(key))
    }
    fn later(&mut self, entity: String, key: Vec<legacy::Old>) -> wasmtime::Result<String> {
        migrate::transform::ids::Host::later(self, entity, legacy::key(key))
    }
);
// Contract 0.2.0: the current package, before keys of any shape.
frozen_contract_imports!(contract_0_2::migrate::transform::ids; contract_0_2::migrate::transform::log);
// Contract 0.1.0: the same functions under the old package name.
frozen_contract_imports!(contract_0_1::lab::migrate::ids; contract_0_1::lab::migrate::log);

/// A clock that always reads zero: plugins get no real time.
struct FrozenClock;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The text a value carries as text (exact numbers, dates, uuids, JSON included).
pub fn carried_text(value: &Value) -> Option<&str> {
    match value {
        Value::Numeric(s)
        | Value::Text(s)
        | Value::Uuid(s)
        | Value::Date(s)
        | Value::Timestamp(s)
        | Value::Timestamptz(s)
        | Value::Json(s) => Some(s),
        Value::Null
        | Value::Boolean(_)
        | Value::Int(_)
        | Value::Float(_)
        | Value::Bytes(_)
        | Value::Array(_) => None,
    }
}

/// An array element as the value it would be on its own.
pub fn element_value(element: &Element) -> Value {
    match element {
        Element::Null => Value::Null,
        Element::Boolean(b) => Value::Boolean(*b),
        Element::Int(i) => Value::Int(*i),
        Element::Float(f) => Value::Float(*f),
        Element::Numeric(s) => Value::Numeric(s.clone()),
        Element::Text(s) => Value::Text(s.clone()),
        Element::Bytes(b) => Value::Bytes(b.clone()),
        Element::Uuid(s) => Value::Uuid(s.clone()),
        Element::Date(s) => Value::Date(s.clone()),
        Element::Timestamp(s) => Value::Timestamp(s.clone()),
        Element::Timestamptz(s) => Value::Timestamptz(s.clone()),
        Element::Json(s) => Value::Json(s.clone()),
    }
}

/// A value as an array element; an array (arrays do not nest as values) is None.
pub fn value_element(value: Value) -> Option<Element> {
    Some(match value {
        Value::Null => Element::Null,
        Value::Boolean(b) => Element::Boolean(b),
        Value::Int(i) => Element::Int(i),
        Value::Float(f) => Element::Float(f),
        Value::Numeric(s) => Element::Numeric(s),
        Value::Text(s) => Element::Text(s),
        Value::Bytes(b) => Element::Bytes(b),
        Value::Uuid(s) => Element::Uuid(s),
        Value::Date(s) => Element::Date(s),
        Value::Timestamp(s) => Element::Timestamp(s),
        Value::Timestamptz(s) => Element::Timestamptz(s),
        Value::Json(s) => Element::Json(s),
        Value::Array(_) => return None,
    })
}

/// An element's PostgreSQL text (None: NULL): what it is inside an array literal.
pub fn element_text(element: &Element) -> Option<String> {
    Some(match element {
        Element::Null => return None,
        Element::Boolean(b) => if *b { "t" } else { "f" }.to_string(),
        Element::Int(i) => i.to_string(),
        Element::Float(f) => crate::pgarray::float_text(*f),
        Element::Bytes(b) => format!("\\x{}", hex::encode(b)),
        Element::Numeric(s)
        | Element::Text(s)
        | Element::Uuid(s)
        | Element::Date(s)
        | Element::Timestamp(s)
        | Element::Timestamptz(s)
        | Element::Json(s) => s.clone(),
    })
}

/// An array's PostgreSQL literal (`{1,NULL,"a b"}`); Err when its dims do not hold its elements.
pub fn array_text(array: &Array) -> Result<String, String> {
    let texts: Vec<Option<String>> = array.elements.iter().map(element_text).collect();
    crate::pgarray::format(&array.dims, &texts)
}

/// The contract's WIT source (wit/migrate.wit), for toolchains that bind it themselves.
pub const CONTRACT_WIT: &str = include_str!("../../../wit/migrate.wit");
/// The WIT package this host implements, as written in `wit/migrate.wit`
/// (`migrate:transform@0.2.0`).
pub const CONTRACT: &str = contract_package(CONTRACT_WIT);

/// The contract as released at 0.3.0, whose components still load.
pub const CONTRACT_0_3: &str = contract_package(include_str!(
    "../../../wit/frozen/migrate-transform-0.3.0.wit"
));

/// The contract as released at 0.2.0, whose components still load.
pub const CONTRACT_0_2: &str = contract_package(include_str!(
    "../../../wit/frozen/migrate-transform-0.2.0.wit"
));

/// The contract as released at 0.1.0 (`lab:migrate@0.1.0`), whose components still load.
pub const CONTRACT_0_1: &str =
    contract_package(include_str!("../../../wit/frozen/lab-migrate-0.1.0.wit"));

/// Which contract a component was built against, so it is bound with that contract's WIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contract {
    Current,
    V0_3,
    V0_2,
    V0_1,
}

impl Contract {
    /// Every contract this host binds, newest first.
    const ALL: [Contract; 4] = [
        Contract::Current,
        Contract::V0_3,
        Contract::V0_2,
        Contract::V0_1,
    ];

    fn package(self) -> &'static str {
        match self {
            Contract::Current => CONTRACT,
            Contract::V0_3 => CONTRACT_0_3,
            Contract::V0_2 => CONTRACT_0_2,
            Contract::V0_1 => CONTRACT_0_1,
        }
    }
}

/// The contracts this host loads, for the messages: "migrate:transform@0.4.0 (or the earlier
/// migrate:transform@0.2.0, lab:migrate@0.1.0)".
fn accepted_contracts() -> String {
    format!("{CONTRACT} (or the earlier {CONTRACT_0_3}, {CONTRACT_0_2}, {CONTRACT_0_1})")
}

const fn contract_package(wit: &'static str) -> &'static str {
    // `package <namespace>:<name>@X.Y.Z;` is the first declaration of the file.
    let bytes = wit.as_bytes();
    let key = b"package ";
    let mut i = 0;
    while i + key.len() <= bytes.len() {
        let mut j = 0;
        while j < key.len() && bytes[i + j] == key[j] {
            j += 1;
        }
        if j == key.len() && (i == 0 || bytes[i - 1] == b'\n') {
            let start = i + key.len();
            let mut end = start;
            while end < bytes.len() && bytes[end] != b';' {
                end += 1;
            }
            let (_, rest) = bytes.split_at(start);
            let (name, _) = rest.split_at(end - start);
            return match std::str::from_utf8(name) {
                Ok(name) => name,
                Err(_) => panic!("wit/migrate.wit: bad package line"),
            };
        }
        i += 1;
    }
    panic!("wit/migrate.wit has no `package` line")
}

use semver::Version;

/// A contract version as semver reads it (`1.2`, `1.2.3.4` and other non-versions are None).
fn parse_version(text: &str) -> Option<Version> {
    Version::parse(text).ok()
}

/// Whether a component built against contract version `found` works with this host's
/// `host` version, by the component model's semver rule (the one wasmtime's linker applies):
/// same major for 1.0 and later, same minor for 0.x, the exact version for 0.0.x and
/// pre-releases. Err is the reason, for the message.
fn compatible(host: &Version, found: &Version) -> Result<(), String> {
    // Build metadata does not count, as semver says.
    if (host.major, host.minor, host.patch, &host.pre)
        == (found.major, found.minor, found.patch, &found.pre)
    {
        return Ok(());
    }
    if !host.pre.is_empty() || !found.pre.is_empty() {
        return Err("pre-release contract versions are compatible only with themselves".into());
    }
    match (host.major, host.minor) {
        (0, 0) => Err("a 0.0.x contract is compatible only with the exact same version".into()),
        (0, minor) if found.major == 0 && found.minor == minor => Ok(()),
        (0, minor) => Err(format!(
            "a 0.x contract is compatible only within the same minor version (0.{minor}.*)"
        )),
        (major, _) if found.major == major => Ok(()),
        (major, _) => Err(format!(
            "contracts are compatible only within the same major version ({major}.*)"
        )),
    }
}

/// The contract a component was built against, read from the package of its imports and
/// exports (`migrate:transform/...@0.4.0`, or `lab:migrate/...@0.1.0` before the rename): the
/// newest contract of that package whose version is compatible with the one it names. One
/// naming no contract of ours is bound as the current one, whose linker then says what is
/// missing. A component built against an incompatible version of a known contract is refused
/// naming both versions (the linker would only say "missing import").
fn contract_of(
    engine: &Engine,
    component: &Component,
    path: &Path,
) -> Result<Contract, PluginError> {
    let ty = component.component_type();
    let names: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .chain(ty.exports(engine).map(|(name, _)| name.to_string()))
        .collect();
    let mut chosen = None;
    for name in &names {
        let Some(package) = Contract::ALL
            .iter()
            .map(|c| c.package().split_once('@').expect("versioned").0)
            .find(|p| name.starts_with(&format!("{p}/")))
        else {
            continue;
        };
        let incompatible = |found: String, why: String| PluginError::IncompatibleContract {
            path: path.into(),
            found,
            why,
        };
        let Some((_, version)) = name.split_once('@') else {
            return Err(incompatible(
                format!("{package} without a version (it imports `{name}`)"),
                "an unversioned contract cannot be checked".into(),
            ));
        };
        let found = format!("{package}@{version}");
        let Some(v) = parse_version(version) else {
            return Err(incompatible(found, "its version is not semver".into()));
        };
        let mut why = String::new();
        let contract = Contract::ALL.into_iter().find(|c| {
            let (p, host_version) = c.package().split_once('@').expect("versioned");
            let host = parse_version(host_version).expect("the contract WIT has a semver version");
            p == package
                && compatible(&host, &v)
                    .map_err(|e| {
                        if why.is_empty() {
                            why = e
                        }
                    })
                    .is_ok()
        });
        match contract {
            Some(c) => chosen = Some(c),
            None => return Err(incompatible(found, why)),
        }
    }
    Ok(chosen.unwrap_or(Contract::Current))
}

#[cfg(test)]
mod contract_tests {
    use super::*;

    #[test]
    fn a_key_is_the_text_of_its_values() {
        assert_eq!(key_of(&[Value::Int(42)]).unwrap(), Key::Int(42));
        assert_eq!(key_of(&[Value::Text("42".into())]).unwrap(), Key::Int(42));
        let uuid = key_of(&[Value::Uuid("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11".into())]).unwrap();
        assert_eq!(uuid.to_string(), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        let pair = key_of(&[Value::Date("2024-01-31".into()), Value::Int(7)]).unwrap();
        assert_eq!(pair.to_string(), r#"["2024-01-31","7"]"#);
        assert_eq!(
            key_of(&[Value::Bytes(vec![10, 255])]).unwrap().to_string(),
            "\\x0aff"
        );
        assert!(key_of(&[Value::Null]).is_err());
        assert!(key_of(&[Value::Int(1), Value::Float(1.5)]).is_err());
        assert!(key_of(&[]).is_err());
    }

    fn v(s: &str) -> Version {
        parse_version(s).unwrap()
    }

    #[test]
    fn the_contract_is_read_from_the_wit() {
        assert_eq!(CONTRACT, "migrate:transform@0.4.0");
        assert_eq!(CONTRACT_0_3, "migrate:transform@0.3.0");
        assert_eq!(CONTRACT_0_2, "migrate:transform@0.2.0");
        assert_eq!(CONTRACT_0_1, "lab:migrate@0.1.0");
    }

    fn declarations(wit: &str) -> Vec<String> {
        wit.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//") && !l.starts_with("package "))
            .map(String::from)
            .collect()
    }

    /// The `types` interface of a contract's WIT, declarations only.
    fn types_interface(wit: &str) -> Vec<String> {
        let lines = declarations(wit);
        let start = lines.iter().position(|l| l == "interface types {");
        let end = lines.iter().position(|l| l.starts_with("interface ids"));
        lines[start.expect("a types interface")..end.expect("an ids interface")].to_vec()
    }

    /// The 0.1.0 and 0.2.0 bindings reuse the 0.3.0 types (`with` in `contract_0_1` and
    /// `contract_0_2`), which is right only while those are the same; legacy.rs converts the
    /// 0.3.0 types to the current ones, which add arrays and nothing else. When `types`
    /// changes again, freeze it and convert the same way, and change this test.
    #[test]
    fn the_frozen_contracts_share_the_0_3_types_and_the_current_ones_add_arrays() {
        let v0_1 = include_str!("../../../wit/frozen/lab-migrate-0.1.0.wit");
        let v0_2 = include_str!("../../../wit/frozen/migrate-transform-0.2.0.wit");
        let v0_3 = include_str!("../../../wit/frozen/migrate-transform-0.3.0.wit");
        let current = include_str!("../../../wit/migrate.wit");
        assert_eq!(
            declarations(v0_1),
            declarations(v0_2),
            "0.2.0 only renamed 0.1.0"
        );
        let strip_docs = |l: Vec<String>| -> Vec<String> {
            l.into_iter().filter(|l| !l.starts_with("///")).collect()
        };
        let old = strip_docs(types_interface(v0_3));
        assert_eq!(strip_docs(types_interface(v0_2)), old);
        let added: Vec<String> = strip_docs(types_interface(current))
            .into_iter()
            .filter(|l| !old.contains(l))
            .collect();
        assert_eq!(
            added,
            [
                "variant element {",
                "record array {",
                "dims: list<u32>,",
                "elements: list<element>,",
                "array(array),"
            ]
        );
    }

    #[test]
    fn semver_compatibility() {
        assert!(compatible(&v("0.1.0"), &v("0.1.0")).is_ok());
        assert!(compatible(&v("0.1.0"), &v("0.1.7")).is_ok());
        assert!(compatible(&v("0.1.3"), &v("0.1.0")).is_ok());
        assert!(compatible(&v("0.1.0"), &v("0.2.0")).is_err());
        assert!(compatible(&v("0.1.0"), &v("1.0.0")).is_err());
        assert!(compatible(&v("1.2.0"), &v("1.0.5")).is_ok());
        assert!(compatible(&v("1.2.0"), &v("2.0.0")).is_err());
        assert!(compatible(&v("0.0.1"), &v("0.0.2")).is_err());
        assert!(compatible(&v("0.1.0"), &v("0.1.0-rc1")).is_err());
        assert_eq!(parse_version("1.2"), None);
        assert_eq!(parse_version("1.2.3.4"), None);
        assert!(compatible(&v("0.2.0"), &v("0.2.0+build.7")).is_ok());
    }
}
