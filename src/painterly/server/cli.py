"""``painterly serve``: start the web UI (FastAPI + uvicorn) and print its address."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from pathlib import Path

from ..cli.guard import EXIT_FAILURE, EXIT_OK, Parser, command
from ..errors import ConfigError
from ..vgg import MIN_SIZE
from .guard import check_token

DEFAULT_OUTPUT_DIR = "painterly-output"


def build_parser() -> Parser:
    from .params import Limits

    p = Parser(
        prog="painterly serve",
        description="Paint in the browser: a local web page with live progress and a gallery of results.",
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this computer only; 0.0.0.0 opens it to the "
                        "network, then use --token)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR, metavar="DIR",
                   help=f"where results and the gallery are kept (default ./{DEFAULT_OUTPUT_DIR})")
    p.add_argument("--token", help="require this token (8+ characters from A-Z a-z 0-9 . _ ~ -) on every request")
    p.add_argument("--max-size", type=int, default=Limits.max_size, metavar="PX",
                   help=f"largest output long edge a request may ask for (default {Limits.max_size})")
    return p


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, token: str | None) -> str | None:
    """What to tell the user when the server is reachable from other machines (None on loopback)."""
    if is_loopback(host):
        return None
    if token:
        return f"listening on {host}: reachable from other machines, protected by the token"
    return (f"listening on {host}: anyone who can reach this machine can use the server and see the gallery; "
            "add --token to require a password-like token")


def _serve(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        import uvicorn

        from .app import create_app
        from .params import Limits
    except ImportError as e:
        print(f"painterly serve: error: {e.name} is not installed; pip install 'painterly[web]'", file=sys.stderr)
        return EXIT_FAILURE
    _check(args)
    sock = _bind(args.host, args.port)  # an unknown --host or a taken --port fails before any folder is made
    try:
        out = _output_dir(args.output_dir)
        loopback = is_loopback(args.host)
        app = create_app(out, token=args.token, limits=Limits(max_size=args.max_size),
                         allowed_hosts=None if not loopback else {"127.0.0.1", "localhost", "::1", args.host})
    except BaseException:
        sock.close()
        raise
    port = sock.getsockname()[1]
    shown = args.host if args.host not in ("0.0.0.0", "::", "") else socket.gethostname()
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{port}/" + (f"?token={args.token}" if args.token else "")
    warning = exposure_warning(args.host, args.token)
    if warning:
        print(f"painterly serve: warning: {warning}", file=sys.stderr)
    print(f"painterly: open {url} in a browser (Ctrl-C stops); results are kept in {out}", file=sys.stderr)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2, access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: the normal way to stop
        pass
    print("painterly: server stopped", file=sys.stderr)
    return EXIT_OK


main = command(_serve)


def _check(args: argparse.Namespace) -> None:
    """The options that need no system call, checked before the socket and the folder."""
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {args.port}")
    if args.max_size < MIN_SIZE:
        raise ConfigError(f"--max-size must be at least {MIN_SIZE}, got {args.max_size}")
    check_token(args.token)


def _output_dir(path: str) -> Path:
    out = Path(path).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--output-dir {out}: cannot create it ({e.strerror}); choose another folder") from None
    if not out.is_dir():
        raise ConfigError(f"--output-dir {out}: is a file, not a folder")
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"--output-dir {out}: not writable; choose another folder")
    return out.resolve()


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except socket.gaierror as e:
        raise ConfigError(f"--host {host}: unknown address ({e.strerror})") from None
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port") from None
    sock.set_inheritable(True)
    return sock
