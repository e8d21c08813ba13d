"""The embedded local stack: moto (DynamoDB, Step Functions with real execution, Lambda routed to
the in-process handlers, Secrets Manager, EventBridge) built from template.yaml, an HTTP adapter
that turns HTTP into API Gateway events for functions/api, the reaper on its schedule, and the
OpenStack simulator with its providers registered. Same handlers as in AWS, no AWS account."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import secrets
import sys
import threading
import time
import traceback
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from local import motofixes
from local.template import ACCOUNT, REGION, ROOT, Function, Template

sys.path.insert(0, str(ROOT / "layers" / "core"))


@dataclass
class LambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "local"
    log_stream_name: str = "local"
    timeout_ms: int = 120_000
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(int(self.timeout_ms - (time.monotonic() - self.started) * 1000), 0)


class Functions:
    """The template's functions, imported from functions/<name>/app.py and called in-process."""

    def __init__(self, template: Template) -> None:
        self.specs: dict[str, Function] = template.functions()
        self._modules: dict[str, ModuleType] = {}
        self._lock = threading.Lock()

    def by_logical_id(self, logical_id: str) -> Function:
        return next(f for f in self.specs.values() if f.logical_id == logical_id)

    def module(self, name: str) -> ModuleType:
        with self._lock:
            if name not in self._modules:
                spec = self.specs[name]
                module_path = spec.code_dir / (spec.handler.split(".")[0] + ".py")
                loader = importlib.util.spec_from_file_location(f"oms_function_{spec.logical_id}", module_path)
                assert loader and loader.loader
                module = importlib.util.module_from_spec(loader)
                loader.loader.exec_module(module)
                self._modules[name] = module
            return self._modules[name]

    def call(self, name: str, event: dict[str, Any]) -> Any:
        spec = self.specs[name]
        handler = getattr(self.module(name), spec.handler.split(".")[1])
        return handler(event, LambdaContext(function_name=spec.name, invoked_function_arn=spec.arn))

    def invoke(self, function_name: str, body: Any, headers: Any, response_headers: dict[str, str]) -> bytes:
        """moto's Lambda invoke, answered by the real handler (errors shaped as Lambda's)."""
        name = function_name.split(":function:")[-1].split(":")[0]
        event = json.loads(body or "{}")
        if (headers or {}).get("X-Amz-Invocation-Type") == "Event":
            threading.Thread(target=self._call_quietly, args=(name, event), daemon=True).start()
            return b""
        try:
            return json.dumps(self.call(name, event), default=str).encode()
        except Exception as error:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {
                    "errorType": type(error).__name__,
                    "errorMessage": str(error),
                    "stackTrace": traceback.format_exception(error)[-3:],
                }
            ).encode()

    def _call_quietly(self, name: str, event: dict[str, Any]) -> None:
        try:
            self.call(name, event)
        except Exception:
            traceback.print_exc()


@dataclass
class StackConfig:
    api_port: int = int(os.environ.get("OMS_PORT", "8080"))
    aws_port: int = int(os.environ.get("OMS_AWS_PORT", "4566"))
    token: str = os.environ.get("OMS_API_TOKEN") or secrets.token_urlsafe(24)
    sim_providers: int = int(os.environ.get("OMS_SIM_PROVIDERS", "3"))
    sim_quota: int = int(os.environ.get("OMS_SIM_QUOTA", "20"))
    sim_boot_seconds: float = float(os.environ.get("OMS_SIM_BOOT_SECONDS", "10"))
    sim_port: int = int(os.environ.get("OMS_SIM_PORT", "8780"))
    sim_args: list[str] = field(default_factory=list)
    reaper_every_seconds: float = 60.0  # 0 disables the schedule (tests drive the reaper)
    settings: dict[str, str] = field(default_factory=dict)  # extra OMS_* settings


def _aws_environment(port: int) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "MOTO_PORT": str(port),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    }


class LocalStack:
    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.template = Template()
        self.functions = Functions(self.template)
        self.sim: Any = None
        self._moto: Any = None
        self._http: Any = None
        self._stop = threading.Event()
        self.reaper_runs = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.config.api_port}"

    def start(self, register_providers: bool = True) -> LocalStack:
        self._environment()
        self._start_moto()
        self._create_resources()
        if self.config.sim_providers:
            self._start_simulator()
            if register_providers:
                self.register_simulated_providers()
        self._start_http()
        if self.config.reaper_every_seconds:
            threading.Thread(target=self._schedule_reaper, daemon=True).start()
        return self

    # --- pieces ---------------------------------------------------------------------------
    def _environment(self) -> None:
        env = {**_aws_environment(self.config.aws_port), **self.template.process_environment()}
        env.update(self.config.settings)
        os.environ.update(env)
        # Metrics are off locally; Powertools would still warn on every invocation.
        warnings.filterwarnings("ignore", message="No application metrics to publish")

    def _start_moto(self) -> None:
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        default_user_config["lambda"] = {"use_docker": False}
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        functions = self.functions

        def invoke(
            backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
        ) -> bytes:
            return functions.invoke(function_name, body, headers, response_headers)

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]
        motofixes.install()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call is noise
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.config.aws_port, verbose=False)
        self._moto.start()

    def _create_resources(self) -> None:
        import boto3

        dynamodb = boto3.client("dynamodb")
        for table in self.template.tables():
            dynamodb.create_table(**table)
        secretsmanager = boto3.client("secretsmanager")
        for name in self.template.secrets():
            value = self.config.token if name.endswith("api-token") else secrets.token_urlsafe(24)
            secretsmanager.create_secret(Name=name, SecretString=value)
        name, definition = self.template.state_machine()
        boto3.client("stepfunctions").create_state_machine(
            name=name, definition=definition, roleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", type="STANDARD"
        )

    def _start_simulator(self) -> None:
        from local.cloudsim.runner import CloudSim

        self.sim = CloudSim(
            providers=self.config.sim_providers,
            quota=self.config.sim_quota,
            boot_seconds=self.config.sim_boot_seconds,
            port=self.config.sim_port,
            extra_args=self.config.sim_args,
        )
        self.sim.start()

    def register_simulated_providers(self) -> None:
        """Register every simulated cloud, with aliases so `ubuntu` and `debian` resolve everywhere
        although each provider names its images differently."""
        from openmultistack import catalog

        state = self.sim.state()["providers"]
        for provider, credentials in catalog.providers_from_clouds_yaml({"clouds": self.sim.clouds}):
            images = [i["name"] for i in state[provider.name]["images"]]
            provider.image_aliases = {
                alias: next(n for n in images if alias in n.lower()) for alias in ("ubuntu", "debian")
            }
            catalog.register(provider, credentials)
            catalog.check(provider.name)

    def _start_http(self) -> None:
        import uvicorn

        from local.gateway import gateway_app

        api = self.functions.by_logical_id("ApiFunction").name
        one_at_a_time = threading.Lock()

        def call_api(event: dict[str, Any]) -> Any:
            # A Lambda environment handles one event at a time, and the Powertools resolver keeps
            # the current event on a module-level object: concurrent calls must not share it.
            with one_at_a_time:
                return self.functions.call(api, event)

        app = gateway_app(call_api)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.config.api_port, log_level="warning", access_log=False)
        )
        self._http = server
        threading.Thread(target=server.run, daemon=True).start()
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"API did not start on port {self.config.api_port}")
            time.sleep(0.05)

    def run_reaper(self, now: datetime | None = None, **extra: Any) -> Any:
        """Fire the reaper as EventBridge would (the event's time is its clock)."""
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "time": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [],
            "detail": {},
            **extra,
        }
        self.reaper_runs += 1
        return self.functions.call(self.functions.by_logical_id("ReaperFunction").name, event)

    def _schedule_reaper(self) -> None:
        while not self._stop.wait(self.config.reaper_every_seconds):
            try:
                self.run_reaper()
            except Exception:
                traceback.print_exc()

    def stop(self) -> None:
        self._stop.set()
        if self._http is not None:
            self._http.should_exit = True
        if self.sim is not None:
            self.sim.stop()
        if self._moto is not None:
            self._moto.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
