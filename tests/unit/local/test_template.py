"""CloudFormation short tags and intrinsic functions resolved to local values."""

from __future__ import annotations

import pytest

from local.template import LocalContext, Resolver, UnresolvableError, parse_template

TEMPLATE = """
Parameters:
  Stage: {Type: String, Default: dev}
  NoDefault: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
  Both: !And [!Condition NotProd, !Equals [a, a]]
Mappings:
  Labels: {us: {name: US}}
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  Topic: {Type: AWS::SNS::Topic}
Outputs:
  Values:
    Value:
      ref: !Ref Table
      arn: !GetAtt Table.Arn
      long_att: {"Fn::GetAtt": [Topic, TopicName]}
      sub: !Sub "lemtrada-${Stage}-${AWS::Region}-${Table}"
      sub_vars: !Sub ["${A}-${Table.Arn}", {A: !Ref Stage}]
      literal: !Sub "${!Literal}"
      join: !Join ["-", [a, !Ref Stage]]
      select: !Select [1, !Split [",", "x,y,z"]]
      if: !If [IsProd, INFO, DEBUG]
      not: !If [NotProd, yes-not, no-not]
      and: !If [Both, both, neither]
      map: !FindInMap [Labels, us, name]
      dropped: !Ref AWS::NoValue
      list: [one, !Ref AWS::NoValue, two]
"""


@pytest.fixture
def values() -> dict[str, object]:
    template = parse_template(TEMPLATE)
    context = LocalContext(refs={"Table": "RegimenTable"}, attributes={("Topic", "TopicName"): "DigestTopic"})
    resolved: dict[str, object] = Resolver(template, context).resolve(template["Outputs"]["Values"]["Value"])
    return resolved


def test_short_tags_become_long_form_intrinsics() -> None:
    template = parse_template("A: !Ref X\nB: !GetAtt Y.Arn\nC: !Sub 'a-${X}'\nD: !If [C, 1, 2]\n")

    assert template == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["Y", "Arn"]},
        "C": {"Fn::Sub": "a-${X}"},
        "D": {"Fn::If": ["C", 1, 2]},
    }


def test_refs_and_attributes_take_local_values(values: dict[str, object]) -> None:
    assert values["ref"] == "RegimenTable"
    assert values["arn"] == "arn:aws:local:us-east-1:123456789012:Table"
    assert values["long_att"] == "DigestTopic"


def test_sub_join_select_and_mappings(values: dict[str, object]) -> None:
    assert values["sub"] == "lemtrada-dev-us-east-1-RegimenTable"
    assert values["sub_vars"] == "dev-arn:aws:local:us-east-1:123456789012:Table"
    assert values["literal"] == "${Literal}"
    assert values["join"] == "a-dev"
    assert values["select"] == "y"
    assert values["map"] == "US"


def test_conditions_are_evaluated(values: dict[str, object]) -> None:
    assert values["if"] == "DEBUG"
    assert values["not"] == "yes-not"
    assert values["and"] == "both"


def test_no_value_removes_the_property(values: dict[str, object]) -> None:
    assert "dropped" not in values
    assert values["list"] == ["one", "two"]


def test_parameter_overrides_win_over_defaults() -> None:
    template = parse_template(TEMPLATE)
    resolver = Resolver(template, LocalContext(parameters={"Stage": "prod"}))

    assert resolver.resolve({"Fn::If": ["IsProd", "INFO", "DEBUG"]}) == "INFO"


@pytest.mark.parametrize("value", [{"Ref": "NoDefault"}, {"Ref": "Nowhere"}, {"Fn::ImportValue": "x"}])
def test_what_has_no_local_value_is_an_error(value: object) -> None:
    with pytest.raises(UnresolvableError):
        Resolver(parse_template(TEMPLATE), LocalContext()).resolve(value)
