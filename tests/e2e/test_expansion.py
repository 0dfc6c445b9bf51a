"""The e2e node's port of the kubelet's $(VAR) expansion, against the upstream test vectors
(k8s.io/kubernetes v1.36.3 third_party/forked/golang/expansion/expand_test.go,
doExpansionTest), and the operator's escaping of user text against it."""

from __future__ import annotations

import pytest
from expansion import expand, mapping_for
from hypothesis import given
from hypothesis import strategies as st

from schemaflow.kube.objects import kubelet_literal

CONTEXT = {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}
# (input, expected) from doExpansionTest; Go's "\\" is one backslash
VECTORS = [
    ("$(VAR_A)", "A"), ("$(VAR_A)-$(VAR_A)", "A-A"), ("___$(VAR_B)___", "___B___"),
    ("$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"), ("$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"),
    ("f000-$$VAR_A", "f000-$VAR_A"), ("foo\\$(VAR_C)bar", "foo\\Cbar"),
    ("$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"), ("$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
    ("$(VAR_REF)", "$(VAR_A)"), ("foo$(VAR_EMPTY)bar", "foobar"),
    ("foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"), ("$?_boo_$!", "$?_boo_$!"),
    ("$VAR_A", "$VAR_A"), ("$(VAR_DNE)", "$(VAR_DNE)"),
    ("$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"), ("$$$$$$(VAR_A)", "$$$(VAR_A)"),
    ("$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"), ("$$$$$$$(VAR_A)", "$$$A"),
    ("${VAR_A}", "${VAR_A}"), ("$(VAR_B)_______$(A", "B_______$(A"),
    ("$(VAR_C)_______$(", "C_______$("), ("$(VAR_A)foobarzab$", "Afoobarzab$"),
    ("--$($($($($--", "--$($($($($--"), ("$(foo$$var)", "$(foo$$var)"), ("\n", "\n"),
    ("$£FOO", "$£FOO"), ("prefix-$€-suffix", "prefix-$€-suffix"),
]


@pytest.mark.parametrize("text,expected", VECTORS)
def test_port_matches_upstream_vectors(text: str, expected: str) -> None:
    assert expand(text, mapping_for(CONTEXT)) == expected


@given(st.text(alphabet=st.sampled_from("$()AB_DATBSEURL x\\"), max_size=40))
def test_user_text_reaches_the_container_unchanged(text: str) -> None:
    env = {"DATABASE_URL": "postgresql://u:secret@db/app", "A": "a"}
    assert expand(kubelet_literal(text), mapping_for(env)) == text


PROBE = "$(DATABASE_URL)"
SECRET_URL = "postgresql://app:s3cret-value@db:5432/app"
# every string of the spec a user writes that the CRD lets carry a "$("
STRING_FIELDS = [
    ("safety", "applicationNames"), ("verify", "extraChecks", "sql"),
    ("verify", "extraChecks", "name"), ("safety", "lockTimeout"),
    ("safety", "statementTimeout"), ("job", "image"), ("job", "serviceAccountName"),
    ("database", "urlSecretRef", "key"),
]


def _spec_with(path: tuple[str, ...]) -> dict:
    spec: dict = {"database": {"urlSecretRef": {"name": "db", "key": "url"}},
                  "verify": {"extraChecks": [{"name": "c", "sql": "SELECT 1 WHERE false"}]}}
    if path[:2] == ("safety", "applicationNames"):
        spec["safety"] = {"applicationNames": [PROBE]}
    elif path[:2] == ("verify", "extraChecks"):
        spec["verify"]["extraChecks"][0][path[2]] = f"SELECT '{PROBE}' WHERE false" \
            if path[2] == "sql" else PROBE
    else:
        node = spec
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = PROBE
    return spec


@pytest.mark.parametrize("path", STRING_FIELDS, ids=".".join)
def test_no_user_string_expands_to_the_secret(path: tuple[str, ...]) -> None:
    """What the kubelet would make of the Job's env and command (the port above): the
    Secret's value never appears, whichever user string field carries $(DATABASE_URL)."""
    from schemaflow.kube.objects import job_manifest
    from schemaflow.kube.spec import SpecError, parse_spec

    try:
        spec = parse_spec(_spec_with(path), (27,))
    except SpecError:
        return  # refused before any Job exists
    owner = {"metadata": {"name": "m", "namespace": "ns", "uid": "u"}}
    container = job_manifest(owner=owner, generation=1, direction="up", target=27, spec=spec,
                             default_image="img")["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for var in container["env"]:
        if "valueFrom" in var:
            env[var["name"]] = SECRET_URL  # the secretKeyRef, resolved by the kubelet
        else:
            env[var["name"]] = expand(var["value"], mapping_for(env))
    command = [expand(part, mapping_for(env)) for part in container["command"]]
    for name, value in env.items():
        if name != "DATABASE_URL":
            assert SECRET_URL not in value, name
    assert not any(SECRET_URL in part for part in command)
