"""An image's own command (ENTRYPOINT + CMD) from its registry, so a guard can wrap it.

RunPod's ``args`` and Fly's ``init`` replace the image's command; when the user gives none, the
wrapper needs the image's. Registries answer the OCI distribution API: ``GET
/v2/<name>/manifests/<ref>`` (an index is narrowed to linux/amd64), then the config blob whose
``config.Entrypoint``/``config.Cmd`` hold it. A ``401`` with ``WWW-Authenticate: Bearer realm=...``
is answered with an anonymous token (Docker Hub's comes from ``auth.docker.io``).

    >>> parse_image_ref("pytorch/pytorch:2.3.0-runtime")
    ImageRef(registry='registry-1.docker.io', name='pytorch/pytorch', reference='2.3.0-runtime')
    >>> parse_image_ref("ubuntu").name, parse_image_ref("ubuntu").reference
    ('library/ubuntu', 'latest')
    >>> parse_image_ref("localhost:5000/team/app@sha256:" + "a" * 64).registry
    'localhost:5000'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, TransportError, UnsupportedError, ValidationError

if TYPE_CHECKING:
    import httpx

DOCKER_HUB = "registry-1.docker.io"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_NAME = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_LOOPBACK = ("localhost", "127.0.0.1", "[::1]")


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference: registry host[:port], repository name, tag or digest."""

    registry: str
    name: str
    reference: str

    @property
    def base_url(self) -> str:
        host = self.registry.rsplit(":", 1)[0] if not self.registry.startswith("[") else "[::1]"
        scheme = "http" if host in _LOOPBACK else "https"
        return f"{scheme}://{self.registry}/v2/{self.name}"


def parse_image_ref(image: str) -> ImageRef:
    """``[registry/]name[:tag][@digest]`` as Docker reads it (Docker Hub, ``library/`` implied)."""
    rest, _, digest = image.strip().partition("@")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, rest
    name, colon, tag = path.rpartition(":") if ":" in path else (path, "", "")
    if registry == DOCKER_HUB and "/" not in name:
        name = f"library/{name}"
    reference = digest or (tag if colon else "latest")
    ok = _NAME.match(name) and (_DIGEST.match(digest) if digest else _TAG.match(reference))
    if not ok:
        raise ValidationError(
            f"{image!r} is not an image reference; expected [registry/]name[:tag][@digest], "
            "e.g. 'pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime'",
            field="image",
        )
    return ImageRef(registry, name, reference)


def resolve_image_command(
    image: str, *, client: httpx.Client | None = None, registry_url: str = ""
) -> list[str]:
    """The image's ENTRYPOINT followed by its CMD, read from its registry (anonymous pull).

    ``registry_url`` (e.g. the sandbox's) replaces the image's own registry.
    """
    import httpx  # deferred: ``import atlas_nb`` stays light

    ref = parse_image_ref(image)
    http = client or httpx.Client(timeout=30, follow_redirects=True)
    try:
        base = f"{registry_url.rstrip('/')}/v2/{ref.name}" if registry_url else ref.base_url
        session = _Registry(http, ref, base)
        manifest = session.get_json(f"/manifests/{ref.reference}", MANIFEST_TYPES)
        if "manifests" in manifest:  # an index: the linux/amd64 image
            digest = _pick_platform(manifest, image)
            manifest = session.get_json(f"/manifests/{digest}", MANIFEST_TYPES)
        config_digest = (manifest.get("config") or {}).get("digest")
        if not isinstance(config_digest, str):
            raise ValidationError(f"the manifest of {image!r} names no config blob", field="image")
        config = session.get_json(f"/blobs/{config_digest}", "application/json").get("config") or {}
    except httpx.HTTPError as exc:
        raise TransportError(
            f"could not read {image!r} from {ref.registry}: {exc}",
            hint="Check the network, or pass command=[...] yourself.",
        ) from exc
    finally:
        if client is None:
            http.close()
    command = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
    if not command or not all(isinstance(part, str) for part in command):
        raise UnsupportedError(
            f"{image!r} defines no ENTRYPOINT or CMD to wrap",
            hint="Pass command=[...] to spawn, or use guard='client'.",
        )
    return command


def _pick_platform(index: dict[str, Any], image: str) -> str:
    for entry in index.get("manifests") or []:
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return str(entry["digest"])
    raise UnsupportedError(f"{image!r} has no linux/amd64 image", hint="Pick a linux/amd64 image.")


class _Registry:
    """GETs against one repository, answering a Bearer challenge once with an anonymous token."""

    def __init__(self, http: httpx.Client, ref: ImageRef, base: str) -> None:
        self.http, self.ref, self.base, self.token = http, ref, base, ""

    def get_json(self, path: str, accept: str) -> dict[str, Any]:
        url = self.base + path
        resp = self.http.get(url, headers=self._headers(accept))
        if resp.status_code == 401 and not self.token:
            self.token = self._anonymous_token(resp.headers.get("WWW-Authenticate", ""))
            resp = self.http.get(url, headers=self._headers(accept))
        if resp.status_code in (401, 403, 404):
            raise NotFoundError(
                f"{self.ref.registry}/{self.ref.name}:{self.ref.reference} is not readable "
                f"anonymously (HTTP {resp.status_code} on {path})",
                status=resp.status_code,
                hint="Check the image name and tag; for a private image pass command=[...].",
            )
        resp.raise_for_status()
        body = resp.json()
        if not isinstance(body, dict):
            raise ValidationError(f"{url} answered {type(body).__name__}, not an object")
        return body

    def _headers(self, accept: str) -> dict[str, str]:
        headers = {"Accept": accept}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _anonymous_token(self, challenge: str) -> str:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        if not challenge.lower().startswith("bearer") or "realm" not in params:
            return ""
        realm = params.pop("realm")
        resp = self.http.get(realm, params=params)
        if resp.status_code != 200:
            return ""
        body = resp.json()
        return str(body.get("token") or body.get("access_token") or "")
