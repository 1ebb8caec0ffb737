//! The README's main job at the scales it offers: `scripts/lab.sh` with SCALE below 1 must pass
//! the repository's plan with its real limits (max_reject_rate 2% per table; validate above 98%
//! overall and 99% for the core entities), as scale 1 does.

use crate::support::*;

/// What scripts/lab.sh does: generate, seed the target as the old scripts left it, check, run,
/// validate; `host run` and `host validate` must both exit 0. Returns validate's success rates.
fn lab_passes(scale: &str, seed: &str) -> String {
    let cluster = Cluster::shared();
    let legacy = legacy_db_seeded(cluster, scale, seed);
    let target = cluster.fresh_db("lab");
    let (source_url, target_url) = (cluster.url(&legacy), cluster.url(&target));
    let plan = real_lab_plan(
        &temp_dir(&format!("lab-scale-{scale}-seed-{seed}")),
        &source_url,
        &target_url,
    );
    let plan = plan.to_str().unwrap();
    seed_lab_target(&source_url, &target_url, plan);
    host_ok(&["check", plan]);
    let run = host(&["run", plan]).output().unwrap();
    let validate = host(&["validate", plan, "--json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&validate.stdout).unwrap_or_default();
    let checks = report["checks"].as_array().cloned().unwrap_or_default();
    let line = |c: &serde_json::Value| {
        let text = |key: &str| c[key].as_str().unwrap_or("(all)").to_string();
        format!("{} {}: {}", text("table"), text("check"), text("detail"))
    };
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c["ok"] == false)
        .map(line)
        .collect();
    assert!(
        run.status.success(),
        "scale {scale} seed {seed}: host run exited {:?}\n{}",
        run.status.code(),
        String::from_utf8_lossy(&run.stderr)
            .lines()
            .filter(|l| !l.contains(" INFO "))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        validate.status.success() && failed.is_empty(),
        "scale {scale} seed {seed}: host validate exited {:?}\n{}\n{}",
        validate.status.code(),
        failed.join("\n"),
        String::from_utf8_lossy(&validate.stderr)
    );
    let rates: Vec<String> = checks
        .iter()
        .filter(|c| {
            c["check"]
                .as_str()
                .is_some_and(|k| k.ends_with("success_rate"))
        })
        .map(line)
        .collect();
    rates.join("; ")
}

/// The scales the README offers below 1, each with the lab's default seed (42) and the tests'
/// seed (7): one dirty parent must not take more than its share of children with it.
#[test]
fn lab_passes_its_real_limits_at_small_scales() {
    for (scale, seed) in [
        ("0.01", "42"),
        ("0.01", "7"),
        ("0.02", "42"),
        ("0.05", "42"),
        ("0.05", "7"),
        ("0.1", "7"),
    ] {
        let rates = lab_passes(scale, seed);
        println!("scale {scale} seed {seed}: {rates}");
    }
}

/// A legacy duplicate the target refuses (the old admin screen allowed linking a doctor to the
/// same office twice; `UNIQUE (doctor_id, office_id)` takes one) is quarantined, and validate's
/// sample does not count it as a row that differs: it was never in the target. At scale 0.25,
/// seed 42 the generated data has one, and the lab failed validate on it.
#[test]
fn validate_sample_leaves_out_rows_the_target_refused() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    let target = cluster.fresh_db("refused_sample");
    let plan = write_plan(
        &temp_dir("refused_sample"),
        &cluster.url(&legacy),
        &cluster.url(&target),
        50,
        &["offices", "profiles", "doctors", "doctor_offices"],
    );
    let plan = plan.to_str().unwrap();
    let mut src = cluster.connect(&legacy);
    // A second link for a doctor and office that both migrate.
    let duplicated = src
        .execute(
            "INSERT INTO doctor_offices (doctor_id, office_id, is_primary, created_at)
             SELECT l.doctor_id, l.office_id, false, l.created_at FROM doctor_offices l
               JOIN doctors d ON d.id = l.doctor_id JOIN offices o ON o.id = l.office_id
              WHERE d.deleted_at IS NULL AND NOT o.is_deleted AND o.name IS NOT NULL
              ORDER BY l.id LIMIT 1",
            &[],
        )
        .unwrap();
    assert_eq!(duplicated, 1);
    host_ok(&["run", plan]);
    let mut tgt = cluster.connect(&target);
    let refused: i64 = tgt
        .query_one(
            "SELECT count(*) FROM migration.quarantine WHERE table_name = 'doctor_offices' AND reason LIKE 'target refused the row: duplicate key%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(refused, 1, "the duplicate link is refused by the target");
    let out = host(&["validate", plan, "--json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sample = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["table"] == "doctor_offices" && c["check"] == "sample")
        .cloned()
        .unwrap();
    assert_eq!(sample["ok"], true, "{sample:#}");
}
