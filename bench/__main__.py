"""Run every benchmark: `python -m bench [NAME ...]` imports each bench/bench_*.py (or only those
whose name contains one of NAME) and calls its `main()` with no arguments, so each uses its defaults."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def discover(filters: list[str]) -> list[str]:
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    return [n for n in names if not filters or any(f in n for f in filters)]


def main() -> int:
    filters = sys.argv[1:]
    failed: list[str] = []
    for name in discover(filters):
        print(f"=== {name} ===", flush=True)
        started = time.perf_counter()
        sys.argv = [f"bench/{name}.py"]  # each benchmark parses its own (default) arguments
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception as error:  # one broken benchmark must not hide the others' figures
            failed.append(name)
            print(f"{name} failed: {type(error).__name__}: {error}", flush=True)
        print(f"=== {name}: {time.perf_counter() - started:.1f} s ===", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
