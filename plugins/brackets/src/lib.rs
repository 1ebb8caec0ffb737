//! legacy `brackets` -> `public.brackets` (with the seeded `public.bracket_systems`).
//!
//! Rejects nothing and skips nothing: every catalog entry migrates (no soft delete;
//! `discontinued_at` and `is_active` are kept as they are, even where they disagree). Values
//! that do not convert are written as NULL and kept raw in `legacy_metadata`:
//! a (manufacturer, product_line) pair the seeded `bracket_systems` do not know, a slot size
//! that does not parse, a tooth that is not an FDI permanent tooth, a torque or angulation
//! with digits below 0.01 degree or too large, a negative unit cost. A NULL `is_active` is
//! written as "not discontinued" and recorded as {"is_active": null}.

use lab_conventions::opt_timestamptz;
use migrate_sdk::json::Json;
use migrate_sdk::money::{cents_to_decimal, fits, to_cents};
use migrate_sdk::read::Text;
use migrate_sdk::{mint, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `brackets`, in the order rows carry them (the key first).
    pub struct LegacyBrackets from "brackets" {
        id: Key,
        manufacturer: Text,
        product_line: Text,
        model_no: Text,
        slot_size: Text,
        tooth_fdi: Int,
        torque: Text,
        angulation: Text,
        unit_cost_cents: Int,
        is_active: Bool,
        created_at: Text,
        discontinued_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `brackets`.
    pub struct BracketsRow into "brackets" {
        id: Value,
        legacy_id: Value,
        bracket_system_id: Value,
        model_no: Value,
        slot_size: Value,
        slot_depth: Value,
        tooth_fdi: Value,
        torque: Value,
        angulation: Value,
        unit_cost: Value,
        is_active: Value,
        legacy_metadata: Value,
        created_at: Value,
        discontinued_at: Value,
    }
}

/// The seeded `bracket_systems` rows (schema/target-production.sql): (id, manufacturer, line).
const BRACKET_SYSTEMS: &[(&str, &str, &str)] = &[
    (
        "a2c4e000-0002-4000-8000-000000000101",
        "3M Unitek",
        "Victory Series",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000102",
        "3M Unitek",
        "Clarity Advanced",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000103",
        "3M Unitek",
        "SmartClip SL3",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000104",
        "3M Unitek",
        "APC Flash-Free",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000201",
        "American Orthodontics",
        "Mini Master",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000202",
        "American Orthodontics",
        "Empower 2",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000203",
        "American Orthodontics",
        "Radiance Plus",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000204",
        "American Orthodontics",
        "Insignia",
    ),
    ("a2c4e000-0002-4000-8000-000000000301", "Ormco", "Damon Q2"),
    (
        "a2c4e000-0002-4000-8000-000000000302",
        "Ormco",
        "Damon Clear",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000303",
        "Ormco",
        "Inspire Ice",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000304",
        "Ormco",
        "Symetri Clear",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000401",
        "Dentsply GAC",
        "In-Ovation R",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000402",
        "Dentsply GAC",
        "In-Ovation C",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000403",
        "Dentsply GAC",
        "Mystique",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000404",
        "Dentsply GAC",
        "Omni",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000501",
        "Ortho Technology",
        "Truklear",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000502",
        "Ortho Technology",
        "LightForce",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000601",
        "Forestadent",
        "Quick 2.0",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000602",
        "Forestadent",
        "BioQuick",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000603",
        "Forestadent",
        "Mini Sprint",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000701",
        "TP Orthodontics",
        "Inspire",
    ),
    (
        "a2c4e000-0002-4000-8000-000000000702",
        "TP Orthodontics",
        "Nu-Edge",
    ),
];

/// The seeded bracket system for a legacy (manufacturer, product_line) pair, compared
/// without regard to ASCII case and surrounding blanks.
pub fn bracket_system(manufacturer: &str, line: &str) -> Option<&'static str> {
    let (manufacturer, line) = (manufacturer.trim(), line.trim());
    BRACKET_SYSTEMS
        .iter()
        .find(|(_, m, l)| m.eq_ignore_ascii_case(manufacturer) && l.eq_ignore_ascii_case(line))
        .map(|(id, _, _)| *id)
}

/// A slot dimension as typed ('0.022', '.022', '0.022"', '22', '18') -> inches with three
/// decimals ("0.022"); None when it is not one of those forms or not a plausible slot.
fn slot_inches(text: &str) -> Option<String> {
    let t = text.trim().trim_end_matches('"').trim_end();
    let thousandths: u32 = if let Some(frac) = t.strip_prefix("0.").or_else(|| t.strip_prefix('.'))
    {
        if frac.len() != 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        frac.parse().ok()?
    } else if (1..=2).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse().ok()?
    } else {
        return None;
    };
    (10..=40)
        .contains(&thousandths)
        .then(|| format!("0.{thousandths:03}"))
}

/// Legacy free-text slot size -> (slot, depth) in inches: '0.018', '.018', '0.022"', '22',
/// '18 slot', '0.022 x 0.028'. Ok(None) when blank or NULL, Err(raw) when it does not parse.
pub fn slot_size(raw: Option<&str>) -> Result<Option<(String, Option<String>)>, String> {
    let Some(text) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let bad = || raw.unwrap_or_default().to_string();
    let lower = text.to_ascii_lowercase();
    let text = lower.strip_suffix("slot").unwrap_or(&lower).trim();
    match text.split_once('x') {
        Some((slot, depth)) => {
            let slot = slot_inches(slot).ok_or_else(bad)?;
            let depth = slot_inches(depth).ok_or_else(bad)?;
            Ok(Some((slot, Some(depth))))
        }
        None => Ok(Some((slot_inches(text).ok_or_else(bad)?, None))),
    }
}

/// Whether `n` is the FDI number of a permanent tooth (quadrant 1-4, tooth 1-8).
pub fn is_permanent_fdi(n: i64) -> bool {
    (1..=4).contains(&(n / 10)) && (1..=8).contains(&(n % 10))
}

/// Degrees as canonical two-decimal text fitting numeric(5,2); None when it does not.
pub fn degrees(text: &str) -> Option<String> {
    to_cents(text, "degrees").ok().filter(|d| fits(d, 5, 2))
}

#[derive(Default)]
pub struct Brackets;

impl Transform for Brackets {
    type Source = LegacyBrackets;
    const WRITES: &'static [Table] = &[BracketsRow::TABLE];

    fn transform_row(&mut self, input: LegacyBrackets) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let mut kept: Vec<(&str, Json)> = Vec::new();
        let raw = |column: &Text| column.get().map_or(Json::Null, Json::string);

        let manufacturer = input.manufacturer.trimmed();
        let line = input.product_line.trimmed();
        let system = match (manufacturer, line) {
            (Some(m), Some(l)) => bracket_system(m, l),
            _ => None,
        };
        if system.is_none() && (manufacturer.is_some() || line.is_some()) {
            kept.push(("manufacturer", raw(&input.manufacturer)));
            kept.push(("product_line", raw(&input.product_line)));
        }
        let (slot, depth) = match slot_size(input.slot_size.get()) {
            Ok(Some((slot, depth))) => (Some(slot), depth),
            Ok(None) => (None, None),
            Err(text) => {
                kept.push(("slot_size", Json::String(text)));
                (None, None)
            }
        };
        let tooth = input.tooth_fdi.get().filter(|&n| {
            let ok = is_permanent_fdi(n);
            if !ok {
                kept.push(("tooth_fdi", Json::Number(n.to_string())));
            }
            ok
        });
        let mut angle = |column: &Text| {
            column.get().and_then(|text| {
                let d = degrees(text);
                if d.is_none() {
                    kept.push((column.column(), Json::string(text)));
                }
                d
            })
        };
        let torque = angle(&input.torque);
        let angulation = angle(&input.angulation);
        let cost = input.unit_cost_cents.get().and_then(|cents| {
            if cents < 0 {
                kept.push(("unit_cost_cents", Json::Number(cents.to_string())));
                None
            } else {
                Some(cents_to_decimal(cents))
            }
        });
        let is_active = input.is_active.get().unwrap_or_else(|| {
            kept.push(("is_active", Json::Null));
            input.discontinued_at.is_null()
        });
        let metadata = migrate_sdk::json::metadata(kept);

        Ok(vec![BracketsRow {
            id: v::uuid(mint("brackets", key)),
            legacy_id: v::int(key),
            bracket_system_id: v::opt(system.map(v::uuid)),
            model_no: v::opt_text(input.model_no.trimmed()),
            slot_size: v::opt(slot.map(v::numeric)),
            slot_depth: v::opt(depth.map(v::numeric)),
            tooth_fdi: v::opt_int(tooth),
            torque: v::opt(torque.map(v::numeric)),
            angulation: v::opt(angulation.map(v::numeric)),
            unit_cost: v::opt(cost.map(v::numeric)),
            is_active: v::boolean(is_active),
            legacy_metadata: metadata,
            created_at: opt_timestamptz(input.created_at.get()),
            discontinued_at: opt_timestamptz(input.discontinued_at.get()),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Brackets);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, run, uuid};
    use migrate_sdk::Value;

    #[test]
    fn migrates_a_bracket() {
        let rows = run::<Brackets>(&[
            ("id", v::int(2)),
            ("manufacturer", v::text("Dentsply GAC")),
            ("product_line", v::text("in-ovation r ")),
            ("model_no", v::text("INO-2509")),
            ("slot_size", v::text("0.022 x 0.028")),
            ("tooth_fdi", v::int(25)),
            ("torque", v::numeric("-6.5")),
            ("angulation", v::numeric("0")),
            ("unit_cost_cents", v::int(563)),
            ("is_active", v::boolean(true)),
            ("created_at", Value::Timestamp("2015-01-03 02:17:00".into())),
        ])
        .unwrap();
        let r = &rows[0];
        assert_eq!(get::<Brackets>(r, "id"), &v::uuid(uuid("brackets", 2)));
        assert_eq!(
            get::<Brackets>(r, "bracket_system_id"),
            &v::uuid("a2c4e000-0002-4000-8000-000000000401")
        );
        assert_eq!(get::<Brackets>(r, "model_no"), &v::text("INO-2509"));
        assert_eq!(get::<Brackets>(r, "slot_size"), &v::numeric("0.022"));
        assert_eq!(get::<Brackets>(r, "slot_depth"), &v::numeric("0.028"));
        assert_eq!(get::<Brackets>(r, "tooth_fdi"), &v::int(25));
        assert_eq!(get::<Brackets>(r, "torque"), &v::numeric("-6.50"));
        assert_eq!(get::<Brackets>(r, "angulation"), &v::numeric("0.00"));
        assert_eq!(get::<Brackets>(r, "unit_cost"), &v::numeric("5.63"));
        assert_eq!(get::<Brackets>(r, "is_active"), &v::boolean(true));
        assert_eq!(get::<Brackets>(r, "legacy_metadata"), &Value::Null);
        assert_eq!(get::<Brackets>(r, "discontinued_at"), &Value::Null);
    }

    #[test]
    fn keeps_what_did_not_convert() {
        let rows = run::<Brackets>(&[
            ("id", v::int(3)),
            ("manufacturer", v::text("Acme")),
            ("product_line", v::text("Victory Series")),
            ("slot_size", v::text("wide")),
            ("tooth_fdi", v::int(19)),
            ("torque", v::numeric("1.125")),
            ("unit_cost_cents", v::int(-1)),
            (
                "discontinued_at",
                Value::Timestamp("2020-01-01 00:00:00".into()),
            ),
        ])
        .unwrap();
        let r = &rows[0];
        for column in [
            "bracket_system_id",
            "slot_size",
            "tooth_fdi",
            "torque",
            "unit_cost",
        ] {
            assert_eq!(get::<Brackets>(r, column), &Value::Null, "{column}");
        }
        assert_eq!(get::<Brackets>(r, "is_active"), &v::boolean(false));
        assert_eq!(
            get::<Brackets>(r, "legacy_metadata"),
            &Value::Json(
                r#"{"manufacturer":"Acme","product_line":"Victory Series","slot_size":"wide","tooth_fdi":19,"torque":"1.125","unit_cost_cents":-1,"is_active":null}"#
                    .into()
            )
        );
        // A universal bracket: no tooth, no prescription, nothing to keep.
        let universal = run::<Brackets>(&[
            ("id", v::int(4)),
            ("manufacturer", v::text("Ormco")),
            ("product_line", v::text("Symetri Clear")),
            ("slot_size", v::text("")),
            ("is_active", v::boolean(false)),
        ])
        .unwrap();
        assert_eq!(
            get::<Brackets>(&universal[0], "legacy_metadata"),
            &Value::Null
        );
        assert_eq!(get::<Brackets>(&universal[0], "slot_size"), &Value::Null);
    }

    #[test]
    fn slot_sizes() {
        let slot = |s: &str| slot_size(Some(s));
        let plain = |s: &str| Ok(Some((s.to_string(), None)));
        assert_eq!(slot("0.022"), plain("0.022"));
        assert_eq!(slot(".018"), plain("0.018"));
        assert_eq!(slot("0.022\""), plain("0.022"));
        assert_eq!(slot("22"), plain("0.022"));
        assert_eq!(slot("18 slot"), plain("0.018"));
        assert_eq!(slot(" 18 Slot "), plain("0.018"));
        assert_eq!(
            slot("0.022 x 0.028"),
            Ok(Some(("0.022".to_string(), Some("0.028".to_string()))))
        );
        assert_eq!(slot_size(Some("  ")), Ok(None));
        assert_eq!(slot_size(None), Ok(None));
        for bad in [
            "wide", "0.22", "0.0225", "220", "5", "0.022 x", "x 0.028", "1.022", "-.018",
        ] {
            assert_eq!(slot(bad), Err(bad.to_string()), "accepted {bad:?}");
        }
    }

    #[test]
    fn systems_teeth_and_degrees() {
        assert_eq!(
            bracket_system(" ormco", "DAMON Q2"),
            Some("a2c4e000-0002-4000-8000-000000000301")
        );
        assert_eq!(bracket_system("Ormco", "Inspire"), None);
        assert_eq!(
            bracket_system("TP Orthodontics", "Inspire"),
            Some("a2c4e000-0002-4000-8000-000000000701")
        );
        assert!(is_permanent_fdi(11) && is_permanent_fdi(48) && is_permanent_fdi(27));
        assert!(
            !is_permanent_fdi(10)
                && !is_permanent_fdi(49)
                && !is_permanent_fdi(51)
                && !is_permanent_fdi(5)
        );
        assert_eq!(degrees("-17.50").as_deref(), Some("-17.50"));
        assert_eq!(degrees("7").as_deref(), Some("7.00"));
        assert_eq!(degrees("1.125"), None);
        assert_eq!(degrees("1000"), None);
    }
}
