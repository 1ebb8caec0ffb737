#!/usr/bin/env node
// The yardstick of the old Node migration scripts that `host` replaces (bench/run.sh, method c).
//
//   node insert-loop.js SOURCE_URL TARGET_URL [TABLE...]
//
// Creates a simple UUID-keyed schema in the (empty) target database, then for each table, in
// parents-first order: reads the legacy rows 500 at a time (keyset on id), gives each row a
// random UUID, looks up the parents' UUIDs with one `legacy_id = ANY($1)` query per parent
// column per batch against the rows already migrated, and writes the batch as one multi-row
// INSERT (autocommit). A row whose required parent is not there is skipped (counted); an
// optional parent that is not there becomes NULL. No transformation beyond that: this measures
// the loop, not the lab's rules. Prints one JSON object on stdout: rows read, inserted and
// skipped per table, and the seconds.
'use strict';
const crypto = require('crypto');
const { Client } = require('pg');

const BATCH = 500;

// table -> columns copied as they are (with target type), and parent references.
// required: a row whose parent is missing is skipped; otherwise the reference becomes NULL.
const SPECS = {
  offices: {
    cols: { name: 'text', address: 'text', city: 'text', state: 'text', zip: 'text', phone: 'text', email: 'text', is_deleted: 'boolean', created_at: 'timestamp', updated_at: 'timestamp' },
    refs: {},
  },
  profiles: {
    cols: { email: 'text', first_name: 'text', last_name: 'text', phone: 'text', profile_type: 'smallint', is_active: 'boolean', settings: 'text', created_at: 'timestamp', updated_at: 'timestamp', deleted_at: 'timestamp' },
    refs: {},
  },
  doctors: {
    cols: { license_no: 'text', specialty: 'text', status: 'text', created_at: 'timestamp', updated_at: 'timestamp', deleted_at: 'timestamp' },
    refs: { profile_id: { table: 'profiles', required: false }, office_id: { table: 'offices', required: true } },
  },
  patients: {
    cols: { first_name: 'text', last_name: 'text', date_of_birth: 'text', gender: 'text', email: 'text', phone: 'text', notes: 'text', archived: 'boolean', created_at: 'timestamp', updated_at: 'timestamp' },
    refs: { doctor_id: { table: 'doctors', required: true }, office_id: { table: 'offices', required: false }, profile_id: { table: 'profiles', required: false } },
  },
  orders: {
    cols: { order_number: 'text', status: 'smallint', total_amount: 'numeric', amount_paid_cents: 'integer', currency: 'text', status_history: 'text', notes: 'text', submitted_at: 'timestamp', shipped_at: 'timestamp', is_deleted: 'boolean', created_at: 'timestamp', updated_at: 'timestamp' },
    refs: { patient_id: { table: 'patients', required: true }, doctor_id: { table: 'doctors', required: true }, office_id: { table: 'offices', required: false } },
  },
  technicians: {
    cols: { role_id: 'integer', employee_no: 'text', shift: 'smallint', hourly_rate_cents: 'integer', is_active: 'boolean', hired_at: 'timestamp', terminated_at: 'timestamp', created_at: 'timestamp' },
    refs: { profile_id: { table: 'profiles', required: false } },
  },
  tasks: {
    cols: { task_type: 'smallint', status: 'smallint', priority: 'smallint', started_at: 'timestamp', completed_at: 'timestamp', duration_seconds: 'integer', notes: 'text', created_at: 'timestamp' },
    refs: { order_id: { table: 'orders', required: true }, technician_id: { table: 'technicians', required: false } },
  },
};
const ORDER = Object.keys(SPECS);
const DEFAULT_TABLES = ['offices', 'profiles', 'doctors', 'patients', 'orders'];

function ddl(name) {
  const spec = SPECS[name];
  const lines = ['id uuid PRIMARY KEY', 'legacy_id integer NOT NULL UNIQUE'];
  for (const [col, ref] of Object.entries(spec.refs)) {
    lines.push(`${col} uuid${ref.required ? ' NOT NULL' : ''} REFERENCES ${ref.table} (id)`);
  }
  for (const [col, type] of Object.entries(spec.cols)) lines.push(`${col} ${type}`);
  return `CREATE TABLE ${name} (\n  ${lines.join(',\n  ')}\n)`;
}

async function migrate(src, tgt, name) {
  const spec = SPECS[name];
  const refCols = Object.keys(spec.refs);
  const dataCols = Object.keys(spec.cols);
  const targetCols = ['id', 'legacy_id', ...refCols, ...dataCols];
  const select = `SELECT id, ${[...refCols, ...dataCols].join(', ')} FROM ${name} WHERE id > $1 ORDER BY id LIMIT ${BATCH}`;
  const counts = { read: 0, inserted: 0, skipped: 0, batches: 0 };
  const started = process.hrtime.bigint();
  let last = 0;
  for (;;) {
    const { rows } = await src.query(select, [last]);
    if (rows.length === 0) break;
    last = rows[rows.length - 1].id;
    counts.read += rows.length;
    counts.batches += 1;
    // One lookup per parent column per batch: legacy id -> new uuid.
    const maps = {};
    for (const col of refCols) {
      const ids = [...new Set(rows.map((r) => r[col]).filter((v) => v !== null))];
      maps[col] = new Map();
      if (ids.length === 0) continue;
      const found = await tgt.query(`SELECT legacy_id, id FROM ${spec.refs[col].table} WHERE legacy_id = ANY($1)`, [ids]);
      for (const r of found.rows) maps[col].set(r.legacy_id, r.id);
    }
    const params = [];
    const tuples = [];
    for (const r of rows) {
      const values = [crypto.randomUUID(), r.id];
      let skip = false;
      for (const col of refCols) {
        const uuid = r[col] === null ? null : maps[col].get(r[col]) ?? null;
        if (uuid === null && spec.refs[col].required) { skip = true; break; }
        values.push(uuid);
      }
      if (skip) { counts.skipped += 1; continue; }
      for (const col of dataCols) values.push(r[col]);
      const base = params.length;
      tuples.push(`(${values.map((_, i) => `$${base + i + 1}`).join(',')})`);
      params.push(...values);
    }
    if (tuples.length > 0) {
      await tgt.query(`INSERT INTO ${name} (${targetCols.join(', ')}) VALUES ${tuples.join(',')}`, params);
      counts.inserted += tuples.length;
    }
  }
  counts.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return counts;
}

async function main() {
  const [sourceUrl, targetUrl, ...requested] = process.argv.slice(2);
  if (!sourceUrl || !targetUrl) {
    console.error('usage: node insert-loop.js SOURCE_URL TARGET_URL [TABLE...]');
    process.exit(2);
  }
  const wanted = requested.length ? requested : DEFAULT_TABLES;
  for (const t of wanted) {
    if (!SPECS[t]) { console.error(`unknown table ${t} (known: ${ORDER.join(', ')})`); process.exit(2); }
    for (const ref of Object.values(SPECS[t].refs)) {
      if (!wanted.includes(ref.table)) { console.error(`${t} needs ${ref.table} in the list`); process.exit(2); }
    }
  }
  const tables = ORDER.filter((t) => wanted.includes(t));
  const src = new Client({ connectionString: sourceUrl });
  const tgt = new Client({ connectionString: targetUrl });
  await src.connect();
  await tgt.connect();
  const started = process.hrtime.bigint();
  for (const t of tables) await tgt.query(ddl(t));
  const result = { tables: {}, read: 0, inserted: 0, skipped: 0 };
  for (const t of tables) {
    const c = await migrate(src, tgt, t);
    result.tables[t] = c;
    result.read += c.read;
    result.inserted += c.inserted;
    result.skipped += c.skipped;
    console.error(`${t}: ${c.read} read, ${c.inserted} inserted, ${c.skipped} skipped (parent missing), ${c.seconds.toFixed(2)} s`);
  }
  result.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await src.end();
  await tgt.end();
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(err.stack || String(err));
  process.exit(1);
});
