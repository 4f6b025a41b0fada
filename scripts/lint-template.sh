#!/usr/bin/env bash
# Checks template.yaml three ways, each must pass: SAM's own validation (with its cfn-lint rules), cfn-lint on the
# template as written, and checkov's security rules (skips only in resource Metadata, each with its reason).
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS_VENV=${TOOLS_VENV:-.venv-tools}
CHECKOV_VENV=${CHECKOV_VENV:-$TOOLS_VENV/checkov}
export SAM_CLI_TELEMETRY=0
# sam validate needs a region to resolve AWS::Region; no credentials and no AWS call are involved.
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-${AWS_REGION:-eu-west-1}}

echo "== sam validate --lint"
"$TOOLS_VENV/bin/sam" validate --lint --template-file template.yaml

echo "== cfn-lint"
"$TOOLS_VENV/bin/cfn-lint" template.yaml

echo "== checkov"
"$CHECKOV_VENV/bin/checkov" --config-file .checkov.yaml -f template.yaml
