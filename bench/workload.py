"""DomainFlow's application workload: several client connections at a fixed rate.

Each client is a thread with its own connection (``application_name`` ``bench-app-N``)
that runs DomainFlow's hot queries on an open-loop schedule: operation ``i`` of a client
is due at ``t0 + i / rate``. Latency is measured from that due time, not from when the
client got round to it, so a client stuck behind a lock also charges the delay to the
operations queued behind it (no coordinated omission). ``service`` is the time the
database itself took.

Operations (weights in ``MIX``):

- ``job_claim``: a worker polls the job queue (``status = 'queued'`` ordered by schedule,
  ``FOR UPDATE SKIP LOCKED``), claims one job, then completes it (two transactions);
- ``job_enqueue``: a campaign enqueues a job;
- ``dns_insert`` / ``http_insert``: validators store a DNS / HTTP keyword result;
- ``campaign_update``: progress counters of a campaign.

Every successful write is remembered (ids, counters) and checked after the run:
``verify_writes`` counts the writes that are no longer there.

The renamed job columns (``campaign_type`` -> ``job_type``, ``payload`` -> ``job_payload``,
``worker_id`` -> ``processing_server_id``): a client starts with the names it finds in the
catalog. When a statement fails with ``UndefinedColumn`` (SQLSTATE 42703) after a rename,
the client counts one *rename-implied* error, looks the names up again and retries the
operation at once (what an application deployed to tolerate both schemas does). Every other
error is counted by SQLSTATE as an application error.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import errors as pgerr
from psycopg import sql
from psycopg.types.json import Jsonb

# old name -> new name (DomainFlow mismatches 4, 5, 6)
RENAMES = {"campaign_type": "job_type", "payload": "job_payload", "worker_id": "processing_server_id"}

MIX: dict[str, int] = {
    "job_claim": 2,
    "job_enqueue": 1,
    "dns_insert": 4,
    "http_insert": 2,
    "campaign_update": 1,
}
WRITE_KINDS = frozenset(MIX)  # every operation of the mix writes


@dataclass
class Op:
    """One application operation. Times are seconds on the run's monotonic clock."""

    kind: str
    due: float  # when the schedule wanted it to start
    start: float  # when it started
    end: float
    ok: bool
    error: str | None = None  # SQLSTATE or exception class of the last failure
    rename_errors: int = 0  # UndefinedColumn failures retried with the new names

    @property
    def latency(self) -> float:
        return self.end - self.due

    @property
    def service(self) -> float:
        return self.end - self.start


@dataclass
class Written:
    """What one client committed, to be found again after the migration."""

    dns_ids: list[Any] = field(default_factory=list)
    http_ids: list[Any] = field(default_factory=list)
    job_ids: list[Any] = field(default_factory=list)  # enqueued
    completed_jobs: list[Any] = field(default_factory=list)  # claimed + completed by us
    campaign_increments: Counter[Any] = field(default_factory=Counter)


@dataclass
class Dataset:
    """Ids the workload writes against, read once from the database before a run."""

    dns_campaigns: list[Any]
    http_campaigns: list[Any]
    job_campaigns: list[Any]
    progress_campaigns: list[Any]
    columns: dict[str, set[str]]


HOT_TABLES = ("campaigns", "campaign_jobs", "dns_validation_results", "http_keyword_results")


def table_columns(conn: psycopg.Connection[Any]) -> dict[str, set[str]]:
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = ANY(%s)",
        (list(HOT_TABLES),),
    ).fetchall()
    cols: dict[str, set[str]] = {t: set() for t in HOT_TABLES}
    for t, c in rows:
        cols[t].add(c)
    return cols


def read_dataset(conninfo: str, sample: int = 200) -> Dataset:
    """Pick existing campaigns of each type (so inserts never create orphans)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cols = table_columns(conn)
        missing = [t for t, c in cols.items() if not c]
        if missing:
            raise RuntimeError(f"DomainFlow tables missing: {missing}")

        def ids(ctype: str | None) -> list[Any]:
            if ctype is None:
                q = "SELECT id FROM campaigns ORDER BY id LIMIT %s"
                return [r[0] for r in conn.execute(q, (sample,))]
            q = "SELECT id FROM campaigns WHERE campaign_type = %s ORDER BY id LIMIT %s"
            got = [r[0] for r in conn.execute(q, (ctype, sample))]
            return got or ids(None)

        return Dataset(
            dns_campaigns=ids("dns_validation"),
            http_campaigns=ids("http_keyword_validation"),
            job_campaigns=ids(None),
            progress_campaigns=ids(None)[:50],
            columns=cols,
        )


class Client(threading.Thread):
    """One application connection running the mix at ``rate`` operations per second."""

    def __init__(self, idx: int, conninfo: str, rate: float, dataset: Dataset, tag: str,
                 clock_zero: float, stop: threading.Event, seed: int = 0) -> None:
        super().__init__(name=f"bench-app-{idx}", daemon=True)
        self.idx = idx
        self.conninfo = conninfo
        self.interval = 1.0 / rate
        self.ds = dataset
        self.tag = tag
        self.zero = clock_zero
        self.stop_event = stop
        self.rng = random.Random(seed * 1000 + idx)
        self.ops: list[Op] = []
        self.written = Written()
        self.marker = f"bench-{tag}-w{idx}"
        self.names: dict[str, str] = {}
        self.fatal: str | None = None
        self._seq = 0
        self.next_due = 0.0  # monotonic time the next operation is due
        kinds = [k for k, w in MIX.items() for _ in range(w)]
        self.rng.shuffle(kinds)
        self.kinds = kinds

    # -- names of the renamed columns ------------------------------------------------
    def _detect_names(self, conn: psycopg.Connection[Any]) -> None:
        cols = table_columns(conn)["campaign_jobs"]
        self.names = {old: (old if old in cols else new) for old, new in RENAMES.items()}

    def _col(self, old: str) -> sql.Identifier:
        return sql.Identifier(self.names[old])

    # -- the operations --------------------------------------------------------------
    def _job_claim(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            row = conn.execute(
                sql.SQL(
                    "WITH j AS (SELECT id FROM campaign_jobs WHERE status = 'queued' "
                    "AND EXISTS (SELECT 1 FROM campaigns WHERE campaigns.id = campaign_jobs.campaign_id) "
                    "ORDER BY scheduled_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
                    "UPDATE campaign_jobs c SET status = 'running', {w} = %s, "
                    "attempts = c.attempts + 1, updated_at = now() FROM j WHERE c.id = j.id "
                    "RETURNING c.id, c.{t}, c.{p}"
                ).format(w=self._col("worker_id"), t=self._col("campaign_type"),
                         p=self._col("payload")),
                (self.marker,),
            ).fetchone()
        if row is None:
            return
        with conn.transaction():
            conn.execute(
                sql.SQL("UPDATE campaign_jobs SET status = 'completed', {w} = %s, "
                        "updated_at = now() WHERE id = %s").format(w=self._col("worker_id")),
                (self.marker, row[0]),
            )
        self.written.completed_jobs.append(row[0])

    def _job_enqueue(self, conn: psycopg.Connection[Any]) -> None:
        cid = self.rng.choice(self.ds.job_campaigns)
        with conn.transaction():
            row = conn.execute(
                sql.SQL("INSERT INTO campaign_jobs (campaign_id, {t}, status, {p}, scheduled_at) "
                        "VALUES (%s, 'dns_validation', 'queued', %s, now() + interval '1 hour') "
                        "RETURNING id").format(t=self._col("campaign_type"),
                                               p=self._col("payload")),
                (cid, Jsonb({"bench": self.marker, "seq": self._seq})),
            ).fetchone()
        assert row is not None
        self.written.job_ids.append(row[0])

    def _dns_insert(self, conn: psycopg.Connection[Any]) -> None:
        cid = self.rng.choice(self.ds.dns_campaigns)
        status = self.rng.choice(("resolved", "resolved", "unresolved", "timeout"))
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO dns_validation_results (dns_campaign_id, domain_name, "
                "validation_status, dns_records, attempts, last_checked_at) "
                "VALUES (%s, %s, %s, %s, 1, now()) RETURNING id",
                (cid, f"{self.marker}-{self._seq}.example", status,
                 Jsonb({"A": ["192.0.2.1"]})),
            ).fetchone()
        assert row is not None
        self.written.dns_ids.append(row[0])

    def _http_insert(self, conn: psycopg.Connection[Any]) -> None:
        cid = self.rng.choice(self.ds.http_campaigns)
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO http_keyword_results (http_keyword_campaign_id, domain_name, "
                "validation_status, http_status_code, attempts, last_checked_at) "
                "VALUES (%s, %s, 'success', 200, 1, now()) RETURNING id",
                (cid, f"{self.marker}-{self._seq}.example"),
            ).fetchone()
        assert row is not None
        self.written.http_ids.append(row[0])

    def _campaign_update(self, conn: psycopg.Connection[Any]) -> None:
        cid = self.rng.choice(self.ds.progress_campaigns)
        with conn.transaction():
            conn.execute(
                "UPDATE campaigns SET processed_items = processed_items + 1, updated_at = now() "
                "WHERE id = %s",
                (cid,),
            )
        self.written.campaign_increments[cid] += 1

    # -- the loop --------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.conninfo, autocommit=True,
                               application_name=f"bench-app-{self.idx}")
        self._detect_names(conn)
        return conn

    def run(self) -> None:
        try:
            conn = self._connect()
        except psycopg.Error as exc:  # pragma: no cover - reported by the runner
            self.fatal = f"connect: {exc}"
            return
        handlers = {
            "job_claim": self._job_claim,
            "job_enqueue": self._job_enqueue,
            "dns_insert": self._dns_insert,
            "http_insert": self._http_insert,
            "campaign_update": self._campaign_update,
        }
        # Spread clients over the first interval so they do not fire in lockstep.
        start = time.monotonic() + self.interval * self.rng.random()
        i = 0
        while not self.stop_event.is_set():
            due = start + i * self.interval
            self.next_due = due
            delay = due - time.monotonic()
            if delay > 0 and self.stop_event.wait(delay):
                break
            kind = self.kinds[i % len(self.kinds)]
            i += 1
            self._seq = i
            t_start = time.monotonic()
            renames = 0
            err: str | None = None
            ok = False
            for _attempt in range(len(RENAMES) + 2):
                try:
                    handlers[kind](conn)
                    ok = True
                    err = None
                    break
                except pgerr.UndefinedColumn:
                    renames += 1
                    err = "42703"
                    self._detect_names(conn)
                except psycopg.OperationalError as exc:
                    err = exc.sqlstate or type(exc).__name__
                    if conn.closed or conn.broken:
                        try:
                            conn = self._connect()
                        except psycopg.Error:
                            time.sleep(0.1)
                    break
                except psycopg.Error as exc:
                    err = exc.sqlstate or type(exc).__name__
                    break
            t_end = time.monotonic()
            self.ops.append(Op(kind, due - self.zero, t_start - self.zero, t_end - self.zero,
                               ok, err, renames))
        conn.close()


def run_clients(conninfo: str, clients: int, rate: float, dataset: Dataset, tag: str,
                clock_zero: float, seed: int = 0) -> tuple[list[Client], threading.Event]:
    """Start ``clients`` threads sharing ``rate`` operations per second; returns them and
    the event that stops them."""
    stop = threading.Event()
    threads = [Client(i, conninfo, rate / clients, dataset, tag, clock_zero, stop, seed)
               for i in range(clients)]
    for t in threads:
        t.start()
    return threads, stop


def wait_caught_up(clients: list[Client], limit: float, slack: float = 0.5) -> float:
    """Wait (at most ``limit`` s) until no client is behind its schedule by more than
    ``slack`` s, so the backlog a stall built up is served and measured; returns the wait."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        now = time.monotonic()
        if all(not c.is_alive() or now - c.next_due < slack for c in clients):
            break
        time.sleep(0.1)
    return time.monotonic() - t0


def verify_writes(conninfo: str, clients: list[Client]) -> dict[str, Any]:
    """Count, per kind, the committed writes that are no longer in the database."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cols = table_columns(conn)["campaign_jobs"]
        worker = "processing_server_id" if "processing_server_id" in cols else "worker_id"
        result: dict[str, dict[str, int]] = {}

        def found(table: str, ids: list[Any]) -> int:
            if not ids:
                return 0
            q = sql.SQL("SELECT count(*) FROM {} WHERE id = ANY(%s)").format(sql.Identifier(table))
            r = conn.execute(q, (ids,)).fetchone()
            return int(r[0]) if r else 0

        for kind, table, attr in (("dns_insert", "dns_validation_results", "dns_ids"),
                                  ("http_insert", "http_keyword_results", "http_ids"),
                                  ("job_enqueue", "campaign_jobs", "job_ids")):
            ids = [i for c in clients for i in getattr(c.written, attr)]
            n = found(table, ids)
            result[kind] = {"committed": len(ids), "found": n, "lost": len(ids) - n}

        done = 0
        total = 0
        for c in clients:
            ids = c.written.completed_jobs
            total += len(ids)
            if ids:
                q = sql.SQL("SELECT count(*) FROM campaign_jobs WHERE id = ANY(%s) "
                            "AND status = 'completed' AND {w} = %s").format(w=sql.Identifier(worker))
                r = conn.execute(q, (ids, c.marker)).fetchone()
                done += int(r[0]) if r else 0
        result["job_claim"] = {"committed": total, "found": done, "lost": total - done}

        incs: Counter[Any] = Counter()
        for c in clients:
            incs.update(c.written.campaign_increments)
        result["campaign_update"] = {"committed": sum(incs.values()), "found": 0, "lost": 0}
        return result


def campaign_counters(conninfo: str, ids: list[Any]) -> dict[Any, int]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute("SELECT id, coalesce(processed_items, 0) FROM campaigns "
                            "WHERE id = ANY(%s)", (ids,)).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def verify_increments(before: dict[Any, int], after: dict[Any, int],
                      clients: list[Client]) -> dict[str, int]:
    """Each committed ``processed_items + 1`` must show in the final counter."""
    incs: Counter[Any] = Counter()
    for c in clients:
        incs.update(c.written.campaign_increments)
    committed = sum(incs.values())
    found = sum(min(max(after.get(cid, 0) - before.get(cid, 0), 0), n) for cid, n in incs.items())
    return {"committed": committed, "found": found, "lost": committed - found}
