"""The limit: a plain aiohttp server whose handler does no work, run as its own process.

python bench/noop_server.py PORT
"""

from __future__ import annotations

import sys

from aiohttp import web

_BODY = {"meta": {"beaconId": "noop", "apiVersion": "v2.0.0"}, "responseSummary": {"exists": True}}


async def handler(request: web.Request) -> web.Response:
    return web.json_response(_BODY)


def main() -> None:
    app = web.Application()
    app.router.add_get("/g_variants", handler)
    app.router.add_get("/info", handler)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)


if __name__ == "__main__":
    main()
