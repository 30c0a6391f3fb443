import pytest

from atlas_nb import errors
from atlas_nb.transport.error_mapping import error_from_response, kind_for_status, parse_error_body


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "validation"),
        (401, "unauthorized"),
        (403, "forbidden"),
        (404, "not_found"),
        (408, "timeout"),
        (409, "conflict"),
        (410, "not_found"),
        (418, "provider"),
        (422, "validation"),
        (429, "rate_limited"),
        (500, "provider"),
        (503, "provider"),
    ],
)
def test_status_to_kind(status, kind):
    assert kind_for_status(status) == kind
    assert error_from_response("x", status, None).kind == kind


ENVELOPES = [
    # RunPod v2 problem+json
    (
        {"title": "Not Found", "status": 404, "detail": "pod not found"},
        ("pod not found", None, None),
    ),
    (
        {
            "title": "Bad Request",
            "status": 400,
            "detail": "invalid body",
            "errors": ["$.gpu.id: required", "$: additional properties 'x' not allowed"],
        },
        ("invalid body: $.gpu.id: required; $: additional properties 'x' not allowed", None, None),
    ),
    # Lambda
    (
        {
            "error": {
                "code": "instance-operations/launch/insufficient-capacity",
                "message": "Not enough capacity",
                "suggestion": "Try a different region.",
            }
        },
        (
            "Not enough capacity",
            "instance-operations/launch/insufficient-capacity",
            "Try a different region.",
        ),
    ),
    # Vast
    (
        {"success": False, "error": "no_such_ask", "msg": "offer 5 is gone"},
        ("offer 5 is gone", "no_such_ask", None),
    ),
    # Fly Machines
    (
        {"error": "Authenticate: token validation error"},
        ("Authenticate: token validation error", None, None),
    ),
    ({"error": "app name taken", "status": "name_taken"}, ("app name taken", "name_taken", None)),
    # GraphQL (HTTP 200 with errors)
    (
        {"errors": [{"message": "Something went wrong", "extensions": {"code": "INTERNAL"}}]},
        ("Something went wrong", "INTERNAL", None),
    ),
    # plain text, JSON text, nothing
    ("upstream timed out", ("upstream timed out", None, None)),
    ('{"message": "nope"}', ("nope", None, None)),
    (None, (None, None, None)),
    (
        {"detail": "API requests too frequent endpoint threshold=5"},
        ("API requests too frequent endpoint threshold=5", None, None),
    ),
]


@pytest.mark.parametrize(("body", "expected"), ENVELOPES)
def test_envelopes(body, expected):
    assert parse_error_body(body) == expected


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (
            401,
            {"error": {"code": "global/invalid-api-key", "message": "bad"}},
            errors.UnauthorizedError,
        ),
        (
            400,
            {
                "error": {
                    "code": "instance-operations/launch/insufficient-capacity",
                    "message": "no capacity",
                }
            },
            errors.CapacityError,
        ),
        (
            400,
            {"error": {"code": "global/object-does-not-exist", "message": "x"}},
            errors.NotFoundError,
        ),
        (
            400,
            {"success": False, "error": "auth_error", "msg": "bad key"},
            errors.UnauthorizedError,
        ),
        (410, {"success": False, "error": "no_such_ask", "msg": "gone"}, errors.NotFoundError),
        (422, {"error": "taken", "status": "name_taken"}, errors.ConflictError),
    ],
)
def test_codes_win_over_status(status, body, cls):
    assert type(error_from_response("p", status, body)) is cls


def test_error_carries_request_id_and_reads_like_a_sentence():
    err = error_from_response(
        "runpod",
        404,
        {"title": "Not Found", "status": 404, "detail": "pod not found"},
        {"X-Request-Id": "req-42"},
    )
    assert err.request_id == "req-42"
    assert err.status == 404 and err.provider == "runpod" and err.message == "pod not found"
    text = str(err)
    assert text.startswith("[runpod] not found (HTTP 404, request req-42): pod not found.")
    assert "Check the id" in text


def test_unauthorized_hint_names_env_var():
    err = error_from_response("runpod", 401, "bad key")
    assert "RUNPOD_API_KEY" in str(err)


def test_timeout_error_is_builtin_timeout():
    assert issubclass(errors.AtlasTimeoutError, TimeoutError)
    assert issubclass(errors.ValidationError, ValueError)


def test_every_kind_has_a_class():
    for kind in errors.KINDS:
        assert errors.error_class(kind).kind == kind


def test_errors_pickle():
    import pickle

    err = errors.RateLimitedError("slow down", provider="vast", status=429, retry_after_s=3)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is errors.RateLimitedError and again.retry_after_s == 3
    assert str(again) == str(err)


def test_lambda_quota_exceeded_is_a_capacity_error_that_says_contact_support():
    body = {
        "error": {
            "code": "global/quota-exceeded",
            "message": "Quota exceeded.",
            "suggestion": "Contact Support to increase your quota.",
        }
    }
    err = error_from_response("lambda", 400, body)
    assert type(err) is errors.QuotaExceededError
    assert isinstance(err, errors.CapacityError)
    assert not isinstance(err, errors.RateLimitedError)
    assert err.kind == "provider"
    assert "Contact Support" in str(err) and "another provider" in str(err)


@pytest.mark.parametrize(
    "body",
    [
        {"title": "Payment Required", "status": 402, "detail": "insufficient balance"},
        {"error": "Your account balance is too low"},
        None,
    ],
)
def test_http_402_is_insufficient_balance(body):
    err = error_from_response("runpod", 402, body)
    assert type(err) is errors.InsufficientBalanceError
    assert isinstance(err, errors.ProviderError)
    assert not isinstance(err, errors.CapacityError)


@pytest.mark.parametrize(
    ("change", "shown", "hidden"),
    [
        ({"hint": "Use key rpa_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345."}, "REDACTED", "rpa_ABCDEF"),
        ({"message": "token Bearer abcdefghijklmnopqrstuvwxyz0123456789"}, "REDACTED", "abcdefgh"),
        ({"message": "gone; it is tracked"}, "gone; it is tracked", "no pod p1"),
    ],
)
def test_amend_redacts_and_refreshes_what_the_error_shows(change, shown, hidden):
    err = errors.NotFoundError("no pod p1", provider="runpod")
    assert err.amend(**change) is err
    for text in (str(err), err.args[0]):
        assert shown in text and hidden not in text
