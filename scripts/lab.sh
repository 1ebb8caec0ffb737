#!/usr/bin/env bash
# The main job: the lab migration on a generated legacy dataset.
#
# Without database URLs it starts two throwaway local clusters (source and target) under
# .lab/; with MIGRATE_SOURCE_URL and MIGRATE_TARGET_URL it uses those databases (both must be
# empty: the generated dataset is written into the source, and the target is put in the state
# the lab's old scripts left it: offices, categories, profiles and brackets already migrated
# with random UUIDs, which `host run` adopts). SCALE (default 1) sets the size.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${SCALE:-1}
scripts/build-plugins.sh
cargo build --release --quiet --workspace
host=target/release/host

if [ -z "${MIGRATE_SOURCE_URL:-}" ] || [ -z "${MIGRATE_TARGET_URL:-}" ]; then
  for side in source target; do scripts/pg-cluster.sh stop ".lab/$side" >/dev/null 2>&1 || true; done
  rm -rf .lab
  src=$(scripts/pg-cluster.sh start .lab/source 54401)
  tgt=$(scripts/pg-cluster.sh start .lab/target 54402)
  psql -q "$src/postgres" -c 'CREATE DATABASE legacy'
  psql -q "$tgt/postgres" -c 'CREATE DATABASE lab'
  export MIGRATE_SOURCE_URL="$src/legacy" MIGRATE_TARGET_URL="$tgt/lab"
  started_clusters=1
fi

echo "== generating the legacy dataset (scale $scale)"
echo "   and the target as the old scripts left it (foundation tables already migrated)"
$host generate --scale "$scale" --url "$MIGRATE_SOURCE_URL" --replace --seed-target "$MIGRATE_TARGET_URL"
echo "== host check plan.toml"
$host check plan.toml
echo "== host run plan.toml"
if [ -x /usr/bin/time ]; then /usr/bin/time -f "wall %e s, peak RSS %M KB" $host run plan.toml; else $host run plan.toml; fi
echo "== host validate plan.toml"
$host validate plan.toml
echo "== host report plan.toml -o lab-report.html"
$host report plan.toml -o lab-report.html
if [ -n "${started_clusters:-}" ]; then
  cat <<EOT

The clusters keep running so you can look around:
  source: psql $MIGRATE_SOURCE_URL
  target: psql $MIGRATE_TARGET_URL      (state: SELECT * FROM migration.table_state;)
  status: MIGRATE_TARGET_URL=$MIGRATE_TARGET_URL target/release/host status plan.toml
  report: lab-report.html (timeline, throughput, reasons, lineage, the plan; open it in a browser)
  stop:   scripts/pg-cluster.sh stop .lab/source; scripts/pg-cluster.sh stop .lab/target
EOT
fi
