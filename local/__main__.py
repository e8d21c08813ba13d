"""`python -m local` — start the whole system on 127.0.0.1 (what `make run` does)."""

from __future__ import annotations

import signal
import threading

from local.stack import LocalStack, StackConfig


def main() -> None:
    config = StackConfig()
    stack = LocalStack(config).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(f"OpenMultiStack ready: {stack.url} token={config.token}", flush=True)
    if stack.sim:
        print(f"  simulator: {stack.sim.url}  clouds.yaml: {stack.sim.clouds_yaml}", flush=True)
    print("  Ctrl-C stops everything.", flush=True)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        print("OpenMultiStack stopped.", flush=True)


if __name__ == "__main__":
    main()
