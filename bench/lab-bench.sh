#!/usr/bin/env bash
# Benchmark: `host run plan.toml` against the raw COPY pipe on the same data and machine.
#
#   bench/lab-bench.sh [SCALE] [RUNS]      (defaults: 1 and 3)
#
# Starts its own source and target clusters under .bench/ (ports 54501/54502), generates the
# legacy dataset once, then RUNS times: (a) the yardstick, `COPY t TO STDOUT | COPY t FROM
# STDIN` for each legacy table of the plan into an identical schema (no FKs, like the legacy);
# (b) `host run plan.toml` into a fresh target. Prints each run and the medians; figures go
# in docs/measurements.md with this command.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
runs=${2:-3}
scripts/build-plugins.sh >/dev/null
cargo build --release --quiet -p host
host=$PWD/target/release/host
for side in source target; do scripts/pg-cluster.sh stop ".bench/$side" >/dev/null 2>&1 || true; done
rm -rf .bench
src=$(scripts/pg-cluster.sh start .bench/source 54501)
tgt=$(scripts/pg-cluster.sh start .bench/target 54502)
trap 'scripts/pg-cluster.sh stop .bench/source; scripts/pg-cluster.sh stop .bench/target' EXIT
psql -q "$src/postgres" -c 'CREATE DATABASE legacy'
$host generate --scale "$scale" --url "$src/legacy" >/dev/null
tables=$(sed -n 's/^name = "\(.*\)"/\1/p' plan.toml)
rows=$(for t in $tables; do psql -Atq "$src/legacy" -c "SELECT count(*) FROM $t"; done | paste -sd+ | bc)
echo "scale $scale: $(echo $tables | wc -w) tables, $rows source rows"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
pipe_times=(); host_times=(); host_rss=()
for i in $(seq "$runs"); do
  psql -q "$tgt/postgres" -c 'DROP DATABASE IF EXISTS pipe' -c 'CREATE DATABASE pipe'
  pg_dump -s $(for t in $tables; do printf -- '-t %s ' "$t"; done) "$src/legacy" | psql -q "$tgt/pipe" >/dev/null
  start=$(date +%s.%N)
  for t in $tables; do
    psql -q "$src/legacy" -c "COPY $t TO STDOUT" | psql -q "$tgt/pipe" -c "COPY $t FROM STDIN"
  done
  pipe=$(echo "$(date +%s.%N) - $start" | bc)
  psql -q "$tgt/postgres" -c 'DROP DATABASE IF EXISTS lab' -c 'CREATE DATABASE lab'
  out=$(/usr/bin/time -f "%e %M" "$host" run plan.toml --source "$src/legacy" --target "$tgt/lab" 2>&1 >/dev/null | tail -1)
  pipe_times+=("$pipe"); host_times+=("${out% *}"); host_rss+=("${out#* }")
  printf 'run %d: pipe %.2f s, host run %.2f s (peak RSS %d MB)\n' "$i" "$pipe" "${out% *}" "$(( ${out#* } / 1024 ))"
done
p=$(printf '%s\n' "${pipe_times[@]}" | median); h=$(printf '%s\n' "${host_times[@]}" | median); r=$(printf '%s\n' "${host_rss[@]}" | median)
printf 'median of %d: pipe %.2f s, host run %.2f s (%.1fx the pipe), peak RSS %d MB\n' "$runs" "$p" "$h" "$(echo "$h / $p" | bc -l)" "$(( r / 1024 ))"
