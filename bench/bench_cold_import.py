"""Cold import of every function's handler module, each in a fresh interpreter (what a Lambda
cold start pays before the first event), against a baseline measured in the same run: the
Powertools observability imports alone. Also says whether openstacksdk was imported (no handler
imports it at cold start; the OpenStack-facing ones load it on their first call).

    python -m bench cold_import [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import sys, time, json
sys.path[:0] = [{core!r}, {code!r}]
started = time.perf_counter()
{statement}
print(json.dumps({{"seconds": time.perf_counter() - started, "openstack": "openstack" in sys.modules}}))
"""


def measure(code_dir: Path, statement: str, runs: int) -> tuple[float, bool]:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"}
    probe = PROBE.format(core=str(ROOT / "layers" / "core"), code=str(code_dir), statement=statement)
    command = [sys.executable, "-c", probe]
    results = [
        json.loads(subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(r["seconds"] for r in results), any(r["openstack"] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    # The floor every handler here pays: Powertools' Logger, Metrics and Tracer (X-Ray SDK).
    baseline, _ = measure(ROOT, "from aws_lambda_powertools import Logger, Metrics, Tracer; Tracer()", args.runs)
    print(f"baseline (Powertools Logger+Metrics+Tracer alone): {baseline * 1000:.0f} ms")
    for code_dir in sorted((ROOT / "functions").iterdir()):
        if not (code_dir / "app.py").is_file():
            continue
        seconds, openstack = measure(code_dir, "import app", args.runs)
        print(
            f"functions/{code_dir.name:<9} cold import {seconds * 1000:6.0f} ms "
            f"(median of {args.runs}; {seconds / baseline:.2f}x baseline)  "
            f"openstacksdk imported: {'yes' if openstack else 'no'}"
        )


if __name__ == "__main__":
    main()
