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
    auth.verify_url(signed.split("8443", 1)[1], secret=SECRET, now=1_000)  # path?query form


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
