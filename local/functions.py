"""The template's Lambda functions, loaded in-process and invoked as the Lambda runtime would.

Every function file is named app.py, so each is loaded under its own module name. The process environment is
shared by all handlers, so invocations take turns: each runs with its own function's variables (its
`Environment` as SAM's translation gives it, Globals merged in), one at a time, as one Lambda execution
environment serves one request at a time.
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
from local.translation import artifact_path, as_cloudformation

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class FunctionSpec:
    """What the local stack needs to run one `AWS::Lambda::Function` of the translated template."""

    logical_id: str
    code_uri: Path
    handler: str
    memory_mb: int
    timeout_seconds: float
    environment: dict[str, str]
    layers: tuple[Path, ...] = ()

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
    """Every zip function of the translated template, its variables resolved to local values.

    A SAM template is translated first (`local.translation`): SAM itself merges Globals into each function
    (maps merged, lists appended), so the properties read here are the ones `AWS::Lambda::Function` deploys with.
    """
    cloudformation = as_cloudformation(template, root, resolver.context.parameters)
    specs = {}
    for logical_id, resource in resources_of_type(cloudformation, "AWS::Lambda::Function").items():
        properties = resource.get("Properties") or {}
        code_uri = artifact_path(properties.get("Code"), root)
        if code_uri is None or "Handler" not in properties:
            continue  # inline or image functions are not part of this product
        variables = resolver.resolve((properties.get("Environment") or {}).get("Variables") or {})
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=code_uri,
            handler=str(resolver.resolve(properties["Handler"])),
            memory_mb=int(resolver.resolve(properties.get("MemorySize", 128))),
            timeout_seconds=float(resolver.resolve(properties.get("Timeout", 3))),
            environment={name: _env_string(value) for name, value in variables.items()},
            layers=_layers_of(cloudformation, properties.get("Layers") or [], root),
        )
    return specs


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _layers_of(cloudformation: Mapping[str, Any], layers: list[Any], root: Path) -> tuple[Path, ...]:
    """Folders of the template's own layers a function names (`Ref` to an `AWS::Lambda::LayerVersion`)."""
    resources = cloudformation.get("Resources") or {}
    paths = []
    for layer in layers:
        logical_id = layer.get("Ref") if isinstance(layer, dict) else None
        resource = resources.get(logical_id) if isinstance(logical_id, str) else None
        if resource is None or resource.get("Type") != "AWS::Lambda::LayerVersion":
            continue  # a layer of another account or stack: nothing local to load
        path = artifact_path((resource.get("Properties") or {}).get("Content"), root)
        if path is not None:
            paths.append(path)
    return tuple(paths)


def layer_paths(template: Mapping[str, Any], resolver: Resolver, root: Path) -> list[Path]:
    """Folders of the layers the functions use: they go on sys.path as /opt/python does on Lambda."""
    paths: list[Path] = []
    for spec in read_functions(template, resolver, root).values():
        paths.extend(path for path in spec.layers if path not in paths)
    return paths


class FunctionRunner:
    """Loads handlers on first use and invokes them one at a time with their own environment."""

    def __init__(self, specs: Mapping[str, FunctionSpec], base_environment: Mapping[str, str]) -> None:
        self.specs = dict(specs)
        self.base_environment = dict(base_environment)
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.RLock()
        self._last_environment: dict[str, str] | None = None

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
            self._forget_settings_of_another_environment(spec)
            handler = self._load(spec)
            return handler(event, context)

    def _forget_settings_of_another_environment(self, spec: FunctionSpec) -> None:
        """Every function shares this process, unlike on Lambda: the layer's settings (read once from the
        environment and kept) are read again when a function's template variables differ from the previous
        one's (the publish function's WORKLIST_URL), so each function sees its own."""
        if spec.environment == self._last_environment:
            return
        self._last_environment = dict(spec.environment)
        bootstrap = sys.modules.get("lemtrada.bootstrap")
        settings = getattr(bootstrap, "settings", None)
        if settings is not None and hasattr(settings, "cache_clear"):
            settings.cache_clear()
