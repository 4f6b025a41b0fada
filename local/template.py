"""Read template.yaml: CloudFormation short tags, intrinsic functions resolved to local values.

The template is the one source of truth: tables, the topic, functions and routes of the local stack all come
from it, so what runs locally is what deploys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Short tags whose argument stays as written (a scalar, a list or a map) under the long `Fn::` name.
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
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "Length",
    "ToJsonString",
)


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands `!Ref`, `!GetAtt`, `!Sub` and the other CloudFormation short tags."""


def _construct(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}", node.start_mark)


def _fn_constructor(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {f"Fn::{name}": _construct(node, loader)}

    return construct


def _ref(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Ref": _construct(node, loader)}


def _condition(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Condition": _construct(node, loader)}


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _construct(node, loader)
    if isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


for _tag in _FN_TAGS:
    CfnLoader.add_constructor(f"!{_tag}", _fn_constructor(_tag))
CfnLoader.add_constructor("!Ref", _ref)
CfnLoader.add_constructor("!Condition", _condition)
CfnLoader.add_constructor("!GetAtt", _get_att)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a SAM/CloudFormation template file, keeping intrinsic functions in their long form."""
    return parse_template(path.read_text(encoding="utf-8"))


def parse_template(text: str) -> dict[str, Any]:
    """Parse template text (used by tests with small inline templates)."""
    data = yaml.load(text, Loader=CfnLoader)
    if not isinstance(data, dict):
        raise ValueError("a template is a mapping")
    return data


class UnresolvableError(ValueError):
    """An intrinsic function the local stack cannot give a value to (e.g. an import from another stack)."""


@dataclass
class LocalContext:
    """The local values that stand in for what CloudFormation would resolve in an account."""

    region: str = "us-east-1"
    account_id: str = "123456789012"
    stack_name: str = "lemtrada-local"
    # Logical id -> value of `Ref` for resources that exist locally (table names, the topic ARN, ...).
    refs: dict[str, str] = field(default_factory=dict)
    # (logical id, attribute) -> value of `Fn::GetAtt`.
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    # Parameter overrides; parameters without one take their Default.
    parameters: dict[str, str] = field(default_factory=dict)


class Resolver:
    """Evaluates intrinsic functions of one template against a LocalContext."""

    def __init__(self, template: Mapping[str, Any], context: LocalContext) -> None:
        self.template = template
        self.context = context
        self._conditions: dict[str, bool] = {}

    # -- names ---------------------------------------------------------------------------------------
    def ref(self, name: str) -> str:
        """Value of `Ref name`: a pseudo parameter, a parameter or a local resource."""
        pseudo = {
            "AWS::Region": self.context.region,
            "AWS::AccountId": self.context.account_id,
            "AWS::StackName": self.context.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.context.region}:{self.context.account_id}:"
                f"stack/{self.context.stack_name}/00000000-0000-0000-0000-000000000000"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": "",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.context.refs:
            return self.context.refs[name]
        parameters = self.template.get("Parameters") or {}
        if name in parameters:
            if name in self.context.parameters:
                return self.context.parameters[name]
            default = parameters[name].get("Default")
            if default is None:
                raise UnresolvableError(f"parameter {name} has no Default and no local value")
            return str(default)
        resources = self.template.get("Resources") or {}
        if name in resources:
            # A resource the local stack does not create: its logical id is the most honest stand-in.
            return name
        raise UnresolvableError(f"Ref to unknown name {name}")

    def get_att(self, resource: str, attribute: str) -> str:
        """Value of `Fn::GetAtt`: a known local attribute, else a local ARN-shaped placeholder."""
        if (resource, attribute) in self.context.attributes:
            return self.context.attributes[(resource, attribute)]
        if attribute == "Arn":
            return f"arn:aws:local:{self.context.region}:{self.context.account_id}:{resource}"
        return f"{resource}.{attribute}"

    # -- conditions ----------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        """Evaluate a named condition of the template's Conditions section."""
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise UnresolvableError(f"unknown condition {name}")
            self._conditions[name] = bool(self.resolve(conditions[name]))
        return self._conditions[name]

    # -- values --------------------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """Return value with every intrinsic function replaced by its local result."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                if argument == "AWS::NoValue":
                    return _NO_VALUE
                return self.ref(str(argument))
            if key == "Condition" and isinstance(argument, str):
                return self.condition(argument)
            if key.startswith("Fn::"):
                return self._function(key[4:], argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _function(self, name: str, argument: Any) -> Any:
        match name:
            case "GetAtt":
                resource, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
                return self.get_att(str(resource), str(self.resolve(attribute)))
            case "Sub":
                return self._sub(argument)
            case "Join":
                separator, items = argument
                return str(separator).join(str(item) for item in self.resolve(items))
            case "Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            case "Split":
                separator, text = argument
                return str(self.resolve(text)).split(str(separator))
            case "If":
                condition, when_true, when_false = argument
                return self.resolve(when_true if self.condition(condition) else when_false)
            case "Equals":
                left, right = (self.resolve(item) for item in argument)
                return str(left) == str(right)
            case "Not":
                return not self.resolve(argument[0])
            case "And":
                return all(self.resolve(item) for item in argument)
            case "Or":
                return any(self.resolve(item) for item in argument)
            case "FindInMap":
                map_name, top, second = (self.resolve(item) for item in argument[:3])
                return self.template["Mappings"][map_name][top][second]
            case "ToJsonString" | "Base64":
                return self.resolve(argument)
            case _:
                raise UnresolvableError(f"Fn::{name} has no local value")

    _SUB_PATTERN = re.compile(r"\$\{([^}!][^}]*)\}")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = (
                str(argument[0]),
                {key: str(self.resolve(item)) for key, item in (argument[1] or {}).items()},
            )
        else:
            text, variables = str(argument), {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return variables[name]
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            return self.ref(name)

        return self._SUB_PATTERN.sub(replace, text).replace("${!", "${")


class _NoValue:
    """Marker for `Ref: AWS::NoValue`: the property is removed."""


_NO_VALUE = _NoValue()


def resources_of_type(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource for every resource of one type, in template order."""
    resources = template.get("Resources") or {}
    return {name: body for name, body in resources.items() if body.get("Type") == kind}
