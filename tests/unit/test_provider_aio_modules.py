"""The provider extras' awaitable twins live in each package's ``aio`` module under their plain
names (``lambda_cloud.aio.ssh_keys``, ``vast.aio.search_offers``); the old ``*_async`` names
still work for one release, warn (DeprecationWarning) and call the new ones."""

from __future__ import annotations

import inspect
import warnings

import pytest

from atlas_nb.providers import fly_machines, lambda_cloud, vast

RENAMED = (
    [
        (lambda_cloud, name)
        for name in (
            "ssh_keys",
            "add_ssh_key",
            "delete_ssh_key",
            "file_systems",
            "create_file_system",
            "delete_file_system",
        )
    ]
    + [(vast, name) for name in ("search_offers", "label")]
    + [(fly_machines, "wait")]
)


@pytest.mark.parametrize(
    ("package", "name"), RENAMED, ids=[f"{p.__name__}.{n}" for p, n in RENAMED]
)
def test_the_old_name_is_a_deprecated_alias_of_the_aio_coroutine(package, name):
    new = getattr(package.aio, name)
    old = getattr(package, f"{name}_async")
    assert inspect.iscoroutinefunction(new)
    assert name in package.aio.__all__
    assert old.__wrapped__ is new
    assert old.__name__ == f"{name}_async"
    assert old.__doc__ == f"Deprecated alias of :func:`{package.__name__}.aio.{name}`."
    assert inspect.signature(old) == inspect.signature(new)


async def test_lambda_aio_names_work_without_a_warning(sandbox):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        key = await lambda_cloud.aio.add_ssh_key("laptop", "ssh-ed25519 AAAAC3Nza me@laptop")
        names = set((await lambda_cloud.aio.ssh_keys())["name"])
        await lambda_cloud.aio.delete_ssh_key(key.id)
        fs = await lambda_cloud.aio.create_file_system("data", "us-east-1")
        listed = set((await lambda_cloud.aio.file_systems())["name"])
        await lambda_cloud.aio.delete_file_system(fs["id"])
    assert "laptop" in names and "data" in listed
    assert (await lambda_cloud.aio.file_systems()).empty


async def test_lambda_old_names_warn_and_still_work(sandbox):
    match = r"lambda_cloud\.ssh_keys_async\(\) is deprecated: use .*lambda_cloud\.aio\.ssh_keys\(\)"
    with pytest.warns(DeprecationWarning, match=match):
        old = await lambda_cloud.ssh_keys_async()
    assert old.equals(await lambda_cloud.aio.ssh_keys())
    with pytest.warns(DeprecationWarning, match=r"add_ssh_key_async\(\) is deprecated"):
        key = await lambda_cloud.add_ssh_key_async("old", "ssh-ed25519 AAAAC3Nza me@old")
    with pytest.warns(DeprecationWarning, match=r"delete_ssh_key_async\(\) is deprecated"):
        await lambda_cloud.delete_ssh_key_async(key.id)
    assert "old" not in set((await lambda_cloud.aio.ssh_keys())["name"])


async def test_vast_aio_names_work_and_the_old_ones_warn(sandbox):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = await vast.aio.search_offers(gpu="rtx_4090", limit=5)
    with pytest.warns(DeprecationWarning, match=r"vast\.search_offers_async\(\) is deprecated"):
        old = await vast.search_offers_async(gpu="rtx_4090", limit=5)
    assert len(new) and list(old["offer_id"]) == list(new["offer_id"])


def test_the_blocking_names_do_not_warn(sandbox):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(lambda_cloud.ssh_keys().columns) == ["id", "name", "public_key"]
        assert len(vast.search_offers(gpu="rtx_4090", limit=2)) == 2


async def test_vast_label_old_name_warns_and_still_labels(sandbox):
    import atlas_nb.aio as atlas_aio

    c = await atlas_aio.spawn(provider="vast", gpu="rtx_4090", image="python:3.11")
    try:
        assert (await vast.aio.label(c.id, "new-name")).name == "new-name"
        with pytest.warns(DeprecationWarning, match=r"vast\.label_async\(\) is deprecated"):
            assert (await vast.label_async(c.id, "old-name")).name == "old-name"
    finally:
        await c.aterminate()


async def test_fly_machines_wait_old_name_warns_and_still_waits(sandbox):
    import atlas_nb.aio as atlas_aio

    c = await atlas_aio.spawn(
        provider="fly", image="nginx:1.27", provider_opts={"app": "atlas-demo-web"}
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert (await fly_machines.aio.wait(c.id, "started", timeout=30)).is_running
        with pytest.warns(DeprecationWarning, match=r"fly_machines\.wait_async\(\) is deprecated"):
            assert (await fly_machines.wait_async(c.id, "started", timeout=30)).is_running
    finally:
        await c.aterminate()
