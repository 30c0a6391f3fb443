import pytest

from atlas_nb import telemetry


def test_prefix_and_exact_matching():
    got = []
    telemetry.attach(
        "t1", ["atlas.http.*", "atlas.fly.deploy.exit"], lambda e, m, md: got.append(e)
    )
    try:
        for name in (
            "atlas.http.request",
            "atlas.fly.deploy.exit",
            "atlas.fly.deploy.line",
            "other",
        ):
            telemetry.emit(name, {}, {})
    finally:
        telemetry.detach("t1")
    assert got == ["atlas.http.request", "atlas.fly.deploy.exit"]


def test_raising_handler_is_detached_with_warning():
    def bad(e, m, md):
        raise RuntimeError("boom")

    telemetry.attach("bad", ["x.*"], bad)
    with pytest.warns(RuntimeWarning, match="'bad' raised"):
        telemetry.emit("x.y")
    assert "bad" not in telemetry.handlers()
    telemetry.emit("x.y")  # no longer called, no warning


def test_span_stop_and_exception():
    got = []
    telemetry.attach("s", ["work.*"], lambda e, m, md: got.append((e, dict(m), dict(md))))
    try:
        with telemetry.span("work", {"app": "a"}) as meta:
            meta["source"] = "cli"
        with pytest.raises(ValueError), telemetry.span("work", {"app": "b"}):
            raise ValueError("nope")
    finally:
        telemetry.detach("s")
    names = [e for e, _, _ in got]
    assert names == ["work.start", "work.stop", "work.start", "work.exception"]
    assert got[1][2] == {"app": "a", "source": "cli"}
    assert got[1][1]["duration_ns"] >= 0
    assert got[3][2]["kind"] == "ValueError" and got[3][2]["reason"] == "nope"


def test_duplicate_id_refused():
    telemetry.attach("dup", ["a"], lambda *a: None)
    try:
        with pytest.raises(ValueError):
            telemetry.attach("dup", ["a"], lambda *a: None)
    finally:
        telemetry.detach("dup")
