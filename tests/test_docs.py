"""The documentation site builds in strict mode, its API reference holds every
public name with a docstring, and the Python examples of the README and of
"getting started" run."""

import importlib
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import griffe
import pytest

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = [
    "hyperal",
    "hyperal.runs",
    "hyperal.campaign",
    "hyperal.committee",
    "hyperal.oracle",
    "hyperal.models",
    "hyperal.evolve",
    "hyperal.barriers",
    "hyperal.testing",
]


def build(config_dir: Path, out: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` of the site configured in ``config_dir``."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=config_dir,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def inventory(site: Path) -> set[str]:
    """The object names of a built site's Sphinx inventory (objects.inv)."""
    data = (site / "objects.inv").read_bytes()
    header_end = 0
    for _ in range(4):  # four header lines, then zlib
        header_end = data.index(b"\n", header_end) + 1
    text = zlib.decompress(data[header_end:]).decode()
    return {line.split()[0] for line in text.splitlines() if line.strip()}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    run = build(ROOT, out)
    assert run.returncode == 0, run.stdout + run.stderr
    return out


def test_site_builds_strict_with_every_public_name_and_docstring(site):
    names = inventory(site)
    loaded = griffe.load("hyperal", search_paths=[str(ROOT / "src")])
    missing, undocumented = [], []
    for module in PUBLIC:
        for name in importlib.import_module(module).__all__:
            path = f"{module}.{name}"
            if path not in names:
                missing.append(path)
            obj = loaded[path.removeprefix("hyperal.")] if path != "hyperal" else loaded
            target = obj.final_target if obj.is_alias else obj
            if not (target.docstring and target.docstring.value.strip()):
                undocumented.append(path)
    assert not missing, f"not in the API reference: {missing}"
    assert not undocumented, f"no docstring: {undocumented}"


def test_strict_build_fails_on_a_broken_link(tmp_path):
    """Strict mode is what catches a broken link: a copy of the site's sources
    with one bad link must not build."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    (tmp_path / "src").symlink_to(ROOT / "src")
    page = tmp_path / "docs" / "getting-started.md"
    page.write_text(page.read_text() + "\n[gone](guide/no-such-page.md)\n")
    run = build(tmp_path, tmp_path / "site")
    assert run.returncode != 0
    assert "no-such-page.md" in run.stdout + run.stderr


def test_site_renders_offline_in_a_browser(site):
    """The built pages load nothing from the network (no web fonts) and render
    their figures with no console error in headless Chromium."""
    from hyperal.testing import browser, render_in_browser

    for page in site.rglob("*.html"):
        assert "fonts.googleapis" not in page.read_text(), page
    if browser() is None:
        pytest.skip("no chromium or chrome on PATH (Debian: apt install chromium)")
    dom, console = render_in_browser(site / "guide" / "benchmark.html")
    assert "benchmark-emt-large-curves.svg" in dom
    assert "paired" in dom
    errors = [line for line in console if "error" in line.lower()]
    assert not errors, errors


@pytest.mark.parametrize(
    "page", ["README.md", "docs/getting-started.md", "docs/extending.md"]
)
def test_python_examples_run(page, tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), re.S)
    assert blocks, f"{page} has no Python example"
    for block in blocks:
        run = subprocess.run(
            [sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True
        )
        assert run.returncode == 0, f"{page}:\n{block}\n{run.stderr}"


def test_built_pages_show_no_raw_roles_and_no_run_together_lists(site):
    """What a reader sees: a docstring's Sphinx role (``:class:`X```) is
    rendered as the name, never as the raw ``:class:`` text, and a Markdown
    list is a list — not bullets run together into one paragraph (a list
    that follows a paragraph or a code block without a blank line)."""
    roles, run_together = [], []
    for page in sorted(site.rglob("*.html")):
        text = page.read_text()
        body = re.sub(r"<(pre|script|style)\b.*?</\1>", "", text, flags=re.S)
        found = re.findall(r":(?:class|func|meth|attr|data|mod|exc):", body)
        if found:
            roles.append(f"{page.relative_to(site)}: {len(found)}")
        for paragraph in re.findall(r"<p>(.*?)</p>", body, flags=re.S):
            if re.search(r"(^|\n)\s*[-*+] \S", paragraph):
                run_together.append(f"{page.relative_to(site)}: {paragraph[:60]!r}")
    assert not roles, f"raw docstring roles in the built site: {roles}"
    assert not run_together, f"list items run together into a paragraph: {run_together}"
