#!/usr/bin/env bash
# The benchmark: `host run plan.toml` against the usual ways of moving the same data, on the same
# machine and the same generated legacy data, in one sitting.
#
#   bench/run.sh [SCALE] [RUNS]      (defaults: 1 and 3)
#
# Builds the host binary and the plugins, installs what is missing (pgloader from apt, the Node
# loop's `pg` with `npm ci`), starts its own source and target clusters under .bench/ (ports
# 54501/54502, stopped on exit), generates the legacy dataset once, then RUNS times, each method
# into a fresh target database:
#   pipe_nofk    per table `psql -c "COPY t TO STDOUT" | psql -c "COPY t FROM STDIN"` into the
#                legacy schema as it is (no foreign keys)
#   pipe_fk      the same into the legacy schema plus the foreign keys of bench/legacy-fks.sql,
#                parents first, reading from source views that leave out the rows those keys
#                would refuse (orphans and the rows under them; see the notes in RESULTS.md)
#   pgloader     pgloader pgsql -> pgsql, data only into the pre-created legacy schema, 4 workers
#   insert_loop  bench/insert-loop (Node + pg): 500-row multi-row INSERTs with per-batch parent
#                lookups into a UUID-keyed schema, core tables only (INSERT_LOOP_TABLES)
#   host_run     `host run plan.toml` into an empty database (the full lab plan; tables over
#                chunk_rows split into key-range chunks)
#   host_run_whole     the same with chunk_rows = 0 (no table split)
#   host_workers_N     `host run` plus N-1 `host worker` processes on this machine (N = 2, 4);
#                peak RSS is the largest single process's
# Set BENCH_METHODS="host_run host_workers_2" (for example) to time only some methods.
# Every timing is `/usr/bin/time -f '%e %M'`. Prints the table and writes bench/results.json
# and bench/RESULTS.md; logs of every run stay in .bench/logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
runs=${2:-3}
insert_loop_tables=${INSERT_LOOP_TABLES:-offices profiles doctors patients orders}
pgloader_heap_mb=${PGLOADER_HEAP_MB:-4096}
. bench/lib.sh

# ---------------------------------------------------------------- what it needs
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v pgloader >/dev/null; then
  bench_log "installing pgloader"
  as_root apt-get install -y pgloader >/dev/null || { as_root apt-get update >/dev/null && as_root apt-get install -y pgloader >/dev/null; }
fi
for tool in /usr/bin/time psql pg_dump node npm python3 bc; do
  command -v "$tool" >/dev/null || { echo "bench/run.sh needs $tool" >&2; exit 1; }
done
if [ ! -d bench/insert-loop/node_modules/pg ] || [ bench/insert-loop/package-lock.json -nt bench/insert-loop/node_modules/.package-lock.json ]; then
  bench_log "npm ci in bench/insert-loop"
  (cd bench/insert-loop && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
bench_build

# ---------------------------------------------------------------- clusters and data
bench_clusters
bench_generate "$scale"
logs=.bench/logs
measurements=$logs/measurements.jsonl
: >"$measurements"

# pipe_fk: parents-first order, and views in the source that keep only the rows the foreign
# keys accept (a child whose parent is missing or was itself left out is left out).
fk_order=$(python3 bench/bench.py fk-order bench/legacy-fks.sql $tables)
python3 bench/bench.py fk-views bench/legacy-fks.sql $tables | psql -q -v ON_ERROR_STOP=1 "$src/legacy"
fk_rows=$(for t in $tables; do psql -Atq "$src/legacy" -c "SELECT count(*) FROM bench_fk.$t"; done | paste -sd+ | bc)
for t in $tables; do
  printf '%s\t%s\t%s\n' "$t" "$(psql -Atq "$src/legacy" -c "SELECT count(*) FROM $t")" \
    "$(psql -Atq "$src/legacy" -c "SELECT count(*) FROM bench_fk.$t")"
done >"$logs/fk-kept.tsv"
bench_log "pipe_fk: $fk_rows of $source_rows rows pass the foreign keys"

# The legacy DDL of the plan's tables, as the source has it (no foreign keys).
pg_dump -s $(for t in $tables; do printf -- '-t public.%s ' "$t"; done) "$src/legacy" >"$logs/legacy-ddl.sql"

# pgloader's command file: the same tables, data only, into the pre-created schema.
cat >"$logs/pgloader.load" <<EOF
LOAD DATABASE
  FROM ${src/#postgres:/pgsql:}/legacy
  INTO ${tgt/#postgres:/pgsql:}/pgloader
WITH data only, workers = 4, concurrency = 1
INCLUDING ONLY TABLE NAMES MATCHING $(for t in $tables; do printf "'%s'," "$t"; done | sed 's/,$//') IN SCHEMA 'public'
;
EOF

bench_plan   # .bench/plan.toml: plan.toml with max_reject_rate 1.0 (see bench/lib.sh)

count_rows() { # DB [SCHEMA]: rows in the plan's tables of a target database
  for t in $tables; do psql -Atq "$tgt/$1" -c "SELECT count(*) FROM ${2:-public}.$t"; done | paste -sd+ | bc
}

# same_content DB: after run 1, the copied content of a few tables (numeric money, timestamps,
# hand-typed text, Windows paths with backslashes) must equal the source's, untimed.
same_content() {
  local t q
  [ "$run" = 1 ] || return 0
  for t in orders order_files patients; do
    q="SELECT md5(string_agg(x::text, E'\\n' ORDER BY id)) FROM $t x"
    if [ "$(psql -Atq "$src/legacy" -c "$q")" != "$(psql -Atq "$tgt/$1" -c "$q")" ]; then
      echo "$1: table $t differs from the source" >&2
      exit 1
    fi
  done
}

# timed NAME RUN LOG CMD...: runs CMD under /usr/bin/time (stdout and stderr to LOG), leaves
# "wall_s rss_kb" in $timing; a failing command fails the benchmark, unless may_fail=NAME
# (then timed returns 1 and the caller records the failure).
timed() {
  local name=$1 run=$2 log=$3; shift 3
  if /usr/bin/time -f '%e %M' -o "$log.time" "$@" >"$log" 2>&1; then
    timing=$(tail -1 "$log.time")
    return 0
  fi
  echo "$name (run $run) failed; last lines of $log:" >&2
  tail -8 "$log" >&2
  [ "${may_fail:-}" = "$name" ] && return 1
  exit 1
}

record_failed() { # METHOD RUN REASON
  printf '{"method":"%s","run":%d,"failed":%s}\n' "$1" "$2" \
    "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$3")" >>"$measurements"
  printf '  %-12s failed: %s\n' "$1" "$3" >&2
}

wanted() { # METHOD: whether BENCH_METHODS (all when unset) includes it
  [ -z "${BENCH_METHODS:-}" ] || [[ " $BENCH_METHODS " == *" $1 "* ]]
}

record_host() { # METHOD RUN: a host run's measurement, with what the target's state says
  local state done_tables read_rows written skipped rejected target_rows
  state=$(psql -Atq -F, "$tgt/lab" -c "SELECT count(*) FILTER (WHERE phase = 'done'), sum(rows_read), sum(rows_written), sum(rows_skipped), sum(rows_rejected), sum(target_rows) FROM migration.table_state")
  IFS=, read -r done_tables read_rows written skipped rejected target_rows <<<"$state"
  record "$1" "$2" "$read_rows" "\"tables_done\":$done_tables,\"written\":$written,\"skipped\":$skipped,\"quarantined\":$rejected,\"target_rows\":$target_rows"
}

record() { # METHOD RUN ROWS [EXTRA JSON FIELDS]
  printf '{"method":"%s","run":%d,"wall_s":%s,"rss_kb":%s,"rows":%s%s}\n' \
    "$1" "$2" "${timing% *}" "${timing#* }" "$3" "${4:+,$4}" >>"$measurements"
  printf '  %-12s %8.2f s  %7d rows  %6d MB\n' "$1" "${timing% *}" "$3" "$(( ${timing#* } / 1024 ))" >&2
}

# How much of pipe_fk's time is the source-side filtering: every table read to /dev/null, as
# it is and through its bench_fk view (once, not part of the runs).
timed read_plain 0 "$logs/read_plain.log" env SRC="$src/legacy" TABLES="$tables" \
  bash -c 'set -e; for t in $TABLES; do psql -qX "$SRC" -c "COPY $t TO STDOUT" >/dev/null; done'
read_plain_s=${timing% *}
timed read_fk_views 0 "$logs/read_fk_views.log" env SRC="$src/legacy" TABLES="$tables" \
  bash -c 'set -e; for t in $TABLES; do psql -qX "$SRC" -c "COPY (SELECT * FROM bench_fk.$t) TO STDOUT" >/dev/null; done'
read_fk_views_s=${timing% *}
bench_log "reading every table to /dev/null: ${read_plain_s} s as they are, ${read_fk_views_s} s through the bench_fk views"

load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(load_avg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)

for run in $(seq "$runs"); do
  bench_log "run $run of $runs (load average $(load_avg))"

  # (a) the raw pipe, no foreign keys: the legacy schema as it is.
  if wanted pipe_nofk; then
    fresh_db pipe_nofk
    psql -q -v ON_ERROR_STOP=1 "$tgt/pipe_nofk" -f "$logs/legacy-ddl.sql" >/dev/null
    timed pipe_nofk "$run" "$logs/pipe_nofk-$run.log" env SRC="$src/legacy" DST="$tgt/pipe_nofk" TABLES="$tables" \
      bash -c 'set -eo pipefail; for t in $TABLES; do psql -qX "$SRC" -c "COPY $t TO STDOUT" | psql -qX "$DST" -c "COPY $t FROM STDIN"; done'
    same_content pipe_nofk
    record pipe_nofk "$run" "$(count_rows pipe_nofk)"
  fi

  # (a') the raw pipe with the foreign keys checked, parents first, from the filtered views.
  if wanted pipe_fk; then
    fresh_db pipe_fk
    psql -q -v ON_ERROR_STOP=1 "$tgt/pipe_fk" -f "$logs/legacy-ddl.sql" >/dev/null
    psql -q -v ON_ERROR_STOP=1 "$tgt/pipe_fk" -f bench/legacy-fks.sql >/dev/null   # (pg_dump's file empties search_path)
    timed pipe_fk "$run" "$logs/pipe_fk-$run.log" env SRC="$src/legacy" DST="$tgt/pipe_fk" TABLES="$fk_order" \
      bash -c 'set -eo pipefail; for t in $TABLES; do psql -qX "$SRC" -c "COPY (SELECT * FROM bench_fk.$t) TO STDOUT" | psql -qX "$DST" -c "COPY $t FROM STDIN"; done'
    record pipe_fk "$run" "$(count_rows pipe_fk)" "\"excluded\":$((source_rows - fk_rows))"
  fi

  # (b) pgloader into the same pre-created schema.
  if wanted pgloader; then
    fresh_db pgloader
    psql -q -v ON_ERROR_STOP=1 "$tgt/pgloader" -f "$logs/legacy-ddl.sql" >/dev/null
    # The Debian build's Lisp heap is 1 GB by default: at scale 1 with 4 workers and pgloader's
    # default batch and prefetch sizes it ran out ("Heap exhausted, game over"), so it gets
    # PGLOADER_HEAP_MB (default 4096); its peak RSS shows what it used. A failure is recorded
    # and reported, the other methods still run.
    if may_fail=pgloader timed pgloader "$run" "$logs/pgloader-$run.log" \
        pgloader --dynamic-space-size "$pgloader_heap_mb" --root-dir "$PWD/$logs/pgloader-root" "$logs/pgloader.load"; then
      got=$(count_rows pgloader)
      if [ "$got" = "$source_rows" ]; then
        same_content pgloader
        record pgloader "$run" "$got"
      else
        record_failed pgloader "$run" "copied $got of $source_rows rows (see $logs/pgloader-$run.log)"
      fi
    else
      record_failed pgloader "$run" "$(grep -m1 -o 'Heap exhausted[^.]*\|FATAL.*\|ERROR.*' "$logs/pgloader-$run.log" || echo "exit status $(head -1 "$logs/pgloader-$run.log.time")")"
    fi
  fi

  # (c) the old Node way: batches of 500, multi-row INSERTs, per-batch parent lookups.
  if wanted insert_loop; then
    fresh_db insert_loop
    timed insert_loop "$run" "$logs/insert_loop-$run.log" sh -c \
      'node bench/insert-loop/insert-loop.js "$@" >"$0" ' "$logs/insert_loop-$run.json" "$src/legacy" "$tgt/insert_loop" $insert_loop_tables
    loop=$(cat "$logs/insert_loop-$run.json")
    record insert_loop "$run" "$(echo "$loop" | python3 -c 'import json,sys; print(json.load(sys.stdin)["read"])')" "\"detail\":$loop"
  fi

  # (d) host run, the full lab plan, into an empty database: one process, large tables in
  # chunks; the same with no table split; and with workers beside it.
  if wanted host_run; then
    fresh_db lab
    timed host_run "$run" "$logs/host_run-$run.log" "$host" run .bench/plan.toml --source "$src/legacy" --target "$tgt/lab"
    record_host host_run "$run"
  fi
  if wanted host_run_whole; then
    fresh_db lab
    timed host_run_whole "$run" "$logs/host_run_whole-$run.log" "$host" run .bench/plan-whole.toml --source "$src/legacy" --target "$tgt/lab"
    record_host host_run_whole "$run"
  fi
  for n in 2 4; do
    wanted "host_workers_$n" || continue
    fresh_db lab
    timed "host_workers_$n" "$run" "$logs/host_workers_$n-$run.log" \
      env HOST="$host" N="$n" LOG="$logs/host_workers_$n-$run" SRC="$src/legacy" TGT="$tgt/lab" bash bench/workers.sh
    # Peak RSS per process: the largest of the processes' own.
    rss=$(cat "$logs/host_workers_$n-$run".p*.time | awk '{print $2}' | sort -n | tail -1)
    timing="${timing% *} $rss"
    record_host "host_workers_$n" "$run"
  done
done

# ---------------------------------------------------------------- report
python3 - "$logs/meta.json" <<EOF
import json, sys
json.dump({
  "started": "$started", "finished": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "scale": float("$scale"), "runs": int("$runs"),
  "command": "bench/run.sh $scale $runs",
  "commit": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)",
  "nproc": int("$(nproc)"),
  "memory_gib": round(int("$(awk '/MemTotal/ {print $2}' /proc/meminfo)") / 1048576, 1),
  "cpu": "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)",
  "postgres": "$(psql -Atq "$tgt/postgres" -c 'SHOW server_version')",
  "postgres_settings": "scripts/pg-cluster.sh: fsync=off, full_page_writes=off, shared_buffers=256MB, max_wal_size=4GB",
  "pgloader": "$(pgloader --version 2>&1 | sed -n '1s/"//gp')",
  "node": "$(node --version)",
  "load_average_start": "$load_start", "load_average_end": "$(load_avg)",
  "tables": $(echo $tables | wc -w),
  "source_rows": int("$source_rows"),
  "fk_rows": int("$fk_rows"),
  "fk_constraints": int("$(grep -c '^ALTER TABLE' bench/legacy-fks.sql)"),
  "insert_loop_tables": "$insert_loop_tables".split(),
  "read_plain_s": float("$read_plain_s"), "read_fk_views_s": float("$read_fk_views_s"),
  "pgloader_heap_mb": int("$pgloader_heap_mb"),
}, open(sys.argv[1], "w"), indent=1)
EOF
python3 bench/bench.py report --meta "$logs/meta.json" --measurements "$measurements" \
  --fk-kept "$logs/fk-kept.tsv" --host-log "$logs/host_run-1.log" \
  --json bench/results.json --markdown bench/RESULTS.md
