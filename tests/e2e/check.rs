//! `host check` golden tests: each `tests/golden/check/<case>.toml` is a plan, checked
//! against a legacy database (schema only) and a target database (schema/target.sql),
//! optionally altered by `<case>.source.sql` / `<case>.target.sql`; the exit code and output
//! must equal `<case>.out`. `UPDATE_GOLDEN=1` rewrites the expected files that differ, and
//! the test still fails (review the rewrite, then run it again without); on CI it is refused.

use std::path::Path;

use crate::support::*;

fn normalize(text: &str, replacements: &[(String, &str)]) -> String {
    let mut out = text.to_string();
    for (from, to) in replacements {
        out = out.replace(from.as_str(), to);
    }
    // Plugin hashes change with every rebuild.
    let re = regex::Regex::new(r"\[plugin [0-9a-f]{12}\]").unwrap();
    re.replace_all(&out, "[plugin HASH]").into_owned()
}

#[test]
fn check_golden() {
    let cluster = Cluster::shared();
    let golden = repo_root().join("tests/golden/check");
    let legacy_sql = std::fs::read_to_string(repo_root().join("schema/legacy.sql")).unwrap();
    let target_sql = std::fs::read_to_string(repo_root().join("schema/target.sql")).unwrap();
    let mut cases: Vec<_> = std::fs::read_dir(&golden)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 6,
        "golden cases missing in {}",
        golden.display()
    );
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    assert!(
        !(update && std::env::var_os("CI").is_some()),
        "UPDATE_GOLDEN is refused on CI: golden files are rewritten by a person, who reviews the diff"
    );
    let mut rewritten = Vec::new();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_stem().unwrap().to_str().unwrap();
        let legacy = cluster.fresh_db("golden_legacy");
        let target = cluster.fresh_db("golden_target");
        cluster.connect(&legacy).batch_execute(&legacy_sql).unwrap();
        cluster.connect(&target).batch_execute(&target_sql).unwrap();
        for (side, db) in [("source", &legacy), ("target", &target)] {
            let extra = golden.join(format!("{name}.{side}.sql"));
            if extra.exists() {
                cluster
                    .connect(db)
                    .batch_execute(&std::fs::read_to_string(&extra).unwrap())
                    .unwrap();
            }
        }
        let dir = temp_dir("golden");
        let plugins = repo_root().join("plugins/dist");
        let text = std::fs::read_to_string(case)
            .unwrap()
            .replace("@SOURCE@", &cluster.url(&legacy))
            .replace("@TARGET@", &cluster.url(&target))
            .replace("@PLUGINS@", plugins.to_str().unwrap())
            .replace("@DIR@", dir.to_str().unwrap())
            .replace("@CLUSTER@", &format!("127.0.0.1:{}", cluster.port));
        let plan = dir.join(format!("{name}.toml"));
        std::fs::write(&plan, text).unwrap();
        let out = host(&["check", plan.to_str().unwrap()]).output().unwrap();
        let replacements = [
            (cluster.url(&legacy), "@SOURCE@"),
            (cluster.url(&target), "@TARGET@"),
            (plugins.display().to_string(), "@PLUGINS@"),
            (dir.display().to_string(), "@DIR@"),
            (format!("127.0.0.1:{}", cluster.port), "@CLUSTER@"),
            (legacy.clone(), "@LEGACY_DB@"),
            (target.clone(), "@TARGET_DB@"),
        ];
        let actual = format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            out.status.code().unwrap_or(-1),
            normalize(&String::from_utf8_lossy(&out.stdout), &replacements),
            normalize(&String::from_utf8_lossy(&out.stderr), &replacements)
        );
        let expected_path = golden.join(format!("{name}.out"));
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if update {
            if expected != actual {
                std::fs::write(&expected_path, &actual).unwrap();
                rewritten.push(expected_path.display().to_string());
            }
            continue;
        }
        if expected != actual {
            failures.push(format!(
                "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
                expected_path.display()
            ));
        }
        let _ = Path::new(&dir);
    }
    // A run that rewrites never passes: the new files are only right once a person read them.
    assert!(
        !update,
        "UPDATE_GOLDEN is set, so nothing was compared; {} file(s) rewritten{}: review them (git diff tests/golden), then run the test again without UPDATE_GOLDEN",
        rewritten.len(),
        if rewritten.is_empty() { String::new() } else { format!(":\n{}", rewritten.join("\n")) }
    );
    assert!(
        failures.is_empty(),
        "golden mismatches (UPDATE_GOLDEN=1 rewrites them after review):\n{}",
        failures.join("\n")
    );
}
