"""The "fleetgate edge case" vectors are checked against encoders that share nothing with
the drivers: protocol_specs/<protocol>/tools/edge_cases.py, the standard library alone, with
their own checksums, escaping and field packing. Each rebuilds every edge case's frame and
replies (and may rebuild published frames too, to show its builders agree with them). It
must do so without reading what it rebuilds: run again beside a copy of vectors.json where
those vectors' frames and replies are blanked, it gives the same output."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.drivers.vectors import SPECS, load, replies

PROTOCOLS = ("gt06", "jt808", "teltonika")
EDGE_CASE = "fleetgate edge case"


def imported(path: Path) -> set[str]:
    """The top-level modules ``path`` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import"
            names.add(node.module.partition(".")[0])
    return names


def run_tool(protocol: str, folder: Path, blank: set[str]) -> dict[str, dict]:
    """The tool's output, run from ``folder`` beside vectors.json with the frames and replies
    of the vectors named in ``blank`` removed."""
    document = json.loads((SPECS / protocol / "vectors.json").read_text())
    for vector in document["vectors"]:
        if vector["name"] in blank:
            vector["hex"] = ""
            (vector.get("expect") or {}).pop("replies", None)
    (folder / "tools").mkdir(exist_ok=True)
    (folder / "vectors.json").write_text(json.dumps(document))
    tool = folder / "tools" / "edge_cases.py"
    tool.write_text((SPECS / protocol / "tools" / "edge_cases.py").read_text())
    # -I -S: no site-packages and no current directory on the path: fleetgate cannot be imported
    run = subprocess.run([sys.executable, "-I", "-S", str(tool)], cwd=folder, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)["vectors"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_independent_encoder_rebuilds_every_edge_case(protocol, tmp_path):
    assert imported(SPECS / protocol / "tools" / "edge_cases.py") <= sys.stdlib_module_names | {"__future__"}
    vectors = {v.name: v for v in load(protocol)}
    edge_cases = {name for name, v in vectors.items() if EDGE_CASE in v.source}
    built = run_tool(protocol, tmp_path, edge_cases)
    assert edge_cases <= set(built) <= set(vectors)
    for name, output in built.items():
        assert bytes.fromhex(output["hex"]) == vectors[name].data, name
        assert {k: bytes.fromhex(v) for k, v in output.get("replies", {}).items()} == replies(vectors[name]), name
    assert run_tool(protocol, tmp_path, set(built)) == built
