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

# What no handler uses (issue 7: core layer under 10 MB unzipped). Each step below was checked by importing every
# built handler from the built layer alone and running every sample event of events/ through it
# (tests/integration/test_built_artifacts.py, which also lists the modules each cold process loads); the check
# further down fails the build if a remaining file still imports something pruned here.
POWERTOOLS="$LAYER_DIR/aws_lambda_powertools"
# Swagger UI's script and style sheet (1.7 MB): /docs loads the same files (swagger-ui-dist 5.31.0) from a CDN,
# pinned and locked by Subresource Integrity (lemtrada/web/swagger.py); nothing calls enable_swagger.
rm -f "$POWERTOOLS"/event_handler/openapi/swagger_ui/swagger-ui-bundle.min.js \
  "$POWERTOOLS"/event_handler/openapi/swagger_ui/swagger-ui.min.css
# Powertools utilities no handler imports, and that no module a handler loads imports (0.65 MB). The event
# handler's schema_validation middleware is the only retained module that imported one (validation); it needs
# fastjsonschema, which the layer never had, and no route uses it.
for utility in parser parameters auth_alpha feature_flags circuit_breaker kafka batch data_masking streaming \
  validation metadata; do
  rm -rf "${POWERTOOLS:?}/utilities/$utility"
done
rm -f "$POWERTOOLS"/event_handler/middlewares/schema_validation.py
# Back ends for libraries the layer does not ship (redis, datadog): importing them could only fail.
rm -f "$POWERTOOLS"/utilities/idempotency/persistence/redis.py "$POWERTOOLS"/utilities/idempotency/persistence/cache.py
rm -rf "$POWERTOOLS"/metrics/provider/datadog
# pydantic's v1 compatibility package and its mypy plugin (0.53 MB): the service's models are pydantic 2, and
# pydantic imports pydantic.v1 only for a type that defines __get_validators__ (none does) or for a v1-era name.
rm -rf "$LAYER_DIR"/pydantic/v1 "$LAYER_DIR"/pydantic/mypy.py
# tzdata's text tables (tzdata.zi, *.tab, leapseconds: 0.16 MB): Python's zoneinfo reads only the compiled zone
# files and tzdata/zones, which stay. Type stubs and py.typed markers serve type checkers only.
rm -f "$LAYER_DIR"/tzdata/zoneinfo/tzdata.zi "$LAYER_DIR"/tzdata/zoneinfo/*.tab "$LAYER_DIR"/tzdata/zoneinfo/leapseconds
find "$LAYER_DIR" \( -name '*.pyi' -o -name py.typed \) -type f -delete
# Installer bookkeeping: RECORD (read by pip uninstall only), console scripts, and each METADATA's long description
# (pydantic's changelog alone is 0.14 MB). The METADATA headers stay, so importlib.metadata still answers names,
# versions and requirements; licence files and pydantic-core's SBOM stay.
rm -f "$LAYER_DIR"/*.dist-info/RECORD
rm -rf "$LAYER_DIR"/*.data
for metadata in "$LAYER_DIR"/*.dist-info/METADATA; do
  sed -i '/^$/,$d' "$metadata"
done

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

# Nothing left in the layer may import what the build pruned (the comments above say why each is unused).
import re

pruned = re.compile(
    r"^\s*(?:from|import)\s+(?:aws_lambda_powertools\.utilities\.(?:parser|parameters|auth_alpha|feature_flags"
    r"|circuit_breaker|kafka|batch|data_masking|streaming|validation|metadata)"
    r"|aws_lambda_powertools\.event_handler\.middlewares\.schema_validation"
    r"|aws_lambda_powertools\.utilities\.idempotency\.persistence\.(?:redis|cache)"
    r"|aws_lambda_powertools\.metrics\.provider\.datadog|pydantic\.mypy)\b",
    re.MULTILINE,
)
sources = [*layer.rglob("*.py"), *Path("functions").rglob("*.py")]
importers = [str(path) for path in sources if pruned.search(path.read_text(encoding="utf-8", errors="replace"))]
if importers:
    sys.exit("error: these files import what scripts/sam-build.sh pruned:\n  " + "\n  ".join(importers))
if any("enable_swagger" in path.read_text(encoding="utf-8", errors="replace") for path in Path("functions").rglob("*.py")):
    sys.exit("error: a function enables Powertools' Swagger UI, whose assets the build prunes")

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
print(f"layer size: {unzipped / 1e6:.2f} MB unzipped (Lambda limit 250 MB with the function), {zipped / 1e6:.2f} MB zipped")
budget = float(os.environ.get("LAYER_BUDGET_MB", "10"))
if unzipped > budget * 1e6:
    sys.exit(f"error: the core layer is {unzipped / 1e6:.2f} MB unzipped, over its {budget:g} MB budget (docs/PERFORMANCE.md)")
PY
