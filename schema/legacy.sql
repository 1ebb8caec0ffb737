-- The lab's legacy database, as ten years of production left it.
--
-- Shaped like the real system, not like a clean design: integer serial keys, almost no
-- foreign-key constraints (orphans exist), timestamps without time zone (lab local time,
-- America/Chicago), money stored the legacy way (numeric with any scale in some tables,
-- integer cents in others), status codes as small ints or free text, JSON kept as text,
-- soft deletes by flag or by timestamp. `host generate` creates these tables and fills them;
-- the dirty-data rates it plants are listed in docs/generator.md.

-- ---------------------------------------------------------------- core entities

CREATE TABLE offices (
    id          serial PRIMARY KEY,
    name        varchar(255),
    address     text,
    city        varchar(100),
    state       varchar(50),
    zip         varchar(20),
    phone       varchar(40),
    email       varchar(255),
    is_deleted  boolean NOT NULL DEFAULT false,
    created_at  timestamp,
    updated_at  timestamp
);

CREATE TABLE categories (
    id          serial PRIMARY KEY,
    name        varchar(100),
    description text,
    sort_order  integer,
    is_active   boolean DEFAULT true,
    created_at  timestamp
);

-- profile_type: 1 doctor, 2 patient, 3 technician, 4 admin, 5 staff (others exist).
CREATE TABLE profiles (
    id            serial PRIMARY KEY,
    email         varchar(255),
    first_name    varchar(100),
    last_name     varchar(100),
    phone         varchar(40),
    profile_type  smallint,
    is_active     boolean,
    password_hash varchar(255),
    settings      text,            -- JSON as text, sometimes malformed
    created_at    timestamp,
    updated_at    timestamp,
    deleted_at    timestamp
);

-- status: free text ('active', 'Active', 'ACTIVE ', 'inactive', 'suspended', '', NULL...).
CREATE TABLE doctors (
    id          serial PRIMARY KEY,
    profile_id  integer,           -- -> profiles.id (no constraint)
    office_id   integer,           -- -> offices.id (no constraint)
    license_no  varchar(50),
    specialty   varchar(100),
    status      varchar(20),
    created_at  timestamp,
    updated_at  timestamp,
    deleted_at  timestamp
);

CREATE TABLE patients (
    id             serial PRIMARY KEY,
    doctor_id      integer,        -- -> doctors.id
    office_id      integer,        -- -> offices.id
    profile_id     integer,        -- -> profiles.id, often NULL
    first_name     varchar(100),
    last_name      varchar(100),
    date_of_birth  varchar(20),    -- typed by hand: '1985-03-12', '03/12/1985', '12.03.1985', '', 'N/A'
    gender         char(1),        -- 'M', 'F', 'U', NULL, lower case too
    email          varchar(255),
    phone          varchar(40),
    notes          text,
    archived       boolean NOT NULL DEFAULT false,
    created_at     timestamp,
    updated_at     timestamp
);

-- status: 0 draft, 1 submitted, 2 in production, 3 shipped, 4 delivered, 5 cancelled, 9 on hold.
CREATE TABLE orders (
    id                 serial PRIMARY KEY,
    patient_id         integer,    -- -> patients.id
    doctor_id          integer,    -- -> doctors.id
    office_id          integer,    -- -> offices.id
    order_number       varchar(30),
    status             smallint,
    total_amount       numeric,    -- dollars, any scale: 1234.5, 99.999, -10
    amount_paid_cents  integer,    -- cents
    currency           char(3),
    status_history     text,       -- JSON text: [{"status":1,"at":"2019-03-07 14:05:00"},...]
    notes              text,
    submitted_at       timestamp,
    shipped_at         timestamp,
    is_deleted         boolean NOT NULL DEFAULT false,
    created_at         timestamp,
    updated_at         timestamp
);

CREATE TABLE doctor_offices (
    id          serial PRIMARY KEY,
    doctor_id   integer,
    office_id   integer,
    is_primary  boolean,
    created_at  timestamp
);

-- ---------------------------------------------------------------- catalog and staff

-- The bracket catalog: one row per manufacturer / product line / tooth position (FDI tooth_fdi 11-48,
-- NULL for "universal" brackets). slot_size is free text typed by whoever added the row: '0.018',
-- '.018', '0.022"', '22', '18 slot' or NULL. torque and angulation are degrees (numeric, any scale).
-- unit_cost_cents is integer cents. discontinued_at set means no longer orderable, but is_active was
-- not always switched off with it.
CREATE TABLE brackets (
    id               serial PRIMARY KEY,
    manufacturer     varchar(100),
    product_line     varchar(100),
    model_no         varchar(50),
    slot_size        varchar(20),
    tooth_fdi        smallint,
    torque           numeric,
    angulation       numeric,
    unit_cost_cents  integer,
    is_active        boolean,
    created_at       timestamp,
    discontinued_at  timestamp
);

-- What the lab sells (about ten rows). category_id -> categories.id (no constraint). unit_price is
-- numeric dollars with whatever scale was typed (395, 1450.5, 89.99).
CREATE TABLE products (
    id           serial PRIMARY KEY,
    category_id  integer,
    sku          varchar(40),
    name         varchar(255),
    description  text,
    unit_price   numeric,
    is_active    boolean DEFAULT true,
    created_at   timestamp,
    updated_at   timestamp
);

-- level: 1 trainee, 2 technician, 3 senior, 4 supervisor, 5 lead. permissions: JSON text array of
-- permission names. Some roles are near duplicates ('Setup Tech' / 'Setup Technician'), code case
-- is inconsistent ('SCAN_QA', 'scan_qa'), and retired roles stay with is_active false.
CREATE TABLE technician_roles (
    id           serial PRIMARY KEY,
    code         varchar(40),
    name         varchar(100),
    description  text,
    level        smallint,
    permissions  text,
    is_active    boolean,
    created_at   timestamp
);

-- Lab staff who do the CAD and bench work. profile_id -> profiles.id (profile_type 3);
-- role_id -> technician_roles.id (NULL: never assigned). shift: 1 day, 2 evening, 3 night.
-- hourly_rate_cents is integer cents. terminated_at can be set while is_active is still true.
CREATE TABLE technicians (
    id                 serial PRIMARY KEY,
    profile_id         integer,
    role_id            integer,
    employee_no        varchar(20),
    shift              smallint,
    hourly_rate_cents  integer,
    is_active          boolean,
    hired_at           timestamp,
    terminated_at      timestamp,
    created_at         timestamp
);

-- ---------------------------------------------------------------- production

-- One row per treated arch of an order. jaw_type: 1 upper (maxilla), 2 lower (mandible).
-- teeth: the treated teeth as FDI numbers, written two ways over the years: comma-separated text
-- '13,12,11,21,22,23' (rows before 2019) or a JSON array '[13,12,11,21,22,23]' (since); '' happens.
-- bracket_id -> brackets.id, NULL when no brackets are placed (aligner work).
-- arch_form free text ('ovoid', 'Ovoid', 'tapered', 'square', NULL); bonding 'labial' or 'lingual'.
CREATE TABLE jaws (
    id          serial PRIMARY KEY,
    order_id    integer,
    jaw_type    smallint,
    bracket_id  integer,
    teeth       text,
    arch_form   varchar(30),
    bonding     varchar(20),
    created_at  timestamp,
    updated_at  timestamp
);

-- A unit of CAD work on an order. project_type: 1 digital setup, 2 bracket placement, 3 IDB tray
-- design, 4 aligner staging, 5 retainer design. status: 0 new, 1 in progress, 2 in review,
-- 3 approved, 4 rejected, 5 archived. version counts re-dos of the same type within the order.
-- technician_id -> technicians.id (NULL: unassigned). Soft delete by is_deleted.
CREATE TABLE projects (
    id             serial PRIMARY KEY,
    order_id       integer,
    technician_id  integer,
    project_type   smallint,
    name           varchar(255),
    status         smallint,
    version        smallint,
    is_deleted     boolean NOT NULL DEFAULT false,
    created_at     timestamp,
    updated_at     timestamp,
    completed_at   timestamp
);

-- The plan a doctor approves: one or more revisions per project. order_id and patient_id were copied
-- from the project's order when the plan was written (denormalised; they follow whatever the order
-- pointed at, orphans included). approved_by -> doctors.id. step_count is the number of aligner
-- stages, NULL for bracket work. plan_data is JSON text:
-- {"upper_steps":n,"lower_steps":n,"ipr":[{"teeth":"12-11","mm":0.2}],"attachments":[13,23]}.
CREATE TABLE treatment_plans (
    id           serial PRIMARY KEY,
    project_id   integer,
    order_id     integer,
    patient_id   integer,
    revision     smallint,
    is_approved  boolean,
    approved_by  integer,
    approved_at  timestamp,
    step_count   smallint,
    plan_data    text,
    notes        text,
    created_at   timestamp,
    updated_at   timestamp
);

-- The production workflow, about 33 rows per order. task_type: 1 scan check, 2 model prep, 3 setup,
-- 4 bracket placement, 5 tray design, 6 3D print, 7 QA, 8 packaging, 9 shipping. status: 0 open,
-- 1 in progress, 2 done, 3 skipped, 4 failed (redone as a new task). priority: 1 urgent .. 5 low.
-- duration_seconds only for done tasks. order_id -> orders.id; a few point at orders that no longer
-- exist (deleted by hand years ago). technician_id -> technicians.id, NULL while unassigned.
CREATE TABLE tasks (
    id                serial PRIMARY KEY,
    order_id          integer,
    technician_id     integer,
    task_type         smallint,
    status            smallint,
    priority          smallint,
    started_at        timestamp,
    completed_at      timestamp,
    duration_seconds  integer,
    notes             text,
    created_at        timestamp
);

-- ---------------------------------------------------------------- cases (clinical records)

-- A patient's clinical case, about one per patient. current_state should equal the last case_states
-- row: 1 intake, 2 records, 3 diagnosis, 4 planning, 5 active treatment, 6 retention, 7 closed,
-- 8 transferred out. angle_class is free text ('I', 'II/1', 'II div 1', 'Class II', 'III', NULL).
-- doctor_id -> doctors.id (usually the patient's doctor; a transferred case keeps the old one).
CREATE TABLE cases (
    id               serial PRIMARY KEY,
    patient_id       integer,
    doctor_id        integer,
    case_number      varchar(30),
    current_state    smallint,
    angle_class      varchar(20),
    chief_complaint  text,
    diagnosis        text,
    is_deleted       boolean NOT NULL DEFAULT false,
    created_at       timestamp,
    updated_at       timestamp,
    closed_at        timestamp
);

-- History of cases.current_state (codes as in cases). previous_state is NULL on a case's first row.
-- changed_by -> profiles.id (doctor, technician or staff). reason mostly NULL.
CREATE TABLE case_states (
    id              serial PRIMARY KEY,
    case_id         integer,
    state           smallint,
    previous_state  smallint,
    changed_by      integer,
    reason          text,
    created_at      timestamp
);

-- Chat on a case. sender_role free text: 'doctor', 'Doctor', 'technician', 'tech', 'staff', 'system'
-- (system rows have no sender). read_at set with is_read false (and the reverse) happens.
-- case_id -> cases.id: a few point at cases that no longer exist. Soft delete by deleted_at.
CREATE TABLE case_messages (
    id                 serial PRIMARY KEY,
    case_id            integer,
    sender_profile_id  integer,
    sender_role        varchar(20),
    body               text,
    is_read            boolean,
    read_at            timestamp,
    created_at         timestamp,
    deleted_at         timestamp
);

-- Clinical records of a case. category: 1 extraoral photo, 2 intraoral photo, 3 panoramic x-ray,
-- 4 cephalometric x-ray, 5 CBCT, 6 STL scan, 7 document. storage_key is an S3 key; file_size bytes.
-- uploaded_by -> profiles.id. Soft delete by is_deleted.
CREATE TABLE case_files (
    id           serial PRIMARY KEY,
    case_id      integer,
    category     smallint,
    file_name    varchar(255),
    storage_key  text,
    mime_type    varchar(100),
    file_size    integer,
    uploaded_by  integer,
    is_deleted   boolean NOT NULL DEFAULT false,
    created_at   timestamp
);

-- ---------------------------------------------------------------- messages and files

-- The dispatch records: every notice the lab sent about an order, and the replies. message_type:
-- 1 dispatch notice, 2 tracking update, 3 question to the doctor, 4 reply from the doctor,
-- 5 system notice. carrier free text ('UPS', 'ups', 'FedEx', 'Fedex Ground', 'USPS') and
-- tracking_no only on types 1-2. sender / recipient -> profiles.id (NULL sender: sent by the
-- system). Soft delete by deleted_at.
CREATE TABLE messages (
    id                    serial PRIMARY KEY,
    order_id              integer,
    sender_profile_id     integer,
    recipient_profile_id  integer,
    message_type          smallint,
    subject               varchar(255),
    body                  text,
    carrier               varchar(30),
    tracking_no           varchar(40),
    is_read               boolean,
    sent_at               timestamp,
    read_at               timestamp,
    deleted_at            timestamp
);

-- Files attached to messages. message_id -> messages.id. file_url is an absolute URL of the old
-- file server; size_bytes may be NULL (uploads before 2016 did not record it).
CREATE TABLE message_attachments (
    id          serial PRIMARY KEY,
    message_id  integer,
    file_name   varchar(255),
    file_url    text,
    mime_type   varchar(100),
    size_bytes  integer,
    created_at  timestamp
);

-- The front desk's contact log with offices. channel free text ('phone', 'Phone', 'email', 'E-mail',
-- 'fax', 'in person', 'sms'); direction 'in' / 'out' (some 'IN', 'OUT'). office_id -> offices.id,
-- doctor_id -> doctors.id (NULL: the office in general), author_profile_id -> profiles.id (staff).
-- created_at may be a day after occurred_at (typed in later).
CREATE TABLE communications (
    id                 serial PRIMARY KEY,
    office_id          integer,
    doctor_id          integer,
    author_profile_id  integer,
    channel            varchar(20),
    direction          varchar(5),
    subject            varchar(255),
    body               text,
    follow_up_at       timestamp,
    occurred_at        timestamp,
    created_at         timestamp
);

-- Files of an order, about 13 per order. file_type: 1 upper scan (STL), 2 lower scan (STL),
-- 3 bite scan, 4 photo, 5 x-ray, 6 treatment PDF, 7 print file, 8 other. file_path is an S3 key
-- since 2018 and a Windows share path before ('\\fs01\scans\2016\L001234\Upper Jaw.stl'),
-- backslashes and spaces included. md5 NULL for files stored before 2017. file_size bytes.
-- uploaded_by -> profiles.id. order_id -> orders.id: a few orphans. Soft delete by is_deleted.
CREATE TABLE order_files (
    id           serial PRIMARY KEY,
    order_id     integer,
    file_type    smallint,
    file_name    varchar(255),
    file_path    text,
    mime_type    varchar(100),
    file_size    bigint,
    md5          char(32),
    uploaded_by  integer,
    is_deleted   boolean NOT NULL DEFAULT false,
    created_at   timestamp
);

-- ---------------------------------------------------------------- money

-- Promotions. discount_type: 1 percent (discount_value is a percentage), 2 fixed (discount_value is
-- dollars). discount_value and min_order_amount are numeric with any scale (a few carry more than
-- two decimals or are negative). product_id -> products.id, NULL: every product. ends_at NULL: open.
CREATE TABLE offers (
    id                serial PRIMARY KEY,
    product_id        integer,
    name              varchar(255),
    description       text,
    discount_type     smallint,
    discount_value    numeric,
    min_order_amount  numeric,
    starts_at         timestamp,
    ends_at           timestamp,
    is_active         boolean,
    created_at        timestamp
);

-- Discount codes handed to doctors, usually from an offer (offer_id NULL: ad hoc). amount_cents is
-- integer cents for fixed discounts, percent_off numeric for percentage ones (the other NULL).
-- doctor_id NULL: a public code. times_used can exceed max_uses (the check was client side).
CREATE TABLE discounts (
    id            serial PRIMARY KEY,
    offer_id      integer,
    doctor_id     integer,
    code          varchar(40),
    amount_cents  integer,
    percent_off   numeric,
    max_uses      integer,
    times_used    integer,
    expires_at    timestamp,
    is_deleted    boolean NOT NULL DEFAULT false,
    created_at    timestamp
);

-- Payments against orders. amount is numeric dollars, any scale (a few with more than two decimals,
-- a few negative); refunded_cents integer cents. status: 0 pending, 1 completed, 2 failed,
-- 3 refunded, 4 charged back. method free text ('card', 'Credit Card', 'VISA', 'check', 'Check',
-- 'ACH', 'wire', 'cash'). order_id -> orders.id (a few orphans), doctor_id copied from the order,
-- discount_id -> discounts.id.
CREATE TABLE purchases (
    id               serial PRIMARY KEY,
    order_id         integer,
    doctor_id        integer,
    discount_id      integer,
    amount           numeric,
    currency         char(3),
    method           varchar(30),
    status           smallint,
    transaction_ref  varchar(64),
    refunded_cents   integer,
    paid_at          timestamp,
    created_at       timestamp
);

-- ---------------------------------------------------------------- feedback and notes

-- rating 1..5, with 0 and NULL from the old form that allowed no answer; nps 0..10 since 2019
-- (NULL before). category free text ('Fit', 'fit', 'Shipping', 'Turnaround', 'Billing', NULL).
CREATE TABLE customer_feedback (
    id           serial PRIMARY KEY,
    order_id     integer,
    doctor_id    integer,
    rating       smallint,
    nps          smallint,
    category     varchar(50),
    comment      text,
    is_resolved  boolean,
    resolved_at  timestamp,
    created_at   timestamp
);

-- Internal notes about a doctor (preferences, billing arrangements). author_profile_id -> profiles.id
-- (staff). Soft delete by deleted_at.
CREATE TABLE doctor_notes (
    id                 serial PRIMARY KEY,
    doctor_id          integer,
    author_profile_id  integer,
    note               text,
    is_pinned          boolean,
    created_at         timestamp,
    updated_at         timestamp,
    deleted_at         timestamp
);

-- Polymorphic comments, Rails style: commentable_type names the model ('Order', 'Case', 'Project',
-- 'TreatmentPlan', 'Patient'; an old API wrote lower case 'order' / 'case') and commentable_id the
-- row in that table. No constraint can exist and some point at rows that do not. parent_id ->
-- comments.id for replies (same target as the parent). Soft delete by deleted_at.
CREATE TABLE comments (
    id                 serial PRIMARY KEY,
    commentable_type   varchar(50),
    commentable_id     integer,
    parent_id          integer,
    author_profile_id  integer,
    body               text,
    is_internal        boolean,
    created_at         timestamp,
    updated_at         timestamp,
    deleted_at         timestamp
);

-- The dispatcher's bookkeeping, one row per queue ('dispatch.us-central.0'). status free text
-- ('idle', 'running', 'error', 'IDLE', 'stalled'). last_message_id -> messages.id (the last one
-- dispatched). lock_owner 'host:pid' while running; stale locks were never cleared. state_json is
-- JSON text ({"cursor":..., "batch":...}).
CREATE TABLE dispatch_state (
    id               serial PRIMARY KEY,
    queue_name       varchar(100),
    status           varchar(20),
    last_message_id  integer,
    last_run_at      timestamp,
    error_count      integer,
    last_error       text,
    lock_owner       varchar(100),
    state_json       text,
    updated_at       timestamp
);
