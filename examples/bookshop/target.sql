-- The bookshop's new schema (`public`), filled by the migration from the legacy `shop` schema
-- (examples/bookshop/source.sql), one transform plugin per legacy table (plugins/).
--
--   * Primary keys are `id uuid` without a default: the runner mints them (UUIDv5 of the
--     legacy table and key, recorded in its id map), so a re-run gives the same ids.
--   * `legacy_id` keeps the legacy integer key.
--   * Tables with a natural key keep it: `countries` (code), `book_authors` (both links),
--     `sales` (day and number); `customers` mints its id from its legacy uuid.
--   * `stores.manager_id` -> `staff` and `staff.store_id` -> `stores` make a cycle, broken
--     at the nullable `manager_id`; `staff.reports_to` points into its own table.
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

-- A natural text key, kept.
CREATE TABLE public.countries (
    code  char(2) PRIMARY KEY,
    name  text NOT NULL
);

-- A uuid legacy key: the id is minted from it, the legacy uuid kept.
CREATE TABLE public.customers (
    id              uuid PRIMARY KEY,
    legacy_id       uuid NOT NULL UNIQUE,
    full_name       text NOT NULL,
    email           text,
    country         char(2) NOT NULL REFERENCES public.countries (code),
    customer_since  date NOT NULL
);
CREATE INDEX customers_country ON public.customers (country);

CREATE TYPE public.author_role AS ENUM ('author', 'co-author', 'translator');

-- A link table: no id of its own, keyed by its two references.
CREATE TABLE public.book_authors (
    book_id    uuid NOT NULL REFERENCES public.books (id),
    author_id  uuid NOT NULL REFERENCES public.authors (id),
    role       public.author_role NOT NULL,
    PRIMARY KEY (book_id, author_id)
);
CREATE INDEX book_authors_author_id ON public.book_authors (author_id);

-- Keyed as the legacy table was: the day and the sale's number within it.
CREATE TABLE public.sales (
    sold_on      date NOT NULL,
    sale_no      integer NOT NULL,
    book_id      uuid NOT NULL REFERENCES public.books (id),
    customer_id  uuid REFERENCES public.customers (id),
    quantity     integer NOT NULL CHECK (quantity > 0),
    amount       numeric(10,2) NOT NULL,
    PRIMARY KEY (sold_on, sale_no)
);
CREATE INDEX sales_book_id ON public.sales (book_id);
CREATE INDEX sales_customer_id ON public.sales (customer_id);

-- A cycle: each store's manager is one of the staff, each staff member works in a store.
CREATE TABLE public.stores (
    id          uuid PRIMARY KEY,
    legacy_id   bigint NOT NULL UNIQUE,
    name        text NOT NULL,
    city        text NOT NULL,
    manager_id  uuid
);

CREATE TABLE public.staff (
    id          uuid PRIMARY KEY,
    legacy_id   bigint NOT NULL UNIQUE,
    store_id    uuid NOT NULL REFERENCES public.stores (id),
    reports_to  uuid REFERENCES public.staff (id),
    full_name   text NOT NULL,
    hired_on    date NOT NULL
);
CREATE INDEX staff_store_id ON public.staff (store_id);
CREATE INDEX staff_reports_to ON public.staff (reports_to);

ALTER TABLE public.stores ADD FOREIGN KEY (manager_id) REFERENCES public.staff (id);
CREATE INDEX stores_manager_id ON public.stores (manager_id);
