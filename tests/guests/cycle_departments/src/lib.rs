//! Legacy `departments` to `public.departments` of the cycle tests (tests/e2e/cycles.rs): a
//! department's manager is an employee, whose table runs after this one (it references its
//! department). The manager's id is the UUID that employee's row will get: a forward reference
//! the host checks once employees are done.

use migrate_sdk::{mint, Table, TargetRow, Transform, Uuid};

migrate_sdk::source! {
    struct Department from "departments" {
        id: Key,
        name: Text,
        manager_id: Int,
    }
}

migrate_sdk::target! {
    struct DepartmentRow into "departments" {
        id: Uuid,
        legacy_id: i64,
        name: Option<String>,
        manager_id: Option<Uuid>,
    }
}

#[derive(Default)]
struct Departments;

impl Transform for Departments {
    type Source = Department;
    const WRITES: &'static [Table] = &[DepartmentRow::TABLE];

    fn transform_row(&mut self, d: Department) -> Result<Vec<TargetRow>, migrate_sdk::Fate> {
        Ok(vec![DepartmentRow {
            id: Uuid(mint("departments", d.id)),
            legacy_id: d.id,
            name: d.name.get().map(str::to_string),
            // Not migrated yet: the UUID its row will get.
            manager_id: d.manager_id.get().map(|m| Uuid(mint("employees", m))),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Departments);
