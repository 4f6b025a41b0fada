"""The clinician console's config.json for a deployed stack, from the stack's outputs (`aws cloudformation
describe-stacks --query 'Stacks[0].Outputs'` on stdin): the API's address and the Cognito hosted UI to sign in with.

Used by scripts/deploy-console.sh; the local stack serves its own config (local/console.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

NEEDED = ("ApiUrl", "ConsoleUrl", "ConsoleClientId", "ConsoleAuthDomain")


def console_config(outputs: Sequence[Mapping[str, Any]], redirect_uri: str | None = None) -> dict[str, str]:
    """config.json of the console: `redirect_uri` defaults to the console's own address (the app client's default
    callback and logout URL); pass the ConsoleCallbackUrl parameter's value when the stack was given one."""
    values = {str(item["OutputKey"]): str(item["OutputValue"]) for item in outputs}
    missing = [name for name in NEEDED if name not in values]
    if missing:
        raise ValueError(f"the stack has no output {', '.join(missing)}: deploy template.yaml first")
    address = redirect_uri or values["ConsoleUrl"]
    return {
        "auth": "cognito",
        "api_base": values["ApiUrl"].rstrip("/"),
        "auth_domain": values["ConsoleAuthDomain"].rstrip("/"),
        "client_id": values["ConsoleClientId"],
        "redirect_uri": address,
        "logout_uri": address,
    }


def main(argv: Sequence[str]) -> int:
    outputs = json.load(sys.stdin)
    print(json.dumps(console_config(outputs, argv[1] if len(argv) > 1 else None), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
