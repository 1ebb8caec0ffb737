//! legacy `treatment_plans` -> `public.treatment_plans` + `public.treatment_plan_iprs` +
//! `public.treatment_plan_attachments`.
//!
//! Skips the plans of a skipped (soft-deleted) project. Rejects a plan without a project,
//! whose project was not migrated (orphan), or whose approving doctor is missing (orphan; a
//! soft-deleted doctor only drops the link, the legacy id is kept as {"approved_by": id}).
//! The legacy `order_id` / `patient_id` are copies of the project's order and its patient
//! and are not read. A NULL `is_approved` is written as "approved_at is set" and recorded as
//! {"is_approved": null}; a `revision` below 1 or a negative `step_count` is NULL and kept
//! raw. `plan_data` ({"upper_steps":n,"lower_steps":n,"ipr":[{"teeth":"12-11","mm":0.2}],
//! "attachments":[13,23]}) fills `upper_steps` / `lower_steps` and gives one IPR row and one
//! attachment row per entry; plan_data of any other shape gives none of these and is kept
//! raw as {"plan_data": "<raw>"}.

use lab_conventions::{is_fdi, opt_timestamptz};
use migrate_sdk::json::{self, Json};
use migrate_sdk::money::{fits, to_cents};
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `treatment_plans`, in the order rows carry them (the key first).
    pub struct LegacyTreatmentPlans from "treatment_plans" {
        id: Key,
        project_id: Int,
        revision: Int,
        is_approved: Bool,
        approved_by: Int,
        approved_at: Text,
        step_count: Int,
        plan_data: Text,
        notes: Text,
        created_at: Text,
        updated_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `treatment_plans`.
    pub struct TreatmentPlansRow into "treatment_plans" {
        id: Value,
        legacy_id: Value,
        project_id: Value,
        revision: Value,
        is_approved: Value,
        approved_by: Value,
        approved_at: Value,
        step_count: Value,
        upper_steps: Value,
        lower_steps: Value,
        notes: Value,
        legacy_metadata: Value,
        created_at: Value,
        updated_at: Value,
    }
}

migrate_sdk::target! {
    /// A row of `treatment_plan_iprs`.
    pub struct TreatmentPlanIprsRow into "treatment_plan_iprs" {
        id: Value,
        treatment_plan_id: Value,
        position: Value,
        tooth_fdi: Value,
        adjacent_tooth_fdi: Value,
        amount_mm: Value,
    }
}

migrate_sdk::target! {
    /// A row of `treatment_plan_attachments`.
    pub struct TreatmentPlanAttachmentsRow into "treatment_plan_attachments" {
        id: Value,
        treatment_plan_id: Value,
        position: Value,
        tooth_fdi: Value,
    }
}

/// One interproximal reduction: between `tooth` and `adjacent`, `mm` as canonical decimal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipr {
    pub tooth: i64,
    pub adjacent: i64,
    pub mm: String,
}

/// What the legacy plan_data holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanData {
    pub upper_steps: Option<i64>,
    pub lower_steps: Option<i64>,
    pub ipr: Vec<Ipr>,
    pub attachments: Vec<i64>,
}

fn tooth(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.len() != 2 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok().filter(|&n| is_fdi(n))
}

fn steps(value: &Json, key: &str) -> Result<i64, String> {
    value
        .as_i64()
        .filter(|n| (0..=i64::from(i32::MAX)).contains(n))
        .ok_or(format!("{key} is not a count"))
}

/// Parses legacy `plan_data`. Keys may be missing (no steps recorded, no entries); an
/// unknown key, a value of the wrong kind, a tooth that is not an FDI number or an IPR
/// amount that is not a non-negative millimetre value exact to 0.01 fitting numeric(4,2) is
/// an error saying what was wrong.
pub fn parse_plan_data(text: &str) -> Result<PlanData, String> {
    let value = json::parse(text)?;
    let Json::Object(pairs) = &value else {
        return Err("not a JSON object".into());
    };
    let mut plan = PlanData::default();
    for (key, item) in pairs {
        match key.as_str() {
            "upper_steps" => plan.upper_steps = Some(steps(item, key)?),
            "lower_steps" => plan.lower_steps = Some(steps(item, key)?),
            "ipr" => {
                let entries = item.as_array().ok_or("ipr is not an array")?;
                plan.ipr = entries
                    .iter()
                    .enumerate()
                    .map(|(i, entry)| {
                        let Json::Object(fields) = entry else {
                            return Err(format!("ipr entry {i} is not an object"));
                        };
                        if fields.iter().any(|(k, _)| k != "teeth" && k != "mm") {
                            return Err(format!("ipr entry {i} has an unknown key"));
                        }
                        let teeth = entry
                            .get("teeth")
                            .and_then(Json::as_str)
                            .ok_or(format!("ipr entry {i}: no \"teeth\" text"))?;
                        let (a, b) = teeth
                            .split_once('-')
                            .and_then(|(a, b)| Some((tooth(a)?, tooth(b)?)))
                            .ok_or(format!(
                                "ipr entry {i}: teeth {teeth:?} are not two FDI teeth"
                            ))?;
                        let mm = match entry.get("mm") {
                            Some(Json::Number(n)) => to_cents(n, "mm")
                                .ok()
                                .filter(|mm| !mm.starts_with('-') && fits(mm, 4, 2)),
                            _ => None,
                        }
                        .ok_or(format!("ipr entry {i}: mm is not an amount"))?;
                        Ok(Ipr {
                            tooth: a,
                            adjacent: b,
                            mm,
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
            "attachments" => {
                let entries = item.as_array().ok_or("attachments is not an array")?;
                plan.attachments = entries
                    .iter()
                    .map(|t| {
                        t.as_i64()
                            .filter(|&n| is_fdi(n))
                            .ok_or(format!("attachment {t} is not an FDI tooth"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown key {other:?}")),
        }
    }
    Ok(plan)
}

#[derive(Default)]
pub struct TreatmentPlans;

impl Transform for TreatmentPlans {
    type Source = LegacyTreatmentPlans;
    const WRITES: &'static [Table] = &[
        TreatmentPlansRow::TABLE,
        TreatmentPlanIprsRow::TABLE,
        TreatmentPlanAttachmentsRow::TABLE,
    ];
    const RESOLVES: &'static [&'static str] = &["projects", "doctors"];

    fn transform_row(&mut self, input: LegacyTreatmentPlans) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let project = resolve("projects", input.project_id.require()?, "project_id")?;
        let approver_legacy = input.approved_by.get();
        let approver = resolve_optional("doctors", approver_legacy, "approved_by")?;

        let mut kept: Vec<(&str, Json)> = Vec::new();
        let revision = input.revision.get().filter(|&n| {
            if n < 1 {
                kept.push(("revision", Json::Number(n.to_string())));
            }
            n >= 1
        });
        let is_approved = input.is_approved.get().unwrap_or_else(|| {
            kept.push(("is_approved", Json::Null));
            !input.approved_at.is_null()
        });
        if let (Value::Null, Some(id)) = (&approver, approver_legacy) {
            // The approving doctor was soft-deleted: the link is gone, the legacy id stays.
            kept.push(("approved_by", Json::Number(id.to_string())));
        }
        let step_count = input.step_count.get().filter(|&n| {
            if n < 0 {
                kept.push(("step_count", Json::Number(n.to_string())));
            }
            n >= 0
        });
        let plan = match input.plan_data.get() {
            None => PlanData::default(),
            Some(text) if text.trim().is_empty() => PlanData::default(),
            Some(text) => parse_plan_data(text).unwrap_or_else(|_| {
                kept.push(("plan_data", Json::string(text)));
                PlanData::default()
            }),
        };
        let metadata = migrate_sdk::json::metadata(kept);

        let id = mint("treatment_plans", key);
        let mut rows = Vec::with_capacity(1 + plan.ipr.len() + plan.attachments.len());
        rows.push(
            TreatmentPlansRow {
                id: v::uuid(id.clone()),
                legacy_id: v::int(key),
                project_id: v::uuid(project),
                revision: v::opt_int(revision),
                is_approved: v::boolean(is_approved),
                approved_by: approver,
                approved_at: opt_timestamptz(input.approved_at.get()),
                step_count: v::opt_int(step_count),
                upper_steps: v::opt_int(plan.upper_steps),
                lower_steps: v::opt_int(plan.lower_steps),
                notes: v::opt_text(input.notes.get().filter(|s| !s.trim().is_empty())),
                legacy_metadata: metadata,
                created_at: opt_timestamptz(input.created_at.get()),
                updated_at: opt_timestamptz(input.updated_at.get()),
            }
            .into(),
        );
        for (i, ipr) in plan.ipr.into_iter().enumerate() {
            let position = i as i64 + 1;
            rows.push(
                TreatmentPlanIprsRow {
                    id: v::uuid(mint(&format!("treatment_plan_iprs:{position}"), key)),
                    treatment_plan_id: v::uuid(id.clone()),
                    position: v::int(position),
                    tooth_fdi: v::int(ipr.tooth),
                    adjacent_tooth_fdi: v::int(ipr.adjacent),
                    amount_mm: v::numeric(ipr.mm),
                }
                .into(),
            );
        }
        for (i, tooth) in plan.attachments.into_iter().enumerate() {
            let position = i as i64 + 1;
            rows.push(
                TreatmentPlanAttachmentsRow {
                    id: v::uuid(mint(&format!("treatment_plan_attachments:{position}"), key)),
                    treatment_plan_id: v::uuid(id.clone()),
                    position: v::int(position),
                    tooth_fdi: v::int(tooth),
                }
                .into(),
            );
        }
        Ok(rows)
    }
}

migrate_sdk::plugin!(TreatmentPlans);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    const PLAN: &str = r#"{"upper_steps":12,"lower_steps":9,"ipr":[{"teeth":"12-11","mm":0.2},{"teeth":"13-12","mm":0.25}],"attachments":[13,23,13]}"#;

    fn plan(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(30)),
            ("project_id", v::int(12)),
            ("revision", v::int(2)),
            ("is_approved", v::boolean(true)),
            ("approved_by", v::int(7)),
            (
                "approved_at",
                Value::Timestamp("2019-03-09 10:00:00".into()),
            ),
            ("step_count", v::int(12)),
            ("plan_data", v::text(PLAN)),
            ("notes", v::text("  ")),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<TreatmentPlans>(&row)
    }

    #[test]
    fn migrates_a_plan_with_its_data() {
        migrated("projects", &[12]);
        migrated("doctors", &[7]);
        let rows = plan(&[]).unwrap();
        assert_eq!(rows.len(), 6);
        let r = &rows[0];
        assert_eq!(
            get::<TreatmentPlans>(r, "id"),
            &v::uuid(uuid("treatment_plans", 30))
        );
        assert_eq!(
            get::<TreatmentPlans>(r, "project_id"),
            &v::uuid(uuid("projects", 12))
        );
        assert_eq!(get::<TreatmentPlans>(r, "revision"), &v::int(2));
        assert_eq!(get::<TreatmentPlans>(r, "is_approved"), &v::boolean(true));
        assert_eq!(
            get::<TreatmentPlans>(r, "approved_by"),
            &v::uuid(uuid("doctors", 7))
        );
        assert_eq!(get::<TreatmentPlans>(r, "step_count"), &v::int(12));
        assert_eq!(get::<TreatmentPlans>(r, "upper_steps"), &v::int(12));
        assert_eq!(get::<TreatmentPlans>(r, "lower_steps"), &v::int(9));
        assert_eq!(get::<TreatmentPlans>(r, "notes"), &Value::Null);
        assert_eq!(get::<TreatmentPlans>(r, "legacy_metadata"), &Value::Null);
        assert_eq!(
            rows[2].values,
            vec![
                v::uuid(uuid("treatment_plan_iprs:2", 30)),
                v::uuid(uuid("treatment_plans", 30)),
                v::int(2),
                v::int(13),
                v::int(12),
                v::numeric("0.25"),
            ]
        );
        assert_eq!(rows[1].values[5], v::numeric("0.20"));
        assert_eq!(
            rows[5].values,
            vec![
                v::uuid(uuid("treatment_plan_attachments:3", 30)),
                v::uuid(uuid("treatment_plans", 30)),
                v::int(3),
                v::int(13),
            ]
        );
        let unapproved = plan(&[
            ("is_approved", v::boolean(false)),
            ("approved_by", Value::Null),
            ("approved_at", Value::Null),
            ("plan_data", Value::Null),
            ("step_count", Value::Null),
        ])
        .unwrap();
        assert_eq!(unapproved.len(), 1);
        let r = &unapproved[0];
        assert_eq!(get::<TreatmentPlans>(r, "approved_by"), &Value::Null);
        assert_eq!(get::<TreatmentPlans>(r, "upper_steps"), &Value::Null);
        assert_eq!(get::<TreatmentPlans>(r, "legacy_metadata"), &Value::Null);
    }

    #[test]
    fn keeps_what_did_not_convert() {
        migrated("projects", &[12]);
        skipped_rows("doctors", &[7]);
        let rows = plan(&[
            ("is_approved", Value::Null),
            ("revision", v::int(0)),
            ("plan_data", v::text("{\"upper_steps\":12,")),
        ])
        .unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(get::<TreatmentPlans>(r, "approved_by"), &Value::Null);
        assert_eq!(get::<TreatmentPlans>(r, "is_approved"), &v::boolean(true));
        assert_eq!(get::<TreatmentPlans>(r, "revision"), &Value::Null);
        assert_eq!(get::<TreatmentPlans>(r, "upper_steps"), &Value::Null);
        assert_eq!(
            get::<TreatmentPlans>(r, "legacy_metadata"),
            &Value::Json(
                r#"{"revision":0,"is_approved":null,"approved_by":7,"plan_data":"{\"upper_steps\":12,"}"#
                    .into()
            )
        );
    }

    #[test]
    fn skips_and_rejects() {
        migrated("projects", &[12]);
        migrated("doctors", &[7]);
        skipped_rows("projects", &[13]);
        assert!(matches!(
            plan(&[("project_id", v::int(13))]),
            Err(Fate::Skip(_))
        ));
        assert!(
            matches!(plan(&[("project_id", v::int(14))]), Err(Fate::Reject(r)) if r.contains("project_id=14"))
        );
        assert!(
            matches!(plan(&[("project_id", Value::Null)]), Err(Fate::Reject(r)) if r.contains("project_id"))
        );
        assert!(
            matches!(plan(&[("approved_by", v::int(8))]), Err(Fate::Reject(r)) if r.contains("approved_by=8"))
        );
    }

    #[test]
    fn plan_data() {
        let p = parse_plan_data(r#"{"upper_steps":0,"lower_steps":0,"ipr":[],"attachments":[]}"#)
            .unwrap();
        assert_eq!(
            p,
            PlanData {
                upper_steps: Some(0),
                lower_steps: Some(0),
                ipr: vec![],
                attachments: vec![]
            }
        );
        assert_eq!(parse_plan_data("{}").unwrap(), PlanData::default());
        let p = parse_plan_data(r#"{"ipr":[{"mm":0.4,"teeth":" 14-13"}]}"#).unwrap();
        assert_eq!(
            p.ipr,
            vec![Ipr {
                tooth: 14,
                adjacent: 13,
                mm: "0.40".into()
            }]
        );
        for bad in [
            "[]",
            "not json",
            r#"{"upper_steps":-1}"#,
            r#"{"upper_steps":1.5}"#,
            r#"{"upper_steps":"3"}"#,
            r#"{"extra":1}"#,
            r#"{"ipr":{}}"#,
            r#"{"ipr":[{"teeth":"12-11"}]}"#,
            r#"{"ipr":[{"teeth":"12-11","mm":-0.2}]}"#,
            r#"{"ipr":[{"teeth":"12-11","mm":0.125}]}"#,
            r#"{"ipr":[{"teeth":"12-11","mm":"0.2"}]}"#,
            r#"{"ipr":[{"teeth":"12-11","mm":100}]}"#,
            r#"{"ipr":[{"teeth":"12","mm":0.2}]}"#,
            r#"{"ipr":[{"teeth":"12-19","mm":0.2}]}"#,
            r#"{"ipr":[{"teeth":"12-11","mm":0.2,"note":"x"}]}"#,
            r#"{"attachments":[13,"23"]}"#,
            r#"{"attachments":[99]}"#,
        ] {
            assert!(parse_plan_data(bad).is_err(), "accepted {bad}");
        }
    }
}
