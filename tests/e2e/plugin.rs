//! `host plugin new` and `host plugin test`: fixtures of the core plugins, the failure
//! report, a scaffolded plugin built (cargo, and cargo-component when installed) and tested,
//! the contract-version check, and the Python and JavaScript ports of doctor_offices held to
//! the Rust plugin's fixtures. None of these needs a database.
//!
//! Guests are built in temporary copies of the plugins workspace (wit/, plugins/Cargo.toml,
//! plugins/Cargo.lock, plugins/sdk) with one shared cargo target dir under target/, so a
//! second run only rebuilds the small crates.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::*;

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn plugin_test(wasm: &Path, fixtures: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "plugin",
        "test",
        wasm.to_str().unwrap(),
        fixtures.to_str().unwrap(),
    ];
    args.extend(extra);
    host(&args).output().unwrap()
}

/// Every plugin with a fixtures.toml passes it; the core ones must have one.
#[test]
fn core_plugin_fixtures_pass() {
    let plugins = repo_root().join("plugins");
    let mut tested = Vec::new();
    for entry in std::fs::read_dir(&plugins).unwrap() {
        let dir = entry.unwrap().path();
        let fixtures = dir.join("fixtures.toml");
        if !fixtures.exists() {
            continue;
        }
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        let out = run_ok(&mut host(&[
            "plugin",
            "test",
            plugin(&name).to_str().unwrap(),
            fixtures.to_str().unwrap(),
        ]));
        let (stdout, _) = text(&out);
        assert!(
            stdout.contains(" case(s) ok") && !stdout.contains("FAIL"),
            "{name}:\n{stdout}"
        );
        tested.push(name);
    }
    for core in ["offices", "doctors", "patients", "orders", "doctor_offices"] {
        assert!(
            tested.iter().any(|t| t == core),
            "plugins/{core}/fixtures.toml is missing (tested: {tested:?})"
        );
    }
}

/// A failing case prints FAIL with the differing columns and the actual outcome in fixture
/// syntax, exits 3, and `--json` says the same; a malformed fixture file exits 2.
#[test]
fn plugin_test_reports_failures() {
    let dir = temp_dir("fixtures");
    let fixtures = dir.join("fixtures.toml");
    std::fs::write(
        &fixtures,
        r#"
migrated = { offices = [1] }

[[case]]
name = "passes"
input = { id = 4, office_id = 1 }
expect = { write = [ { table = "doctors", values = { id = "@doctors:4", legacy_id = 4, office_id = "@offices:1" } } ] }

[[case]]
name = "wrong status and office"
input = { id = 3, office_id = 1, status = "ACTIVE" }
expect = { write = [ { table = "doctors", values = { id = "@doctors:3", legacy_id = 3, office_id = "@offices:2", status = "Active" } } ] }

[[case]]
name = "wrong outcome"
input = { id = 5, office_id = 1, deleted_at = 2020-01-01 00:00:00 }
expect = { reject = "anything" }

[[case]]
name = "fixture mistakes"
input = { id = 6, office = 1 }
migrated = { patients = [1] }
expect = { skip = "x" }
"#,
    )
    .unwrap();
    let doctors = plugin("doctors");
    let out = plugin_test(&doctors, &fixtures, &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    for expected in [
        "  ok    passes",
        "  FAIL  wrong status and office",
        r#"row 1 (doctors).office_id: expected "@offices:2", got "@offices:1""#,
        r#"row 1 (doctors).status: expected "Active", got "active""#,
        "actual outcome, in fixture syntax:",
        r#"{ table = "doctors", values = { id = "@doctors:3", legacy_id = 3, office_id = "@offices:1", status = "active" } },"#,
        r#"expected reject with a reason containing "anything", got skip "soft-deleted doctor (deleted_at is set)""#,
        "fixture: input column `office` is not read by the plugin",
        "fixture: migrated.patients: the plugin does not resolve `patients`",
        "3 of 4 case(s) FAILED",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(stderr.contains("3 of 4 fixture case(s) failed"), "{stderr}");

    let out = plugin_test(&doctors, &fixtures, &["--json"]);
    assert_eq!(out.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["passed"], 1);
    assert_eq!(report["failed"], 3);
    assert_eq!(report["source_table"], "doctors");
    assert_eq!(report["cases"][0]["ok"], true);
    assert_eq!(
        report["cases"][0]["actual"]["write"][0]["values"]["legacy_id"],
        4
    );
    assert_eq!(
        report["cases"][2]["actual"]["skip"],
        "soft-deleted doctor (deleted_at is set)"
    );

    std::fs::write(&fixtures, "[[case]]\nname = 1\n").unwrap();
    let out = plugin_test(&doctors, &fixtures, &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not a fixture file"), "{stderr}");
}

// ------------------------------------------------------------------------ built guests

/// The cargo target dir shared by the guests these tests build.
fn guest_target_dir() -> PathBuf {
    repo_root().join("target/e2e-plugin-guests")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        if path.is_dir() {
            copy_dir(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// A copy of the plugins workspace (no plugins but the SDK) whose wit/ declares
/// `migrate:transform@<version>` (the repository's version when None). Returns its root.
fn workspace_copy(name: &str, version: Option<&str>) -> PathBuf {
    let root = temp_dir(name);
    let repo = repo_root();
    let mut wit = std::fs::read_to_string(repo.join("wit/migrate.wit")).unwrap();
    if let Some(version) = version {
        let line = wit
            .lines()
            .find(|l| l.starts_with("package migrate:transform@"))
            .unwrap()
            .to_string();
        wit = wit.replace(&line, &format!("package migrate:transform@{version};"));
    }
    std::fs::create_dir_all(root.join("wit")).unwrap();
    std::fs::write(root.join("wit/migrate.wit"), wit).unwrap();
    std::fs::create_dir_all(root.join("plugins")).unwrap();
    for file in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(
            repo.join("plugins").join(file),
            root.join("plugins").join(file),
        )
        .unwrap();
    }
    copy_dir(&repo.join("plugins/sdk"), &root.join("plugins/sdk"));
    root
}

fn cargo(workspace: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.args(args)
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", guest_target_dir())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    run_ok(&mut c)
}

/// `host plugin new <table>` into `<root>/plugins`, then a wasm32-wasip2 release build.
fn scaffold_and_build(root: &Path, table: &str) -> PathBuf {
    let plugins = root.join("plugins");
    host_ok(&["plugin", "new", table, "--dir", plugins.to_str().unwrap()]);
    cargo(
        &plugins,
        &[
            "build",
            "--release",
            "--quiet",
            "--target",
            "wasm32-wasip2",
            "-p",
            &table.replace('_', "-"),
        ],
    );
    guest_target_dir().join(format!("wasm32-wasip2/release/{table}.wasm"))
}

/// Why `cargo component build` cannot run here, if it cannot (scripts/test.sh installs
/// cargo-component and the wasm32-wasip1 target it builds for).
fn cargo_component_missing() -> Option<&'static str> {
    let ok = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    if ok("cargo", &["component", "--version"]).is_none() {
        return Some("cargo-component is not installed");
    }
    match ok("rustup", &["target", "list", "--installed"]) {
        Some(targets) if !targets.lines().any(|t| t == "wasm32-wasip1") => {
            Some("the wasm32-wasip1 target is not installed")
        }
        _ => None,
    }
}

/// What a new plugin author does: scaffold, unit-test natively, build, run the fixtures;
/// and the same crate built with `cargo component build --release`.
#[test]
fn scaffolded_plugin_builds_and_passes_its_fixtures() {
    let root = workspace_copy("scaffold", None);
    let plugins = root.join("plugins");
    let out = host_ok(&[
        "plugin",
        "new",
        "lab_results",
        "--dir",
        plugins.to_str().unwrap(),
    ]);
    let (stdout, _) = text(&out);
    for expected in [
        "created ",
        "Next steps:",
        "cargo build --release --target wasm32-wasip2 -p lab-results",
        "cargo component build --release -p lab-results",
        "host plugin test ",
        "name = \"lab_results\"",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    let crate_dir = plugins.join("lab_results");
    for file in ["Cargo.toml", "src/lib.rs", "fixtures.toml"] {
        assert!(crate_dir.join(file).exists(), "{file} was not scaffolded");
    }
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("crate-type = [\"cdylib\"]"), "{manifest}");
    assert!(
        manifest.contains("migrate-sdk.workspace = true"),
        "{manifest}"
    );
    assert!(
        manifest.contains("[package.metadata.component]"),
        "{manifest}"
    );

    // It refuses to overwrite, and refuses names that are not table names.
    let again = host(&[
        "plugin",
        "new",
        "lab_results",
        "--dir",
        plugins.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again).1.contains("already exists"),
        "{:?}",
        text(&again)
    );
    let bad = host(&[
        "plugin",
        "new",
        "lab.results.v2",
        "--dir",
        plugins.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad).1.contains("write `table` or `schema.table`"),
        "{:?}",
        text(&bad)
    );

    // The skeleton's native unit test (migrate_sdk::testing) passes.
    cargo(&plugins, &["test", "--quiet", "-p", "lab-results"]);
    // Plain cargo build, then the scaffolded fixtures.
    cargo(
        &plugins,
        &[
            "build",
            "--release",
            "--quiet",
            "--target",
            "wasm32-wasip2",
            "-p",
            "lab-results",
        ],
    );
    let wasm = guest_target_dir().join("wasm32-wasip2/release/lab_results.wasm");
    let fixtures = crate_dir.join("fixtures.toml");
    let out = run_ok(&mut host(&[
        "plugin",
        "test",
        wasm.to_str().unwrap(),
        fixtures.to_str().unwrap(),
    ]));
    assert!(
        text(&out).0.contains("all 1 case(s) ok"),
        "{:?}",
        text(&out)
    );

    // cargo-component (scripts/test.sh installs it once; skipped only when that failed).
    if let Some(missing) = cargo_component_missing() {
        eprintln!(
            "NOTICE: {missing} (scripts/test.sh installs it): the `cargo component build` part of this test was SKIPPED"
        );
        return;
    }
    cargo(
        &plugins,
        &["component", "build", "--release", "-p", "lab-results"],
    );
    let component = guest_target_dir().join("wasm32-wasip1/release/lab_results.wasm");
    assert!(
        component.exists(),
        "cargo component built no {}",
        component.display()
    );
    let out = run_ok(&mut host(&[
        "plugin",
        "test",
        component.to_str().unwrap(),
        fixtures.to_str().unwrap(),
    ]));
    assert!(
        text(&out).0.contains("all 1 case(s) ok"),
        "{:?}",
        text(&out)
    );
}

/// A user's own table, CamelCase and in a schema of its own, scaffolded in a folder of their
/// own (no plugins workspace): a crate of its own on the SDK, no warning, and it builds and
/// passes its fixtures.
#[test]
fn a_plugin_for_any_table_name_scaffolds_outside_the_repository() {
    let dir = temp_dir("own-plugins");
    let out = host_ok(&[
        "plugin",
        "new",
        "crm.\"OrderItems\"",
        "--dir",
        dir.to_str().unwrap(),
        "--sdk",
        repo_root().join("plugins/sdk").to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(
        stdout.contains("crate `order-items`, a crate of its own")
            && stdout.contains("set `schema = \"crm\"` under [source]")
            && stdout.contains("name = \"OrderItems\"")
            && !stdout.contains("not a plugins workspace")
            && !stdout.contains("plugins/dist"),
        "{stdout}\n{stderr}"
    );
    let crate_dir = dir.join("order_items");
    let lib = std::fs::read_to_string(crate_dir.join("src/lib.rs")).unwrap();
    assert!(
        lib.contains("pub struct LegacyOrderItems from \"OrderItems\""),
        "{lib}"
    );
    cargo(&crate_dir, &["test", "--quiet"]);
    cargo(
        &crate_dir,
        &["build", "--release", "--quiet", "--target", "wasm32-wasip2"],
    );
    let wasm = guest_target_dir().join("wasm32-wasip2/release/order_items.wasm");
    let out = run_ok(&mut host(&[
        "plugin",
        "test",
        wasm.to_str().unwrap(),
        crate_dir.join("fixtures.toml").to_str().unwrap(),
    ]));
    assert!(
        text(&out).0.contains("all 1 case(s) ok"),
        "{:?}",
        text(&out)
    );
    // Without an SDK to point at, it says what to pass.
    let elsewhere = temp_dir("no-sdk");
    let out = host(&[
        "plugin",
        "new",
        "t",
        "--dir",
        elsewhere.to_str().unwrap(),
        "--sdk",
        elsewhere.join("nowhere").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("no Cargo.toml there"),
        "{:?}",
        text(&out)
    );
}

/// A component built against an incompatible contract version is refused with both
/// versions named; one built against a compatible (patch) version is accepted.
#[test]
fn contract_versions_are_checked() {
    let incompatible = workspace_copy("contract_v050", Some("0.5.0"));
    let wasm = scaffold_and_build(&incompatible, "versioned");
    let fixtures = incompatible.join("plugins/versioned/fixtures.toml");
    let out = plugin_test(&wasm, &fixtures, &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert_eq!(
        stderr.replace(wasm.to_str().unwrap(), "@WASM@"),
        "error: @WASM@ was built against migrate:transform@0.5.0, but this host implements migrate:transform@0.4.0 (or the earlier migrate:transform@0.3.0, migrate:transform@0.2.0, lab:migrate@0.1.0): a 0.x contract is compatible only within the same minor version (0.4.*)\n  hint: rebuild it against this host's wit/migrate.wit (migrate:transform@0.4.0), or run it with a host built for migrate:transform@0.5.0\n"
    );
    assert_eq!(stdout, "");

    let compatible = workspace_copy("contract_v047", Some("0.4.7"));
    let wasm = scaffold_and_build(&compatible, "versioned");
    let fixtures = compatible.join("plugins/versioned/fixtures.toml");
    let out = run_ok(&mut host(&[
        "plugin",
        "test",
        wasm.to_str().unwrap(),
        fixtures.to_str().unwrap(),
    ]));
    assert!(
        text(&out).0.contains("all 1 case(s) ok"),
        "{:?}",
        text(&out)
    );
}

// ------------------------------------------------------------------- other toolchains

/// The Python and JavaScript ports of doctor_offices (scripts/build-foreign-plugins.sh)
/// give exactly the Rust plugin's outcomes on its fixtures.
#[test]
fn foreign_plugins_match_the_rust_plugin() {
    let fixtures = repo_root().join("plugins/doctor_offices/fixtures.toml");
    let outcomes = |wasm: &Path| -> Vec<serde_json::Value> {
        let out = run_ok(&mut host(&[
            "plugin",
            "test",
            wasm.to_str().unwrap(),
            fixtures.to_str().unwrap(),
            "--json",
        ]));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["ok"], true, "{}: {report:#}", wasm.display());
        report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| serde_json::json!({ "name": c["name"], "actual": c["actual"] }))
            .collect()
    };
    let rust = outcomes(&plugin("doctor_offices"));
    for (language, dir) in [("Python", "plugins-py"), ("JavaScript", "plugins-js")] {
        let wasm = repo_root().join(dir).join("dist/doctor_offices.wasm");
        if !wasm.exists() {
            eprintln!(
                "NOTICE: {} is missing (its toolchain was not available to scripts/build-foreign-plugins.sh): the {language} comparison was SKIPPED",
                wasm.display()
            );
            continue;
        }
        assert_eq!(
            outcomes(&wasm),
            rust,
            "the {language} doctor_offices differs from the Rust one"
        );
    }
}

/// `host plugin build` turns a plugin folder of each language into a component from outside
/// the repository (no wit/, no plugins-py/ or plugins-js/ beside it), names it after the
/// folder, loads it, and the components pass the same fixtures.
#[test]
fn host_plugin_build_builds_every_language_anywhere() {
    let dir = temp_dir("plugin-build");
    let repo = repo_root();
    std::fs::create_dir_all(dir.join("py_links")).unwrap();
    std::fs::copy(
        repo.join("plugins-py/doctor_offices/app.py"),
        dir.join("py_links/app.py"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("js_links")).unwrap();
    std::fs::copy(
        repo.join("plugins-js/doctor_offices/doctor_offices.js"),
        dir.join("js_links/index.js"),
    )
    .unwrap();
    host_ok(&[
        "plugin",
        "new",
        "links",
        "--dir",
        dir.to_str().unwrap(),
        "--sdk",
        repo.join("plugins/sdk").to_str().unwrap(),
    ]);
    let build = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["plugin", "build"];
        all.extend_from_slice(args);
        all.push("--json");
        let out = run_ok(
            host(&all)
                .current_dir(&dir)
                .env("CARGO_TARGET_DIR", guest_target_dir()),
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", text(&out)))
    };
    let py = build(&["py_links"]);
    assert_eq!(py["language"], "Python", "{py:#}");
    assert_eq!(
        py["output"], "py_links.wasm",
        "named after its folder: {py:#}"
    );
    let js = build(&["js_links", "-o", "out/links.wasm"]);
    assert_eq!(js["language"], "JavaScript", "{js:#}");
    assert_eq!(js["source_table"], "doctor_offices", "{js:#}");
    let rust = build(&["links", "-o", "links.wasm"]);
    assert_eq!(rust["language"], "Rust", "{rust:#}");

    let fixtures = repo.join("plugins/doctor_offices/fixtures.toml");
    for (wasm, fixtures) in [
        (dir.join("py_links.wasm"), fixtures.clone()),
        (dir.join("out/links.wasm"), fixtures),
        (dir.join("links.wasm"), dir.join("links/fixtures.toml")),
    ] {
        let out = run_ok(&mut host(&[
            "plugin",
            "test",
            wasm.to_str().unwrap(),
            fixtures.to_str().unwrap(),
        ]));
        assert!(
            text(&out).0.contains("case(s) ok"),
            "{}: {:?}",
            wasm.display(),
            text(&out)
        );
    }
    // A folder with no plugin in it says what a plugin folder holds; exit 2.
    std::fs::create_dir_all(dir.join("notes")).unwrap();
    std::fs::write(dir.join("notes/README.md"), "notes").unwrap();
    let out = host(&["plugin", "build", "notes"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("holds no plugin"), "{:?}", text(&out));
}
