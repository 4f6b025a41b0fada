"""What tests need from a CloudFormation/SAM template beyond loading it.

Loading (short tags in their long form: `!Ref X` -> `{"Ref": "X"}`, `!GetAtt A.B` -> `{"Fn::GetAtt": ["A", "B"]}`)
is the local stack's own reader, so the tests and the local stack read the template the same way.
"""

from __future__ import annotations

from typing import Any

from local.template import load_template

__all__ = ["load_template", "references"]


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
