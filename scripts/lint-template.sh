#!/usr/bin/env bash
# Checks template.yaml five ways, each must pass: SAM's own validation (with its cfn-lint rules), cfn-lint on the
# template as written and on aws-sam-translator's output (the CloudFormation that deploys), asl-validator on each
# state machine definition as Step Functions receives it (substitutions applied), and checkov's security rules
# (skips only in resource Metadata, each with its reason).
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS_VENV=${TOOLS_VENV:-.venv-tools}
APP_VENV=${APP_VENV:-.venv}
CHECKOV_VENV=${CHECKOV_VENV:-$TOOLS_VENV/checkov}
export SAM_CLI_TELEMETRY=0
# sam validate needs a region to resolve AWS::Region; no credentials and no AWS call are involved.
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-${AWS_REGION:-eu-west-1}}

echo "== sam validate --lint"
"$TOOLS_VENV/bin/sam" validate --lint --template-file template.yaml

echo "== cfn-lint"
"$TOOLS_VENV/bin/cfn-lint" template.yaml

translated=$(mktemp -d)
trap 'rm -rf "$translated"' EXIT
"$APP_VENV/bin/python" -m local.translation template.yaml "$translated" dev

echo "== cfn-lint (translated)"
# W1020: SAM itself resolves parameters into the layer's name and leaves an Fn::Sub without variables.
"$TOOLS_VENV/bin/cfn-lint" --ignore-checks W1020 -- "$translated/template.json"

echo "== asl-validator"
for definition in "$translated"/*.asl.json; do
  node_modules/.bin/asl-validator --json-path "$definition"
done

echo "== checkov"
"$CHECKOV_VENV/bin/checkov" --config-file .checkov.yaml -f template.yaml
