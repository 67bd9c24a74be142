#!/usr/bin/python3
"""Round-trip check with Debian's python3-websockets (10.x) as the client.

    ws_roundtrip.py URL SIZE CLOSE_CODE

Connects with permessage-deflate, sends SIZE random bytes as a binary message
and SIZE random ASCII characters as a text message, checks that the echoes
hash the same, then closes with CLOSE_CODE. Prints one JSON line with the
hashes and the negotiated extensions.
"""
import asyncio
import hashlib
import json
import os
import random
import string
import sys

import websockets


async def run(url, size, code):
    async with websockets.connect(url, max_size=None, ping_interval=None, open_timeout=5, close_timeout=5) as ws:
        binary = os.urandom(size)
        text = "".join(random.choices(string.ascii_letters + string.digits + " éü", k=size))
        await ws.send(binary)
        echo_binary = await asyncio.wait_for(ws.recv(), 10)
        await ws.send(text)
        echo_text = await asyncio.wait_for(ws.recv(), 10)
        result = {
            "extensions": [e.name for e in ws.extensions],
            "binary": [hashlib.sha256(binary).hexdigest(), hashlib.sha256(echo_binary).hexdigest()],
            "text": [hashlib.sha256(text.encode()).hexdigest(), hashlib.sha256(echo_text.encode()).hexdigest()],
        }
        await ws.close(code=code, reason="done")
        return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))), flush=True)
