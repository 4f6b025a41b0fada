"""Start and stop the whole local stack: DynamoDB Local, moto SNS, the tables, the topic and the HTTP front."""

from __future__ import annotations

import importlib
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from local.dynamodb import DynamoDBLocal, StartError, dynamodb_client
from local.functions import FunctionRunner, read_functions
from local.reminders import create_platform_applications, platform_parameters
from local.routes import read_routes
from local.server import Front, FrontServer
from local.sns import MotoSns, topic_specs
from local.tables import ensure_tables, local_table_names, table_specs
from local.template import LocalContext, Resolver, load_template, resources_of_type
from local.tokens import LOCAL_CLIENT_ID, LOCAL_ISSUER, SigningKey
from local.translation import TranslationError, translate

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
DIGEST_TOPIC = "DigestTopic"

# Modules that add local-only routes: each has `register(routes: LocalRoutes, stack: LocalStack)`.
# The sweep adds `POST /_local/sweep`; the alert drain `POST /_local/drain-alerts` and its minute schedule; the
# console its static files under /console/. Patient reminders add `POST /_local/remind` and `GET /_local/push`
# (platform applications created in moto).
LOCAL_ROUTE_MODULES: tuple[str, ...] = (
    "local.local_routes",
    "local.sweep",
    "local.alerts",
    "local.reminders",
    "local.console",
)

# Variables that could point a handler at a real account; the stack removes them from its environment.
_REAL_AWS_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE")


@dataclass(frozen=True)
class StackConfig:
    """Where the stack listens and keeps its data."""

    port: int = 3000
    dynamodb_port: int = 8000
    sns_port: int = 4575
    data_dir: Path = ROOT / ".local"
    in_memory: bool = False
    template: Path = ROOT / "template.yaml"
    root: Path = ROOT
    quiet: bool = False


def ensure_port_free(port: int, what: str, hint: str, host: str = "127.0.0.1") -> None:
    """Raise StartError with a one-line message if something already listens on port.

    The check connects instead of binding: a connection of the previous run left in TIME_WAIT makes a plain
    bind fail for about a minute though nothing listens, while every server of the stack (DynamoDB Local, moto,
    the front) binds with SO_REUSEADDR and starts at once.
    """
    address = "127.0.0.1" if host in ("", "0.0.0.0") else host
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            listening = probe.connect_ex((address, port)) == 0
        except OSError:
            listening = False
    if listening:
        raise StartError(f"port {port} ({what}) is already in use: stop what uses it or {hint}")


class LocalStack:
    """The running parts, started in order and stopped in reverse."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.issuer = LOCAL_ISSUER
        self.audience = (LOCAL_CLIENT_ID,)
        self.template: dict[str, Any] = {}  # the translated template (plain CloudFormation)
        self.key: SigningKey | None = None
        self.dynamodb: DynamoDBLocal | None = None
        self.sns: MotoSns | None = None
        self.server: FrontServer | None = None
        self.topic_arns: dict[str, str] = {}
        self.table_names: dict[str, str] = {}
        self.base_environment: dict[str, str] = {}
        self.runner: FunctionRunner | None = None
        self._log: IO[bytes] | None = None
        self._resolver: Resolver | None = None

    # -- start ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start everything; on failure stop what already runs and raise StartError."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        config = self.config
        if not config.template.exists():
            raise StartError(f"{config.template.name} not found in {config.template.parent}")
        # Locally the stage is "local" (names, STAGE, log level), whatever the template's default, and the digest
        # names the local console's worklist (on AWS the template's default names the console's distribution).
        parameters = {
            "Stage": "local",
            "WorklistUrl": f"{self.url}/console/#/clinics/{{clinic_id}}/worklist",
            **platform_parameters(REGION, ACCOUNT_ID),
        }
        try:
            self.template = translate(load_template(config.template), config.template.parent, parameters, REGION)
        except TranslationError as error:
            raise StartError(f"{config.template.name}: {error}") from error
        front = Front(routes=[], runner=FunctionRunner({}, {}), key=SigningKey.generate(), quiet=config.quiet)
        try:
            self.server = FrontServer(config.port, front)
        except OSError as error:
            raise StartError(
                f"port {config.port} (HTTP front) is already in use on 127.0.0.1: "
                "stop what uses it or set PORT to another port"
            ) from error
        ensure_port_free(config.dynamodb_port, "DynamoDB Local", "pass --dynamodb-port", host="")
        ensure_port_free(config.sns_port, "moto SNS", "pass --sns-port")

        config.data_dir.mkdir(parents=True, exist_ok=True)
        key = SigningKey.load_or_create(config.data_dir)
        self.key = key
        self._log = (config.data_dir / "dynamodb.log").open("ab")
        self.dynamodb = DynamoDBLocal(
            config.root,
            config.dynamodb_port,
            None if config.in_memory else config.data_dir / "dynamodb",
            log=self._log,
        )
        self.dynamodb.spawn()
        self.sns = MotoSns(config.sns_port, REGION, ACCOUNT_ID)
        self.sns.start()
        self.dynamodb.wait_ready()

        context = LocalContext(region=REGION, account_id=ACCOUNT_ID, parameters=parameters)
        resolver = Resolver(self.template, context)
        self._resolver = resolver
        self.table_names = local_table_names(self.template)
        for logical_id, name in self.table_names.items():
            context.refs[logical_id] = name
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
            context.attributes[(logical_id, "Arn")] = arn
            context.attributes[(logical_id, "StreamArn")] = f"{arn}/stream/local"
        ensure_tables(
            dynamodb_client(self.dynamodb.endpoint, REGION), table_specs(self.template, resolver, self.table_names)
        )
        specs = topic_specs(self.template, resolver)
        self.topic_arns = self.sns.create_topics(specs)
        create_platform_applications(self.sns.client())
        for spec in specs:
            arn = self.topic_arns[spec.logical_id]
            context.refs[spec.logical_id] = arn
            context.attributes[(spec.logical_id, "TopicArn")] = arn
            context.attributes[(spec.logical_id, "TopicName")] = spec.name
        for logical_id in resources_of_type(self.template, "AWS::Lambda::Function"):
            context.attributes[(logical_id, "Arn")] = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{logical_id}"

        self.base_environment = self._base_environment()
        os.environ.update(self.base_environment)
        for variable in _REAL_AWS_VARIABLES:
            os.environ.pop(variable, None)
        functions = read_functions(self.template, resolver, config.template.parent)
        layers = [path for spec in functions.values() for path in spec.layers]
        for path in [*dict.fromkeys(layers), config.root / "layers" / "core"]:
            if path.is_dir() and str(path) not in sys.path:
                sys.path.insert(0, str(path))
        self.runner = FunctionRunner(functions, self.base_environment)

        front.routes = read_routes(self.template, resolver, issuer=self.issuer, audience=self.audience)
        front.runner = self.runner
        front.key = key
        front.account_id = ACCOUNT_ID
        for module_name in LOCAL_ROUTE_MODULES:
            importlib.import_module(module_name).register(front.local_routes, self)

    def _base_environment(self) -> dict[str, str]:
        """Variables every handler sees: local endpoints, a region and dummy credentials."""
        assert self.dynamodb is not None
        assert self.sns is not None
        return {
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb.endpoint,
            "AWS_ENDPOINT_URL_SNS": self.sns.endpoint,
            # Any other AWS service a handler might call goes to moto, never to a real account.
            "AWS_ENDPOINT_URL": self.sns.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }

    # -- use -----------------------------------------------------------------------------------------
    @property
    def signing_key(self) -> SigningKey:
        """The local key tokens are signed with (exists once started)."""
        assert self.key is not None, "start() the stack first"
        return self.key

    @property
    def resolver(self) -> Resolver:
        """Intrinsic functions of the translated template resolved to the local names (exists once started)."""
        assert self._resolver is not None, "start() the stack first"
        return self._resolver

    @property
    def url(self) -> str:
        """Base URL of the HTTP front."""
        return f"http://127.0.0.1:{self.config.port}"

    def notices(self) -> list[dict[str, Any]]:
        """Every message published to the digest topic so far (every topic if none is named so), oldest first."""
        assert self.sns is not None
        arns = [self.topic_arns[DIGEST_TOPIC]] if DIGEST_TOPIC in self.topic_arns else self.topic_arns.values()
        return [notice for arn in arns for notice in self.sns.published(arn)]

    def banner(self) -> str:
        """What `make run` prints once everything answers."""
        assert self.server is not None
        assert self.dynamodb is not None
        assert self.sns is not None
        routes = self.server.front.routes
        storage = "in memory" if self.config.in_memory else f"data in {self.config.data_dir}"
        lines = [
            f"Local stack ready: {self.url}",
            f"  DynamoDB Local {self.dynamodb.endpoint} ({storage}); tables: {', '.join(self.table_names.values())}",
            f"  moto SNS {self.sns.endpoint}; topics: {', '.join(self.topic_arns.values())}",
            *(f"  {route.route_key:<40} -> {route.function}" for route in routes),
            *(f"  {route:<40} (local)" for route in self.server.front.local_routes.paths()),
            "Ctrl-C stops everything.",
        ]
        return "\n".join(lines)

    def serve_forever(self) -> None:
        """Serve HTTP until interrupted."""
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.2)

    # -- stop ----------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every part that runs (safe to call twice)."""
        server, self.server = self.server, None
        if server is not None:
            server.server_close()
        sns, self.sns = self.sns, None
        if sns is not None:
            sns.stop()
        dynamodb, self.dynamodb = self.dynamodb, None
        if dynamodb is not None:
            dynamodb.stop()
        log, self._log = self._log, None
        if log is not None:
            log.close()
