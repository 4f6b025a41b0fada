"""The template's Lambda functions, loaded in-process and invoked as the Lambda runtime would.

Every function file is named app.py, so each is loaded under its own module name. The process environment is
shared by all handlers, so invocations take turns: each runs with its own function's variables (Globals plus
its own `Environment`), one at a time, as one Lambda execution environment serves one request at a time.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from local.events import LambdaContext
from local.template import Resolver, resources_of_type

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class FunctionSpec:
    """What the local stack needs to run one `AWS::Serverless::Function`."""

    logical_id: str
    code_uri: Path
    handler: str
    memory_mb: int
    timeout_seconds: float
    environment: dict[str, str]

    @property
    def module_file(self) -> Path:
        """The Python file named by `Handler` (e.g. app.handler -> <CodeUri>/app.py)."""
        module, _, _ = self.handler.rpartition(".")
        return self.code_uri.joinpath(*module.split(".")).with_suffix(".py")

    @property
    def module_name(self) -> str:
        """A module name unique to this function (all function files are called app.py)."""
        return f"_local_function_{self.logical_id}"


def read_functions(template: Mapping[str, Any], resolver: Resolver, root: Path) -> dict[str, FunctionSpec]:
    """Every Python function of the template with Globals applied and its variables resolved locally."""
    defaults = resolver.resolve((template.get("Globals") or {}).get("Function") or {})
    global_variables = (defaults.get("Environment") or {}).get("Variables") or {}
    specs = {}
    for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        properties = {**defaults, **resolver.resolve(resource.get("Properties") or {})}
        variables = {**global_variables, **((properties.get("Environment") or {}).get("Variables") or {})}
        if "CodeUri" not in properties or "Handler" not in properties:
            continue  # inline or image functions are not part of this product
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=(root / str(properties["CodeUri"])).resolve(),
            handler=str(properties["Handler"]),
            memory_mb=int(properties.get("MemorySize", 128)),
            timeout_seconds=float(properties.get("Timeout", 3)),
            environment={name: _env_string(value) for name, value in variables.items()},
        )
    return specs


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def layer_paths(template: Mapping[str, Any], resolver: Resolver, root: Path) -> list[Path]:
    """Folders of the template's Python layers: they go on sys.path as /opt/python does on Lambda."""
    paths = []
    for resource in resources_of_type(template, "AWS::Serverless::LayerVersion").values():
        properties = resolver.resolve(resource.get("Properties") or {})
        content = properties.get("ContentUri")
        if isinstance(content, str):
            paths.append((root / content).resolve())
    return paths


class FunctionRunner:
    """Loads handlers on first use and invokes them one at a time with their own environment."""

    def __init__(self, specs: Mapping[str, FunctionSpec], base_environment: Mapping[str, str]) -> None:
        self.specs = dict(specs)
        self.base_environment = dict(base_environment)
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.RLock()

    def environment_for(self, spec: FunctionSpec) -> dict[str, str]:
        """The variables one function sees: the stack's base values, the template's, the runtime's."""
        return {
            **self.base_environment,
            **spec.environment,
            "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        }

    @contextmanager
    def environment(self, variables: Mapping[str, str]) -> Iterator[None]:
        """Run a block with variables set in os.environ (one block at a time), then restore it."""
        with self._lock:
            saved = dict(os.environ)
            os.environ.update(variables)
            try:
                yield
            finally:
                os.environ.clear()
                os.environ.update(saved)

    def _load(self, spec: FunctionSpec) -> Handler:
        if spec.logical_id in self._handlers:
            return self._handlers[spec.logical_id]
        path = spec.module_file
        module_spec = importlib.util.spec_from_file_location(spec.module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module: ModuleType = importlib.util.module_from_spec(module_spec)
        sys.modules[spec.module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[spec.module_name]
            raise
        handler: Handler = getattr(module, spec.handler.rpartition(".")[2])
        self._handlers[spec.logical_id] = handler
        return handler

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Call one function's handler with an event and a Lambda context; returns its result."""
        spec = self.specs[logical_id]
        context = LambdaContext(
            function_name=spec.logical_id,
            memory_limit_in_mb=spec.memory_mb,
            timeout_seconds=spec.timeout_seconds,
            region=self.base_environment.get("AWS_REGION", "us-east-1"),
        )
        with self.environment(self.environment_for(spec)):
            handler = self._load(spec)
            return handler(event, context)
