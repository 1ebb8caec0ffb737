//! The tables the generator fills (in generation order), their row counts at scale 1 and the
//! rates of the dirty data it plants. docs/generator.md lists the same numbers.

pub struct TableSpec {
    pub name: &'static str,
    /// Column order of the COPY stream (must match the columns of schema/legacy.sql).
    pub columns: &'static [&'static str],
    /// Rows at scale 1 (the lab's real counts).
    pub rows: usize,
    /// Small lookup tables keep their size at every scale.
    pub fixed: bool,
}

impl TableSpec {
    /// Rows at `scale`: round(rows * scale), at least 1; fixed tables ignore the scale.
    pub fn rows_at(&self, scale: f64) -> usize {
        if self.fixed {
            self.rows
        } else {
            ((self.rows as f64 * scale).round() as usize).max(1)
        }
    }
}

macro_rules! t {
    ($name:literal, $rows:expr, $fixed:expr, [$($col:literal),+ $(,)?]) => {
        TableSpec { name: $name, columns: &[$($col),+], rows: $rows, fixed: $fixed }
    };
}

/// Every table, parents before children.
pub const TABLES: &[TableSpec] = &[
    t!(
        "offices",
        523,
        false,
        [
            "id",
            "name",
            "address",
            "city",
            "state",
            "zip",
            "phone",
            "email",
            "is_deleted",
            "created_at",
            "updated_at"
        ]
    ),
    t!(
        "categories",
        40,
        true,
        [
            "id",
            "name",
            "description",
            "sort_order",
            "is_active",
            "created_at"
        ]
    ),
    t!(
        "profiles",
        9_751,
        false,
        [
            "id",
            "email",
            "first_name",
            "last_name",
            "phone",
            "profile_type",
            "is_active",
            "password_hash",
            "settings",
            "created_at",
            "updated_at",
            "deleted_at"
        ]
    ),
    t!(
        "brackets",
        1_569,
        false,
        [
            "id",
            "manufacturer",
            "product_line",
            "model_no",
            "slot_size",
            "tooth_fdi",
            "torque",
            "angulation",
            "unit_cost_cents",
            "is_active",
            "created_at",
            "discontinued_at"
        ]
    ),
    t!(
        "products",
        10,
        true,
        [
            "id",
            "category_id",
            "sku",
            "name",
            "description",
            "unit_price",
            "is_active",
            "created_at",
            "updated_at"
        ]
    ),
    t!(
        "technician_roles",
        31,
        true,
        [
            "id",
            "code",
            "name",
            "description",
            "level",
            "permissions",
            "is_active",
            "created_at"
        ]
    ),
    t!(
        "technicians",
        32,
        false,
        [
            "id",
            "profile_id",
            "role_id",
            "employee_no",
            "shift",
            "hourly_rate_cents",
            "is_active",
            "hired_at",
            "terminated_at",
            "created_at"
        ]
    ),
    t!(
        "doctors",
        1_213,
        false,
        [
            "id",
            "profile_id",
            "office_id",
            "license_no",
            "specialty",
            "status",
            "created_at",
            "updated_at",
            "deleted_at"
        ]
    ),
    t!(
        "doctor_offices",
        74,
        false,
        ["id", "doctor_id", "office_id", "is_primary", "created_at"]
    ),
    t!(
        "patients",
        7_854,
        false,
        [
            "id",
            "doctor_id",
            "office_id",
            "profile_id",
            "first_name",
            "last_name",
            "date_of_birth",
            "gender",
            "email",
            "phone",
            "notes",
            "archived",
            "created_at",
            "updated_at"
        ]
    ),
    t!(
        "orders",
        23_050,
        false,
        [
            "id",
            "patient_id",
            "doctor_id",
            "office_id",
            "order_number",
            "status",
            "total_amount",
            "amount_paid_cents",
            "currency",
            "status_history",
            "notes",
            "submitted_at",
            "shipped_at",
            "is_deleted",
            "created_at",
            "updated_at"
        ]
    ),
    t!(
        "jaws",
        39_771,
        false,
        [
            "id",
            "order_id",
            "jaw_type",
            "bracket_id",
            "teeth",
            "arch_form",
            "bonding",
            "created_at",
            "updated_at"
        ]
    ),
    t!(
        "projects",
        66_918,
        false,
        [
            "id",
            "order_id",
            "technician_id",
            "project_type",
            "name",
            "status",
            "version",
            "is_deleted",
            "created_at",
            "updated_at",
            "completed_at"
        ]
    ),
    t!(
        "treatment_plans",
        67_782,
        false,
        [
            "id",
            "project_id",
            "order_id",
            "patient_id",
            "revision",
            "is_approved",
            "approved_by",
            "approved_at",
            "step_count",
            "plan_data",
            "notes",
            "created_at",
            "updated_at"
        ]
    ),
    t!(
        "tasks",
        762_604,
        false,
        [
            "id",
            "order_id",
            "technician_id",
            "task_type",
            "status",
            "priority",
            "started_at",
            "completed_at",
            "duration_seconds",
            "notes",
            "created_at"
        ]
    ),
    t!(
        "cases",
        7_853,
        false,
        [
            "id",
            "patient_id",
            "doctor_id",
            "case_number",
            "current_state",
            "angle_class",
            "chief_complaint",
            "diagnosis",
            "is_deleted",
            "created_at",
            "updated_at",
            "closed_at"
        ]
    ),
    t!(
        "case_states",
        15_418,
        false,
        [
            "id",
            "case_id",
            "state",
            "previous_state",
            "changed_by",
            "reason",
            "created_at"
        ]
    ),
    t!(
        "case_messages",
        20_377,
        false,
        [
            "id",
            "case_id",
            "sender_profile_id",
            "sender_role",
            "body",
            "is_read",
            "read_at",
            "created_at",
            "deleted_at"
        ]
    ),
    t!(
        "case_files",
        12_094,
        false,
        [
            "id",
            "case_id",
            "category",
            "file_name",
            "storage_key",
            "mime_type",
            "file_size",
            "uploaded_by",
            "is_deleted",
            "created_at"
        ]
    ),
    t!(
        "messages",
        60_944,
        false,
        [
            "id",
            "order_id",
            "sender_profile_id",
            "recipient_profile_id",
            "message_type",
            "subject",
            "body",
            "carrier",
            "tracking_no",
            "is_read",
            "sent_at",
            "read_at",
            "deleted_at"
        ]
    ),
    t!(
        "message_attachments",
        9_142,
        false,
        [
            "id",
            "message_id",
            "file_name",
            "file_url",
            "mime_type",
            "size_bytes",
            "created_at"
        ]
    ),
    t!(
        "communications",
        783,
        false,
        [
            "id",
            "office_id",
            "doctor_id",
            "author_profile_id",
            "channel",
            "direction",
            "subject",
            "body",
            "follow_up_at",
            "occurred_at",
            "created_at"
        ]
    ),
    t!(
        "order_files",
        294_818,
        false,
        [
            "id",
            "order_id",
            "file_type",
            "file_name",
            "file_path",
            "mime_type",
            "file_size",
            "md5",
            "uploaded_by",
            "is_deleted",
            "created_at"
        ]
    ),
    t!(
        "offers",
        393,
        false,
        [
            "id",
            "product_id",
            "name",
            "description",
            "discount_type",
            "discount_value",
            "min_order_amount",
            "starts_at",
            "ends_at",
            "is_active",
            "created_at"
        ]
    ),
    t!(
        "discounts",
        135,
        false,
        [
            "id",
            "offer_id",
            "doctor_id",
            "code",
            "amount_cents",
            "percent_off",
            "max_uses",
            "times_used",
            "expires_at",
            "is_deleted",
            "created_at"
        ]
    ),
    t!(
        "purchases",
        16_011,
        false,
        [
            "id",
            "order_id",
            "doctor_id",
            "discount_id",
            "amount",
            "currency",
            "method",
            "status",
            "transaction_ref",
            "refunded_cents",
            "paid_at",
            "created_at"
        ]
    ),
    t!(
        "customer_feedback",
        21_595,
        false,
        [
            "id",
            "order_id",
            "doctor_id",
            "rating",
            "nps",
            "category",
            "comment",
            "is_resolved",
            "resolved_at",
            "created_at"
        ]
    ),
    t!(
        "doctor_notes",
        962,
        false,
        [
            "id",
            "doctor_id",
            "author_profile_id",
            "note",
            "is_pinned",
            "created_at",
            "updated_at",
            "deleted_at"
        ]
    ),
    t!(
        "comments",
        5_126,
        false,
        [
            "id",
            "commentable_type",
            "commentable_id",
            "parent_id",
            "author_profile_id",
            "body",
            "is_internal",
            "created_at",
            "updated_at",
            "deleted_at"
        ]
    ),
    t!(
        "dispatch_state",
        60,
        false,
        [
            "id",
            "queue_name",
            "status",
            "last_message_id",
            "last_run_at",
            "error_count",
            "last_error",
            "lock_owner",
            "state_json",
            "updated_at"
        ]
    ),
];

#[cfg(test)]
pub fn spec(name: &str) -> &'static TableSpec {
    TABLES
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no table spec for {name}"))
}

// ------------------------------------------------------------------ planted dirty data
//
// Each rate plants exactly max(1, round(rate * rows)) anomalies in the table (none when the table
// has fewer than two rows), on rows chosen at random from the anomaly's own PRNG stream.

/// doctors.office_id points at an office id that does not exist.
pub const ORPHAN_DOCTOR_OFFICE: f64 = 0.002;
/// patients.doctor_id points at a doctor id that does not exist.
pub const ORPHAN_PATIENT_DOCTOR: f64 = 0.001;
/// orders.patient_id points at a patient id that does not exist.
pub const ORPHAN_ORDER_PATIENT: f64 = 0.001;
/// tasks.order_id points at an order id that does not exist.
pub const ORPHAN_TASK_ORDER: f64 = 0.001;
/// order_files.order_id points at an order id that does not exist.
pub const ORPHAN_ORDER_FILE_ORDER: f64 = 0.0005;
/// purchases.order_id points at an order id that does not exist.
pub const ORPHAN_PURCHASE_ORDER: f64 = 0.002;
/// case_messages.case_id points at a case id that does not exist.
pub const ORPHAN_CASE_MESSAGE_CASE: f64 = 0.002;
/// comments.commentable_id points at no row of the table commentable_type names.
pub const ORPHAN_COMMENT_TARGET: f64 = 0.01;

/// offices.name is NULL.
pub const NULL_OFFICE_NAME: f64 = 0.002;
/// patients.last_name is NULL.
pub const NULL_PATIENT_LAST_NAME: f64 = 0.001;
/// doctors.profile_id is NULL (a doctor without a login profile).
pub const NULL_DOCTOR_PROFILE: f64 = 0.002;

/// profiles.email repeats the e-mail of an earlier profile (70% exactly, 30% differing in case only).
pub const DUPLICATE_PROFILE_EMAIL: f64 = 0.01;

/// patients.date_of_birth is not a valid date in any of the three formats.
pub const MALFORMED_DATE_OF_BIRTH: f64 = 0.02;
/// orders.status_history is not valid JSON.
pub const MALFORMED_STATUS_HISTORY: f64 = 0.005;
/// profiles.settings is not valid JSON.
pub const MALFORMED_PROFILE_SETTINGS: f64 = 0.005;

/// A money value with more than two decimals (orders.total_amount, offers.discount_value,
/// offers.min_order_amount, purchases.amount; planted in each column separately).
pub const EXCESS_SCALE_AMOUNT: f64 = 0.002;
/// A negative money value (orders.total_amount, offers.discount_value, purchases.amount).
pub const NEGATIVE_AMOUNT: f64 = 0.001;

/// offices.is_deleted = true.
pub const DELETED_OFFICES: f64 = 0.02;
/// profiles.deleted_at set.
pub const DELETED_PROFILES: f64 = 0.03;
/// doctors.deleted_at set.
pub const DELETED_DOCTORS: f64 = 0.02;
/// orders.is_deleted = true.
pub const DELETED_ORDERS: f64 = 0.01;

/// The most a core table (offices, doctors, patients, orders) may lose to quarantine: planted
/// dirt that fails the row plus the children of failing parents (`world::QuarantineBudget`).
/// The lab's plan wants its core entities above 99% and every table above 98%; at scale 1 the
/// dirt is about half of this (orders 0.76%, patients 0.41%), at small scales this caps it.
pub const CORE_QUARANTINE_SHARE: f64 = 0.009;
