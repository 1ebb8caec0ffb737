//! End-to-end tests: the real `host` binary against real PostgreSQL clusters the harness
//! starts itself (initdb + pg_ctl), a fresh database per test.

mod support;

mod adopt;
mod bounds;
mod catalogue;
mod check;
mod contract;
mod cycles;
mod example;
mod faults;
mod keys;
mod operate;
mod plugin;
mod poison;
mod report;
mod run;
mod sandbox;
mod scales;
mod secrets;
mod shared_target;
mod swap;
mod tls;
mod types;
mod validate_shapes;
mod workers;
