"""The kubelet's ``$(VAR)`` expansion, ported line for line from
k8s.io/kubernetes third_party/forked/golang/expansion/expand.go (v1.36.3): ``$$`` becomes
``$``, ``$(NAME)`` becomes NAME's value when NAME is defined and stays as written otherwise,
any other ``$`` is kept. The kubelet applies it to env values (against the variables defined
before them, pkg/kubelet/kubelet_pods.go makeEnvironmentVariables) and to command and args
(against the final environment, pkg/kubelet/container/helpers.go
ExpandContainerCommandAndArgs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


def mapping_for(*contexts: Mapping[str, str]) -> Callable[[str], str]:
    def mapping(name: str) -> str:
        for context in contexts:
            if name in context:
                return context[name]
        return f"$({name})"

    return mapping


def _read_variable_name(text: str) -> tuple[str, bool, int]:
    first = text[0]
    if first == "$":
        return "$", False, 1
    if first == "(":
        for i in range(1, len(text)):
            if text[i] == ")":
                return text[1:i], True, i + 1
        return "$(", False, 1
    return "$" + first, False, 1


def expand(text: str, mapping: Callable[[str], str]) -> str:
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _read_variable_name(text[cursor + 1:])
            out.append(mapping(read) if is_var else read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]
