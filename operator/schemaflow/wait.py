"""`schemaflow wait`: block until a migration has succeeded (the deploy-time gate).

Two forms, one per way an application chart gates its rollout:

``--resource NAME``
    Watches the SchemaMigration NAME through the Kubernetes API (in-cluster config, a
    kubeconfig, or ``--api-url``) until its status reports the CURRENT generation:
    ``Succeeded`` exits 0, ``Failed`` exits 2, ``RolledBack`` exits 3, each with the reason
    from the Ready condition. Used by a Helm pre-install/pre-upgrade hook Job; needs only
    ``get`` and ``watch`` on ``schemamigrations`` in its namespace (see ``API_CALLS``).

``--database --version N``
    Polls the golang-migrate version table until it is at version N or later (exactly N
    with ``--exact``) and not dirty, and schemaflow's history records that the checks of
    that version passed (``migrate up --verify`` / ``migrate verify``) after the version
    last changed: the version row is written before the checks run, and pods must not
    start on a schema whose checks then fail and are rolled back. ``--allow-unverified``
    drops that condition (checks disabled); a database without schemaflow history (never
    migrated by schemaflow) is judged by its version table alone. The URL comes from
    ``DATABASE_URL`` or ``--database-url-file``. Used as an initContainer; needs no
    Kubernetes RBAC. A dirty table is waited through (a migration may be running); at the
    deadline it is reported.

Both give up after ``--timeout`` seconds with exit code 7 (``WaitTimeout``) and say what
they saw last.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemaflow.crd import GROUP, PLURAL, VERSION
from schemaflow.dburl import read_database_url
from schemaflow.errors import (
    MigrationFailed,
    MigrationRolledBack,
    SchemaflowError,
    UsageError,
    WaitTimeout,
)

SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

# Every Kubernetes API call `wait --resource` makes, as (verb, group, resource). The
# example chart's Role grants exactly these; tests/wait checks both against the requests
# the code really sends.
API_CALLS: tuple[tuple[str, str, str], ...] = (
    ("get", GROUP, PLURAL),
    ("watch", GROUP, PLURAL),
)

# Longest single watch request; the watch is re-opened (after a fresh GET) when it ends.
_WATCH_CHUNK_SECONDS = 60


def configure(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--resource", metavar="NAME",
                      help="wait for the SchemaMigration NAME (Kubernetes API; hook Job form)")
    mode.add_argument("--database", action="store_true",
                      help="wait for the database's version table (initContainer form; "
                           "URL from DATABASE_URL or --database-url-file)")
    k8s = parser.add_argument_group("--resource options")
    k8s.add_argument("--namespace", "-n", default=None,
                     help="namespace of the SchemaMigration (default: the pod's namespace, "
                          "else the kubeconfig context's, else 'default')")
    k8s.add_argument("--api-url", default=None,
                     help="Kubernetes API URL without credentials (tests, kubectl proxy)")
    k8s.add_argument("--kubeconfig", default=None, help="kubeconfig file (outside a cluster)")
    db = parser.add_argument_group("--database options")
    db.add_argument("--version", dest="target_version", type=int, metavar="N",
                    help="the schema version the application needs (required with --database)")
    db.add_argument("--exact", action="store_true",
                    help="require exactly version N (default: N or later)")
    db.add_argument("--allow-unverified", action="store_true",
                    help="open at the version alone, without a record that its checks "
                         "passed (for migrations run without verification)")
    db.add_argument("--database-url-file", metavar="PATH", default=None,
                    help="read the database URL from this file instead of DATABASE_URL")
    from schemaflow.migrate_cmd import duration

    parser.add_argument("--timeout", type=duration, default=900.0, metavar="DURATION",
                        help="give up after this long (900, 15m, 90s), exit 7 (default: 15m)")
    parser.add_argument("--interval", type=duration, default=2.0, metavar="DURATION",
                        help="poll interval (database) / retry delay (API errors); default 2s")
    parser.add_argument("--output", choices=["text", "json"], default="text",
                        help="text (stderr progress) or one JSON line on stdout at the end")


def run(args: argparse.Namespace) -> int:
    if args.timeout <= 0 or args.interval <= 0:
        raise UsageError("--timeout and --interval must be positive")
    if args.database:
        if args.target_version is None:
            raise UsageError("--database needs --version N (the version the application needs)")
        outcome = _wait_database(args)
    else:
        outcome = _wait_resource(args)
    _emit(args, {"result": "Ready", **outcome})
    return 0


# --------------------------------------------------------------------------- output


def _emit(args: argparse.Namespace, doc: dict[str, Any]) -> None:
    if args.output == "json":
        print(json.dumps(doc, sort_keys=True))
    else:
        print(f"schemaflow wait: {doc.get('message', doc['result'])}", file=sys.stderr)


def _progress(args: argparse.Namespace, last: list[str], message: str) -> None:
    """Print a progress line when the observed state changes (text mode only)."""
    if args.output == "text" and (not last or last[0] != message):
        print(f"schemaflow wait: {message}", file=sys.stderr, flush=True)
        last[:] = [message]


# --------------------------------------------------------------------------- resource


@dataclass(frozen=True)
class Verdict:
    """What one observed SchemaMigration means for the gate."""

    done: bool  # terminal for the current generation
    phase: str
    message: str
    exit_code: int = 0


def evaluate(obj: dict[str, Any] | None, name: str) -> Verdict:
    """Pure: the gate's reading of one SchemaMigration object (None = not found yet)."""
    if obj is None:
        return Verdict(False, "NotFound", f"SchemaMigration {name} does not exist yet")
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    generation = meta.get("generation")
    observed = status.get("observedGeneration")
    phase = str(status.get("phase") or "Pending")
    if generation is not None and observed != generation:
        return Verdict(False, "Pending",
                       f"SchemaMigration {name}: generation {generation} not yet observed "
                       f"(status is for generation {observed}, phase {phase})")
    suspended = bool((obj.get("spec") or {}).get("suspend"))
    if suspended and phase not in ("Succeeded", "Failed", "RolledBack"):
        return Verdict(False, phase, f"SchemaMigration {name} is suspended (phase {phase})")
    ready = next((c for c in status.get("conditions") or []
                  if isinstance(c, dict) and c.get("type") == "Ready"), {})
    ran = status.get("runGeneration")
    if generation is not None and ran != generation and ready.get("reason") != "InvalidSpec":
        # the phase is an earlier generation's result: this spec has not run yet
        why = "spec.suspend is true" if suspended else "its run has not started"
        return Verdict(False, "Pending",
                       f"SchemaMigration {name}: generation {generation} has not run ({why}); "
                       f"phase {phase} is the result of generation {ran}")
    detail = _detail(status)
    if phase == "Succeeded":
        return Verdict(True, phase, f"SchemaMigration {name} succeeded: schema at version "
                                    f"{status.get('currentVersion')}")
    if phase == "Failed":
        return Verdict(True, phase, f"SchemaMigration {name} failed{detail}",
                       MigrationFailed.exit_code)
    if phase == "RolledBack":
        return Verdict(True, phase, f"SchemaMigration {name} was rolled back{detail}",
                       MigrationRolledBack.exit_code)
    return Verdict(False, phase, f"SchemaMigration {name}: phase {phase}")


def _detail(status: dict[str, Any]) -> str:
    parts: list[str] = []
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    ready = conditions.get("Ready") or {}
    if ready.get("reason"):
        parts.append(str(ready["reason"]))
    if ready.get("message"):
        parts.append(str(ready["message"]))
    failures = ((status.get("verification") or {}).get("failures") or [])[:3]
    checks = [str(f.get("check")) for f in failures if isinstance(f, dict) and f.get("check")]
    if checks:
        parts.append("failed checks: " + ", ".join(checks))
    if status.get("dirty"):
        parts.append(f"database dirty at version {status.get('currentVersion')}")
    return (": " + "; ".join(parts)) if parts else ""


def _raise_for(verdict: Verdict) -> None:
    if verdict.exit_code == MigrationFailed.exit_code:
        raise MigrationFailed(verdict.message,
                              hint="kubectl describe smig / the migration Job's logs")
    if verdict.exit_code == MigrationRolledBack.exit_code:
        raise MigrationRolledBack(verdict.message,
                                  hint="verification failed and the down migration ran; "
                                       "see status.verification")


def _default_namespace(args: argparse.Namespace) -> str:
    if args.namespace:
        return str(args.namespace)
    if SA_NAMESPACE_FILE.exists():
        return SA_NAMESPACE_FILE.read_text().strip()
    if args.api_url is None:
        try:
            from kubernetes import config as kconfig

            _, active = kconfig.list_kube_config_contexts(config_file=args.kubeconfig)
            ns = (active or {}).get("context", {}).get("namespace")
            if ns:
                return str(ns)
        except (kconfig.ConfigException, OSError):  # no kubeconfig: the default
            pass
    return "default"


def _api_client(args: argparse.Namespace) -> Any:
    from kubernetes import client
    from kubernetes import config as kconfig

    if args.api_url:
        cfg = client.Configuration()
        cfg.host = args.api_url.rstrip("/")
        return client.ApiClient(cfg)
    try:
        kconfig.load_incluster_config()
        return client.ApiClient()
    except kconfig.ConfigException:
        pass
    try:
        return kconfig.new_client_from_config(config_file=args.kubeconfig)
    except (kconfig.ConfigException, OSError) as exc:
        raise UsageError(f"no Kubernetes configuration: {exc}",
                         hint="run in a pod, pass --kubeconfig, or --api-url") from exc


def _wait_resource(args: argparse.Namespace) -> dict[str, Any]:
    from kubernetes import client, watch
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    # what a flaky API server or network raises; anything else is a bug and is not retried
    TRANSIENT = (HTTPError, OSError)  # noqa: N806

    name: str = args.resource
    namespace = _default_namespace(args)
    api = client.CustomObjectsApi(_api_client(args))
    deadline = time.monotonic() + args.timeout
    last: list[str] = []
    verdict = evaluate(None, name)
    api_error: str | None = None

    def remaining() -> float:
        return deadline - time.monotonic()

    def settle(v: Verdict) -> dict[str, Any] | None:
        nonlocal verdict
        verdict = v
        if not v.done:
            _progress(args, last, v.message)
            return None
        _raise_for(v)
        return {"message": v.message, "phase": v.phase, "namespace": namespace, "name": name}

    while remaining() > 0:
        # 1. GET: the current state, and the resourceVersion to watch from.
        obj: dict[str, Any] | None = None
        try:
            got = api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name,
                _request_timeout=max(1.0, min(30.0, remaining())))
            obj = got if isinstance(got, dict) else None
            api_error = None
        except ApiException as exc:
            if exc.status in (401, 403):
                raise UsageError(
                    f"not allowed to get {PLURAL}.{GROUP} {namespace}/{name} "
                    f"(HTTP {exc.status})",
                    hint="the wait Job's ServiceAccount needs get and watch on "
                         "schemamigrations in this namespace") from exc
            if exc.status != 404:
                api_error = f"HTTP {exc.status} {exc.reason}"
        except TRANSIENT as exc:  # connection refused, timeouts: retry
            api_error = type(exc).__name__
        if api_error is not None:
            _progress(args, last, f"Kubernetes API error ({api_error}); retrying")
            time.sleep(max(0.0, min(args.interval, remaining())))
            continue
        done = settle(evaluate(obj, name))
        if done is not None:
            return done

        # 2. WATCH that one object from there until something terminal or the chunk ends.
        rv = ((obj or {}).get("metadata") or {}).get("resourceVersion")
        chunk = max(1.0, min(float(_WATCH_CHUNK_SECONDS), remaining()))
        kwargs: dict[str, Any] = {
            "field_selector": f"metadata.name={name}",
            "timeout_seconds": int(chunk),
            # a server that ignores timeoutSeconds must not keep us past the deadline
            "_request_timeout": max(1.0, min(chunk + 5, remaining() + 0.5)),
        }
        if rv:
            kwargs["resource_version"] = rv
        w = watch.Watch()
        try:
            for event in w.stream(api.list_namespaced_custom_object, GROUP, VERSION,
                                  namespace, PLURAL, **kwargs):
                item = event.get("object") if isinstance(event, dict) else None
                if not isinstance(item, dict):
                    continue
                if (item.get("metadata") or {}).get("name") != name:
                    continue  # servers that ignore the field selector
                gone = event.get("type") == "DELETED"
                done = settle(evaluate(None if gone else item, name))
                if done is not None:
                    return done
                if remaining() <= 0:
                    break
        except (MigrationFailed, MigrationRolledBack):
            raise
        except (ApiException, *TRANSIENT) as exc:  # expired resourceVersion (410), reset
            _progress(args, last, f"watch ended ({type(exc).__name__}); re-reading")
            time.sleep(max(0.0, min(args.interval, remaining())))
        finally:
            w.stop()

    seen = verdict.message if api_error is None else f"last Kubernetes API error: {api_error}"
    raise WaitTimeout(
        f"timed out after {args.timeout:g}s waiting for SchemaMigration {namespace}/{name}: "
        f"{seen}",
        hint=f"kubectl -n {namespace} describe smig {name}")


# --------------------------------------------------------------------------- database


def describe_version_state(row: tuple[int, bool] | None, want: int, exact: bool) -> tuple[bool, str]:
    """Pure: is the version table at the version the application needs, and why not."""
    if row is None:
        return False, f"the version table is empty (no migration applied yet); want {want}"
    version, dirty = int(row[0]), bool(row[1])
    if dirty:
        return False, (f"database is dirty at version {version} (a migration is running or "
                       f"stopped midway); want {want}")
    if version == want or (version > want and not exact):
        return True, f"database at version {version}, not dirty"
    relation = "ahead of" if version > want else "behind"
    return False, f"database at version {version}, {relation} the required {want}"


NO_HISTORY = "no schemaflow history"


def describe_verification(record: tuple[str, int, str, str | None] | None | str,
                          version: int) -> tuple[bool, str]:
    """Pure: whether the checks of ``version`` passed after it was applied, from the newest
    history row that changed or verified the version (``versions.last_record``)."""
    if record == NO_HISTORY:
        return True, "no schemaflow history: judged by the version table alone"
    if isinstance(record, tuple) and record[0] == "verify" and record[1] == version:
        if record[2] == "succeeded":
            return True, f"the checks of version {version} passed"
        return False, (f"the checks of version {version} failed ({record[3]}): waiting for "
                       "a fix or the rollback")
    return False, (f"version {version} is applied but its checks have not passed yet (the "
                   "gate opens once `migrate up --verify` or `migrate verify` records that "
                   "they passed)")


def _read_version(url_file: Path | None, timeout: float
                  ) -> tuple[int, bool, tuple[str, int, str, str | None] | None | str] | None | str:
    """One look at the version table, through the engine's session (the same URL, schema
    and table resolution as ``migrate``): its version and dirty flag and the history's
    newest record of a version change or verification (NO_HISTORY without one), None when
    no version is recorded, or a string saying why there is nothing to read."""
    from schemaflow.engine.migrate import connected
    from schemaflow.engine.options import ConnectOptions
    from schemaflow.engine.versions import last_record, read_state, version_table_exists

    with connected(ConnectOptions(database_url_file=url_file),
                   connect_timeout=max(1, int(timeout))) as (session, vt):
        if not version_table_exists(session.conn, vt):
            return f"{vt.table} does not exist yet"
        state = read_state(session.conn, vt)
        if state.version is None:
            return None
        record = last_record(session.conn, vt)
        # no row that changed or verified a version (a history table a no-op created):
        # schemaflow never migrated this database, so the version table alone decides
        return state.version, state.dirty, NO_HISTORY if record is None else record


def _wait_database(args: argparse.Namespace) -> dict[str, Any]:
    from schemaflow.engine import db as dbmod

    url = read_database_url(args.database_url_file)
    want: int = args.target_version
    deadline = time.monotonic() + args.timeout
    last: list[str] = []
    state = "not checked yet"
    while True:
        try:
            got = _read_version(args.database_url_file, timeout=min(10.0, max(1.0, deadline - time.monotonic())))
            if isinstance(got, str):
                ok, state = False, f"{got}; want {want}"
            else:
                ok, state = describe_version_state(None if got is None else (got[0], got[1]),
                                                   want, args.exact)
                if ok and got is not None and not args.allow_unverified:
                    ok, why = describe_verification(got[2], int(got[0]))
                    state = f"{state}; {why}"
        except UsageError:
            raise  # a malformed URL will not get better
        # unreachable, auth refused, starting up: retry; anything else is a bug, not a wait
        except (dbmod.Error, SchemaflowError) as exc:
            text = exc.message if isinstance(exc, SchemaflowError) else str(exc)
            ok, state = False, "database not ready: " + dbmod.redact(text, url).strip()
        if ok:
            assert isinstance(got, tuple)
            return {"message": state, "version": got[0]}
        _progress(args, last, state)
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(args.interval, left))
    raise WaitTimeout(f"timed out after {args.timeout:g}s waiting for schema version {want}: "
                      f"{state}",
                      hint="check the migration (kubectl get smig) or `schemaflow migrate "
                           "status`")
