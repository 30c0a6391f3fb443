"""Lambda over real HTTP (loopback sandbox): the conformance suite plus Lambda's own rules."""

import asyncio
from typing import Any, ClassVar

import pytest

import atlas_nb as atlas
from atlas_nb.errors import (
    AtlasTimeoutError,
    CapacityError,
    ConflictError,
    ProviderError,
    QuotaExceededError,
    UnauthorizedError,
    ValidationError,
)
from atlas_nb.providers import lambda_cloud
from atlas_nb.providers.lambda_cloud import LambdaProvider
from atlas_nb.sandbox.lambda_cloud.api import lambda_world
from atlas_nb.testing import ProviderConformance

LAUNCH = "POST /api/v1/instance-operations/launch"


@pytest.fixture(autouse=True)
def lambda_sandbox(sandbox, monkeypatch):
    # the sandbox's 12 simulated seconds are 0.12 s at speed 100; pace a little slower
    monkeypatch.setattr(LambdaProvider, "launch_interval_s", 0.15)
    return sandbox


class TestLambdaConformance(ProviderConformance):
    provider = "lambda"
    spawn_kwargs: ClassVar[dict[str, Any]] = {
        "gpu": "h100",
        "image": "test/image:latest",
        "ports": ["8000/http"],
    }
    wait_timeout = 15.0


@pytest.fixture
def http_log():
    seen = []
    atlas.telemetry.attach(
        "lambda-test", ["atlas.http.request"], lambda e, m, md: seen.append(dict(md))
    )
    yield seen
    atlas.telemetry.detach("lambda-test")


def launches(log):
    return [e["status"] for e in log if e["url"].endswith("/instance-operations/launch")]


def spawn(**kw):
    kw.setdefault("gpu", "h100")
    kw.setdefault("image", "python:3.11")
    return atlas.spawn(provider="lambda", **kw)


def test_launches_are_paced_client_side(lambda_sandbox, http_log):
    computes = [spawn() for _ in range(3)]
    assert launches(http_log) == [200, 200, 200]  # never refused: the client waited
    assert lambda_world(lambda_sandbox.state).launches == 3
    for c in computes:
        c.terminate()


def test_a_queued_launch_reports_through_the_cores_progress(lambda_sandbox, monkeypatch):
    import contextlib

    from atlas_nb.core import compute as core_compute

    shown = []

    class Bar:
        def update(self, value, status=""):
            shown.append(status)

    @contextlib.contextmanager
    def record(description, total):
        shown.append(description)
        yield Bar()

    monkeypatch.setattr(core_compute, "_progress_bar", record)
    first, second = spawn(), spawn()  # the second waits for Lambda's launch interval
    assert shown[0] == "Lambda launch queued"
    assert any("one launch per" in s for s in shown[1:])
    first.terminate(), second.terminate()


def test_a_refused_launch_waits_and_goes_again(lambda_sandbox, http_log):
    lambda_sandbox.faults("lambda", LAUNCH, status=429, count=1)
    c = spawn()
    assert launches(http_log) == [429, 200]
    assert lambda_world(lambda_sandbox.state).launches == 1
    c.terminate()


def test_a_failed_launch_is_not_retried(lambda_sandbox, http_log):
    lambda_sandbox.faults("lambda", LAUNCH, status=503, count=1)
    with pytest.raises(ProviderError):
        spawn()
    assert launches(http_log) == [503]
    assert lambda_world(lambda_sandbox.state).instances == {}


def test_ssh_key_choice(lambda_sandbox):
    one = spawn()
    assert one.raw["ssh_key_names"] == ["sandbox-key"]  # the only key is used
    lambda_cloud.add_ssh_key("laptop", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIxyz me@laptop")
    with pytest.raises(ValidationError) as info:
        spawn()
    text = str(info.value)
    assert "2 SSH keys (sandbox-key, laptop)" in text and "provider_opts={'ssh_key'" in text
    assert "ssh_keys()" in text
    chosen = spawn(provider_opts={"ssh_key": "laptop"})
    assert chosen.raw["ssh_key_names"] == ["laptop"]
    atlas.configure(lambda_ssh_key="laptop")
    assert spawn().raw["ssh_key_names"] == ["laptop"]
    with pytest.raises(ValidationError, match="no SSH key 'nope'; your keys: sandbox-key, laptop"):
        spawn(provider_opts={"ssh_key": "nope"})
    atlas.configure(lambda_ssh_key=None)
    for name in ("laptop", "sandbox-key"):
        lambda_cloud.delete_ssh_key(name)
    with pytest.raises(ValidationError, match="no SSH key, and Lambda needs one.*add_ssh_key"):
        spawn()
    assert list(lambda_cloud.ssh_keys().columns) == ["id", "name", "public_key"]


def test_generated_key_is_returned_once_and_hidden(lambda_sandbox):
    key = lambda_cloud.add_ssh_key("generated")
    assert key.private_key is not None
    assert key.private_key.get_secret_value().startswith("-----BEGIN OPENSSH PRIVATE KEY")
    assert "PRIVATE KEY" not in repr(key)


def test_capacity_errors_say_where_there_is_room(lambda_sandbox):
    with pytest.raises(CapacityError) as info:
        spawn(regions=["us-south-2"])
    free = lambda_world(lambda_sandbox.state).regions_with_capacity("gpu_1x_h100_sxm5")
    assert str(info.value).startswith(
        "[lambda] provider: no capacity for gpu_1x_h100_sxm5 in region us-south-2; "
        f"regions with capacity now: {', '.join(free)}"
    )
    with pytest.raises(CapacityError, match="regions with capacity now: none"):
        spawn(gpu="b200", gpu_count=8)


def test_capacity_gone_between_listing_and_launch(lambda_sandbox):
    row = atlas.offers(providers="lambda", gpu="a10").iloc[0]
    world = lambda_world(lambda_sandbox.state)
    world.capacity["gpu_1x_a10"] = {row["region"]: 1}  # room for one launch only

    async def race():
        return await asyncio.gather(
            atlas.aio.spawn(row, image="python:3.11"),
            atlas.aio.spawn(row, image="python:3.11"),
            return_exceptions=True,
        )

    results = asyncio.run(race())
    won = [r for r in results if isinstance(r, atlas.Compute)]
    lost = [r for r in results if isinstance(r, CapacityError)]
    assert len(won) == 1 and len(lost) == 1
    # The loser is refused by Lambda's launch (HTTP 400) or, when the winner's launch finished
    # first, by the capacity check before its own launch: either order is a correct outcome.
    refused_by_launch = lost[0].code == "instance-operations/launch/insufficient-capacity"
    assert refused_by_launch or lost[0].code is None
    prefix = "[lambda] provider (HTTP 400): " if refused_by_launch else "[lambda] provider: "
    assert str(lost[0]).startswith(
        f"{prefix}no capacity for gpu_1x_a10 in region {row['region']}; "
        "regions with capacity now: none"
    )
    won[0].terminate()
    again = atlas.spawn(row, image="python:3.11")  # the termination gave the room back
    assert again.region == row["region"]
    # a stale row: the client checks capacity before launching
    world.capacity["gpu_1x_a10"] = {row["region"]: 0, "us-east-1": 2}
    with pytest.raises(CapacityError, match="regions with capacity now: us-east-1") as info:
        atlas.spawn(row, image="python:3.11")
    assert info.value.code is None


def test_an_offer_row_launches_exactly_that_offer(lambda_sandbox):
    df = atlas.offers(providers="lambda")
    row = df[df["gpu_count"] == 1].iloc[-1]  # not simply the cheapest
    c = atlas.spawn(row, image="python:3.11")
    assert c.provider == "lambda" and c.region == row["region"]
    assert f"{c.raw['instance_type']['name']}@{c.region}" == row["offer_id"]
    assert c.cost_per_hr == row["price_per_hr"]


def test_restart_and_rename_free_status(lambda_sandbox):
    c = spawn(ports=["8000/http"]).wait_until_running(timeout=10, progress=False)
    assert c.public_ip and c.ports[0].url == f"http://{c.public_ip}:8000"
    restarted = atlas.restart(c.id, provider="lambda")
    assert restarted.status == atlas.ComputeStatus.PROVISIONING
    assert restarted.wait_until_running(timeout=10, progress=False).is_running


def test_file_systems(lambda_sandbox):
    region = lambda_world(lambda_sandbox.state).regions_with_capacity("gpu_1x_h100_sxm5")[0]
    fs = lambda_cloud.create_file_system("datasets", region)
    assert fs["mount_point"] == "/lambda/nfs/datasets"
    listed = lambda_cloud.file_systems()
    assert list(listed["name"]) == ["datasets"] and listed["region"][0] == region
    c = spawn(regions=[region], provider_opts={"file_systems": "datasets"})
    assert c.raw["file_system_names"] == ["datasets"]
    with pytest.raises(ConflictError, match="attached"):
        lambda_cloud.delete_file_system("datasets")
    c.terminate()
    lambda_sandbox.state.clock.advance(60)
    lambda_cloud.delete_file_system("datasets")
    assert lambda_cloud.file_systems().empty


def test_unknown_provider_opts_and_templates_are_refused(lambda_sandbox):
    with pytest.raises(ValidationError, match="Did you mean 'ssh_key'"):
        spawn(provider_opts={"sshkey": "x"})
    with pytest.raises(ValidationError, match="no templates"):
        spawn(image=None, template="tpl")


def test_fault_knobs(lambda_sandbox):
    lambda_sandbox.faults("lambda", "GET /api/v1/instances", burst=2)
    assert atlas.computes(provider="lambda").empty  # retried through a 503 burst
    lambda_sandbox.faults("lambda", "GET /api/v1/instance-types", malformed=True, count=1)
    with pytest.raises(ProviderError):
        atlas.gpu_types(provider="lambda", refresh=True)
    lambda_sandbox.faults("lambda", "GET /api/v1/instances", drop=True, count=1)
    assert atlas.computes(provider="lambda").empty  # a dropped connection is retried
    atlas.configure(timeout_s=0.3, max_retries=0)
    lambda_sandbox.faults("lambda", "GET /api/v1/ssh-keys", hang=True, count=1)
    with pytest.raises(AtlasTimeoutError):
        lambda_cloud.ssh_keys()
    lambda_sandbox.faults("lambda", "GET /api/v1/instances", latency=0.05, count=1)
    assert atlas.computes(provider="lambda").empty


def test_bad_key(lambda_sandbox):
    with pytest.raises(UnauthorizedError) as info:
        atlas.computes(provider="lambda", api_key="secret_wrong")
    assert info.value.code == "global/invalid-api-key" and info.value.status == 401


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        ({"spot": True}, atlas.UnsupportedError, "no spot"),
        ({"volume_gb": 100}, atlas.UnsupportedError, "file system"),
        ({"disk_gb": 500}, ValidationError, "fixed local storage"),
        ({"cloud": "community"}, ValidationError, "community"),
    ],
)
def test_inputs_lambda_cannot_honour_are_refused(lambda_sandbox, kw, error, message):
    with pytest.raises(error, match=message):
        spawn(**kw)
    assert lambda_world(lambda_sandbox.state).instances == {}


def test_a_plain_vm_launches_without_an_image(lambda_sandbox, http_log):
    c = atlas.spawn(provider="lambda", gpu="h100")
    world = lambda_world(lambda_sandbox.state)
    assert c.image is None and list(world.instances) == [c.id]
    assert launches(http_log) == [200]
    running = c.wait_until_running(timeout=10, progress=False)
    assert running.is_running and running.public_ip
    c.terminate()


def test_the_instance_addresses_are_fields(lambda_sandbox):
    c = spawn().wait_until_running(timeout=10, progress=False)
    assert c.private_ip == c.raw["private_ip"] and c.private_ip.startswith("10.")
    assert c.hostname == c.raw["hostname"]
    # the field is the usable link; the raw payload shown to people has its token masked
    assert c.jupyter_url.startswith("https://") and "token=REDACTED" not in c.jupyter_url
    assert c.raw["jupyter_url"].startswith(c.jupyter_url.split("token=")[0])
    c.terminate()


def test_quota_exceeded_is_its_own_error_and_is_not_retried(lambda_sandbox, http_log):
    lambda_world(lambda_sandbox.state).instance_quota = 0
    with pytest.raises(QuotaExceededError) as info:
        spawn()
    assert isinstance(info.value, CapacityError)
    assert info.value.code == "global/quota-exceeded" and info.value.status == 400
    assert "Contact Support" in str(info.value) and "another provider" in str(info.value)
    assert launches(http_log) == [400]  # asked once: a quota does not pass with time
    assert lambda_world(lambda_sandbox.state).instances == {}


def test_published_ports_are_opened_in_the_firewall(lambda_sandbox):
    world = lambda_world(lambda_sandbox.state)
    c = spawn(ports=["8000/http", "2222/tcp"]).wait_until_running(timeout=10, progress=False)
    inst = world.instances[c.id]
    assert {22, 8000, 2222} <= world.open_ports(inst)
    assert c.url(8000) == f"http://{c.public_ip}:8000"
    (ruleset,) = world.firewall_rulesets.values()
    assert ruleset["region"] == c.region
    again = spawn(ports=["2222/tcp", "8000/http"], regions=[c.region])
    assert len(world.firewall_rulesets) == 1  # the same ports reuse the same ruleset
    assert world.instances[again.id].firewall_rulesets == [{"id": ruleset["id"]}]
    plain = spawn()  # no ports: Lambda's global rules (SSH only)
    assert world.open_ports(world.instances[plain.id]) == {22}
    for x in (c, again, plain):
        x.terminate()


def test_own_firewall_rulesets_are_used_as_given(lambda_sandbox):
    world = lambda_world(lambda_sandbox.state)
    c = spawn(ports=["8000/http"])
    (ruleset,) = world.firewall_rulesets
    mine = spawn(
        ports=["8000/http"],
        regions=[c.region],
        provider_opts={"firewall_rulesets": [ruleset]},
    )
    assert world.instances[mine.id].firewall_rulesets == [{"id": ruleset}]
    with pytest.raises(atlas.NotFoundError, match="Firewall ruleset 'nope' does not exist"):
        spawn(provider_opts={"firewall_rulesets": ["nope"]})


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"Team": "ml"}, "tag key 'Team' is not valid"),
        ({"a" * 56: "x"}, "is not valid"),
        ({"team": "x" * 129}, "longer than 128"),
        ({"x": "y"}, "is not valid"),  # at least two characters
    ],
)
def test_user_tags_are_checked_before_launching(lambda_sandbox, http_log, tags, message):
    with pytest.raises(ValidationError, match=message) as info:
        spawn(provider_opts={"tags": tags})
    assert info.value.field == "provider_opts"
    assert launches(http_log) == []


def test_the_same_ports_in_two_regions_get_a_ruleset_each(lambda_sandbox):
    world = lambda_world(lambda_sandbox.state)
    first, second = world.regions_with_capacity("gpu_1x_h100_sxm5")[:2]
    a = spawn(ports=["8000/http"], regions=[first])
    b = spawn(ports=["8000/http"], regions=[second])
    rulesets = {r["region"]: r["id"] for r in world.firewall_rulesets.values()}
    assert set(rulesets) == {first, second}
    assert world.instances[a.id].firewall_rulesets == [{"id": rulesets[first]}]
    assert world.instances[b.id].firewall_rulesets == [{"id": rulesets[second]}]
