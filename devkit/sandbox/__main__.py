"""Run the vendor sandbox on its own: ``python -m devkit.sandbox [--port N] [--ready-after S] [--set V.ATTR=N]``.

``--set <vendor>.<attribute>=<value>`` (a click log's size, say) sets a vendor app's class attribute (an existing one, of
its type) on a subclass for this process only: how a bench sizes the synthetic data."""

from __future__ import annotations

import argparse
import signal
import threading

from devkit.sandbox.server import Sandbox
from workers.vendors.registry import CATALOGUE


def tuned(apps: tuple[type, ...], settings: list[str]) -> tuple[type, ...]:
    """``apps`` with each ``vendor.attr=value`` of ``settings`` set on a subclass of that vendor's app."""
    by_name = {app.name: app for app in apps}  # type: ignore[attr-defined]
    attrs: dict[str, dict[str, object]] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        vendor, _, attr = key.partition(".")
        if not sep or vendor not in by_name or not attr or attr.startswith("_") or not hasattr(by_name[vendor], attr):
            raise SystemExit(f"--set {item!r}: expected VENDOR.ATTR=VALUE, an existing attribute of "
                             f"one of {', '.join(sorted(by_name))}")
        current = getattr(by_name[vendor], attr)
        if callable(current) or not isinstance(current, (int, float, str)) or isinstance(current, bool):
            raise SystemExit(f"--set {item!r}: {attr} is not a number or a string")
        attrs.setdefault(vendor, {})[attr] = type(current)(value)
    return tuple(type(app.__name__, (app,), attrs[app.name]) if app.name in attrs else app  # type: ignore[attr-defined]
                 for app in apps)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devkit.sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--ready-after", type=float, default=3.0, metavar="S", help="seconds until an export is ready")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic data")
    parser.add_argument("--set", action="append", default=[], metavar="VENDOR.ATTR=VALUE",
                        help="set a vendor app's attribute, e.g. <vendor>.clicks_per_day=125000; repeatable")
    args = parser.parse_args(argv)
    apps = tuned(tuple(CATALOGUE.sandbox_apps), args.set)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with Sandbox(port=args.port, ready_after=args.ready_after, seed=args.seed, apps=apps) as sandbox:
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
