//! `host plugin new` and `host plugin test`: for plugin authors.
//!
//! `new` scaffolds a plugin crate from `host/templates/plugin/`. `test` runs a built
//! component over the rows of a fixture file, with no database: the fixture gives each case's
//! source values, the ids its `resolve` calls find (migrated or skipped), and the expected
//! outcome. The component runs exactly as under `host run` (same loader, sandbox, contract
//! check and id-map answers); only the target schema is not consulted. The fixture format is
//! documented in docs/plugin-authors.md.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Deserialize;

use engine::idmap::{self, IdMaps};
use engine::key::Key;
use engine::wasm::{
    element_value, value_element, Array, Description, Outcome, PluginError, Runtime, TargetRow,
    Value,
};
use engine::Error;

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Scaffold a plugin crate for a legacy table: Cargo.toml, src/lib.rs (a Transform
    /// skeleton with a unit test) and fixtures.toml.
    New(NewArgs),
    /// Run a plugin component over the cases of a fixture file, with no database; prints
    /// ok/FAIL per case (exit 3 if any case fails).
    Test(TestArgs),
    /// Build a plugin's folder into a component, whatever its language: a Rust crate (cargo,
    /// wasm32-wasip2), a Python plugin (componentize-py) or a JavaScript one
    /// (componentize-js), anywhere on disk; installs the toolchain on first use, then loads
    /// the component and prints what it reads and writes.
    Build(crate::plugin_build::BuildArgs),
}

#[derive(Args)]
pub struct NewArgs {
    /// The legacy table the plugin transforms, as the database names it: `orders`,
    /// `OrderItems`, `"Order Items"` or `sales.OrderLines` (the crate is named after it).
    table: String,
    /// Where to create the crate: in a plugins workspace (a Cargo.toml with an `sdk/` beside
    /// it, as this repository's `plugins/`) it becomes a member; anywhere else it is a crate
    /// of its own that depends on the SDK at --sdk.
    #[arg(long, default_value = "plugins")]
    dir: PathBuf,
    /// The guest SDK (`migrate-sdk`) a crate outside a plugins workspace depends on; default:
    /// the SDK of the checkout this `host` was built from.
    #[arg(long, value_name = "PATH")]
    sdk: Option<PathBuf>,
}

/// A legacy table named on the command line, and the Rust names derived from it.
#[derive(Debug, PartialEq)]
struct TableNames {
    /// The schema, when the name was qualified (`sales.OrderLines`).
    schema: Option<String>,
    /// The table itself, unquoted (`OrderLines`, `Order Items`).
    table: String,
    /// `order_lines`: the crate's folder (and its component's file name).
    folder: String,
    /// `order-lines`: the crate.
    crate_name: String,
    /// `OrderLines`: the plugin's type.
    type_name: String,
}

impl TableNames {
    fn parse(arg: &str) -> Result<TableNames, String> {
        let parts = split_qualified(arg)?;
        let (schema, table) = match parts.as_slice() {
            [table] => (None, table.clone()),
            [schema, table] => (Some(schema.clone()), table.clone()),
            _ => return Err(format!("`{arg}` is not a table name: write `table` or `schema.table` (quote a name holding dots: `\"a.b\"`)")),
        };
        // Words: runs of letters and digits, split again where lower case meets upper case.
        let mut words: Vec<String> = Vec::new();
        let mut word = String::new();
        let mut prev_lower = false;
        for c in table.chars() {
            if !c.is_ascii_alphanumeric() {
                words.extend((!word.is_empty()).then(|| std::mem::take(&mut word)));
                prev_lower = false;
                continue;
            }
            if c.is_ascii_uppercase() && prev_lower {
                words.push(std::mem::take(&mut word));
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            word.push(c);
        }
        words.extend((!word.is_empty()).then_some(word));
        if words.is_empty() {
            return Err(format!("`{arg}`: no letters or digits to name a Rust crate after: rename the table or scaffold under another name and edit describe()"));
        }
        let mut lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
        // Cargo names start with a letter.
        if lower[0].starts_with(|c: char| c.is_ascii_digit()) {
            lower.insert(0, "table".into());
        }
        let crate_name = lower.join("-");
        if crate_name == "sdk" || crate_name == "migrate-sdk" {
            return Err(format!(
                "`{arg}`: the crate would be named `{crate_name}`, the SDK's name"
            ));
        }
        let type_name: String = lower
            .iter()
            .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
            .collect();
        Ok(TableNames {
            schema,
            table,
            folder: lower.join("_"),
            crate_name,
            type_name,
        })
    }
}

/// `a`, `"A b"`, `s.t`, `"s"."t.x"`: the dot-separated parts, unquoted (`""` is a quote).
fn split_qualified(arg: &str) -> Result<Vec<String>, String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    let mut chars = arg.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                parts.last_mut().expect("a part").push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(String::new()),
            c if c.is_control() => {
                return Err(format!("`{arg}`: a table name holds no control characters"))
            }
            c => parts.last_mut().expect("a part").push(c),
        }
    }
    if quoted || parts.iter().any(String::is_empty) {
        return Err(format!(
            "`{arg}` is not a table name: an unclosed quote or an empty part"
        ));
    }
    Ok(parts)
}

/// The SDK of the checkout this binary was built from, if it is still there.
fn default_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk");
    sdk.join("Cargo.toml")
        .exists()
        .then(|| sdk.canonicalize().unwrap_or(sdk))
}

#[derive(Args)]
pub struct TestArgs {
    /// The plugin component (.wasm).
    plugin: PathBuf,
    /// The fixture file (TOML, one [[case]] per row).
    fixtures: PathBuf,
    /// Machine-readable output on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(command: &PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::New(args) => new_plugin(args),
        PluginCommand::Test(args) => test_plugin(args),
        PluginCommand::Build(args) => crate::plugin_build::build(args),
    }
}

// ------------------------------------------------------------------------------ plugin new

const TEMPLATE_CARGO: &str = include_str!("../templates/plugin/Cargo.toml.tmpl");
const TEMPLATE_CARGO_STANDALONE: &str =
    include_str!("../templates/plugin/Cargo.standalone.toml.tmpl");
const TEMPLATE_LIB: &str = include_str!("../templates/plugin/lib.rs.tmpl");
const TEMPLATE_FIXTURES: &str = include_str!("../templates/plugin/fixtures.toml.tmpl");

fn new_plugin(args: &NewArgs) -> anyhow::Result<()> {
    let names = TableNames::parse(&args.table).map_err(Error::plan)?;
    let in_workspace = args.dir.join("Cargo.toml").exists() && args.dir.join("sdk").exists();
    let sdk = if in_workspace {
        None
    } else {
        let sdk = args.sdk.clone().or_else(default_sdk).ok_or_else(|| {
            Error::plan(format!(
                    "{} is not a plugins workspace and no SDK was found: pass --sdk PATH (the `plugins/sdk` folder of a checkout of this project)",
                    args.dir.display()
                ),
            )
        })?;
        if !sdk.join("Cargo.toml").exists() {
            return Err(Error::plan(format!(
                "--sdk {}: no Cargo.toml there (give the `plugins/sdk` folder)",
                sdk.display()
            ))
            .into());
        }
        Some(std::path::absolute(&sdk).unwrap_or(sdk))
    };
    let crate_dir = args.dir.join(&names.folder);
    if crate_dir.exists() {
        return Err(Error::plan(format!(
            "{} already exists: refusing to overwrite it (pick another table or remove it)",
            crate_dir.display()
        ))
        .into());
    }
    let crate_name = &names.crate_name;
    let wasm_name = &names.folder;
    // The table's name goes into Rust and TOML strings, which escape alike.
    let table_literal = names.table.replace('\\', "\\\\").replace('"', "\\\"");
    let fill = |template: &str| {
        template
            .replace("{{table}}", &table_literal)
            .replace("{{crate}}", crate_name)
            .replace("{{wasm}}", wasm_name)
            .replace("{{type}}", &names.type_name)
    };
    let manifest = match &sdk {
        None => fill(TEMPLATE_CARGO),
        Some(sdk) => fill(TEMPLATE_CARGO_STANDALONE)
            .replace("{{sdk}}", &sdk.display().to_string().replace('\\', "/")),
    };
    std::fs::create_dir_all(crate_dir.join("src"))
        .with_context(|| format!("creating {}", crate_dir.display()))?;
    for (file, text) in [
        ("Cargo.toml", manifest),
        ("src/lib.rs", fill(TEMPLATE_LIB)),
        ("fixtures.toml", fill(TEMPLATE_FIXTURES)),
    ] {
        let path = crate_dir.join(file);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let dir = crate_dir.display();
    match &sdk {
        None => println!("created {dir}/ (crate `{crate_name}`, a member of the plugins workspace {}): Cargo.toml, src/lib.rs, fixtures.toml", args.dir.display()),
        Some(sdk) => println!("created {dir}/ (crate `{crate_name}`, a crate of its own using the SDK at {}): Cargo.toml, src/lib.rs, fixtures.toml", sdk.display()),
    }
    // Where cargo runs and where it puts the component.
    let ws = if sdk.is_some() {
        crate_dir.clone()
    } else {
        args.dir.clone()
    };
    let ws = ws.display();
    let name_in_plan = toml::Value::String(names.table.clone()).to_string();
    if let Some(schema) = &names.schema {
        println!(
            "note: the table is in schema `{schema}`: set `schema = {}` under [source] in the plan",
            toml::Value::String(schema.clone())
        );
    }
    println!(
        "\nNext steps:
  1. edit {dir}/src/lib.rs: the columns you read (the key first), the target table and columns
     you write, the entities you resolve; keep the unit test and fixtures.toml in step
  2. unit-test natively:   (cd {ws} && cargo test -p {crate_name})
  3. build the component:  host plugin build {dir} -o {ws}/target/wasm32-wasip2/release/{wasm_name}.wasm
     (the same as (cd {ws} && cargo build --release --target wasm32-wasip2 -p {crate_name}),
     or with cargo-component: (cd {ws} && cargo component build --release -p {crate_name}))
  4. run the fixtures, no database needed:
     host plugin test {ws}/target/wasm32-wasip2/release/{wasm_name}.wasm {dir}/fixtures.toml
  5. add it to your plan:
     [[table]]
     name = {name_in_plan}
     plugin = \"{ws}/target/wasm32-wasip2/release/{wasm_name}.wasm\"
     then `host check plan.toml` and `host run plan.toml --table {name_in_plan}`
  See docs/plugin-authors.md."
    );
    Ok(())
}

// ----------------------------------------------------------------------------- fixtures

/// A fixture file: cases, plus ids that every case's `resolve` finds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    /// Migrated rows shared by every case (each case may add its own), by key.
    #[serde(default)]
    migrated: BTreeMap<String, Vec<FixtureKey>>,
    #[serde(default)]
    skipped: BTreeMap<String, SkippedRows>,
    #[serde(default, rename = "case")]
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// Source column -> value; columns of `reads` left out are NULL.
    input: toml::Table,
    #[serde(default)]
    migrated: BTreeMap<String, Vec<FixtureKey>>,
    #[serde(default)]
    skipped: BTreeMap<String, SkippedRows>,
    expect: Expect,
}

/// Skipped rows: a list of keys (reason "skipped (fixture)"), or a table key -> reason (the
/// key as the runner records it: `"42"`, `"US"`, `'["12","7"]'`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SkippedRows {
    Ids(Vec<FixtureKey>),
    Reasons(BTreeMap<String, String>),
}

/// A row's key in a fixture: an integer id (`42`), a text key (`"US"`), or the values of a
/// composite key in key order (`["DE", "Berlin"]`, `["2024-01-31", 7]`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FixtureKey {
    Int(i64),
    Text(String),
    Parts(Vec<FixtureKeyPart>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FixtureKeyPart {
    Int(i64),
    Text(String),
}

impl FixtureKey {
    fn key(&self) -> Key {
        let part = |p: &FixtureKeyPart| match p {
            FixtureKeyPart::Int(n) => Value::Int(*n),
            FixtureKeyPart::Text(t) => Value::Text(t.clone()),
        };
        match self {
            FixtureKey::Int(n) => Key::Int(*n),
            FixtureKey::Text(t) => Key::from_stored(t),
            FixtureKey::Parts(parts) => {
                engine::wasm::key_of(&parts.iter().map(part).collect::<Vec<_>>())
                    .unwrap_or_else(|_| Key::Text("[]".into()))
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum Expect {
    Write(Vec<ExpectRow>),
    Skip(String),
    Reject(String),
    Trap(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectRow {
    table: String,
    #[serde(default)]
    values: toml::Table,
}

const DEFAULT_SKIP_REASON: &str = "skipped (fixture)";

/// What a fixture value stands for.
#[derive(Debug, Clone)]
enum Pattern {
    Any,
    Exact(Value),
}

/// The `@entity:id` placeholder: the UUID the host mints (and resolves) for that row.
fn placeholder(text: &str) -> Option<Result<String, String>> {
    let body = text.strip_prefix('@')?;
    let bad = || {
        Err(format!(
            "unknown placeholder {text:?}: use \"@any\", \"@null\", or \"@<entity>:<legacy id>\" for a minted UUID (literal text starting with @ is {{ text = {text:?} }})"
        ))
    };
    // `@entity:key`; a composite key is its JSON array (`@cities:["DE","Berlin"]`), and an
    // entity may hold colons itself (`@order_status_history:2:8`).
    let split = match body.find(":[") {
        Some(at) => Some((&body[..at], &body[at + 1..])),
        None => body.rsplit_once(':'),
    };
    let Some((entity, id)) = split else {
        return Some(bad());
    };
    match (entity.is_empty(), id.is_empty()) {
        (false, false) => Some(Ok(idmap::mint(entity, &Key::from_stored(id)).to_string())),
        _ => Some(bad()),
    }
}

const VARIANTS: &str =
    "null, boolean, int, float, numeric, text, bytes, uuid, date, timestamp, timestamptz, json, array";

/// Parses one fixture value (see docs/plugin-authors.md for the encoding).
fn parse_value(v: &toml::Value) -> Result<Pattern, String> {
    use toml::Value as T;
    let exact = |v: Value| Ok(Pattern::Exact(v));
    match v {
        T::String(s) if s == "@any" => Ok(Pattern::Any),
        T::String(s) if s == "@null" => exact(Value::Null),
        T::String(s) => match placeholder(s) {
            Some(uuid) => exact(Value::Uuid(uuid?)),
            None => exact(Value::Text(s.clone())),
        },
        T::Integer(i) => exact(Value::Int(*i)),
        T::Float(f) => exact(Value::Float(*f)),
        T::Boolean(b) => exact(Value::Boolean(*b)),
        T::Datetime(d) => {
            let date = d.date.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day));
            let time = d.time.map(|t| {
                let mut s = format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second);
                if t.nanosecond > 0 {
                    let frac = format!("{:09}", t.nanosecond);
                    s = format!("{s}.{}", frac.trim_end_matches('0'));
                }
                s
            });
            match (date, time, d.offset) {
                (Some(date), None, None) => exact(Value::Date(date)),
                (Some(date), Some(time), None) => exact(Value::Timestamp(format!("{date} {time}"))),
                (Some(date), Some(time), Some(offset)) => {
                    let offset = match offset {
                        toml::value::Offset::Z => "+00".to_string(),
                        toml::value::Offset::Custom { minutes } => {
                            let sign = if minutes < 0 { '-' } else { '+' };
                            let m = minutes.unsigned_abs();
                            if m % 60 == 0 {
                                format!("{sign}{:02}", m / 60)
                            } else {
                                format!("{sign}{:02}:{:02}", m / 60, m % 60)
                            }
                        }
                    };
                    exact(Value::Timestamptz(format!("{date} {time}{offset}")))
                }
                _ => Err(format!("{d}: a time of day alone is not a value; use {{ text = \"...\" }}")),
            }
        }
        T::Array(_) => Err(format!(
            "{v}: a bare list is not a value; an array column's value is {{ array = [...] }} (nested lists for several dimensions), any other value one of the variants {{ {VARIANTS} }} as {{ variant = ... }}"
        )),
        T::Table(t) => {
            let mut entries = t.iter();
            let (Some((variant, inner)), None) = (entries.next(), entries.next()) else {
                return Err(format!(
                    "{v}: a typed value is a table with one key, one of: {VARIANTS}"
                ));
            };
            let text = || match inner {
                T::String(s) => Ok(s.clone()),
                other => Err(format!("{{ {variant} = ... }} takes a string, not {other}")),
            };
            match variant.as_str() {
                "null" => exact(Value::Null),
                "boolean" => match inner {
                    T::Boolean(b) => exact(Value::Boolean(*b)),
                    other => Err(format!("{{ boolean = ... }} takes true or false, not {other}")),
                },
                "int" => match inner {
                    T::Integer(i) => exact(Value::Int(*i)),
                    other => Err(format!("{{ int = ... }} takes an integer, not {other}")),
                },
                "float" => match inner {
                    T::Float(f) => exact(Value::Float(*f)),
                    T::Integer(i) => exact(Value::Float(*i as f64)),
                    other => Err(format!("{{ float = ... }} takes a number, not {other}")),
                },
                "numeric" => match inner {
                    T::Integer(i) => exact(Value::Numeric(i.to_string())),
                    _ => exact(Value::Numeric(text()?)),
                },
                "text" => exact(Value::Text(text()?)),
                "uuid" => {
                    let s = text()?;
                    match placeholder(&s) {
                        Some(uuid) => exact(Value::Uuid(uuid?)),
                        None => exact(Value::Uuid(s)),
                    }
                }
                "date" => exact(Value::Date(text()?)),
                "timestamp" => exact(Value::Timestamp(text()?)),
                "timestamptz" => exact(Value::Timestamptz(text()?)),
                "json" => exact(Value::Json(text()?)),
                "bytes" => {
                    let s = text()?;
                    let hex_text = s.strip_prefix("\\x").unwrap_or(&s);
                    hex::decode(hex_text)
                        .map(|b| Pattern::Exact(Value::Bytes(b)))
                        .map_err(|e| format!("{{ bytes = {s:?} }}: not hex ({e})"))
                }
                "array" => array_value(inner).map(Pattern::Exact),
                other => Err(format!(
                    "unknown value variant `{other}`; the variants are: {VARIANTS}"
                )),
            }
        }
    }
}

/// `{ array = [...] }`: a list of element values (any fixture value but an array), nested
/// lists for several dimensions (`[[1, 2], [3, 4]]` is dims [2, 2]).
fn array_value(v: &toml::Value) -> Result<Value, String> {
    fn collect(
        v: &toml::Value,
        depth: usize,
        dims: &mut Vec<u32>,
        elements: &mut Vec<engine::wasm::Element>,
    ) -> Result<(), String> {
        match v {
            toml::Value::Array(items) => {
                let n = items.len() as u32;
                match dims.get(depth) {
                    None if dims.len() == depth && elements.is_empty() => dims.push(n),
                    Some(&d) if d == n => {}
                    _ => {
                        return Err(format!(
                            "{{ array = ... }}: the lists at depth {} differ in length or depth",
                            depth + 1
                        ))
                    }
                }
                items
                    .iter()
                    .try_for_each(|item| collect(item, depth + 1, dims, elements))
            }
            scalar => {
                if depth != dims.len() {
                    return Err("{ array = ... }: elements and lists mixed at one depth".into());
                }
                match parse_value(scalar)? {
                    Pattern::Exact(value) => elements.push(
                        value_element(value).ok_or("{ array = ... }: an array inside an array")?,
                    ),
                    Pattern::Any => {
                        return Err(
                            "{ array = ... }: \"@any\" stands for a whole value, not an element"
                                .into(),
                        )
                    }
                }
                Ok(())
            }
        }
    }
    if !matches!(v, toml::Value::Array(_)) {
        return Err(format!("{{ array = ... }} takes a list, not {v}"));
    }
    let (mut dims, mut elements) = (Vec::new(), Vec::new());
    collect(v, 0, &mut dims, &mut elements)?;
    if elements.is_empty() {
        dims.clear();
    }
    Ok(Value::Array(Array { dims, elements }))
}

/// Rows whose UUIDs a case may meet, to print actual UUIDs back as `@entity:id`.
struct Names {
    candidates: BTreeMap<String, String>,
}

impl Names {
    fn new(description: &Description, input: &[Value], ids: &[(String, Key)]) -> Names {
        let mut entities: BTreeSet<String> = BTreeSet::new();
        entities.insert(description.source_table.clone());
        entities.extend(description.resolves.iter().cloned());
        entities.extend(description.writes.iter().map(|w| w.table.clone()));
        entities.extend(ids.iter().map(|(e, _)| e.clone()));
        let mut numbers: BTreeSet<i64> = input
            .iter()
            .filter_map(|v| match v {
                Value::Int(i) => Some(*i),
                _ => None,
            })
            .collect();
        numbers.extend(ids.iter().filter_map(|(_, k)| k.as_int()));
        // Entities of rows a plugin creates per key, such as `order_status_history:<n>`.
        let numbered: Vec<String> = entities
            .iter()
            .flat_map(|e| (1..=20).map(move |n| format!("{e}:{n}")))
            .collect();
        let mut candidates = BTreeMap::new();
        for e in entities.iter().chain(&numbered) {
            for id in &numbers {
                candidates.insert(
                    idmap::mint(e, &Key::Int(*id)).to_string(),
                    format!("@{e}:{id}"),
                );
            }
        }
        // Rows named by a key of another shape.
        for (e, key) in ids.iter().filter(|(_, k)| k.as_int().is_none()) {
            candidates.insert(idmap::mint(e, key).to_string(), format!("@{e}:{key}"));
        }
        Names { candidates }
    }

    fn uuid(&self, uuid: &str) -> Option<&str> {
        self.candidates.get(uuid).map(String::as_str)
    }
}

/// A value in fixture syntax (what one would write in `expect`).
fn show(v: &Value, names: &Names) -> String {
    let quoted = |s: &str| toml::Value::String(s.to_string()).to_string();
    let typed = |variant: &str, s: &str| format!("{{ {variant} = {} }}", quoted(s));
    match v {
        Value::Null => "\"@null\"".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => toml::Value::Float(*f).to_string(),
        Value::Text(s) if s.starts_with('@') => typed("text", s),
        Value::Text(s) => quoted(s),
        Value::Uuid(s) => match names.uuid(s) {
            Some(name) => quoted(name),
            None => typed("uuid", s),
        },
        Value::Numeric(s) => typed("numeric", s),
        Value::Date(s) => typed("date", s),
        Value::Timestamp(s) => typed("timestamp", s),
        Value::Timestamptz(s) => typed("timestamptz", s),
        Value::Json(s) => typed("json", s),
        Value::Bytes(b) => typed("bytes", &hex::encode(b)),
        Value::Array(a) => {
            let shown = a
                .elements
                .iter()
                .map(|e| show(&element_value(e), names))
                .collect();
            let list = |items: Vec<String>| format!("[{}]", items.join(", "));
            format!(
                "{{ array = {} }}",
                engine::pgarray::nest(&a.dims, shown, &list)
            )
        }
    }
}

fn matches(p: &Pattern, v: &Value) -> bool {
    match (p, v) {
        (Pattern::Any, _) => true,
        (Pattern::Exact(Value::Float(a)), Value::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
        (Pattern::Exact(e), v) => e == v,
    }
}

/// A value for `--json`: plain JSON for null, booleans, integers, floats and text; a
/// one-key object for the other variants, as in fixtures.
fn json_value(v: &Value) -> serde_json::Value {
    use serde_json::json;
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Float(f) if f.is_finite() => json!(f),
        Value::Float(f) => json!({ "float": f.to_string() }),
        Value::Text(s) => json!(s),
        Value::Numeric(s) => json!({ "numeric": s }),
        Value::Uuid(s) => json!({ "uuid": s }),
        Value::Date(s) => json!({ "date": s }),
        Value::Timestamp(s) => json!({ "timestamp": s }),
        Value::Timestamptz(s) => json!({ "timestamptz": s }),
        Value::Json(s) => json!({ "json": s }),
        Value::Bytes(b) => json!({ "bytes": hex::encode(b) }),
        Value::Array(a) => {
            let items = a
                .elements
                .iter()
                .map(|e| json_value(&element_value(e)))
                .collect();
            json!({ "array": engine::pgarray::nest(&a.dims, items, &serde_json::Value::Array) })
        }
    }
}

// --------------------------------------------------------------------------------- cases

/// What became of one case's row.
#[derive(Debug, Clone)]
enum Actual {
    Write(Vec<TargetRow>),
    Skip(String),
    Reject(String),
    Trap(String),
}

struct CaseResult {
    name: String,
    problems: Vec<String>,
    actual: Option<Actual>,
    names: Option<Names>,
}

impl CaseResult {
    fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn test_plugin(args: &TestArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.fixtures).map_err(|e| {
        Error::plan(format!(
            "cannot read fixtures {}: {e}",
            args.fixtures.display()
        ))
    })?;
    let file: FixtureFile = toml::from_str(&text).map_err(|e| {
        Error::plan(format!(
            "{} is not a fixture file: {e}",
            args.fixtures.display()
        ))
    })?;
    if file.cases.is_empty() {
        return Err(Error::plan(format!(
            "{} has no [[case]]: nothing to test",
            args.fixtures.display()
        ))
        .into());
    }
    let runtime = Runtime::new()?;
    let plugin = runtime
        .load(&args.plugin)
        .map_err(|e| Error::check(e.to_string()))?;
    let description = plugin
        .instantiate(Default::default(), "fixtures")
        .and_then(|mut i| i.describe())
        .map_err(|e| Error::check(format!("describe() failed: {e}")))?;
    let mut results = Vec::new();
    for case in &file.cases {
        let mut result = CaseResult {
            name: case.name.clone(),
            problems: Vec::new(),
            actual: None,
            names: None,
        };
        match prepare(&file, case, &description) {
            Err(problems) => result.problems = problems,
            Ok((row, ids)) => {
                let names = Names::new(&description, &row, &ids.migrated_and_skipped());
                let maps = Arc::new(IdMaps::in_memory(
                    &description.resolves,
                    &ids.migrated,
                    &ids.skipped,
                ));
                let actual = run_case(&plugin, &description, maps, row);
                result.problems = compare(&case.expect, &actual, &description, &names);
                result.actual = Some(actual);
                result.names = Some(names);
            }
        }
        results.push(result);
    }
    let failed = results.iter().filter(|r| !r.ok()).count();
    if args.json {
        print_json(args, &plugin, &description, &results)?;
    } else {
        print_text(args, &plugin, &description, &results);
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(Error::check(format!(
            "{failed} of {} fixture case(s) failed in {}",
            results.len(),
            args.fixtures.display()
        ))
        .into())
    }
}

struct CaseIds {
    migrated: Vec<(String, Key)>,
    skipped: Vec<(String, Key, String)>,
}

impl CaseIds {
    fn migrated_and_skipped(&self) -> Vec<(String, Key)> {
        self.migrated
            .iter()
            .cloned()
            .chain(self.skipped.iter().map(|(e, k, _)| (e.clone(), k.clone())))
            .collect()
    }
}

/// The case's source row in `reads` order and its id-map contents, or what is wrong with
/// the case.
fn prepare(
    file: &FixtureFile,
    case: &Case,
    description: &Description,
) -> Result<(Vec<Value>, CaseIds), Vec<String>> {
    let mut problems = Vec::new();
    for name in case.input.keys() {
        if !description.reads.contains(name) {
            problems.push(format!(
                "fixture: input column `{name}` is not read by the plugin (describe().reads: {})",
                description.reads.join(", ")
            ));
        }
    }
    let mut row = Vec::with_capacity(description.reads.len());
    for column in &description.reads {
        match case.input.get(column).map(parse_value) {
            None => row.push(Value::Null),
            Some(Ok(Pattern::Exact(v))) => row.push(v),
            Some(Ok(Pattern::Any)) => problems.push(format!(
                "fixture: input.{column}: \"@any\" is only for expectations"
            )),
            Some(Err(e)) => problems.push(format!("fixture: input.{column}: {e}")),
        }
    }
    let mut ids = CaseIds {
        migrated: Vec::new(),
        skipped: Vec::new(),
    };
    let undeclared = |section: &str, entity: &str| {
        format!(
            "fixture: {section}.{entity}: the plugin does not resolve `{entity}` (describe().resolves: [{}]), so the runner would not load its ids",
            description.resolves.join(", ")
        )
    };
    for (entity, list) in file.migrated.iter().chain(&case.migrated) {
        if !description.resolves.contains(entity) {
            problems.push(undeclared("migrated", entity));
        }
        ids.migrated
            .extend(list.iter().map(|k| (entity.clone(), k.key())));
    }
    for (entity, rows) in file.skipped.iter().chain(&case.skipped) {
        if !description.resolves.contains(entity) {
            problems.push(undeclared("skipped", entity));
        }
        match rows {
            SkippedRows::Ids(list) => ids.skipped.extend(
                list.iter()
                    .map(|k| (entity.clone(), k.key(), DEFAULT_SKIP_REASON.to_string())),
            ),
            SkippedRows::Reasons(map) => ids.skipped.extend(
                map.iter()
                    .map(|(key, reason)| (entity.clone(), Key::from_stored(key), reason.clone())),
            ),
        }
    }
    if problems.is_empty() {
        Ok((row, ids))
    } else {
        Err(problems)
    }
}

fn run_case(
    plugin: &engine::wasm::Plugin,
    description: &Description,
    maps: Arc<IdMaps>,
    row: Vec<Value>,
) -> Actual {
    let outcome = plugin
        .instantiate(maps, &description.source_table)
        .and_then(|mut instance| instance.transform(&[row]));
    let outcome = match outcome {
        Ok(mut outcomes) => outcomes.remove(0),
        Err(PluginError::Trap { message, .. }) => return Actual::Trap(message),
        Err(other) => return Actual::Trap(other.to_string()),
    };
    match outcome {
        Outcome::Skip(reason) => Actual::Skip(reason),
        Outcome::Reject(reason) => Actual::Reject(reason),
        Outcome::Write(rows) => {
            // The runner's own contract checks (the target schema's are left to `host check`).
            for r in &rows {
                let Some(declared) = description.writes.iter().find(|w| w.table == r.table) else {
                    return Actual::Reject(format!(
                        "plugin emitted a row for table `{}`, which its describe() does not declare",
                        r.table
                    ));
                };
                if declared.columns.len() != r.values.len() {
                    return Actual::Reject(format!(
                        "plugin emitted {} values for {}, which declares {} columns",
                        r.values.len(),
                        r.table,
                        declared.columns.len()
                    ));
                }
            }
            Actual::Write(rows)
        }
    }
}

fn expect_text(expect: &Expect) -> String {
    match expect {
        Expect::Write(rows) => format!("write {} row(s)", rows.len()),
        Expect::Skip(s) => format!("skip with a reason containing {s:?}"),
        Expect::Reject(s) => format!("reject with a reason containing {s:?}"),
        Expect::Trap(s) => format!("trap with a message containing {s:?}"),
    }
}

fn actual_text(actual: &Actual) -> String {
    match actual {
        Actual::Write(rows) => format!("write {} row(s)", rows.len()),
        Actual::Skip(s) => format!("skip {s:?}"),
        Actual::Reject(s) => format!("reject {s:?}"),
        Actual::Trap(s) => format!("trap {s:?}"),
    }
}

/// What differs between the expectation and the outcome; empty when the case passes.
fn compare(
    expect: &Expect,
    actual: &Actual,
    description: &Description,
    names: &Names,
) -> Vec<String> {
    let mismatch = || {
        vec![format!(
            "expected {}, got {}",
            expect_text(expect),
            actual_text(actual)
        )]
    };
    match (expect, actual) {
        (Expect::Skip(want), Actual::Skip(got))
        | (Expect::Reject(want), Actual::Reject(got))
        | (Expect::Trap(want), Actual::Trap(got)) => {
            if got.contains(want.as_str()) {
                Vec::new()
            } else {
                mismatch()
            }
        }
        (Expect::Write(want), Actual::Write(got)) => compare_rows(want, got, description, names),
        _ => mismatch(),
    }
}

fn compare_rows(
    want: &[ExpectRow],
    got: &[TargetRow],
    description: &Description,
    names: &Names,
) -> Vec<String> {
    let mut problems = Vec::new();
    if want.len() != got.len() {
        problems.push(format!(
            "expected {} row(s) ({}), got {} ({})",
            want.len(),
            want.iter()
                .map(|r| r.table.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            got.len(),
            got.iter()
                .map(|r| r.table.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (n, expected) in want.iter().enumerate() {
        let at = format!("row {} ({})", n + 1, expected.table);
        let Some(declared) = description
            .writes
            .iter()
            .find(|w| w.table == expected.table)
        else {
            problems.push(format!(
                "fixture: {at}: the plugin does not write `{}` (describe().writes: {})",
                expected.table,
                description
                    .writes
                    .iter()
                    .map(|w| w.table.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            continue;
        };
        for column in expected.values.keys() {
            if !declared.columns.contains(column) {
                problems.push(format!(
                    "fixture: {at}: `{column}` is not a column the plugin writes to {} ({})",
                    expected.table,
                    declared.columns.join(", ")
                ));
            }
        }
        let Some(actual) = got.get(n) else { continue };
        if actual.table != expected.table {
            problems.push(format!(
                "{at}: expected a row for {}, got one for {}",
                expected.table, actual.table
            ));
            continue;
        }
        for (column, value) in declared.columns.iter().zip(&actual.values) {
            let pattern = match expected.values.get(column).map(parse_value) {
                None => Pattern::Exact(Value::Null),
                Some(Ok(p)) => p,
                Some(Err(e)) => {
                    problems.push(format!("fixture: {at}.{column}: {e}"));
                    continue;
                }
            };
            if !matches(&pattern, value) {
                // The expectation as the fixture wrote it (left out: NULL).
                let written = expected
                    .values
                    .get(column)
                    .map_or_else(|| "\"@null\" (left out)".to_string(), |v| v.to_string());
                problems.push(format!(
                    "{at}.{column}: expected {written}, got {}",
                    show(value, names)
                ));
            }
        }
    }
    problems
}

/// The actual outcome as an `expect = ...` line of a fixture file.
fn actual_as_fixture(actual: &Actual, description: &Description, names: &Names) -> String {
    let quoted = |s: &str| toml::Value::String(s.to_string()).to_string();
    match actual {
        Actual::Skip(s) => format!("expect = {{ skip = {} }}", quoted(s)),
        Actual::Reject(s) => format!("expect = {{ reject = {} }}", quoted(s)),
        Actual::Trap(s) => format!("expect = {{ trap = {} }}", quoted(s)),
        Actual::Write(rows) => {
            let mut out = String::from("expect = { write = [\n");
            for r in rows {
                let columns = description
                    .writes
                    .iter()
                    .find(|w| w.table == r.table)
                    .map(|w| w.columns.clone())
                    .unwrap_or_default();
                let values: Vec<String> = columns
                    .iter()
                    .zip(&r.values)
                    .filter(|(_, v)| !matches!(v, Value::Null))
                    .map(|(c, v)| format!("{c} = {}", show(v, names)))
                    .collect();
                let _ = writeln!(
                    out,
                    "  {{ table = {}, values = {{ {} }} }},",
                    quoted(&r.table),
                    values.join(", ")
                );
            }
            out.push_str("] }");
            out
        }
    }
}

fn print_text(
    args: &TestArgs,
    plugin: &engine::wasm::Plugin,
    description: &Description,
    results: &[CaseResult],
) {
    println!(
        "{} ({}, sha256 {}) on {}",
        description.source_table,
        args.plugin.display(),
        plugin.short_hash(),
        args.fixtures.display()
    );
    for r in results {
        if r.ok() {
            println!("  ok    {}", r.name);
            continue;
        }
        println!("  FAIL  {}", r.name);
        for p in &r.problems {
            println!("        {p}");
        }
        if let (Some(actual), Some(names)) = (&r.actual, &r.names) {
            println!("        actual outcome, in fixture syntax:");
            for line in actual_as_fixture(actual, description, names).lines() {
                println!("          {line}");
            }
        }
    }
    let failed = results.iter().filter(|r| !r.ok()).count();
    if failed == 0 {
        println!("all {} case(s) ok", results.len());
    } else {
        println!("{failed} of {} case(s) FAILED", results.len());
    }
}

fn print_json(
    args: &TestArgs,
    plugin: &engine::wasm::Plugin,
    description: &Description,
    results: &[CaseResult],
) -> anyhow::Result<()> {
    use serde_json::json;
    let cases: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            let actual = r.actual.as_ref().map(|a| match a {
                Actual::Skip(s) => json!({ "skip": s }),
                Actual::Reject(s) => json!({ "reject": s }),
                Actual::Trap(s) => json!({ "trap": s }),
                Actual::Write(rows) => json!({ "write": rows.iter().map(|row| {
                    let columns = description.writes.iter().find(|w| w.table == row.table)
                        .map(|w| w.columns.clone()).unwrap_or_default();
                    let values: serde_json::Map<String, serde_json::Value> = columns.iter()
                        .zip(&row.values)
                        .map(|(c, v)| (c.clone(), json_value(v)))
                        .collect();
                    json!({ "table": row.table, "values": values })
                }).collect::<Vec<_>>() }),
            });
            json!({ "name": r.name, "ok": r.ok(), "problems": r.problems, "actual": actual })
        })
        .collect();
    let failed = results.iter().filter(|r| !r.ok()).count();
    let report = json!({
        "plugin": args.plugin.display().to_string(),
        "sha256": plugin.sha256,
        "source_table": description.source_table,
        "fixtures": args.fixtures.display().to_string(),
        "ok": failed == 0,
        "passed": results.len() - failed,
        "failed": failed,
        "cases": cases,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

#[cfg(test)]
mod table_name_tests {
    use super::*;

    fn names(arg: &str) -> (Option<String>, String, String, String) {
        let n = TableNames::parse(arg).unwrap();
        (n.schema, n.table, n.crate_name, n.type_name)
    }

    #[test]
    fn any_table_name_gives_a_crate_and_a_type() {
        let s = |x: &str| x.to_string();
        assert_eq!(
            names("orders"),
            (None, s("orders"), s("orders"), s("Orders"))
        );
        assert_eq!(
            names("lab_results"),
            (None, s("lab_results"), s("lab-results"), s("LabResults"))
        );
        assert_eq!(
            names("OrderItems"),
            (None, s("OrderItems"), s("order-items"), s("OrderItems"))
        );
        assert_eq!(
            names("\"Order Items\""),
            (None, s("Order Items"), s("order-items"), s("OrderItems"))
        );
        assert_eq!(
            names("sales.OrderLines"),
            (
                Some(s("sales")),
                s("OrderLines"),
                s("order-lines"),
                s("OrderLines")
            )
        );
        assert_eq!(
            names("\"my.schema\".\"a\"\"b\""),
            (Some(s("my.schema")), s("a\"b"), s("a-b"), s("AB"))
        );
        assert_eq!(
            names("2fa_codes"),
            (
                None,
                s("2fa_codes"),
                s("table-2fa-codes"),
                s("Table2faCodes")
            )
        );
        assert_eq!(names("HTTPLog").2, "httplog");
    }

    #[test]
    fn array_fixtures_read_and_print_back() {
        let read = |text: &str| {
            let doc: toml::Table = toml::from_str(&format!("v = {text}")).unwrap();
            parse_value(&doc["v"])
        };
        let Ok(Pattern::Exact(value)) = read(r#"{ array = [[1, "@null"], [3, 4]] }"#) else {
            panic!("not read")
        };
        assert_eq!(
            value,
            Value::Array(Array {
                dims: vec![2, 2],
                elements: vec![
                    engine::wasm::Element::Int(1),
                    engine::wasm::Element::Null,
                    engine::wasm::Element::Int(3),
                    engine::wasm::Element::Int(4)
                ],
            })
        );
        let names = Names {
            candidates: BTreeMap::new(),
        };
        assert_eq!(
            show(&value, &names),
            r#"{ array = [[1, "@null"], [3, 4]] }"#
        );
        assert_eq!(
            json_value(&value),
            serde_json::json!({ "array": [[1, null], [3, 4]] })
        );
        let Ok(Pattern::Exact(empty)) = read("{ array = [] }") else {
            panic!("not read")
        };
        assert_eq!(show(&empty, &names), "{ array = [] }");
        for bad in [
            "{ array = [[1, 2], [3]] }",
            "{ array = [1, [2]] }",
            r#"{ array = ["@any"] }"#,
            "{ array = 1 }",
            "[1, 2]",
        ] {
            assert!(read(bad).is_err(), "{bad} was read");
        }
    }

    #[test]
    fn names_that_cannot_be_refused_with_why() {
        for bad in ["", "a.b.c", "\"open", "a..b", "***", "sdk"] {
            assert!(TableNames::parse(bad).is_err(), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Pattern, String> {
        let table: toml::Table = toml::from_str(&format!("v = {text}")).unwrap();
        parse_value(&table["v"])
    }

    fn exact(text: &str) -> Value {
        match parse(text).unwrap() {
            Pattern::Exact(v) => v,
            Pattern::Any => panic!("@any"),
        }
    }

    #[test]
    fn fixture_values() {
        assert_eq!(exact("1"), Value::Int(1));
        assert_eq!(exact("\"x\""), Value::Text("x".into()));
        assert_eq!(exact("true"), Value::Boolean(true));
        assert_eq!(exact("1.5"), Value::Float(1.5));
        assert_eq!(exact("\"@null\""), Value::Null);
        assert_eq!(exact("{ null = true }"), Value::Null);
        assert_eq!(
            exact("{ numeric = \"12.50\" }"),
            Value::Numeric("12.50".into())
        );
        assert_eq!(exact("{ numeric = 12 }"), Value::Numeric("12".into()));
        assert_eq!(exact("{ text = \"@x\" }"), Value::Text("@x".into()));
        assert_eq!(
            exact("{ bytes = \"\\\\x01ff\" }"),
            Value::Bytes(vec![1, 255])
        );
        assert_eq!(exact("2019-03-07"), Value::Date("2019-03-07".into()));
        assert_eq!(
            exact("2019-03-07 14:05:00.120"),
            Value::Timestamp("2019-03-07 14:05:00.12".into())
        );
        assert_eq!(
            exact("2019-03-07T14:05:00Z"),
            Value::Timestamptz("2019-03-07 14:05:00+00".into())
        );
        assert_eq!(
            exact("\"@offices:1\""),
            Value::Uuid(idmap::mint("offices", &Key::Int(1)).to_string())
        );
        assert_eq!(
            exact("{ uuid = \"@order_status_history:2:5\" }"),
            Value::Uuid(idmap::mint("order_status_history:2", &Key::Int(5)).to_string())
        );
        assert!(matches!(parse("\"@any\""), Ok(Pattern::Any)));
        assert!(parse("\"@nope\"").is_err());
        assert!(parse("{ money = \"1\" }").is_err());
        assert!(parse("{ int = 1, text = \"x\" }").is_err());
        assert!(parse("[1]").is_err());
    }

    #[test]
    fn shows_values_as_fixtures_write_them() {
        let description = Description {
            source_table: "orders".into(),
            reads: vec!["id".into()],
            writes: vec![],
            resolves: vec!["patients".into()],
        };
        let names = Names::new(
            &description,
            &[Value::Int(5)],
            &[("patients".into(), Key::Int(4))],
        );
        let show = |v: Value| show(&v, &names);
        assert_eq!(
            show(Value::Uuid(idmap::mint("orders", &Key::Int(5)).to_string())),
            "\"@orders:5\""
        );
        assert_eq!(
            show(Value::Uuid(
                idmap::mint("patients", &Key::Int(4)).to_string()
            )),
            "\"@patients:4\""
        );
        assert_eq!(
            show(Value::Uuid(
                idmap::mint("orders:2", &Key::Int(5)).to_string()
            )),
            "\"@orders:2:5\""
        );
        assert_eq!(
            show(Value::Numeric("1.50".into())),
            "{ numeric = \"1.50\" }"
        );
        assert_eq!(show(Value::Null), "\"@null\"");
        // TOML literal strings where they read better.
        assert_eq!(show(Value::Text("a\"b".into())), "'a\"b'");
    }
}
