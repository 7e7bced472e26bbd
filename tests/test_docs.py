"""The documentation's code runs: every ``python`` and ``bash`` block of the tutorials (in the
order of the site's navigation, in one fresh folder, as a newcomer would type them), the
environment card's example, and a ``yaml`` block with a ``title`` written to that file first."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("stable_baselines3")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [
    "environment.md",
    "tutorials/own-scenario.md",
    "tutorials/train-and-compare.md",
    "tutorials/benchmark-report.md",
    "tutorials/export-and-schedule.md",
]
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
RUN = {"python", "bash"}


def code_blocks(page: Path) -> list[tuple[str, str, str]]:
    """(language, info string, code) of each fenced block of a page, in order."""
    return [(m.group(1), m.group(2).strip(), m.group(3)) for m in FENCE.finditer(page.read_text())]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("newcomer")


def test_every_tutorial_is_in_the_site_and_every_page_has_code() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in PAGES:
        assert page in nav, page
        assert any(lang in RUN for lang, _, _ in code_blocks(DOCS / page)), page
    assert sorted(p.relative_to(DOCS).as_posix() for p in (DOCS / "tutorials").glob("*.md")) == sorted(
        p for p in PAGES if p.startswith("tutorials/")
    )


@pytest.mark.parametrize("page", PAGES)
def test_the_pages_code_runs(page: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workdir)
    env = {**os.environ, "CI": "1", "WANDB_SILENT": "true", "MPLBACKEND": "Agg"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    namespace: dict[str, object] = {"__name__": "__tutorial__"}
    for i, (lang, info, code) in enumerate(code_blocks(DOCS / page)):
        title = re.search(r'title="([^"]+)"', info)
        if lang == "yaml" and title:
            (workdir / title.group(1)).write_text(code)
        elif lang == "python":
            exec(compile(code, f"{page}#block{i}", "exec"), namespace)
        elif lang == "bash":
            proc = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", code], capture_output=True, text=True, env=env, timeout=600
            )
            assert proc.returncode == 0, f"{page} block {i}:\n{code}\n{proc.stdout}\n{proc.stderr}"
