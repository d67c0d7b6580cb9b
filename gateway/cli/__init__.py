"""The `fleetgate` command (also `python -m gateway`)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from gateway.cli.admin import run_admin_command
    from gateway.cli.parser import build_parser

    args = build_parser().parse_args(argv)
    if getattr(args, "admin", False):
        return run_admin_command(args)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
