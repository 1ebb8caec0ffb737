//! The migration engine: moves a legacy PostgreSQL database into a new schema, one table at a
//! time, through sandboxed WebAssembly transforms. A library: it prints progress, returns its
//! reports as data (the binary prints them), and never parses a command line or exits; its
//! [`Error`] carries the kind a front end turns into an exit code.
//!
//! Where things happen:
//! - [`plan`]: the plan file, parsed then resolved; [`check`]: the plan against the databases
//!   and the plugins ([`check_types`]: column types that can never be written); [`order`]:
//!   dependency order.
//! - [`session`]: connecting both sides and opening a checked migration.
//! - [`scheduler`]: which table runs when, and the whole of `host run`; [`run`]: one table,
//!   batch by batch (read a page, call the plugin, split a batch around a bad row).
//! - [`batch`]: a batch's rows and what became of each; [`store`]: where a batch is committed
//!   with its checkpoint, in one target transaction ([`store::StateStore`], for PostgreSQL
//!   and in memory for tests).
//! - [`wasm`]: the plugin runtime (where a plugin is called); [`codec`]: values between
//!   PostgreSQL and the plugin contract ([`pgarray`]: array literals); [`idmap`]: legacy ids to UUIDs.
//! - [`state`]: the `migration` schema in the target (checkpoints, quarantine, audit trail);
//!   [`lock`]: one writer per target; [`deferred`]: keys and indexes set aside for the load.
//! - [`validate`], [`dryrun`], [`retry`], [`rollback`], [`status`].
//! - [`pg`], [`conninfo`], [`tls`], [`transient`]: connections, TLS and riding out faults.
//! - [`progress`]: what a front end may observe; [`failpoint`]: test-build crash points.

pub mod batch;
pub mod check;
pub mod check_types;
pub mod chunk;
pub mod codec;
pub mod conninfo;
pub mod deferred;
pub mod dryrun;
pub mod error;
pub mod failpoint;
pub mod idmap;
pub mod key;
pub mod lock;
pub mod order;
pub mod pg;
pub mod pgarray;
pub mod plan;
pub mod progress;
pub mod retry;
pub mod rollback;
pub mod run;
pub mod scheduler;
pub mod session;
pub mod state;
pub mod status;
pub mod store;
pub mod tls;
pub mod transient;
pub mod validate;
pub mod wasm;

pub use error::{Error, ErrorKind};
