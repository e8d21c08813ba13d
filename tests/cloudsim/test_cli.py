"""The standard `openstack` CLI against the simulator (each call is a ~1 s subprocess, so one test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from local.cloudsim.runner import CloudSim

OPENSTACK = str(Path(sys.executable).with_name("openstack"))


def test_openstack_cli_end_to_end() -> None:
    """GIVEN a simulator (instant boots: the CLI's --wait polls every 5 s) and its clouds.yaml
    WHEN the openstack CLI creates, lists, shows and deletes a server and lists flavors/images/networks/limits
    THEN every command succeeds and shows what the simulator holds."""
    with CloudSim(providers=2, quota=7, boot_seconds=0) as cloudsim:

        def start(*args: str, output: tuple[str, ...] = ("-f", "json")) -> subprocess.Popen[str]:
            cmd = [OPENSTACK, "--os-cloud", "sim-1", *args, *output]
            return subprocess.Popen(cmd, env=cloudsim.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def result(proc: subprocess.Popen[str]) -> object:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            return json.loads(out) if out.strip() else None

        def run(*args: str, output: tuple[str, ...] = ("-f", "json")) -> object:
            return result(start(*args, output=output))

        # Read-only listings run concurrently with the server lifecycle to keep the test short.
        listings = {
            name: start(*args)
            for name, args in {
                "flavors": ("flavor", "list"),
                "images": ("image", "list"),
                "networks": ("network", "list"),
            }.items()
        }
        created = run(
            "server",
            "create",
            "--wait",
            "--image",
            "Ubuntu 22.04",
            "--flavor",
            "m1.small",
            "--network",
            "private",
            "cli-vm",
        )
        assert created["status"] == "ACTIVE" and created["name"] == "cli-vm"
        inspect = {
            name: start(*args)
            for name, args in {
                "limits": ("limits", "show", "--absolute"),
                "list": ("server", "list"),
                "show": ("server", "show", "cli-vm"),
            }.items()
        }
        limits = {row["Name"]: row["Value"] for row in result(inspect["limits"])}
        assert (limits["max_total_instances"], limits["total_instances_used"]) == (7, 1)
        [row] = result(inspect["list"])
        assert (row["Name"], row["Status"], row["Image"], row["Flavor"]) == (
            "cli-vm",
            "ACTIVE",
            "Ubuntu 22.04",
            "m1.small",
        )
        shown = result(inspect["show"])
        assert shown["id"] == created["id"] and "private" in shown["addresses"]
        run("server", "delete", "--wait", "cli-vm", output=())
        assert cloudsim.provider_state("sim-1")["servers"] == []

        listed = {name: [row["Name"] for row in result(proc)] for name, proc in listings.items()}
        assert listed == {
            "flavors": ["m1.tiny", "m1.small", "m1.medium", "m1.large"],
            "images": ["CirrOS 0.6.2", "Debian 12", "Ubuntu 22.04"],
            "networks": ["private"],
        }
