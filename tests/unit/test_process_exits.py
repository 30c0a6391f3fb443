"""A script that showed any widget exits: nothing starts a runtime while the interpreter is
finalizing, and closing a widget after ``atlas.shutdown()`` is a no-op."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Each script makes one widget kind and leaves it to the interpreter's exit (its ``__del__``).
MAKE = {
    "dashboard": """
        d = atlas.dashboard()
    """,
    "log_viewer": """
        pod = atlas.spawn(provider="mock", gpu="l4", image="x")
        d = atlas.logs(pod.id, provider="mock").viewer()
    """,
    "job_view": """
        from atlas_nb.widgets.job_view import attach
        job = atlas.run_job("echo", {"chunks": 2}, provider="mock")
        d = attach(job.stream())
    """,
    "deploy_console": """
        import pathlib, tempfile
        sb = atlas.sandbox.start(speed=100, seed=0)
        sb.fly_cli(deploy="ok")
        app_dir = pathlib.Path(tempfile.mkdtemp())
        (app_dir / "fly.toml").write_text('app = "atlas-demo-web"\\n')
        deploy = atlas.fly.deploy(app_dir, wait=False)
        d = deploy.console()
        deploy.result(timeout=60)
    """,
}

# What the script does after making the widget, before it ends.
THEN = {
    "left_open": "",
    "closed_then_shutdown": "d.close()\natlas.shutdown()\n",
    "shutdown_then_closed": (
        "atlas.shutdown()\nd.close()\n"
        "from atlas_nb._runtime import current_runtime\n"
        "assert current_runtime() is None, 'closing after shutdown started a runtime'\n"
    ),
}


def run_python(script: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=90
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the process did not exit; it printed: {exc.stdout!r}") from None


def run_script(body: str) -> subprocess.CompletedProcess[str]:
    return run_python(
        "import atlas_nb as atlas\n" + body + "\nprint('END OF SCRIPT', flush=True)\n"
    )


@pytest.mark.parametrize("then", sorted(THEN))
@pytest.mark.parametrize("kind", sorted(MAKE))
def test_a_process_that_showed_a_widget_exits(kind, then):
    done = run_script(textwrap.dedent(MAKE[kind]) + THEN[then])
    assert done.returncode == 0, done.stderr
    assert "END OF SCRIPT" in done.stdout
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


def test_nothing_starts_a_runtime_once_the_interpreter_exits():
    done = run_python(
        textwrap.dedent("""
        import atexit, sys

        def late():  # registered before atlas_nb's exit hook, so it runs after it
            rt = sys.modules["atlas_nb._runtime"]
            print("LIVE RUNTIME:", rt.current_runtime(), flush=True)
            try:
                rt.get_runtime()
            except RuntimeError as exc:
                print("REFUSED:", exc, flush=True)

        atexit.register(late)
        import atlas_nb as atlas
        atlas.computes(provider="mock")  # a runtime runs until the exit hook stops it
        """)
    )
    assert done.returncode == 0, done.stderr
    assert "LIVE RUNTIME: None" in done.stdout
    assert "REFUSED: " in done.stdout and "exiting" in done.stdout
