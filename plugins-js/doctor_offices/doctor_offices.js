// legacy `doctor_offices` -> `public.doctor_offices`, in JavaScript (componentize-js).
//
// The same mapping as plugins/doctor_offices (Rust): rejects a link without a doctor or an
// office, or whose doctor or office was not migrated (orphan); skips one whose doctor or
// office was skipped; a NULL `is_primary` is written as false; legacy local times get the
// legacy zone. Held to the same fixtures: plugins/doctor_offices/fixtures.toml.
//
// WIT values in JS (jco conventions): a `value` is { tag: 'int', val: 5n } (s64 is BigInt),
// { tag: 'null' }, { tag: 'text', val: '...' }...; records use camelCase fields; an
// option<string> is a string or undefined.
import { resolve as resolveId, skipped, mint } from 'migrate:transform/ids@0.4.0';

const LEGACY_TIME_ZONE = 'America/Chicago';
const READS = ['id', 'doctor_id', 'office_id', 'is_primary', 'created_at'];
const COLUMNS = ['id', 'legacy_id', 'doctor_id', 'office_id', 'is_primary', 'created_at'];

class Fate extends Error {
  constructor(outcome) {
    super(outcome.val);
    this.outcome = outcome;
  }
}

const reject = (reason) => new Fate({ tag: 'reject', val: reason });

function requireInt(row, column) {
  const value = row[column];
  if (value.tag === 'int') return value.val;
  if (value.tag === 'null') throw reject(`required column ${column} is NULL`);
  throw new TypeError(`column \`${column}\` is not an integer: ${value.tag}`);
}

function text(row, column) {
  const value = row[column];
  return value.tag === 'null' ? undefined : value.val;
}

// The parent's UUID; skip the row with a skipped parent, reject an orphan.
function resolve(entity, legacyId, column) {
  const found = resolveId(entity, legacyId);
  if (found !== undefined) return found;
  const reason = skipped(entity, legacyId);
  if (reason !== undefined) {
    throw new Fate({ tag: 'skip', val: `${column}=${legacyId}: that ${entity} row was skipped (${reason})` });
  }
  throw reject(
    `orphan: ${column}=${legacyId} has no migrated row in ${entity} (missing in the legacy data, or quarantined)`,
  );
}

function optTimestamptz(local) {
  if (local === undefined) return { tag: 'null' };
  const t = local.trim();
  if (t === 'infinity' || t === '-infinity') return { tag: 'timestamptz', val: t };
  return { tag: 'timestamptz', val: `${t} ${LEGACY_TIME_ZONE}` };
}

function transformRow(values) {
  const row = Object.fromEntries(READS.map((c, i) => [c, values[i]]));
  const key = requireInt(row, 'id');
  const doctor = resolve('doctors', requireInt(row, 'doctor_id'), 'doctor_id');
  const office = resolve('offices', requireInt(row, 'office_id'), 'office_id');
  const primary = row.is_primary;
  return {
    tag: 'write',
    val: [
      {
        table: 'doctor_offices',
        values: [
          { tag: 'uuid', val: mint('doctor_offices', key) },
          { tag: 'int', val: key },
          { tag: 'uuid', val: doctor },
          { tag: 'uuid', val: office },
          { tag: 'boolean', val: primary.tag === 'boolean' && primary.val },
          optTimestamptz(text(row, 'created_at')),
        ],
      },
    ],
  };
}

export function describe() {
  return {
    sourceTable: 'doctor_offices',
    reads: READS,
    writes: [{ table: 'doctor_offices', columns: COLUMNS }],
    resolves: ['doctors', 'offices'],
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
