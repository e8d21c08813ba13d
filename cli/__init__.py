"""`oms` — the OpenMultiStack command line (python -m cli)."""
