#!/usr/bin/python3
"""A WebSocket client built on Debian's python3-websockets (10.x), an
implementation independent of `ws`, for the end-to-end tests.

Run with /usr/bin/python3 (the Debian interpreter that has the module):

    ws_client.py URL close CODE      close with CODE, wait for the closing handshake
    ws_client.py URL empty           send a close frame with no payload (1005)
    ws_client.py URL drop            end the TCP connection without a close frame (1006)
    ws_client.py URL wait [MESSAGE]  send MESSAGE (e.g. "!close 4001"), wait for the server to close

Prints one JSON line: {"mode": ..., "received": <close code the client saw>}.
Exits 1 with a message on stderr when anything fails.
"""
import asyncio
import json
import sys

import websockets
from websockets.frames import Close

TIMEOUT = 5


async def run(url: str, mode: str, arg: str | None) -> dict:
    ws = await websockets.connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, ping_interval=None)
    if mode == "close":
        await ws.close(code=int(arg), reason="bye")
    elif mode == "empty":
        # close() always sends a code; write the frame ourselves with an empty payload.
        await ws.write_close_frame(Close(1005, ""), b"")
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
    elif mode == "drop":
        ws.transport.abort()
        return {"mode": mode, "received": None}
    elif mode == "wait":
        if arg is not None:
            await ws.send(arg)
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    return {"mode": mode, "received": ws.close_code}


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    url, mode = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else None
    try:
        result = asyncio.run(asyncio.wait_for(run(url, mode, arg), 3 * TIMEOUT))
    except Exception as exc:  # report any failure as one line for the test
        print(f"ws_client.py {mode}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    result["version"] = websockets.__version__
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
