"""`fleetgate console`: open the door, print its one-time login URL, serve until Ctrl-C."""

from __future__ import annotations

import argparse
import html
import logging
import os
import signal
import sys
import tempfile
import webbrowser
from pathlib import Path

import trio

from gateway.client import AdminClient, ClientError, socket_path


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("--socket", help="admin socket (default: $FLEETGATE_SOCKET or fleetgate-data/admin.sock)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--no-browser", action="store_true",
                        help="only print the login URL (a browser is opened where a desktop exists)")
    parser.set_defaults(run=run_console)


def run_console(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except KeyboardInterrupt:  # before the door's own signal handling is in place
        return _stopped(signal.SIGINT)


def _run(args: argparse.Namespace) -> int:
    from gateway.console.door import Door, bind, upstream_client  # web libraries: only for this command

    path = socket_path(args.socket)
    try:
        with AdminClient(path, timeout=10) as client:
            client.get("/health")
    except ClientError as exc:
        print(f"fleetgate: {exc}", file=sys.stderr)
        return 1
    try:
        sock = bind(args.port)
    except OSError as exc:
        print(f"fleetgate: cannot open the console on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    opener = None
    try:
        with sock:
            door = Door(sock.getsockname()[1], upstream_client(path), path)
            print(door.login_url, flush=True)  # the only line on stdout: scripts read it
            if not args.no_browser and _desktop():
                opener = _open_browser(door.login_url)
            return _stopped(trio.run(_serve, door, sock))
    finally:
        if opener is not None:
            opener.unlink(missing_ok=True)


async def _serve(door, sock) -> int:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with door.upstream, trio.open_nursery() as nursery:
            await nursery.start(door.serve, sock)
            signum = await anext(signals)
            nursery.cancel_scope.cancel()
    return signum


def _stopped(signum: int) -> int:
    print("fleetgate: console closed; its login URL no longer works", file=sys.stderr)
    return 128 + signum


def _desktop() -> bool:
    return sys.platform == "darwin" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _open_browser(url: str) -> Path:
    """Open a browser on a file that leads to ``url``; the file, to remove at the end.

    A browser's command line is readable by every local user (/proc/PID/cmdline), and the
    login URL lets in whoever uses it first: it goes in a file only we can read instead.
    """
    fd, name = tempfile.mkstemp(prefix="fleetgate-console-", suffix=".html")  # mode 0600
    with os.fdopen(fd, "w") as file:
        target = html.escape(url, quote=True)
        file.write(f'<!doctype html><meta http-equiv="refresh" content="0;url={target}">'
                   f'<a href="{target}">fleetgate console</a>\n')
    # A browser started from here inherits our stdout, and some print to it: give it
    # stderr instead, so the login URL stays the only line on stdout.
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        opened = webbrowser.open(Path(name).as_uri())
    except webbrowser.Error:
        opened = False
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    if not opened:
        print("fleetgate: no browser could be started; open the URL above in one", file=sys.stderr)
    return Path(name)
