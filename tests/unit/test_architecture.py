"""docs/architecture.md matches the code: every module, folder and class it names exists where it
says, and the import contracts it describes are the ones in setup.cfg."""
import configparser
import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "pyserini_diffretriever"
PAGE = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
#: Folders the commands write (not source): named in the page's data-flow and layout tables.
OUTPUT_FOLDERS = {"sparse/", "compressed/"}


def test_every_room_and_module_named_exists():
    named = set(re.findall(r"`([a-z_]+(?:/[a-z_]+)*(?:\.py|/))`", PAGE))
    assert len(named) > 30
    missing = [name for name in sorted(named - OUTPUT_FOLDERS)
               if not (PACKAGE / name).exists() and not (REPO / name).exists()]
    assert not missing, f"docs/architecture.md names what the package does not have: {missing}"


def test_every_top_level_room_is_described():
    rooms = {p.name + "/" for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    rooms |= {p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    undescribed = sorted(r for r in rooms if f"`{r}`" not in PAGE)
    assert not undescribed, f"rooms missing from docs/architecture.md: {undescribed}"


@pytest.mark.parametrize("cls, module", re.findall(r"`(\w+)` \(`(dense/\w+\.py)`\)", PAGE))
def test_layout_classes_live_where_the_page_says(cls, module):
    mod = importlib.import_module("pyserini_diffretriever." + module[:-3].replace("/", "."))
    assert isinstance(getattr(mod, cls, None), type), f"{cls} is not defined in {module}"


def test_layers_in_the_page_are_the_contract():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    layers = [re.split(r"\s*[|:]\s*", line.strip())
              for line in config["importlinter:contract:layers"]["layers"].strip().splitlines()]
    contracted = {room for layer in layers for room in layer}
    described = set(re.findall(r"`([a-z_]+)(?:/|\.py)`", PAGE))
    assert contracted <= described, f"layers not described in the page: {sorted(contracted - described)}"
