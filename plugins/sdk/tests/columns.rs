//! The typed columns of `source!` / `target!`: what `describe` says comes from the
//! declarations, input values land in their fields by position, output values go out in the
//! declared column order whatever order the plugin sets them in, and `self` keeps state.

use migrate_sdk::testing::{get, run};
use migrate_sdk::{
    description, mint, v, Fate, Instance, Numeric, Outcome, Table, TargetRow, Transform, Uuid,
    Value,
};

migrate_sdk::source! {
    /// Legacy `referrals`.
    pub struct Referral from "referrals" {
        id: Key,
        note: Text,
        doctor_id: Int,
        urgent: Bool,
        raw: Any,
        kind: Text as "type",
    }
}

migrate_sdk::target! {
    pub struct NewReferral into "public.referrals" {
        id: Uuid,
        legacy_id: i64,
        note: Option<String>,
        fee: Option<Numeric>,
        urgent: bool,
        kind: String as "type",
        seen_before: i64,
    }
}

migrate_sdk::target! {
    pub struct Audit into "audit" {
        referral_id: Uuid,
        raw: Value,
    }
}

#[derive(Default)]
struct Referrals {
    seen: Vec<i64>,
    batches: usize,
}

impl Transform for Referrals {
    type Source = Referral;
    const WRITES: &'static [Table] = &[NewReferral::TABLE, Audit::TABLE];
    const RESOLVES: &'static [&'static str] = &["doctors"];

    fn begin_batch(&mut self) {
        self.batches += 1;
        self.seen.clear();
    }

    fn transform_row(&mut self, row: Referral) -> Result<Vec<TargetRow>, Fate> {
        let kind = row.kind.require()?.to_string();
        let seen_before = self.seen.len() as i64;
        self.seen.push(row.id);
        // Set in another order than declared, on purpose.
        let referral = NewReferral {
            seen_before,
            kind,
            urgent: row.urgent.is_true(),
            fee: row.doctor_id.get().map(|_| Numeric("1.50".into())),
            note: row.note.trimmed().map(str::to_string),
            legacy_id: row.id,
            id: Uuid(mint("referrals", row.id)),
        };
        let audit = Audit {
            raw: row.raw.get().clone(),
            referral_id: referral.id.clone(),
        };
        Ok(vec![referral.into(), audit.into()])
    }
}

#[test]
fn describe_comes_from_the_declarations() {
    let d = description::<Referrals>();
    assert_eq!(d.source_table, "referrals");
    assert_eq!(
        d.reads,
        ["id", "note", "doctor_id", "urgent", "raw", "type"]
    );
    assert_eq!(d.writes.len(), 2);
    assert_eq!(d.writes[0].table, "public.referrals");
    assert_eq!(
        d.writes[0].columns,
        [
            "id",
            "legacy_id",
            "note",
            "fee",
            "urgent",
            "type",
            "seen_before"
        ]
    );
    assert_eq!(d.writes[1].table, "audit");
    assert_eq!(d.writes[1].columns, ["referral_id", "raw"]);
    assert_eq!(d.resolves, ["doctors"]);
    // The instance computes it once and hands out the same.
    let instance = Instance::<Referrals>::default();
    assert_eq!(instance.description(), &d);
}

#[test]
fn values_go_out_in_the_declared_column_order() {
    let mut instance = Instance::<Referrals>::default();
    let row = |id: i64, note: Value, doctor: Value| {
        vec![
            v::int(id),
            note,
            doctor,
            v::boolean(true),
            Value::Float(2.5),
            v::text("walk-in"),
        ]
    };
    let outcomes = instance.transform_batch(vec![
        row(7, v::text("  first visit "), v::int(3)),
        row(8, Value::Null, Value::Null),
    ]);
    let Outcome::Write(first) = &outcomes[0] else {
        panic!("{outcomes:?}")
    };
    assert_eq!(first[0].table, "public.referrals");
    assert_eq!(
        first[0].values,
        vec![
            Value::Uuid(mint("referrals", 7)),
            Value::Int(7),
            Value::Text("first visit".into()),
            Value::Numeric("1.50".into()),
            Value::Boolean(true),
            Value::Text("walk-in".into()),
            Value::Int(0),
        ]
    );
    assert_eq!(
        first[1].values,
        vec![Value::Uuid(mint("referrals", 7)), Value::Float(2.5)]
    );
    let Outcome::Write(second) = &outcomes[1] else {
        panic!("{outcomes:?}")
    };
    // NULL for None; the instance remembered the first row of the batch.
    assert_eq!(second[0].values[2], Value::Null);
    assert_eq!(second[0].values[3], Value::Null);
    assert_eq!(second[0].values[6], Value::Int(1));

    // A new batch starts from begin_batch, on the same instance.
    let again = instance.transform_batch(vec![row(9, Value::Null, Value::Null)]);
    let Outcome::Write(third) = &again[0] else {
        panic!("{again:?}")
    };
    assert_eq!(third[0].values[6], Value::Int(0));
    assert_eq!(instance.transform().batches, 2);
}

#[test]
fn a_reject_names_the_column() {
    let outcome = run::<Referrals>(&[("id", v::int(1)), ("type", v::text(" "))]);
    assert_eq!(
        outcome,
        Err(Fate::reject("required column type is NULL or blank"))
    );
    let rows = run::<Referrals>(&[("id", v::int(2)), ("type", v::text("x"))]).unwrap();
    assert_eq!(get::<Referrals>(&rows[0], "type"), &v::text("x"));
    assert_eq!(get::<Referrals>(&rows[0], "urgent"), &v::boolean(false));
}

#[test]
#[should_panic(expected = "column `doctor_id` is declared Int but holds Value::Text(\"3\")")]
fn a_value_of_another_kind_names_the_column() {
    let _ = run::<Referrals>(&[("id", v::int(1)), ("doctor_id", v::text("3"))]);
}
