"""atlas.launch's pure decisions (tables), its input checks, its views and the sandbox knobs."""

from __future__ import annotations

import io
import pickle

import httpx
import pandas as pd
import pytest

import atlas_nb as atlas
from atlas_nb.core.launch import (
    ATTEMPT_COLUMNS,
    attempts_frame,
    classify,
    rank_offers,
    relax_advice,
    spawn_args_for,
)
from atlas_nb.errors import (
    AtlasTimeoutError,
    CapacityError,
    ConflictError,
    ForbiddenError,
    MissingCredentialsError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    TransportError,
    UnauthorizedError,
    UnsupportedError,
    ValidationError,
)
from atlas_nb.models import ComputeStatus
from atlas_nb.providers.mock import MockProvider
from atlas_nb.sandbox._offer_faults import launch_knobs
from atlas_nb.sandbox.lambda_cloud.api import LambdaLaunchFaults
from atlas_nb.sandbox.runpod.rest.launch_faults import LAUNCH_FAULTS as RUNPOD_LAUNCH_FAULTS
from atlas_nb.sandbox.vast.api import VastLaunchFaults
from atlas_nb.widgets.launch_view import LaunchLines, LaunchView, format_attempt
from tests.unit.test_widgets import recorded


class QuotaExceededError(CapacityError):
    """The shape issue 15 gives Lambda's quota error (a CapacityError subclass)."""


def offers_table(*rows):
    cols = ["provider", "gpu_count", "vram_gb", "price_per_hr", "spot_price_per_hr", "availability"]
    return pd.DataFrame([dict(zip(cols, r, strict=True)) for r in rows])


RANK_CASES = [
    # (rows, options, expected provider order)
    (
        [
            ("a", 1, 80, 2.0, None, "low"),
            ("b", 1, 80, 2.0, None, "high"),
            ("c", 1, 80, 1.0, None, "medium"),
        ],
        {},
        ["c", "b", "a"],
    ),
    (  # sold out and unpriced offers are never tried
        [
            ("a", 1, 80, 1.0, None, "none"),
            ("b", 1, 80, None, None, "high"),
            ("c", 1, 80, 3.0, None, None),
        ],
        {},
        ["c"],
    ),
    (  # exactly `count` GPUs: an 8-GPU machine is not what count=1 asked for
        [
            ("a", 8, 80, 0.5, None, "high"),
            ("b", 1, 80, 2.0, None, "high"),
            ("c", 2, 80, 3.0, None, "high"),
        ],
        {"count": 2},
        ["c"],
    ),
    (  # spot ranks by the spot price and drops offers without one
        [
            ("a", 1, 80, 1.0, None, "high"),
            ("b", 1, 80, 3.0, 0.9, "high"),
            ("c", 1, 80, 2.0, 0.5, "high"),
        ],
        {"spot": True},
        ["c", "b"],
    ),
    (  # min_vram_gb, with 2 % slack for GiB listings; unknown VRAM is dropped
        [
            ("a", 1, 79.6, 1.0, None, "high"),
            ("b", 1, 48, 0.5, None, "high"),
            ("c", 1, None, 0.1, None, "high"),
        ],
        {"min_vram_gb": 80},
        ["a"],
    ),
    (  # equal price and availability: the frame's order decides
        [("x", 1, 80, 1.0, None, "high"), ("y", 1, 80, 1.0, None, "high")],
        {},
        ["x", "y"],
    ),
]


@pytest.mark.parametrize("rows, options, expected", RANK_CASES)
def test_rank_offers(rows, options, expected):
    assert rank_offers(offers_table(*rows), **options)["provider"].tolist() == expected


def test_rank_offers_keeps_the_offer_columns():
    df = offers_table(("a", 1, 80, 1.0, None, "high"))
    assert list(rank_offers(df).columns) == list(df.columns)


CLASSIFY_CASES = [
    (CapacityError("no capacity", provider="runpod", status=400), ("capacity", False)),
    (CapacityError("gone", provider="vast", status=410), ("offer_gone", False)),
    (CapacityError("gone", provider="vast", status=404, code="no_such_ask"), ("offer_gone", False)),
    (QuotaExceededError("quota", provider="lambda", status=400), ("quota", False)),
    (RateLimitedError("q", provider="lambda", code="global/quota-exceeded"), ("quota", False)),
    (NotFoundError("no such offer", provider="vast", status=404), ("offer_gone", False)),
    (ProviderError("internal error", provider="vast", status=500), ("error", False)),
    (TransportError("connect failed", provider="vast"), ("error", False)),
    (AtlasTimeoutError("read timeout", provider="vast"), ("error", False)),
    (ConflictError("busy", provider="vast", status=409), ("error", False)),
    (UnauthorizedError("bad key", provider="runpod", status=401), ("skipped", True)),
    (MissingCredentialsError("no key", provider="lambda"), ("skipped", True)),
    (ForbiddenError("no scope", provider="runpod", status=403), ("skipped", True)),
    (ProviderError("insufficient balance", provider="runpod", status=402), ("skipped", True)),
    (UnsupportedError("no spot on lambda", provider="lambda"), ("skipped", True)),
    (ValidationError("needs an ssh key", field="ssh_key"), ("skipped", True)),
    (RateLimitedError("slow down", provider="lambda", status=429), ("skipped", True)),
]


@pytest.mark.parametrize("exc, expected", CLASSIFY_CASES, ids=lambda v: getattr(v, "kind", ""))
def test_classify(exc, expected):
    assert classify(exc) == expected


def attempts(*outcomes_and_providers):
    return attempts_frame(
        {"attempt": i + 1 if o != "skipped" else None, "provider": p, "outcome": o}
        for i, (o, p) in enumerate(outcomes_and_providers)
    )


ADVICE_CASES = [
    ({}, [], "Relax the request: try another GPU type or count."),
    (
        {"max_price_per_hr": 2.5, "regions": ["US", "CA"]},
        [("capacity", "vast")],
        "Relax the request: raise max_price_per_hr (now 2.5), allow more regions (now US, CA), "
        "or try another GPU type or count.",
    ),
    (
        {"providers": ["vast"], "spot": True, "min_vram_gb": 80},
        [("offer_gone", "vast")],
        "Relax the request: add providers (now vast), try spot=False, lower min_vram_gb (now 80), "
        "or try another GPU type or count.",
    ),
    (
        {"max_attempts": 3, "untried": 7},
        [("capacity", "vast"), ("capacity", "vast"), ("capacity", "vast")],
        "Relax the request: raise max_attempts (now 3; 7 more offers matched), "
        "or try another GPU type or count.",
    ),
    (
        {"max_attempts": 10, "untried": 0},
        [("skipped", "runpod"), ("stuck", "vast")],
        "Relax the request: fix the skipped providers (runpod; see the reason column), "
        "or try another GPU type or count.",
    ),
    (
        {"max_price_per_hr": 1},
        [("failed", "vast"), ("failed", "runpod")],
        "Relax the request: check the image and its command (pods failed while booting: see "
        "reason), raise max_price_per_hr (now 1), or try another GPU type or count.",
    ),
    (
        {"no_key": ["lambda", "vast"]},
        [("capacity", "runpod")],
        "Relax the request: add a key for lambda, vast (atlas.configure(api_keys=...)), "
        "or try another GPU type or count.",
    ),
]


@pytest.mark.parametrize("options, rows, expected", ADVICE_CASES)
def test_relax_advice(options, rows, expected):
    assert relax_advice(attempts(*rows), **options) == expected


SPAWN_ARGS_CASES = [
    ({}, "vast", {}),
    ({"idle_ttl": 60}, "vast", {"idle_ttl": 60}),
    ({"provider_opts": {"bid_price": 0.5}}, "vast", {"provider_opts": {"bid_price": 0.5}}),
    (
        {"provider_opts": {"vast": {"bid_price": 0.5}, "lambda": {"ssh_key": "k"}}},
        "lambda",
        {"provider_opts": {"ssh_key": "k"}},
    ),
    ({"provider_opts": {"vast": {"bid_price": 0.5}}, "name": "x"}, "runpod", {"name": "x"}),
]


@pytest.mark.parametrize("args, provider, expected", SPAWN_ARGS_CASES)
def test_spawn_args_per_provider(args, provider, expected):
    assert spawn_args_for(args, provider) == expected


def test_attempts_frame_has_the_documented_schema():
    df = attempts_frame([{"attempt": 1, "provider": "vast", "outcome": "launched", "seconds": 1}])
    assert list(df.columns) == list(ATTEMPT_COLUMNS)
    assert {c: str(t) for c, t in df.dtypes.items()} == ATTEMPT_COLUMNS
    assert attempts_frame([]).empty


BAD_INPUT = [
    ({"gpu": "h10"}, "h100"),  # did you mean
    ({"count": 0}, "count=0"),
    ({"max_attempts": 0}, "max_attempts=0"),
    ({"min_vram_gb": -1}, "min_vram_gb=-1"),
    ({"timeout": "soon"}, "timeout='soon' is not a duration"),
    ({"provision_timeout": "x"}, "provision_timeout='x'"),
    ({"timeout": 0}, "timeout=0 s: it must be longer than 0"),
    ({"provision_timeout": "0s"}, "provision_timeout=0 s"),
    ({"idle_ttl": "forever"}, "idle_ttl='forever'"),
    ({"ports": ["http"]}, "port"),
    ({"provider": "vast"}, "unexpected keyword(s) ['provider']"),
    ({"gpu_count": 2}, "unexpected keyword(s) ['gpu_count']"),
]


@pytest.mark.parametrize("kwargs, says", BAD_INPUT)
def test_bad_input_fails_before_any_offer_is_tried(kwargs, says):
    args = {"gpu": "h100", "providers": ["mock"], "image": "python:3.11", **kwargs}
    with pytest.raises(ValidationError) as caught:
        atlas.launch(args.pop("gpu"), progress=False, **args)
    assert says in str(caught.value)
    assert atlas.computes(provider="mock").empty


def test_capacity_error_carries_the_attempts_through_pickle():
    frame = attempts(("capacity", "vast"))
    err = CapacityError("none came up", attempts=frame)
    again = pickle.loads(pickle.dumps(err))
    assert again.attempts.equals(frame) and str(again) == str(err)
    assert CapacityError("plain").attempts is None


def test_launch_on_the_mock_returns_a_running_compute_with_its_attempts():
    c = atlas.launch("rtx_4090", providers="mock", image="python:3.11", progress=False)
    assert c.status.value == "running"
    assert c.launch_attempts["outcome"].tolist() == ["launched"]
    assert atlas.compute(c.id, provider="mock").launch_attempts is None  # only launch sets it
    atlas.untrack(c.id, terminate=True)


def test_aio_launch_is_awaitable_from_another_loop():
    import asyncio

    async def main():
        c = await atlas.aio.launch(
            "l4", providers="mock", image="python:3.11", track=False, progress=False
        )
        await atlas.aio.terminate(c.id, provider="mock")
        return c.launch_attempts["outcome"].tolist()

    assert asyncio.run(main()) == ["launched"]


def test_launch_takes_provider_classes():
    from atlas_nb.providers.mock import MockProvider

    c = atlas.launch(
        "l4", providers=[MockProvider], image="python:3.11", track=False, progress=False
    )
    assert c.provider == "mock" and c.launch_attempts["provider"].tolist() == ["mock"]
    c.terminate()


# -- views -------------------------------------------------------------------------------------

ROW_FAIL = {
    "attempt": 1,
    "provider": "vast",
    "gpu": "h100",
    "gpu_count": 1,
    "region": "SE",
    "price_per_hr": 1.5669,
    "outcome": "offer_gone",
    "reason": "HTTP 410: taken <now>",
    "seconds": 0.04,
}
ROW_OK = {**ROW_FAIL, "attempt": 2, "region": "CA", "outcome": "launched", "reason": "running"}

FORMAT_CASES = [
    (ROW_FAIL, "#1 vast 1 x h100 SE $1.567/h -> offer_gone (0.0 s): HTTP 410: taken <now>"),
    (
        {"provider": "runpod", "outcome": "skipped", "reason": "offers failed: bad key"},
        "runpod -> skipped: offers failed: bad key",
    ),
    (
        {
            "attempt": 3,
            "provider": "runpod",
            "gpu": "h100",
            "gpu_count": pd.NA,
            "region": pd.NA,
            "price_per_hr": 2.69,
            "outcome": "stuck",
            "reason": None,
            "seconds": 12.345,
        },
        "#3 runpod 1 x h100 $2.69/h -> stuck (12.3 s)",
    ),
]


@pytest.mark.parametrize("row, line", FORMAT_CASES)
def test_format_attempt(row, line):
    assert format_attempt(row) == line


def test_terminal_lines():
    out = io.StringIO()
    lines = LaunchLines("launch 1 x h100", stream=out)
    lines.attempt_started(ROW_FAIL)  # nothing until it finishes
    assert out.getvalue() == ""
    lines.attempt_finished(ROW_FAIL)
    lines.finished("launched 123 on vast after 2 attempt(s) in 1.0 s", ok=True)
    assert out.getvalue().splitlines() == [
        "launch 1 x h100: #1 vast 1 x h100 SE $1.567/h -> offer_gone (0.0 s): HTTP 410: taken <now>",
        "launch 1 x h100: launched 123 on vast after 2 attempt(s) in 1.0 s",
    ]


def test_the_notebook_view_updates_its_traits_live():
    view = LaunchView("launch 1 x h100", display=False)
    progress, table = recorded(view.progress), recorded(view.table)
    view.attempt_started(ROW_FAIL)
    assert "trying #1: vast 1 x h100 SE $1.567/h..." in view.progress.value
    view.attempt_waiting({**ROW_FAIL, "compute_id": "8000014"}, 1200)
    assert "created 8000014, waiting for it to run (at most 1200 s)" in view.progress.value
    view.attempt_finished(ROW_FAIL)
    view.attempt_started(ROW_OK)
    view.attempt_finished(ROW_OK)
    view.finished("launched 123 on vast after 2 attempt(s)", ok=True)
    assert view.lines == [format_attempt(ROW_FAIL), format_attempt(ROW_OK)]
    assert view.table.value.count("<li") == 2
    assert "taken &lt;now&gt;" in view.table.value  # provider text is escaped
    assert "launched 123 on vast" in view.progress.value and view.state == "done"
    assert repr(view) == "LaunchView('launch 1 x h100', state=done, attempts=2)"
    # each change went to the front end as a trait update
    sent = [m["state"]["value"] for m in progress.messages if "value" in m.get("state", {})]
    assert len(sent) == 4 and "launched 123" in sent[-1]
    rows = [m["state"]["value"] for m in table.messages if "value" in m.get("state", {})]
    assert [r.count("<li") for r in rows] == [1, 2]


def test_the_notebook_view_displays_as_the_widget_with_a_plain_text_form():
    view = LaunchView("launch 1 x h100", display=False)
    bundle = view._repr_mimebundle_()
    assert bundle["text/plain"] == "LaunchView('launch 1 x h100', state=running, attempts=0)"
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == view.widget.model_id


def test_the_notebook_view_shows_a_failure():
    view = LaunchView("launch 1 x h100", display=False)
    view.attempt_finished(ROW_FAIL)
    view.finished("none of the 1 offers tried came up", ok=False)
    assert view.state == "failed" and "#c62828" in view.progress.value


# -- sandbox knobs -----------------------------------------------------------------------------

#: each cloud's own side of the launch faults
LAUNCH_FAULTS = {
    "runpod": RUNPOD_LAUNCH_FAULTS,
    "lambda": LambdaLaunchFaults(),
    "vast": VastLaunchFaults(),
}

REFUSAL_CASES = [
    ("runpod", "capacity", 400, "There are no longer any instances available"),
    ("lambda", "capacity", 400, "instance-operations/launch/insufficient-capacity"),
    ("lambda", "quota", 400, "global/quota-exceeded"),
    ("vast", "offer_gone", 410, "no_such_ask"),
    ("vast", "capacity", 410, "no_such_ask"),
]


@pytest.mark.parametrize("provider, kind, status, says", REFUSAL_CASES)
def test_refusals_on_the_wire(sandbox_inproc, provider, kind, status, says):
    route, _ = launch_knobs(provider, kind)
    method, path = route.split(" ")
    path = path + "5001/" if provider == "vast" else path
    sandbox_inproc.fail_launches(provider, kind, count=1)
    base = sandbox_inproc.urls[provider if provider != "runpod" else "runpod_rest"]
    base = base.removesuffix("/api/v1")  # routes are relative to the provider's mount
    key = sandbox_inproc.api_keys[provider]

    async def call():
        async with httpx.AsyncClient(transport=sandbox_inproc.transport) as client:
            first = await client.request(method, base + path, json={}, headers=_auth(key))
            second = await client.request(method, base + path, json={}, headers=_auth(key))
            return first, second

    first, second = atlas._runtime.get_runtime().run(call())
    assert first.status_code == status and says in first.text
    assert first.json() == LAUNCH_FAULTS[provider].refusal(kind, path)[1]
    assert second.text != first.text  # count=1: the next create reaches the real handler


def _auth(key):
    return {"Authorization": f"Bearer {key}"}


def test_seeded_refusals_replay_the_same_way():
    def outcomes(seed):
        with atlas.sandbox.in_process(seed=seed, speed=100) as sb:
            sb.fail_launches("vast", "offer_gone", count=None, error_rate=0.6)
            c = atlas.launch(
                "h100", providers=["vast"], image="python:3.11", track=False, progress=False
            )
            c.terminate()
            return c.launch_attempts["outcome"].tolist()

    runs = {seed: outcomes(seed) for seed in (1, 2, 3)}
    assert outcomes(2) == runs[2]
    assert all(r[-1] == "launched" for r in runs.values())
    assert any("offer_gone" in r for r in runs.values())


def test_launch_knobs_refuse_what_they_do_not_know():
    with pytest.raises(ValueError, match="use one of"):
        launch_knobs("vast", "meteor")
    with pytest.raises(ValueError, match="launch faults exist for"):
        launch_knobs("fly", "capacity")


def test_a_named_provider_without_a_key_is_a_skipped_row():
    c = atlas.launch(
        "l4", providers=["runpod", "mock"], image="python:3.11", track=False, progress=False
    )
    rows = c.launch_attempts[["provider", "outcome", "reason"]].to_dict("records")
    assert rows == [
        {"provider": "runpod", "outcome": "skipped", "reason": "no credentials"},
        {"provider": "mock", "outcome": "launched", "reason": rows[1]["reason"]},
    ]
    c.terminate()


def test_each_attempt_is_a_telemetry_event():
    seen = []
    atlas.telemetry.attach(
        "launch-test", ["atlas.launch.*"], lambda e, m, md: seen.append((e, m, md))
    )
    try:
        c = atlas.launch("l4", providers="mock", image="python:3.11", track=False, progress=False)
    finally:
        atlas.telemetry.detach("launch-test")
    [(event, measurements, metadata)] = seen
    assert event == "atlas.launch.attempt" and measurements["seconds"] >= 0
    assert metadata == {
        "attempt": 1,
        "provider": "mock",
        "offer_id": metadata["offer_id"],
        "outcome": "launched",
        "compute_id": c.id,
    }
    c.terminate()


class CrashingMock(MockProvider):
    """A cloud whose pods all fail while booting (as a broken image does everywhere)."""

    name = "crashmock"

    async def offers(self, query):  # cheaper than the mock, so it is tried first
        return [
            {**row, "price_per_hr": row["price_per_hr"] / 2} for row in await super().offers(query)
        ]

    async def get(self, compute_id):
        found = await super().get(compute_id)
        if found.status is ComputeStatus.RUNNING:
            return found.model_copy(update={"status": ComputeStatus.FAILED})
        return found


def test_launch_stops_after_two_pods_failed_while_booting():
    # two failed boots: the image is the likely cause, so the mock's offers are not tried
    with pytest.raises(CapacityError) as caught:
        atlas.launch("l4", providers=[CrashingMock, "mock"], image="python:3.11", progress=False)
    a = caught.value.attempts
    assert a["provider"].tolist() == ["crashmock", "crashmock"]
    assert a["outcome"].tolist() == ["failed", "failed"]
    assert a["cleanup"].tolist() == ["terminated", "terminated"]
    assert "check the image and its command" in str(caught.value)
    assert atlas.computes(provider="mock").empty
