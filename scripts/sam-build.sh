#!/usr/bin/env bash
# sam build without Docker, remove from the layer what the Lambda runtime provides, ship bytecode for every module of
# the layer and the functions, then prove the arm64 layer holds aarch64 binaries and report its size.
#
# Without a container SAM downloads wheels for the function's architecture (BuildArchitecture: arm64) from PyPI,
# so native packages such as pydantic-core must come out as AArch64 even on an x86_64 machine. A wrong wheel only
# fails at import time in Lambda, so this script reads the ELF header of every shared object in the layer.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS_VENV=${TOOLS_VENV:-.venv-tools}
BUILD_DIR=.aws-sam/build
LAYER_DIR=$BUILD_DIR/CoreLayer/python
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

# The python3.13 runtime ships boto3 and botocore (with s3transfer and urllib3). A dependency that pulls botocore
# into the layer, where /opt/python would shadow the runtime's copy and add ~25 MB, so the layer keeps none of
# them (docs/DECISIONS.md, "Layer contents and bytecode"). Nothing else is pruned: every library ships whole.
for package in boto3 botocore s3transfer urllib3; do
  rm -rf "${LAYER_DIR:?}/$package" "$LAYER_DIR/$package"-*.dist-info
done

# Bytecode, compiled by the runtime's Python (3.13) with unchecked-hash invalidation: /opt and /var/task are
# read-only in Lambda, so without shipped .pyc every cold start compiles every module it imports, and an
# unchecked-hash .pyc is used without comparing it to its source (no stat of timestamps, no hashing at start).
# Whatever __pycache__ the installers left (timestamp-based) is replaced. -s/-p record the paths Lambda mounts the
# artifacts at (/opt/python, /var/task), so tracebacks name them.
find "$BUILD_DIR" -depth -type d -name __pycache__ -exec rm -rf {} +
"$PY313" -m compileall -q -j 0 --invalidation-mode unchecked-hash -s "$LAYER_DIR" -p /opt/python "$LAYER_DIR"
for function_dir in "$BUILD_DIR"/*/; do
  function_dir=${function_dir%/}
  [ "$function_dir" = "${LAYER_DIR%/python}" ] && continue
  "$PY313" -m compileall -q -j 0 --invalidation-mode unchecked-hash -s "$function_dir" -p /var/task "$function_dir"
done

"$PY313" - "$BUILD_DIR" "$LAYER_DIR" <<'PY'
"""The layer holds AArch64 shared objects, every module has its unchecked-hash .pyc, and the layer fits its budget."""
import importlib.util
import os
import struct
import sys
import zipfile
from io import BytesIO
from pathlib import Path

EM_AARCH64 = 183
NAMES = {3: "x86", 40: "ARM", 62: "x86-64", 183: "AArch64"}
build, layer = Path(sys.argv[1]), Path(sys.argv[2])
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

# Every module's bytecode where Python 3.13 looks for it, for this interpreter's magic number, unchecked-hash
# (PEP 552 flags word: bit 0 hash-based, bit 1 check source; unchecked is 0b01).
sources = sorted(p for p in build.rglob("*.py") if p.is_file())
missing, stale = [], []
for source in sources:
    cached = Path(importlib.util.cache_from_source(str(source)))
    if not cached.is_file():
        missing.append(str(source))
        continue
    head = cached.read_bytes()[:8]
    if head[:4] != importlib.util.MAGIC_NUMBER or int.from_bytes(head[4:8], "little") != 0b01:
        stale.append(str(cached))
if missing or stale:
    sys.exit(
        "error: modules without an unchecked-hash .pyc for Python 3.13:\n  " + "\n  ".join((missing + stale)[:20])
    )
print(f"ok: {len(sources)} modules, each with an unchecked-hash {importlib.util.MAGIC_NUMBER.hex()} .pyc")


def size(folder: Path, bytecode: bool) -> tuple[int, int]:
    """Unzipped and zipped (deflate) bytes of the folder, with or without its __pycache__ folders."""
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and (bytecode or "__pycache__" not in p.parts)]
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(folder))
    return sum(p.stat().st_size for p in files), len(buffer.getvalue())


unzipped, zipped = size(layer.parent, bytecode=True)
bare_unzipped, bare_zipped = size(layer.parent, bytecode=False)
print(
    f"layer size: {unzipped / 1e6:.2f} MB unzipped, {zipped / 1e6:.2f} MB zipped "
    f"({bare_unzipped / 1e6:.2f} MB and {bare_zipped / 1e6:.2f} MB of it without bytecode); "
    "Lambda's limit is 250 MB unzipped with the function"
)
budget = float(os.environ.get("LAYER_BUDGET_MB", "40"))
if unzipped > budget * 1e6:
    sys.exit(
        f"error: the core layer is {unzipped / 1e6:.2f} MB unzipped, over its {budget:g} MB budget (docs/PERFORMANCE.md)"
    )
PY
