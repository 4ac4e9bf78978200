"""``python -m newsdesk.demo [--host H] [--port P]``: serve the demo news world until Ctrl-C."""

from __future__ import annotations

import argparse

from newsdesk.demo.server import LOOPBACK, serve_forever


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m newsdesk.demo", description=__doc__)
    parser.add_argument("--host", default=LOOPBACK, help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    args = parser.parse_args(argv)
    serve_forever(args.host, args.port)


if __name__ == "__main__":
    main()
