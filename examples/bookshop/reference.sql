-- What the bookshop's NEW database already holds before the migration: the reference data
-- another team owns (schema `ref`). The migration does not create, fill or empty it; the new
-- schema's books point into it with a foreign key, which PostgreSQL checks on every row (a
-- book whose genre it does not know is quarantined with PostgreSQL's reason).
--
-- Apply to the (otherwise empty) target database once:
--   psql -v ON_ERROR_STOP=1 -1 -f examples/bookshop/reference.sql

CREATE SCHEMA ref;

CREATE TABLE ref.genres (
    code text PRIMARY KEY,
    name text NOT NULL
);

INSERT INTO ref.genres (code, name) VALUES
    ('scifi', 'Science fiction'),
    ('fantasy', 'Fantasy'),
    ('crime', 'Crime and mystery'),
    ('romance', 'Romance'),
    ('nonfiction', 'Non-fiction'),
    ('history', 'History');
