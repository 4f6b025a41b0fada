"""Load a CloudFormation/SAM template as plain data, short tags (`!Ref`, `!GetAtt`, `!Sub`, ...) included.

Tags become their long form (`!Ref X` -> `{"Ref": "X"}`, `!GetAtt A.B` -> `{"Fn::GetAtt": ["A", "B"]}`), the
way CloudFormation reads them, so tests can assert on what the template really references.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_FN_TAGS = (
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Length",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
)


class _Loader(yaml.SafeLoader):
    """SafeLoader plus the CloudFormation short tags."""


def _value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}", node.start_mark)


def _fn(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {f"Fn::{name}": _value(loader, node)}

    return construct


def _ref(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Ref": _value(loader, node)}


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _value(loader, node)
    if isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


def _condition(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Condition": _value(loader, node)}


for _name in _FN_TAGS:
    _Loader.add_constructor(f"!{_name}", _fn(_name))
_Loader.add_constructor("!Ref", _ref)
_Loader.add_constructor("!GetAtt", _get_att)
_Loader.add_constructor("!Condition", _condition)


def load_template(path: Path) -> dict[str, Any]:
    """The template at `path` as a dict."""
    with path.open(encoding="utf-8") as stream:
        data = yaml.load(stream, Loader=_Loader)
    if not isinstance(data, dict):
        raise TypeError(f"{path} is not a template")
    return data


def references(node: Any) -> set[str]:
    """Logical ids that `node` points at through Ref, GetAtt or ${...} in Sub."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt" and isinstance(value, list) and value:
                found.add(str(value[0]))
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found |= {name.split(".")[0] for name in _sub_names(str(text))}
                if isinstance(value, list) and len(value) > 1:
                    found |= references(value[1])
            else:
                found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def _sub_names(text: str) -> list[str]:
    names: list[str] = []
    start = text.find("${")
    while start != -1:
        end = text.find("}", start)
        if end == -1:
            break
        name = text[start + 2 : end]
        if not name.startswith("!") and not name.startswith("AWS::"):
            names.append(name)
        start = text.find("${", end)
    return names
