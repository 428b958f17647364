"""Fold the bench tenant's loaded records into usage rollups, as the beat task would.

``GET /v1/usage`` reads rollups plus the records past the rollup watermark; right after a
bulk load everything is past it, so the rollups are brought up to date first (and the time
that takes is reported). Run with the gateway's environment:
``python -m bench.usage_rollup_catchup --tenant tn_…``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", required=True)
    args = parser.parse_args()
    import django

    django.setup()
    try:
        from analytics.services import usage_rollup
    except ImportError:
        print(json.dumps({"available": False}))
        return
    started = time.perf_counter()
    watermark = usage_rollup(tenant_id=args.tenant)
    print(json.dumps({"available": True, "seconds": round(time.perf_counter() - started, 1), "watermark": watermark}))


if __name__ == "__main__":
    main()
