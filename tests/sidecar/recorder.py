#!/usr/bin/env python3
"""A backend that only records: every byte it receives, from every
connection, is appended to LOG. The edge tests read it to prove that bytes
the edge refused never reached a backend. It answers nothing.
Usage: recorder.py HOST:PORT LOG"""
import asyncio
import sys


async def main():
    host, port = sys.argv[1].rsplit(":", 1)
    log = open(sys.argv[2], "ab", buffering=0)

    async def handle(reader, writer):
        while True:
            data = await reader.read(65536)
            if not data:
                break
            log.write(data)
        writer.close()

    server = await asyncio.start_server(handle, host, int(port))
    async with server:
        await server.serve_forever()


asyncio.run(main())
