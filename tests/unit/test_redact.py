"""The one redaction function (:mod:`atlas_nb._redact`) and where it is applied: error text
(incl. provider error bodies), log records, telemetry payloads and model reprs."""

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_nb import _redact, telemetry
from atlas_nb._redact import is_secret_name, mask, redact, redact_env, redact_url, redact_value
from atlas_nb.models.compute import Compute, ComputeRequest
from atlas_nb.transport.error_mapping import error_from_response

FLY = "FlyV1 fm2_lJPECAAAAAAAAMkTxBDAbc+/0aWd=,fm2_lJPETsecondPart9"
RUNPOD = "rpa_SANDBOXABCDEF0123456789ABCDEF0123456789"
LAMBDA = "secret_sandbox_0123456789abcdef.fedcba9876543210"
VAST = "a" * 32 + "0123456789abcdef" * 2


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"bad key {RUNPOD}", RUNPOD),
        (f'{{"token": "{FLY}"}}', "fm2_"),
        (f"Authorization: {FLY}", "fm2_"),
        ("oauth token fo1_AbCdEf0123456789xyz", "fo1_"),
        ("bare macaroon fm1r_AbCdEf0123456789xyz", "fm1r_"),
        (f"lambda said: invalid key {LAMBDA}.", LAMBDA),
        (f"vast key {VAST} rejected", VAST),
        ("header Authorization: Bearer abcdefghijklmnop1234", "abcdefghijklmnop1234"),
        ("Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
        ("GET https://pod/x?exp=1&sig=Zm9vYmFyYmF6cXV4", "Zm9vYmFyYmF6cXV4"),
        ("GET https://h/graphql?api_key=whatever-it-is", "whatever-it-is"),
        ("env HF_TOKEN=hf_abcdefghijklmnop set", "hf_abcdefghijklmnop"),
        ("{'db_password': 'hunter2hunter2'}", "hunter2hunter2"),
        ("AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI"),
    ],
)
def test_redact_masks_every_token_shape(text, secret):
    out = redact(text)
    assert secret not in out and "REDACTED" in out
    assert redact(out) == out  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "pod abc123 is RUNNING on l4 (region US-TX-3)",
        "no output for 0.5 s",
        "timeout: 30, retries: 3, port=8000",
        "fly deploy of atlas-demo-web exited with code 3",
        "ssh_public_key=ssh-ed25519",
        "GET https://api.example/v2/pods/abc?page=2",
    ],
)
def test_redact_leaves_ordinary_text_alone(text):
    assert redact(text) == text


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("HF_TOKEN", True),
        ("OPENAI_API_KEY", True),
        ("client_secret", True),
        ("PGPASSWORD", True),
        ("GOOGLE_APPLICATION_CREDENTIALS", True),
        ("ATLAS_PRESHARED_KEY", True),
        ("ATLAS_SIGNING_SECRET", True),
        ("sig", True),
        ("PUBLIC_KEY", False),
        ("ssh_public_key", False),
        ("ssh_key_names", False),
        ("api_key_id", False),
        ("token_type", False),
        ("SSH_PRIVATE_KEY", True),
        ("ssh_private_key_name", True),
        ("PORT", False),
        ("MODEL_NAME", False),
    ],
)
def test_secret_names(name, secret):
    assert is_secret_name(name) is secret


@pytest.mark.parametrize(
    "secret", [RUNPOD, FLY, LAMBDA, VAST, "x" * 12, "abcdefghijklmnopqrstuvwxyz0123456789"]
)
def test_mask_shows_at_most_four_characters(secret):
    shown = mask(secret)
    assert shown.endswith("…") and len(shown.rstrip("…")) <= 4
    assert mask("short") == "…"


def test_redact_env_and_nested_values():
    env = {"HF_TOKEN": "hf_real", "WANDB_API_KEY": "w" * 40, "PORT": "8000", "NOTE": RUNPOD}
    assert redact_env(env) == {
        "HF_TOKEN": "***",
        "WANDB_API_KEY": "***",
        "PORT": "8000",
        "NOTE": "REDACTED",
    }
    assert env["HF_TOKEN"] == "hf_real"  # a copy: the original still goes to the provider
    nested = {"a": [f"key {RUNPOD}", ("x", {"token": "t0p"})], "n": 3}
    assert redact_value(nested) == {"a": ["key REDACTED", ("x", {"token": "***"})], "n": 3}
    assert redact_url("https://u:p@h/a?sig=abc&x=1") == "https://REDACTED@h/a?sig=REDACTED&x=1"


def test_remembered_secrets_are_masked_whatever_their_shape():
    odd = "plain-looking-but-secret-value-42"
    assert redact(f"got {odd}") == f"got {odd}"
    _redact.remember(odd)
    assert redact(f"got {odd}!") == "got REDACTED!"
    _redact.remember("short")  # too short to mask safely: ignored
    assert redact("a short word") == "a short word"


@pytest.mark.parametrize(
    ("provider", "status", "body"),
    [
        ("runpod", 401, {"error": f"bad key {RUNPOD}"}),
        ("runpod", 400, f"invalid api_key={RUNPOD}"),
        ("lambda", 401, {"error": {"code": "global/invalid-api-key", "message": f"{LAMBDA}"}}),
        ("vast", 403, {"success": False, "error": "auth", "msg": f"key {VAST} revoked"}),
        ("fly", 401, {"error": f"token {FLY} is not valid"}),
    ],
)
def test_provider_error_bodies_are_redacted_before_display(provider, status, body):
    err = error_from_response(provider, status, body)
    for shown in (str(err), repr(err), err.message or "", repr(err.raw), repr(err.args)):
        for secret in (RUNPOD, LAMBDA, VAST, "fm2_"):
            assert secret not in shown, shown


def test_atlas_log_records_are_redacted_others_are_not(caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("atlas_nb.fly.tokens").warning("cli said %s", f'{{"token": "{FLY}"}}')
    logging.getLogger("atlas_nb").error("key %r", RUNPOD)
    logging.getLogger("someone.else").warning("theirs %s", RUNPOD)
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("atlas_nb")]
    assert ours == ['cli said {"token": "REDACTED"}', "key 'REDACTED'"]
    assert [r.getMessage() for r in caplog.records if r.name == "someone.else"] == [
        f"theirs {RUNPOD}"
    ]


def test_telemetry_payloads_are_redacted():
    seen = []
    telemetry.attach("test-redact", ["atlas.test.*"], lambda e, m, md: seen.append(md))
    try:
        telemetry.emit("atlas.test.x", {"n": 1}, {"reason": f"bad key {RUNPOD}", "app": "web"})
        with pytest.raises(RuntimeError), telemetry.span("atlas.test.span", {"app": "web"}):
            raise RuntimeError(f"boom {FLY}")
    finally:
        telemetry.detach("test-redact")
    text = repr(seen)
    assert RUNPOD not in text and "fm2_" not in text
    assert seen[0] == {"reason": "bad key REDACTED", "app": "web"}


def test_requests_and_computes_show_no_user_secret_but_keep_it():
    req = ComputeRequest(gpu="l4", image="img", env={"HF_TOKEN": "hf_sentinel_value", "A": "1"})
    for shown in (repr(req), str(req), req.model_dump_json()):
        assert "hf_sentinel_value" not in shown and "'***'" in shown.replace('"', "'")
    assert req.env["HF_TOKEN"] == "hf_sentinel_value"  # what the provider is sent
    assert req.model_dump()["env"]["HF_TOKEN"] == "hf_sentinel_value"
    c = Compute(id="p1", provider="mock", raw={"env": {"HF_TOKEN": "hf_sentinel_value"}})
    assert "hf_sentinel_value" not in c.model_dump_json() and c.raw["env"]["HF_TOKEN"] == "***"


def test_a_placeholder_after_a_secret_name_is_left_alone():
    # an error hint that shows how to pass a key is not a key
    text = "add a key (atlas.configure(api_keys=...)), or set RUNPOD_API_KEY"
    assert redact(text) == text


@pytest.mark.parametrize(
    "provider, variable", [("runpod", "RUNPOD_API_KEY"), ("vast", "VAST_API_KEY")]
)
def test_the_hint_of_a_rejected_key_is_shown_whole(provider, variable):
    # it was shown as "Check the API key: REDACTED api_key=..., ... configure(api_keys=REDACTED})"
    err = error_from_response(provider, 401, {"error": "auth_error", "msg": "bad key"})
    assert "REDACTED" not in str(err)
    assert f"atlas.configure(api_keys={{...}}), or set {variable}." in str(err)


def test_a_text_seen_before_its_secret_was_remembered_is_masked_after():
    # redact() caches short strings: remembering a secret must drop the answers it changes
    secret = "plainlookingvalue42"
    text = f"the pod said {secret}"
    assert redact(text) == text
    _redact.remember(secret)
    assert secret not in redact(text)


def test_redact_value_keeps_types_and_masks_nested_secret_names():
    class Tagged(str):
        pass

    data = {"a": [1, 2.5, True, None, ("x", {"api_key": "v"})], "b": Tagged(RUNPOD)}
    out = redact_value(data)
    assert out["a"][:4] == [1, 2.5, True, None]
    assert out["a"][4] == ("x", {"api_key": "***"})
    assert RUNPOD not in out["b"]


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_cached_redaction_is_the_same_as_a_fresh_one(text):
    first = redact(text)
    _redact._redacted = {}  # a fresh cache computes it again
    assert redact(text) == first == redact(text)
