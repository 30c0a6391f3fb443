"""RunPod pure decisions: status maps, request/response translation, offers, SSE, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from atlas_nb.errors import (
    CapacityError,
    ProviderError,
    UnauthorizedError,
    UnsupportedError,
    ValidationError,
)
from atlas_nb.models import ComputeRequest, ComputeStatus, JobStatus
from atlas_nb.providers.runpod import billing, catalog, logs, translate
from atlas_nb.providers.runpod.graphql import graphql_error
from atlas_nb.providers.runpod.jobs import endpoint_path, runsync_wait_s
from atlas_nb.providers.runpod.management import ENDPOINTS, REGISTRIES, TEMPLATES
from atlas_nb.providers.runpod.pods import pod_path


@pytest.mark.parametrize(
    ("v2", "status"),
    [
        ("PROVISIONING", ComputeStatus.PROVISIONING),
        ("STARTING", ComputeStatus.STARTING),
        ("RUNNING", ComputeStatus.RUNNING),
        ("EXITED", ComputeStatus.STOPPED),
        ("ERROR", ComputeStatus.FAILED),
        ("TERMINATED", ComputeStatus.TERMINATED),
        ("running", ComputeStatus.RUNNING),
        ("MIGRATING", ComputeStatus.UNKNOWN),
        ("", ComputeStatus.UNKNOWN),
        (None, ComputeStatus.UNKNOWN),
    ],
)
def test_every_pod_status_maps(v2, status):
    assert translate.pod_status(v2) is status


def test_pod_status_keeps_the_provider_status():
    fields = translate.compute_fields({"id": "p", "status": "MIGRATING"})
    assert fields["status"] is ComputeStatus.UNKNOWN and fields["provider_status"] == "MIGRATING"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("IN_QUEUE", JobStatus.QUEUED),
        ("IN_PROGRESS", JobStatus.RUNNING),
        ("RUNNING", JobStatus.RUNNING),
        ("COMPLETED", JobStatus.COMPLETED),
        ("FAILED", JobStatus.FAILED),
        ("CANCELLED", JobStatus.CANCELLED),
        ("TIMED_OUT", JobStatus.TIMED_OUT),
        ("SOMETHING_NEW", JobStatus.QUEUED),
    ],
)
def test_every_job_status_maps(raw, status):
    assert translate.job_status(raw) is status


@pytest.mark.parametrize(
    ("status", "v2"),
    [
        (ComputeStatus.STOPPED, {"EXITED"}),
        (ComputeStatus.FAILED, {"ERROR"}),
        (ComputeStatus.STOPPING, set()),
    ],
)
def test_status_filter_inverts_the_map(status, v2):
    assert translate.status_filter(status) == v2


@pytest.mark.parametrize(
    ("gpu", "native"),
    [
        ("h100", "NVIDIA H100 80GB HBM3"),
        ("a100_80g", "NVIDIA A100-SXM4-80GB"),
        ("NVIDIA A100 80GB PCIe", "NVIDIA A100 80GB PCIe"),
        ("nvidia l4", "NVIDIA L4"),
        ("RTX 4090", "NVIDIA GeForce RTX 4090"),  # Vast's native name, same GPU
    ],
)
def test_gpu_type_id(gpu, native):
    assert translate.gpu_type_id(gpu) == native


def test_gpu_without_runpod_mapping_is_a_clear_error():
    with pytest.raises(ValidationError) as info:
        translate.gpu_type_id("gh200")
    assert "RunPod has no GPU" in str(info.value) and "h100" in str(info.value)


@pytest.mark.parametrize(
    ("cloud", "tries"),
    [
        (None, [None]),
        ("secure", ["SECURE"]),
        ("community", ["COMMUNITY"]),
        ("any", ["SECURE", "COMMUNITY"]),
    ],
)
def test_clouds_for(cloud, tries):
    assert translate.clouds_for(cloud) == tries


def _req(**kw):
    return ComputeRequest(**{"gpu": "l4", "image": "img", "name": "atlas-t", **kw})


@pytest.mark.parametrize(
    ("kw", "expect"),
    [
        ({}, {"name": "atlas-t", "image": "img", "gpu": {"id": "NVIDIA L4", "count": 1}}),
        ({"gpu_count": 2, "disk_gb": 80}, {"gpu": {"id": "NVIDIA L4", "count": 2}, "disk": 80}),
        ({"template": "tpl1", "image": None}, {"templateId": "tpl1"}),
        ({"regions": ["EU-RO-1"]}, {"dataCenterIds": ["EU-RO-1"]}),
        ({"ports": ["8000/http", "22/tcp"]}, {"ports": ["8000/http", "22/tcp"]}),
        ({"volume_gb": 30}, {"mounts": {"persistent": {"size": 30, "path": "/workspace"}}}),
        (
            {"provider_opts": {"networkVolumeId": "vol1", "volumeMountPath": "/data"}},
            {"mounts": {"network": [{"volumeId": "vol1", "path": "/data"}]}},
        ),
        (
            {"provider_opts": {"startSsh": True, "globalNetworking": True}},
            {"startSsh": True, "globalNetworking": True},
        ),
        (
            {"provider_opts": {"cpu": {"id": "cpu5c", "vcpuCount": 4}}},
            {"cpu": {"id": "cpu5c", "vcpuCount": 4}},
        ),
    ],
)
def test_create_pod_body(kw, expect):
    body = translate.create_pod_body(_req(**kw), env={}, gpu_id="NVIDIA L4", cloud=None)
    for key, value in expect.items():
        assert body[key] == value
    if "cpu" in body:
        assert "gpu" not in body
    assert "interruptible" not in body and "cloudType" not in body  # v1 names are gone


def test_create_body_env_is_an_object_and_opts_override_or_remove():
    req = _req(env={"A": "1"}, provider_opts={"env": {"B": 2}, "image": None})
    body = translate.create_pod_body(
        req, env={"A": "1", "ATLAS_PRESHARED_KEY": "t"}, gpu_id="NVIDIA L4", cloud="COMMUNITY"
    )
    assert body["env"] == {"A": "1", "ATLAS_PRESHARED_KEY": "t", "B": "2"}
    assert "image" not in body and body["cloud"] == "COMMUNITY"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"provider_opts": {"interruptible": True}}, "not fields of RunPod's CreatePodRequest"),
        ({"volume_gb": 5}, "10 GB minimum"),
    ],
)
def test_create_body_refuses_bad_input(kw, message):
    with pytest.raises(ValidationError, match=message):
        translate.create_pod_body(_req(**kw), env={}, gpu_id="NVIDIA L4", cloud=None)


def test_spot_input_uses_graphql_shapes():
    req = _req(ports=["8000/http", "22/tcp"], volume_gb=20, regions=["US-CA-2"])
    inp = translate.spot_pod_input(
        req, env={"K": "v"}, gpu_id="NVIDIA L4", cloud="COMMUNITY", bid_per_gpu=0.15
    )
    assert inp["ports"] == "8000/http,22/tcp" and inp["env"] == [{"key": "K", "value": "v"}]
    assert inp["cloudType"] == "COMMUNITY" and inp["bidPerGpu"] == 0.15
    assert inp["volumeInGb"] == 20 and inp["volumeMountPath"] == "/workspace"
    assert inp["dataCenterId"] == "US-CA-2"


@pytest.mark.parametrize(
    ("fields", "body"),
    [
        ({"name": "x"}, {"name": "x"}),
        ({"disk_gb": 60, "locked": True}, {"disk": 60, "locked": True}),
        ({"ports": [8000, "22/tcp"]}, {"ports": ["8000/http", "22/tcp"]}),
        ({"global_networking": False}, {"globalNetworking": False}),
    ],
)
def test_update_pod_body(fields, body):
    assert translate.update_pod_body(fields) == body


def test_update_pod_body_refuses_unknown_fields():
    with pytest.raises(ValidationError, match="cannot be updated"):
        translate.update_pod_body({"gpu": "h100"})


POD = {
    "id": "pod1",
    "name": "atlas-x",
    "status": "RUNNING",
    "image": "img",
    "ports": ["8888/http", "22/tcp", "9000/tcp", "junk"],
    "env": {"ATLAS_PRESHARED_KEY": "secret-token", "X": "1"},
    "gpu": {"id": "NVIDIA A100-SXM4-80GB", "count": 2},
    "dataCenterId": "EU-RO-1",
    "cost": 3.78,
    "createdAt": "2026-06-01T12:00:00Z",
    "runtime": {"ports": [{"private": 22, "public": 41022, "type": "tcp", "ip": "198.51.100.7"}]},
}


def test_pod_to_compute_fields():
    f = translate.compute_fields(POD)
    assert (f["id"], f["gpu"], f["gpu_count"], f["region"], f["cost_per_hr"]) == (
        "pod1",
        "a100_80g",
        2,
        "EU-RO-1",
        3.78,
    )
    assert f["created_at"] == datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert f["public_ip"] == "198.51.100.7"
    urls = {p.internal: p.url for p in f["ports"]}
    assert urls == {
        8888: "https://pod1-8888.proxy.runpod.net",
        22: "tcp://198.51.100.7:41022",
        9000: None,  # tcp without a runtime mapping yet
    }
    assert "secret-token" not in repr(f["raw"]) and f["raw"]["env"]["X"] == "1"


def test_cpu_pod_has_no_gpu():
    f = translate.compute_fields({"id": "c", "status": "RUNNING", "cpu": {"id": "cpu5c"}})
    assert f["gpu"] is None and f["gpu_count"] == 0


@pytest.mark.parametrize(
    "args",
    [
        ("NVIDIA L4", "SECURE", False, 1, None),
        ("AMD Instinct MI300X OAM", "COMMUNITY", True, 8, "EU-RO-1"),
    ],
)
def test_offer_id_round_trip(args):
    gpu, cloud, spot, count, dc = args
    oid = translate.encode_offer_id(gpu, cloud, spot=spot, count=count, data_center=dc)
    assert tuple(translate.decode_offer_id(oid)) == args


@pytest.mark.parametrize("bad", ["", "vast:123", "rp1|x|ANY|od|1|", "rp1|x|SECURE|od|one|"])
def test_foreign_offer_ids_are_refused(bad):
    with pytest.raises(ValidationError, match="not a RunPod offer id"):
        translate.decode_offer_id(bad)


def test_job_fields_and_run_body():
    f = translate.job_fields(
        {"id": "j", "status": "COMPLETED", "output": [1], "delayTime": 3}, "ep1"
    )
    assert f["status"] is JobStatus.COMPLETED and f["output"] == [1] and f["endpoint"] == "ep1"
    assert f["execution_ms"] is None
    body = translate.run_body(
        {"a": 1},
        webhook="http://127.0.0.1/h",
        policy={"executionTimeout": 1000},
        opts={"s3Config": None},
    )
    assert body == {
        "input": {"a": 1},
        "webhook": "http://127.0.0.1/h",
        "policy": {"executionTimeout": 1000},
    }


@pytest.mark.parametrize(
    ("timeout", "wait"), [(None, 90.0), (0.2, None), (1.0, 1.0), (45, 45), (1000, 300.0)]
)
def test_runsync_wait(timeout, wait):
    assert runsync_wait_s(timeout) == wait


def test_paths_take_well_formed_ids():
    assert pod_path("xedezhzb9la3ye", "/logs") == "/v2/pods/xedezhzb9la3ye/logs"
    assert endpoint_path("ep-1", "status", "c80f-u1") == "/ep-1/status/c80f-u1"


@pytest.mark.parametrize("bad", ["", "..", "a/../b", "a/b", "j?x=1", "a b", "a%2Fb", None, 7.5])
def test_paths_refuse_ids_that_could_walk_the_path(bad):
    with pytest.raises(ValidationError) as err:
        pod_path(bad)
    assert err.value.field == "compute_id"
    with pytest.raises(ValidationError) as err:
        endpoint_path("ep", "status", bad)
    assert err.value.field == "job_id"
    with pytest.raises(ValidationError) as err:
        endpoint_path(bad, "run")
    assert err.value.field == "endpoint"


# -- SSE ----------------------------------------------------------------------------------


def test_sse_parser_handles_split_chunks_crlf_comments_and_multiline_data():
    p = logs.SSEParser()
    stream = 'id: 1\r\ndata: {"a":\r\ndata: 1}\r\n\r\n: keep-alive\n\nevent: x\ndata: y\n\n'
    events = []
    for i in range(0, len(stream), 3):
        events += p.feed(stream[i : i + 3])
    assert [(e.id, e.data, e.event) for e in events] == [
        ("1", '{"a":\n1}', "message"),
        ("1", "y", "x"),  # the id persists until changed, per the SSE spec
    ]


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("INFO  ready", "info"),
        ("[WARN] hot", "warning"),
        ("ERROR boom", "error"),
        ("fatal: x", "critical"),
        ("plain text", None),
        ("information", None),
    ],
)
def test_level_of(line, level):
    assert logs.level_of(line) == level


def test_malformed_events_are_not_entries():
    assert logs.entry_from_event(logs.SSEEvent("1", '{"ts": "x", "line": ')) is None
    assert logs.entry_from_event(logs.SSEEvent("1", '["not", "an", "object"]')) is None
    entry = logs.entry_from_event(
        logs.SSEEvent("2026-06-01T12:00:00Z", '{"ts": "2026-06-01T12:00:00Z", "line": "ok"}'), "p"
    )
    assert entry is not None and entry.instance == "p" and entry.timestamp.year == 2026


def test_dedupe_drops_replays_but_keeps_lines_sharing_a_timestamp():
    d = logs.Dedupe()
    ev = logs.SSEEvent
    t1, t2 = "2026-06-01T12:00:01Z", "2026-06-01T12:00:02Z"
    assert d.fresh(ev(t1, "a")) and d.fresh(ev(t2, "b"))
    assert d.fresh(ev(t2, "c"))  # same timestamp, another line
    assert not d.fresh(ev(t1, "a"))  # older than what was delivered
    assert not d.fresh(ev(t2, "b"))  # exact replay
    assert d.fresh(ev(None, "no id")) and not d.fresh(ev(None, "no id"))


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errors", "cls"),
    [
        (
            [{"message": "Unauthorized", "extensions": {"code": "UNAUTHENTICATED"}}],
            UnauthorizedError,
        ),
        (
            [
                {
                    "message": "There are no longer any instances available with the requested "
                    "specifications."
                }
            ],
            CapacityError,
        ),
        ([{"message": 'Cannot query field "x" on type "GpuType".'}], ValidationError),
        (
            [{"message": 'Variable "$input" of required type "X!" was not provided.'}],
            ValidationError,
        ),
        ([{"message": "Something went wrong. Please try again later."}], ProviderError),
        (["bare string"], ProviderError),
    ],
)
def test_graphql_errors_map_to_kinds(errors, cls):
    err = graphql_error(errors)
    assert type(err) is cls and err.provider == "runpod" and err.status == 200


# -- catalogue, offers, billing, management --------------------------------------------------

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ROW = {
    "id": "NVIDIA GeForce RTX 4090",
    "name": "RTX 4090",
    "memory": 24,
    "secure": True,
    "community": True,
    "price": {"secure": 0.69, "community": 0.34, "serverless": 1.1},
    "maxCount": {"secure": 8, "community": 4},
    "availability": "MEDIUM",
    "dataCenters": [{"id": "US-TX-3"}, {"id": "EU-RO-1"}],
}


def test_gpu_type_normalisation():
    gt = catalog.gpu_type(ROW, {"secure": 0.38, "community": 0.17}, NOW)
    assert (gt.gpu, gt.price_per_hr, gt.secure_price_per_hr, gt.community_price_per_hr) == (
        "rtx_4090",
        0.69,
        0.69,
        0.34,
    )
    assert (gt.spot_price_per_hr, gt.serverless_price_per_hr, gt.max_count, gt.vram_gb) == (
        0.17,
        1.1,
        8,
        24.0,
    )
    assert gt.availability == "medium" and gt.regions == ["US-TX-3", "EU-RO-1"]
    assert catalog.gpu_type({**ROW, "secure": False}, {}, NOW).price_per_hr == 0.34


@pytest.mark.parametrize(
    ("query", "expect"),
    [
        ({"count": 1}, [("SECURE", 0.69, None), ("COMMUNITY", 0.34, None)]),
        ({"count": 2, "spot": True}, [("SECURE", 1.38, 0.76), ("COMMUNITY", 0.68, 0.34)]),
        ({"count": 8}, [("SECURE", 5.52, None)]),  # community max is 4
        (
            {"count": 1, "regions": ["EU-RO-1", "AP-JP-1"]},
            [("SECURE", 0.69, "EU-RO-1"), ("COMMUNITY", 0.34, "EU-RO-1")],
        ),
    ],
)
def test_offer_rows(query, expect):
    spot = {ROW["id"]: {"secure": 0.38, "community": 0.17}}
    none_row = {**ROW, "id": "NVIDIA L4", "availability": "NONE"}
    rows = catalog.offer_rows({"SECURE": [ROW, none_row], "COMMUNITY": [ROW]}, spot, query, NOW)
    got = []
    for r in rows:
        offer = translate.decode_offer_id(r["offer_id"])
        assert offer.spot == bool(query.get("spot")) and offer.gpu_count == query["count"]
        third = r["spot_price_per_hr"] if query.get("spot") else r["region"]
        got.append((offer.cloud, r["price_per_hr"], third))
    assert got == expect


def test_merge_clouds_keeps_the_better_availability():
    merged = catalog.merge_clouds(
        [{"id": "g", "availability": "LOW", "dataCenters": [{"id": "A"}]}],
        [{"id": "g", "availability": "HIGH", "dataCenters": [{"id": "A"}, {"id": "B"}]}],
    )
    assert merged == [
        {"id": "g", "availability": "HIGH", "dataCenters": [{"id": "A"}, {"id": "B"}]}
    ]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"bucket": "minute"}, "not a bucket size"),
        ({"last": 3, "start": "2026-01-01T00:00:00Z"}, "cannot be combined"),
        ({"start": "yesterday"}, "not a time"),
        ({"last": 0}, ">= 1"),
    ],
)
def test_billing_params_are_validated(kw, message):
    args = {"start": None, "end": None, "bucket": "day", "last": None, **kw}
    with pytest.raises(ValidationError, match=message):
        billing.billing_params(**args)


def test_billing_params_and_frame():
    params = billing.billing_params(
        start=datetime(2026, 6, 1, tzinfo=UTC),
        end=None,
        bucket="hour",
        last=None,
        resource_id="ep1",
        kind="serverless",
    )
    assert params == {
        "bucketSize": "hour",
        "startTime": "2026-06-01T00:00:00Z",
        "serverlessId": "ep1",
    }
    body = {
        "records": [
            {
                "startTime": "2026-06-01T00:00:00Z",
                "endTime": "2026-06-01T01:00:00Z",
                "podId": "p1",
                "totalAmount": 0.5,
                "gpuAmount": 0.45,
                "cpuAmount": 0.0,
                "diskAmount": 0.05,
            }
        ],
        "metadata": {"recordCount": 1},
    }
    df = billing.billing_frame("pods", body)
    assert list(df.columns) == list(billing.columns("pods"))
    assert df.loc[0, "pod_id"] == "p1" and df.loc[0, "amount_usd"] == 0.5
    assert str(df["time"].dtype) == "datetime64[ns, UTC]" and df.attrs["metadata"]
    assert len(billing.billing_frame("network_volumes", {"records": []})) == 0


def test_management_rows_and_unsupported_update():
    assert TEMPLATES.row({"id": "t", "ports": ["8000/http", "22/tcp"]})["ports"] == (
        "8000/http,22/tcp"
    )
    assert ENDPOINTS.row({"id": "e", "cpu": [{"id": "cpu5c"}]})["cpu"] == "cpu5c"
    import asyncio

    with pytest.raises(UnsupportedError, match="Delete it and create"):
        asyncio.run(REGISTRIES.update(None, "r1", {"name": "x"}))  # type: ignore[arg-type]
