"""No traceback on an interrupt, anywhere. Every command that runs long or prompts runs as a
process, its standard input at its end, and is stopped by SIGINT (Ctrl-C): one line on
stderr, exit status 130; at a prompt, Ctrl-C and Ctrl-D are typed on a real terminal.
(`serve` is in test_process.py: SIGINT and SIGTERM shut it down cleanly, exit status 0.)"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
import trio

from simulators.niu_cloud import ACCOUNT_PASSWORD_ENV
from tests.conftest import TEST_TIMEOUT
from tests.gateway.seed import CONCOX_MODEL, niu_account, unit_body
from tests.process import Running, closed_port, fleetgate_command, run_cli
from tests.terminal import CTRL_C, CTRL_D, Terminal


def _one_line_no_traceback(err: str, line: str) -> None:
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == line, err


async def test_simulators_stop_on_ctrl_c_with_their_end_report():
    port = str(await closed_port())  # refused: the units keep trying until they are stopped
    runs = {
        "teltonika": ("--port", port, "--units", "2"),
        "gt06": ("--port", port, "--password", "bench-pw"),
        "jt808": ("--port", port, "--auth-code", "code-{index}"),
        "niu-cloud": ("--port", "0", "--account", "rider@example.com"),
    }
    ready = {name: "units=" for name in runs} | {"niu-cloud": "NIU cloud simulator on http://"}
    results = {}

    async def run(name: str) -> None:
        simulator = await Running.start("simulate", name, *runs[name], env={ACCOUNT_PASSWORD_ENV: "bench-password"})
        await simulator.wait_for(ready[name])
        results[name] = await simulator.stop(signal.SIGINT)

    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            for name in runs:
                nursery.start_soon(run, name)
    for name, (code, out, err) in results.items():
        assert code == 130, (name, out, err)
        report = out.strip().splitlines()[-1]
        assert report.startswith("scooters=" if name == "niu-cloud" else "units="), (name, out)
        _one_line_no_traceback(err, "fleetgate: simulator stopped by SIGINT")


async def test_events_tail_and_console_stop_on_ctrl_c(gateway):
    socket = {"FLEETGATE_SOCKET": str(gateway.config.admin_socket)}
    with trio.fail_after(TEST_TIMEOUT):
        tail = await Running.start("events", "tail", env=socket)
        console = await Running.start("console", "--no-browser", env=socket)
        await tail.wait_for("fleetgate: waiting for new events (Ctrl-C to stop)", "err")
        await console.wait_for("/login/")
        code, out, err = await tail.stop(signal.SIGINT)
        assert code == 130 and out == ""
        _one_line_no_traceback(err, "fleetgate: interrupted")
        code, out, err = await console.stop(signal.SIGINT)
        assert code == 130
        _one_line_no_traceback(err, "fleetgate: console closed; its login URL no longer works")


# Ctrl-C as the gateway comes up, while units connect, and amid the demo's own API calls
# (registering vehicles; the NIU steps, whose requests wait on the cloud).
@pytest.mark.parametrize("at", ["listeners:", "3. Registering", "7. NIU scooters"])
async def test_demo_stops_on_ctrl_c_and_leaves_nothing_behind(at):
    with trio.fail_after(TEST_TIMEOUT * 2):
        demo = await Running.start("demo")
        await demo.wait_for(at)
        code, out, err = await demo.stop(signal.SIGINT)
    assert code == 130, out + err
    _one_line_no_traceback(err, "fleetgate: interrupted")
    data_dir = Path(re.search(r"admin socket (\S+)/admin\.sock", out).group(1))
    assert not data_dir.exists()


async def test_prompts_end_cleanly_on_ctrl_c_ctrl_d_and_end_of_input(gateway, api):
    credentials = (await api.post("/credentials", json=niu_account())).json()
    vehicle = (await api.post("/vehicles", json=unit_body("CONCOX", "353413532150362", CONCOX_MODEL,
                                                          password="unit-pw"))).json()
    prompts = {  # the command, and the words of its prompt
        ("credentials", "add", "--account", "other@example.com"): b"password of NIU account other@example.com: ",
        ("credentials", "rotate", credentials["id"]): b"new password of NIU account rider@example.com: ",
        ("vehicles", "add", "--brand", "jt808", "--unit-id", "013912345678", "--model", "01M8A3J4HQXHE7A2J2G01ZH06Q"):
            b"password of JT808 unit 013912345678: ",
        ("vehicles", "set-password", vehicle["id"]): b"new password of CONCOX unit 353413532150362: ",
    }
    socket = {"FLEETGATE_SOCKET": str(gateway.config.admin_socket)}
    results = {}

    async def at_terminal(command: tuple[str, ...], prompt: bytes, keys: bytes) -> None:
        terminal = await Terminal.run(*command, env=socket)
        await terminal.expect(prompt)
        await terminal.type(keys)
        results[command, keys] = await terminal.finish()

    async def without_input(command: tuple[str, ...]) -> None:
        done = await run_cli(*command, env=socket)
        results[command, b""] = done.returncode, done.stderr.decode()

    with trio.fail_after(TEST_TIMEOUT * 2):
        async with trio.open_nursery() as nursery:
            for command, prompt in prompts.items():
                nursery.start_soon(at_terminal, command, prompt, CTRL_C)
                nursery.start_soon(at_terminal, command, prompt, CTRL_D)
                nursery.start_soon(without_input, command)
    for command in prompts:
        code, shown = results[command, CTRL_C]
        assert code == 130, (command, shown)
        _one_line_no_traceback(shown, "fleetgate: interrupted")
        code, shown = results[command, CTRL_D]
        assert code == 1, (command, shown)
        _one_line_no_traceback(shown, "fleetgate: no input: end of file at the prompt")
        code, err = results[command, b""]
        assert code == 1, (command, err)
        _one_line_no_traceback(err, "fleetgate: expected the secret on standard input")
    # Nothing was changed by any of them.
    assert len((await api.get("/credentials")).json()["items"]) == 1
    assert len((await api.get("/vehicles")).json()["items"]) == 1


async def test_a_closed_pipe_ends_the_output_quietly(gateway):
    # `fleetgate vehicles list | head -1`, with head gone before the list is written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        with trio.fail_after(TEST_TIMEOUT):
            done = await trio.run_process(
                fleetgate_command("vehicles", "list"), stdout=write_end, capture_stderr=True, check=False,
                env={**os.environ, "FLEETGATE_SOCKET": str(gateway.config.admin_socket)})
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert done.stderr.decode() == "fleetgate: standard output was closed\n"
