#!/usr/bin/env bash
# bench/workers.sh (run by bench/run.sh): `host run` plus N-1 `host worker` processes into one
# target, each under its own /usr/bin/time ($LOG.pK.time: wall s, peak RSS KB). The workers
# start once the run holds the target's run lock; this script ends when every process has.
set -uo pipefail
/usr/bin/time -f '%e %M' -o "$LOG.p0.time" "$HOST" run .bench/plan.toml --source "$SRC" --target "$TGT" >"$LOG.p0.log" 2>&1 &
run=$!
until psql -Atq "$TGT" -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'" 2>/dev/null | grep -qv '^0$'; do
  kill -0 "$run" 2>/dev/null || break
  sleep 0.1
done
for k in $(seq 1 $((N - 1))); do
  /usr/bin/time -f '%e %M' -o "$LOG.p$k.time" "$HOST" worker .bench/plan.toml --source "$SRC" --target "$TGT" >"$LOG.p$k.log" 2>&1 &
done
wait "$run"
rc=$?
wait
exit $rc
