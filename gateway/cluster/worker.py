"""A worker of `fleetgate serve --workers N`: a node of the cluster that serves on the
sockets its supervisor bound (gateway/cluster/supervisor.py), until SIGTERM or SIGINT,
or until the supervisor is gone."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket

import trio

from gateway.app import run_gateway
from gateway.cluster.inherited import SERVING, Inherited
from gateway.config import Config

log = logging.getLogger(__name__)


async def run_worker(config: Config, inherited: Inherited, lifeline: socket.socket) -> None:
    supervisor = trio.SocketStream(trio.socket.from_stdlib_socket(lifeline))
    # Every stop signal is taken until the gateway has stopped: under systemd each process
    # of the service gets one, and the supervisor sends its own; a second one must neither
    # cut the shutdown short nor be raised again once the receiver closes.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            gateway = trio.CancelScope()
            nursery.start_soon(_stop_on_signal, signals, gateway)
            with gateway:
                async with trio.open_nursery() as serving:
                    await serving.start(run_gateway, config, inherited)
                    serving.start_soon(_outlive, supervisor, gateway)
                    with contextlib.suppress(trio.BrokenResourceError):  # gone: _outlive sees it
                        await supervisor.send_all(SERVING)
            nursery.cancel_scope.cancel()


async def _stop_on_signal(signals, gateway: trio.CancelScope) -> None:
    async for signum in signals:
        if not gateway.cancel_called:
            log.info("%s received: shutting down", signal.Signals(signum).name)
            gateway.cancel()


async def _outlive(supervisor: trio.SocketStream, gateway: trio.CancelScope) -> None:
    """Stop when the supervisor's end of the lifeline closes: no worker outlives it."""
    try:
        while await supervisor.receive_some():
            pass
    except trio.BrokenResourceError:
        pass
    log.warning("the supervisor is gone: shutting down")
    gateway.cancel()
