"""An application backend for Switchboard's HTTP proxy, as an existing Centrifugo v5 backend would be
written: aiohttp handlers answering Centrifugo's proxy JSON. Run as its own process by conftest.py:

    python backend.py PORT

The tutorial's login sets a `session` cookie; the connect proxy gets it (proxy_http_headers) and
answers who the user is. GET /_requests returns every proxy request received (path, headers, JSON).
"""

import asyncio
import sys
import time

from aiohttp import web

SESSIONS = {"alice-session": "alice", "bob-session": "bob"}
received = []


def record(request, body):
    received.append({"path": request.path, "headers": dict(request.headers), "body": body})


async def connect(request):
    body = await request.json()
    record(request, body)
    session = request.cookies.get("session", "")
    if session == "slow":
        await asyncio.sleep(3)
    if session == "kick":
        return web.json_response({"disconnect": {"code": 4501, "reason": "banned"}})
    if session == "bad-code":
        return web.json_response({"error": {"code": 42, "message": "not a client error code"}})
    if session == "expiring":
        return web.json_response({"result": {"user": "erin", "expire_at": int(time.time()) + 2}})
    user = SESSIONS.get(session)
    if user is None:
        return web.json_response({"error": {"code": 1001, "message": "no valid session"}})
    return web.json_response({"result": {"user": user, "info": {"name": user.title()}, "data": {"welcome": user}}})


async def refresh(request):
    body = await request.json()
    record(request, body)
    return web.json_response({"result": {"expire_at": int(time.time()) + 60, "info": {"refreshed": True}}})


async def subscribe(request):
    body = await request.json()
    record(request, body)
    if body.get("channel", "").endswith(":secret"):
        return web.json_response({"error": {"code": 403, "message": "not your room"}})
    if "expiring" in body.get("channel", ""):
        return web.json_response({"result": {"expire_at": int(time.time()) + 2}})
    return web.json_response({"result": {"data": {"motd": "hello " + body.get("user", "")}}})


async def sub_refresh(request):
    body = await request.json()
    record(request, body)
    return web.json_response({"result": {"expire_at": int(time.time()) + 60}})


async def publish(request):
    body = await request.json()
    record(request, body)
    data = body.get("data") or {}
    if data.get("text") == "forbidden":
        return web.json_response({"error": {"code": 1403, "message": "mind your language"}})
    return web.json_response({"result": {"data": {"text": str(data.get("text", "")).upper(), "by": body.get("user")}}})


async def rpc(request):
    body = await request.json()
    record(request, body)
    method, data = body.get("method"), body.get("data") or {}
    if method == "sum":
        return web.json_response({"result": {"data": {"sum": data.get("a", 0) + data.get("b", 0)}}})
    if method == "whoami":
        return web.json_response({"result": {"data": {"user": body.get("user")}}})
    if method == "fail":
        return web.json_response({"error": {"code": 1500, "message": "it failed", "temporary": True}})
    if method == "kick":
        return web.json_response({"disconnect": {"code": 4502, "reason": "kicked by rpc"}})
    if method == "slow":
        await asyncio.sleep(3)
        return web.json_response({"result": {}})
    if method == "garbage":
        return web.Response(text="<html>oops</html>", content_type="text/html")
    return web.json_response({"error": {"code": 404, "message": "unknown method"}})


async def requests(_request):
    return web.json_response(received)


def main():
    port = int(sys.argv[1])
    app = web.Application()
    app.router.add_post("/centrifugo/connect", connect)
    app.router.add_post("/centrifugo/refresh", refresh)
    app.router.add_post("/centrifugo/subscribe", subscribe)
    app.router.add_post("/centrifugo/publish", publish)
    app.router.add_post("/centrifugo/sub_refresh", sub_refresh)
    app.router.add_post("/centrifugo/rpc", rpc)
    app.router.add_get("/_requests", requests)
    web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=True)


if __name__ == "__main__":
    main()
