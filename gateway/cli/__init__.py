"""The `fleetgate` command (also `python -m gateway`)."""

from __future__ import annotations

import os
import sys

# How the person at the terminal runs this command, for the hints it prints: `./dev` in a
# checkout (the script sets this), `fleetgate` where it is installed.
PROG = os.environ.get("FLEETGATE_PROG") or "fleetgate"


def main(argv: list[str] | None = None) -> int:
    from gateway.cli.interrupts import exit_status

    try:
        status = _run(sys.argv[1:] if argv is None else argv)
        sys.stdout.flush()  # a closed pipe shows here, where it can be handled
        return status
    except (KeyboardInterrupt, EOFError, BrokenPipeError, BaseExceptionGroup) as exc:
        return exit_status(exc)


def _run(argv: list[str]) -> int:
    # Imported here, inside main's handling of Ctrl-C: imports take a moment.
    from gateway.cli.admin import run_admin_command
    from gateway.cli.parser import build_parser, chosen_command

    args = build_parser(chosen_command(argv)).parse_args(argv)
    if getattr(args, "admin", False):
        return run_admin_command(args)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
