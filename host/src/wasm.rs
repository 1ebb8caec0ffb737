//! Loading and calling transform components: the host side of `wit/`.
//!
//! The WIT world is bound here, once. Each plugin is compiled and pre-instantiated once
//! ([`Plugin`]); a fresh [`Instance`] (store + instance) is cheap and is made again after
//! any trap, since a trapped instance cannot be entered again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::idmap::IdMaps;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "transform",
    imports: { default: trappable },
    additional_derives: [PartialEq],
});

pub use lab::migrate::types::{TargetRow, Value};

/// How long one plugin call may run, in epoch ticks of [`EPOCH_TICK`].
const CALL_DEADLINE_TICKS: u64 = 3_000;
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Linear memory one plugin instance may grow to.
const MEMORY_LIMIT_BYTES: usize = 256 << 20;
/// What a plugin may print (its panic message, mostly) before the rest is dropped.
const STDERR_CAPTURE_BYTES: usize = 16 << 10;

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
    #[error("{path} does not implement the lab:migrate@0.1.0 `transform` world: {reason}\n  hint: rebuild it against this host's wit/ (it may target another world or WIT version)")]
    WrongWorld { path: PathBuf, reason: String },
    #[error("plugin {path} trapped: {message}")]
    Trap { path: PathBuf, message: String },
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
            Component::new(&self.engine, &bytes).map_err(|e| PluginError::NotComponent {
                path: path.into(),
                reason: root_message(&e),
            })?;
        let mut linker: Linker<PluginState> = Linker::new(&self.engine);
        let wrong_world = |e: wasmtime::Error| PluginError::WrongWorld {
            path: path.into(),
            reason: format!("{e:#}"),
        };
        Transform::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)
            .map_err(wrong_world)?;
        // Components built by standard toolchains import WASI even when they never use it.
        // It is linked deny-by-default: no files, sockets, environment or arguments; the
        // clocks read zero and randomness is seeded, so transforms stay deterministic.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(wrong_world)?;
        let pre = linker.instantiate_pre(&component).map_err(wrong_world)?;
        let pre = TransformPre::new(pre).map_err(wrong_world)?;
        Ok(Plugin {
            path: path.into(),
            sha256,
            pre,
            engine: self.engine.clone(),
        })
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
    pre: TransformPre<PluginState>,
    engine: Engine,
}

impl Plugin {
    pub fn short_hash(&self) -> &str {
        &self.sha256[..12]
    }

    pub fn instantiate(&self, ids: Arc<IdMaps>, table: &str) -> Result<Instance, PluginError> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .stdout(MemoryOutputPipe::new(STDERR_CAPTURE_BYTES))
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
                .trap_on_grow_failure(true)
                .build(),
            ids,
            stderr,
            table: table.to_string(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(CALL_DEADLINE_TICKS);
        let bindings = self
            .pre
            .instantiate(&mut store)
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
            "ran longer than {} s on one batch (an endless loop?)",
            CALL_DEADLINE_TICKS * EPOCH_TICK.as_millis() as u64 / 1000
        ),
        _ => format!("{e:#}"),
    };
    let printed = store.data().stderr.contents();
    let printed = String::from_utf8_lossy(&printed);
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
    bindings: Transform,
    path: PathBuf,
}

impl Instance {
    pub fn describe(&mut self) -> Result<Description, PluginError> {
        self.store.set_epoch_deadline(CALL_DEADLINE_TICKS);
        self.bindings
            .call_describe(&mut self.store)
            .map_err(|e| trap_error(&self.path, &self.store, e))
    }

    /// One call for the whole batch; a trap leaves this instance unusable (drop it).
    pub fn transform(&mut self, rows: &[Vec<Value>]) -> Result<Vec<Outcome>, PluginError> {
        self.store.set_epoch_deadline(CALL_DEADLINE_TICKS);
        let outcomes = self
            .bindings
            .call_transform(&mut self.store, rows)
            .map_err(|e| trap_error(&self.path, &self.store, e))?;
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

/// Per-instance host state.
pub struct PluginState {
    wasi: WasiCtx,
    resources: ResourceTable,
    limits: StoreLimits,
    ids: Arc<IdMaps>,
    stderr: MemoryOutputPipe,
    table: String,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.resources,
        }
    }
}

impl lab::migrate::types::Host for PluginState {}

impl lab::migrate::ids::Host for PluginState {
    fn resolve(&mut self, entity: String, legacy_id: i64) -> wasmtime::Result<Option<String>> {
        if !self.ids.is_loaded(&entity) {
            return Err(wasmtime::Error::msg(format!(
                "plugin resolved an id of `{entity}` without declaring it in describe().resolves: declare it so the runner loads its id map and orders the tables"
            )));
        }
        Ok(self.ids.resolve(&entity, legacy_id).map(|u| u.to_string()))
    }

    fn skipped(&mut self, entity: String, legacy_id: i64) -> wasmtime::Result<Option<String>> {
        Ok(self.ids.skipped(&entity, legacy_id).map(str::to_string))
    }

    fn mint(&mut self, entity: String, legacy_id: i64) -> wasmtime::Result<String> {
        Ok(self.ids.mint(&entity, legacy_id).to_string())
    }
}

impl lab::migrate::log::Host for PluginState {
    fn log(&mut self, level: lab::migrate::log::Level, message: String) -> wasmtime::Result<()> {
        use lab::migrate::log::Level;
        let table = &self.table;
        match level {
            Level::Debug => tracing::debug!(target: "plugin", %table, "{message}"),
            Level::Info => tracing::info!(target: "plugin", %table, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", %table, "{message}"),
            Level::Error => tracing::error!(target: "plugin", %table, "{message}"),
        }
        Ok(())
    }
}

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
