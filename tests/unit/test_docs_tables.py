"""The documentation's measured figures cannot drift from the JSON that measured them.

Every ``<!-- table:NAME -->`` block of README.md and docs/*.md must be exactly what
``benchmarks/render_docs.py`` renders from ``benchmarks/results/`` (fix: run
``python benchmarks/render_docs.py`` and commit the pages). Also checked here: the README's size,
that it describes every bundled encoder, that no page points outside the repository, and that
every relative link resolves.
"""
from __future__ import annotations

import difflib
import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def _load_renderer():
    spec = importlib.util.spec_from_file_location("render_docs", REPO / "benchmarks" / "render_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render_docs = _load_renderer()
PAGES = render_docs.pages(REPO)


def page_id(page: Path) -> str:
    return page.relative_to(REPO).as_posix()


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_committed_page_is_what_the_script_renders(page):
    text = page.read_text(encoding="utf-8")
    rendered = render_docs.render_text(text, REPO, page_id(page))
    if rendered != text:
        diff = "".join(list(difflib.unified_diff(text.splitlines(True), rendered.splitlines(True), "committed",
                                                 "rendered"))[:60])
        pytest.fail(f"{page_id(page)} differs from its JSON; run `python benchmarks/render_docs.py`:\n{diff}")


def test_every_table_is_shown_somewhere():
    used = set()
    for page in PAGES:
        used |= set(render_docs.START.findall(page.read_text(encoding="utf-8")))
    assert set(render_docs.TABLES) - used == set(), "tables the script renders that no page shows"


def test_every_rendered_table_names_its_source():
    for name, render in render_docs.TABLES.items():
        assert "benchmarks/results/" in "\n".join(render(REPO)) or name == "demo", name


def test_transcribed_results_name_the_command_that_measured_them():
    for path in sorted((REPO / "benchmarks" / "results").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if "transcribed" in data:
            assert data.get("source"), f"{path.name} has no source command"


def test_a_changed_figure_changes_the_page(tmp_path):
    """A figure edited in the JSON shows up in the page (so the check above would fail)."""
    shutil.copytree(REPO / "benchmarks" / "results", tmp_path / "benchmarks" / "results",
                    ignore=shutil.ignore_patterns("*.png"))
    path = tmp_path / "benchmarks" / "results" / "lucene_qps.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["rows"][0]["bm25_qps"] = 999.5
    path.write_text(json.dumps(data), encoding="utf-8")
    page = (REPO / "docs" / "installation.md").read_text(encoding="utf-8")
    assert "999.5 queries/s" in render_docs.render_text(page, tmp_path)
    assert "999.5 queries/s" not in render_docs.render_text(page, REPO)


def test_markers_must_be_known_and_closed():
    with pytest.raises(render_docs.RenderError, match="unknown table"):
        render_docs.render_text("<!-- table:no-such -->\n<!-- /table:no-such -->\n", REPO)
    with pytest.raises(render_docs.RenderError, match="unbalanced"):
        render_docs.render_text("<!-- table:demo -->\nno end\n", REPO)


def test_check_mode_changes_nothing_and_reports_differences(tmp_path, capsys):
    (tmp_path / "docs").mkdir()
    shutil.copytree(REPO / "runs" / "reference" / "demo", tmp_path / "runs" / "reference" / "demo")
    stale = "# page\n<!-- table:demo -->\nold figures\n<!-- /table:demo -->\n"
    (tmp_path / "README.md").write_text(stale, encoding="utf-8")
    assert render_docs.render_all(tmp_path, write=False) == [tmp_path / "README.md"]
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == stale
    render_docs.render_all(tmp_path, write=True)
    assert "0.7528" in (tmp_path / "README.md").read_text(encoding="utf-8")
    assert render_docs.render_all(tmp_path, write=False) == []


def test_readme_is_a_front_door():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines (at most 250; details belong in docs/)"


def test_readme_describes_every_bundled_encoder():
    text = README.read_text(encoding="utf-8")
    names = sorted(path.stem for path in (REPO / "encoders").glob("*.yaml"))
    missing = [name for name in names if f"`{name}`" not in text]
    assert not missing, f"README.md's encoder table lacks {missing}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_no_page_points_outside_the_repository(page):
    text = page.read_text(encoding="utf-8")
    for needle in ("../shared", "shared/design", "METHOD.md"):
        assert needle not in text, f"{page_id(page)} mentions {needle}: point to docs/method.md instead"


LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_resolve(page):
    broken = []
    for match in LINK.finditer(page.read_text(encoding="utf-8")):
        target = match.group("target").split("#", 1)[0]
        if not target or re.match(r"^[a-z]+:", target):
            continue
        path = (page.parent / target).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{page_id(page)} links to missing files: {broken}"
