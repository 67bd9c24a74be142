#!/usr/bin/python3
"""A WebSocket echo server built on Debian's python3-websockets (10.x), an
implementation independent of `ws`, used as the agent's upstream in tests.

    ws_server.py          listen on 127.0.0.1, port 0; print {"port": N} once listening

Echoes every message. Text commands:
    "!close CODE"   the server closes with CODE
    "!info"         answers JSON with the negotiated subprotocol, extensions, path and some headers
Subprotocols offered: chat, superchat. permessage-deflate is on (the library default).
"""
import asyncio
import json

import websockets


async def handler(ws, path):
    async for message in ws:
        if isinstance(message, str) and message.startswith("!close "):
            await ws.close(code=int(message.split()[1]), reason="server")
            return
        if message == "!info":
            await ws.send(json.dumps({
                "subprotocol": ws.subprotocol,
                "extensions": [e.name for e in ws.extensions],
                "path": path,
                "cookie": ws.request_headers.get("Cookie"),
                "forwardedFor": ws.request_headers.get("X-Forwarded-For"),
            }))
            continue
        await ws.send(message)


async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=["chat", "superchat"],
                                max_size=None, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"port": port}), flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
