"""One rule for async twins: ``aio`` modules for namespaces, an ``a`` prefix for methods; the
old names still work for one release and warn (DeprecationWarning)."""

from __future__ import annotations

import inspect
import subprocess
import sys
import warnings

import pytest

import atlas_nb as atlas
import atlas_nb.aio as aio
from atlas_nb.fly.deploy import Deploy
from atlas_nb.models import Compute, Job
from atlas_nb.widgets.dashboard import ComputeDashboard

CLASSES = (Compute, Job, ComputeDashboard, Deploy)


def test_import_atlas_nb_runpod_aio_works_in_a_fresh_interpreter():
    code = (
        "import atlas_nb.runpod.aio as r\n"
        "import atlas_nb as atlas\n"
        "assert atlas.runpod.aio is r, 'one object'\n"
        "import atlas_nb.aio\n"
        "assert atlas_nb.aio.runpod is r\n"
        "assert atlas.runpod.templates.aio is r.templates\n"
        "print(sorted(r.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "'billing'" in out.stdout and "'update_pod'" in out.stdout


async def test_runpod_aio_talks_to_the_sandbox(sandbox):
    import atlas_nb.runpod.aio as runpod_aio

    vol = await runpod_aio.network_volumes.create(name="d", size=10, dataCenter="EU-RO-1")
    listed = await runpod_aio.network_volumes.list()
    await runpod_aio.network_volumes.delete(vol["id"])
    assert vol["id"] in set(listed["id"])
    assert sorted(await runpod_aio.health(sandbox.runpod_endpoint_id)) == ["jobs", "workers"]


def _coroutine_methods(cls):
    return {
        name
        for name, value in vars(cls).items()
        if inspect.iscoroutinefunction(value) and not name.startswith("_")
    }


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_public_async_method_has_an_a_prefix(cls):
    methods = _coroutine_methods(cls)
    assert methods, cls
    assert all(n.startswith("a") and not n.endswith("_async") for n in methods), methods


OLD_NAMES = {
    Compute: {
        "refresh_async": "arefresh",
        "wait_until_running_async": "await_until_running",
        "start_async": "astart",
        "stop_async": "astop",
        "terminate_async": "aterminate",
        "touch_async": "atouch",
    },
    Job: {
        "refresh_async": "arefresh",
        "wait_async": "await_",
        "cancel_async": "acancel",
        "retry_async": "aretry",
    },
    ComputeDashboard: {"refresh_async": "arefresh", "act_async": "aact"},
}


@pytest.mark.parametrize("cls", list(OLD_NAMES), ids=lambda c: c.__name__)
def test_old_names_are_deprecated_aliases_of_the_new_ones(cls):
    for old, new in OLD_NAMES[cls].items():
        assert inspect.iscoroutinefunction(getattr(cls, new)), new
        assert getattr(cls, old).__doc__ == f"Deprecated alias of :meth:`{new}`."


async def test_compute_old_names_warn_and_still_work():
    pod = await aio.spawn(provider="mock", gpu="l4", image="python:3.11")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new names never warn
        running = await pod.await_until_running(timeout=60, progress=False)
        assert (await running.arefresh()).status.value == "running"
    with pytest.warns(DeprecationWarning, match=r"Compute\.terminate_async\(\).*aterminate\(\)"):
        await running.terminate_async()
    assert (await running.arefresh()).status.value in {"terminating", "terminated"}


async def test_job_old_names_warn_and_still_work():
    job = await aio.run_job("echo", {"chunks": 1}, provider="mock")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        done = await job.await_(timeout=60)
    assert done.status.value == "completed"
    with pytest.warns(DeprecationWarning, match=r"Job\.wait_async\(\).*Job\.await_\(\)"):
        again = await job.wait_async(timeout=60)
    assert again.status.value == "completed"


def test_the_sync_methods_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pod = atlas.spawn(provider="mock", gpu="l4", image="python:3.11")
        pod.wait_until_running(timeout=60, progress=False)
        pod.refresh()
        pod.terminate()
        atlas.run_job("echo", {"chunks": 1}, provider="mock").wait(timeout=60)


def test_provider_extras_have_aio_namespaces_without_the_suffix():
    from atlas_nb.providers import fly_machines, lambda_cloud, vast

    assert aio.lambda_.ssh_keys is lambda_cloud.aio.ssh_keys
    assert aio.vast.search_offers is vast.aio.search_offers
    assert aio.fly_machines.wait is fly_machines.aio.wait
    for namespace in (aio.lambda_, aio.vast, aio.fly_machines):
        assert namespace.__all__ and not any(n.endswith("_async") for n in namespace.__all__)
    import importlib

    assert importlib.import_module("atlas_nb.aio.lambda_") is aio.lambda_


async def test_lambda_extras_through_the_aio_namespace(sandbox):
    keys = await aio.lambda_.ssh_keys()
    assert list(keys.columns) == ["id", "name", "public_key"]
