//! `host`: moves a legacy PostgreSQL database into a new schema through sandboxed
//! WebAssembly transforms, one per table. See README.md.

mod board;
mod commands;
mod plugin_build;
mod plugin_cmd;
mod print;
mod summary;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use engine::plan::{Overrides, Plan};
use engine::{Error, ErrorKind};

/// `host --version`; a test build (with the engine's failpoints) says so.
const VERSION: &str = if engine::failpoint::ENABLED {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (test build: failpoints compiled in)"
    )
} else {
    env!("CARGO_PKG_VERSION")
};

#[derive(Parser)]
#[command(
    name = "host",
    version = VERSION,
    about = "Moves a legacy PostgreSQL database into a new schema through sandboxed WebAssembly transforms",
    after_help = "Exit codes: 0 success; 2 bad command line or plan; 3 check found problems; 4 a database could not be reached, or another host command (run, retry, rollback, swap) holds the target: the message names it; 5 a table failed or stopped during the run, or keys set aside could not be put back; 6 validate found a failing check; 1 anything else."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the plan, the plugins and both schemas before any row moves; prints the table order.
    Check(PlanArgs),
    /// Run the migration, or resume it after the last committed batch.
    Run(RunArgs),
    /// Join a running `host run` from this machine (or another): work chunks of its large
    /// tables beside it, through the target database alone, until the run ends. Start any
    /// number, anywhere, with the same plan and plugin files; kill any at any time (its chunk
    /// is taken over after its last committed batch).
    Worker(PlanArgs),
    /// Show per-table progress from the target's state tables (works from any terminal).
    Status(PlanArgs),
    /// Prove the migration is whole: accounting, reasons, id map, FK orphans, money, a
    /// re-transformed sample, and the plan's success thresholds. Exit 0 only if every check passes.
    Validate(PlanArgs),
    /// Write the whole migration into one self-contained HTML file (opens offline in any
    /// browser): the runs, a timeline per table, throughput, validation, reject and skip
    /// reasons, component versions and hot swaps, and the plan. Reads the target's state
    /// tables (during or after a run); validation needs the source and the plugins too.
    Report(ReportArgs),
    /// Swap a new component in for one table: checked here first, then put in place of the
    /// plan's plugin file, where a running `host run` picks it up at its next batch boundary.
    Swap(SwapArgs),
    /// Replay quarantined rows through the current component (after a fix to the plugin or to
    /// the legacy data); rows that now succeed are written, the rest stay with the new reason.
    Retry(RetryArgs),
    /// Remove what the migration wrote for some tables (rows, id map, skips, quarantine,
    /// checkpoints), so a later run migrates them again.
    Rollback(RollbackArgs),
    /// The lab example's data generator: create and fill its legacy database with
    /// deterministic, realistically dirty data (`--scale S --url URL`), or seed a target
    /// (`--seed-target URL`). Runs `host-generate`, installed beside `host`; `host generate
    /// --help` lists its options.
    #[command(disable_help_flag = true)]
    Generate {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Plugin authoring: scaffold a plugin crate, or test a component on fixture rows (no database).
    #[command(subcommand)]
    Plugin(plugin_cmd::PluginCommand),
    /// `host NAME ARGS...` runs `host-NAME ARGS...` (beside `host`, or on PATH), as git and
    /// cargo do: how an example ships its own commands without being part of `host`.
    #[command(external_subcommand)]
    External(Vec<OsString>),
}

#[derive(Args, Clone)]
struct PlanArgs {
    /// The migration plan.
    #[arg(default_value = "plan.toml")]
    plan: PathBuf,
    /// Legacy database URL (overrides the plan's [source] url).
    #[arg(long, env = "MIGRATE_SOURCE_URL", hide_env_values = true)]
    source: Option<String>,
    /// New database URL (overrides the plan's [target] url).
    #[arg(long, env = "MIGRATE_TARGET_URL", hide_env_values = true)]
    target: Option<String>,
    /// Machine-readable output on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Clone)]
struct RunArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// Run only these tables (repeatable); their dependencies must be done already.
    #[arg(long = "table")]
    tables: Vec<String>,
    /// Read and transform every table, write nothing: prints what would be written, skipped
    /// and rejected, with the most frequent reasons and example keys.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args, Clone)]
struct RetryArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// Retry only these tables' quarantined rows (repeatable).
    #[arg(long = "table")]
    tables: Vec<String>,
}

#[derive(Args, Clone)]
struct ReportArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// Where to write the HTML file (replaced if it exists).
    #[arg(short, long, default_value = "report.html")]
    output: PathBuf,
    /// Leave validation out (it re-reads the source and re-transforms a sample per table);
    /// when it cannot run, the report says why instead.
    #[arg(long)]
    no_validate: bool,
}

#[derive(Args, Clone)]
struct SwapArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// The table whose plugin to replace.
    #[arg(long)]
    table: String,
    /// The new component (.wasm).
    #[arg(long)]
    plugin: PathBuf,
    /// Seconds to wait for a running `host run` to apply it.
    #[arg(long, default_value_t = 30)]
    wait: u64,
}

#[derive(Args, Clone)]
struct RollbackArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// A table to roll back (repeatable).
    #[arg(long = "table", required_unless_present = "all")]
    tables: Vec<String>,
    /// Roll back every table of the plan.
    #[arg(long, conflicts_with = "tables")]
    all: bool,
    /// Also roll back the tables that depend on these (otherwise it refuses while they hold rows).
    #[arg(long)]
    cascade: bool,
    /// Do it without asking (required when stdin is not a terminal).
    #[arg(long)]
    yes: bool,
}

impl PlanArgs {
    fn load(&self) -> Result<Plan, Error> {
        let overrides = Overrides {
            source: self.source.clone(),
            target: self.target.clone(),
        };
        Plan::load(&self.plan, &overrides).map_err(|e| Error::plan(e.to_string()))
    }
}

/// A batch is thousands of short-lived strings: glibc's allocator spent about a third of the
/// runner's CPU on them (bench/RESULTS.md, profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    engine::failpoint::setup();
    let board = board::Board::for_terminal();
    if let Some(board) = &board {
        engine::progress::set_observer(board.clone());
    }
    let log_writer = board::LogWriter(board);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOST_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(move || log_writer.clone())
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Check(args) => commands::check(args).await,
        Command::Run(args) => commands::run(args).await,
        Command::Worker(args) => commands::worker(args).await,
        Command::Status(args) => commands::status(args).await,
        Command::Validate(args) => commands::validate(args).await,
        Command::Report(args) => commands::report(args).await,
        Command::Rollback(args) => commands::rollback(args).await,
        Command::Retry(args) => commands::retry(args).await,
        Command::Swap(args) => commands::swap(args).await,
        Command::Generate { args } => commands::external("generate", args),
        Command::External(words) => match words.split_first() {
            Some((name, args)) => commands::external(&name.to_string_lossy(), args),
            None => Ok(()),
        },
        Command::Plugin(command) => plugin_cmd::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A child command (`host generate`) already said why; pass its code on.
            if let Some(child) = err.downcast_ref::<commands::ChildFailed>() {
                return ExitCode::from(child.0);
            }
            let code = Error::kind_of(&err).map_or(1, ErrorKind::exit_code);
            eprintln!("error: {}", engine::pg::explain(&err));
            ExitCode::from(code)
        }
    }
}
