"""The documentation routes' small rules: which clients get gzip, and the page's policy over its own script."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from lemtrada.web import swagger


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate, br", True),
        ("GZIP", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("gzip;q=junk", False),
        ("deflate, br", False),
        ("identity", False),
        ("", False),
        (None, False),
        ("x-gzip-like", False),
    ],
)
def test_accepts_gzip(header: str | None, expected: bool) -> None:
    assert swagger.accepts_gzip(header) is expected


def test_policy_names_the_hash_of_the_one_inline_script() -> None:
    page = swagger.swagger_page()
    inline = re.findall(r"<script>(.*?)</script>", str(page.body), flags=re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}'" in swagger.content_security_policy()


def test_assets_are_the_files_powertools_ships() -> None:
    for item in swagger.ASSETS:
        assert (swagger.ASSET_DIR / item.file).stat().st_size > 10_000, item.file
