-- The bookshop's legacy database: schema `shop`, designed long before this migration tool
-- and nothing like the lab's. Quoted CamelCase names, an enum, arrays, a domain, jsonb,
-- bytea, a tsvector, exact money and both kinds of timestamps; no foreign keys (the old
-- application checked nothing), so the data holds the dirt a migration has to sort out:
--
--   * "Authors": one in 25 soft-deleted ("DeletedAt" set)      -> skipped, and their books and
--                                                                those books' orders with them
--   * "Authors": author 7 has no "FullName" (NULL)             -> rejected (quarantined)
--   * "Authors"."Email" / "Bio": blank strings                 -> NULL in the new schema
--   * "Books": "AuthorId" 9999 on a few books (no such author) -> rejected as orphans
--   * "Books": "Title" NULL on one book                        -> rejected
--   * "Books"."Genre": free text; 'Poetry' is a genre the target's reference table does not
--     know, so PostgreSQL refuses the row (foreign key into ref.genres) -> quarantined
--   * "Orders": "BookId" 99999 on a few orders                 -> rejected as orphans
--
-- Deterministic: no random(), no now(); every value comes from md5 of the row number, so the
-- same script always gives the same rows. About 200 authors, 1,500 books, 3,000 orders.
--
-- Apply to an empty database: psql -v ON_ERROR_STOP=1 -1 -f examples/bookshop/source.sql

CREATE SCHEMA shop;

CREATE TYPE shop.book_format AS ENUM ('hardcover', 'paperback', 'ebook', 'audiobook');

-- Thirteen digits, as the old application validated them.
CREATE DOMAIN shop.isbn13 AS text CHECK (VALUE ~ '^[0-9]{13}$');

CREATE TABLE shop."Authors" (
    "AuthorId"  integer PRIMARY KEY,
    "FullName"  text,
    "Email"     text,
    "Country"   char(2),
    "Bio"       text,
    "CreatedAt" timestamp without time zone NOT NULL,
    "DeletedAt" timestamp without time zone
);

CREATE TABLE shop."Books" (
    "BookId"      integer PRIMARY KEY,
    "AuthorId"    integer,
    "Title"       text,
    "Isbn"        shop.isbn13,
    "Format"      shop.book_format NOT NULL,
    "Genre"       text,
    "Tags"        text[],
    "Ratings"     integer[],
    "Price"       numeric(10,2) NOT NULL,
    "Cover"       bytea,
    "Attributes"  jsonb,
    "SearchText"  tsvector,
    "PublishedOn" date,
    "UpdatedAt"   timestamp with time zone
);

CREATE TABLE shop."Orders" (
    "OrderId"       integer PRIMARY KEY,
    "BookId"        integer,
    "CustomerEmail" text,
    "Quantity"      integer NOT NULL,
    "UnitPrice"     numeric(10,2) NOT NULL,
    "OrderedAt"     timestamp without time zone NOT NULL
);

-- A number in [0, n) from md5 of (salt, i): the same for the same arguments, on any server.
CREATE FUNCTION pg_temp.pick(salt text, i integer, n integer) RETURNS integer
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT (('x' || substr(md5(salt || ':' || i), 1, 7))::bit(28)::integer % n) $$;

-- ------------------------------------------------------------------------------ authors

INSERT INTO shop."Authors"
SELECT i,
       CASE WHEN i = 7 THEN NULL
            ELSE (ARRAY['Ada', 'Brontë', 'Chinua', 'Doris', 'Émile', 'Fyodor', 'Gabriel', 'Hilary',
                        'Italo', 'Jane', 'Kazuo', 'Leo', 'Mary', 'Naguib', 'Octavia', 'Primo'])[1 + pg_temp.pick('first', i, 16)]
                 || ' ' ||
                 (ARRAY['Achebe', 'Lessing', 'Zola', 'Dostoevsky', 'Márquez', 'Mantel', 'Calvino',
                        'Austen', 'Ishiguro', 'Tolstoy', 'Shelley', 'Mahfouz', 'Butler', 'Levi'])[1 + pg_temp.pick('last', i, 14)]
                 || CASE WHEN i % 13 = 0 THEN '  ' ELSE '' END  -- trailing blanks, trimmed
       END,
       CASE WHEN i % 17 = 0 THEN '   '                                  -- blank -> NULL
            WHEN i % 19 = 0 THEN NULL
            ELSE 'author' || i || '@example.org' END,
       (ARRAY['GB', 'FR', 'NG', 'RU', 'CO', 'IT', 'JP', 'US', 'EG', 'DE'])[1 + pg_temp.pick('country', i, 10)],
       CASE WHEN i % 11 = 0 THEN ''                                     -- blank -> NULL
            ELSE 'Wrote ' || (1 + pg_temp.pick('books', i, 30)) || E' books.\nLives "somewhere"\tquiet.' END,
       timestamp '2015-01-01 09:00' + pg_temp.pick('created', i, 2000 * 24 * 60) * interval '1 minute',
       CASE WHEN i % 25 = 0 THEN timestamp '2023-06-01 12:00' + i * interval '1 hour' END
FROM generate_series(1, 200) AS i;

-- ------------------------------------------------------------------------------ books

INSERT INTO shop."Books"
SELECT i,
       CASE WHEN i IN (101, 777, 1203) THEN 9999                        -- orphans
            ELSE 1 + pg_temp.pick('author', i, 200) END,
       CASE WHEN i = 500 THEN NULL                                      -- required, missing
            ELSE 'The ' || (ARRAY['Silent', 'Red', 'Last', 'Hidden', 'Glass', 'Winter', 'Paper', 'Iron'])[1 + pg_temp.pick('adj', i, 8)]
                 || ' ' || (ARRAY['River', 'Garden', 'Station', 'Letter', 'Island', 'Clock', 'Mountain'])[1 + pg_temp.pick('noun', i, 7)]
                 || ' ' || i END,
       CASE WHEN i % 23 = 0 THEN NULL
            ELSE '978' || lpad((pg_temp.pick('isbn', i, 1000000000) + i)::text, 10, '0') END,
       (ARRAY['hardcover', 'paperback', 'ebook', 'audiobook'])[1 + pg_temp.pick('format', i, 4)]::shop.book_format,
       CASE WHEN i IN (42, 1300) THEN 'Poetry'                         -- not in ref.genres
            WHEN i % 31 = 0 THEN '  '                                   -- blank -> NULL
            ELSE (ARRAY['Sci-Fi', 'science fiction', 'Fantasy ', 'crime', 'Mystery', 'ROMANCE',
                        'Non-Fiction', 'nonfiction', 'History'])[1 + pg_temp.pick('genre', i, 9)] END,
       CASE WHEN i % 10 = 0 THEN NULL
            WHEN i % 10 = 1 THEN '{}'::text[]
            ELSE (ARRAY['staff pick', 'book-club', 'signed "first" edition', 'sale', 'new, revised'])
                 [1 : 1 + pg_temp.pick('tags', i, 5)] END,
       CASE WHEN i % 9 = 0 THEN NULL
            ELSE ARRAY[1 + pg_temp.pick('r1', i, 5), 1 + pg_temp.pick('r2', i, 5), 1 + pg_temp.pick('r3', i, 5)] END,
       (499 + pg_temp.pick('price', i, 5000))::numeric / 100,
       CASE WHEN i % 7 = 0 THEN NULL
            ELSE decode(md5('cover' || i) || '00ff0a5c09', 'hex') END,   -- NUL, newline, backslash, tab
       CASE WHEN i % 8 = 0 THEN NULL
            ELSE jsonb_build_object('pages', 80 + pg_temp.pick('pages', i, 900),
                                    'language', (ARRAY['en', 'fr', 'de', 'es'])[1 + pg_temp.pick('lang', i, 4)],
                                    'series', CASE WHEN i % 5 = 0 THEN 'Saga ' || (i / 5) END,
                                    'dimensions_cm', jsonb_build_array(13.5, 20.3, 2.1)) END,
       to_tsvector('english', 'book number ' || i || ' about '
                   || (ARRAY['rivers', 'gardens', 'stations', 'letters', 'islands', 'clocks'])[1 + pg_temp.pick('topic', i, 6)]),
       date '1950-01-01' + pg_temp.pick('published', i, 27000),
       timestamptz '2024-01-01 00:00:00+00' + pg_temp.pick('updated', i, 365 * 24 * 3600) * interval '1 second'
           + (pg_temp.pick('micros', i, 1000000) * interval '1 microsecond')
FROM generate_series(1, 1500) AS i;

-- ------------------------------------------------------------------------------ orders

INSERT INTO shop."Orders"
SELECT i,
       CASE WHEN i IN (10, 2500) THEN 99999                             -- orphans
            ELSE 1 + pg_temp.pick('book', i, 1500) END,
       CASE WHEN i % 29 = 0 THEN ' '                                    -- blank -> NULL
            ELSE 'reader' || pg_temp.pick('customer', i, 800) || '@example.com' END,
       1 + pg_temp.pick('qty', i, 4),
       (99 + pg_temp.pick('unit', i, 6000))::numeric / 100,
       timestamp '2022-01-01 00:00' + pg_temp.pick('ordered', i, 3 * 365 * 24 * 60) * interval '1 minute'
FROM generate_series(1, 3000) AS i;
