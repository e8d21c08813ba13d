"""`CloudSim`: run the simulator as a subprocess for tests and the local stack, and drive its control plane.

    with CloudSim(providers=3, quota=20, boot_seconds=0.5) as sim:
        conn = sim.connect("sim-1")            # openstacksdk Connection
        sim.fault("sim-2", maintenance=True)   # POST /_sim/providers/sim-2/faults
        sim.state()["providers"]["sim-1"]["servers"]

Only the standard library is used for the control calls, so importing this costs nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

READY_PREFIX = "cloudsim ready: "
ROOT = Path(__file__).resolve().parents[2]  # the repo root, so `-m local.cloudsim` imports from any cwd


class CloudSimError(RuntimeError):
    pass


class CloudSim:
    """A simulator subprocess on 127.0.0.1 (a free port unless `port` is given)."""

    def __init__(
        self,
        providers: int = 3,
        quota: int = 20,
        boot_seconds: float = 1.0,
        seed: int = 0,
        port: int = 0,
        clouds_yaml: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
        start_timeout: float = 30.0,
    ) -> None:
        self.providers, self.quota, self.boot_seconds, self.seed, self.port = (
            providers,
            quota,
            boot_seconds,
            seed,
            port,
        )
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if clouds_yaml is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="cloudsim-")
            clouds_yaml = Path(self._tmpdir.name) / "clouds.yaml"
        self.clouds_yaml = Path(clouds_yaml)
        self.url = ""
        self.clouds: dict[str, dict[str, Any]] = {}
        self._proc: subprocess.Popen[str] | None = None
        # The child's stderr, kept for the error message when it fails to start; lives as long as we do.
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115

    # ---- lifecycle --------------------------------------------------------------------------------

    def start(self) -> CloudSim:
        cmd = [
            sys.executable,
            "-m",
            "local.cloudsim",
            "--providers",
            str(self.providers),
            "--quota",
            str(self.quota),
            "--boot-seconds",
            str(self.boot_seconds),
            "--seed",
            str(self.seed),
            "--port",
            str(self.port),
            "--clouds-yaml",
            str(self.clouds_yaml),
            *self.extra_args,
        ]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env, cwd=ROOT)
        ready: list[str] = []
        reader = threading.Thread(target=self._read_stdout, args=(ready,), daemon=True)
        reader.start()
        deadline = time.monotonic() + self.start_timeout
        while not ready and self._proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if not ready:
            self.stop()
            raise CloudSimError(f"cloudsim did not become ready: {self._stderr_tail()}")
        self.url = ready[0]
        self.clouds = yaml.safe_load(self.clouds_yaml.read_text())["clouds"]
        return self

    def _read_stdout(self, ready: list[str]) -> None:
        # Keeps draining after the ready line so a chatty child never blocks on a full pipe.
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith(READY_PREFIX) and not ready:
                ready.append(line[len(READY_PREFIX) :].strip())

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-4000:]

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down gracefully within ~1 s), SIGKILL if it does not."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> CloudSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # ---- control plane ----------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise CloudSimError(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}") from None

    def state(self) -> dict[str, Any]:
        """Ground truth: `{"providers": {"sim-1": {"servers": [...], "peak_servers": …}, …}}`."""
        return self._call("GET", "/_sim/state")

    def provider_state(self, provider: str) -> dict[str, Any]:
        return self.state()["providers"][provider]

    def fault(self, provider: str, **faults: Any) -> dict[str, Any]:
        """Merge faults (`maintenance=True`, `quota=5`, `hang=False`, `reset=True`…); returns the new set."""
        return self._call("POST", f"/_sim/providers/{provider}/faults", faults)["faults"]

    def reset(self, provider: str | None = None) -> None:
        """Fresh servers, keypairs, counters and faults for one provider or all (issued tokens stay valid)."""
        self._call("POST", f"/_sim/providers/{provider}/reset" if provider else "/_sim/reset", {})

    def plant_server(
        self, provider: str, name: str, metadata: dict[str, str] | None = None, status: str = "ACTIVE"
    ) -> dict[str, Any]:
        """Create a server behind the API's back (an orphan), e.g. for sweep tests."""
        return self._call(
            "POST",
            f"/_sim/providers/{provider}/servers",
            {"name": name, "metadata": metadata or {}, "status": status},
        )

    # ---- clients ----------------------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """Environment for `openstack` CLI / SDK processes using the written clouds.yaml."""
        return {**os.environ, "OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml)}

    def connect(self, cloud: str = "sim-1", **kwargs: Any) -> Any:
        """An `openstack.connection.Connection` to one provider (kwargs e.g. api_timeout=2)."""
        import openstack

        config = self.clouds[cloud]
        # No yaml/env loading: the caller's OS_* variables must not leak into a simulated cloud.
        return openstack.connect(
            auth=dict(config["auth"]),
            region_name=config["region_name"],
            interface=config["interface"],
            identity_api_version="3",
            load_yaml_config=False,
            load_envvars=False,
            **kwargs,
        )
