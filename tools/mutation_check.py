#!/usr/bin/env python3
"""Does the suite notice when a core promise breaks? Each mutant below breaks one (an ACK
before the commit, a checksum not checked, a secret stored in plain text ...) by a text
substitution in a temporary copy of the tree -- never the working tree -- and runs the tests
that should catch it. A mutant the tests let pass "survives": some promise is untested.

Run by hand before a release, not in CI (a few minutes):

    ./dev mutants                 # every mutant
    ./dev mutants --list          # their names and what each breaks
    ./dev mutants ack-before-commit gt06-crc-not-checked

The copy holds the files git knows and the untracked ones it does not ignore, so uncommitted
work is checked too. First the selected tests must pass on the unchanged copy (otherwise a
failure proves nothing). Exit status: 0 every mutant killed, 1 one survived, 2 a mutant no
longer applies (the code it edits changed: update its text here) or the baseline failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 900  # seconds for one pytest run


@dataclass(frozen=True)
class Edit:
    path: str
    old: str
    new: str


@dataclass(frozen=True)
class Mutant:
    name: str
    breaks: str  # the promise, in a few words
    edits: tuple[Edit, ...]
    tests: tuple[str, ...]  # pytest arguments: node ids, files, -k expressions


def mutant(name: str, breaks: str, edits: list[tuple[str, str, str]], *tests: str) -> Mutant:
    return Mutant(name, breaks, tuple(Edit(*edit) for edit in edits), tests)


SESSIONS, REGISTRY = "gateway/sessions.py", "gateway/registry.py"
T_SESSIONS = "tests/gateway/test_sessions.py"
AT_REST = "tests/gateway/test_secrets_at_rest.py"

MUTANTS = [
    mutant("ack-before-commit", "a unit's records are acknowledged only once committed", [(
        SESSIONS,
        "        self._unacked += 1\n        await self.runtime.store.ingest_then(self._rows(records, raw),"
        " partial(self._committed, ack))",
        "        await self._send(ack)\n        self._unacked += 1\n"
        "        await self.runtime.store.ingest_then(self._rows(records, raw), partial(self._committed, b\"\"))",
    )], f"{T_SESSIONS}::test_ack_waits_for_the_commit"),
    mutant("ack-on-failed-commit", "a failed commit is never acknowledged", [(
        SESSIONS, "        if error is not None:\n            # No ACK", "        if False:\n            # No ACK",
    )], f"{T_SESSIONS}::test_failed_commit_means_no_ack_and_a_closed_connection"),
    mutant("gt06-crc-not-checked", "a GT06 frame with a bad CRC closes the connection", [(
        "drivers/gt06/codec.py", '    return frames.crc_itu(frame[2:-4]) == int.from_bytes(frame[-4:-2], "big")',
        "    return True",
    )], "tests/drivers/test_gt06.py", "-k", "invalid_vector"),
    mutant("teltonika-crc-not-checked", "a Teltonika packet with a bad CRC closes the connection", [(
        "drivers/teltonika/codec.py", "        if sent_crc != crc:", "        if False:",
    )], "tests/drivers/test_teltonika.py", "-k", "invalid_vector"),
    mutant("jt808-check-code-not-checked", "a JT/T 808 frame with a bad check code closes the connection", [(
        "drivers/jt808/codec.py", "        if sent != computed:", "        if False:",
    )], "tests/drivers/test_jt808.py", "-k", "invalid_vector"),
    mutant("duplicate-key-without-content", "distinct records of the same instant are both kept", [(
        "gateway/ingest.py", 'f"{driver.brand}|{unit_id}|{recorded_at}|{raw}"', 'f"{driver.brand}|{unit_id}|{recorded_at}"',
    )], "tests/gateway/test_ingest.py", "tests/gateway/test_state_rules.py"),
    mutant("duplicate-key-with-arrival-time", "a resent record is stored once", [(
        "gateway/ingest.py", 'f"{driver.brand}|{unit_id}|{recorded_at}|{raw}"',
        'f"{driver.brand}|{unit_id}|{recorded_at}|{raw}|{received}"',
    )], "tests/gateway/test_teltonika_e2e.py::test_unit_from_seen_to_commanded_to_removed",
        f"{T_SESSIONS}::test_resent_records_are_stored_once"),
    mutant("unknown-unit-accepted", "a unit in no vehicle is refused", [(
        SESSIONS, "refused\", brand, login.unit_id, self.remote)\n            await self._send(self.codec.send(LoginRejected(",
        "refused\", brand, login.unit_id, self.remote)\n            await self._send(self.codec.send(LoginAccepted(",
    )], f"{T_SESSIONS}::test_unknown_unit_is_rejected_and_seen",
        "tests/gateway/test_gt06_e2e.py::test_unknown_unit_hears_nothing_and_is_hung_up"),
    mutant("gt06-stranger-gets-a-login-reply", "a GT06 unit in no vehicle hears nothing", [(
        "drivers/gt06/codec.py", "            self._transition(Input.REJECT)\n            return b\"\"",
        "            self._transition(Input.REJECT)\n            return event.login.context.echo_frame()",
    )], "tests/gateway/test_gt06_e2e.py::test_unknown_unit_hears_nothing_and_is_hung_up"),
    mutant("jt808-password-not-checked", "a JT/T 808 login with a wrong code is refused", [(
        SESSIONS, "            if not hmac.compare_digest(presented.encode(), expected.encode()):",
        "            if False:",
    )], "tests/gateway/test_jt808_e2e.py"),
    mutant("unit-passwords-in-plain-text", "unit passwords are encrypted at rest", [
        (REGISTRY, 'full["password"] = self.box.encrypt(auth.password, _password_binding(brand.name, unit_id))',
         'full["password"] = auth.password.encode()'),
        (REGISTRY, 'changes = {"password": self.box.encrypt(auth.password, _password_binding(brand.name, row["unit_id"]))}',
         'changes = {"password": auth.password.encode()}'),
        (REGISTRY, 'else self.box.decrypt(blob, _password_binding(row["unit_brand"], row["unit_id"]))',
         "else bytes(blob).decode()"),
        (REGISTRY, 'return "accepted", self.box.decrypt(blob, _password_binding(brand, unit_id))',
         'return "accepted", bytes(blob).decode()'),
    ], AT_REST, "-k", "unit-password"),
    mutant("shared-secrets-in-plain-text", "client secrets and NIU account passwords are encrypted at rest", [
        (REGISTRY, '"client_secret": self.box.encrypt(fields[secret], _secret_binding(credentials_id, kind)),',
         '"client_secret": fields[secret].encode(),'),
        (REGISTRY, 'columns["client_secret"] = self.box.encrypt(changes[secret], _secret_binding(credentials_id, kind))',
         'columns["client_secret"] = changes[secret].encode()'),
        (REGISTRY, "return self.box.decrypt(blob, _secret_binding(credentials_id, kind))", "return bytes(blob).decode()"),
    ], AT_REST, "-k", "niu"),
    # --- more promises
    mutant("late-record-overwrites-state", "an older sample never overwrites a newer value", [(
        "gateway/store/telemetry.py", '" WHERE excluded.recorded_at >= vehicle_state.recorded_at"', '" WHERE 1"',
    )], "tests/gateway/test_state_rules.py"),
    mutant("future-time-moves-state", "a device time far ahead is stored but does not move state", [(
        "gateway/ingest.py", "        if device_time <= horizon:", "        if True:",
    )], "tests/gateway/test_state_rules.py"),
    mutant("no-fix-moves-position", "a position without a valid fix never moves the vehicle", [(
        "drivers/base.py", "    if position is None or not position.valid:", "    if position is None:",
    )], "tests/gateway/test_state_rules.py", "tests/drivers", "-k", "no_fix"),
    mutant("deleted-vehicle-keeps-its-session", "deleting a vehicle closes its unit's session", [(
        "gateway/app.py", 'registry.on_vehicle_removed.append(lambda row: runtime.sessions.close_vehicle(row["id"]))',
        "registry.on_vehicle_removed.append(lambda row: None)",
    )], f"{T_SESSIONS}::test_delete_closes_the_session"),
    mutant("codec12-timeout-keeps-the-session", "a late Codec 12 answer is never taken for the next command", [(
        SESSIONS, "        if not self.driver.correlates_commands:", "        if False:",
    )], f"{T_SESSIONS}::test_command_timeout_then_late_answer_is_never_taken"),
    mutant("command-answer-answered", "a unit's answer to a command is taken without a reply", [(
        SESSIONS, "                self._deliver(event)",
        "                self._deliver(event)\n                await self._send(self.codec.send(Acknowledge(event)))",
    )], "tests/gateway/test_unanswered.py"),
    mutant("jt808-undecoded-answered-ok", "a JT/T 808 frame kept raw is answered 'not supported'", [(
        "drivers/jt808/codec.py", "result = RESULT_UNSUPPORTED if isinstance(target, Undecoded) else RESULT_OK",
        "result = RESULT_OK",
    )], "tests/drivers/test_jt808.py", "-k", "reply"),
    mutant("resume-point-skips-an-event", "a dropped subscriber resumes exactly where it was dropped", [(
        "gateway/admin/routes_events.py", "'resume_after': str(last)", "'resume_after': str(last + 1)",
    )], "tests/gateway/test_events.py", "-k", "dropped_behind"),
    mutant("command-duration-in-seconds", "CommandExecuted says how long the command took, in ms", [(
        "gateway/commands.py",
        "                           round((trio.current_time() - started) * 1000))\n        log.info(",
        "                           round(trio.current_time() - started))\n        log.info(",
    )], "tests/gateway/test_events.py", "-k", "every_change"),
]


def copy_tree(target: Path) -> None:
    """The files git tracks, and the untracked ones it does not ignore, into ``target``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def pytest(tree: Path, tests: tuple[str, ...]) -> tuple[int, str]:
    """Run pytest on ``tests`` in ``tree``, stopping at the first failure: its exit code, and
    the failures (or the summary line)."""
    # The tree first on the path, for the tests and for every process they start: the
    # editable install would otherwise import the working tree.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        run = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return -1, f"no result within {TIMEOUT} s"
    lines = run.stdout.splitlines()
    failed = [line for line in lines if line.startswith(("FAILED ", "ERROR "))]
    return run.returncode, ("; ".join(failed) or (lines[-1] if lines else run.stderr.strip()))[:300]


def apply(tree: Path, edits: tuple[Edit, ...]) -> dict[Path, str] | str:
    """Make ``edits`` in ``tree``: the files' original texts, or why an edit does not apply."""
    originals: dict[Path, str] = {}
    for edit in edits:
        path = tree / edit.path
        text = path.read_text()
        originals.setdefault(path, text)
        count = text.count(edit.old)
        if count != 1:
            restore(originals)
            return f"{edit.path}: the text to replace occurs {count} times, not once: {edit.old[:60]!r}"
        path.write_text(text.replace(edit.old, edit.new))
    return originals


def restore(originals: dict[Path, str]) -> None:
    for path, text in originals.items():
        path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args()
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:<36} {m.breaks}")
        return 0
    unknown = set(args.names) - {m.name for m in MUTANTS}
    if unknown:
        parser.error(f"no such mutant: {', '.join(sorted(unknown))}")
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    with tempfile.TemporaryDirectory(prefix="fleetgate-mutants-") as temporary:
        tree = Path(temporary)
        copy_tree(tree)
        imported = subprocess.run([sys.executable, "-c", "import gateway, drivers; print(gateway.__file__, drivers.__file__)"],
                                  cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True)
        if not all(Path(p).is_relative_to(tree) for p in imported.stdout.split()):
            print(f"the copy's tests would import another fleetgate: {imported.stdout or imported.stderr}")
            return 2
        baselines: dict[tuple[str, ...], tuple[int, str]] = {}
        counts = {"killed": 0, "SURVIVED": 0, "STALE": 0, "ERROR": 0}
        for m in chosen:
            if m.tests not in baselines:  # the tests must pass on the unchanged tree
                baselines[m.tests] = pytest(tree, m.tests)
            code, detail = baselines[m.tests]
            if code != 0:
                verdict, detail = "ERROR", f"the tests fail without the mutant: {detail}"
            elif isinstance(originals := apply(tree, m.edits), str):
                verdict, detail = "STALE", originals
            else:
                try:
                    code, detail = pytest(tree, m.tests)
                finally:
                    restore(originals)
                # the same tests passed without the mutant: any failure, a collection error
                # or a hang is the mutant's doing
                verdict = "SURVIVED" if code == 0 else "killed"
            counts[verdict] += 1
            print(f"{verdict:<9} {m.name}: {m.breaks}\n          {detail}", flush=True)
    print(", ".join(f"{n} {verdict.lower()}" for verdict, n in counts.items()) + f" of {len(chosen)} mutants")
    return 1 if counts["SURVIVED"] else 2 if counts["STALE"] or counts["ERROR"] else 0


if __name__ == "__main__":
    sys.exit(main())
