"""The operators' web console: static pages that use only the public admin API, served by
the admin app under /console/ (pages.py), and the loopback door that lets one browser reach
them and the API (door.py, opened by `fleetgate console`, command.py)."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/console"
