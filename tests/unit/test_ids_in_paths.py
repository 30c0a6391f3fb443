"""Ids and names placed in URL paths: checked against the provider's id shape, escaped, and a
path-walking id (``..``, ``/``) refused with ``ValidationError`` before any request leaves."""

import httpx
import pytest

import atlas_nb as atlas
from atlas_nb._runtime import get_runtime
from atlas_nb.errors import NotFoundError, ValidationError
from atlas_nb.fly.logs.client import FlyLogsClient
from atlas_nb.providers import get_provider
from atlas_nb.providers.fly_machines import machines_path
from atlas_nb.transport.paths import SHAPES, segment

KEYS = {"runpod": "rpa_test", "lambda": "secret_test", "vast": "vast_test", "fly": "fm2_test"}


@pytest.fixture
def sent():
    """Every request that reached the wire (a MockTransport answering 200 {} to anything)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    atlas.configure(http_transport=httpx.MockTransport(handler), api_keys=KEYS)
    return seen


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("xedezhzb9la3ye", "runpod_pod", "xedezhzb9la3ye"),
        ("c80ffee4-f315-4e25-a146-0f3d98f9f0b8-u1", "runpod_job", None),
        ("0920582c7ff041399e34823a0be62549", "lambda", None),
        (13794342, "vast", "13794342"),
        ("13794342", "vast", "13794342"),
        ("my-app", "fly_app", "my-app"),
        ("148ed193b95e89", "fly_machine", "148ed193b95e89"),
    ],
)
def test_well_formed_ids_pass_unchanged(value, kind, expected):
    assert segment(value, kind) == (expected or value)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("..", "runpod_pod"),
        (".", "runpod_pod"),
        ("a/../b", "runpod_pod"),
        ("web/../victim-app", "fly_app"),
        ("d8e7/../../other", "fly_machine"),
        ("1/../2", "vast"),
        ("../instances", "lambda"),
        ("a%2Fb", "runpod_resource"),
        ("a?b=1", "runpod_job"),
        ("a#b", "lambda"),
        ("a b", "runpod_endpoint"),
        ("a\nb", "fly_app"),
        (" 12", "vast"),
        ("", "fly_machine"),
        (None, "runpod_pod"),
        (True, "vast"),
        (1.5, "vast"),
        (["x"], "lambda"),
    ],
)
def test_ids_that_could_change_the_path_are_validation_errors(value, kind):
    with pytest.raises(ValidationError) as err:
        segment(value, kind, field="the_field")
    assert err.value.field == "the_field"
    assert err.value.provider == SHAPES[kind].provider
    assert "e.g." in str(err.value)  # it says what an id looks like


@pytest.mark.parametrize(
    ("value", "kind"),
    [("abc", "vast"), ("-5", "vast"), ("My_App", "fly_app"), ("a-b", "fly_machine")],
)
def test_harmless_ids_of_the_wrong_shape_are_not_found(value, kind):
    with pytest.raises(NotFoundError, match="are "):
        segment(value, kind)


@pytest.mark.parametrize(
    ("provider", "call", "compute_id"),
    [
        ("fly", atlas.terminate, "web/../victim-app/machines/d8e7"),
        ("fly", atlas.terminate, "web/d8e7/../../victim-app/machines/d8e7"),
        ("fly", atlas.compute, "../victim-app/d8e7"),
        ("fly", atlas.stop, "web/d8e7%2F..%2F"),
        ("fly", atlas.compute, "../victim-app"),
        ("runpod", atlas.terminate, ".."),
        ("runpod", atlas.compute, "../v2"),
        ("runpod", atlas.stop, "abc/../def"),
        ("lambda", atlas.compute, "../instance-types"),
        ("lambda", atlas.terminate, None),
        ("lambda", atlas.restart, "a/b"),
        ("vast", atlas.terminate, "1/../2"),
        ("vast", atlas.compute, ".."),
    ],
)
def test_path_walking_compute_ids_send_nothing(sent, provider, call, compute_id):
    with pytest.raises(ValidationError) as err:
        call(compute_id, provider=provider)
    assert err.value.field == "compute_id"
    assert sent == []


def test_a_fly_app_from_provider_opts_or_settings_cannot_walk_the_path(sent):
    with pytest.raises(ValidationError) as err:
        atlas.spawn(provider="fly", image="nginx", provider_opts={"app": "../victim"})
    assert err.value.field == "app"
    atlas.configure(fly_app="web/../victim")
    with pytest.raises(ValidationError):
        atlas.compute("148ed193b95e89", provider="fly")
    assert sent == []


def test_runpod_job_and_resource_ids_cannot_walk_the_path(sent):
    prov = get_provider("runpod")
    with pytest.raises(ValidationError) as err:
        atlas.job("../../v2/pods", endpoint="ep1", provider="runpod")
    assert err.value.field == "job_id"
    with pytest.raises(ValidationError) as err:
        atlas.job("j1", endpoint="ep1/../ep2", provider="runpod")
    assert err.value.field == "endpoint"
    with pytest.raises(ValidationError) as err:
        get_runtime().run(prov.resource_delete("templates", "../pods/abc"))
    assert err.value.field == "id"
    assert sent == []


def test_fly_logs_refuse_an_app_name_before_asking_for_a_token():
    asked = []
    with pytest.raises(ValidationError) as err:
        FlyLogsClient("web/../victim", token=lambda: asked.append(1) or "fm2_x")
    assert err.value.field == "app"
    assert asked == []


def test_well_formed_ids_reach_the_expected_path(sent):
    atlas.terminate("web/148ed193b95e89", provider="fly")
    atlas.terminate("xedezhzb9la3ye", provider="runpod")
    atlas.terminate(13794342, provider="vast")
    paths = [(r.method, r.url.raw_path.split(b"?")[0]) for r in sent]
    assert paths == [
        ("DELETE", b"/v1/apps/web/machines/148ed193b95e89"),
        ("DELETE", b"/v2/pods/xedezhzb9la3ye"),
        ("DELETE", b"/api/v0/instances/13794342/"),
    ]
    assert machines_path("web") == "/apps/web/machines"


@pytest.mark.parametrize("app", ["web/../victim", "..", "a b", None])
def test_fly_logs_facade_refuses_a_bad_app_before_any_token_or_request(sent, app):
    with pytest.raises(ValidationError) as err:
        atlas.fly.logs(app)
    assert err.value.field == "app"
    assert sent == []
