#!/usr/bin/env bash
# sam build without Docker, prune from the layer what the Lambda runtime provides, then prove the arm64 layer
# holds aarch64 binaries and report its size.
#
# Without a container SAM downloads wheels for the function's architecture (BuildArchitecture: arm64) from PyPI,
# so native packages such as pydantic-core must come out as AArch64 even on an x86_64 machine. A wrong wheel only
# fails at import time in Lambda, so this script reads the ELF header of every shared object in the layer.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS_VENV=${TOOLS_VENV:-.venv-tools}
LAYER_DIR=.aws-sam/build/CoreLayer/python
export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-${AWS_REGION:-eu-west-1}}

# sam build looks for the runtime's interpreter (python3.13) on PATH.
PY313=$(scripts/find-python313.sh)
PATH="$(dirname "$PY313"):$PATH"
export PATH

start=$(date +%s)
# shellcheck disable=SC2086 # SAM_BUILD_ARGS is a list of extra flags (for example --cached)
"$TOOLS_VENV/bin/sam" build --template-file template.yaml --parallel ${SAM_BUILD_ARGS:-}
echo "sam build took $(($(date +%s) - start)) s"

# The python3.13 runtime ships boto3 and botocore (with s3transfer and urllib3). pynamodb still pulls botocore
# into the layer, where /opt/python would shadow the runtime's copy and add ~25 MB, so the layer keeps none of
# them (docs/DECISIONS.md, "Benchmarks and size"). Bytecode caches and test folders do not ship either.
for package in boto3 botocore s3transfer urllib3; do
  rm -rf "${LAYER_DIR:?}/$package" "$LAYER_DIR/$package"-*.dist-info
done
find "$LAYER_DIR" -depth -type d \( -name __pycache__ -o -name tests \) -exec rm -rf {} +

"$PY313" - "$LAYER_DIR" <<'PY'
"""Every shared object in the layer must be a 64-bit little-endian AArch64 ELF; pydantic-core must be there."""
import os
import struct
import sys
import tempfile
import zipfile
from pathlib import Path

EM_AARCH64 = 183
NAMES = {3: "x86", 40: "ARM", 62: "x86-64", 183: "AArch64"}
layer = Path(sys.argv[1])
if not (layer / "lemtrada" / "__init__.py").is_file():
    sys.exit(f"error: {layer}/lemtrada missing: the layer was not built with BuildMethod python3.13")
provided = [name for name in ("boto3", "botocore", "s3transfer", "urllib3", "aws_xray_sdk") if (layer / name).exists()]
if provided:
    sys.exit(f"error: the layer ships {provided}: the runtime provides them (or nothing uses them)")

shared = sorted(p for p in layer.rglob("*.so*") if p.is_file())
wrong = []
for path in shared:
    head = path.read_bytes()[:20]
    if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
        wrong.append(f"{path}: not a 64-bit little-endian ELF")
        continue
    (machine,) = struct.unpack_from("<H", head, 18)
    if machine != EM_AARCH64:
        wrong.append(f"{path}: {NAMES.get(machine, machine)}")
core = [p for p in shared if p.parent.name == "pydantic_core" and p.name.startswith("_pydantic_core")]
if not core:
    sys.exit("error: pydantic_core's shared object is not in the layer")
if wrong:
    sys.exit("error: shared objects not built for AArch64:\n  " + "\n  ".join(wrong))
print(f"ok: {len(shared)} shared objects, all AArch64 (pydantic_core: {core[0].relative_to(layer)})")

unzipped = sum(p.stat().st_size for p in layer.parent.rglob("*") if p.is_file())
with tempfile.TemporaryDirectory() as tmp:
    archive = Path(tmp) / "layer.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(layer.parent.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(layer.parent))
    zipped = os.path.getsize(archive)
print(f"layer size: {unzipped / 1e6:.1f} MB unzipped (Lambda limit 250 MB with the function), {zipped / 1e6:.1f} MB zipped")
PY
