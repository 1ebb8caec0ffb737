-- The new schema for the lab's staff, catalog and production tables (group A): technician
-- roles and technicians, the bracket catalog, products, and the production work hanging off
-- orders (jaws, projects, treatment plans, tasks). Applied after schema/target.sql, with the
-- same conventions (see its header): uuid `id` without default minted by the migration,
-- `legacy_id bigint NOT NULL UNIQUE` on tables migrated one row per legacy row, timestamptz
-- from lab local time, enums for codes, exact numeric(12,2) money, enforced non-deferrable
-- foreign keys with an index per foreign-key column, `legacy_metadata jsonb` for raw values
-- that could not be converted.
--
-- Reference tables filled from legacy codes (bracket_manufacturers, bracket_systems,
-- project_types, task_types) do not come from a legacy table: they are seeded here, with
-- fixed uuid literals that the transforms use too (a code the seed does not know is never
-- guessed: see each table's comment).
--
-- Apply after target.sql: psql -v ON_ERROR_STOP=1 -1 -f schema/target.sql -f schema/target-production.sql

-- ------------------------------------------------------------------------------ enums

-- legacy technician_roles.level: 1 trainee, 2 technician, 3 senior, 4 supervisor, 5 lead.
CREATE TYPE public.technician_level AS ENUM ('trainee', 'technician', 'senior', 'supervisor', 'lead');

-- legacy technicians.shift: 1 day, 2 evening, 3 night.
CREATE TYPE public.work_shift AS ENUM ('day', 'evening', 'night');

-- legacy jaws.jaw_type: 1 upper (maxilla), 2 lower (mandible).
CREATE TYPE public.jaw_type AS ENUM ('upper', 'lower');

-- legacy jaws.arch_form, free text normalized ('Ovoid' -> ovoid).
CREATE TYPE public.arch_form AS ENUM ('ovoid', 'tapered', 'square');

-- legacy jaws.bonding: which tooth surface the brackets are bonded to.
CREATE TYPE public.bonding_surface AS ENUM ('labial', 'lingual');

-- legacy projects.status: 0 new, 1 in progress, 2 in review, 3 approved, 4 rejected, 5 archived.
CREATE TYPE public.project_status AS ENUM ('new', 'in_progress', 'in_review', 'approved', 'rejected', 'archived');

-- legacy tasks.status: 0 open, 1 in progress, 2 done, 3 skipped, 4 failed (redone as a new task).
CREATE TYPE public.task_status AS ENUM ('open', 'in_progress', 'done', 'skipped', 'failed');

-- ------------------------------------------------------------------------------ technician_roles

-- From legacy technician_roles, one row per role (no soft delete: retired roles migrate with
-- is_active = false). code is kept as typed (its case is inconsistent in the legacy data and
-- near-duplicate roles such as 'TRAINEE' / 'Trainee' are distinct rows), so it is not unique.
-- level is NULL (raw value in legacy_metadata) when the legacy code is unknown; a NULL
-- is_active is written as true and recorded in legacy_metadata as {"is_active": null}.
CREATE TABLE public.technician_roles (
    id              uuid PRIMARY KEY,
    legacy_id       bigint NOT NULL UNIQUE,
    code            text,
    name            text NOT NULL CHECK (btrim(name) <> ''),
    description     text,
    level           public.technician_level,
    is_active       boolean NOT NULL DEFAULT true,
    legacy_metadata jsonb,
    created_at      timestamptz
);
CREATE INDEX technician_roles_code_idx ON public.technician_roles (upper(code));
COMMENT ON TABLE public.technician_roles IS 'Roles of lab technicians, from legacy technician_roles.';

-- Split off legacy technician_roles.permissions (JSON text array of permission names): one
-- row per distinct name. A NULL permissions column gives no rows; text that is not a JSON
-- array of strings gives no rows and is kept raw in the role's legacy_metadata.
CREATE TABLE public.technician_role_permissions (
    id          uuid PRIMARY KEY,
    role_id     uuid NOT NULL REFERENCES public.technician_roles (id) ON DELETE CASCADE,
    permission  text NOT NULL CHECK (btrim(permission) <> ''),
    UNIQUE (role_id, permission)
);
COMMENT ON TABLE public.technician_role_permissions IS 'Permissions of a technician role, split off legacy technician_roles.permissions.';

-- ------------------------------------------------------------------------------ technicians

-- From legacy technicians, one row per technician (no soft delete: terminated_at and
-- is_active are kept as the legacy system had them, even where they disagree). role_id is
-- NULL for a technician never given a role; profile_id is NULL when the login was
-- soft-deleted (the legacy id is then kept as {"profile_id": <id>}). employee_no is
-- upper-cased ('t-0005' -> 'T-0005'). hourly_rate comes from legacy integer cents. An
-- unknown shift code or a negative rate is NULL here and kept raw in legacy_metadata; a
-- NULL is_active is written as "not terminated" and recorded as {"is_active": null}.
CREATE TABLE public.technicians (
    id              uuid PRIMARY KEY,
    legacy_id       bigint NOT NULL UNIQUE,
    profile_id      uuid REFERENCES public.profiles (id),
    role_id         uuid REFERENCES public.technician_roles (id),
    employee_no     text,
    shift           public.work_shift,
    hourly_rate     numeric(12,2) CHECK (hourly_rate >= 0),
    is_active       boolean NOT NULL,
    legacy_metadata jsonb,
    hired_at        timestamptz,
    terminated_at   timestamptz,
    created_at      timestamptz
);
CREATE INDEX technicians_profile_id_idx ON public.technicians (profile_id);
CREATE INDEX technicians_role_id_idx ON public.technicians (role_id);
CREATE INDEX technicians_employee_no_idx ON public.technicians (employee_no);
COMMENT ON TABLE public.technicians IS 'Lab technicians, from legacy technicians.';

-- ------------------------------------------------------------------------------ bracket catalog

-- Bracket makers, seeded from the values of legacy brackets.manufacturer.
CREATE TABLE public.bracket_manufacturers (
    id    uuid PRIMARY KEY,
    name  text NOT NULL UNIQUE CHECK (btrim(name) <> '')
);
COMMENT ON TABLE public.bracket_manufacturers IS 'Bracket makers, seeded from legacy brackets.manufacturer.';

INSERT INTO public.bracket_manufacturers (id, name) VALUES
    ('a2c4e000-0001-4000-8000-000000000001', '3M Unitek'),
    ('a2c4e000-0001-4000-8000-000000000002', 'American Orthodontics'),
    ('a2c4e000-0001-4000-8000-000000000003', 'Ormco'),
    ('a2c4e000-0001-4000-8000-000000000004', 'Dentsply GAC'),
    ('a2c4e000-0001-4000-8000-000000000005', 'Ortho Technology'),
    ('a2c4e000-0001-4000-8000-000000000006', 'Forestadent'),
    ('a2c4e000-0001-4000-8000-000000000007', 'TP Orthodontics');

-- Bracket systems (a maker's product line), seeded from the (manufacturer, product_line)
-- pairs of legacy brackets.
CREATE TABLE public.bracket_systems (
    id               uuid PRIMARY KEY,
    manufacturer_id  uuid NOT NULL REFERENCES public.bracket_manufacturers (id),
    name             text NOT NULL CHECK (btrim(name) <> ''),
    UNIQUE (manufacturer_id, name)
);
COMMENT ON TABLE public.bracket_systems IS 'Bracket product lines of a maker, seeded from legacy brackets.product_line.';

INSERT INTO public.bracket_systems (id, manufacturer_id, name) VALUES
    ('a2c4e000-0002-4000-8000-000000000101', 'a2c4e000-0001-4000-8000-000000000001', 'Victory Series'),
    ('a2c4e000-0002-4000-8000-000000000102', 'a2c4e000-0001-4000-8000-000000000001', 'Clarity Advanced'),
    ('a2c4e000-0002-4000-8000-000000000103', 'a2c4e000-0001-4000-8000-000000000001', 'SmartClip SL3'),
    ('a2c4e000-0002-4000-8000-000000000104', 'a2c4e000-0001-4000-8000-000000000001', 'APC Flash-Free'),
    ('a2c4e000-0002-4000-8000-000000000201', 'a2c4e000-0001-4000-8000-000000000002', 'Mini Master'),
    ('a2c4e000-0002-4000-8000-000000000202', 'a2c4e000-0001-4000-8000-000000000002', 'Empower 2'),
    ('a2c4e000-0002-4000-8000-000000000203', 'a2c4e000-0001-4000-8000-000000000002', 'Radiance Plus'),
    ('a2c4e000-0002-4000-8000-000000000204', 'a2c4e000-0001-4000-8000-000000000002', 'Insignia'),
    ('a2c4e000-0002-4000-8000-000000000301', 'a2c4e000-0001-4000-8000-000000000003', 'Damon Q2'),
    ('a2c4e000-0002-4000-8000-000000000302', 'a2c4e000-0001-4000-8000-000000000003', 'Damon Clear'),
    ('a2c4e000-0002-4000-8000-000000000303', 'a2c4e000-0001-4000-8000-000000000003', 'Inspire Ice'),
    ('a2c4e000-0002-4000-8000-000000000304', 'a2c4e000-0001-4000-8000-000000000003', 'Symetri Clear'),
    ('a2c4e000-0002-4000-8000-000000000401', 'a2c4e000-0001-4000-8000-000000000004', 'In-Ovation R'),
    ('a2c4e000-0002-4000-8000-000000000402', 'a2c4e000-0001-4000-8000-000000000004', 'In-Ovation C'),
    ('a2c4e000-0002-4000-8000-000000000403', 'a2c4e000-0001-4000-8000-000000000004', 'Mystique'),
    ('a2c4e000-0002-4000-8000-000000000404', 'a2c4e000-0001-4000-8000-000000000004', 'Omni'),
    ('a2c4e000-0002-4000-8000-000000000501', 'a2c4e000-0001-4000-8000-000000000005', 'Truklear'),
    ('a2c4e000-0002-4000-8000-000000000502', 'a2c4e000-0001-4000-8000-000000000005', 'LightForce'),
    ('a2c4e000-0002-4000-8000-000000000601', 'a2c4e000-0001-4000-8000-000000000006', 'Quick 2.0'),
    ('a2c4e000-0002-4000-8000-000000000602', 'a2c4e000-0001-4000-8000-000000000006', 'BioQuick'),
    ('a2c4e000-0002-4000-8000-000000000603', 'a2c4e000-0001-4000-8000-000000000006', 'Mini Sprint'),
    ('a2c4e000-0002-4000-8000-000000000701', 'a2c4e000-0001-4000-8000-000000000007', 'Inspire'),
    ('a2c4e000-0002-4000-8000-000000000702', 'a2c4e000-0001-4000-8000-000000000007', 'Nu-Edge');

-- From legacy brackets, one row per catalog entry (no soft delete: discontinued_at and
-- is_active are kept as the legacy system had them, even where they disagree).
-- bracket_system_id is the seeded system matching the legacy (manufacturer, product_line),
-- compared without regard to case and surrounding blanks; a pair the seed does not know is
-- NULL here and kept raw in legacy_metadata ({"manufacturer": ..., "product_line": ...}).
-- The free-text slot size ('0.018', '.018', '0.022"', '22', '18 slot', '0.022 x 0.028') is
-- parsed into inches (slot_size, and slot_depth where the text gives one); text that does
-- not parse is kept raw in legacy_metadata. tooth_fdi is NULL for universal brackets.
-- torque and angulation are degrees, exact to 0.01 (more digits: NULL and kept raw).
-- unit_cost comes from legacy integer cents. A NULL is_active is written as "not
-- discontinued" and recorded as {"is_active": null}.
CREATE TABLE public.brackets (
    id                 uuid PRIMARY KEY,
    legacy_id          bigint NOT NULL UNIQUE,
    bracket_system_id  uuid REFERENCES public.bracket_systems (id),
    model_no           text,
    slot_size          numeric(4,3) CHECK (slot_size > 0),
    slot_depth         numeric(4,3) CHECK (slot_depth > 0),
    tooth_fdi          smallint CHECK (tooth_fdi / 10 BETWEEN 1 AND 4 AND tooth_fdi % 10 BETWEEN 1 AND 8),
    torque             numeric(5,2),
    angulation         numeric(5,2),
    unit_cost          numeric(12,2) CHECK (unit_cost >= 0),
    is_active          boolean NOT NULL,
    legacy_metadata    jsonb,
    created_at         timestamptz,
    discontinued_at    timestamptz
);
CREATE INDEX brackets_bracket_system_id_idx ON public.brackets (bracket_system_id);
CREATE INDEX brackets_model_no_idx ON public.brackets (model_no);
COMMENT ON TABLE public.brackets IS 'The bracket catalog, from legacy brackets.';

-- ------------------------------------------------------------------------------ products

-- From legacy products, one row per product (no soft delete; a NULL is_active takes the
-- legacy column default, true). unit_price is the legacy dollar amount exact to the cent
-- (sub-cent digits or a negative price: quarantined).
CREATE TABLE public.products (
    id           uuid PRIMARY KEY,
    legacy_id    bigint NOT NULL UNIQUE,
    category_id  uuid REFERENCES public.categories (id),
    sku          text UNIQUE,
    name         text NOT NULL CHECK (btrim(name) <> ''),
    description  text,
    unit_price   numeric(12,2) CHECK (unit_price >= 0),
    is_active    boolean NOT NULL DEFAULT true,
    created_at   timestamptz,
    updated_at   timestamptz
);
CREATE INDEX products_category_id_idx ON public.products (category_id);
COMMENT ON TABLE public.products IS 'What the lab sells, from legacy products.';

-- ------------------------------------------------------------------------------ jaws

-- From legacy jaws, one row per treated arch of an order (jaws of a soft-deleted order are
-- left behind with it). bracket_id is NULL for aligner work. An arch_form or bonding the
-- enums do not know is NULL here and kept raw in legacy_metadata, as is a teeth list that
-- could not be read.
CREATE TABLE public.jaws (
    id               uuid PRIMARY KEY,
    legacy_id        bigint NOT NULL UNIQUE,
    order_id         uuid NOT NULL REFERENCES public.orders (id),
    jaw_type         public.jaw_type NOT NULL,
    bracket_id       uuid REFERENCES public.brackets (id),
    arch_form        public.arch_form,
    bonding          public.bonding_surface,
    legacy_metadata  jsonb,
    created_at       timestamptz,
    updated_at       timestamptz
);
CREATE INDEX jaws_order_id_idx ON public.jaws (order_id);
CREATE INDEX jaws_bracket_id_idx ON public.jaws (bracket_id);
COMMENT ON TABLE public.jaws IS 'Treated arches of an order, from legacy jaws.';

-- Split off legacy jaws.teeth (comma-separated '13,12,11' before 2019, a JSON array
-- '[13,12,11]' since): one row per treated tooth (FDI number, permanent or primary),
-- position 1, 2, ... in the legacy order. '' or NULL gives no rows; a list that is not
-- FDI numbers, or names a tooth twice, gives no rows and is kept raw in the jaw's
-- legacy_metadata ({"teeth": "<raw>"}).
CREATE TABLE public.jaw_teeth (
    id         uuid PRIMARY KEY,
    jaw_id     uuid NOT NULL REFERENCES public.jaws (id) ON DELETE CASCADE,
    position   integer NOT NULL CHECK (position >= 1),
    tooth_fdi  smallint NOT NULL CHECK (
        (tooth_fdi / 10 BETWEEN 1 AND 4 AND tooth_fdi % 10 BETWEEN 1 AND 8)
        OR (tooth_fdi / 10 BETWEEN 5 AND 8 AND tooth_fdi % 10 BETWEEN 1 AND 5)),
    UNIQUE (jaw_id, position),
    UNIQUE (jaw_id, tooth_fdi)
);
COMMENT ON TABLE public.jaw_teeth IS 'Treated teeth of a jaw, split off legacy jaws.teeth.';

-- ------------------------------------------------------------------------------ projects

-- The kinds of CAD work, seeded from legacy projects.project_type: 1 digital setup,
-- 2 bracket placement, 3 IDB tray design, 4 aligner staging, 5 retainer design.
CREATE TABLE public.project_types (
    id           uuid PRIMARY KEY,
    legacy_code  smallint NOT NULL UNIQUE,
    code         text NOT NULL UNIQUE,
    name         text NOT NULL
);
COMMENT ON TABLE public.project_types IS 'Kinds of CAD work, seeded from the legacy projects.project_type codes.';

INSERT INTO public.project_types (id, legacy_code, code, name) VALUES
    ('a2c4e000-0003-4000-8000-000000000001', 1, 'digital_setup', 'Digital setup'),
    ('a2c4e000-0003-4000-8000-000000000002', 2, 'bracket_placement', 'Bracket placement'),
    ('a2c4e000-0003-4000-8000-000000000003', 3, 'idb_tray_design', 'IDB tray design'),
    ('a2c4e000-0003-4000-8000-000000000004', 4, 'aligner_staging', 'Aligner staging'),
    ('a2c4e000-0003-4000-8000-000000000005', 5, 'retainer_design', 'Retainer design');

-- From legacy projects, one unit of CAD work on an order; soft-deleted projects
-- (is_deleted) and projects of a soft-deleted order are not migrated. technician_id is NULL
-- while unassigned. version counts re-dos of the same type within the order.
CREATE TABLE public.projects (
    id               uuid PRIMARY KEY,
    legacy_id        bigint NOT NULL UNIQUE,
    order_id         uuid NOT NULL REFERENCES public.orders (id),
    project_type_id  uuid NOT NULL REFERENCES public.project_types (id),
    technician_id    uuid REFERENCES public.technicians (id),
    name             text,
    status           public.project_status NOT NULL,
    version          integer CHECK (version >= 1),
    legacy_metadata  jsonb,
    created_at       timestamptz,
    updated_at       timestamptz,
    completed_at     timestamptz
);
CREATE INDEX projects_order_id_idx ON public.projects (order_id);
CREATE INDEX projects_project_type_id_idx ON public.projects (project_type_id);
CREATE INDEX projects_technician_id_idx ON public.projects (technician_id);
COMMENT ON TABLE public.projects IS 'CAD work units of an order, from legacy projects (soft-deleted ones left behind).';

-- ------------------------------------------------------------------------------ treatment_plans

-- From legacy treatment_plans, one row per plan revision of a project (plans of a project
-- that was not migrated because it was soft-deleted are left behind with it). The legacy
-- order_id and patient_id were copies of the project's order and its patient: they are
-- reached through project_id -> projects.order_id and not repeated here. approved_by is the
-- approving doctor (NULL when that doctor was soft-deleted: the legacy id is then kept as
-- {"approved_by": <id>}). A NULL is_approved is written as "approved_at is set" and
-- recorded as {"is_approved": null}. step_count is the number of aligner stages (NULL for
-- bracket work); upper_steps and lower_steps come from the legacy plan_data JSON, whose
-- "ipr" and "attachments" lists become treatment_plan_iprs and treatment_plan_attachments
-- rows. plan_data that is not that shape gives no child rows and is kept raw as
-- {"plan_data": "<raw>"}.
CREATE TABLE public.treatment_plans (
    id               uuid PRIMARY KEY,
    legacy_id        bigint NOT NULL UNIQUE,
    project_id       uuid NOT NULL REFERENCES public.projects (id),
    revision         integer CHECK (revision >= 1),
    is_approved      boolean NOT NULL,
    approved_by      uuid REFERENCES public.doctors (id),
    approved_at      timestamptz,
    step_count       integer CHECK (step_count >= 0),
    upper_steps      integer CHECK (upper_steps >= 0),
    lower_steps      integer CHECK (lower_steps >= 0),
    notes            text,
    legacy_metadata  jsonb,
    created_at       timestamptz,
    updated_at       timestamptz
);
CREATE INDEX treatment_plans_project_id_idx ON public.treatment_plans (project_id);
CREATE INDEX treatment_plans_approved_by_idx ON public.treatment_plans (approved_by);
COMMENT ON TABLE public.treatment_plans IS 'Plan revisions of a project, from legacy treatment_plans.';

-- Split off legacy treatment_plans.plan_data "ipr" ([{"teeth":"12-11","mm":0.2}, ...]): one
-- interproximal reduction per entry, between two adjacent teeth (FDI numbers as written),
-- position 1, 2, ... in the legacy order.
CREATE TABLE public.treatment_plan_iprs (
    id                 uuid PRIMARY KEY,
    treatment_plan_id  uuid NOT NULL REFERENCES public.treatment_plans (id) ON DELETE CASCADE,
    position           integer NOT NULL CHECK (position >= 1),
    tooth_fdi          smallint NOT NULL CHECK (
        (tooth_fdi / 10 BETWEEN 1 AND 4 AND tooth_fdi % 10 BETWEEN 1 AND 8)
        OR (tooth_fdi / 10 BETWEEN 5 AND 8 AND tooth_fdi % 10 BETWEEN 1 AND 5)),
    adjacent_tooth_fdi smallint NOT NULL CHECK (
        (adjacent_tooth_fdi / 10 BETWEEN 1 AND 4 AND adjacent_tooth_fdi % 10 BETWEEN 1 AND 8)
        OR (adjacent_tooth_fdi / 10 BETWEEN 5 AND 8 AND adjacent_tooth_fdi % 10 BETWEEN 1 AND 5)),
    amount_mm          numeric(4,2) NOT NULL CHECK (amount_mm >= 0),
    UNIQUE (treatment_plan_id, position)
);
COMMENT ON TABLE public.treatment_plan_iprs IS 'Interproximal reductions of a plan, split off legacy treatment_plans.plan_data.';

-- Split off legacy treatment_plans.plan_data "attachments" ([13,23]): one row per entry,
-- position 1, 2, ... in the legacy order (a tooth listed twice stays listed twice).
CREATE TABLE public.treatment_plan_attachments (
    id                 uuid PRIMARY KEY,
    treatment_plan_id  uuid NOT NULL REFERENCES public.treatment_plans (id) ON DELETE CASCADE,
    position           integer NOT NULL CHECK (position >= 1),
    tooth_fdi          smallint NOT NULL CHECK (
        (tooth_fdi / 10 BETWEEN 1 AND 4 AND tooth_fdi % 10 BETWEEN 1 AND 8)
        OR (tooth_fdi / 10 BETWEEN 5 AND 8 AND tooth_fdi % 10 BETWEEN 1 AND 5)),
    UNIQUE (treatment_plan_id, position)
);
COMMENT ON TABLE public.treatment_plan_attachments IS 'Teeth carrying an aligner attachment in a plan, split off legacy treatment_plans.plan_data.';

-- ------------------------------------------------------------------------------ tasks

-- The steps of the production workflow, seeded from legacy tasks.task_type: 1 scan check,
-- 2 model prep, 3 setup, 4 bracket placement, 5 tray design, 6 3D print, 7 QA,
-- 8 packaging, 9 shipping.
CREATE TABLE public.task_types (
    id           uuid PRIMARY KEY,
    legacy_code  smallint NOT NULL UNIQUE,
    code         text NOT NULL UNIQUE,
    name         text NOT NULL
);
COMMENT ON TABLE public.task_types IS 'Production workflow steps, seeded from the legacy tasks.task_type codes.';

INSERT INTO public.task_types (id, legacy_code, code, name) VALUES
    ('a2c4e000-0004-4000-8000-000000000001', 1, 'scan_check', 'Scan check'),
    ('a2c4e000-0004-4000-8000-000000000002', 2, 'model_prep', 'Model prep'),
    ('a2c4e000-0004-4000-8000-000000000003', 3, 'setup', 'Setup'),
    ('a2c4e000-0004-4000-8000-000000000004', 4, 'bracket_placement', 'Bracket placement'),
    ('a2c4e000-0004-4000-8000-000000000005', 5, 'tray_design', 'Tray design'),
    ('a2c4e000-0004-4000-8000-000000000006', 6, 'print_3d', '3D print'),
    ('a2c4e000-0004-4000-8000-000000000007', 7, 'qa', 'QA'),
    ('a2c4e000-0004-4000-8000-000000000008', 8, 'packaging', 'Packaging'),
    ('a2c4e000-0004-4000-8000-000000000009', 9, 'shipping', 'Shipping');

-- From legacy tasks, one production step of an order (tasks of a soft-deleted order are
-- left behind with it; tasks of an order that no longer exists are quarantined). priority
-- is 1 urgent .. 5 low; one outside 1-5 is NULL here and kept raw in legacy_metadata.
-- duration_seconds is recorded for done tasks only. Who works on the task is in
-- task_assignments.
CREATE TABLE public.tasks (
    id                uuid PRIMARY KEY,
    legacy_id         bigint NOT NULL UNIQUE,
    order_id          uuid NOT NULL REFERENCES public.orders (id),
    task_type_id      uuid NOT NULL REFERENCES public.task_types (id),
    status            public.task_status NOT NULL,
    priority          smallint CHECK (priority BETWEEN 1 AND 5),
    started_at        timestamptz,
    completed_at      timestamptz,
    duration_seconds  integer CHECK (duration_seconds >= 0),
    notes             text,
    legacy_metadata   jsonb,
    created_at        timestamptz
);
CREATE INDEX tasks_order_id_idx ON public.tasks (order_id);
CREATE INDEX tasks_task_type_id_idx ON public.tasks (task_type_id);
COMMENT ON TABLE public.tasks IS 'Production workflow steps of an order, from legacy tasks.';

-- Split off legacy tasks.technician_id: the technician assigned to a task, one row per
-- assigned task (none while unassigned).
CREATE TABLE public.task_assignments (
    id             uuid PRIMARY KEY,
    task_id        uuid NOT NULL UNIQUE REFERENCES public.tasks (id) ON DELETE CASCADE,
    technician_id  uuid NOT NULL REFERENCES public.technicians (id)
);
CREATE INDEX task_assignments_technician_id_idx ON public.task_assignments (technician_id);
COMMENT ON TABLE public.task_assignments IS 'Technician assigned to a task, split off legacy tasks.technician_id.';
