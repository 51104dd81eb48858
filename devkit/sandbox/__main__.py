"""Run the vendor sandbox on its own: ``python -m devkit.sandbox [--port N] [--ready-after S]``."""

from __future__ import annotations

import argparse
import signal
import threading

from devkit.sandbox.server import Sandbox
from workers.vendors.registry import CATALOGUE


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devkit.sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--ready-after", type=float, default=3.0, metavar="S", help="seconds until an export is ready")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic data")
    args = parser.parse_args(argv)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with Sandbox(port=args.port, ready_after=args.ready_after, seed=args.seed, apps=CATALOGUE.sandbox_apps) as sandbox:
        print(f"vendor sandbox on {sandbox.url} (token {Sandbox.TOKEN!r}, ready after {args.ready_after:g} s)")
        for vendor in sandbox.vendors:
            print(f"  {vendor}: {sandbox.base_url(vendor)}")
        print(f"  controls: {sandbox.url}/_sandbox/{{faults,config,stats,reset}}", flush=True)
        try:
            done.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
