"""The README cannot drift: every Python block runs against the sandbox (in order, sharing one
namespace, as a reader would paste them), the taste's "Real output" is what it prints, the TOML
block loads, and every `make` target, `atlas-nb` command, file and module it names exists.

A block that cannot run is preceded in the README by ``<!-- readme-test: not run (why) -->``
and listed in :data:`NOT_RUN` with the reason; keep that list tiny.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import atlas_nb as atlas

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
NOT_RUN_MARK = "<!-- readme-test: not run"

#: first line of each block that is not run -> why
NOT_RUN: dict[str, str] = {
    'atlas.configure(store="redis://:password@redis.internal:6379/0")   # or ATLAS_NB_STORE': (
        "a team's Redis at a made-up host; test_team_store.py runs the same calls"
    ),
}


@dataclass
class Block:
    lang: str
    text: str
    line: int  # 1-based line of the opening fence
    before: str  # the text between the previous block and this one

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0] if self.text else ""


def blocks(markdown: str) -> list[Block]:
    """Fenced blocks in order.

    >>> [(b.lang, b.text) for b in blocks("a\\n```py\\nx = 1\\n```\\nb\\n```\\nout\\n```\\n")]
    [('py', 'x = 1'), ('', 'out')]
    """
    out: list[Block] = []
    lines = markdown.splitlines()
    i, last_end = 0, 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = "\n".join(lines[last_end:i])
        out.append(Block(fence.group(1), "\n".join(lines[i + 1 : end]), i + 1, before))
        i = last_end = end + 1
    return out


ALL = blocks(README)


def of(lang: str) -> list[Block]:
    return [b for b in ALL if b.lang == lang]


def test_blocks_not_run_are_exactly_the_known_few():
    marked = {
        b.first_line for b in ALL if NOT_RUN_MARK in (b.before.strip().splitlines() or [""])[-1]
    }
    assert marked == set(NOT_RUN)


def test_every_python_block_runs_against_the_sandbox_and_the_taste_prints_its_real_output():
    namespace: dict[str, object] = {"__name__": "readme"}
    printed: list[str] = []
    try:
        for block in of("python"):
            if block.first_line in NOT_RUN:
                continue
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                try:
                    exec(compile(block.text, f"README.md:{block.line}", "exec"), namespace)
                except Exception as exc:  # say which block broke, then fail
                    pytest.fail(f"the README block at line {block.line} raised {exc!r}")
            printed.append(out.getvalue())
    finally:
        sb = namespace.get("sb")
        if sb is not None:
            sb.stop()  # type: ignore[attr-defined]
    taste = ALL.index(of("python")[0])
    real = ALL[taste + 1]
    assert real.lang == "" and "Real output" in real.before
    assert printed[0] == real.text + "\n"


def test_the_toml_block_is_a_config_file_that_loads(tmp_path, monkeypatch):
    (toml,) = of("toml")
    path = tmp_path / "atlas_nb.toml"
    path.write_text(toml.text)
    monkeypatch.setenv("ATLAS_NB_CONFIG", str(path))
    atlas.configure(reset=True)
    cfg = atlas.settings()
    assert cfg.default_provider == "runpod" and cfg.idle_ttl_s == 1800
    assert cfg.api_key("runpod").get_secret_value() == "rpa_..."
    assert cfg.base_url("runpod_rest") == "http://127.0.0.1:8765/runpod"


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][\w-]*):", text, flags=re.MULTILINE))


def test_every_make_target_the_readme_names_exists():
    named = set(re.findall(r"\bmake ([a-z][\w-]*)", README))
    assert {"demo", "test", "lab"} <= named
    assert named <= makefile_targets()


def test_make_test_lints_as_the_readme_says():
    recipe = (ROOT / "Makefile").read_text().split("\ntest:", 1)[1].splitlines()[0]
    assert "lint" in recipe.split()
    (bash,) = [b for b in of("bash") if "make test" in b.text]
    assert "lints" in bash.text


def test_every_atlas_nb_command_and_flag_the_readme_names_exists():
    from atlas_nb.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    commands = sub.choices  # type: ignore[attr-defined]
    listed = re.search(r"`atlas-nb ([a-z]+(?: \| [a-z]+)+)`", README)
    assert listed is not None
    assert set(listed.group(1).replace(" ", "").split("|")) == set(commands)
    for name in re.findall(r"`atlas-nb ([a-z]+)", README):
        assert name in commands
    for cmd in ("gpus", "offers", "reap"):
        flags = {o for a in commands[cmd]._actions for o in a.option_strings}
        assert {"--json", "--csv", "--sandbox"} <= flags


def test_every_file_the_readme_links_or_runs_exists():
    paths = set(re.findall(r"\]\(((?:notebooks|binder|tools|benchmarks)/[^)#?]+)\)", README))
    paths |= set(re.findall(r"\.venv/bin/python ((?:tools|benchmarks)/[\w]+\.py)", README))
    assert paths
    missing = [p for p in sorted(paths) if not (ROOT / p).exists()]
    assert not missing


def test_the_capability_table_is_what_capabilities_returns():
    section = README.split("## Providers and capabilities", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in section.splitlines() if r.startswith("| ") and "---" not in r]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    providers = header[1:]
    for row in rows[1:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        cap = cells[0]
        for provider, cell in zip(providers, cells[1:], strict=True):
            assert (cell == "yes") == (cap in atlas.capabilities(provider)), (cap, provider)


def test_the_error_table_names_real_classes_and_kinds():
    section = README.split("## Errors", 1)[1].split("\n## ", 1)[0]
    for kind, cls in re.findall(r"^\| `(\w+)` \| `(\w+)`", section, flags=re.MULTILINE):
        assert getattr(atlas.errors, cls).kind == kind


def test_what_the_readme_says_of_atlas_nb_aio_holds():
    import inspect

    import atlas_nb.aio as aio

    plain = set(re.findall(r"`aio\.(\w+)`", README))  # the names it says are not coroutines
    assert plain, "the README names the aio functions that return streams"
    for name in aio.__all__:
        assert inspect.iscoroutinefunction(getattr(aio, name)) == (name not in plain), name
    for module in re.findall(r"`(atlas_nb(?:\.\w+)*\.aio(?:\.\w+)*)`", README):
        head, *rest = module.split(".")
        obj = __import__(head)
        for part in rest:
            obj = getattr(obj, part)  # each async twin the README names exists
