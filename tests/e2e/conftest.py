"""The whole local stack (`python -m local`) as a child process, as the mobile app and a clinician meet it.

The stack and its fixtures live in tests/support/local_stack.py, shared with tests/browser.
"""

from __future__ import annotations

from tests.support.local_stack import READY_PREFIX, START_TIMEOUT, RunningStack, base_url, local_stack, start_stack

__all__ = ["READY_PREFIX", "START_TIMEOUT", "RunningStack", "base_url", "local_stack", "start_stack"]
