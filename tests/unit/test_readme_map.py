"""The README's code map names every package of atlas_nb, and only packages that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def mapped_packages() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## How the code is organised", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^(atlas_nb/[\w/]+)/ ", section, flags=re.MULTILINE))


def test_the_map_lists_every_package_once():
    packages = {
        str(p.parent.relative_to(ROOT))
        for p in (ROOT / "atlas_nb").rglob("__init__.py")
        if p.parent != ROOT / "atlas_nb"
    }
    assert mapped_packages() == packages
