"""atlas_nb.testing without pytest says which extra to install (its suites are pytest classes)."""

import subprocess
import sys

# ``sys.modules[name] = None`` is how Python marks a module as not importable.
WITHOUT_PYTEST = "import sys\nsys.modules['pytest'] = None\nimport atlas_nb.testing\n"


def test_without_pytest_the_import_error_names_the_testing_extra():
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PYTEST], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: atlas_nb.testing needs pytest"), done.stderr
    assert "pip install 'atlas_nb[testing]'" in last


def test_without_pytest_atlas_nb_itself_imports():
    script = "import sys\nsys.modules['pytest'] = None\nimport atlas_nb\nprint(atlas_nb.spawn)\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_with_pytest_the_suites_import():
    from atlas_nb.testing import ProviderConformance, TokenStorageConformance

    assert ProviderConformance.__module__ == "atlas_nb.testing.provider_conformance"
    assert TokenStorageConformance.__module__ == "atlas_nb.testing.storage_conformance"
