"""Property-based tests of the pure parsers that read what providers send: error envelopes,
GraphQL errors, RunPod's Server-Sent Events, Fly log pages, timestamps and status maps. Each
keeps its promise (a value, None, or the one documented exception) for any input.
Derandomized: the same examples every run."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_nb.errors import KINDS, AtlasError
from atlas_nb.fly.logs.entries import Page, parse_page, parse_timestamp_ns
from atlas_nb.models import ComputeStatus, JobStatus, LogEntry
from atlas_nb.providers.fly_machines import fly_status
from atlas_nb.providers.lambda_cloud import lambda_status, parse_type_name
from atlas_nb.providers.runpod.graphql import graphql_error
from atlas_nb.providers.runpod.logs import Dedupe, SSEParser, entry_from_event, order_key
from atlas_nb.providers.runpod.translate import job_status, parse_time, pod_status
from atlas_nb.providers.vast import vast_status
from atlas_nb.transport.error_mapping import error_from_response, parse_error_body
from tests.helpers.json_bodies import any_json, leaves

PROFILE = settings(max_examples=150, deadline=None, derandomize=True, database=None)

#: what an error response body can be once decoded: JSON, text, or raw bytes
error_bodies = any_json | st.text(max_size=40) | st.binary(max_size=40)


@PROFILE
@given(body=error_bodies)
def test_error_envelopes_always_parse(body):
    parts = parse_error_body(body)
    assert len(parts) == 3
    assert all(p is None or isinstance(p, str) for p in parts)


@PROFILE
@given(
    status=st.integers(min_value=100, max_value=599),
    body=error_bodies,
    headers=st.dictionaries(
        st.sampled_from(["x-request-id", "retry-after", "fly-request-id", "x"]),
        st.text(max_size=10),
    ),
)
def test_every_failed_response_maps_to_one_atlas_error(status, body, headers):
    err = error_from_response("runpod", status, body, headers)
    assert isinstance(err, AtlasError) and err.kind in KINDS
    assert str(err)  # renders


@PROFILE
@given(errors=any_json)
def test_graphql_errors_map_to_atlas_errors(errors):
    err = graphql_error(errors)
    assert isinstance(err, AtlasError) and err.kind in KINDS


sse_lines = st.lists(
    st.one_of(
        st.builds(lambda v: f"data: {json.dumps(v)}", any_json),
        st.builds(lambda t: f"data: {t}", st.text(max_size=20)),
        st.builds(lambda t: f"id: {t}", st.text(max_size=30)),
        st.sampled_from(["", ":keep-alive", "event: log", "retry: x", "data", "id"]),
        st.builds(
            lambda line, ts: "data: " + json.dumps({"line": line, "ts": ts}),
            leaves,
            leaves,
        ),
    ),
    max_size=12,
)


@PROFILE
@given(
    lines=sse_lines,
    cut=st.integers(min_value=1, max_value=7),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_sse_stream_yields_entries_or_skips_never_raises(lines, cut, newline):
    text = newline.join(lines) + newline * 2
    parser, dedupe = SSEParser(), Dedupe()
    for i in range(0, len(text), cut):
        for event in parser.feed(text[i : i + cut]):
            entry = entry_from_event(event, "pod1")
            assert entry is None or isinstance(entry, LogEntry)
            assert isinstance(dedupe.fresh(event), bool)


@PROFILE
@given(value=st.text(max_size=40) | st.none())
def test_sse_event_ids_order_or_are_none(value):
    key = order_key(value)
    assert key is None or (isinstance(key[0], float) and isinstance(key[1], int))


@PROFILE
@given(body=any_json)
def test_fly_log_pages_parse_or_raise_value_error(body):
    try:
        page = parse_page(body, app="web")
    except ValueError:
        return
    assert isinstance(page, Page)
    assert page.skipped == len(page.reasons)


@PROFILE
@given(value=leaves | any_json)
def test_timestamps_parse_or_are_none(value):
    ns = parse_timestamp_ns(value)
    assert ns is None or isinstance(ns, int)
    when = parse_time(value)
    assert when is None or when.tzinfo is not None


@PROFILE
@given(a=st.text(max_size=12) | st.none(), b=st.text(max_size=12) | st.none())
def test_status_maps_accept_any_text(a, b):
    assert isinstance(pod_status(a), ComputeStatus)
    assert isinstance(job_status(a), JobStatus)
    assert isinstance(fly_status(a), ComputeStatus)
    assert isinstance(lambda_status(a), ComputeStatus)
    assert isinstance(vast_status(a, b, b), ComputeStatus)
    parsed = parse_type_name(a or "")
    assert parsed is None or (parsed[0] >= 0 and parsed[1])


@PROFILE
@given(value=any_json)
def test_runpod_status_maps_take_any_json(value):
    """A status that is not text (a number, a list) is unknown / still queued, not a crash."""
    assert isinstance(pod_status(value), ComputeStatus)
    assert isinstance(job_status(value), JobStatus)
