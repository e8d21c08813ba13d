"""Command line entry point: `python -m local.cloudsim --providers N --quota Q --boot-seconds S --port P
--clouds-yaml FILE [--seed 0] [--token-ttl 3600] [--fault sim-2:maintenance=true ...]`.

Binds the socket itself (so `--port 0` yields a known port before the clouds.yaml is written), then
serves with uvicorn and prints exactly one `cloudsim ready: http://127.0.0.1:P` line once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from local.cloudsim.app import Sim, create_app
from local.cloudsim.model import Provider, make_providers, parse_fault_args


def clouds_config(url: str, providers: dict[str, Provider]) -> dict[str, Any]:
    """clouds.yaml content: one cloud per provider, named like the provider."""
    clouds = {}
    for name, p in providers.items():
        c = p.creds
        clouds[name] = {
            "auth": {
                "auth_url": f"{url}/{name}/identity/v3",
                "username": c.username,
                "password": c.password,
                "project_name": c.project_name,
                "user_domain_name": c.domain_name,
                "project_domain_name": c.domain_name,
            },
            "region_name": p.region,
            "interface": "public",
            "identity_api_version": 3,
        }
    return {"clouds": clouds}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m local.cloudsim", description=__doc__.split("\n\n")[0])
    ap.add_argument("--providers", type=int, default=3)
    ap.add_argument("--quota", type=int, default=20, help="instances per provider (cores x4, RAM x8192 MB)")
    ap.add_argument("--boot-seconds", type=float, default=10.0)
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--clouds-yaml", type=Path, help="where to write the clouds.yaml (not written if omitted)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--token-ttl", type=float, default=3600.0)
    ap.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="PROVIDER:KEY=VALUE",
        help="initial fault, e.g. sim-2:maintenance=true or sim-1:boot_error_rate=0.3",
    )
    return ap.parse_args(argv)


async def serve(server: uvicorn.Server, sock: socket.socket, url: str) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        print(f"cloudsim ready: {url}", flush=True)
    await task


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    providers = make_providers(args.providers, args.quota, args.boot_seconds, args.seed, args.token_ttl)
    try:
        for name, faults in parse_fault_args(args.fault).items():
            if name not in providers:
                raise ValueError(f"--fault names unknown provider {name}")
            providers[name].set_faults(faults)
    except ValueError as e:
        print(f"cloudsim: {e}", file=sys.stderr)
        return 2
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP,
    # and without it every keep-alive request waits ~40 ms for Nagle + delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    url = f"http://{args.host}:{sock.getsockname()[1]}"
    if args.clouds_yaml:
        args.clouds_yaml.parent.mkdir(parents=True, exist_ok=True)
        args.clouds_yaml.write_text(yaml.safe_dump(clouds_config(url, providers), sort_keys=False))
    # Hung calls must not keep a SIGTERM waiting forever, hence the short graceful-shutdown timeout.
    config = uvicorn.Config(
        create_app(Sim(providers)),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        backlog=1024,
    )
    asyncio.run(serve(uvicorn.Server(config), sock, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
