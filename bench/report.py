"""Figures from the raw measurements: latency windows, stalls, errors, targets, the table."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from bench.workload import Op

BIN = 0.25  # seconds per point of the latency timeline


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


def window(ops: list[Op]) -> dict[str, Any]:
    lat = [o.latency for o in ops if o.ok]
    return {
        "ops": len(ops),
        "p50Ms": _ms(pct(lat, 50)),
        "p99Ms": _ms(pct(lat, 99)),
        "maxMs": _ms(max(lat) if lat else None),
    }


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000.0, 2)


def app_figures(ops: list[Op], mig_start: float, mig_end: float, warmup: float) -> dict[str, Any]:
    before = [o for o in ops if o.due >= warmup and o.end < mig_start]
    during = [o for o in ops if o.due < mig_end and o.end > mig_start]
    after = [o for o in ops if o.due >= mig_end]
    stall = max((o.latency for o in during), default=0.0)
    stall_op = max(during, key=lambda o: o.latency, default=None)
    errors: Counter[str] = Counter(o.error or "?" for o in ops if not o.ok)
    by_kind: Counter[str] = Counter(f"{o.kind}:{o.error or '?'}" for o in ops if not o.ok)
    # queueing behind the client's own schedule before the migration: the workload is over
    # the machine's capacity and "stalls" measure that, not locks
    queued_before = max((o.start - o.due for o in before), default=0.0)
    rename_implied = sum(o.rename_errors for o in ops if o.ok)
    return {
        "ops": len(ops),
        "opsPerSecond": round(len(ops) / max(1e-9, max((o.end for o in ops), default=0) - warmup), 1)
        if ops else 0,
        "before": window(before),
        "during": window(during),
        "after": window(after),
        "maxWriteStallSeconds": round(stall, 3),
        "maxWriteStallOp": stall_op.kind if stall_op else None,
        "maxWriteStallAtSeconds": round(stall_op.due - mig_start, 2) if stall_op else None,
        # the same without the queue poll, whose v26 sequential scan is slow by itself
        "maxWriteStallExcludingPollSeconds": round(max(
            (o.latency for o in during if o.kind != "job_claim"), default=0.0), 3),
        # the longest time one statement spent in the database (no client-side queueing)
        "maxServiceSecondsDuring": round(max((o.service for o in during), default=0.0), 3),
        "maxQueueingBeforeSeconds": round(queued_before, 3),
        # how much of the machine the application itself kept busy while the migration ran
        # (its statements' time in the database, per second of migration): an online
        # migration shares the CPUs with it, one that blocks the application does not
        "busyDuringSessionsPerSecond": round(sum(
            max(0.0, min(o.end, mig_end) - max(o.start, mig_start)) for o in during)
            / max(1e-9, mig_end - mig_start), 2),
        "saturated": queued_before > 1.0,
        "errors": {
            "renameImplied": rename_implied,
            "other": sum(errors.values()),
            "bySqlstate": dict(errors),
            "byKind": dict(by_kind),
        },
    }


def timeline(ops: list[Op], origin: float) -> list[list[float]]:
    """[[t, max latency ms, n]] per BIN seconds of due time, t relative to ``origin``."""
    bins: dict[int, list[float]] = {}
    for o in ops:
        bins.setdefault(math.floor((o.due - origin) / BIN), []).append(o.latency)
    return [[round(k * BIN, 3), round(max(v) * 1000.0, 2), len(v)] for k, v in sorted(bins.items())]


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets of docs/performance.md, each measured value against its bound (None =
    not measured)."""
    by = {c["name"]: c for c in result.get("contenders", [])}
    sf, nv = by.get("schemaflow"), by.get("naive")
    # exit 3 = applied, then verification failed: the migration ran, its figures count
    ok_sf = bool(sf and not sf.get("skipped") and sf["migration"]["exitCode"] in (0, 3))
    ok_nv = bool(nv and not nv.get("skipped") and nv["migration"]["exitCode"] in (0, 3))
    out: list[dict[str, Any]] = []

    def add(name: str, value: Any, bound: str, met: bool | None, note: str = "") -> None:
        out.append({"target": name, "value": value, "bound": bound, "met": met, "note": note})

    big = result["dataset"]["rows"].get("dns_validation_results", 0) >= 900_000
    if ok_sf:
        st = sf["app"]["maxWriteStallSeconds"]  # type: ignore[index]
        note = "" if big else "dataset below the 1M size: not a verdict"
        if sf["app"].get("saturated"):  # type: ignore[index]
            note = ("the workload was over the machine's capacity before the migration "
                    "(operations queued > 1 s): stalls include that queueing")
        add("schemaflow longest write stall", st, "<= 1 s at ~1M rows", st <= 1.0 if big else None,
            note)
    else:
        add("schemaflow longest write stall", None, "<= 1 s at ~1M rows", None, "schemaflow did not run")
    if ok_sf and ok_nv:
        st, sn = sf["app"]["maxWriteStallSeconds"], nv["app"]["maxWriteStallSeconds"]  # type: ignore[index]
        ratio = round(sn / st, 1) if st > 0 else math.inf
        add("stall ratio naive/schemaflow", ratio, ">= 10x", ratio >= 10)
        tw, nw = sf["migration"]["wallSeconds"], nv["migration"]["wallSeconds"]  # type: ignore[index]
        r2 = round(tw / nw, 2) if nw > 0 else math.inf
        add("schemaflow time / naive time", r2, "<= 1.3x", r2 <= 1.3)
    else:
        add("stall ratio naive/schemaflow", None, ">= 10x", None, "a contender did not run")
        add("schemaflow time / naive time", None, "<= 1.3x", None, "a contender did not run")
    for name, what in (("schemaflow-down", "rollback (down)"), ("auto-rollback",
                       "automatic rollback (up fails verification, then down)"), ("plan", "plan")):
        c = by.get(name)
        if not c or c.get("skipped"):
            continue
        st = c["app"]["maxWriteStallSeconds"]
        add(f"{what}: longest write stall", st, "<= 1 s at ~1M rows",
            (st <= 1.0 and c["migration"]["exitCode"] == 0) if big else None,
            "" if c["migration"]["exitCode"] == 0 else f"exit {c['migration']['exitCode']}")
        idt = c.get("identity") or {}
        if idt:
            add(f"{what}: schema and rows as before up", idt["schemaIdentical"] and idt["rowsIdentical"],
                "identical", idt["schemaIdentical"] and idt["rowsIdentical"],
                f"{idt['tablesCompared']} tables, {idt['rowsCompared']:,} rows")
    for c in result.get("contenders", []):
        if c.get("skipped"):
            continue
        lost = c["writes"]["lost"]
        add(f"{c['name']}: writes lost", lost, "0", lost == 0)
        other = c["app"]["errors"]["other"]
        add(f"{c['name']}: app errors other than rename-implied", other, "0", other == 0)
    op = result.get("operator")
    if op and not op.get("skipped"):
        for mode, m in (op.get("modes") or {}).items():
            if m.get("skipped"):
                add(f"operator create->Job p99 ({mode})", None, "< 1 s", None, str(m["skipped"])[:120])
                continue
            p99 = m.get("createToJobP99Seconds")
            note = (f"{m['resources']} created at once" if mode == "burst"
                    else f"{m['resources']} created at {m['mode'].split()[-1]}")
            if m.get("missingJobs"):
                note += f"; {m['missingJobs']} Jobs never created"
            add(f"operator create->Job p99 ({mode})", p99, "< 1 s",
                None if p99 is None else p99 < 1.0 and not m.get("missingJobs"), note)
            end = m.get("jobEndToPhaseP99Seconds")
            add(f"operator Job end->phase p99 ({mode})", end, "<= 1 s",
                None if end is None else end <= 1.0 and m.get("phasesSucceeded") == m["resources"],
                f"{m.get('phasesSucceeded')} of {m['resources']} Succeeded")
            idle = m.get("idleApiRequestsPerSecond")
            kinds = ", ".join(f"{k} {n}" for k, n in (m.get("idleApiRequestsByKind") or {}).items())
            add(f"operator API requests/s at rest ({mode})", idle, "<= 1",
                None if idle is None else idle <= 1.0,
                f"over {m.get('idleSeconds')} s, {m['resources']} Succeeded" + (f": {kinds}" if kinds else ""))
        mem = op.get("peakRssMiB")
        add("operator peak memory", mem, "< 150 MiB", None if mem is None else mem < 150)
    return out


def failures(result: dict[str, Any]) -> list[str]:
    """What makes ``python -m bench`` exit 1: schemaflow's own result is wrong (not its
    speed, which depends on the machine)."""
    out = []
    for c in result.get("contenders", []):
        if c.get("skipped"):
            continue
        m, name = c["migration"], c["name"]
        if name == "schemaflow" and (m["exitCode"] != 0 or c["verify"].get("failed")):
            out.append(f"schemaflow up: exit {m['exitCode']}, verification {c['verify']['summary']}")
        if name in ("schemaflow-down", "plan") and m["exitCode"] != 0:
            out.append(f"{name}: exit {m['exitCode']}")
        if name == "auto-rollback" and (m["exitCode"] != 0 or (m.get("phases") or {}).get("upExitCode") != 3):
            out.append(f"auto-rollback: up exit {(m.get('phases') or {}).get('upExitCode')}, "
                       f"down exit {m['exitCode']} (want 3 then 0)")
        idt = c.get("identity")
        if name != "naive-down" and idt and not (idt["schemaIdentical"] and idt["rowsIdentical"]):
            out.append(f"{name}: the database is not as before up ({c['verify']['summary']})")
        if c["writes"]["lost"]:
            out.append(f"{name}: {c['writes']['lost']} committed writes lost")
    return out


def _f(v: Any, fmt: str = "{:.2f}") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return fmt.format(v)
    return str(v)


def table(result: dict[str, Any]) -> str:
    """A Markdown table of the contenders (also printed to the terminal)."""
    cs = [c for c in result.get("contenders", [])]
    head = ["figure", *[c["name"] for c in cs]]
    rows: list[list[str]] = []

    def row(label: str, fn: Any) -> None:
        vals = []
        for c in cs:
            if c.get("skipped"):
                vals.append("skipped")
                continue
            try:
                vals.append(fn(c))
            except (KeyError, TypeError):
                vals.append("n/a")
        rows.append([label, *vals])

    row("exit code", lambda c: str(c["migration"]["exitCode"]))
    row("migration wall time (s)", lambda c: _f(c["migration"]["wallSeconds"]))
    row("longest app write stall during migration (s)",
        lambda c: _f(c["app"]["maxWriteStallSeconds"], "{:.3f}"))
    row("  same, without the v26 queue poll (s)",
        lambda c: _f(c["app"]["maxWriteStallExcludingPollSeconds"], "{:.3f}"))
    row("longest single statement during migration (s)",
        lambda c: _f(c["app"]["maxServiceSecondsDuring"], "{:.3f}"))
    row("p50 latency before (ms)", lambda c: _f(c["app"]["before"]["p50Ms"], "{:.1f}"))
    row("p99 latency before (ms)", lambda c: _f(c["app"]["before"]["p99Ms"], "{:.1f}"))
    row("p50 latency during (ms)", lambda c: _f(c["app"]["during"]["p50Ms"], "{:.1f}"))
    row("p99 latency during (ms)", lambda c: _f(c["app"]["during"]["p99Ms"], "{:.1f}"))
    row("p99 latency after (ms)", lambda c: _f(c["app"]["after"]["p99Ms"], "{:.1f}"))
    row("backfill rows/s", lambda c: _f(c["migration"]["backfillRowsPerSecond"], "{:,.0f}"))
    row("migration lock wait (s)", lambda c: _f(c["migration"]["lockWaitSeconds"], "{:.3f}")
        + f" ({c['migration']['lockWaitSource']})")
    row("migration lock wait, sampled (s)",
        lambda c: _f(c["migration"]["lockWaitSampledSeconds"], "{:.2f}"))
    row("app lock wait, sampled (session-s)", lambda c: _f(c["app"]["lockWaitSeconds"], "{:.2f}"))
    row("app sessions in the database during migration (per s; waiting on locks)",
        lambda c: f"{c['app']['busyDuringSessionsPerSecond']:.2f} "
                  f"({c['app']['lockWaitSeconds'] / max(1e-9, c['migration']['wallSeconds']):.2f})")
    row("app ops (during migration)",
        lambda c: f"{c['app']['ops']:,} ({c['app']['during']['ops']:,})")
    row("app errors: rename-implied", lambda c: str(c["app"]["errors"]["renameImplied"]))
    row("app errors: other", lambda c: str(c["app"]["errors"]["other"])
        + (f" {c['app']['errors']['bySqlstate']}" if c["app"]["errors"]["other"] else ""))
    row("writes committed (while migrating) / lost",
        lambda c: f"{c['writes']['committed']:,} ({c['writes']['committedDuringMigration']:,}) "
                  f"/ {c['writes']['lost']}")
    row("host CPU busy during migration / load avg",
        lambda c: f"{c['host']['cpuBusyDuringMigration']:.0%} / "
                  f"{c['host']['loadAverage1mStartEnd'][0]:.1f}->{c['host']['loadAverage1mStartEnd'][1]:.1f}")
    row("verify after migration / identity after rollback",
        lambda c: str(c.get("verify", {}).get("summary", "n/a")))
    row("automatic rollback: up exit, up s + down s",
        lambda c: (f"{c['migration']['phases']['upExitCode']}, {c['migration']['phases']['upSeconds']:.2f}"
                   f" + {c['migration']['phases']['downSeconds']:.2f}") if c["migration"].get("phases") else "")

    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def fmt(r: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |"

    lines = [fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt(r) for r in rows]
    if result.get("rounds"):
        lines.append("")
        lines.append(f"Median of {len(result['rounds'])} rounds (order alternating); every round:")
        lines.append("")
        lines.append("| round | contender | wall (s) | longest stall (s) | p99 during (ms) | backfill rows/s | host CPU busy |")
        lines.append("|---|---|---|---|---|---|---|")
        for rnd in result["rounds"]:
            for c in rnd:
                if c.get("skipped"):
                    continue
                lines.append(f"| {c['round']} | {c['name']} | {_f(c['wallSeconds'])} "
                             f"| {_f(c['maxWriteStallSeconds'], '{:.3f}')} | {_f(c['p99DuringMs'], '{:.1f}')} "
                             f"| {_f(c['backfillRowsPerSecond'])} "
                             f"| {_f((c.get('host') or {}).get('cpuBusyDuringMigration'), '{:.0%}')} |")
    return "\n".join(lines)


def operator_table(op: dict[str, Any] | None) -> str:
    if not op:
        return "operator overhead: not measured (--no-operator)"
    if op.get("skipped"):
        return f"operator overhead: skipped ({op['skipped']})"
    lines = ["| operator, " f"{op['resources']} SchemaMigrations in {op['namespaces']} namespaces "
             "| create->Job p50 (s) | p99 (s) | max (s) | Job end->phase p50 (s) | p99 (s) "
             "| max (s) | API req/s at rest | peak RSS (MiB) | idle RSS (MiB) | CPU (s) "
             "| API calls |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for mode, m in (op.get("modes") or {}).items():
        if m.get("skipped"):
            lines.append(f"| {mode} | skipped: {str(m['skipped'])[:80]} ||||||||||")
            continue
        lines.append(f"| {m['mode']} | {_f(m.get('createToJobP50Seconds'), '{:.3f}')} "
                     f"| {_f(m.get('createToJobP99Seconds'), '{:.3f}')} "
                     f"| {_f(m.get('createToJobMaxSeconds'), '{:.3f}')} "
                     f"| {_f(m.get('jobEndToPhaseP50Seconds'), '{:.3f}')} "
                     f"| {_f(m.get('jobEndToPhaseP99Seconds'), '{:.3f}')} "
                     f"| {_f(m.get('jobEndToPhaseMaxSeconds'), '{:.3f}')} "
                     f"| {_f(m.get('idleApiRequestsPerSecond'), '{:.3f}')} "
                     f"| {_f(m.get('peakRssMiB'), '{:.1f}')} "
                     f"| {_f(m.get('idleRssMiB'), '{:.1f}')} | {_f(m.get('cpuSecondsForAll'), '{:.2f}')} "
                     f"| {_f(m.get('apiCalls'))} |")
    return "\n".join(lines)


def targets_table(tg: list[dict[str, Any]]) -> str:
    lines = ["| target | measured | bound | met |", "|---|---|---|---|"]
    for t in tg:
        met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        note = f" ({t['note']})" if t.get("note") else ""
        v = t["value"]
        fmt = "{:.1f}" if isinstance(v, float) and abs(v) >= 10 else "{:.3f}"
        lines.append(f"| {t['target']} | {_f(v, fmt)} | {t['bound']} | {met}{note} |")
    return "\n".join(lines)


def markdown(result: dict[str, Any], plot_path: str) -> str:
    """The generated part of docs/performance.md: run facts, tables, plot."""
    ds = result.get("dataset", {})
    rows = ds.get("rows", {})
    p = result["params"]
    srv = result.get("server", {})
    lines = [
        f"Run of {result['started']} (UTC), commit {result.get('commit', 'not recorded')}, "
        f"on {result['host']['cpus']} CPUs "
        f"(shared with other work), PostgreSQL {srv.get('version', '?')} ({srv.get('flavour', '?')}), "
        f"scale {ds.get('scale')}: "
        + ", ".join(f"{k} {v:,}" for k, v in rows.items())
        + f". Workload: {p['rate']:g} operations/s from {p['clients']} connections, "
        f"{p['before']:g} s measured before the migration, {p['after']:g} s after it.",
        "",
        f"Command: `{result.get('commandLine', 'python -m bench')}`",
        "",
    ]
    if result.get("contenders"):
        lines += [table(result), ""]
    lines += [targets_table(result.get("targets", [])), "", operator_table(result.get("operator")),
              "", f"![latency over time]({plot_path})", ""]
    for c in result.get("contenders", []):
        if c.get("skipped"):
            continue
        fc = c.get("verify", {}).get("failedChecks") or []
        if fc:
            lines.append(f"- {c['name']}: verification after the run: {c['verify']['summary']} "
                         f"(failed: {', '.join(fc)}; source: {c['verify'].get('source')}).")
    return "\n".join(lines).rstrip() + "\n"
