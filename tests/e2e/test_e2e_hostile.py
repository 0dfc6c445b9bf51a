"""Every hostile SchemaMigration of tests/reliability/test_hostile_spec.py sent through the
real API server, as kubectl sends it (strict field validation): each one is refused by the
server, or accepted and then marked InvalidSpec by the operator; none gets a Job."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

from kubernetes.client.rest import ApiException
from realcluster import GROUP, PLURAL, VERSION, wait_for

from conftest import App

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
from test_hostile_spec import CASES, build  # noqa: E402


def test_hostile_schemamigrations_through_the_real_api_server(app: App) -> None:
    assert len(CASES) >= 40
    rejected: dict[str, int] = {}
    accepted: dict[str, str] = {}  # resource name -> case
    for i, case in enumerate(CASES):
        obj = copy.deepcopy(build(case))
        meta = obj.setdefault("metadata", {})
        meta["namespace"] = app.ns
        if not case.path.startswith("metadata"):
            meta["name"] = f"hostile-{i}"
        try:
            app.cluster.custom.create_namespaced_custom_object(
                GROUP, VERSION, app.ns, PLURAL, obj, field_validation="Strict")
            accepted[meta["name"]] = case.id
        except ApiException as exc:
            assert exc.status in (400, 422), (case.id, exc.status, exc.body)
            rejected[case.id] = exc.status

    def all_invalid() -> bool:
        phases = {}
        for name in accepted:
            status = (app.cluster.get_smig(app.ns, name) or {}).get("status") or {}
            ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"),
                         {})
            phases[name] = ready.get("reason")
        return all(reason == "InvalidSpec" for reason in phases.values())
    wait_for(all_invalid, 60, f"InvalidSpec on each of {accepted}", poll=0.5)
    assert app.cluster.jobs(app.ns) == []
    print(f"\n{len(CASES)} hostile SchemaMigrations: {len(rejected)} refused by the API "
          f"server ({sum(s == 422 for s in rejected.values())} x 422), {len(accepted)} "
          f"accepted and marked InvalidSpec: {sorted(accepted.values())}")
