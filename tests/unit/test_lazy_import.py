"""``import atlas_nb`` stays light: heavy modules load when a frame, plot, sandbox or request
needs them, and the public API is the same either way."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "pandas",
    "numpy",
    "matplotlib",
    "httpx",
    "ipywidgets",
    "pydantic",
    "atlas_nb.sandbox",
    "atlas_nb.config",
    "atlas_nb.providers",
)


def loaded_after(code: str) -> dict[str, bool]:
    """Run ``code`` in a fresh interpreter and say which heavy modules it loaded."""
    probe = (
        f"import sys, json\n{code}\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_loads_no_heavy_module():
    assert loaded_after("import atlas_nb") == dict.fromkeys(HEAVY, False)


def test_a_call_without_a_frame_loads_no_pandas():
    loaded = loaded_after(
        "import atlas_nb as atlas\n"
        "c = atlas.spawn(provider='mock', gpu='l4', image='x')\n"
        "atlas.compute(c.id, provider='mock'); atlas.terminate(c.id, provider='mock')"
    )
    assert not loaded["pandas"] and not loaded["atlas_nb.sandbox"]
    assert loaded["pydantic"]  # the models did load, on first use


def test_a_frame_loads_pandas_and_is_a_real_dataframe():
    loaded = loaded_after(
        "import atlas_nb as atlas, pandas\n"
        "df = atlas.offers(gpu='l4', providers=['mock'])\n"
        "assert isinstance(df, pandas.DataFrame) and len(df), df"
    )
    assert loaded["pandas"]


def test_every_public_name_resolves():
    import atlas_nb

    for name in atlas_nb.__all__:
        assert getattr(atlas_nb, name) is not None, name


def test_public_names_are_listed_before_they_are_loaded():
    loaded = loaded_after(
        "import atlas_nb\n"
        "names = dir(atlas_nb)\n"
        "assert {'spawn', 'Compute', 'Settings', 'aio', 'fly', 'NotFoundError'} <= set(names)\n"
        "assert atlas_nb.spawn is atlas_nb._facade.spawn\n"
        "assert atlas_nb.Compute.__module__.startswith('atlas_nb.models')"
    )
    assert loaded["pydantic"]


def test_an_unknown_name_is_an_attribute_error():
    import atlas_nb

    with pytest.raises(AttributeError, match="no_such_name"):
        atlas_nb.no_such_name  # noqa: B018


def test_ipython_formatter_styles_frames_once_pandas_is_loaded():
    # in a fresh interpreter, so the IPython shell singleton does not leak into other tests
    loaded = loaded_after(
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "import atlas_nb\n"  # registers the formatter without importing pandas
        "assert 'pandas' not in sys.modules\n"
        "import pandas as pd\n"
        "from atlas_nb.frames import mark\n"
        "df = mark(pd.DataFrame({'provider': ['mock'], 'price_per_hr': [0.44], "
        "'availability': ['high']}), 'offers')\n"
        "html = shell.display_formatter.formatters['text/html'](df)\n"
        "assert '$0.44' in html and '#2e7d32' in html, html"
    )
    assert loaded["pandas"]
