#!/usr/bin/env bash
# Where `host run` spends its time, at one scale.
#
#   bench/profile.sh [SCALE]      (default 1; 0.1 takes well under a minute)
#
# Same setup as bench/run.sh (clusters under .bench/ on ports 54501/54502, stopped on exit; the
# legacy data generated once; .bench/plan.toml), then one `host run` into an empty database
# under `perf record -g` (sampling the host process only), and prints:
#   - wall time against the CPU time of host (user + sys), of the source cluster and of the
#     target cluster (server processes' CPU, read from /proc before and after), so PostgreSQL's
#     share shows without a system-wide profile, and the rest (waiting: the machine's other
#     work, I/O, round trips);
#   - host's own CPU by shared object (`perf report --no-children --sort dso`), grouped: the
#     plugins' compiled WebAssembly (wasmtime maps it from the compiled-component cache, so it
#     shows as that cache file, or as [unknown]/[JIT] when compiled in memory), the host binary
#     (runner, wasmtime runtime, tokio-postgres), libc, the kernel;
#   - the top symbols;
#   - the per-table "where the time went" lines host run logs (read / transform / write s).
# Everything stays in .bench/profile/ (perf.data, host-run.log, reports).
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
. bench/lib.sh
command -v perf >/dev/null || { echo "bench/profile.sh needs perf (linux-perf)" >&2; exit 1; }
bench_build
bench_clusters
bench_generate "$scale"
bench_plan
out=.bench/profile
mkdir -p "$out"
fresh_db lab

hz=$(getconf CLK_TCK)
# cluster_cpu DIR: CPU seconds used so far by a cluster: its postmaster, every live server
# process (children of the postmaster) and the exited ones (the postmaster's cutime + cstime).
cluster_cpu() {
  local pm ticks=0 pid
  pm=$(head -1 "$1/data/postmaster.pid")
  for pid in $pm $(ps --ppid "$pm" -o pid= 2>/dev/null); do
    # fields after the command: state is $3 in /proc/PID/stat; utime stime cutime cstime 14-17
    ticks=$(( ticks + $(sed 's/^.*) //' /proc/"$pid"/stat 2>/dev/null | awk -v self="$([ "$pid" = "$pm" ] && echo 1 || echo 0)" \
      '{ t = $12 + $13; if (self) t += $14 + $15; print t }' || echo 0) ))
  done
  echo "$ticks"
}

src_before=$(cluster_cpu .bench/source); tgt_before=$(cluster_cpu .bench/target)
bench_log "host run under perf record -g (scale $scale)"
perf record -F 499 -g -o "$out/perf.data" -- \
  /usr/bin/time -f '%e %U %S %M' -o "$out/time" \
  "$host" run .bench/plan.toml --source "$src/legacy" --target "$tgt/lab" >"$out/host-run.log" 2>&1 \
  || { tail -20 "$out/host-run.log" >&2; exit 1; }
sleep 1   # let the postmasters reap host run's backends (their CPU then counts in cutime)
src_after=$(cluster_cpu .bench/source); tgt_after=$(cluster_cpu .bench/target)
read -r wall user sys rss < <(tail -1 "$out/time")

perf report -i "$out/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null >"$out/by-dso.txt"
perf report -i "$out/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null >"$out/by-symbol.txt"

python3 - "$out" "$wall" "$user" "$sys" "$rss" \
  "$(echo "($src_after - $src_before) / $hz" | bc -l)" "$(echo "($tgt_after - $tgt_before) / $hz" | bc -l)" "$scale" <<'EOF'
import glob, hashlib, os, re, sys
# The compiled-component cache names files after the component's sha256: name them after the plugin.
plugin_of = {hashlib.sha256(open(f, "rb").read()).hexdigest(): os.path.basename(f)[:-5]
             for f in glob.glob("plugins/dist/*.wasm")}
def dso_name(dso):
    m = re.match(r"([0-9a-f]{64})-[0-9a-f]+\.cwasm$", dso)
    return f"{plugin_of.get(m.group(1), m.group(1)[:12])}.cwasm" if m else dso
out, wall, user, sys_, rss, src_cpu, tgt_cpu, scale = sys.argv[1:]
wall, user, sys_, src_cpu, tgt_cpu = map(float, (wall, user, sys_, src_cpu, tgt_cpu))
host_cpu = user + sys_
print(f"\nhost run at scale {scale}: wall {wall:.1f} s, peak RSS {int(rss) // 1024} MB (under perf: a few % slower)")
print("CPU time against the wall clock (2 cores: the sum can exceed the wall):")
for name, s in (("host (user + sys)", host_cpu), ("  of which user", user), ("  of which sys", sys_),
                ("source PostgreSQL (reads)", src_cpu), ("target PostgreSQL (writes, FKs, indexes)", tgt_cpu)):
    print(f"  {name:42s} {s:8.1f} s  {s / wall:6.1%} of wall")
print(f"  {'wall - (host + source + target CPU)':42s} {wall - host_cpu - src_cpu - tgt_cpu:8.1f} s  "
      "(waiting: other work on the machine, I/O, round trips; negative = the parts overlapped)")

groups = {}
rows = []
for line in open(f"{out}/by-dso.txt"):
    m = re.match(r"\s+([0-9.]+)%\s+(.+?)\s*$", line)
    if not m:
        continue
    pct, dso = float(m.group(1)), dso_name(m.group(2))
    rows.append((pct, dso))
    if dso.endswith(".cwasm") or "migrate-host" in dso or dso in ("[unknown]", "[JIT]") or dso.startswith("//anon") or "jitted" in dso or re.fullmatch(r"[0-9a-f]{16,}.*", dso):
        g = "wasm: plugins' compiled code"
    elif dso == "host":
        g = "host binary (runner, wasmtime runtime, postgres client)"
    elif dso.startswith("libc") or dso.startswith("ld-linux") or dso.startswith("libm"):
        g = "libc"
    elif "kernel" in dso or dso.startswith("[k"):
        g = "kernel (syscalls: sockets, memory)"
    else:
        g = "other: " + dso
    groups[g] = groups.get(g, 0) + pct
print("\nhost's own CPU samples by shared object (perf report --no-children --sort dso):")
for pct, dso in rows[:12]:
    print(f"  {pct:6.2f}%  {dso}")
print("grouped:")
for g, pct in sorted(groups.items(), key=lambda kv: -kv[1]):
    print(f"  {pct:6.2f}%  {g}  (~{pct / 100 * host_cpu:.1f} s of host's {host_cpu:.1f} s CPU)")

print("\ntop symbols (perf report --no-children --sort dso,sym):")
n = 0
for line in open(f"{out}/by-symbol.txt"):
    m = re.match(r"\s+([0-9.]+%)\s+(\S+)\s+(.*)$", line)
    if m:
        print(f"  {m.group(1):>7s}  {dso_name(m.group(2)):24s} {m.group(3).strip()[:110]}")
        n += 1
        if n == 20:
            break

ansi = re.compile(r"\x1b\[[0-9;]*m")
tables = []
for line in open(f"{out}/host-run.log", errors="replace"):
    line = ansi.sub("", line)
    if "where the time went" in line:
        t = re.search(r"table=(\w+)", line)
        v = dict(re.findall(r'(read_s|transform_s|write_s)="?([0-9.]+)', line))
        if t and len(v) == 3:
            tables.append((t.group(1), float(v["read_s"]), float(v["transform_s"]), float(v["write_s"])))
if tables:
    print('\nhost run\'s "where the time went" per table (s), slowest first:')
    print(f"  {'table':22s} {'read':>8s} {'transform':>10s} {'write':>8s}")
    for t, r, x, w in sorted(tables, key=lambda r: -(r[1] + r[2] + r[3]))[:12]:
        print(f"  {t:22s} {r:8.2f} {x:10.2f} {w:8.2f}")
    tr, tx, tw = (sum(r[i] for r in tables) for i in (1, 2, 3))
    print(f"  {'all ' + str(len(tables)) + ' tables':22s} {tr:8.2f} {tx:10.2f} {tw:8.2f}")
print(f"\nfiles: {out}/perf.data, by-dso.txt, by-symbol.txt, host-run.log "
      f"(perf report -i {out}/perf.data for more)")
EOF
