//! legacy `jaws` -> `public.jaws` + `public.jaw_teeth`.
//!
//! Skips the jaws of a skipped (soft-deleted) order. Rejects a jaw without an order, whose
//! order or bracket was not migrated (orphan), or whose `jaw_type` is NULL or an unknown
//! code. `teeth` (comma-separated '13,12,11' before 2019, a JSON array '[13,12,11]' since)
//! becomes one `jaw_teeth` row per tooth; '' or NULL gives none. A teeth list that is not
//! FDI numbers or names a tooth twice, and an `arch_form` or `bonding` the enums do not
//! know, are written as NULL / no rows and kept raw in `legacy_metadata`.

use lab_conventions::{is_fdi, opt_timestamptz};
use migrate_sdk::json::Json;
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `jaws`, in the order rows carry them (the key first).
    pub struct LegacyJaws from "jaws" {
        id: Key,
        order_id: Int,
        jaw_type: Int,
        bracket_id: Int,
        teeth: Text,
        arch_form: Text,
        bonding: Text,
        created_at: Text,
        updated_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `jaws`.
    pub struct JawsRow into "jaws" {
        id: Value,
        legacy_id: Value,
        order_id: Value,
        jaw_type: Value,
        bracket_id: Value,
        arch_form: Value,
        bonding: Value,
        legacy_metadata: Value,
        created_at: Value,
        updated_at: Value,
    }
}

migrate_sdk::target! {
    /// A row of `jaw_teeth`.
    pub struct JawTeethRow into "jaw_teeth" {
        id: Value,
        jaw_id: Value,
        position: Value,
        tooth_fdi: Value,
    }
}

/// Legacy jaw_type code -> `jaw_type` label.
pub fn jaw_type(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "upper",
        2 => "lower",
        _ => return None,
    })
}

/// Legacy free-text arch form -> `arch_form` label: Ok(None) when blank or NULL, Err(raw)
/// when unknown.
pub fn arch_form(raw: Option<&str>) -> Result<Option<&'static str>, String> {
    let Some(text) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    for label in ["ovoid", "tapered", "square"] {
        if text.eq_ignore_ascii_case(label) {
            return Ok(Some(label));
        }
    }
    Err(raw.unwrap_or_default().to_string())
}

/// Legacy bonding side -> `bonding_surface` label: Ok(None) when blank or NULL, Err(raw)
/// when unknown.
pub fn bonding(raw: Option<&str>) -> Result<Option<&'static str>, String> {
    let Some(text) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    for label in ["labial", "lingual"] {
        if text.eq_ignore_ascii_case(label) {
            return Ok(Some(label));
        }
    }
    Err(raw.unwrap_or_default().to_string())
}

/// Parses legacy `teeth`: '13,12,11' or '[13,12,11]' (blanks around numbers allowed), in
/// the order written. Blank text is no teeth. Anything else, a number that is not an FDI
/// tooth, or a tooth named twice is an error.
pub fn parse_teeth(text: &str) -> Result<Vec<i64>, String> {
    let t = text.trim();
    let list = match t.strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']').ok_or("unclosed '['")?.trim(),
        None => t,
    };
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let mut teeth = Vec::with_capacity(16);
    for item in list.split(',') {
        let item = item.trim();
        if item.is_empty() || item.len() > 2 || !item.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{item:?} is not a tooth number"));
        }
        let n: i64 = item
            .parse()
            .map_err(|_| format!("{item:?} is not a tooth number"))?;
        if !is_fdi(n) {
            return Err(format!("{n} is not an FDI tooth"));
        }
        if teeth.contains(&n) {
            return Err(format!("tooth {n} is listed twice"));
        }
        teeth.push(n);
    }
    Ok(teeth)
}

#[derive(Default)]
pub struct Jaws;

impl Transform for Jaws {
    type Source = LegacyJaws;
    const WRITES: &'static [Table] = &[JawsRow::TABLE, JawTeethRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["orders", "brackets"];

    fn transform_row(&mut self, input: LegacyJaws) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let order = resolve("orders", input.order_id.require()?, "order_id")?;
        let code = input.jaw_type.require()?;
        let jaw_type =
            jaw_type(code).ok_or_else(|| Fate::reject(format!("unknown jaw_type code {code}")))?;
        let bracket = resolve_optional("brackets", input.bracket_id.get(), "bracket_id")?;

        let mut kept: Vec<(&str, Json)> = Vec::new();
        let teeth = match input.teeth.get() {
            None => Vec::new(),
            Some(text) => parse_teeth(text).unwrap_or_else(|_| {
                kept.push(("teeth", Json::string(text)));
                Vec::new()
            }),
        };
        let arch = arch_form(input.arch_form.get()).unwrap_or_else(|raw| {
            kept.push(("arch_form", Json::String(raw)));
            None
        });
        let side = bonding(input.bonding.get()).unwrap_or_else(|raw| {
            kept.push(("bonding", Json::String(raw)));
            None
        });
        let metadata = migrate_sdk::json::metadata(kept);

        let id = mint("jaws", key);
        let mut rows = Vec::with_capacity(1 + teeth.len());
        rows.push(
            JawsRow {
                id: v::uuid(id.clone()),
                legacy_id: v::int(key),
                order_id: v::uuid(order),
                jaw_type: v::text(jaw_type),
                bracket_id: bracket,
                arch_form: v::opt_text(arch),
                bonding: v::opt_text(side),
                legacy_metadata: metadata,
                created_at: opt_timestamptz(input.created_at.get()),
                updated_at: opt_timestamptz(input.updated_at.get()),
            }
            .into(),
        );
        for (i, tooth) in teeth.into_iter().enumerate() {
            let position = i as i64 + 1;
            rows.push(
                JawTeethRow {
                    id: v::uuid(mint(&format!("jaw_teeth:{position}"), key)),
                    jaw_id: v::uuid(id.clone()),
                    position: v::int(position),
                    tooth_fdi: v::int(tooth),
                }
                .into(),
            );
        }
        Ok(rows)
    }
}

migrate_sdk::plugin!(Jaws);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};
    use migrate_sdk::Value;

    fn jaw(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(6)),
            ("order_id", v::int(4)),
            ("jaw_type", v::int(1)),
            ("bracket_id", v::int(9)),
            ("teeth", v::text("[13,12,11,21,22,23]")),
            ("arch_form", v::text("Ovoid")),
            ("bonding", v::text("labial")),
            ("created_at", Value::Timestamp("2019-03-07 14:05:00".into())),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<Jaws>(&row)
    }

    #[test]
    fn migrates_a_jaw_with_teeth() {
        migrated("orders", &[4]);
        migrated("brackets", &[9]);
        let rows = jaw(&[]).unwrap();
        assert_eq!(rows.len(), 7);
        let r = &rows[0];
        assert_eq!(r.table, "jaws");
        assert_eq!(get::<Jaws>(r, "id"), &v::uuid(uuid("jaws", 6)));
        assert_eq!(get::<Jaws>(r, "order_id"), &v::uuid(uuid("orders", 4)));
        assert_eq!(get::<Jaws>(r, "jaw_type"), &v::text("upper"));
        assert_eq!(get::<Jaws>(r, "bracket_id"), &v::uuid(uuid("brackets", 9)));
        assert_eq!(get::<Jaws>(r, "arch_form"), &v::text("ovoid"));
        assert_eq!(get::<Jaws>(r, "bonding"), &v::text("labial"));
        assert_eq!(get::<Jaws>(r, "legacy_metadata"), &Value::Null);
        assert_eq!(
            rows[6].values,
            vec![
                v::uuid(uuid("jaw_teeth:6", 6)),
                v::uuid(uuid("jaws", 6)),
                v::int(6),
                v::int(23),
            ]
        );
        let csv = jaw(&[("teeth", v::text("43,42,41,31")), ("jaw_type", v::int(2))]).unwrap();
        assert_eq!(csv.len(), 5);
        assert_eq!(get::<Jaws>(&csv[0], "jaw_type"), &v::text("lower"));
        assert_eq!(csv[1].values[3], v::int(43));
        let aligner = jaw(&[
            ("bracket_id", Value::Null),
            ("teeth", v::text("")),
            ("arch_form", Value::Null),
        ])
        .unwrap();
        assert_eq!(aligner.len(), 1);
        assert_eq!(get::<Jaws>(&aligner[0], "bracket_id"), &Value::Null);
        assert_eq!(get::<Jaws>(&aligner[0], "arch_form"), &Value::Null);
        assert_eq!(get::<Jaws>(&aligner[0], "legacy_metadata"), &Value::Null);
    }

    #[test]
    fn keeps_what_did_not_convert() {
        migrated("orders", &[4]);
        migrated("brackets", &[9]);
        let rows = jaw(&[
            ("teeth", v::text("13,13,12")),
            ("arch_form", v::text("parabolic")),
            ("bonding", v::text("buccal")),
        ])
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(get::<Jaws>(&rows[0], "arch_form"), &Value::Null);
        assert_eq!(get::<Jaws>(&rows[0], "bonding"), &Value::Null);
        assert_eq!(
            get::<Jaws>(&rows[0], "legacy_metadata"),
            &Value::Json(
                r#"{"teeth":"13,13,12","arch_form":"parabolic","bonding":"buccal"}"#.into()
            )
        );
    }

    #[test]
    fn skips_and_rejects() {
        migrated("orders", &[4]);
        migrated("brackets", &[9]);
        skipped_rows("orders", &[5]);
        assert!(matches!(
            jaw(&[("order_id", v::int(5))]),
            Err(Fate::Skip(_))
        ));
        assert!(
            matches!(jaw(&[("order_id", v::int(7))]), Err(Fate::Reject(r)) if r.contains("order_id=7"))
        );
        assert!(
            matches!(jaw(&[("order_id", Value::Null)]), Err(Fate::Reject(r)) if r.contains("order_id"))
        );
        assert!(
            matches!(jaw(&[("bracket_id", v::int(8))]), Err(Fate::Reject(r)) if r.contains("bracket_id=8"))
        );
        assert_eq!(
            jaw(&[("jaw_type", v::int(3))]),
            Err(Fate::reject("unknown jaw_type code 3"))
        );
        assert!(
            matches!(jaw(&[("jaw_type", Value::Null)]), Err(Fate::Reject(r)) if r.contains("jaw_type"))
        );
    }

    #[test]
    fn teeth() {
        assert_eq!(parse_teeth("13,12,11,21").unwrap(), vec![13, 12, 11, 21]);
        assert_eq!(parse_teeth(" [ 45, 44 ,31 ] ").unwrap(), vec![45, 44, 31]);
        assert_eq!(parse_teeth("[]").unwrap(), Vec::<i64>::new());
        assert_eq!(parse_teeth("  ").unwrap(), Vec::<i64>::new());
        assert_eq!(parse_teeth("55,85").unwrap(), vec![55, 85]);
        for bad in [
            "13,,12",
            "13,12,",
            "[13,12",
            "13;12",
            "19",
            "10",
            "56",
            "90",
            "013",
            "13,13",
            "[13,\"12\"]",
            "1e1",
        ] {
            assert!(parse_teeth(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn codes() {
        assert_eq!(jaw_type(1), Some("upper"));
        assert_eq!(jaw_type(2), Some("lower"));
        assert_eq!(jaw_type(0), None);
        assert_eq!(arch_form(Some(" Square")), Ok(Some("square")));
        assert_eq!(arch_form(Some("TAPERED")), Ok(Some("tapered")));
        assert_eq!(arch_form(Some("")), Ok(None));
        assert_eq!(arch_form(None), Ok(None));
        assert_eq!(arch_form(Some("round")), Err("round".to_string()));
        assert_eq!(bonding(Some("Lingual")), Ok(Some("lingual")));
        assert_eq!(bonding(Some("both")), Err("both".to_string()));
    }
}
