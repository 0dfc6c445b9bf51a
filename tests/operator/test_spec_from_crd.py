"""The spec parser validates with the CRD's own schema (schemaflow.crd), so the CRD is the
one definition: what the API server refuses, the operator refuses too, with a message that
names the field and never echoes the value."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from schemaflow import crd
from schemaflow.kube.spec import SpecError, parse_spec

BASE = {"database": {"urlSecretRef": {"name": "db", "key": "url"}}}
SECRET = "SfSecretPw7Qz9Xv"


def test_api_names_are_the_crds() -> None:
    doc = yaml.safe_load(crd._CANDIDATES[1].read_text())
    assert doc["spec"]["group"] == crd.GROUP and doc["spec"]["names"]["plural"] == crd.PLURAL
    assert doc["spec"]["names"]["kind"] == crd.KIND
    assert [v["name"] for v in doc["spec"]["versions"]] == [crd.VERSION]


@pytest.mark.parametrize(("change", "message"), [
    # a newline in a description would turn its second line into SQL of the verify file
    ({"verify": {"extraChecks": [{"name": "a", "sql": "SELECT 1", "description": "x\nDROP"}]}},
     r"extraChecks\[0\]\.description must be one line"),
    ({"verify": {"extraChecks": [{"name": "a", "sql": "  \n "}]}}, r"\[0\]\.sql must be a query"),
    ({"job": {"image": "img\x00:1"}}, "spec.job.image must be 1 to 512 printable"),
    ({"job": {"nodeSelector": {"disk": "s" * 64}}}, "spec.job.nodeSelector.disk must be"),
    ({"job": {"tolerations": [{"key": "k" * 317}]}}, r"tolerations\[0\]\.key must be"),
    ({"safety": {"applicationNames": ["api\x07"]}}, "must be a LIKE pattern"),
    ({"source": {"type": "configMap", "configMapName": "m"}}, "targetVersion is required"),
    ({"verify": {"extraChecks": [{"name": "a", "sql": "SELECT 1"}] * 2}}, "used twice"),
    ({"safety": {"preflight": "maybe"}}, "must be one of strict, warn, off"),
    ({"suspend": "yes"}, "spec.suspend has the wrong type"),
])
def test_refused_with_the_field_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec({**copy.deepcopy(BASE), **change}, (27,))


@pytest.mark.parametrize("change", [
    {"database": {"urlSecretRef": {"name": f"postgresql://u:{SECRET}@h/d", "key": "url"}}},
    {"database": {"urlSecretRef": {"name": "db", "key": "url"}, "url": SECRET}},
    {"job": {"image": f"x\n{SECRET}"}},
    {"safety": {"lockTimeout": SECRET}},
    {"verify": {"extraChecks": [{"name": SECRET, "sql": "SELECT 1"}]}},
])
def test_messages_never_echo_a_value(change: dict[str, Any]) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec({**copy.deepcopy(BASE), **change}, (27,))
    assert SECRET not in str(err.value) and len(str(err.value)) <= 200


def test_defaults_are_the_crds_and_nulls_are_unset() -> None:
    parsed = parse_spec({**BASE, "safety": {"lockTimeout": None}, "job": None}, (26, 27))
    assert parsed.safety.lock_timeout == "5s" and parsed.target_version == 27
    assert parsed.job.active_deadline_seconds == 3600 and parsed.verify_enabled is True
