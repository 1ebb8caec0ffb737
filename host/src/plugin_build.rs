//! `host plugin build`: one command that turns a plugin's folder into a component, whatever
//! language it is written in and wherever it lives. Each toolchain is installed on first use
//! (a pinned version, so two machines build the same component) and a clear error says what
//! to install by hand when that cannot be done. The built component is then loaded and
//! described, so a broken build is found here and not at `host check`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use clap::Args;
use engine::wasm::Runtime;
use engine::Error;

/// componentize-py, pinned (scripts/build-foreign-plugins.sh pins the same version).
const COMPONENTIZE_PY: &str = "0.25.1";
/// The JavaScript toolchain's pins and its build script: the repository's own files, so the
/// JavaScript plugins build the same way here and in scripts/build-foreign-plugins.sh.
const JS_PACKAGE_JSON: &str = include_str!("../../plugins-js/package.json");
const JS_BUILD_SCRIPT: &str = include_str!("../../plugins-js/build.mjs");

#[derive(Args)]
pub struct BuildArgs {
    /// The plugin's folder: a Rust crate (Cargo.toml), a Python plugin (app.py) or a
    /// JavaScript plugin (`<folder>.js`, `index.js`, or its only .js file).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where to write the component; default `<name>.wasm` in the current folder.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Machine-readable output on stdout.
    #[arg(long)]
    json: bool,
}

/// What a plugin folder holds, found by its files.
#[derive(Debug, PartialEq)]
enum Source {
    Rust { manifest: PathBuf },
    Python { dir: PathBuf },
    JavaScript { file: PathBuf },
}

impl Source {
    fn language(&self) -> &'static str {
        match self {
            Source::Rust { .. } => "Rust",
            Source::Python { .. } => "Python",
            Source::JavaScript { .. } => "JavaScript",
        }
    }
}

fn detect(dir: &Path) -> Result<Source, Error> {
    if !dir.is_dir() {
        return Err(Error::plan(format!(
            "{} is not a folder: give the plugin's folder (a Rust crate, a Python app.py or a JavaScript .js file)",
            dir.display()
        )));
    }
    if dir.join("Cargo.toml").is_file() {
        return Ok(Source::Rust {
            manifest: dir.join("Cargo.toml"),
        });
    }
    if dir.join("app.py").is_file() {
        return Ok(Source::Python {
            dir: dir.to_path_buf(),
        });
    }
    let named = folder_name(dir).map(|n| dir.join(format!("{n}.js")));
    let scripts: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "js" || x == "mjs"))
                .collect()
        })
        .unwrap_or_default();
    let file = [named, Some(dir.join("index.js"))]
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .or_else(|| (scripts.len() == 1).then(|| scripts[0].clone()));
    match file {
        Some(file) => Ok(Source::JavaScript { file }),
        None => Err(Error::plan(format!(
            "{} holds no plugin this command can build: a Rust crate has a Cargo.toml, a Python plugin an app.py, a JavaScript plugin `<folder>.js` or `index.js`{}\n  hint: `host plugin new TABLE --dir FOLDER` scaffolds a Rust plugin",
            dir.display(),
            if scripts.len() > 1 { " (there are several .js files: name the plugin's after its folder)" } else { "" }
        ))),
    }
}

fn folder_name(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    Some(dir.file_name()?.to_string_lossy().into_owned())
}

pub fn build(args: &BuildArgs) -> anyhow::Result<()> {
    let source = detect(&args.dir)?;
    let name = match &source {
        Source::Rust { manifest } => cargo_package(manifest)?.lib_name,
        _ => folder_name(&args.dir).unwrap_or_else(|| "plugin".into()),
    };
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{name}.wasm")));
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    // Built beside the output and renamed into place once it loads: a plan naming the output
    // never sees half a file or a component that does not fit the contract.
    let mut staging = output.clone().into_os_string();
    staging.push(".building");
    let staging = PathBuf::from(staging);
    let built = build_and_describe(&source, &staging);
    if built.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    let (plugin, description) = built?;
    std::fs::rename(&staging, &output)
        .with_context(|| format!("moving the component to {}", output.display()))?;
    let bytes = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
    let writes: Vec<&str> = description
        .writes
        .iter()
        .map(|w| w.table.as_str())
        .collect();
    if args.json {
        let json = serde_json::json!({
            "output": output.display().to_string(),
            "language": source.language(),
            "bytes": bytes,
            "sha256": plugin.sha256,
            "source_table": description.source_table,
            "writes": writes,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!(
            "built {} ({}, {} KiB): reads {}, writes {}\n  next: `host plugin test {} fixtures.toml`, then name it in the plan's [[tables]] plugin",
            output.display(),
            source.language(),
            bytes.div_ceil(1024),
            description.source_table,
            writes.join(", "),
            output.display()
        );
    }
    Ok(())
}

/// Builds `source` into `output`, then loads it and asks what it reads and writes: a
/// component that does not fit the contract is refused here, not at `host check`.
fn build_and_describe(
    source: &Source,
    output: &Path,
) -> anyhow::Result<(engine::wasm::Plugin, engine::wasm::Description)> {
    match source {
        Source::Rust { manifest } => build_rust(manifest, output)?,
        Source::Python { dir } => build_python(dir, output)?,
        Source::JavaScript { file } => build_javascript(file, output)?,
    }
    let runtime = Runtime::new()?;
    let plugin = runtime.load(output).map_err(|e| {
        Error::check(format!(
            "built, but it is not a plugin this host can run: {e}"
        ))
    })?;
    let description = plugin
        .instantiate(Default::default(), "build")
        .and_then(|mut i| i.describe())
        .map_err(|e| Error::check(format!("built, but describe() failed: {e}")))?;
    Ok((plugin, description))
}

/// Runs `command`; a failure says what ran and shows its output's end.
fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let rendered = format!("{command:?}");
    let out = command
        .output()
        .map_err(|e| anyhow::anyhow!("{what}: cannot run {rendered}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stdout));
    let tail: Vec<&str> = text.lines().rev().take(30).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(Error::check(format!(
        "{what} failed ({}):\n{}\n  ran: {rendered}",
        out.status,
        tail.join("\n")
    ))
    .into())
}

fn succeeds(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

// ------------------------------------------------------------------------------------ Rust

struct CargoPackage {
    /// The library's file stem (`lab_results` for package `lab-results`).
    lib_name: String,
    target_directory: PathBuf,
}

fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn cargo_package(manifest: &Path) -> anyhow::Result<CargoPackage> {
    let out = Command::new(cargo_program())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .context("running cargo metadata (is cargo installed? https://rustup.rs)")?;
    if !out.status.success() {
        return Err(Error::plan(format!(
            "{} is not a crate cargo can read:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .into());
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let wanted = manifest.canonicalize()?;
    let package = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p["manifest_path"]
                .as_str()
                .and_then(|m| Path::new(m).canonicalize().ok())
                .is_some_and(|m| m == wanted)
        })
        .ok_or_else(|| {
            Error::plan(format!(
                "{} is a workspace, not a plugin crate: give one plugin's folder",
                manifest.display()
            ))
        })?;
    let lib = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "cdylib"))
        })
        .ok_or_else(|| {
            Error::plan(format!(
                "{}: the crate builds no cdylib, so no component\n  hint: add `[lib] crate-type = [\"cdylib\"]` (as `host plugin new` does)",
                manifest.display()
            ))
        })?;
    Ok(CargoPackage {
        lib_name: lib["name"].as_str().unwrap_or_default().replace('-', "_"),
        target_directory: PathBuf::from(meta["target_directory"].as_str().unwrap_or("target")),
    })
}

fn build_rust(manifest: &Path, output: &Path) -> anyhow::Result<()> {
    const TARGET: &str = "wasm32-wasip2";
    if let Some(installed) = succeeds("rustup", &["target", "list", "--installed"]) {
        if !installed.lines().any(|l| l.trim() == TARGET) {
            eprintln!("installing the {TARGET} Rust target (once)");
            run(
                Command::new("rustup").args(["target", "add", TARGET]),
                "installing the wasm32-wasip2 target",
            )?;
        }
    }
    let package = cargo_package(manifest)?;
    eprintln!("building {} (cargo, {TARGET})", manifest.display());
    run(
        Command::new(cargo_program())
            .args(["build", "--release", "--target", TARGET, "--manifest-path"])
            .arg(manifest),
        "cargo build",
    )?;
    let built = package
        .target_directory
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", package.lib_name));
    std::fs::copy(&built, output)
        .with_context(|| format!("copying {} to {}", built.display(), output.display()))?;
    Ok(())
}

// ---------------------------------------------------------------------------------- Python

/// The contract's WIT, written where a foreign toolchain can read it; removed on drop.
struct WitDir(PathBuf);

impl WitDir {
    fn write() -> anyhow::Result<WitDir> {
        let dir = std::env::temp_dir().join(format!("host-plugin-build-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("migrate.wit"), engine::wasm::CONTRACT_WIT)?;
        Ok(WitDir(dir))
    }
}

impl Drop for WitDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn build_python(dir: &Path, output: &Path) -> anyhow::Result<()> {
    let have = succeeds("componentize-py", &["--version"]);
    if !have.is_some_and(|v| v.contains(COMPONENTIZE_PY)) {
        eprintln!("installing componentize-py {COMPONENTIZE_PY} (pip, once)");
        let spec = format!("componentize-py=={COMPONENTIZE_PY}");
        run(
            Command::new("python3").args(["-m", "pip", "install", "--quiet", &spec]),
            "installing componentize-py",
        )
        .map_err(|e| {
            Error::check(format!(
                "{e:#}\n  hint: install it by hand (`python3 -m pip install {spec}`, in a virtualenv if pip refuses) and run again"
            ))
        })?;
    }
    let wit = WitDir::write()?;
    eprintln!("building {} (componentize-py)", dir.display());
    // WASI stays imported (no --stub-wasi): the host links it deny-by-default.
    run(
        Command::new("componentize-py")
            .arg("-d")
            .arg(&wit.0)
            .args(["-w", "transform", "componentize", "app", "-p"])
            .arg(dir)
            .arg("-o")
            .arg(output),
        "componentize-py",
    )
}

// ------------------------------------------------------------------------------ JavaScript

/// Where the JavaScript toolchain is installed: one folder per set of pins.
fn js_toolchain_dir() -> anyhow::Result<PathBuf> {
    use sha2::{Digest, Sha256};
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let pins = hex::encode(&Sha256::digest(JS_PACKAGE_JSON)[..6]);
    Ok(base
        .join("migrate-host")
        .join("toolchains")
        .join(format!("componentize-js-{pins}")))
}

fn install_js_toolchain() -> anyhow::Result<PathBuf> {
    for tool in ["node", "npm"] {
        if succeeds(tool, &["--version"]).is_none() {
            return Err(Error::check(format!(
                "`{tool}` was not found: building a JavaScript plugin needs Node.js 18 or later with npm\n  hint: install Node.js (https://nodejs.org or your system's package) and run again"
            ))
            .into());
        }
    }
    let dir = js_toolchain_dir()?;
    if dir
        .join("node_modules/@bytecodealliance/componentize-js")
        .is_dir()
    {
        return Ok(dir);
    }
    eprintln!(
        "installing componentize-js into {} (npm, once)",
        dir.display()
    );
    // Installed beside, then renamed into place: a second build never sees half of it.
    let staging = dir.with_extension(format!("installing-{}", std::process::id()));
    std::fs::create_dir_all(&staging)?;
    std::fs::write(staging.join("package.json"), JS_PACKAGE_JSON)?;
    run(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&staging),
        "installing componentize-js (npm install)",
    )
    .map_err(|e| {
        let _ = std::fs::remove_dir_all(&staging);
        Error::check(format!(
            "{e:#}\n  hint: npm needs the registry (https://registry.npmjs.org); behind a proxy set npm's `proxy` config, then run again"
        ))
    })?;
    if std::fs::rename(&staging, &dir).is_err() {
        // Another build installed it meanwhile.
        let _ = std::fs::remove_dir_all(&staging);
    }
    Ok(dir)
}

fn build_javascript(file: &Path, output: &Path) -> anyhow::Result<()> {
    let toolchain = install_js_toolchain()?;
    // Written each time (it is small): the script always matches this host's version.
    let script = toolchain.join("build.mjs");
    std::fs::write(&script, JS_BUILD_SCRIPT)?;
    let wit = WitDir::write()?;
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    eprintln!("building {} (componentize-js)", file.display());
    run(
        Command::new("node")
            .arg(&script)
            .arg(absolute(file))
            .arg(&wit.0)
            .arg(absolute(output)),
        "componentize-js",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "host-detect-{}-{}",
            std::process::id(),
            files.join("-").replace(['.', '/'], "_")
        ));
        let dir = dir.join("orders");
        std::fs::create_dir_all(&dir).unwrap();
        for f in files {
            std::fs::write(dir.join(f), "").unwrap();
        }
        dir
    }

    #[test]
    fn a_folder_is_built_by_what_it_holds() {
        assert!(matches!(
            detect(&folder(&["Cargo.toml", "app.py"])),
            Ok(Source::Rust { .. })
        ));
        assert!(matches!(
            detect(&folder(&["app.py"])),
            Ok(Source::Python { .. })
        ));
        let js = folder(&["helpers.js", "orders.js"]);
        assert_eq!(
            detect(&js).unwrap(),
            Source::JavaScript {
                file: js.join("orders.js")
            }
        );
        let one = folder(&["transform.js"]);
        assert_eq!(
            detect(&one).unwrap(),
            Source::JavaScript {
                file: one.join("transform.js")
            }
        );
        let many = detect(&folder(&["a.js", "b.js"])).unwrap_err();
        assert!(many.message.contains("several .js files"), "{many}");
        let none = detect(&folder(&["README.md"])).unwrap_err();
        assert!(none.message.contains("holds no plugin"), "{none}");
    }
}
