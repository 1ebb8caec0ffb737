-- The bookshop's new schema (`public`), filled by the migration from the legacy `shop` schema
-- (examples/bookshop/source.sql), one transform plugin per legacy table (plugins/).
--
--   * Primary keys are `id uuid` without a default: the runner mints them (UUIDv5 of the
--     legacy table and key, recorded in its id map), so a re-run gives the same ids.
--   * `legacy_id` keeps the legacy integer key.
--   * `books.genre` points into `ref.genres`, a table of another schema the migration does
--     not own (examples/bookshop/reference.sql creates it before the migration).
--   * Legacy local times (timestamp without time zone, the shop's time in Europe/Paris) become
--     timestamptz; the legacy enum, domain, arrays, jsonb, bytea and tsvector keep their values.
--
-- `host run` applies this file when `public` holds no table yet (plan.toml `schema_files`).

CREATE TYPE public.book_format AS ENUM ('hardcover', 'paperback', 'ebook', 'audiobook');

CREATE DOMAIN public.isbn13 AS text CHECK (VALUE ~ '^[0-9]{13}$');

CREATE TABLE public.authors (
    id          uuid PRIMARY KEY,
    legacy_id   bigint NOT NULL UNIQUE,
    full_name   text NOT NULL CHECK (btrim(full_name) <> ''),
    email       text,
    country     char(2),
    bio         text,
    created_at  timestamptz NOT NULL
);

CREATE TABLE public.books (
    id            uuid PRIMARY KEY,
    legacy_id     bigint NOT NULL UNIQUE,
    author_id     uuid NOT NULL REFERENCES public.authors (id),
    title         text NOT NULL,
    isbn          public.isbn13,
    format        public.book_format NOT NULL,
    genre         text REFERENCES ref.genres (code),
    tags          text[] NOT NULL DEFAULT '{}',
    ratings       integer[],
    price         numeric(10,2) NOT NULL CHECK (price >= 0),
    cover         bytea,
    attributes    jsonb,
    search        tsvector,
    published_on  date,
    updated_at    timestamptz
);
CREATE INDEX books_author_id ON public.books (author_id);
CREATE INDEX books_genre ON public.books (genre);
CREATE INDEX books_search ON public.books USING gin (search);

CREATE TABLE public.orders (
    id              uuid PRIMARY KEY,
    legacy_id       bigint NOT NULL UNIQUE,
    book_id         uuid NOT NULL REFERENCES public.books (id),
    customer_email  text,
    quantity        integer NOT NULL CHECK (quantity > 0),
    unit_price      numeric(10,2) NOT NULL,
    total           numeric(12,2) NOT NULL,
    ordered_at      timestamptz NOT NULL
);
CREATE INDEX orders_book_id ON public.orders (book_id);
