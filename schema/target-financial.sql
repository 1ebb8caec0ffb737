-- Group C of the new schema: the files of an order, the money (promotions, discount codes,
-- payments) and what customers and staff say about the work (feedback, comments). Filled
-- from the legacy tables order_files, offers, discounts, purchases, customer_feedback and
-- comments (one transform each, plugins/<legacy table>/), with the conventions of
-- schema/target.sql: uuid ids minted by the migration, `legacy_id` on entity tables,
-- timestamptz from lab local time, enums for codes, exact numeric money (amounts with
-- sub-cent digits or impossible values are quarantined, never rounded), enforced
-- non-deferrable foreign keys with an index per FK column, `legacy_metadata` for raw values
-- that could not be converted.
--
-- Reference tables filled from legacy codes (file_types, payment_methods,
-- feedback_categories) do not come from a legacy table: they are seeded here with fixed uuid
-- literals that the transforms use too. A code the seed does not know is never guessed: the
-- reference is NULL and the raw value is kept in legacy_metadata.
--
-- Depends on the other groups' tables: offers.product_id references products
-- (schema/target-production.sql), and comments reference cases (schema/target-cases.sql),
-- projects and treatment_plans (schema/target-production.sql). Apply it last:
--
--   psql -v ON_ERROR_STOP=1 -1 -f schema/target.sql -f schema/target-production.sql \
--        -f schema/target-cases.sql -f schema/target-financial.sql

-- ------------------------------------------------------------------------------ enums

-- legacy offers.discount_type: 1 percent, 2 fixed (dollars). For discounts, the type is
-- whichever of amount_cents (fixed) or percent_off (percent) the legacy row filled.
CREATE TYPE public.discount_type AS ENUM ('percent', 'fixed_amount');

-- legacy purchases.status: 0 pending, 1 completed, 2 failed, 3 refunded, 4 charged back.
CREATE TYPE public.payment_status AS ENUM ('pending', 'completed', 'failed', 'refunded', 'charged_back');

-- What returned money to the payer: a refund by the lab, or a chargeback by the card issuer
-- (legacy purchases.status 4).
CREATE TYPE public.refund_kind AS ENUM ('refund', 'chargeback');

-- The kinds of rows a legacy comment can be about (legacy comments.commentable_type).
CREATE TYPE public.commentable_kind AS ENUM ('order', 'case', 'project', 'treatment_plan', 'patient');

-- The scores a feedback form asks for: satisfaction (legacy rating, 1..5) and net
-- promoter score (legacy nps, 0..10).
CREATE TYPE public.feedback_score_kind AS ENUM ('satisfaction', 'nps');

-- ------------------------------------------------------------------------------ order files

-- The kinds of order files, seeded from legacy order_files.file_type: 1 upper scan (STL),
-- 2 lower scan (STL), 3 bite scan, 4 photo, 5 x-ray, 6 treatment PDF, 7 print file, 8 other.
CREATE TABLE public.file_types (
    id           uuid PRIMARY KEY,
    legacy_code  smallint NOT NULL UNIQUE,
    code         text NOT NULL UNIQUE,
    name         text NOT NULL
);
COMMENT ON TABLE public.file_types IS 'Kinds of order files, seeded from the legacy order_files.file_type codes.';

INSERT INTO public.file_types (id, legacy_code, code, name) VALUES
    ('f1a0c000-0001-4000-8000-000000000001', 1, 'upper_scan', 'Upper scan (STL)'),
    ('f1a0c000-0001-4000-8000-000000000002', 2, 'lower_scan', 'Lower scan (STL)'),
    ('f1a0c000-0001-4000-8000-000000000003', 3, 'bite_scan', 'Bite scan'),
    ('f1a0c000-0001-4000-8000-000000000004', 4, 'photo', 'Photo'),
    ('f1a0c000-0001-4000-8000-000000000005', 5, 'xray', 'X-ray'),
    ('f1a0c000-0001-4000-8000-000000000006', 6, 'treatment_pdf', 'Treatment PDF'),
    ('f1a0c000-0001-4000-8000-000000000007', 7, 'print_file', 'Print file'),
    ('f1a0c000-0001-4000-8000-000000000008', 8, 'other', 'Other');

-- Stored files of orders, split off legacy order_files (one object per migrated file):
-- bucket + path as Supabase storage names them, all in bucket 'order-files'. The path is the
-- legacy S3 key unchanged ('orders/<order>/<hex>/<name>', since 2018); a file of the old
-- Windows share ('\\fs01\scans\2016\L001234\Upper Jaw.stl', before 2018) gets
-- 'orders/<legacy order id>/legacy-<legacy file id>/<name>' (share paths are not unique:
-- two files of an order can share a name). legacy_location is where the bytes are in the
-- legacy system (the S3 key or the share path, as written), for the job that copies them.
-- md5 is NULL for files stored before 2017; mime_type NULL where the legacy system did not
-- record it.
CREATE TABLE public.order_file_objects (
    id               uuid PRIMARY KEY,
    bucket           text NOT NULL DEFAULT 'order-files' CHECK (bucket = 'order-files'),
    path             text NOT NULL CHECK (btrim(path) <> ''),
    mime_type        text,
    size_bytes       bigint CHECK (size_bytes >= 0),
    md5              char(32) CHECK (md5 ~ '^[0-9a-f]{32}$'),
    legacy_location  text NOT NULL,
    created_at       timestamptz,
    UNIQUE (bucket, path)
);
COMMENT ON TABLE public.order_file_objects IS 'Stored files of orders (bucket + path), split off legacy order_files.';

-- From legacy order_files, the files of an order (scans, photos, x-rays, PDFs, print
-- files); soft-deleted files (is_deleted) and files of a soft-deleted order are not migrated.
-- The bytes are the storage object. file_name is the legacy name, or the last segment of the
-- legacy path when the name is blank. A file type code the seed does not know is NULL here
-- and kept in legacy_metadata, as are a malformed md5 or a negative size.
CREATE TABLE public.order_files (
    id                      uuid PRIMARY KEY,
    legacy_id               bigint NOT NULL UNIQUE,
    order_id                uuid NOT NULL REFERENCES public.orders (id),
    storage_object_id       uuid NOT NULL UNIQUE REFERENCES public.order_file_objects (id),
    file_type_id            uuid REFERENCES public.file_types (id),
    file_name               text NOT NULL CHECK (btrim(file_name) <> ''),
    uploaded_by_profile_id  uuid REFERENCES public.profiles (id),
    legacy_metadata         jsonb,
    created_at              timestamptz
);
CREATE INDEX order_files_order_id_idx ON public.order_files (order_id);
CREATE INDEX order_files_file_type_id_idx ON public.order_files (file_type_id);
CREATE INDEX order_files_uploaded_by_profile_id_idx ON public.order_files (uploaded_by_profile_id);
COMMENT ON TABLE public.order_files IS 'Files of an order, from legacy order_files (soft-deleted ones left behind).';

-- ------------------------------------------------------------------------------ offers

-- From legacy offers, one row per promotion (the legacy table has no soft delete). A
-- percent offer has percent_off, a fixed one amount_off (dollars), never both. product_id
-- NULL: the offer applies to every product. ends_at NULL: open-ended. A NULL legacy
-- is_active is written as false (a promotion nobody switched on). Offers whose value or
-- minimum order has sub-cent digits, or is negative, zero (value) or over 100% are
-- quarantined.
CREATE TABLE public.offers (
    id                uuid PRIMARY KEY,
    legacy_id         bigint NOT NULL UNIQUE,
    product_id        uuid REFERENCES public.products (id),
    name              text NOT NULL CHECK (btrim(name) <> ''),
    description       text,
    discount_type     public.discount_type NOT NULL,
    percent_off       numeric(5,2) CHECK (percent_off > 0 AND percent_off <= 100),
    amount_off        numeric(12,2) CHECK (amount_off > 0),
    min_order_amount  numeric(12,2) CHECK (min_order_amount >= 0),
    starts_at         timestamptz,
    ends_at           timestamptz,
    is_active         boolean NOT NULL DEFAULT false,
    created_at        timestamptz,
    CHECK ((discount_type = 'percent') = (percent_off IS NOT NULL)),
    CHECK ((discount_type = 'fixed_amount') = (amount_off IS NOT NULL))
);
CREATE INDEX offers_product_id_idx ON public.offers (product_id);
COMMENT ON TABLE public.offers IS 'Promotions, from legacy offers.';

-- ------------------------------------------------------------------------------ discounts

-- From legacy discounts, one discount code per row; soft-deleted codes (is_deleted) are not
-- migrated. offer_id NULL: an ad hoc code; doctor_id NULL: a public code. A fixed discount
-- has amount_off (from legacy integer cents), a percentage one percent_off, never both.
-- max_uses NULL: unlimited. times_used is kept as the legacy system counted it, and may
-- exceed max_uses (the legacy check was client side); a negative count is NULL here and kept
-- raw in legacy_metadata ({"max_uses": -1}).
CREATE TABLE public.discounts (
    id               uuid PRIMARY KEY,
    legacy_id        bigint NOT NULL UNIQUE,
    offer_id         uuid REFERENCES public.offers (id),
    doctor_id        uuid REFERENCES public.doctors (id),
    code             text NOT NULL UNIQUE CHECK (btrim(code) <> ''),
    discount_type    public.discount_type NOT NULL,
    amount_off       numeric(12,2) CHECK (amount_off > 0),
    percent_off      numeric(5,2) CHECK (percent_off > 0 AND percent_off <= 100),
    max_uses         integer CHECK (max_uses >= 0),
    times_used       integer CHECK (times_used >= 0),
    expires_at       timestamptz,
    legacy_metadata  jsonb,
    created_at       timestamptz,
    CHECK ((discount_type = 'percent') = (percent_off IS NOT NULL)),
    CHECK ((discount_type = 'fixed_amount') = (amount_off IS NOT NULL))
);
CREATE INDEX discounts_offer_id_idx ON public.discounts (offer_id);
CREATE INDEX discounts_doctor_id_idx ON public.discounts (doctor_id);
COMMENT ON TABLE public.discounts IS 'Discount codes, from legacy discounts (soft-deleted ones left behind).';

-- ------------------------------------------------------------------------------ payments

-- How a payment was made, seeded from the legacy free-text purchases.method:
-- 'card' / 'Credit Card' / 'VISA' -> card, 'check' / 'Check' -> check, 'ACH' -> ach,
-- 'wire' -> wire, 'cash' -> cash (case and blanks ignored).
CREATE TABLE public.payment_methods (
    id    uuid PRIMARY KEY,
    code  text NOT NULL UNIQUE,
    name  text NOT NULL
);
COMMENT ON TABLE public.payment_methods IS 'Payment methods, seeded from the legacy purchases.method spellings.';

INSERT INTO public.payment_methods (id, code, name) VALUES
    ('f1a0c000-0002-4000-8000-000000000001', 'card', 'Credit card'),
    ('f1a0c000-0002-4000-8000-000000000002', 'check', 'Check'),
    ('f1a0c000-0002-4000-8000-000000000003', 'ach', 'ACH transfer'),
    ('f1a0c000-0002-4000-8000-000000000004', 'wire', 'Wire transfer'),
    ('f1a0c000-0002-4000-8000-000000000005', 'cash', 'Cash');

-- From legacy purchases, one row per payment received. amount is the legacy dollar amount
-- exact to the cent: an amount with sub-cent digits or a negative one is quarantined.
-- Payments of a soft-deleted order are not migrated. doctor_id is the paying doctor (NULL
-- when that doctor was soft-deleted). Which order the money pays is in payment_allocations;
-- a payment whose order was not migrated (missing in the legacy data, or quarantined) is
-- kept as an unallocated payment with the legacy order id in legacy_metadata
-- ({"order_id": 123}), so money received is never dropped; a payment with neither an order
-- nor a payer left is quarantined. A method spelling the seed does not know is NULL here and
-- kept raw ({"method": "..."}); so is the legacy id of a discount code that was not migrated
-- ({"discount_id": 7}). currency is upper-cased (NULL when the legacy row had none).
--
-- Once a quarantined order is fixed and migrated, its payments are allocated with:
--   INSERT INTO payment_allocations (id, payment_id, order_id, amount)
--   SELECT gen_random_uuid(), p.id, o.id, p.amount FROM payments p
--   JOIN orders o ON o.legacy_id = (p.legacy_metadata->>'order_id')::bigint
--   WHERE NOT EXISTS (SELECT 1 FROM payment_allocations a WHERE a.payment_id = p.id);
CREATE TABLE public.payments (
    id               uuid PRIMARY KEY,
    legacy_id        bigint NOT NULL UNIQUE,
    doctor_id        uuid REFERENCES public.doctors (id),
    method_id        uuid REFERENCES public.payment_methods (id),
    status           public.payment_status NOT NULL,
    amount           numeric(12,2) NOT NULL CHECK (amount >= 0),
    currency         char(3) CHECK (currency ~ '^[A-Z]{3}$'),
    transaction_ref  text,
    paid_at          timestamptz,
    legacy_metadata  jsonb,
    created_at       timestamptz
);
CREATE INDEX payments_doctor_id_idx ON public.payments (doctor_id);
CREATE INDEX payments_method_id_idx ON public.payments (method_id);
COMMENT ON TABLE public.payments IS 'Payments received, from legacy purchases (payments of soft-deleted orders left behind).';

-- Split off legacy purchases.order_id: the order a payment pays, for the whole amount (a
-- legacy payment paid exactly one order). None for an unallocated payment (see payments).
CREATE TABLE public.payment_allocations (
    id          uuid PRIMARY KEY,
    payment_id  uuid NOT NULL REFERENCES public.payments (id) ON DELETE CASCADE,
    order_id    uuid NOT NULL REFERENCES public.orders (id),
    amount      numeric(12,2) NOT NULL CHECK (amount >= 0),
    UNIQUE (payment_id, order_id)
);
CREATE INDEX payment_allocations_order_id_idx ON public.payment_allocations (order_id);
COMMENT ON TABLE public.payment_allocations IS 'Allocation of a payment to its order, split off legacy purchases.order_id.';

-- Split off legacy purchases.refunded_cents: one row per payment with money returned (more
-- than 0 cents), a chargeback when the legacy status was 4 (charged back), else a refund.
-- The legacy system recorded no refund time. A refund that is negative or larger than the
-- payment is quarantined with its payment.
CREATE TABLE public.payment_refunds (
    id          uuid PRIMARY KEY,
    payment_id  uuid NOT NULL UNIQUE REFERENCES public.payments (id) ON DELETE CASCADE,
    kind        public.refund_kind NOT NULL,
    amount      numeric(12,2) NOT NULL CHECK (amount > 0)
);
COMMENT ON TABLE public.payment_refunds IS 'Money returned on a payment, split off legacy purchases.refunded_cents.';

-- Split off legacy purchases.discount_id: the discount code redeemed by a payment (legacy
-- purchases.amount is already net of it). redeemed_at is the payment's created_at.
CREATE TABLE public.discount_redemptions (
    id           uuid PRIMARY KEY,
    discount_id  uuid NOT NULL REFERENCES public.discounts (id),
    payment_id   uuid NOT NULL UNIQUE REFERENCES public.payments (id) ON DELETE CASCADE,
    redeemed_at  timestamptz
);
CREATE INDEX discount_redemptions_discount_id_idx ON public.discount_redemptions (discount_id);
COMMENT ON TABLE public.discount_redemptions IS 'Discount codes redeemed by payments, split off legacy purchases.discount_id.';

-- ------------------------------------------------------------------------------ feedback

-- What a feedback is about, seeded from the legacy free-text customer_feedback.category
-- ('Fit' / 'fit', 'Shipping', 'Turnaround', 'Communication', 'Billing', 'other'; case and
-- blanks ignored).
CREATE TABLE public.feedback_categories (
    id    uuid PRIMARY KEY,
    code  text NOT NULL UNIQUE,
    name  text NOT NULL
);
COMMENT ON TABLE public.feedback_categories IS 'Feedback categories, seeded from the legacy customer_feedback.category spellings.';

INSERT INTO public.feedback_categories (id, code, name) VALUES
    ('f1a0c000-0003-4000-8000-000000000001', 'fit', 'Fit'),
    ('f1a0c000-0003-4000-8000-000000000002', 'shipping', 'Shipping'),
    ('f1a0c000-0003-4000-8000-000000000003', 'turnaround', 'Turnaround'),
    ('f1a0c000-0003-4000-8000-000000000004', 'communication', 'Communication'),
    ('f1a0c000-0003-4000-8000-000000000005', 'billing', 'Billing'),
    ('f1a0c000-0003-4000-8000-000000000006', 'other', 'Other');

-- From legacy customer_feedback, one row per feedback on an order; feedback on a
-- soft-deleted order is not migrated. The legacy doctor_id was a copy of the order's doctor:
-- it is reached through order_id and not repeated. The scores are in feedback_ratings. A
-- NULL is_resolved is written as "resolved_at is set". A category spelling the seed does not
-- know is NULL here and kept raw ({"category": "..."}), as is a score out of its range
-- ({"rating": 9}).
CREATE TABLE public.customer_feedback (
    id               uuid PRIMARY KEY,
    legacy_id        bigint NOT NULL UNIQUE,
    order_id         uuid NOT NULL REFERENCES public.orders (id),
    category_id      uuid REFERENCES public.feedback_categories (id),
    comment          text,
    is_resolved      boolean NOT NULL DEFAULT false,
    resolved_at      timestamptz,
    legacy_metadata  jsonb,
    created_at       timestamptz
);
CREATE INDEX customer_feedback_order_id_idx ON public.customer_feedback (order_id);
CREATE INDEX customer_feedback_category_id_idx ON public.customer_feedback (category_id);
COMMENT ON TABLE public.customer_feedback IS 'Customer feedback on orders, from legacy customer_feedback.';

-- Split off legacy customer_feedback.rating (satisfaction 1..5; 0 and NULL meant "no
-- answer" and give no row) and nps (0..10, asked since 2019; NULL gives no row).
CREATE TABLE public.feedback_ratings (
    id           uuid PRIMARY KEY,
    feedback_id  uuid NOT NULL REFERENCES public.customer_feedback (id) ON DELETE CASCADE,
    kind         public.feedback_score_kind NOT NULL,
    score        smallint NOT NULL,
    UNIQUE (feedback_id, kind),
    CHECK ((kind = 'satisfaction' AND score BETWEEN 1 AND 5) OR (kind = 'nps' AND score BETWEEN 0 AND 10))
);
COMMENT ON TABLE public.feedback_ratings IS 'Scores of a feedback, split off legacy customer_feedback.rating and nps.';

-- ------------------------------------------------------------------------------ comments

-- From legacy comments (polymorphic in the legacy system: commentable_type names the model,
-- 'Order', 'Case', 'Project', 'TreatmentPlan' or 'Patient', any case, and commentable_id
-- the row). Here one foreign key per kind, exactly one of them set, so every comment's
-- target is enforced. Soft-deleted comments (deleted_at set) and comments on a row that was
-- left behind (soft-deleted) are not migrated; comments on a row that was not migrated
-- (missing in the legacy data, or quarantined) are in unlinked_comments instead. parent_id
-- is the comment replied to (same target); a reply whose parent was not migrated keeps the
-- legacy parent id in legacy_metadata ({"parent_id": 12}) and parent_id NULL.
-- author_profile_id NULL: no author recorded, or a soft-deleted one. A NULL legacy
-- is_internal is written as true (not shown to doctors).
CREATE TABLE public.comments (
    id                 uuid PRIMARY KEY,
    legacy_id          bigint NOT NULL UNIQUE,
    order_id           uuid REFERENCES public.orders (id),
    case_id            uuid REFERENCES public.cases (id),
    project_id         uuid REFERENCES public.projects (id),
    treatment_plan_id  uuid REFERENCES public.treatment_plans (id),
    patient_id         uuid REFERENCES public.patients (id),
    parent_id          uuid REFERENCES public.comments (id) ON DELETE SET NULL,
    author_profile_id  uuid REFERENCES public.profiles (id),
    body               text NOT NULL CHECK (btrim(body) <> ''),
    is_internal        boolean NOT NULL DEFAULT true,
    legacy_metadata    jsonb,
    created_at         timestamptz,
    updated_at         timestamptz,
    CHECK (num_nonnulls(order_id, case_id, project_id, treatment_plan_id, patient_id) = 1)
);
CREATE INDEX comments_order_id_idx ON public.comments (order_id);
CREATE INDEX comments_case_id_idx ON public.comments (case_id);
CREATE INDEX comments_project_id_idx ON public.comments (project_id);
CREATE INDEX comments_treatment_plan_id_idx ON public.comments (treatment_plan_id);
CREATE INDEX comments_patient_id_idx ON public.comments (patient_id);
CREATE INDEX comments_parent_id_idx ON public.comments (parent_id);
CREATE INDEX comments_author_profile_id_idx ON public.comments (author_profile_id);
COMMENT ON TABLE public.comments IS 'Comments on orders, cases, projects, treatment plans and patients, from legacy comments (soft-deleted ones left behind).';

-- From legacy comments whose target row was not migrated: missing in the legacy data (the
-- legacy table had no constraint) or quarantined (an order, case, project, treatment plan or
-- patient an operator has yet to fix). They are kept, with the legacy reference, instead of
-- being lost or forced onto a wrong row; their ids are the ids they would have in comments.
-- Once the target is migrated, a comment moves to comments with:
--   INSERT INTO comments (id, legacy_id, order_id, author_profile_id, body, is_internal,
--                         legacy_metadata, created_at, updated_at)
--   SELECT u.id, u.legacy_id, o.id, u.author_profile_id, u.body, u.is_internal,
--          CASE WHEN u.parent_legacy_id IS NOT NULL
--               THEN jsonb_build_object('parent_id', u.parent_legacy_id) END,
--          u.created_at, u.updated_at
--   FROM unlinked_comments u JOIN orders o ON o.legacy_id = u.commentable_legacy_id
--   WHERE u.commentable_kind = 'order';   -- then DELETE the moved rows (likewise per kind)
CREATE TABLE public.unlinked_comments (
    id                     uuid PRIMARY KEY,
    legacy_id              bigint NOT NULL UNIQUE,
    commentable_kind       public.commentable_kind NOT NULL,
    commentable_legacy_id  bigint NOT NULL,
    parent_legacy_id       bigint,
    author_profile_id      uuid REFERENCES public.profiles (id),
    body                   text NOT NULL CHECK (btrim(body) <> ''),
    is_internal            boolean NOT NULL DEFAULT true,
    created_at             timestamptz,
    updated_at             timestamptz
);
CREATE INDEX unlinked_comments_author_profile_id_idx ON public.unlinked_comments (author_profile_id);
CREATE INDEX unlinked_comments_target_idx ON public.unlinked_comments (commentable_kind, commentable_legacy_id);
COMMENT ON TABLE public.unlinked_comments IS 'Comments from legacy comments whose target was not migrated (missing or quarantined), kept with the legacy reference.';
