"""Sizes of what ``sam build`` produced: the core layer and each function, unzipped and zipped (deflate, in memory).

Reads ``.aws-sam/build`` (``make build`` runs ``scripts/sam-build.sh``, which prunes what the runtime provides).

    .venv/bin/python -m bench.sizes
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"


@dataclass(frozen=True)
class Size:
    name: str
    files: int
    unzipped: int
    zipped: int


def measure_folder(name: str, folder: Path, bytecode: bool = True) -> Size:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and (bytecode or "__pycache__" not in p.parts))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(folder))
    return Size(name, len(files), sum(path.stat().st_size for path in files), len(buffer.getvalue()))


def measure(build: Path = BUILD) -> list[Size]:
    """Every built artifact (one folder per layer or function), the layer first, then the layer without bytecode."""
    if not build.is_dir():
        return []
    folders = sorted((p for p in build.iterdir() if p.is_dir()), key=lambda p: (not p.name.endswith("Layer"), p.name))
    sizes = [measure_folder(folder.name, folder) for folder in folders]
    layers = [measure_folder(f"{p.name} without .pyc", p, bytecode=False) for p in folders if p.name.endswith("Layer")]
    return sizes[: len(layers)] + layers + sizes[len(layers) :]


def table(sizes: list[Size]) -> str:
    if not sizes:
        return "no .aws-sam/build: run `make build` first"
    lines = [f"{'artifact':<24} {'files':>6} {'unzipped':>13} {'zipped':>13}"]
    for size in sizes:
        lines.append(f"{size.name:<24} {size.files:>6} {size.unzipped / 1e3:>10,.0f} kB {size.zipped / 1e3:>10,.0f} kB")
    return "\n".join(lines)


def main() -> None:
    print(table(measure()))


if __name__ == "__main__":
    main()
