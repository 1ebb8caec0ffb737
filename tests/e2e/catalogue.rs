//! The bad-input catalogue: one row per way an operator, a plan, a database or a plugin can be
//! wrong, each with the setup that makes it so, the command run, the exit code expected and
//! the substrings its message must hold (what is wrong and what to do). Where a run happened,
//! nothing may be lost: the accounting identity must hold for every table that has state.
//! `docs/bad-inputs.md` is this table for people. `CATALOGUE_CASE=name` runs one case;
//! `CATALOGUE_SHOW=1` prints what every case printed.
//!
//! Placeholders in plans and commands: `@SOURCE@`, `@TARGET@` (database URLs), `@PLUGINS@`
//! (plugins/dist), `@GUESTS@` (tests/guests/dist), `@SCHEMA@` (schema/target.sql), `@DIR@`
//! (the case's temporary directory), `@PLAN@` (the plan file written there), `@PORT@` (the
//! shared cluster's port).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::support::*;

/// One catalogue row.
pub(crate) struct Case {
    pub name: &'static str,
    /// SQL run on the legacy database after schema/legacy.sql.
    pub source: &'static str,
    /// None: an empty target (the plan's schema_files creates it); Some(sql): schema/target.sql
    /// applied by the test, then this SQL.
    pub target: Option<&'static str>,
    pub plan: &'static str,
    pub command: &'static [&'static str],
    pub exit: i32,
    /// Substrings of stdout + stderr + the quarantine (`quarantine <table>/<key>: <reason>`);
    /// a leading `!` means the text must NOT appear (passwords).
    pub expect: &'static [&'static str],
    /// Anything the row cannot say as data, run after the databases exist and before the command.
    pub hook: Option<fn(&mut Fixture)>,
}

/// A case's world: its databases and directory.
pub(crate) struct Fixture {
    pub cluster: &'static Cluster,
    pub legacy: String,
    pub target: String,
    pub dir: PathBuf,
    /// The legacy schema the accounting check reads (a case may move the tables).
    pub source_schema: String,
}

macro_rules! head {
    () => {
        "[source]\nurl = \"@SOURCE@\"\n\n[target]\nurl = \"@TARGET@\"\nschema_files = [\"@SCHEMA@\"]\n"
    };
}

macro_rules! table {
    ($name:literal, $plugin:literal) => {
        concat!(
            "\n[[table]]\nname = \"",
            $name,
            "\"\nplugin = \"",
            $plugin,
            "\"\n"
        )
    };
}

/// Three offices, the second named `$name` (the misfits guest misbehaves on it by name).
macro_rules! offices_with {
    ($name:literal) => {
        concat!(
            "INSERT INTO offices (name) VALUES ('Office 1'), ('",
            $name,
            "'), ('Office 3');"
        )
    };
}

/// The target for the misfits guest: schema/target.sql plus two typed columns to misfit.
const MISFIT_TARGET: Option<&str> =
    Some("ALTER TABLE offices ADD COLUMN code varchar(5), ADD COLUMN amount numeric(6,2);");
const MISFITS_PLAN: &str = concat!(head!(), table!("offices", "@GUESTS@/misfits.wasm"));
const OFFICES_PLAN: &str = concat!(head!(), table!("offices", "@PLUGINS@/offices.wasm"));
const THREE_OFFICES: &str =
    "INSERT INTO offices (name) VALUES ('Office 1'), ('Office 2'), ('Office 3');";
const CHECK: &[&str] = &["check", "@PLAN@"];
const RUN: &[&str] = &["run", "@PLAN@"];

/// A row case of the misfits guest: one office misbehaves, the run finishes (exit 0), that row
/// is quarantined with `reason` (which the run's summary prints) and the other two are written.
macro_rules! misfit {
    ($case:literal, $office:literal, $($reason:literal),+) => {
        Case {
            name: $case,
            source: offices_with!($office),
            target: MISFIT_TARGET,
            plan: MISFITS_PLAN,
            command: RUN,
            exit: 0,
            // The run's summary shows the reason too (`1 x <reason>`), not only the quarantine.
            expect: &[$(concat!("quarantine offices/2: ", $reason), concat!("1 x ", $reason)),+],
            hook: None,
        }
    };
}

pub(crate) const CASES: &[Case] = &[
    // ------------------------------------------------------------ the plan (exit 2)
    Case {
        name: "plan_file_missing",
        source: "",
        target: None,
        plan: OFFICES_PLAN,
        command: &["check", "@DIR@/no-such-plan.toml"],
        exit: 2,
        expect: &["cannot read plan", "no-such-plan.toml", "hint: pass the path of an existing plan.toml"],
        hook: None,
    },
    Case {
        name: "malformed_toml",
        source: "",
        target: None,
        plan: "[source\nurl = \"x\"\n",
        command: CHECK,
        exit: 2,
        expect: &["is not a valid plan", "TOML parse error at line 1", "invalid table header"],
        hook: None,
    },
    Case {
        name: "unknown_key",
        source: "",
        target: None,
        plan: concat!(head!(), table!("offices", "@PLUGINS@/offices.wasm"), "batchsize = 5\n"),
        command: CHECK,
        exit: 2,
        expect: &["unknown field `batchsize`", "expected one of", "`batch_size`", "line 11"],
        hook: None,
    },
    Case {
        name: "value_of_the_wrong_type",
        source: "",
        target: None,
        plan: concat!(head!(), "[defaults]\nbatch_size = \"many\"\n", table!("offices", "@PLUGINS@/offices.wasm")),
        command: CHECK,
        exit: 2,
        expect: &["is not a valid plan", "batch_size", "invalid type: string \"many\""],
        hook: None,
    },
    Case {
        name: "missing_source_section",
        source: "",
        target: None,
        plan: concat!("[target]\nurl = \"@TARGET@\"\n", table!("offices", "@PLUGINS@/offices.wasm")),
        command: CHECK,
        exit: 2,
        expect: &["is not a valid plan", "missing field `source`"],
        hook: None,
    },
    Case {
        name: "missing_source_url",
        source: "",
        target: None,
        plan: concat!("[source]\nschema = \"public\"\n[target]\nurl = \"@TARGET@\"\n", table!("offices", "@PLUGINS@/offices.wasm")),
        command: CHECK,
        exit: 2,
        expect: &["no source database: set [source] url, --source or MIGRATE_SOURCE_URL"],
        hook: None,
    },
    Case {
        name: "no_tables",
        source: "",
        target: None,
        plan: head!(),
        command: CHECK,
        exit: 2,
        expect: &["the plan has no [[table]] entries: add one per legacy table to migrate"],
        hook: None,
    },
    Case {
        name: "duplicate_table",
        source: "",
        target: None,
        plan: concat!(head!(), table!("offices", "@PLUGINS@/offices.wasm"), table!("offices", "@PLUGINS@/offices.wasm")),
        command: CHECK,
        exit: 2,
        expect: &["table `offices` is listed twice: keep one [[table]] entry per legacy table"],
        hook: None,
    },
    Case {
        name: "batch_size_zero",
        source: "",
        target: None,
        plan: concat!(head!(), "[defaults]\nbatch_size = 0\n", table!("offices", "@PLUGINS@/offices.wasm")),
        command: CHECK,
        exit: 2,
        expect: &["[defaults] batch_size must be at least 1"],
        hook: None,
    },
    Case {
        name: "table_batch_size_zero",
        source: "",
        target: None,
        plan: concat!(head!(), table!("offices", "@PLUGINS@/offices.wasm"), "batch_size = 0\n"),
        command: CHECK,
        exit: 2,
        expect: &["table `offices`: batch_size must be at least 1"],
        hook: None,
    },
    Case {
        name: "max_reject_rate_above_one",
        source: "",
        target: None,
        plan: concat!(head!(), "[defaults]\nmax_reject_rate = 1.5\n", table!("offices", "@PLUGINS@/offices.wasm")),
        command: CHECK,
        exit: 2,
        expect: &["[defaults] max_reject_rate = 1.5 must be between 0.0 and 1.0 (0.02 means 2% of rows)"],
        hook: None,
    },
    Case {
        name: "max_reject_rate_negative",
        source: "",
        target: None,
        plan: concat!(head!(), table!("offices", "@PLUGINS@/offices.wasm"), "max_reject_rate = -0.1\n"),
        command: CHECK,
        exit: 2,
        expect: &["table `offices`: max_reject_rate = -0.1 must be between 0.0 and 1.0"],
        hook: None,
    },
    Case {
        name: "depends_on_unknown_table",
        source: "",
        target: None,
        plan: concat!(head!(), table!("offices", "@PLUGINS@/offices.wasm"), "depends_on = [\"clinics\"]\n"),
        command: CHECK,
        exit: 2,
        expect: &["table `offices` depends_on `clinics`, which is not a table of this plan: add it or remove the dependency"],
        hook: None,
    },
    Case {
        name: "depends_on_itself",
        source: "",
        target: None,
        plan: concat!(head!(), table!("offices", "@PLUGINS@/offices.wasm"), "depends_on = [\"offices\"]\n"),
        command: CHECK,
        exit: 2,
        expect: &["table `offices` depends on itself: remove it from its depends_on"],
        hook: None,
    },
    Case {
        name: "money_target_not_table_dot_column",
        source: "",
        target: None,
        plan: concat!(head!(), table!("offices", "@PLUGINS@/offices.wasm"), "money = [{ source = \"zip\", target = \"zip\" }]\n"),
        command: CHECK,
        exit: 2,
        expect: &["table `offices`: money target `zip` must be `table.column`"],
        hook: None,
    },
    Case {
        name: "url_that_does_not_parse",
        source: "",
        target: None,
        plan: concat!(
            "[source]\nurl = \"postgres://lab:hunter2-secret@127.0.0.1:notaport/legacy\"\n[target]\nurl = \"@TARGET@\"\n",
            table!("offices", "@PLUGINS@/offices.wasm")
        ),
        command: CHECK,
        exit: 2,
        expect: &["the source URL postgres://lab:***@127.0.0.1:notaport/legacy is not a valid PostgreSQL URL", "hint: write it as postgres://user:password@host:port/database", "!hunter2-secret"],
        hook: None,
    },
    Case {
        name: "schema_file_missing",
        source: "",
        target: None,
        plan: concat!(
            "[source]\nurl = \"@SOURCE@\"\n[target]\nurl = \"@TARGET@\"\nschema_files = [\"no-such-schema.sql\"]\n",
            table!("offices", "@PLUGINS@/offices.wasm")
        ),
        command: RUN,
        exit: 2,
        expect: &["[target] schema_files:", "no-such-schema.sql does not exist (paths are relative to the plan file)"],
        hook: None,
    },
    Case {
        name: "schema_file_that_fails",
        source: THREE_OFFICES,
        target: None,
        plan: concat!(
            "[source]\nurl = \"@SOURCE@\"\n[target]\nurl = \"@TARGET@\"\nschema_files = [\"broken.sql\"]\n",
            table!("offices", "@PLUGINS@/offices.wasm")
        ),
        command: RUN,
        exit: 2,
        expect: &["broken.sql to the target failed: syntax error", "hint: fix the schema file"],
        hook: Some(|fx| std::fs::write(fx.dir.join("broken.sql"), "CREATE TABLE offices (id uuid PRIMARY KEY,);\n").unwrap()),
    },
    Case {
        name: "run_table_flag_not_in_plan",
        source: THREE_OFFICES,
        target: None,
        plan: OFFICES_PLAN,
        command: &["run", "@PLAN@", "--table", "clinics"],
        exit: 2,
        expect: &["--table clinics: not a table of the plan"],
        hook: None,
    },
    // ------------------------------------------------------------ databases (exit 4)
    Case {
        name: "unreachable_source",
        source: "",
        target: None,
        plan: concat!(
            "[source]\nurl = \"postgres://lab:hunter2-secret@127.0.0.1:1/legacy\"\n[target]\nurl = \"@TARGET@\"\n",
            table!("offices", "@PLUGINS@/offices.wasm")
        ),
        command: CHECK,
        exit: 4,
        expect: &["cannot connect to the source database postgres://lab:***@127.0.0.1:1/legacy", "Connection refused", "is the server running, and reachable at that host and port", "--source or MIGRATE_SOURCE_URL", "!hunter2-secret"],
        hook: None,
    },
    Case {
        name: "unreachable_target_on_run",
        source: THREE_OFFICES,
        target: None,
        plan: concat!(
            "[source]\nurl = \"@SOURCE@\"\n[target]\nurl = \"postgres://lab:hunter2-secret@127.0.0.1:1/new\"\n",
            table!("offices", "@PLUGINS@/offices.wasm")
        ),
        command: RUN,
        exit: 4,
        expect: &["cannot connect to the target database postgres://lab:***@127.0.0.1:1/new", "--target or MIGRATE_TARGET_URL", "!hunter2-secret"],
        hook: None,
    },
    Case {
        name: "wrong_password",
        source: "",
        target: Some(""),
        plan: concat!(
            "[source]\nurl = \"@SOURCE@\"\n[target]\nurl = \"postgres://catalogue_pw:wrong-secret@127.0.0.1:@PORT@/@TARGET_DB@\"\n",
            table!("offices", "@PLUGINS@/offices.wasm")
        ),
        command: CHECK,
        exit: 4,
        expect: &["cannot connect to the target database postgres://catalogue_pw:***@", "password authentication failed for user \"catalogue_pw\"", "check the user name and password in the URL", "!wrong-secret", "!right-secret"],
        hook: Some(password_role),
    },
    Case {
        name: "database_does_not_exist",
        source: "",
        target: None,
        plan: concat!(
            "[source]\nurl = \"@SOURCE@\"\n[target]\nurl = \"postgres://postgres@127.0.0.1:@PORT@/no_such_db\"\n",
            table!("offices", "@PLUGINS@/offices.wasm")
        ),
        command: CHECK,
        exit: 4,
        expect: &["database \"no_such_db\" does not exist", "create it (createdb, CREATE DATABASE) or fix its name in the URL"],
        hook: None,
    },
    Case {
        name: "password_in_query_string_never_printed",
        source: "",
        target: None,
        plan: concat!(
            "[source]\nurl = \"postgres://lab@127.0.0.1:1/legacy?password=hunter2-secret\"\n[target]\nurl = \"@TARGET@\"\n",
            table!("offices", "@PLUGINS@/offices.wasm")
        ),
        command: RUN,
        exit: 4,
        expect: &["cannot connect to the source database postgres://lab@127.0.0.1:1/legacy?password=***", "!hunter2-secret"],
        hook: None,
    },
    Case {
        name: "password_on_the_command_line_never_printed",
        source: "",
        target: None,
        plan: OFFICES_PLAN,
        command: &["check", "@PLAN@", "--source", "postgres://lab:hunter2-secret@127.0.0.1:1/legacy"],
        exit: 4,
        expect: &["postgres://lab:***@127.0.0.1:1/legacy", "!hunter2-secret"],
        hook: None,
    },
    // ------------------------------------------------------------ plugins and schemas (exit 3)
    Case {
        name: "plugin_file_missing",
        source: "",
        target: None,
        plan: concat!(head!(), table!("offices", "@PLUGINS@/no-such-plugin.wasm")),
        command: CHECK,
        exit: 3,
        expect: &["[offices] plugin file", "no-such-plugin.wasm does not exist", "hint: build the plugins (scripts/build-plugins.sh) or fix the `plugin` path"],
        hook: None,
    },
    Case {
        name: "plugin_not_webassembly",
        source: "",
        target: None,
        plan: concat!(head!(), table!("offices", "@DIR@/plan.toml")),
        command: CHECK,
        exit: 3,
        expect: &["plan.toml is not a WebAssembly component: it has no WebAssembly header", "hint: build it with"],
        hook: None,
    },
    Case {
        name: "plugin_is_a_core_module",
        source: "",
        target: None,
        plan: concat!(head!(), table!("offices", "@DIR@/core.wasm")),
        command: CHECK,
        exit: 3,
        expect: &["core.wasm is not a WebAssembly component: it is a core WebAssembly module, not a component", "wasm32-wasip2"],
        hook: Some(|fx| std::fs::write(fx.dir.join("core.wasm"), b"\0asm\x01\0\0\0").unwrap()),
    },
    Case {
        name: "plugin_of_another_world",
        source: "",
        target: None,
        plan: concat!(head!(), table!("offices", "@GUESTS@/other_world.wasm")),
        command: CHECK,
        exit: 3,
        expect: &["other_world.wasm does not implement the `transform` world of a contract this host accepts, migrate:transform@0.4.0 (or the earlier migrate:transform@0.3.0, migrate:transform@0.2.0, lab:migrate@0.1.0): ", "hint: rebuild it against this host's wit/migrate.wit (migrate:transform@0.4.0)"],
        hook: None,
    },
    Case {
        name: "plugin_of_another_table",
        source: "",
        target: None,
        plan: concat!(head!(), table!("offices", "@PLUGINS@/categories.wasm")),
        command: CHECK,
        exit: 3,
        expect: &["categories.wasm transforms `categories`, not `offices`: point this table at the right plugin"],
        hook: None,
    },
    Case {
        name: "describe_names_columns_that_do_not_exist",
        source: "",
        target: None,
        plan: concat!(head!(), table!("offices", "@GUESTS@/ghost_columns.wasm")),
        command: CHECK,
        exit: 3,
        expect: &[
            "the plugin reads column `nickname`, which source table offices does not have (it has: id, name,",
            "the plugin writes column `nickname`, which target table offices does not have (it has: id, legacy_id,",
        ],
        hook: None,
    },
    Case {
        name: "source_table_missing",
        source: "DROP TABLE offices CASCADE;",
        target: None,
        plan: OFFICES_PLAN,
        command: CHECK,
        exit: 3,
        expect: &["source table public.offices does not exist", "hint: check the table name in the plan and [source] schema"],
        hook: None,
    },
    Case {
        name: "target_table_missing",
        source: "",
        target: Some("DROP TABLE offices CASCADE;"),
        plan: OFFICES_PLAN,
        command: CHECK,
        exit: 3,
        expect: &["the plugin writes target table public.offices, which does not exist", "hint: create it in the target schema"],
        hook: None,
    },
    Case {
        name: "target_required_column_not_written",
        source: "",
        target: Some("ALTER TABLE offices ADD COLUMN region text NOT NULL;"),
        plan: OFFICES_PLAN,
        command: CHECK,
        exit: 3,
        expect: &["target column offices.region is NOT NULL without a default, but the plugin does not write it: every row would fail"],
        hook: None,
    },
    Case {
        name: "fk_cycle_without_resolution",
        source: "",
        target: None,
        plan: concat!(
            head!(),
            table!("offices", "@PLUGINS@/offices.wasm"),
            "depends_on = [\"doctors\"]\n",
            table!("profiles", "@PLUGINS@/profiles.wasm"),
            table!("doctors", "@PLUGINS@/doctors.wasm")
        ),
        command: CHECK,
        exit: 3,
        expect: &["dependency cycle: doctors -> offices -> doctors", "hint: make one of these foreign keys nullable or DEFERRABLE"],
        hook: None,
    },
    Case {
        name: "key_column_not_a_key_type",
        source: "ALTER TABLE categories ALTER COLUMN id DROP DEFAULT; ALTER TABLE categories ALTER COLUMN id TYPE float8;",
        target: None,
        plan: concat!(head!(), table!("categories", "@PLUGINS@/categories.wasm")),
        command: CHECK,
        exit: 3,
        expect: &["key column `id` is double precision, which cannot be a key (no exact, ordered text)", "hint: set `key` in the plan to other unique NOT NULL columns"],
        hook: None,
    },
    Case {
        name: "key_column_missing",
        source: "",
        target: None,
        plan: concat!(head!(), table!("offices", "@PLUGINS@/offices.wasm"), "key = \"office_no\"\n"),
        command: CHECK,
        exit: 3,
        expect: &["key column `office_no` does not exist in source table offices (it has: id, name, address"],
        hook: None,
    },
    Case {
        name: "key_column_not_read",
        source: "ALTER TABLE offices ADD COLUMN office_no serial UNIQUE;",
        target: None,
        plan: concat!(head!(), table!("offices", "@PLUGINS@/offices.wasm"), "key = \"office_no\"\n"),
        command: CHECK,
        exit: 3,
        expect: &["the plugin does not read key column `office_no` (it reads [\"id\", \"name\"", "add it to reads; each row's key is taken from the values it reads"],
        hook: None,
    },
    Case {
        name: "no_key",
        source: "ALTER TABLE offices DROP CONSTRAINT offices_pkey; INSERT INTO offices (name) VALUES ('Office 1');",
        target: None,
        plan: OFFICES_PLAN,
        command: CHECK,
        exit: 3,
        expect: &["source table public.offices has no primary key and no unique index over NOT NULL columns", "hint: name a unique NOT NULL column set in the plan (key = [\"a\", \"b\"]); adding a primary key to the source is not needed"],
        hook: None,
    },
    Case {
        name: "null_key",
        source: "ALTER TABLE offices DROP CONSTRAINT offices_pkey; ALTER TABLE offices ALTER COLUMN id DROP NOT NULL;
                 INSERT INTO offices (name) VALUES ('Office 1'); INSERT INTO offices (id, name) VALUES (NULL, 'keyless');",
        target: None,
        plan: concat!(head!(), table!("offices", "@PLUGINS@/offices.wasm"), "key = \"id\"\n"),
        command: RUN,
        exit: 3,
        expect: &["the plan does not check out, nothing was migrated", "source table public.offices has 1 row(s) with a NULL in key [\"id\"]", "hint: give those rows a key"],
        hook: None,
    },
    Case {
        name: "duplicate_key",
        source: "ALTER TABLE offices DROP CONSTRAINT offices_pkey;
                 INSERT INTO offices (id, name) VALUES (1, 'Office 1'), (2, 'Office 2'), (2, 'Office 2 again');",
        target: None,
        plan: concat!(head!(), table!("offices", "@PLUGINS@/offices.wasm"), "key = \"id\"\n"),
        command: CHECK,
        exit: 3,
        expect: &["key [\"id\"] of source table public.offices is not unique (2 appears 2 times)", "hint: set `key` in the plan to unique columns"],
        hook: None,
    },
    Case {
        name: "run_refuses_a_plan_that_does_not_check_out",
        source: THREE_OFFICES,
        target: None,
        plan: concat!(head!(), table!("offices", "@PLUGINS@/no-such-plugin.wasm")),
        command: RUN,
        exit: 3,
        expect: &["the plan does not check out, nothing was migrated", "no-such-plugin.wasm does not exist"],
        hook: None,
    },
    Case {
        name: "table_name_with_a_quote",
        source: THREE_OFFICES,
        target: None,
        plan: concat!(head!(), table!("offices\\\"; DROP TABLE offices; --", "@PLUGINS@/offices.wasm")),
        command: RUN,
        exit: 3,
        expect: &["[offices\"; DROP TABLE offices; --] plugin", "transforms `offices`, not `offices\"; DROP TABLE offices; --`"],
        hook: None,
    },
    // ------------------------------------------------------------ rows (quarantined, exit 0)
    Case {
        name: "schema_name_with_a_quote",
        source: "CREATE SCHEMA \"leg\"\"acy; DROP TABLE public.offices; --\";
                 CREATE TABLE \"leg\"\"acy; DROP TABLE public.offices; --\".offices (LIKE public.offices INCLUDING ALL);
                 INSERT INTO \"leg\"\"acy; DROP TABLE public.offices; --\".offices (id, name) VALUES (1, 'Office 1'), (2, 'Office 2');",
        target: None,
        plan: concat!(
            "[source]\nurl = \"@SOURCE@\"\nschema = \"leg\\\"acy; DROP TABLE public.offices; --\"\n",
            "[target]\nurl = \"@TARGET@\"\nschema_files = [\"@SCHEMA@\"]\n",
            table!("offices", "@PLUGINS@/offices.wasm")
        ),
        command: RUN,
        exit: 0,
        expect: &["run started", "source = written + skipped + rejected"],
        hook: Some(|fx| fx.source_schema = "leg\"acy; DROP TABLE public.offices; --".into()),
    },
    misfit!("emits_to_an_undeclared_table", "undeclared-table", "plugin emitted a row for table `office_annex`, which its describe() does not declare"),
    misfit!("emits_the_wrong_arity", "wrong-arity", "plugin emitted 5 values for offices, which declares 6 columns"),
    misfit!("emits_text_into_a_uuid_column", "text-into-uuid", "does not fit offices: text for column id (uuid)"),
    misfit!("emits_a_float_for_money", "float-money", "does not fit offices: a float (exact columns take numeric text, never floats) for column amount (numeric)"),
    misfit!("emits_an_invalid_uuid", "invalid-uuid", "does not fit offices: \"not-a-uuid\" is not a valid UUID, for column id"),
    misfit!("emits_text_too_long_for_varchar", "too-long", "does not fit offices: text of 13 characters is too long for column code (varchar(5))"),
    misfit!("emits_nan_numeric", "nan", "does not fit offices: \"NaN\" is not a finite decimal number, for column amount"),
    misfit!("emits_out_of_range_numeric", "overflow", "does not fit offices: 123456.78 has too many digits for column amount (numeric(6,2)): at most 4 before the decimal point"),
    misfit!("emits_an_impossible_timestamp", "bad-timestamp", "target refused the row: date/time field value out of range: \"2021-02-30 10:00:00+00\""),
    misfit!("emits_text_with_a_nul_byte", "nul", "does not fit offices: text for column name contains a NUL byte, which PostgreSQL cannot store"),
    misfit!("emits_null_for_a_required_column", "null-required", "does not fit offices: NULL for required column name"),
    misfit!("emits_a_check_violation", "blank-name", "target refused the row: new row for relation \"offices\" violates check constraint"),
    misfit!("returns_the_wrong_number_of_outcomes", "extra-outcome", "plugin trapped: broke the contract: returned 2 outcomes for 1 rows (one per row is required)"),
    misfit!("resolves_an_undeclared_entity", "resolve-undeclared", "plugin trapped: plugin resolved an id of `doctors` without declaring it in describe().resolves"),
    Case {
        name: "plugin_traps_on_a_row",
        source: "INSERT INTO offices (name) SELECT 'Office ' || i FROM generate_series(1, 9) i;",
        target: None,
        plan: concat!(head!(), table!("offices", "@GUESTS@/poison.wasm")),
        command: RUN,
        exit: 0,
        expect: &["quarantine offices/7: plugin trapped: panicked at poison/src/lib.rs", "poison row: key 7 is divisible by 7", "plugin trapped on this row; quarantining it key=7"],
        hook: None,
    },
    Case {
        name: "unique_violation_in_the_target",
        source: THREE_OFFICES,
        target: Some("INSERT INTO offices (id, legacy_id, name) VALUES ('00000000-0000-0000-0000-000000000002', 2, 'already here');"),
        // A target table holding rows this migration did not write is loaded checked.
        plan: concat!(head!(), table!("offices", "@PLUGINS@/offices.wasm"), "load_mode = \"checked\"\n"),
        command: RUN,
        exit: 0,
        expect: &[
            "quarantine offices/2: target refused the row: duplicate key value violates unique constraint \"offices_legacy_id_key\" (Key (legacy_id)=(2) already exists.)",
            "offices: 1 row(s) quarantined (SELECT * FROM migration.quarantine WHERE table_name = 'offices'), most often:",
        ],
        hook: None,
    },
    Case {
        name: "domains_arrays_and_other_types_pass_through",
        source: concat!(
            "CREATE DOMAIN office_key AS integer CHECK (VALUE > 0); ALTER TABLE offices ALTER COLUMN id TYPE office_key;",
            "INSERT INTO offices (name, address, city, phone) VALUES ('Office 1', '12 Main Street', 'Springfield', '{555-0100,555-0101}'),",
            " ('Office 2', '9 Elm Road', 'Shelbyville', '{555-0200}'), ('Office 3', NULL, NULL, NULL);"
        ),
        target: Some(concat!(
            "CREATE DOMAIN positive_id AS bigint CHECK (VALUE > 0); CREATE DOMAIN short_text AS varchar(40);",
            "ALTER TABLE offices ALTER COLUMN legacy_id TYPE positive_id, ALTER COLUMN city TYPE short_text,",
            " ALTER COLUMN address TYPE tsvector USING NULL, ALTER COLUMN phone TYPE text[] USING NULL;"
        )),
        plan: OFFICES_PLAN,
        command: RUN,
        exit: 0,
        expect: &["run started", "!quarantine offices", "!does not fit"],
        hook: None,
    },
    Case {
        name: "text_postgresql_cannot_cast_is_quarantined",
        source: "INSERT INTO offices (name, phone) VALUES ('Office 1', '{555-0100}'), ('Office 2', 'call the front desk'), ('Office 3', NULL);",
        target: Some("ALTER TABLE offices ALTER COLUMN phone TYPE text[] USING NULL;"),
        plan: OFFICES_PLAN,
        command: RUN,
        exit: 0,
        expect: &["quarantine offices/2: target refused the row: malformed array literal: \"call the front desk\""],
        hook: None,
    },
    Case {
        name: "invalid_utf8_in_legacy_text",
        source: "",
        target: None,
        plan: OFFICES_PLAN,
        command: RUN,
        exit: 0,
        expect: &["quarantine offices/2: the source row cannot be read: column name holds bytes that are not valid UTF-8 (0xe9 at byte 3)", "Fix the text in the source"],
        hook: Some(sql_ascii_source),
    },
    Case {
        name: "generate_with_a_scale_out_of_range",
        source: "",
        target: None,
        plan: OFFICES_PLAN,
        command: &["generate", "--scale", "0", "--url", "@SOURCE@"],
        exit: 2,
        expect: &["--scale must be a number above 0 and at most 1000, got 0"],
        hook: None,
    },
    Case {
        name: "generate_into_an_unreachable_database",
        source: "",
        target: None,
        plan: OFFICES_PLAN,
        command: &["generate", "--scale", "0.01", "--url", "postgres://postgres:hunter2pw@127.0.0.1:1/nowhere"],
        exit: 4,
        expect: &["--url: cannot connect to the source database", "!hunter2pw"],
        hook: None,
    },
    Case {
        name: "retry_has_no_dry_run",
        source: THREE_OFFICES,
        target: None,
        plan: OFFICES_PLAN,
        command: &["retry", "@PLAN@", "--dry-run"],
        exit: 2,
        expect: &["unexpected argument '--dry-run'"],
        hook: None,
    },
    // ------------------------------------------------------------ tables that stop (exit 5)
    Case {
        name: "target_column_type_changed",
        source: "INSERT INTO offices (name, created_at) SELECT 'Office ' || i, '2019-03-07 14:05' FROM generate_series(1, 12) i;",
        target: Some("ALTER TABLE offices ALTER COLUMN created_at TYPE integer USING NULL;"),
        plan: OFFICES_PLAN,
        command: RUN,
        exit: 5,
        expect: &[
            "12 of 12 rows read (100.00%) were quarantined",
            "max_reject_rate 2.00%",
            "the table stopped",
            "most frequent reasons:",
            "12 x does not fit offices: a date/time for column created_at (int4)",
            "fix the cause and run again",
        ],
        hook: None,
    },
    Case {
        name: "dry_run_over_the_reject_limit",
        source: "INSERT INTO offices (name, created_at) SELECT 'Office ' || i, '2019-03-07 14:05' FROM generate_series(1, 12) i;",
        target: Some("ALTER TABLE offices ALTER COLUMN created_at TYPE integer USING NULL;"),
        plan: OFFICES_PLAN,
        command: &["run", "@PLAN@", "--dry-run"],
        exit: 5,
        expect: &[
            "a real run would stop 1 table(s)",
            "offices: 12 of 12 rows read (100.00%) were quarantined",
        ],
        hook: None,
    },
    Case {
        name: "table_waits_for_an_unfinished_dependency",
        source: THREE_OFFICES,
        target: None,
        plan: concat!(
            head!(),
            table!("offices", "@PLUGINS@/offices.wasm"),
            table!("profiles", "@PLUGINS@/profiles.wasm"),
            table!("doctors", "@PLUGINS@/doctors.wasm")
        ),
        command: &["run", "@PLAN@", "--table", "doctors"],
        exit: 5,
        expect: &["doctors: not started, it waits for offices, which is not done (run offices first: `host run` without --table, or with --table offices)"],
        hook: None,
    },
];

/// A role with a password the server checks (scram) for 127.0.0.1, the other users keep trust.
fn password_role(fx: &mut Fixture) {
    let mut admin = fx.cluster.connect("postgres");
    admin
        .batch_execute("DO $$ BEGIN CREATE ROLE catalogue_pw LOGIN PASSWORD 'right-secret'; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        .unwrap();
    let hba: String = admin.query_one("SHOW hba_file", &[]).unwrap().get(0);
    let rules = std::fs::read_to_string(&hba).unwrap();
    let line = "host all catalogue_pw 127.0.0.1/32 scram-sha-256\n";
    if !rules.starts_with(line) {
        std::fs::write(&hba, format!("{line}{rules}")).unwrap();
        admin.batch_execute("SELECT pg_reload_conf()").unwrap();
    }
    // The reload is asynchronous: wait until the server asks for the password.
    let url = format!(
        "postgres://catalogue_pw:wrong-secret@127.0.0.1:{}/{}",
        fx.cluster.port, fx.target
    );
    for _ in 0..100 {
        match postgres::Client::connect(&url, postgres::NoTls) {
            Err(e)
                if e.as_db_error().map(|d| d.code())
                    == Some(&postgres::error::SqlState::INVALID_PASSWORD) =>
            {
                return
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    panic!("the server never started asking catalogue_pw for its password");
}

/// A legacy database in SQL_ASCII, which stores any bytes: office 2's name is Latin-1.
fn sql_ascii_source(fx: &mut Fixture) {
    let name = format!("{}_ascii", fx.legacy);
    fx.cluster
        .connect("postgres")
        .batch_execute(&format!(
            "CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        ))
        .unwrap();
    let mut db = fx.cluster.connect(&name);
    db.batch_execute(&std::fs::read_to_string(repo_root().join("schema/legacy.sql")).unwrap())
        .unwrap();
    db.batch_execute(
        "INSERT INTO offices (name) VALUES ('Office 1'), (E'Caf\\xe9 Dental'), ('Office 3')",
    )
    .unwrap();
    fx.legacy = name;
}

/// A component built by scripts/build-test-guests.sh (scripts/test.sh runs it).
pub(crate) fn guest(name: &str) -> PathBuf {
    let path = guests_dir().join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-test-guests.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

pub(crate) fn guests_dir() -> PathBuf {
    repo_root().join("tests/guests/dist")
}

/// A legacy database with the legacy schema (no rows) and then `sql`.
pub(crate) fn hand_made_legacy(cluster: &Cluster, sql: &str) -> String {
    let db = cluster.fresh_db("legacy");
    let mut c = cluster.connect(&db);
    c.batch_execute(&std::fs::read_to_string(repo_root().join("schema/legacy.sql")).unwrap())
        .unwrap();
    c.batch_execute(sql).unwrap();
    db
}

/// What breaks the accounting identity in `target`, for every table that has state: rows read
/// = written + skipped + quarantined, each skip and reject recorded, every written row in the
/// id map, and rows read = the source rows up to the checkpoint (all of them once done).
pub(crate) fn accounting_problems(
    cluster: &Cluster,
    legacy: &str,
    source_schema: &str,
    target: &str,
) -> Vec<String> {
    let mut tgt = cluster.connect(target);
    let has_state: bool = tgt
        .query_one(
            "SELECT to_regclass('migration.table_state') IS NOT NULL",
            &[],
        )
        .unwrap()
        .get(0);
    if !has_state {
        return Vec::new();
    }
    let mut src = cluster.connect(legacy);
    let mut problems = Vec::new();
    let rows = tgt
        .query(
            "SELECT s.table_name, s.phase, s.last_key::int8, s.rows_read, s.rows_written, s.rows_skipped, s.rows_rejected,
                    (SELECT count(*) FROM migration.skipped k WHERE k.table_name = s.table_name),
                    (SELECT count(*) FROM migration.quarantine q WHERE q.table_name = s.table_name),
                    (SELECT count(*) FROM migration.id_map m WHERE m.entity = s.table_name),
                    s.keep_id_map IS NOT FALSE
             FROM migration.table_state s ORDER BY 1",
            &[],
        )
        .unwrap();
    for r in rows {
        let table: String = r.get(0);
        let phase: String = r.get(1);
        let last_key: Option<i64> = r.get(2);
        let [read, written, skipped, rejected, skips, quarantined, ids]: [i64; 7] =
            std::array::from_fn(|i| r.get(i + 3));
        if read != written + skipped + rejected {
            problems.push(format!(
                "{table}: read {read} != written {written} + skipped {skipped} + rejected {rejected}"
            ));
        }
        // Id-map rows only where the table keeps its map (something resolves it).
        let mapped = if r.get::<_, bool>(10) { written } else { 0 };
        if skipped != skips || rejected != quarantined || mapped != ids {
            problems.push(format!("{table}: counts {written}/{skipped}/{rejected} vs recorded id map {ids} (of {mapped}), skips {skips}, quarantine {quarantined}"));
        }
        let qualified = format!(
            "\"{}\".\"{}\"",
            source_schema.replace('"', "\"\""),
            table.replace('"', "\"\"")
        );
        let upto = if phase == "done" {
            i64::MAX
        } else {
            last_key.unwrap_or(i64::MIN)
        };
        let in_source: i64 = src
            .query_one(
                &format!("SELECT count(*) FROM {qualified} WHERE id::int8 <= $1"),
                &[&upto],
            )
            .unwrap()
            .get(0);
        if in_source != read {
            problems.push(format!(
                "{table} ({phase}): {read} rows read but the source has {in_source} up to the checkpoint"
            ));
        }
    }
    problems
}

/// Runs one case; returns what went wrong.
fn run_case(case: &Case) -> Result<(), String> {
    let cluster = Cluster::shared();
    let root = repo_root();
    let legacy = hand_made_legacy(cluster, case.source);
    let target = cluster.fresh_db("target");
    if let Some(extra) = case.target {
        let mut t = cluster.connect(&target);
        t.batch_execute(&std::fs::read_to_string(root.join("schema/target.sql")).unwrap())
            .unwrap();
        t.batch_execute(extra).unwrap();
    }
    let mut fx = Fixture {
        cluster,
        legacy,
        target,
        dir: temp_dir("catalogue"),
        source_schema: "public".into(),
    };
    if let Some(hook) = case.hook {
        hook(&mut fx);
    }
    let plan_path = fx.dir.join("plan.toml");
    let fill = |text: &str| {
        text.replace("@SOURCE@", &cluster.url(&fx.legacy))
            .replace("@TARGET@", &cluster.url(&fx.target))
            .replace("@TARGET_DB@", &fx.target)
            .replace("@PLUGINS@", root.join("plugins/dist").to_str().unwrap())
            .replace("@GUESTS@", guests_dir().to_str().unwrap())
            .replace("@SCHEMA@", root.join("schema/target.sql").to_str().unwrap())
            .replace("@PLAN@", plan_path.to_str().unwrap())
            .replace("@DIR@", fx.dir.to_str().unwrap())
            .replace("@PORT@", &cluster.port.to_string())
    };
    std::fs::write(&plan_path, fill(case.plan)).unwrap();
    let args: Vec<String> = case.command.iter().map(|a| fill(a)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = host(&args)
        .env("FAILPOINTS", "call-deadline-ms=return(5000)")
        .output()
        .map_err(|e| format!("cannot run host: {e}"))?;
    let mut text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut tgt = cluster.connect(&fx.target);
    let quarantined = tgt
        .query(
            "SELECT table_name || '/' || legacy_key || ': ' || reason FROM migration.quarantine ORDER BY 1",
            &[],
        )
        .map(|rows| rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>())
        .unwrap_or_default();
    for q in &quarantined {
        text.push_str(&format!("\nquarantine {q}"));
    }

    let mut wrong = Vec::new();
    let code = out.status.code().unwrap_or(-1);
    if std::env::var_os("CATALOGUE_SHOW").is_some() {
        eprintln!("===== {} (exit {code})\n{text}", case.name);
    }
    if code != case.exit {
        wrong.push(format!("exit code {code}, expected {}", case.exit));
    }
    for want in case.expect {
        match want.strip_prefix('!') {
            Some(secret) if text.contains(secret) => wrong.push(format!("printed {secret:?}")),
            Some(_) => {}
            None if !text.contains(want) => wrong.push(format!("no {want:?}")),
            None => {}
        }
    }
    wrong.extend(accounting_problems(
        cluster,
        &fx.legacy,
        &fx.source_schema,
        &fx.target,
    ));
    if case.command[0] == "check" {
        let touched: bool = tgt
            .query_one("SELECT to_regnamespace('migration') IS NOT NULL", &[])
            .unwrap()
            .get(0);
        if touched {
            wrong.push("`host check` created the migration schema".into());
        }
    }
    // No identifier from a plan reaches SQL unquoted: the legacy tables are all still there.
    let legacy_offices: bool = cluster
        .connect(&fx.legacy)
        .query_one("SELECT to_regclass('public.offices') IS NOT NULL", &[])
        .unwrap()
        .get(0);
    if !legacy_offices && !case.source.contains("DROP TABLE offices") {
        wrong.push("the legacy offices table is gone".into());
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "case {} ({}):\n  {}\n--- output (exit {code})\n{text}",
            case.name,
            case.command.join(" "),
            wrong.join("\n  ")
        ))
    }
}

#[test]
fn catalogue() {
    assert!(CASES.len() >= 40, "the catalogue has {} cases", CASES.len());
    let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), CASES.len(), "case names must be unique");
    guest("misfits");
    let only = std::env::var("CATALOGUE_CASE").ok();
    let cases: Vec<&Case> = CASES
        .iter()
        .filter(|c| only.as_deref().is_none_or(|o| o == c.name))
        .collect();
    assert!(!cases.is_empty(), "no case named {only:?}");
    // Every case is a few short `host` processes on tiny databases: run three at a time.
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(i) else { break };
                let outcome = std::panic::catch_unwind(|| run_case(case)).unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    Err(format!("case {} panicked: {what}", case.name))
                });
                if let Err(e) = outcome {
                    failures.lock().unwrap().push(e);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} catalogue cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
