"""Run mongoeco's MongoDB-wire-compatible server (a test stand-in, not mongod).

    .venv-mongoeco/bin/python scripts/mongoeco_server.py [--port N] [--path FILE]

mongoeco needs Python >= 3.13, so this runs in its own virtualenv (made by
`scripts/mongoeco_venv.sh`), never in Tracer's. It prints one line, `ready PORT`, once it
accepts connections, and stops cleanly on SIGTERM or SIGINT. With `--path` the data lives
in a SQLite file and survives a restart (the store-down tests need that); without it, in
memory.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys


async def serve(host: str, port: int, path: str | None) -> None:
    from mongoeco.wire import AsyncMongoEcoProxyServer

    # Import only the engine in use: mongoeco's SQLite engine alone takes seconds to load.
    if path:
        from mongoeco.engines.sqlite import SQLiteEngine

        engine = SQLiteEngine(path)
    else:
        from mongoeco.engines.memory import MemoryEngine

        engine = MemoryEngine()
    server = AsyncMongoEcoProxyServer(engine=engine, host=host, port=port)
    address = await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"ready {address.port}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--path", help="SQLite file for the data (default: in memory)")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
