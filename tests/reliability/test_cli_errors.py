"""An unexpected failure is one `error:` line with exit status 1, and
`--debug` shows its traceback; a mistake in the input is exit status 2."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.campaign.conftest import tiny

BROKEN = """
import sys
from hyperal.campaign.store import Store
def broken(self, run="main"):
    raise RuntimeError("the disk [went] away")
Store.metrics = broken
from hyperal.cli.main import main
sys.argv = ["hyperal", *sys.argv[1:]]
main()
"""


def _hyperal(*args):
    return subprocess.run(
        [sys.executable, "-c", BROKEN, *args], capture_output=True, text=True
    )


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path):
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(tiny(tmp_path)))
    (tmp_path / "campaign.db").write_bytes(b"")  # an empty store file
    done = _hyperal("status", str(config))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("error: RuntimeError: the disk [went] away")
    assert "--debug" in lines[0]
    done = _hyperal("--debug", "status", str(config))
    assert done.returncode == 1 and "Traceback" in done.stderr
    assert "RuntimeError: the disk [went] away" in done.stderr
    # a mistake in the input: exit status 2
    done = _hyperal("status", str(tmp_path / "nothing.yaml"))
    assert done.returncode == 2 and done.stderr.startswith("error:")
