"""The console as the local stack serves it: every file with the type a browser runs it as, the local config, and
the analyte catalogue the result form offers kept equal to the protocol's."""

from __future__ import annotations

import json
from pathlib import Path

from lemtrada.regimen.protocol import EU_PROTOCOL, US_ANALYTES, US_PROTOCOL

from local.console import CONFIG_PATH, FOLDER, PREFIX, SECURITY_HEADERS, content_type, files, local_config


def test_every_file_is_served_with_a_type_a_browser_accepts() -> None:
    served = files()
    assert served[PREFIX] == FOLDER / "index.html"
    assert {PREFIX + name for name in ("index.html", "app.js", "api.js", "auth.js", "dom.js", "styles.css")} <= set(
        served
    )
    assert CONFIG_PATH not in served  # the local config is generated, the deployed one uploaded
    for url, path in served.items():
        kind = content_type(path)
        assert kind != "application/octet-stream", url
        if url.endswith(".js"):
            assert kind.startswith("text/javascript")  # module scripts refuse any other type
    assert content_type(Path("x.json")) == "application/json"


def test_the_local_config_signs_in_locally_on_the_same_origin() -> None:
    assert local_config() == {"auth": "local", "api_base": ""}
    headers = dict(SECURITY_HEADERS)
    assert "script-src" not in headers["content-security-policy"]  # default-src 'self': no inline script at all
    assert headers["x-content-type-options"] == "nosniff"


def test_no_file_loads_anything_from_another_host() -> None:
    for path in FOLDER.rglob("*"):
        if path.suffix in (".html", ".js", ".css"):
            text = path.read_text(encoding="utf-8")
            assert "http://" not in text, path
            assert "https://" not in text, path  # the hosted UI's address comes from config.json only
            assert "innerHTML" not in text, path  # values from the API become text nodes


def test_the_analyte_catalogue_is_the_protocols() -> None:
    catalogue = json.loads((FOLDER / "analytes.json").read_text(encoding="utf-8"))
    expected: dict[str, list[dict[str, object]]] = {}
    for spec in US_ANALYTES:
        expected.setdefault(spec.item.value, []).append({"code": spec.code, "units": [unit for unit, _ in spec.units]})
    assert catalogue == expected
    assert US_PROTOCOL.analytes == EU_PROTOCOL.analytes  # one catalogue serves both labels
