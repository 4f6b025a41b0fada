#!/usr/bin/env bash
# Uploads the clinician console (console/) to a deployed stack's console bucket, with the config.json that names
# the stack's API and Cognito hosted UI. Usage: scripts/deploy-console.sh <stack name> [redirect uri]
# (the redirect uri only when the stack's ConsoleCallbackUrl parameter was set). Needs the AWS CLI and credentials.
set -euo pipefail
cd "$(dirname "$0")/.."
stack=${1:?usage: scripts/deploy-console.sh <stack name> [redirect uri]}
outputs=$(aws cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].Outputs' --output json)
bucket=$(aws cloudformation describe-stacks --stack-name "$stack" \
  --query "Stacks[0].Outputs[?OutputKey=='ConsoleBucketName'].OutputValue" --output text)
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
cp -R console/. "$staging/"
echo "$outputs" | .venv/bin/python scripts/console_config.py ${2:+"$2"} > "$staging/config.json"
# The files are few and small; CloudFront caches nothing (CachingDisabled), so the upload shows at once.
aws s3 sync "$staging/" "s3://$bucket/console/" --delete
echo "Console: $(aws cloudformation describe-stacks --stack-name "$stack" \
  --query "Stacks[0].Outputs[?OutputKey=='ConsoleUrl'].OutputValue" --output text)"
