# Shared by bench/run.sh and bench/profile.sh (sourced from the repository root).
#
# bench_build: the host release binary and the plugins.
# bench_clusters: throwaway source and target clusters under .bench/ (ports 54501/54502),
#   stopped (and their data removed, unless BENCH_KEEP=1) when the calling script exits;
#   sets $src and $tgt (URLs without a database).
# bench_generate SCALE: the legacy dataset in $src/legacy; sets $tables (the plan's tables, in
#   plan order) and $source_rows.

bench_log() { printf '== %s\n' "$*" >&2; }

bench_build() {
  bench_log "building plugins and the host release binary"
  scripts/build-plugins.sh >/dev/null
  cargo build --release --quiet --workspace
  host=$PWD/target/release/host
}

bench_stop_clusters() {
  local side
  for side in source target; do scripts/pg-cluster.sh stop ".bench/$side" >/dev/null 2>&1 || true; done
  if [ "${BENCH_KEEP:-0}" != 1 ]; then rm -rf .bench/source .bench/target; fi
}

bench_clusters() {
  bench_stop_clusters
  rm -rf .bench
  mkdir -p .bench/logs
  trap bench_stop_clusters EXIT
  trap 'exit 130' INT TERM
  src=$(scripts/pg-cluster.sh start .bench/source 54501)
  tgt=$(scripts/pg-cluster.sh start .bench/target 54502)
}

bench_generate() {
  local scale=$1
  bench_log "generating the legacy dataset, scale $scale"
  psql -q "$src/postgres" -c 'CREATE DATABASE legacy'
  "$host" generate --scale "$scale" --url "$src/legacy" >.bench/logs/generate.log 2>&1 \
    || { cat .bench/logs/generate.log >&2; return 1; }
  tables=$(sed -n 's/^name = "\(.*\)"/\1/p' plan.toml)
  source_rows=$(for t in $tables; do psql -Atq "$src/legacy" -c "SELECT count(*) FROM $t"; done | paste -sd+ | bc)
  bench_log "$(echo $tables | wc -w) tables, $source_rows source rows"
}

# fresh_db NAME: drops and creates NAME on the target cluster, then a CHECKPOINT so the
# previous method's dirty buffers are not written during the next one's timing.
fresh_db() {
  psql -q "$tgt/postgres" -c 'SET client_min_messages = warning' -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" -c 'CHECKPOINT'
}

# bench_plan: .bench/plan.toml, the plan host run gets: plan.toml with its paths made relative
# to .bench/ and every max_reject_rate at 1.0. The lab's 2% stop criterion is about the data,
# not the speed: at small scales one planted orphan doctor's patients are more than 2% of
# patients and the run would stop there (at scale 1 it does not, and the work is the same).
# The `adopt = true` lines go too: every method here starts from an empty target and moves
# every table, so host run migrates the foundation tables itself instead of adopting them.
# Quarantined rows are reported. Then fills the compiled-component cache (~/.cache/
# migrate-host or HOST_CACHE_DIR), untimed, so every timed run loads the 30 components
# from it (`host check` compiles and caches them even when its other checks fail).
bench_plan() {
  sed -e 's|^\( *plugin = "\)\([^/"][^"]*"\)|\1../\2|' -e 's|^\( *"\)\(schema/[^"]*"\)|\1../\2|' \
      -e 's|^\( *max_reject_rate *= *\).*|\11.0|' -e '/^adopt = true$/d' plan.toml >.bench/plan.toml
  grep -q '^max_reject_rate = 1.0' .bench/plan.toml || { echo "bench: could not rewrite plan.toml" >&2; return 1; }
  sed -e 's|^\[defaults\]$|[defaults]\nchunk_rows = 0|' .bench/plan.toml >.bench/plan-whole.toml
  "$host" check .bench/plan.toml --source "$src/legacy" --target "$tgt/postgres" >.bench/logs/host-check.log 2>&1 || true
}
