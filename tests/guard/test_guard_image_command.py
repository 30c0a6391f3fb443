"""Resolving an image's ENTRYPOINT/CMD from a registry: a fake OCI registry on loopback."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from atlas_nb.errors import NotFoundError, TransportError, UnsupportedError, ValidationError
from atlas_nb.guard.image_command import ImageRef, parse_image_ref, resolve_image_command

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


class FakeRegistry:
    """Serves ``/v2/<name>/manifests|blobs/<ref>`` behind a Bearer challenge to its ``/token``."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[str, bytes]] = {}  # path -> (content type, body)
        self.token_requests: list[dict[str, list[str]]] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/token":
                    registry.token_requests.append(parse_qs(url.query))
                    return self.send(200, "application/json", b'{"token": "anon-123"}')
                if self.headers.get("Authorization") != "Bearer anon-123":
                    self.send_response(401)
                    realm = f"http://127.0.0.1:{registry.port}/token"
                    challenge = f'Bearer realm="{realm}",service="fake",scope="repository:x:pull"'
                    self.send_header("WWW-Authenticate", challenge)
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
                if url.path not in registry.objects:
                    return self.send(404, "application/json", b'{"errors": []}')
                self.send(200, *registry.objects[url.path])

            def send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def push(self, name: str, tag: str, config: dict[str, Any], *, as_index: bool = False) -> None:
        blob = json.dumps({"architecture": "amd64", "os": "linux", "config": config}).encode()
        self.objects[f"/v2/{name}/blobs/{digest(blob)}"] = ("application/json", blob)
        manifest = json.dumps({"mediaType": MANIFEST, "config": {"digest": digest(blob)}}).encode()
        if not as_index:
            self.objects[f"/v2/{name}/manifests/{tag}"] = (MANIFEST, manifest)
            return
        self.objects[f"/v2/{name}/manifests/{digest(manifest)}"] = (MANIFEST, manifest)
        arm = {"digest": "sha256:" + "0" * 64, "platform": {"os": "linux", "architecture": "arm64"}}
        amd = {"digest": digest(manifest), "platform": {"os": "linux", "architecture": "amd64"}}
        index = json.dumps({"mediaType": INDEX, "manifests": [arm, amd]}).encode()
        self.objects[f"/v2/{name}/manifests/{tag}"] = (INDEX, index)


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    fake = FakeRegistry()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_entrypoint_then_cmd_after_an_anonymous_token(registry: FakeRegistry):
    registry.push("team/app", "v1", {"Entrypoint": ["/entry.sh"], "Cmd": ["serve", "--port=80"]})
    image = f"127.0.0.1:{registry.port}/team/app:v1"
    assert resolve_image_command(image) == ["/entry.sh", "serve", "--port=80"]
    assert registry.token_requests[0]["service"] == ["fake"]
    assert len(registry.token_requests) == 1  # one token serves every later request


def test_an_index_is_narrowed_to_linux_amd64(registry: FakeRegistry):
    registry.push("runpod/base", "0.6", {"Cmd": ["/start.sh"]}, as_index=True)
    assert resolve_image_command(f"127.0.0.1:{registry.port}/runpod/base:0.6") == ["/start.sh"]


def test_a_missing_tag_is_not_found(registry: FakeRegistry):
    with pytest.raises(NotFoundError) as err:
        resolve_image_command(f"127.0.0.1:{registry.port}/team/app:nope")
    assert "command=[...]" in str(err.value)


def test_an_image_without_a_command_cannot_be_wrapped(registry: FakeRegistry):
    registry.push("team/empty", "latest", {"Env": ["A=1"]})
    with pytest.raises(UnsupportedError):
        resolve_image_command(f"127.0.0.1:{registry.port}/team/empty")


def test_an_unreachable_registry_is_a_transport_error():
    with pytest.raises(TransportError):
        resolve_image_command("127.0.0.1:9/team/app:v1")  # discard port: nothing listens


@pytest.mark.parametrize(
    ("image", "registry", "name", "reference"),
    [
        ("ubuntu", "registry-1.docker.io", "library/ubuntu", "latest"),
        ("ubuntu:22.04", "registry-1.docker.io", "library/ubuntu", "22.04"),
        ("runpod/pytorch:2.1.0-py3.10", "registry-1.docker.io", "runpod/pytorch", "2.1.0-py3.10"),
        ("ghcr.io/org/img:tag", "ghcr.io", "org/img", "tag"),
        ("localhost:5000/app", "localhost:5000", "app", "latest"),
        (
            "nvcr.io/nvidia/pytorch@sha256:" + "b" * 64,
            "nvcr.io",
            "nvidia/pytorch",
            "sha256:" + "b" * 64,
        ),
    ],
)
def test_parse_image_ref_table(image, registry, name, reference):
    assert parse_image_ref(image) == ImageRef(registry, name, reference)


@pytest.mark.parametrize("image", ["", "UPPER/case", "app:", "app@sha256:short", "a b"])
def test_bad_references_are_refused(image):
    with pytest.raises(ValidationError):
        parse_image_ref(image)


def test_loopback_registries_use_http_others_https():
    assert parse_image_ref("localhost:5000/app").base_url.startswith("http://")
    assert parse_image_ref("ghcr.io/org/img").base_url == "https://ghcr.io/v2/org/img"
