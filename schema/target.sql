-- The new schema (Supabase style) for the lab's core tables, filled by the migration runner
-- from the legacy database (schema/legacy.sql) through one WebAssembly transform per legacy
-- table (plugins/<table>/).
--
-- Conventions
--   * Everything lives in schema `public`; names are snake_case, tables plural.
--   * Primary key: `id uuid` WITHOUT a default. The migration supplies deterministic ids
--     (UUIDv5 of the legacy table name and legacy id, recorded in the runner's id map), so a
--     re-run or a retry of a quarantined row gives the same id. Rows split off a legacy row
--     (profile_roles, order_status_history) get ids minted the same way from the child table
--     name (and position).
--   * `legacy_id bigint NOT NULL UNIQUE` on every table migrated one row per legacy row: the
--     legacy integer key, for tracing and for old references. Child tables split off a legacy
--     row carry their parent's uuid instead.
--   * Times are `timestamptz`. Legacy timestamps were lab wall-clock time without a zone
--     (America/Chicago); the transforms hand them over with that zone, so PostgreSQL applies
--     the daylight-saving rules of the day.
--   * Status codes (small ints or free text in the legacy tables) are enums.
--   * Money is exact `numeric(12,2)`: never a float, never rounded by the migration (amounts
--     with sub-cent digits are quarantined for an operator).
--   * Foreign keys are enforced and not deferrable: parents are migrated before children
--     (offices, categories, profiles -> doctors -> patients -> orders; doctor_offices). A
--     legacy row whose parent is missing is quarantined by its transform, never written.
--   * `legacy_metadata jsonb` keeps raw legacy values that could not be converted (for
--     example {"date_of_birth": "N/A"}); NULL when everything converted.
--   * Every foreign-key column has an index.
--   * No `migration` schema here: the runner creates and owns its own state schema.
--
-- Apply to an empty database: psql -v ON_ERROR_STOP=1 -1 -f schema/target.sql
-- (no BEGIN/COMMIT inside, so the runner can apply it within its own transaction; sent as
-- one multi-statement query it is atomic anyway).

-- ------------------------------------------------------------------------------ enums

-- legacy profiles.profile_type: 1 doctor, 2 patient, 3 technician, 4 admin, 5 staff.
CREATE TYPE public.app_role AS ENUM ('doctor', 'patient', 'technician', 'admin', 'staff');

-- legacy doctors.status, free text normalized ('Active', 'ACTIVE ' -> active).
CREATE TYPE public.doctor_status AS ENUM ('active', 'inactive', 'suspended', 'pending', 'on_hold');

-- legacy patients.gender: 'M', 'F', 'U' (any case).
CREATE TYPE public.gender AS ENUM ('male', 'female', 'unknown');

-- legacy orders.status: 0 draft, 1 submitted, 2 in production, 3 shipped, 4 delivered,
-- 5 cancelled, 9 on hold. Also the status of each order_status_history entry.
CREATE TYPE public.order_status AS ENUM (
    'draft', 'submitted', 'in_production', 'shipped', 'delivered', 'cancelled', 'on_hold'
);

-- ------------------------------------------------------------------------------ offices

-- From legacy offices, one row per office; soft-deleted offices (is_deleted) are not migrated.
CREATE TABLE public.offices (
    id          uuid PRIMARY KEY,
    legacy_id   bigint NOT NULL UNIQUE,
    name        text NOT NULL CHECK (btrim(name) <> ''),
    address     text,
    city        text,
    state       text,
    zip         text,
    phone       text,
    email       text,
    created_at  timestamptz,
    updated_at  timestamptz
);
COMMENT ON TABLE public.offices IS 'Dental offices, from legacy offices (soft-deleted ones left behind).';

-- ------------------------------------------------------------------------------ categories

-- From legacy categories, one row per category (the legacy table has no soft delete;
-- inactive categories migrate with is_active = false).
CREATE TABLE public.categories (
    id          uuid PRIMARY KEY,
    legacy_id   bigint NOT NULL UNIQUE,
    name        text NOT NULL CHECK (btrim(name) <> ''),
    description text,
    sort_order  integer,
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz
);
COMMENT ON TABLE public.categories IS 'Product categories, from legacy categories.';

-- ------------------------------------------------------------------------------ profiles

-- From legacy profiles, one row per person; soft-deleted profiles (deleted_at set) are not
-- migrated. The legacy password_hash is not carried here (authentication belongs to the
-- auth system, not to public tables). `settings` is the legacy settings JSON when it was
-- valid JSON; malformed settings text is kept in legacy_metadata.
CREATE TABLE public.profiles (
    id              uuid PRIMARY KEY,
    legacy_id       bigint NOT NULL UNIQUE,
    email           text,
    first_name      text,
    last_name       text,
    phone           text,
    is_active       boolean NOT NULL,
    settings        jsonb,
    legacy_metadata jsonb,
    created_at      timestamptz,
    updated_at      timestamptz
);
CREATE INDEX profiles_email_idx ON public.profiles (lower(email));
COMMENT ON TABLE public.profiles IS 'People with an account, from legacy profiles (soft-deleted ones left behind).';

-- Split off legacy profiles.profile_type: one row per migrated profile.
CREATE TABLE public.profile_roles (
    id          uuid PRIMARY KEY,
    profile_id  uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
    role        public.app_role NOT NULL,
    UNIQUE (profile_id, role)
);
COMMENT ON TABLE public.profile_roles IS 'Roles of a profile, split off legacy profiles.profile_type (one per profile).';

-- ------------------------------------------------------------------------------ doctors

-- From legacy doctors; soft-deleted doctors (deleted_at set) are not migrated. status is
-- NULL where the legacy status was blank or NULL.
CREATE TABLE public.doctors (
    id          uuid PRIMARY KEY,
    legacy_id   bigint NOT NULL UNIQUE,
    profile_id  uuid REFERENCES public.profiles (id),
    office_id   uuid NOT NULL REFERENCES public.offices (id),
    license_no  text,
    specialty   text,
    status      public.doctor_status,
    created_at  timestamptz,
    updated_at  timestamptz
);
CREATE INDEX doctors_profile_id_idx ON public.doctors (profile_id);
CREATE INDEX doctors_office_id_idx ON public.doctors (office_id);
COMMENT ON TABLE public.doctors IS 'Doctors, from legacy doctors (soft-deleted ones left behind).';

-- ------------------------------------------------------------------------------ patients

-- From legacy patients (all of them: `archived` is a state, not a delete). date_of_birth
-- and gender are parsed from hand-typed legacy text; what could not be parsed is NULL here
-- and kept raw in legacy_metadata.
CREATE TABLE public.patients (
    id              uuid PRIMARY KEY,
    legacy_id       bigint NOT NULL UNIQUE,
    doctor_id       uuid NOT NULL REFERENCES public.doctors (id),
    office_id       uuid REFERENCES public.offices (id),
    profile_id      uuid REFERENCES public.profiles (id),
    first_name      text,
    last_name       text NOT NULL CHECK (btrim(last_name) <> ''),
    date_of_birth   date,
    gender          public.gender,
    email           text,
    phone           text,
    notes           text,
    is_archived     boolean NOT NULL DEFAULT false,
    legacy_metadata jsonb,
    created_at      timestamptz,
    updated_at      timestamptz
);
CREATE INDEX patients_doctor_id_idx ON public.patients (doctor_id);
CREATE INDEX patients_office_id_idx ON public.patients (office_id);
CREATE INDEX patients_profile_id_idx ON public.patients (profile_id);
COMMENT ON TABLE public.patients IS 'Patients, from legacy patients.';

-- ------------------------------------------------------------------------------ orders

-- From legacy orders; soft-deleted orders (is_deleted) are not migrated. total_amount is
-- the legacy dollar amount exact to the cent; amount_paid comes from legacy integer cents
-- (NULL when the legacy system recorded none: unknown is not zero).
-- A status_history text that is not the expected JSON is kept raw in legacy_metadata
-- ({"status_history": "<raw text>"}) and gives no order_status_history rows.
CREATE TABLE public.orders (
    id              uuid PRIMARY KEY,
    legacy_id       bigint NOT NULL UNIQUE,
    patient_id      uuid NOT NULL REFERENCES public.patients (id),
    doctor_id       uuid REFERENCES public.doctors (id),
    office_id       uuid REFERENCES public.offices (id),
    order_number    text NOT NULL CHECK (btrim(order_number) <> ''),
    status          public.order_status NOT NULL,
    total_amount    numeric(12,2) NOT NULL CHECK (total_amount >= 0),
    amount_paid     numeric(12,2),
    currency        char(3) CHECK (currency ~ '^[A-Z]{3}$'),
    notes           text,
    legacy_metadata jsonb,
    submitted_at    timestamptz,
    shipped_at      timestamptz,
    created_at      timestamptz,
    updated_at      timestamptz
);
CREATE INDEX orders_patient_id_idx ON public.orders (patient_id);
CREATE INDEX orders_doctor_id_idx ON public.orders (doctor_id);
CREATE INDEX orders_office_id_idx ON public.orders (office_id);
CREATE INDEX orders_order_number_idx ON public.orders (order_number);
COMMENT ON TABLE public.orders IS 'Orders, from legacy orders (soft-deleted ones left behind).';

-- Split off legacy orders.status_history (JSON text [{"status": 1, "at": "..."}, ...]):
-- one row per entry, position 1, 2, ... in the legacy array order.
CREATE TABLE public.order_status_history (
    id          uuid PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES public.orders (id) ON DELETE CASCADE,
    position    integer NOT NULL CHECK (position >= 1),
    status      public.order_status NOT NULL,
    changed_at  timestamptz NOT NULL,
    UNIQUE (order_id, position)
);
COMMENT ON TABLE public.order_status_history IS 'Status changes of an order, split off legacy orders.status_history.';

-- ------------------------------------------------------------------------------ doctor_offices

-- From legacy doctor_offices: which offices a doctor works at besides doctors.office_id.
CREATE TABLE public.doctor_offices (
    id          uuid PRIMARY KEY,
    legacy_id   bigint NOT NULL UNIQUE,
    doctor_id   uuid NOT NULL REFERENCES public.doctors (id),
    office_id   uuid NOT NULL REFERENCES public.offices (id),
    is_primary  boolean NOT NULL DEFAULT false,
    created_at  timestamptz,
    UNIQUE (doctor_id, office_id)
);
CREATE INDEX doctor_offices_office_id_idx ON public.doctor_offices (office_id);
COMMENT ON TABLE public.doctor_offices IS 'Doctor-office links, from legacy doctor_offices.';
