import pytest

from atlas_nb import auth
from atlas_nb.errors import SignatureExpired, SignatureMalformed, SignatureTampered, ValidationError

SECRET = "s3cret-signing-key"
URL = "https://pod.example:8443/v1/files/report.csv?download=1&name=a%20b#frag"


def test_mint_and_verify():
    t = auth.mint_token()
    assert len(t.token) == 43 and "=" not in t.token
    assert t.hash == auth.hash_token(t.token) and len(t.hash) == 64
    assert t.header == f"Authorization: Bearer {t.token}"
    assert t.env == {"ATLAS_PRESHARED_KEY": t.token}
    assert auth.verify_token(t.token, t.hash)
    assert not auth.verify_token(t.token + "x", t.hash)
    assert not auth.verify_token(None, t.hash)
    assert t.token not in repr(t)
    assert auth.mint_token().token != t.token


def test_sign_keeps_host_and_fragment_and_canonicalises():
    signed = auth.sign_url(URL, secret=SECRET, now=1_000)
    assert signed.startswith("https://pod.example:8443/v1/files/report.csv?download=1&exp=4600")
    assert "&name=a+b&sig=" in signed and signed.endswith("#frag")
    auth.verify_url(signed, secret=SECRET, now=4_599)
    path_query = signed.split("8443", 1)[1]  # what a server sees, with the Host header apart
    auth.verify_url(path_query, secret=SECRET, host="pod.example:8443", now=1_000)
    with pytest.raises(SignatureMalformed, match="no host"):
        auth.verify_url(path_query, secret=SECRET, now=1_000)


def tamper(url, old, new):
    assert old in url
    return url.replace(old, new)


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda u: tamper(u, "/v1/files/report.csv", "/v1/files/secrets.csv"), SignatureTampered),
        (lambda u: tamper(u, "download=1", "download=2"), SignatureTampered),
        (lambda u: tamper(u, "download=1&", ""), SignatureTampered),
        (lambda u: tamper(u, "?", "?extra=1&"), SignatureTampered),
        (lambda u: tamper(u, "exp=4600", "exp=9600"), SignatureTampered),
        (lambda u: u[: u.index("sig=") + 4] + "A" * 43 + "#frag", SignatureTampered),
        (lambda u: tamper(u, "exp=4600&", ""), SignatureMalformed),
        (lambda u: tamper(u, "exp=4600", "exp=soon"), SignatureMalformed),
        (lambda u: u[: u.index("&sig=")] + "#frag", SignatureMalformed),
        (lambda u: u[: u.index("sig=") + 4] + "#frag", SignatureMalformed),
        (lambda u: "", SignatureMalformed),
    ],
)
def test_verify_rejects_with_distinct_errors(mutate, error):
    signed = auth.sign_url(URL, secret=SECRET, now=1_000)
    with pytest.raises(error):
        auth.verify_url(mutate(signed), secret=SECRET, now=2_000)


def test_expired_and_wrong_secret():
    signed = auth.sign_url(URL, secret=SECRET, expires_in=60, now=1_000)
    with pytest.raises(SignatureExpired):
        auth.verify_url(signed, secret=SECRET, now=1_060)
    with pytest.raises(SignatureTampered):
        auth.verify_url(signed, secret="other", now=1_001)


@pytest.mark.parametrize("expires_in", [0, -5, 8 * 24 * 3600])
def test_expiry_is_capped(expires_in):
    with pytest.raises(ValidationError):
        auth.sign_url(URL, secret=SECRET, expires_in=expires_in)


def test_a_repeated_parameter_is_refused_not_last_value_wins():
    signed = auth.sign_url("https://pod.example/files?user=alice", secret=SECRET, now=1_000)
    forged = signed.replace("?", "?user=admin&")
    with pytest.raises(SignatureMalformed, match="repeats the parameter 'user'"):
        auth.verify_url(forged, secret=SECRET, now=1_001)
    with pytest.raises(SignatureMalformed, match="repeats"):
        auth.verify_url(signed + "&user=admin", secret=SECRET, now=1_001)
    with pytest.raises(SignatureMalformed, match="repeats"):
        auth.verify_url(signed.replace("exp=", "exp=9999&exp="), secret=SECRET, now=1_001)
    with pytest.raises(ValidationError, match="repeats"):
        auth.sign_url("https://pod.example/files?user=a&user=b", secret=SECRET)


@pytest.mark.parametrize("secret", ["", None, 0, b"bytes", "\ud800"])
def test_empty_or_missing_secrets_are_refused_both_ways(secret):
    signed = auth.sign_url(URL, secret=SECRET, now=1_000)
    with pytest.raises(ValidationError, match="secret"):
        auth.verify_url(signed, secret=secret, now=1_001)
    with pytest.raises(ValidationError, match="secret"):
        auth.sign_url(URL, secret=secret)
    with pytest.raises(ValidationError, match="secret"):
        auth.make_signer(secret)


def test_a_link_signed_with_an_empty_secret_cannot_be_forged_into_validity():
    import base64
    import hashlib
    import hmac

    canonical = b"//pod.example/v1?exp=9999"
    sig = base64.urlsafe_b64encode(hmac.new(b"", canonical, hashlib.sha256).digest())
    forged = "https://pod.example/v1?exp=9999&sig=" + sig.rstrip(b"=").decode()
    with pytest.raises(ValidationError):
        auth.verify_url(forged, secret="", now=1_000)


def test_invalid_utf8_in_the_query_is_refused_not_collapsed():
    # decoded leniently, %FE and %FF both became U+FFFD, so one signature covered both
    with pytest.raises(ValidationError, match="UTF-8"):
        auth.sign_url("https://pod.example/f?name=%FF", secret=SECRET, now=1_000)
    signed = auth.sign_url("https://pod.example/f?name=x", secret=SECRET, now=1_000)
    with pytest.raises(SignatureMalformed, match="UTF-8"):
        auth.verify_url(signed.replace("name=x", "name=%FE"), secret=SECRET, now=1_001)
    with pytest.raises(SignatureMalformed, match="valid text"):
        auth.verify_url(signed + "\ud800", secret=SECRET, now=1_001)
    with pytest.raises(ValidationError, match="text"):
        auth.sign_url("https://pod.example/\ud800", secret=SECRET)


def test_the_host_is_signed_unless_opted_out():
    signed = auth.sign_url(URL, secret=SECRET, now=1_000)
    for other in ("evil.example:8443", "pod.example:9443", "pod.example"):
        with pytest.raises(SignatureTampered):
            auth.verify_url(signed.replace("pod.example:8443", other), secret=SECRET, now=1_001)
    auth.verify_url(signed.replace("pod.example", "POD.Example"), secret=SECRET, now=1_001)
    with pytest.raises(SignatureTampered):  # the host does not match the one signed
        auth.verify_url(signed, secret=SECRET, host="evil.example", now=1_001)
    anywhere = auth.sign_url(URL, secret=SECRET, now=1_000, bind_host=False)
    auth.verify_url(
        anywhere.replace("pod.example", "mirror.example"), secret=SECRET, now=1_001, bind_host=False
    )
    auth.verify_url(anywhere.split("8443", 1)[1], secret=SECRET, now=1_001, bind_host=False)
    with pytest.raises(SignatureTampered):  # the two modes do not verify each other's links
        auth.verify_url(anywhere, secret=SECRET, now=1_001)
    with pytest.raises(SignatureTampered):
        auth.verify_url(signed, secret=SECRET, now=1_001, bind_host=False)
    assert auth.sign_url("/v1/x", secret=SECRET, now=1_000, bind_host=False).startswith("/v1/x?")
    with pytest.raises(ValidationError, match="no host"):
        auth.sign_url("/v1/x", secret=SECRET)


@pytest.mark.parametrize(
    ("expires_in", "exp"), [(0.5, "1001"), (1, "1001"), (59.2, "1060"), (60, "1060")]
)
def test_a_fractional_expiry_rounds_up_so_no_link_is_born_expired(expires_in, exp):
    signed = auth.sign_url(URL, secret=SECRET, expires_in=expires_in, now=1_000)
    assert f"exp={exp}&" in signed
    auth.verify_url(signed, secret=SECRET, now=1_000)
    auth.verify_url(signed, secret=SECRET, now=1_000.9)
    fresh = auth.sign_url(URL, secret=SECRET, expires_in=0.5)  # the real clock
    auth.verify_url(fresh, secret=SECRET, now=int(fresh.split("exp=")[1].split("&")[0]) - 0.01)


@pytest.mark.parametrize("expires_in", ["60", None, True, float("nan"), float("inf"), [60]])
def test_expires_in_of_the_wrong_type_is_a_validation_error(expires_in):
    with pytest.raises(ValidationError, match="expires_in"):
        auth.sign_url(URL, secret=SECRET, expires_in=expires_in)


@pytest.mark.parametrize("candidate", ["\ud800", "a\udfffb", 5, b"bytes", None])
def test_verify_token_is_false_for_anything_that_is_not_the_token(candidate):
    t = auth.mint_token()
    assert auth.verify_token(candidate, t.hash) is False
    assert auth.verify_token(t.token, "\ud800") is False
