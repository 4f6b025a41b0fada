"""template.yaml through aws-sam-translator: the plain CloudFormation that AWS deploys.

The local stack and the moto deploy test read this output (`AWS::Lambda::Function` properties, the
`AWS::ApiGatewayV2::Api` body, the state machine's definition), so SAM's semantics (Globals merged into each
function, implicit APIs, the authorizers of each route, layer version ids) come from SAM itself, never from a
copy of its rules. Local paths (`CodeUri`, `ContentUri`, `DefinitionUri`) are handed to the translator as
locations in a placeholder bucket, as `sam package` hands it S3 locations; `artifact_path` maps them back.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from samtranslator.model.exceptions import InvalidDocumentException  # type: ignore[import-untyped]
from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

from local.template import LocalContext, Resolver, load_template

# The bucket name that stands for "this folder of the repository" in the translated template.
ARTIFACT_BUCKET = "local-artifacts"
DEFAULT_REGION = "us-east-1"

_SAM_PREFIX = "AWS::Serverless::"
_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


class TranslationError(ValueError):
    """SAM refused the template; the message lists every cause SAM gave."""


def is_sam(template: Mapping[str, Any]) -> bool:
    """Whether the template still needs SAM's transform (it has any `AWS::Serverless::*` resource)."""
    resources = template.get("Resources") or {}
    return any(str(body.get("Type", "")).startswith(_SAM_PREFIX) for body in resources.values())


def _local_location(value: Any) -> dict[str, str] | None:
    """A repository folder as a placeholder S3 location; None for what is already an S3 location."""
    if isinstance(value, str) and not value.startswith("s3://"):
        return {"Bucket": ARTIFACT_BUCKET, "Key": value}
    return None


def _with_local_artifacts(template: dict[str, Any], root: Path) -> dict[str, Any]:
    """What `sam package` would do to local paths, without uploading: placeholder locations, inline definitions."""
    function_globals = (template.get("Globals") or {}).get("Function") or {}
    if (location := _local_location(function_globals.get("CodeUri"))) is not None:
        function_globals["CodeUri"] = location
    for resource in (template.get("Resources") or {}).values():
        properties = resource.get("Properties")
        if not isinstance(properties, dict):
            continue
        match resource.get("Type"):
            case "AWS::Serverless::Function":
                if (location := _local_location(properties.get("CodeUri"))) is not None:
                    properties["CodeUri"] = location
            case "AWS::Serverless::LayerVersion":
                if (location := _local_location(properties.get("ContentUri"))) is not None:
                    properties["ContentUri"] = location
            case "AWS::Serverless::StateMachine":
                uri = properties.get("DefinitionUri")
                if isinstance(uri, str) and not uri.startswith("s3://"):
                    properties["Definition"] = json.loads((root / uri).read_text(encoding="utf-8"))
                    del properties["DefinitionUri"]
    return template


def translate(
    template: Mapping[str, Any],
    root: Path,
    parameters: Mapping[str, str] | None = None,
    region: str = DEFAULT_REGION,
) -> dict[str, Any]:
    """The CloudFormation SAM makes of a SAM template (the template is not changed); TranslationError if refused."""
    sam = _with_local_artifacts(copy.deepcopy(dict(template)), root)
    translator = Translator(managed_policy_map={}, sam_parser=Parser(), boto_session=boto3.Session(region_name=region))
    try:
        translated: dict[str, Any] = translator.translate(sam_template=sam, parameter_values=dict(parameters or {}))
    except InvalidDocumentException as error:
        causes = "; ".join(cause.message for cause in error.causes)
        raise TranslationError(f"SAM refused the template: {causes}") from error
    return translated


def translate_file(
    path: Path, parameters: Mapping[str, str] | None = None, region: str = DEFAULT_REGION
) -> dict[str, Any]:
    """Load and translate a template file; local paths in it are relative to its folder."""
    return translate(load_template(path), path.parent, parameters, region)


def as_cloudformation(
    template: Mapping[str, Any], root: Path, parameters: Mapping[str, str] | None = None
) -> Mapping[str, Any]:
    """The template itself if it is plain CloudFormation already, else its translation."""
    return translate(template, root, parameters) if is_sam(template) else template


def artifact_path(location: Any, root: Path) -> Path | None:
    """The repository folder behind a placeholder `{S3Bucket, S3Key}` location; None for a real or inline one."""
    if isinstance(location, Mapping) and location.get("S3Bucket") == ARTIFACT_BUCKET:
        return (root / str(location["S3Key"])).resolve()
    return None


def state_machine_definition(template: Mapping[str, Any], resolver: Resolver, logical_id: str) -> dict[str, Any]:
    """The definition as Step Functions receives it: the translated `DefinitionString`, substitutions applied."""
    resource = (template.get("Resources") or {}).get(logical_id)
    if resource is None or resource.get("Type") != "AWS::StepFunctions::StateMachine":
        raise ValueError(f"{logical_id} is not a state machine of the translated template")
    properties = resource.get("Properties") or {}
    if "DefinitionString" in properties:
        text = str(resolver.resolve(properties["DefinitionString"]))
    else:
        text = json.dumps(properties["Definition"])
    substitutions = {
        name: str(value) for name, value in resolver.resolve(properties.get("DefinitionSubstitutions") or {}).items()
    }
    text = _SUBSTITUTION.sub(lambda found: substitutions.get(found.group(1), found.group(0)), text)
    definition: dict[str, Any] = json.loads(text)
    return definition


def main(argv: list[str]) -> int:
    """`python -m local.translation TEMPLATE OUT_DIR [Stage]`: write what the deploy receives, for the linters.

    OUT_DIR gets `template.json` (the translation) and `<LogicalId>.asl.json` for every state machine (its
    definition with substitutions applied, ARNs standing in for the functions).
    """
    if len(argv) not in (2, 3):
        print("usage: python -m local.translation TEMPLATE OUT_DIR [STAGE]", file=sys.stderr)
        return 2
    path, out = Path(argv[0]).resolve(), Path(argv[1])
    parameters = {"Stage": argv[2]} if len(argv) == 3 else {}
    try:
        translated = translate_file(path, parameters)
    except TranslationError as error:
        print(error, file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    (out / "template.json").write_text(json.dumps(translated, indent=2), encoding="utf-8")
    context = LocalContext(parameters=parameters)
    for logical_id, resource in (translated.get("Resources") or {}).items():
        if resource.get("Type") == "AWS::Lambda::Function":
            context.attributes[(logical_id, "Arn")] = (
                f"arn:aws:lambda:{context.region}:{context.account_id}:function:{logical_id}"
            )
    resolver = Resolver(translated, context)
    for logical_id, resource in (translated.get("Resources") or {}).items():
        if resource.get("Type") == "AWS::StepFunctions::StateMachine":
            definition = state_machine_definition(translated, resolver, logical_id)
            (out / f"{logical_id}.asl.json").write_text(json.dumps(definition, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
