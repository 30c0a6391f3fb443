"""The secret scan: drive spawn, auth, jobs, Fly tokens, deploy and errors with sentinel secrets
against the loopback sandbox, capture everything atlas_nb shows or writes — every log record,
telemetry event, repr, DataFrame, widget state and file — and assert no sentinel appears."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

import atlas_nb as atlas
from atlas_nb import telemetry
from atlas_nb._runtime import run_sync
from atlas_nb.errors import AtlasError
from atlas_nb.fly._services import reset
from atlas_nb.models import ComputeRequest

USER_SECRET = "hf_SENTINELuserSECRET0042"
BAD_KEY = "rpa_SENTINELBADKEY00000000000000000000"
OTHER_ENV = {"OPENAI_API_KEY": "sk-SENTINELopenai0042", "AWS_SECRET_ACCESS_KEY": "SENTINELaws0042"}


class Capture:
    """Everything atlas_nb shows: log lines (formatted, with tracebacks), telemetry, texts."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []
        self.events: list[str] = []
        self.handler = logging.Handler(level=logging.DEBUG)
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        self.handler.emit = lambda record: self.texts.append(  # type: ignore[method-assign]
            ("log", formatter.format(record))
        )

    def shown(self, where: str, value: object) -> None:
        self.texts.append((where, value if isinstance(value, str) else repr(value)))

    def error(self, where: str, err: BaseException) -> None:
        self.shown(where, str(err))
        self.shown(where, repr(err))
        if isinstance(err, AtlasError):
            self.shown(where, err.message or "")
            self.shown(where, err.hint or "")
            self.shown(where, err.raw)

    def leaks(self, secrets: list[str]) -> list[tuple[str, str, str]]:
        found = []
        for where, text in [*self.texts, *(("telemetry", e) for e in self.events)]:
            for secret in secrets:
                if secret in text:
                    found.append((where, secret, text[:300]))
        return found


@pytest.fixture
def capture(sandbox, monkeypatch):
    for name, value in OTHER_ENV.items():
        monkeypatch.setenv(name, value)
    cap = Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(cap.handler)
    root.setLevel(logging.DEBUG)
    telemetry.attach(
        "secret-scan", ["atlas.*"], lambda e, m, md: cap.events.append(f"{e} {m!r} {md!r}")
    )
    run_sync(reset())
    yield cap
    telemetry.detach("secret-scan")
    root.removeHandler(cap.handler)
    root.setLevel(old_level)
    run_sync(reset())


def files_under(*roots: Path) -> list[Path]:
    return [Path(d) / f for r in roots if r.exists() for d, _, fs in os.walk(r) for f in fs]


def test_no_sentinel_secret_is_shown_or_written_anywhere(sandbox, capture, tmp_path):
    keys = dict(sandbox.api_keys)  # the sandbox's provider keys are sentinels too
    secrets = [*keys.values(), USER_SECRET, BAD_KEY, *OTHER_ENV.values()]

    # spawn with a user secret and bearer auth; read it back every way a user would
    pod = atlas.spawn(
        provider="runpod", gpu="l4", image="img", env={"HF_TOKEN": USER_SECRET}, auth="bearer"
    )
    bearer = pod.auth.token.get_secret_value()
    secrets.append(bearer)
    for value in (pod, pod.raw, pod.auth, pod.model_dump_json()):
        capture.shown("compute", value)
    again = atlas.compute(pod.id, provider="runpod")
    capture.shown("compute", again.model_dump_json())
    capture.shown("frame", atlas.computes(provider="runpod").to_string())
    capture.shown("tracked", atlas.tracked().to_string())
    request = ComputeRequest(gpu="l4", image="img", env={"HF_TOKEN": USER_SECRET})
    capture.shown("request", request)
    capture.shown("request", request.model_dump_json())

    # signed URLs: the signature is a secret in logs
    signed = atlas.spawn(provider="runpod", gpu="l4", image="img", auth="signed_url")
    signing_secret = signed.auth.token.get_secret_value()
    secrets.append(signing_secret)
    url = signed.auth.signer()("https://pod.example/v1/report?fmt=csv")
    logging.getLogger("atlas_nb.test").info("made %s", url)  # an atlas_nb log line with a sig
    secrets.append(url.split("sig=")[1])

    # the dashboard widget's state
    from atlas_nb.widgets.dashboard import ComputeDashboard

    dash = ComputeDashboard(refresh=60)
    capture.shown("widget", dash.rows_data)
    capture.shown("widget", dash.text_repr())
    capture.shown("widget", dash.get_state())
    dash.close()

    # a serverless job
    job = atlas.run_job(sandbox.runpod_endpoint_id, {"prompt": "hi"}, provider="runpod")
    capture.shown("job", job)
    capture.shown("job", job.model_dump_json())

    # errors: a bad key (the provider answers 401), a validation error
    with pytest.raises(AtlasError) as info:
        atlas.computes(provider="runpod", api_key=BAD_KEY)
    capture.error("error", info.value)
    with pytest.raises(AtlasError) as info:
        atlas.spawn(
            provider="runpod", gpu="no-such-gpu", image="img", env={"HF_TOKEN": USER_SECRET}
        )
    capture.error("error", info.value)

    # Fly: a token the CLI prints while failing, then a deploy with the configured key
    sandbox.fly_cli(tokens="leak", stderr_notice=False)
    atlas.configure(api_keys={**keys, "fly": None})
    with pytest.raises(AtlasError) as info:
        atlas.fly.tokens.get("atlas-demo-web")
    capture.error("fly", info.value)
    atlas.configure(api_keys=keys)
    project = tmp_path / "web"
    project.mkdir()
    (project / "fly.toml").write_text('app = "atlas-demo-web"\n')
    sandbox.fly_cli(tokens="ok", deploy="fail", exit_code=2)
    with pytest.raises(AtlasError) as info:
        atlas.fly.deploy(project)
    capture.error("deploy", info.value)

    pod.terminate()
    signed.terminate()

    # no Fly token at all (the CLI's are random, so look for their shape), anywhere shown
    assert [t[:200] for _, t in capture.texts if "fm2_" in t] == []
    assert "fm2_" not in " ".join(capture.events)
    assert capture.leaks(secrets) == []

    # files: the sandbox's data dir (tracked records, token storage) and the config file
    written = files_under(Path(sandbox.state.data_dir()), tmp_path)
    assert written  # tracked records at least
    for path in written:
        data = path.read_bytes()
        for secret in [USER_SECRET, BAD_KEY, bearer, signing_secret, *keys.values()]:
            assert secret.encode() not in data, f"{secret[:6]}… written to {path}"
