"""Static per-provider inventory of the simulator: flavors, images and networks.

Real providers name the same things differently (OVH `s1-4`, devstack `m1.medium`, others `2C-4GB`;
"Ubuntu 22.04" vs "ubuntu-22.04-x86_64"), so each simulated provider gets one of a few *styles*,
cycling with its index. Every style offers an Ubuntu and a Debian image and flavors covering
>=1 vCPU/1 GB, >=2/4 GB and >=4/8 GB. Ids are uuid5-derived so they are stable across runs and seeds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

_NS = uuid.UUID("6c0d4c55-6e0f-4c1b-9a51-5b1d1c0f5e11")


def stable_id(*parts: object) -> str:
    """A UUID that only depends on `parts` (same provider + name -> same id every run)."""
    return str(uuid.uuid5(_NS, ":".join(map(str, parts))))


@dataclass(frozen=True)
class Flavor:
    id: str
    name: str
    vcpus: int
    ram: int  # MiB
    disk: int  # GiB


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    os_distro: str
    os_version: str
    min_disk: int = 0


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    subnet_id: str
    cidr: str


@dataclass(frozen=True)
class Style:
    flavor_ids: str  # "numeric" (devstack 1,2,3…), "uuid" or "name" (id == name, some providers do that)
    flavors: tuple[tuple[str, int, int, int], ...]  # name, vcpus, ram MiB, disk GiB
    images: tuple[tuple[str, str, str], ...]  # name, os_distro, os_version
    networks: tuple[str, str]  # odd providers get the first only, even ones both


STYLES: tuple[Style, ...] = (
    Style(  # devstack / classic OpenStack
        "numeric",
        (
            ("m1.tiny", 1, 512, 1),
            ("m1.small", 1, 2048, 20),
            ("m1.medium", 2, 4096, 40),
            ("m1.large", 4, 8192, 80),
        ),
        (
            ("Ubuntu 22.04", "ubuntu", "22.04"),
            ("Debian 12", "debian", "12"),
            ("CirrOS 0.6.2", "cirros", "0.6.2"),
        ),
        ("private", "shared"),
    ),
    Style(  # OVH-ish public cloud
        "uuid",
        (
            ("s1-2", 1, 2048, 10),
            ("s1-4", 1, 4096, 20),
            ("s1-8", 2, 8192, 40),
            ("b2-7", 2, 7168, 50),
            ("b2-15", 4, 15360, 100),
        ),
        (("ubuntu-22.04-x86_64", "ubuntu", "22.04"), ("debian-12-genericcloud-amd64", "debian", "12")),
        ("Ext-Net", "private-vrack"),
    ),
    Style(  # "vCPU-RAM" naming, ids equal to names
        "name",
        (("1C-1GB", 1, 1024, 10), ("1C-2GB", 1, 2048, 20), ("2C-4GB", 2, 4096, 40), ("4C-8GB", 4, 8192, 80)),
        (
            ("Ubuntu-Jammy-Server", "ubuntu", "22.04"),
            ("Debian-Bookworm", "debian", "12"),
            ("Rocky-9", "rocky", "9"),
        ),
        ("public", "internal"),
    ),
)


def inventory(provider: str, index: int) -> tuple[list[Flavor], list[Image], list[Network]]:
    """Flavors, images and networks of the provider with 1-based `index`."""
    style = STYLES[(index - 1) % len(STYLES)]
    flavors = []
    for n, (name, vcpus, ram, disk) in enumerate(style.flavors, start=1):
        fid = {"numeric": str(n), "uuid": stable_id(provider, "flavor", name), "name": name}[style.flavor_ids]
        flavors.append(Flavor(fid, name, vcpus, ram, disk))
    images = [
        Image(stable_id(provider, "image", name), name, distro, version, min_disk=1)
        for name, distro, version in style.images
    ]
    count = 2 if index % 2 == 0 else 1
    networks = [
        Network(
            stable_id(provider, "net", name),
            name,
            stable_id(provider, "subnet", name),
            f"10.{index % 256}.{k * 16}.0/20",
        )
        for k, name in enumerate(style.networks[:count])
    ]
    return flavors, images, networks
