"""OpenStack simulator: N independent fake provider accounts (Keystone, Nova, Glance, Neutron subset)
on one local port, spoken to by unmodified openstacksdk / `openstack` CLI, with injectable faults.

Run `python -m local.cloudsim --help`; from Python use `local.cloudsim.runner.CloudSim`.
"""
