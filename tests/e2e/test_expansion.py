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
