-- The bookshop's legacy database: schema `shop`, designed long before this migration tool
-- and nothing like the lab's. Quoted CamelCase names, an enum, arrays, a domain, jsonb,
-- bytea, a tsvector, exact money and both kinds of timestamps; keys of every shape (integer,
-- char(2), uuid, a composite link table, a month-partitioned table keyed by (date, number));
-- a self-reference and a two-table cycle. No foreign keys (the old application checked
-- nothing), so the data holds the dirt a migration has to sort out:
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
--   * "BookAuthors" (key ("BookId", "AuthorId")): links of skipped or rejected books and
--     authors follow them (skipped / rejected)
--   * "Customers" (key "CustomerId" uuid): two live in country 'XX', which "Countries" (key
--     "Code" char(2)) does not hold -> refused by the target's foreign key, quarantined
--   * "Sales" (partitioned by month, key ("SoldOn", "SaleNo"), "SaleNo" counting from 1 each
--     day): sales of skipped books are skipped, of rejected books rejected
--   * "Staff"."ReportsTo": most staff report to a manager with a HIGHER "StaffId" (managers
--     and directors were entered last), some to a colleague with a lower one
--   * "Stores"."ManagerId" -> "Staff" and "Staff"."StoreId" -> "Stores": a cycle; store 8 has
--     no manager (NULL)
--
-- Deterministic: no random(), no now(); every value comes from md5 of the row number, so the
-- same script always gives the same rows. 200 authors, 1,500 books, 3,000 orders, 12
-- countries, 600 customers, about 2,000 book-author links and 1,650 sales, 8 stores, 120 staff.
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

-- ------------------------------------------------------------------------------ countries
-- A text key: char(2), blank-padded by PostgreSQL. 'PT' is held by nobody.

CREATE TABLE shop."Countries" (
    "Code" char(2) PRIMARY KEY,
    "Name" text NOT NULL
);

INSERT INTO shop."Countries" VALUES
    ('CO', 'Colombia'), ('DE', 'Germany'), ('EG', 'Egypt'), ('FR', 'France'),
    ('GB', 'United Kingdom'), ('IT', 'Italy'), ('JP', 'Japan'), ('NG', 'Nigeria'),
    ('PT', 'Portugal'), ('RU', 'Russia'), ('US', 'United States'), ('ES', 'Spain');

-- ------------------------------------------------------------------------------ customers
-- A uuid key, made from md5 (deterministic; not ordered like the row numbers).

CREATE TABLE shop."Customers" (
    "CustomerId" uuid PRIMARY KEY,
    "FullName"   text NOT NULL,
    "Email"      text,
    "Country"    char(2) NOT NULL,
    "Since"      date NOT NULL
);

INSERT INTO shop."Customers"
SELECT md5('customer:' || i)::uuid,
       'Reader ' || i,
       CASE WHEN i % 37 = 0 THEN '' ELSE 'reader' || i || '@example.com' END,  -- blank -> NULL
       CASE WHEN i IN (77, 401) THEN 'XX'                               -- no such country
            ELSE (ARRAY['GB', 'FR', 'NG', 'RU', 'CO', 'IT', 'JP', 'US', 'EG', 'DE', 'ES'])[1 + pg_temp.pick('ccountry', i, 11)] END,
       date '2010-01-01' + pg_temp.pick('since', i, 5000)
FROM generate_series(1, 600) AS i;

-- ------------------------------------------------------------------------------ book authors
-- A link table keyed by both its columns: each book's own author (even where that author
-- is missing), a co-author on one book in four, a translator on one in ten.

CREATE TABLE shop."BookAuthors" (
    "BookId"   integer NOT NULL,
    "AuthorId" integer NOT NULL,
    "Role"     text NOT NULL,
    PRIMARY KEY ("BookId", "AuthorId")
);

INSERT INTO shop."BookAuthors"
SELECT "BookId", "AuthorId", 'author' FROM shop."Books";

INSERT INTO shop."BookAuthors"
SELECT b, 1 + pg_temp.pick('coauthor', b, 200), 'co-author'
FROM generate_series(4, 1500, 4) AS b
ON CONFLICT DO NOTHING;

INSERT INTO shop."BookAuthors"
SELECT b, 1 + pg_temp.pick('translator', b, 200), 'translator'
FROM generate_series(3, 1500, 10) AS b
ON CONFLICT DO NOTHING;

-- ------------------------------------------------------------------------------ sales
-- Partitioned by month; the key is the day and the sale's number within the day, so
-- neither column is unique alone. A sale without a customer was a walk-in.

CREATE TABLE shop."Sales" (
    "SoldOn"     date NOT NULL,
    "SaleNo"     integer NOT NULL,
    "BookId"     integer NOT NULL,
    "CustomerId" uuid,
    "Quantity"   integer NOT NULL,
    "Amount"     numeric(10,2) NOT NULL,
    PRIMARY KEY ("SoldOn", "SaleNo")
) PARTITION BY RANGE ("SoldOn");

DO $$
BEGIN
    FOR m IN 0..11 LOOP
        EXECUTE format('CREATE TABLE shop.%I PARTITION OF shop."Sales" FOR VALUES FROM (%L) TO (%L)',
                       'Sales_2024_' || lpad((m + 1)::text, 2, '0'),
                       date '2024-01-01' + make_interval(months => m),
                       date '2024-01-01' + make_interval(months => m + 1));
    END LOOP;
END
$$;

INSERT INTO shop."Sales"
SELECT day::date,
       n,
       1 + pg_temp.pick('sbook', d * 10 + n, 1500),
       CASE WHEN pg_temp.pick('walkin', d * 10 + n, 5) = 0 THEN NULL
            ELSE md5('customer:' || (1 + pg_temp.pick('scustomer', d * 10 + n, 600)))::uuid END,
       1 + pg_temp.pick('sqty', d * 10 + n, 3),
       (299 + pg_temp.pick('samount', d * 10 + n, 4000))::numeric / 100
FROM generate_series(0, 365) AS d,
     LATERAL (SELECT date '2024-01-01' + d AS day) AS days,
     LATERAL generate_series(1, 1 + pg_temp.pick('sales', d, 8)) AS n;

-- ------------------------------------------------------------------------------ stores and staff
-- A cycle: a store's manager is one of its staff, every staff member works in a store.
-- Staff 1-108 are clerks, 109-116 the managers of stores 1-8 (store 8's left: it has none),
-- 117-119 regional directors, 120 the managing director. Clerks report to their store's
-- manager (a higher key) except every fifth, who reports to the clerk three before; managers
-- to a director, directors to 120 (all higher keys).

CREATE TABLE shop."Stores" (
    "StoreId"   integer PRIMARY KEY,
    "Name"      text NOT NULL,
    "City"      text NOT NULL,
    "ManagerId" integer
);

CREATE TABLE shop."Staff" (
    "StaffId"   integer PRIMARY KEY,
    "StoreId"   integer NOT NULL,
    "ReportsTo" integer,
    "FullName"  text NOT NULL,
    "HiredOn"   date NOT NULL
);

INSERT INTO shop."Stores"
SELECT s,
       'Bookshop ' || (ARRAY['Central', 'Harbour', 'Old Town', 'Station', 'University', 'Market', 'Riverside', 'Airport'])[s],
       (ARRAY['Lyon', 'Porto', 'Leeds', 'Turin', 'Lagos', 'Osaka', 'Cairo', 'Bogotá'])[s],
       CASE WHEN s = 8 THEN NULL ELSE 108 + s END
FROM generate_series(1, 8) AS s;

INSERT INTO shop."Staff"
SELECT i,
       CASE WHEN i <= 108 THEN 1 + (i - 1) % 8
            WHEN i <= 116 THEN i - 108
            ELSE 1 END,
       CASE WHEN i <= 108 AND i % 5 = 0 THEN i - 3
            WHEN i <= 108 THEN 108 + 1 + (i - 1) % 8
            WHEN i <= 116 THEN 117 + (i - 109) % 3
            WHEN i <= 119 THEN 120
            END,
       (ARRAY['Amal', 'Bruno', 'Chiara', 'Dmitri', 'Efua', 'Felipe', 'Greta', 'Hiro'])[1 + pg_temp.pick('sfirst', i, 8)]
           || ' ' || (ARRAY['Okafor', 'Silva', 'Rossi', 'Ivanov', 'Mensah', 'Gómez', 'Berg', 'Sato'])[1 + pg_temp.pick('slast', i, 8)],
       date '2012-01-01' + pg_temp.pick('hired', i, 4000)
FROM generate_series(1, 120) AS i;
