// legacy shop."Books" -> public.books, in JavaScript (componentize-js).
//
// Resolves the author (a book of a skipped author is skipped with it, one whose author was
// never migrated is rejected as an orphan), rejects a book without a title, and maps the
// free-text "Genre" onto the codes of ref.genres (a table of the target this plugin cannot
// see: a genre it does not know is passed on as its lower-case text, and PostgreSQL's foreign
// key refuses the row, which the runner quarantines with PostgreSQL's reason). The enum,
// domain, arrays, jsonb, bytea, tsvector, money, date and timestamptz pass through unchanged:
// the runner hands over types it has no value for (arrays, tsvector) as PostgreSQL's text.
//
// Built by examples/bookshop/build.sh (`host plugin build`); fixtures: fixtures.toml here.
//
// WIT values in JS (jco conventions): { tag: 'int', val: 5n } (s64 is BigInt), { tag: 'null' },
// { tag: 'bytes', val: Uint8Array }...; an option<string> is a string or undefined.

// The contract's import, in this one place (its package name changes with the contract).
import * as ids from 'migrate:transform/ids@0.4.0';

const READS = [
  'BookId', 'AuthorId', 'Title', 'Isbn', 'Format', 'Genre', 'Tags', 'Ratings', 'Price',
  'Cover', 'Attributes', 'SearchText', 'PublishedOn', 'UpdatedAt',
];
const COLUMNS = [
  'id', 'legacy_id', 'author_id', 'title', 'isbn', 'format', 'genre', 'tags', 'ratings',
  'price', 'cover', 'attributes', 'search', 'published_on', 'updated_at',
];

// Legacy spellings (lower-cased, trimmed) -> ref.genres codes.
const GENRES = {
  'sci-fi': 'scifi',
  'science fiction': 'scifi',
  fantasy: 'fantasy',
  crime: 'crime',
  mystery: 'crime',
  romance: 'romance',
  'non-fiction': 'nonfiction',
  nonfiction: 'nonfiction',
  history: 'history',
};

const NULL = { tag: 'null' };
const text = (val) => ({ tag: 'text', val });

class Fate extends Error {
  constructor(outcome) {
    super(outcome.val);
    this.outcome = outcome;
  }
}

const reject = (reason) => new Fate({ tag: 'reject', val: reason });

function resolveAuthor(value) {
  if (value.tag === 'null') throw reject('required column AuthorId is NULL');
  const found = ids.resolve('Authors', value.val);
  if (found !== undefined) return found;
  const reason = ids.skipped('Authors', value.val);
  if (reason !== undefined) {
    throw new Fate({ tag: 'skip', val: `AuthorId=${value.val}: that author was skipped (${reason})` });
  }
  throw reject(
    `orphan: AuthorId=${value.val} has no migrated row in Authors (missing in the legacy data, or quarantined)`,
  );
}

// The ref.genres code of a legacy genre; blank is NULL, an unknown one its lower-case text.
function genre(value) {
  const t = value.tag === 'null' ? '' : value.val.trim().toLowerCase();
  if (t === '') return NULL;
  return text(GENRES[t] ?? t);
}

function transformRow(values) {
  const row = Object.fromEntries(READS.map((c, i) => [c, values[i]]));
  const key = row.BookId.val;
  const author = resolveAuthor(row.AuthorId);
  const title = row.Title.tag === 'null' ? '' : row.Title.val.trim();
  if (title === '') throw reject('required column Title is NULL or blank');
  return {
    tag: 'write',
    val: [
      {
        table: 'books',
        values: [
          { tag: 'uuid', val: ids.mint('Books', key) },
          { tag: 'int', val: key },
          { tag: 'uuid', val: author },
          text(title),
          row.Isbn,
          row.Format,
          genre(row.Genre),
          row.Tags.tag === 'null' ? text('{}') : row.Tags,
          row.Ratings,
          row.Price,
          row.Cover,
          row.Attributes,
          row.SearchText,
          row.PublishedOn,
          row.UpdatedAt,
        ],
      },
    ],
  };
}

export function describe() {
  return {
    sourceTable: 'Books',
    reads: READS,
    writes: [{ table: 'books', columns: COLUMNS }],
    resolves: ['Authors'],
  };
}

export function transform(rows) {
  return rows.map((values) => {
    try {
      return transformRow(values);
    } catch (e) {
      if (e instanceof Fate) return e.outcome;
      throw e;
    }
  });
}
