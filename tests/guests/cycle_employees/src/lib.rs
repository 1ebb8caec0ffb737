//! Legacy `employees` to `public.employees` of the cycle tests (tests/e2e/cycles.rs): each
//! employee resolves its department (migrated first) and points at the employee it reports to,
//! who may come later in key order (a self-reference: the UUID that row will get). Employees
//! named `skip ...` are skipped, `bad ...` rejected, so references to them dangle.

use migrate_sdk::{mint, resolve, Fate, Table, TargetRow, Transform, Uuid};

migrate_sdk::source! {
    struct Employee from "employees" {
        id: Key,
        name: Text,
        department_id: Int,
        reports_to: Int,
    }
}

migrate_sdk::target! {
    struct EmployeeRow into "employees" {
        id: Uuid,
        legacy_id: i64,
        name: Option<String>,
        department_id: Uuid,
        reports_to: Option<Uuid>,
    }
}

#[derive(Default)]
struct Employees;

impl Transform for Employees {
    type Source = Employee;
    const WRITES: &'static [Table] = &[EmployeeRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["departments"];

    fn transform_row(&mut self, e: Employee) -> Result<Vec<TargetRow>, Fate> {
        let name = e.name.get().unwrap_or_default();
        if name.starts_with("skip") {
            return Err(Fate::skip("left the company"));
        }
        if name.starts_with("bad") {
            return Err(Fate::reject("a bad row"));
        }
        let department = e.department_id.require()?;
        Ok(vec![EmployeeRow {
            id: Uuid(mint("employees", e.id)),
            legacy_id: e.id,
            name: Some(name.to_string()),
            department_id: Uuid(resolve("departments", department, "department_id")?),
            reports_to: e.reports_to.get().map(|r| Uuid(mint("employees", r))),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Employees);
