"""A small client of the HTTPS API for scripts and terminals.

    export OMS_URL=http://127.0.0.1:8080 OMS_API_TOKEN=…
    python -m cli capacity
    python -m cli providers
    python -m cli request create --count 100 --image ubuntu --min-vcpus 1 --min-ram-mb 1024 --wait
    python -m cli request get r-…  |  python -m cli request delete r-… --wait
    python -m cli ips r-…          # one address per line, for ssh loops

Everything goes through the API (never the database), so the CLI works the same against the
local stack and a deployed stack."""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

FINAL = {"READY", "PARTIAL", "FAILED", "DELETED", "EXPIRED"}
console = Console()


class ApiError(Exception):
    pass


def client(args: argparse.Namespace) -> httpx.Client:
    if not args.token:
        raise ApiError("no token: set OMS_API_TOKEN or pass --token")
    return httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.token}"}, timeout=60)


def call(api: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    response = api.request(method, path, **kwargs)
    if response.status_code >= 400:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        raise ApiError(f"{method} {path}: {response.status_code} {message}")
    return response.json()


def show_capacity(api: httpx.Client, args: argparse.Namespace) -> None:
    body = call(api, "GET", "/v1/capacity")
    table = Table("provider", "health", "used", "reserved", "free", "max", title="Capacity")
    for c in body["items"]:
        table.add_row(c["provider"], c["health"]["state"], *(str(c[k]) for k in ("used", "reserved", "free", "max")))
    table.add_row("total", "", *(str(body["total"][k]) for k in ("used", "reserved", "free", "max")))
    console.print(table)


def show_providers(api: httpx.Client, args: argparse.Namespace) -> None:
    table = Table("name", "enabled", "limit", "flavors", "images", "health", title="Providers")
    for p in call(api, "GET", "/v1/providers")["items"]:
        table.add_row(
            p["name"], str(p["enabled"]), str(p["nova_max_instances"]), str(len(p["flavors"])),
            ", ".join(f"{k}→{v}" for k, v in p["image_aliases"].items()), p["health"]["state"],
        )  # fmt: skip
    console.print(table)


def show_request(body: dict[str, Any]) -> None:
    console.print(f"[bold]{body['id']}[/bold] {body['status']} {body['counts']}")
    table = Table("instance", "provider", "status", "ip", "expires_at", "last attempt")
    for i in body.get("instances") or []:
        last = i["attempts"][-1] if i["attempts"] else None
        note = f"{last['provider']}: {last['error_class']}" if last else ""
        table.add_row(i["id"], i["provider"] or "", i["status"], i["ip"] or "", i["expires_at"] or "", note)
    console.print(table)


def wait(api: httpx.Client, request_id: str, statuses: set[str]) -> dict[str, Any]:
    """Follow a request with a progress bar until it reaches one of `statuses`."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(request_id, total=None)
        while True:
            body = call(api, "GET", f"/v1/requests/{request_id}")
            settled = sum(n for status, n in body["counts"].items() if status in ("ACTIVE", "FAILED", "DELETED"))
            progress.update(task, total=body["count"], completed=settled, description=f"{request_id} {body['status']}")
            if body["status"] in statuses:
                return body
            time.sleep(1)


def create_request(api: httpx.Client, args: argparse.Namespace) -> None:
    order = {
        "count": args.count,
        "image": args.image,
        "lifetime_minutes": args.lifetime,
        "placement": args.placement,
        **{k: v for k in ("flavor", "min_vcpus", "min_ram_mb") if (v := getattr(args, k))},
        **({"providers": args.providers} if args.providers else {}),
        **({"public_key": Path(args.public_key).read_text().strip()} if args.public_key else {}),
        **({"dry_run": True} if args.dry_run else {}),
    }
    body = call(api, "POST", "/v1/requests", json=order, headers={"Idempotency-Key": str(uuid.uuid4())})
    if args.dry_run:
        console.print_json(json.dumps(body))
        return
    console.print(f"request [bold]{body['id']}[/bold] {body['status']}")
    if args.wait:
        show_request(wait(api, body["id"], FINAL))


def get_request(api: httpx.Client, args: argparse.Namespace) -> None:
    show_request(call(api, "GET", f"/v1/requests/{args.id}"))


def delete_request(api: httpx.Client, args: argparse.Namespace) -> None:
    body = call(api, "DELETE", f"/v1/requests/{args.id}")
    console.print(f"request [bold]{body['id']}[/bold] {body['status']}")
    if args.wait:
        show_request(wait(api, args.id, {"DELETED", "EXPIRED"}))


def print_ips(api: httpx.Client, args: argparse.Namespace) -> None:
    for i in call(api, "GET", f"/v1/requests/{args.id}")["instances"]:
        if i["status"] == "ACTIVE" and i["ip"]:
            print(i["ip"])


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="oms", description="OpenMultiStack command line")
    root.add_argument("--url", default=os.environ.get("OMS_URL", "http://127.0.0.1:8080"))
    root.add_argument("--token", default=os.environ.get("OMS_API_TOKEN"))
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("capacity", help="per provider: used, reserved, free, health").set_defaults(run=show_capacity)
    commands.add_parser("providers", help="registered provider accounts").set_defaults(run=show_providers)
    ips = commands.add_parser("ips", help="addresses of a request's ACTIVE instances, one per line")
    ips.add_argument("id")
    ips.set_defaults(run=print_ips)
    request = commands.add_parser("request", help="create, get or delete a request").add_subparsers(
        dest="action", required=True
    )
    create = request.add_parser("create")
    create.add_argument("--count", type=int, required=True)
    create.add_argument("--image", required=True)
    create.add_argument("--flavor")
    create.add_argument("--min-vcpus", type=int)
    create.add_argument("--min-ram-mb", type=int)
    create.add_argument("--lifetime", type=int, default=60, help="minutes (1-60)")
    create.add_argument("--placement", choices=("spread", "pack"), default="spread")
    create.add_argument("--providers", nargs="*")
    create.add_argument("--public-key", help="path of an OpenSSH public key file")
    create.add_argument("--dry-run", action="store_true", help="show the placement plan only")
    create.add_argument("--wait", action="store_true", help="follow it until READY/PARTIAL/FAILED")
    create.set_defaults(run=create_request)
    get = request.add_parser("get")
    get.add_argument("id")
    get.set_defaults(run=get_request)
    delete = request.add_parser("delete")
    delete.add_argument("id")
    delete.add_argument("--wait", action="store_true")
    delete.set_defaults(run=delete_request)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        with client(args) as api:
            args.run(api, args)
    except (ApiError, httpx.HTTPError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 1
    return 0
