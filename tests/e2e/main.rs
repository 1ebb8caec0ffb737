//! End-to-end tests: the real `host` binary against real PostgreSQL clusters the harness
//! starts itself (initdb + pg_ctl), a fresh database per test.

mod support;

mod check;
mod operate;
mod run;
