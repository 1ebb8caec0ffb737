#!/usr/bin/env python3
"""Helpers of bench/run.sh.

  bench.py fk-order FKS.sql TABLE...     the tables, parents first (stable in the given order)
  bench.py fk-views FKS.sql TABLE...     SQL: schema bench_fk with one view per table that keeps
                                         only the rows the foreign keys accept
  bench.py report --meta M --measurements J [--fk-kept TSV] [--host-log LOG]
                  --json OUT --markdown OUT
                                         medians, rates and ratios; prints the table
"""
import argparse
import json
import os
import re
import statistics
import sys

FK = re.compile(r"^ALTER TABLE (\w+) ADD FOREIGN KEY \((\w+)\) REFERENCES (\w+) \(id\);$")


def read_fks(path):
    fks = []
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("--"):
            continue
        m = FK.match(line)
        if not m:
            sys.exit(f"{path}: not of the expected shape: {line}")
        fks.append(m.groups())
    return fks


def fk_order(fks, tables):
    parents = {t: {p for c, _, p in fks if c == t and p != t} for t in tables}
    for t, ps in parents.items():
        missing = ps - set(tables)
        if missing:
            sys.exit(f"{t} references {', '.join(sorted(missing))}, not in the table list")
    order, done = [], set()
    while len(order) < len(tables):
        ready = [t for t in tables if t not in done and parents[t] <= done]
        if not ready:
            sys.exit("foreign-key cycle among: " + ", ".join(t for t in tables if t not in done))
        order.append(ready[0])
        done.add(ready[0])
    return order


def fk_views(fks, tables):
    out = ["SET client_min_messages = warning;", "DROP SCHEMA IF EXISTS bench_fk CASCADE;", "CREATE SCHEMA bench_fk;"]
    for t in fk_order(fks, tables):
        conds = []
        for c, col, p in fks:
            if c != t:
                continue
            # A self reference (comments.parent_id) checks the whole source table: a view
            # cannot read itself. The load fails loudly if that lets an orphan through.
            parent = f"public.{p}" if p == t else f"bench_fk.{p}"
            conds.append(f"({col} IS NULL OR {col} IN (SELECT id FROM {parent}))")
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        out.append(f"CREATE VIEW bench_fk.{t} AS SELECT * FROM public.{t}{where};")
    return "\n".join(out)


METHODS = [
    ("host_run", "host run plan.toml (full lab plan, 30 tables; large tables in chunks)"),
    ("host_run_whole", "host run, chunk_rows = 0 (no table split)"),
    ("host_workers_2", "host run + 1 host worker (2 processes)"),
    ("host_workers_4", "host run + 3 host workers (4 processes)"),
    ("pipe_nofk", "raw COPY pipe, no FKs"),
    ("pipe_fk", "raw COPY pipe, FKs checked"),
    ("pgloader", "pgloader pgsql -> pgsql, 4 workers"),
    ("insert_loop", "Node 500-row INSERT loop (core tables)"),
]


def parse_host_log(path):
    """The per-table "where the time went" lines of a host run log."""
    rows = []
    if not path:
        return rows
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return rows
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    for line in text.splitlines():
        line = ansi.sub("", line)
        if "where the time went" not in line:
            continue
        table = re.search(r"table[=:]\s*\"?(\w+)", line)
        nums = {k: float(v) for k, v in re.findall(r"(read_s|transform_s|write_s)=\"?([0-9.]+)", line)}
        if table and len(nums) == 3:
            rows.append({"table": table.group(1), **nums})
    return rows


def fmt_int(n):
    return f"{n:,}"


def report(args):
    meta = json.load(open(args.meta))
    ms = [json.loads(line) for line in open(args.measurements) if line.strip()]
    methods = {}
    for key, label in METHODS:
        all_runs = [m for m in ms if m["method"] == key]
        if not all_runs:
            continue
        failures = [{"run": m["run"], "reason": m["failed"]} for m in all_runs if "failed" in m]
        runs = [m for m in all_runs if "failed" not in m]
        if not runs:
            methods[key] = {"label": label, "rows": None, "wall_s": [], "median_wall_s": None,
                            "rows_per_s": None, "peak_rss_mb": None, "failed_runs": failures}
            continue
        walls = [m["wall_s"] for m in runs]
        rows = runs[0]["rows"]
        if any(m["rows"] != rows for m in runs):
            print(f"note: {key} rows differ between runs: {[m['rows'] for m in runs]}", file=sys.stderr)
        median = statistics.median(walls)
        entry = {
            "label": label,
            "rows": rows,
            "wall_s": walls,
            "median_wall_s": round(median, 2),
            "rows_per_s": round(rows / median) if median else None,
            "peak_rss_mb": round(max(m["rss_kb"] for m in runs) / 1024, 1),
            "peak_rss_mb_per_run": [round(m["rss_kb"] / 1024, 1) for m in runs],
        }
        extra = {k: v for k, v in runs[0].items() if k not in ("method", "run", "wall_s", "rss_kb", "rows")}
        entry.update(extra)
        if failures:
            entry["failed_runs"] = failures
        methods[key] = entry

    host = methods.get("host_run")
    ratios = {}
    for key, entry in methods.items():
        # host time per row / this method's time per row (= host wall / method wall when the
        # rows are the same): how many times longer host run takes for the same rows.
        if host and host["rows_per_s"] and entry["rows_per_s"]:
            entry["host_ratio"] = round(entry["rows_per_s"] / host["rows_per_s"], 2)
    for key in ("pgloader", "pipe_fk", "pipe_nofk", "insert_loop"):
        if host and key in methods:
            ratios[f"host/{key}"] = methods[key].get("host_ratio")

    loop = methods.get("insert_loop")
    if loop:
        n = len(meta["insert_loop_tables"])
        loop["label"] = f"Node 500-row INSERT loop ({n} of {meta['tables']} tables)"
    if loop and loop["rows_per_s"]:
        loop["extrapolated_full_wall_s"] = round(meta["source_rows"] / loop["rows_per_s"], 1)
        loop["extrapolation_note"] = (
            "source rows of all 30 tables / the loop's rows/s on the core tables only; "
            "an estimate, the loop did not run the other tables")

    fk_kept = []
    if args.fk_kept:
        for line in open(args.fk_kept):
            t, total, kept = line.split()
            if int(total) != int(kept):
                fk_kept.append({"table": t, "rows": int(total), "kept": int(kept)})

    host_tables = parse_host_log(args.host_log)

    results = {
        "date": meta["finished"],
        "machine": {k: meta[k] for k in ("nproc", "memory_gib", "cpu", "postgres", "postgres_settings",
                                          "pgloader", "node", "load_average_start", "load_average_end")},
        "command": meta["command"],
        "commit": meta["commit"],
        "scale": meta["scale"],
        "runs": meta["runs"],
        "tables": meta["tables"],
        "source_rows": meta["source_rows"],
        "rows_per_s_basis": "source rows per second of median wall time (pipe_fk: rows loaded; "
                            "insert_loop: source rows of its tables)",
        "peak_rss_basis": "/usr/bin/time %M: largest resident set of the timed process and its "
                          "children (a pipeline reports its larger psql, not the sum); PostgreSQL "
                          "server memory is not included for any method",
        "methods": methods,
        "ratios": ratios,
        "ratio_basis": "host run time per source row / the method's time per row "
                       "(equals the wall-time ratio when the rows are the same)",
        "pipe_fk": {
            "constraints": meta["fk_constraints"],
            "rows_kept": meta["fk_rows"],
            "rows_excluded": meta["source_rows"] - meta["fk_rows"],
            "tables_with_excluded_rows": fk_kept,
        },
        "host_run_where_the_time_went": host_tables,
    }
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")

    # ------------------------------------------------------------ the table
    header = ["method", "rows", "wall s (median)", "rows/s", "peak RSS MB", "host run ÷ this"]
    lines = []
    for key, entry in methods.items():
        if entry["rows_per_s"] is None:
            lines.append([key, "failed", "-", "-", "-", "-"])
            continue
        lines.append([
            key,
            fmt_int(entry["rows"]),
            f"{entry['median_wall_s']:.2f}",
            fmt_int(entry["rows_per_s"]),
            f"{entry['peak_rss_mb']:.1f}",
            f"{entry.get('host_ratio', 0):.2f}x",
        ])
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(header)]
    print()
    print(f"scale {meta['scale']}, {meta['runs']} run(s), {meta['tables']} tables, "
          f"{fmt_int(meta['source_rows'])} source rows; {meta['nproc']} cores, {meta['memory_gib']} GiB, "
          f"PostgreSQL {meta['postgres']}")
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    for l in lines:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(l, widths))))
    if loop and "extrapolated_full_wall_s" in loop:
        print(f"insert_loop at {fmt_int(loop['rows_per_s'])} rows/s would take ~{loop['extrapolated_full_wall_s']:.0f} s "
              f"for all {fmt_int(meta['source_rows'])} source rows (extrapolated: it ran {len(meta['insert_loop_tables'])} of "
              f"{meta['tables']} tables)")
    print(f"written: {args.json}, {args.markdown}")

    # ------------------------------------------------------------ RESULTS.md
    md = []
    md.append("# Benchmark results\n")
    md.append(f"Generated by `{meta['command']}` on {meta['finished']} (commit {meta['commit']}); "
              "regenerate with the same command. Timings are noisy on shared cores: compare the "
              "ratios within one sitting.\n")
    md.append("## Machine\n")
    md.append(f"- {meta['nproc']} cores ({meta['cpu']}), {meta['memory_gib']} GiB memory")
    md.append(f"- PostgreSQL {meta['postgres']}, two local throwaway clusters ({meta['postgres_settings']})")
    md.append(f"- {meta['pgloader']}; Node {meta['node']}")
    md.append(f"- load average at start {meta['load_average_start']}, at the end {meta['load_average_end']}\n")
    md.append("## Results\n")
    md.append(f"Scale {meta['scale']}: {meta['tables']} tables, {fmt_int(meta['source_rows'])} source rows; "
              f"median of {meta['runs']} run(s), each into a fresh target database.\n")
    md.append("| method | rows | wall s (median) | rows/s | peak RSS MB | host run ÷ this |")
    md.append("|---|---:|---:|---:|---:|---:|")
    for key, entry in methods.items():
        if entry["rows_per_s"] is None:
            md.append(f"| {key}: {entry['label']} | failed: {entry['failed_runs'][0]['reason']} | | | | |")
            continue
        md.append(f"| {key}: {entry['label']} | {fmt_int(entry['rows'])} | {entry['median_wall_s']:.2f} | "
                  f"{fmt_int(entry['rows_per_s'])} | {entry['peak_rss_mb']:.1f} | {entry.get('host_ratio', 0):.2f}x |")
    md.append("")
    md.append("All wall times (s): " + "; ".join(
        f"{k} {', '.join(f'{w:.2f}' for w in e['wall_s']) or '-'}" for k, e in methods.items())
              + "." + "".join(f" {k} failed in run {f['run']}: {f['reason']}." for k, e in methods.items()
                              for f in e.get("failed_runs", [])) + "\n")
    md.append("## Notes\n")
    md.append("- **Timing**: `/usr/bin/time -f '%e %M'` around each method (wall seconds, peak RSS). "
              "The pipes are timed as one `bash -c` loop over the tables (psql start-up included); "
              "their peak RSS is the largest single process (a psql), not the sum of a pipeline's two. "
              "PostgreSQL server time and memory are in the wall time of every method, server memory "
              "in none of the RSS figures.")
    md.append("- **rows/s** is rows over the median wall time. **host run ÷ this** is host run's "
              "time per row over the method's (the wall-time ratio when the rows are the same): "
              "above 1, host run is that many times slower.")
    md.append(f"- **pipe_nofk** copies every table into the legacy schema as `pg_dump -s` gives it: "
              "primary keys only, since `schema/legacy.sql` declares no foreign keys at all.")
    excl = meta["source_rows"] - meta["fk_rows"]
    detail = ", ".join(f"{e['table']} {fmt_int(e['rows'] - e['kept'])}" for e in fk_kept) or "none"
    md.append(f"- **pipe_fk** adds the {meta['fk_constraints']} references the legacy schema documents but does "
              "not declare (`bench/legacy-fks.sql`) and copies parents first. The generated data has planted "
              "orphans, and a COPY into a checked foreign key fails on the first one (the whole table's COPY "
              "is lost), so the pipe reads each table through a view in the source (`bench_fk.<table>`) that "
              "keeps only the rows whose parents exist and were themselves kept; that filtering runs inside "
              f"the timed COPY. It leaves out {fmt_int(excl)} of {fmt_int(meta['source_rows'])} rows "
              f"({excl / meta['source_rows']:.2%}): {detail}. host run instead quarantines or skips such "
              "rows with a reason. Reading every table to /dev/null (once, before the runs) takes "
              f"{meta['read_plain_s']:.2f} s as the tables are and {meta['read_fk_views_s']:.2f} s through the "
              "views: the rest of the gap between pipe_fk and pipe_nofk is the foreign-key checks in the target.")
    md.append("- **pgloader** runs `LOAD DATABASE FROM pgsql INTO pgsql WITH data only, workers = 4, "
              "concurrency = 1` (default batch and prefetch sizes) with a "
              f"{meta['pgloader_heap_mb']} MB Lisp heap (`--dynamic-space-size`; the Debian build's default "
              "1 GB ran out at scale 1: \"Heap exhausted, game over\") "
              "into the same pre-created legacy schema as pipe_nofk (no foreign keys, "
              "so nothing to disable). Its row count, and the content of orders, order_files and patients "
              "(md5 of the rows as text, after run 1; pipe_nofk's too), are checked against the source.")
    if loop:
        d = loop.get("detail", {})
        md.append(f"- **insert_loop** (`bench/insert-loop/`, Node + `pg`) migrates only "
                  f"{', '.join(meta['insert_loop_tables'])} into a simple UUID-keyed schema with foreign keys: "
                  "500 rows per keyset-paged read, a random UUID per row, one `legacy_id = ANY($1)` lookup "
                  "per parent column per batch, one multi-row INSERT per batch (autocommit). "
                  f"It read {fmt_int(d.get('read', loop['rows']))} rows, inserted {fmt_int(d.get('inserted', 0))}, "
                  f"skipped {fmt_int(d.get('skipped', 0))} whose required parent was missing. Its rows/s is the "
                  "figure that compares; extrapolated to all "
                  f"{fmt_int(meta['source_rows'])} source rows it would take ~{loop.get('extrapolated_full_wall_s', 0):.0f} s, "
                  f"an estimate only (the other {meta['tables'] - len(meta['insert_loop_tables'])} tables are wider or "
                  "narrower, with other parents). Its own per-table rates (run 1, without Node's start-up): "
                  + ", ".join(f"{t} {fmt_int(round(c['read'] / c['seconds']))} rows/s" for t, c in d.get("tables", {}).items()
                              if c["seconds"] > 0 and c["read"] >= 1000)
                  + ("." if "tasks" in meta["insert_loop_tables"] else
                     ". `INSERT_LOOP_TABLES=\"offices profiles doctors patients orders technicians tasks\"` adds "
                     "the largest table."))
    if host:
        md.append(f"- **host_run** rows are the source rows it read ({fmt_int(host['rows'])}); it wrote "
                  f"{fmt_int(host.get('written', 0))} of them, skipped {fmt_int(host.get('skipped', 0))} and "
                  f"quarantined {fmt_int(host.get('quarantined', 0))} with reasons, producing "
                  f"{fmt_int(host.get('target_rows', 0))} target rows in the new schema (plus the id map, "
                  f"lineage and checkpoints); {host.get('tables_done', 0)} tables done. Its wall time "
                  "includes loading the 30 components (from the compiled-component cache, filled before the runs) "
                  "and applying the target schema. It runs `.bench/plan.toml`: plan.toml with max_reject_rate 1.0, "
                  "so that small scales, where one planted orphan is more than 2% of a table, run to the end too "
                  "(the same work; at scale 1 every table stays under 1% quarantined).")
    if host_tables:
        top = sorted(host_tables, key=lambda r: -(r["read_s"] + r["transform_s"] + r["write_s"]))[:6]
        tot = {k: sum(r[k] for r in host_tables) for k in ("read_s", "transform_s", "write_s")}
        md.append("\nWhere host run's time went (its per-table log lines, run 1): "
                  f"read {tot['read_s']:.1f} s, transform {tot['transform_s']:.1f} s, write {tot['write_s']:.1f} s "
                  "over all tables; the largest:\n")
        md.append("| table | read s | transform s | write s |")
        md.append("|---|---:|---:|---:|")
        for r in top:
            md.append(f"| {r['table']} | {r['read_s']:.2f} | {r['transform_s']:.2f} | {r['write_s']:.2f} |")
    md.append("")
    # The hand-written analysis (profile, levers tried) below KEPT_MARKER survives a rerun.
    kept = ""
    if os.path.exists(args.markdown):
        previous = open(args.markdown).read()
        if KEPT_MARKER in previous:
            kept = previous[previous.index(KEPT_MARKER):]
    with open(args.markdown, "w") as f:
        f.write("\n".join(md))
        if kept:
            f.write("\n" + kept)


KEPT_MARKER = "<!-- analysis: kept by bench/run.sh -->"


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("fk-order", "fk-views"):
        if len(sys.argv) < 4:
            sys.exit(__doc__)
        fks = read_fks(sys.argv[2])
        tables = sys.argv[3:]
        if sys.argv[1] == "fk-order":
            print(" ".join(fk_order(fks, tables)))
        else:
            print(fk_views(fks, tables))
        return
    p = argparse.ArgumentParser(usage=__doc__)
    p.add_argument("command", choices=["report"])
    p.add_argument("--meta", required=True)
    p.add_argument("--measurements", required=True)
    p.add_argument("--fk-kept")
    p.add_argument("--host-log")
    p.add_argument("--json", required=True)
    p.add_argument("--markdown", required=True)
    report(p.parse_args())


if __name__ == "__main__":
    main()
