-- Group B of the new schema: clinical cases, case chat and records, the dispatch messages
-- about orders with their attachments, the front desk's contact log, internal doctor notes
-- and the dispatcher's queues. Applied after schema/target.sql, with its conventions:
--
--   psql -v ON_ERROR_STOP=1 -1 -f schema/target.sql -f schema/target-cases.sql
--
-- Filled from the legacy tables cases, case_states, case_messages, case_files, messages,
-- message_attachments, communications, doctor_notes and dispatch_state (one transform each,
-- plugins/<legacy table>/). Same rules as target.sql: uuid ids minted by the migration,
-- `legacy_id` on entity tables, timestamptz from lab local time, enums for codes, enforced
-- non-deferrable foreign keys with an index per FK column, `legacy_metadata` for raw values
-- that could not be converted.
--
-- File storage (Supabase style): the bytes live in buckets; `storage_objects` is the one
-- table of stored files (bucket + path), and case_files / message_attachments are the
-- domain rows that point at their object. storage_objects is partitioned by bucket, one
-- partition per bucket, and each transform writes (and its rows reference) its own bucket's
-- partition: a shared table written by two transforms that both reference it would make
-- the runner's table order cyclic (each would wait for the other), while a partition has
-- exactly one writer. Readers query `storage_objects` as one table.

-- ------------------------------------------------------------------------------ enums

-- legacy cases.current_state and case_states.state / previous_state: 1 intake, 2 records,
-- 3 diagnosis, 4 planning, 5 active treatment, 6 retention, 7 closed, 8 transferred out.
CREATE TYPE public.case_status AS ENUM (
    'intake', 'records', 'diagnosis', 'planning', 'active_treatment', 'retention', 'closed',
    'transferred_out'
);

-- legacy cases.angle_class, free text normalized: 'I' -> class_i; 'II/1', 'II div 1' ->
-- class_ii_div_1; 'II/2' -> class_ii_div_2; 'Class II' (division not recorded) -> class_ii;
-- 'III', 'Class III' -> class_iii.
CREATE TYPE public.angle_class AS ENUM (
    'class_i', 'class_ii', 'class_ii_div_1', 'class_ii_div_2', 'class_iii'
);

-- legacy case_messages.sender_role, free text normalized: 'doctor'/'Doctor' -> doctor,
-- 'technician'/'tech' -> technician, 'staff', 'system' (no sender).
CREATE TYPE public.message_sender_role AS ENUM ('doctor', 'technician', 'staff', 'system');

-- legacy case_files.category: 1 extraoral photo, 2 intraoral photo, 3 panoramic x-ray,
-- 4 cephalometric x-ray, 5 CBCT, 6 STL scan, 7 document.
CREATE TYPE public.case_file_category AS ENUM (
    'extraoral_photo', 'intraoral_photo', 'panoramic_xray', 'cephalometric_xray', 'cbct',
    'stl_scan', 'document'
);

-- legacy messages.message_type: 1 dispatch notice, 2 tracking update, 3 question to the
-- doctor, 4 reply from the doctor, 5 system notice.
CREATE TYPE public.dispatch_message_type AS ENUM (
    'dispatch_notice', 'tracking_update', 'question', 'reply', 'system_notice'
);

-- legacy communications.channel, free text normalized: 'phone'/'Phone', 'email'/'E-mail',
-- 'fax', 'in person', 'sms'.
CREATE TYPE public.communication_channel AS ENUM ('phone', 'email', 'fax', 'in_person', 'sms');

-- legacy communications.direction: 'in'/'IN' -> inbound, 'out'/'OUT' -> outbound.
CREATE TYPE public.communication_direction AS ENUM ('inbound', 'outbound');

-- legacy dispatch_state.status, free text normalized: 'idle'/'IDLE', 'running', 'error',
-- 'stalled'.
CREATE TYPE public.dispatch_queue_status AS ENUM ('idle', 'running', 'error', 'stalled');

-- ------------------------------------------------------------------------------ cases

-- From legacy cases, one row per clinical case; soft-deleted cases (is_deleted) are not
-- migrated. status is the legacy current_state. doctor_id is NULL when the case's doctor
-- was soft-deleted (skipped). An angle_class text that is not a known class is NULL here
-- and kept raw in legacy_metadata ({"angle_class": "<raw>"}).
CREATE TABLE public.cases (
    id              uuid PRIMARY KEY,
    legacy_id       bigint NOT NULL UNIQUE,
    patient_id      uuid NOT NULL REFERENCES public.patients (id),
    doctor_id       uuid REFERENCES public.doctors (id),
    case_number     text NOT NULL CHECK (btrim(case_number) <> ''),
    status          public.case_status NOT NULL,
    angle_class     public.angle_class,
    chief_complaint text,
    diagnosis       text,
    legacy_metadata jsonb,
    created_at      timestamptz,
    updated_at      timestamptz,
    closed_at       timestamptz
);
CREATE INDEX cases_patient_id_idx ON public.cases (patient_id);
CREATE INDEX cases_doctor_id_idx ON public.cases (doctor_id);
CREATE INDEX cases_case_number_idx ON public.cases (case_number);
COMMENT ON TABLE public.cases IS 'Clinical cases of a patient, from legacy cases (soft-deleted ones left behind).';

-- From legacy case_states, one row per state change: from_status is the legacy
-- previous_state (NULL on a case's first row), to_status the state entered. changed_by is
-- NULL when the profile was soft-deleted (skipped). A previous_state code that is not known
-- is NULL here and kept in legacy_metadata ({"previous_state": 12}).
CREATE TABLE public.case_state_transitions (
    id                    uuid PRIMARY KEY,
    legacy_id             bigint NOT NULL UNIQUE,
    case_id               uuid NOT NULL REFERENCES public.cases (id) ON DELETE CASCADE,
    from_status           public.case_status,
    to_status             public.case_status NOT NULL,
    changed_by_profile_id uuid REFERENCES public.profiles (id),
    reason                text,
    legacy_metadata       jsonb,
    changed_at            timestamptz
);
CREATE INDEX case_state_transitions_case_id_idx ON public.case_state_transitions (case_id);
CREATE INDEX case_state_transitions_changed_by_profile_id_idx ON public.case_state_transitions (changed_by_profile_id);
COMMENT ON TABLE public.case_state_transitions IS 'State changes of a case (from -> to), from legacy case_states.';

-- From legacy case_messages, the chat on a case; soft-deleted messages (deleted_at set) are
-- not migrated. is_read is true when the legacy row was marked read or has a read_at (the
-- legacy flags disagree on some rows: a read_at with is_read false keeps {"is_read": false}
-- in legacy_metadata). A sender_role that is not a known role is NULL here and kept raw in
-- legacy_metadata. sender_profile_id is NULL for system messages and for soft-deleted
-- senders.
CREATE TABLE public.case_messages (
    id                uuid PRIMARY KEY,
    legacy_id         bigint NOT NULL UNIQUE,
    case_id           uuid NOT NULL REFERENCES public.cases (id) ON DELETE CASCADE,
    sender_profile_id uuid REFERENCES public.profiles (id),
    sender_role       public.message_sender_role,
    body              text NOT NULL CHECK (btrim(body) <> ''),
    is_read           boolean NOT NULL DEFAULT false,
    read_at           timestamptz,
    legacy_metadata   jsonb,
    created_at        timestamptz
);
CREATE INDEX case_messages_case_id_idx ON public.case_messages (case_id);
CREATE INDEX case_messages_sender_profile_id_idx ON public.case_messages (sender_profile_id);
COMMENT ON TABLE public.case_messages IS 'Chat on a case, from legacy case_messages (soft-deleted ones left behind).';

-- ------------------------------------------------------------------------------ storage

-- The storage buckets (not from a legacy table: seeded here, fixed ids). One per kind of
-- file the legacy system kept apart: case records (an S3 bucket) and message attachments
-- (the old file server).
CREATE TABLE public.storage_buckets (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]*$'),
    description text,
    is_public   boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE public.storage_buckets IS 'Storage buckets (seeded): case-files, message-attachments.';
INSERT INTO public.storage_buckets (id, name, description, is_public) VALUES
    ('b0c4e700-0000-4000-8000-000000000001', 'case-files',
     'Clinical records of a case (legacy case_files, S3 keys)', false),
    ('b0c4e700-0000-4000-8000-000000000002', 'message-attachments',
     'Files attached to dispatch messages (legacy message_attachments, old file server)', false);

-- Stored files: one row per object, bucket + path as Supabase storage names them.
-- legacy_location is where the bytes are in the legacy system (the S3 key of a case file,
-- the file-server URL of an attachment), for the job that copies them. mime_type and
-- size_bytes are NULL when the legacy system did not record them.
-- Partitioned by bucket: each partition is written by one transform (see the header).
CREATE TABLE public.storage_objects (
    id              uuid NOT NULL,
    bucket_id       uuid NOT NULL REFERENCES public.storage_buckets (id),
    path            text NOT NULL CHECK (btrim(path) <> ''),
    mime_type       text,
    size_bytes      bigint CHECK (size_bytes >= 0),
    legacy_location text NOT NULL,
    created_at      timestamptz,
    PRIMARY KEY (id, bucket_id),
    UNIQUE (bucket_id, path)
) PARTITION BY LIST (bucket_id);
COMMENT ON TABLE public.storage_objects IS 'Stored files (bucket + path), partitioned by bucket; rows from legacy case_files and message_attachments.';

-- Bucket case-files, split off legacy case_files: path is the legacy S3 key (unchanged).
CREATE TABLE public.storage_objects_case_files PARTITION OF public.storage_objects
    FOR VALUES IN ('b0c4e700-0000-4000-8000-000000000001');
ALTER TABLE public.storage_objects_case_files ADD UNIQUE (id);
COMMENT ON TABLE public.storage_objects_case_files IS 'storage_objects of bucket case-files, split off legacy case_files.';

-- Bucket message-attachments, split off legacy message_attachments: path is
-- '<legacy message id>/<legacy attachment id>/<file name>' (the legacy URLs are not unique:
-- two attachments of one message with the same file name share a URL).
CREATE TABLE public.storage_objects_message_attachments PARTITION OF public.storage_objects
    FOR VALUES IN ('b0c4e700-0000-4000-8000-000000000002');
ALTER TABLE public.storage_objects_message_attachments ADD UNIQUE (id);
COMMENT ON TABLE public.storage_objects_message_attachments IS 'storage_objects of bucket message-attachments, split off legacy message_attachments.';

-- From legacy case_files, the clinical records of a case (photos, x-rays, scans,
-- documents); soft-deleted files (is_deleted) are not migrated. The file itself is the
-- storage object. file_name is the legacy name, or the last segment of the storage key
-- when the name is blank. A category code that is not known is NULL here and kept in
-- legacy_metadata.
CREATE TABLE public.case_files (
    id                     uuid PRIMARY KEY,
    legacy_id              bigint NOT NULL UNIQUE,
    case_id                uuid NOT NULL REFERENCES public.cases (id) ON DELETE CASCADE,
    storage_object_id      uuid NOT NULL UNIQUE REFERENCES public.storage_objects_case_files (id),
    category               public.case_file_category,
    file_name              text NOT NULL CHECK (btrim(file_name) <> ''),
    uploaded_by_profile_id uuid REFERENCES public.profiles (id),
    legacy_metadata        jsonb,
    created_at             timestamptz
);
CREATE INDEX case_files_case_id_idx ON public.case_files (case_id);
CREATE INDEX case_files_uploaded_by_profile_id_idx ON public.case_files (uploaded_by_profile_id);
COMMENT ON TABLE public.case_files IS 'Clinical records of a case, from legacy case_files (soft-deleted ones left behind).';

-- ------------------------------------------------------------------------------ dispatch messages

-- From legacy messages (the dispatch records), one row per notice or reply about an order;
-- soft-deleted messages (deleted_at set) are not migrated. sender_profile_id NULL: sent by
-- the system (or the sender was soft-deleted). The recipient and the read state are in
-- dispatch_recipients; when the recipient could not be linked (none recorded, or a
-- soft-deleted profile) the legacy recipient id and read flags are kept in legacy_metadata.
CREATE TABLE public.dispatch_messages (
    id                uuid PRIMARY KEY,
    legacy_id         bigint NOT NULL UNIQUE,
    order_id          uuid NOT NULL REFERENCES public.orders (id),
    sender_profile_id uuid REFERENCES public.profiles (id),
    message_type      public.dispatch_message_type NOT NULL,
    subject           text,
    body              text,
    legacy_metadata   jsonb,
    sent_at           timestamptz
);
CREATE INDEX dispatch_messages_order_id_idx ON public.dispatch_messages (order_id);
CREATE INDEX dispatch_messages_sender_profile_id_idx ON public.dispatch_messages (sender_profile_id);
COMMENT ON TABLE public.dispatch_messages IS 'Notices and replies about an order, from legacy messages (soft-deleted ones left behind).';

-- Split off legacy messages.recipient_profile_id / is_read / read_at: who a message went to
-- and whether they read it (one recipient per legacy message; none when the recipient could
-- not be linked). is_read as in case_messages ({"is_read": false} kept when a read_at
-- disagrees with the flag).
CREATE TABLE public.dispatch_recipients (
    id                   uuid PRIMARY KEY,
    message_id           uuid NOT NULL REFERENCES public.dispatch_messages (id) ON DELETE CASCADE,
    recipient_profile_id uuid NOT NULL REFERENCES public.profiles (id),
    is_read              boolean NOT NULL DEFAULT false,
    read_at              timestamptz,
    legacy_metadata      jsonb,
    UNIQUE (message_id, recipient_profile_id)
);
CREATE INDEX dispatch_recipients_recipient_profile_id_idx ON public.dispatch_recipients (recipient_profile_id);
COMMENT ON TABLE public.dispatch_recipients IS 'Recipients of a dispatch message and their read state, split off legacy messages.';

-- The shipping carriers (not from a legacy table: seeded here, fixed ids), for the free-text
-- legacy messages.carrier.
CREATE TABLE public.shipping_carriers (
    id    uuid PRIMARY KEY,
    code  text NOT NULL UNIQUE,
    name  text NOT NULL
);
COMMENT ON TABLE public.shipping_carriers IS 'Shipping carriers (seeded): ups, fedex, usps.';
INSERT INTO public.shipping_carriers (id, code, name) VALUES
    ('ca771e20-0000-4000-8000-000000000001', 'ups', 'UPS'),
    ('ca771e20-0000-4000-8000-000000000002', 'fedex', 'FedEx'),
    ('ca771e20-0000-4000-8000-000000000003', 'usps', 'USPS');

-- Split off legacy messages.carrier / tracking_no (dispatch notices and tracking updates):
-- one row per message that names a carrier or a tracking number. The carrier text is
-- normalized ('UPS'/'ups' -> ups; 'FedEx' -> fedex; 'Fedex Ground' -> fedex with
-- service_level 'ground'; 'USPS' -> usps); a blank carrier is NULL, and a carrier text that is
-- not known is NULL here and kept raw in legacy_metadata ({"carrier": "<raw>"}).
CREATE TABLE public.shipment_trackings (
    id              uuid PRIMARY KEY,
    message_id      uuid NOT NULL UNIQUE REFERENCES public.dispatch_messages (id) ON DELETE CASCADE,
    carrier_id      uuid REFERENCES public.shipping_carriers (id),
    service_level   text,
    tracking_number text,
    legacy_metadata jsonb
);
CREATE INDEX shipment_trackings_carrier_id_idx ON public.shipment_trackings (carrier_id);
CREATE INDEX shipment_trackings_tracking_number_idx ON public.shipment_trackings (tracking_number);
COMMENT ON TABLE public.shipment_trackings IS 'Carrier and tracking number of a dispatch message, split off legacy messages.';

-- From legacy message_attachments, files attached to a dispatch message. The file itself
-- is the storage object (its legacy_location is the old file-server URL). file_name is the
-- legacy name, or the last segment of the URL when the name is blank.
CREATE TABLE public.message_attachments (
    id                uuid PRIMARY KEY,
    legacy_id         bigint NOT NULL UNIQUE,
    message_id        uuid NOT NULL REFERENCES public.dispatch_messages (id) ON DELETE CASCADE,
    storage_object_id uuid NOT NULL UNIQUE REFERENCES public.storage_objects_message_attachments (id),
    file_name         text NOT NULL CHECK (btrim(file_name) <> ''),
    created_at        timestamptz
);
CREATE INDEX message_attachments_message_id_idx ON public.message_attachments (message_id);
COMMENT ON TABLE public.message_attachments IS 'Files attached to dispatch messages, from legacy message_attachments.';

-- ------------------------------------------------------------------------------ communications

-- From legacy communications, the front desk's contact log with offices. Contacts with a
-- soft-deleted office are not migrated. doctor_id NULL: the office in general (or the
-- doctor was soft-deleted). channel and direction are normalized; a text that is not known
-- is NULL here and kept raw in legacy_metadata. recorded_at is the legacy created_at (when
-- the contact was typed in, up to a day after occurred_at).
CREATE TABLE public.communications (
    id                uuid PRIMARY KEY,
    legacy_id         bigint NOT NULL UNIQUE,
    office_id         uuid NOT NULL REFERENCES public.offices (id),
    doctor_id         uuid REFERENCES public.doctors (id),
    author_profile_id uuid REFERENCES public.profiles (id),
    channel           public.communication_channel,
    direction         public.communication_direction,
    subject           text,
    body              text,
    follow_up_at      timestamptz,
    occurred_at       timestamptz,
    legacy_metadata   jsonb,
    recorded_at       timestamptz
);
CREATE INDEX communications_office_id_idx ON public.communications (office_id);
CREATE INDEX communications_doctor_id_idx ON public.communications (doctor_id);
CREATE INDEX communications_author_profile_id_idx ON public.communications (author_profile_id);
CREATE INDEX communications_follow_up_at_idx ON public.communications (follow_up_at) WHERE follow_up_at IS NOT NULL;
COMMENT ON TABLE public.communications IS 'Front-desk contact log with offices, from legacy communications.';

-- ------------------------------------------------------------------------------ doctor notes

-- From legacy doctor_notes, internal notes about a doctor; soft-deleted notes (deleted_at
-- set) and notes about soft-deleted doctors are not migrated. A NULL is_pinned is false.
CREATE TABLE public.doctor_notes (
    id                uuid PRIMARY KEY,
    legacy_id         bigint NOT NULL UNIQUE,
    doctor_id         uuid NOT NULL REFERENCES public.doctors (id) ON DELETE CASCADE,
    author_profile_id uuid REFERENCES public.profiles (id),
    note              text NOT NULL CHECK (btrim(note) <> ''),
    is_pinned         boolean NOT NULL DEFAULT false,
    created_at        timestamptz,
    updated_at        timestamptz
);
CREATE INDEX doctor_notes_doctor_id_idx ON public.doctor_notes (doctor_id);
CREATE INDEX doctor_notes_author_profile_id_idx ON public.doctor_notes (author_profile_id);
COMMENT ON TABLE public.doctor_notes IS 'Internal notes about doctors, from legacy doctor_notes (soft-deleted ones left behind).';

-- ------------------------------------------------------------------------------ dispatcher

-- From legacy dispatch_state, one row per dispatcher queue. status is normalized (a text
-- that is not known is NULL here, kept raw in legacy_metadata). last_message_id is the last
-- dispatch message sent; when that message was not migrated (soft-deleted, or quarantined
-- with its order) it is NULL and the legacy id is kept in legacy_metadata
-- ({"last_message_id": 123}), as are a negative error_count and state_json text that is not
-- a JSON object. The parsed
-- state_json is in dispatch_queue_state, the lock in dispatch_queue_locks.
CREATE TABLE public.dispatch_queues (
    id              uuid PRIMARY KEY,
    legacy_id       bigint NOT NULL UNIQUE,
    queue_name      text NOT NULL UNIQUE CHECK (btrim(queue_name) <> ''),
    status          public.dispatch_queue_status,
    last_message_id uuid REFERENCES public.dispatch_messages (id) ON DELETE SET NULL,
    last_run_at     timestamptz,
    error_count     integer CHECK (error_count >= 0),
    last_error      text,
    legacy_metadata jsonb,
    updated_at      timestamptz
);
CREATE INDEX dispatch_queues_last_message_id_idx ON public.dispatch_queues (last_message_id);
COMMENT ON TABLE public.dispatch_queues IS 'Dispatcher queues, from legacy dispatch_state.';

-- Split off legacy dispatch_state.state_json (a JSON object such as
-- {"cursor": 57408, "batch": 500, "region": "us-central"}): one row per key, position 1, 2,
-- ... in the object's order, the value in the column of its JSON type (exactly one is set:
-- integers in value_int, other numbers in value_numeric, strings in value_text, booleans in
-- value_bool, null / arrays / objects in value_json).
CREATE TABLE public.dispatch_queue_state (
    id            uuid PRIMARY KEY,
    queue_id      uuid NOT NULL REFERENCES public.dispatch_queues (id) ON DELETE CASCADE,
    position      integer NOT NULL CHECK (position >= 1),
    key           text NOT NULL,
    value_int     bigint,
    value_numeric numeric,
    value_text    text,
    value_bool    boolean,
    value_json    jsonb,
    CHECK (num_nonnulls(value_int, value_numeric, value_text, value_bool, value_json) = 1),
    UNIQUE (queue_id, key),
    UNIQUE (queue_id, position)
);
COMMENT ON TABLE public.dispatch_queue_state IS 'State of a dispatcher queue, one typed row per key, split off legacy dispatch_state.state_json.';

-- Split off legacy dispatch_state.lock_owner ('host:pid'): the lock a dispatcher process holds
-- on a queue, one row per locked queue. Stale locks (on queues that are not running) came
-- over as the legacy system left them. host and pid are NULL when the owner text is not
-- 'host:pid'.
CREATE TABLE public.dispatch_queue_locks (
    id        uuid PRIMARY KEY,
    queue_id  uuid NOT NULL UNIQUE REFERENCES public.dispatch_queues (id) ON DELETE CASCADE,
    owner     text NOT NULL CHECK (btrim(owner) <> ''),
    host      text,
    pid       integer CHECK (pid > 0)
);
COMMENT ON TABLE public.dispatch_queue_locks IS 'Locks held on dispatcher queues, split off legacy dispatch_state.lock_owner.';
