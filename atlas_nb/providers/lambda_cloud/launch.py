"""What a Lambda launch sends: the ``POST /instance-operations/launch`` body, the cloud-init
that runs a container image on boot, and the user's tags checked as Lambda checks them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from ...errors import ValidationError
from ...models import ComputeRequest
from .translate import TAG_CREATED, TAG_IMAGE, TAG_PORTS

_TAG_KEY = re.compile(r"^[a-z][a-z0-9-:]+$")  # RequestedTagEntry.key in the 1.8.3 spec
TAG_KEY_MAX, TAG_VALUE_MAX = 55, 128
#: the ``provider_opts`` keys Lambda understands
OPTS = (
    "ssh_key",
    "file_systems",
    "file_system_mounts",
    "image",
    "instance_type",
    "user_data",
    "tags",
    "firewall_rulesets",
    "hostname",
)


def cloud_init(image: str, env: Mapping[str, str], ports: Sequence[tuple[int, str]]) -> str:
    """A cloud-config that runs ``image`` with Docker (GPUs, ports, env from a 0600 file).

    >>> text = cloud_init("python:3.11", {"A": "1"}, [(8000, "http")])
    >>> text.startswith("#cloud-config") and "8000:8000" in text
    True
    """
    for name, value in env.items():
        if "\n" in value or "\r" in value:
            raise ValidationError(
                f"env {name} contains a line break, which Docker env files cannot hold",
                field="env",
                hint="Encode the value (e.g. base64) and decode it in the container.",
            )
    cmd = ["docker", "run", "-d", "--restart", "unless-stopped", "--gpus", "all"]
    cmd += ["--name", "atlas-workload", "--env-file", "/etc/atlas/workload.env"]
    for port, _proto in ports:
        cmd += ["-p", f"{port}:{port}"]
    cmd.append(image)
    doc = {
        "write_files": [
            {
                "path": "/etc/atlas/workload.env",
                "permissions": "0600",
                "content": "".join(f"{k}={v}\n" for k, v in env.items()),
            }
        ],
        "runcmd": [cmd],
    }
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False, width=1000)


def check_tags(tags: Any) -> dict[str, str]:
    """User tags as ``{key: value}``, keys and values checked as Lambda checks them.

    >>> check_tags({"team": "ml"})
    {'team': 'ml'}
    >>> check_tags({"Team": "ml"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    atlas_nb.errors.ValidationError: validation: Lambda tag key 'Team' is not valid...
    """
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise ValidationError(
            "provider_opts tags must be a dict of key -> value", field="provider_opts"
        )
    out = {}
    for key, value in tags.items():
        key, value = str(key), str(value)
        if len(key) > TAG_KEY_MAX or not _TAG_KEY.match(key):
            raise ValidationError(
                f"Lambda tag key {key!r} is not valid",
                field="provider_opts",
                hint=f"Tag keys start with a lower-case letter, then lower-case letters, digits, "
                f"'-' or ':' (2-{TAG_KEY_MAX} characters), e.g. 'team' or 'cost-centre'.",
            )
        if len(value) > TAG_VALUE_MAX:
            raise ValidationError(
                f"Lambda tag {key!r} has a value longer than {TAG_VALUE_MAX} characters",
                field="provider_opts",
                hint="Shorten the value.",
            )
        out[key] = value
    return out


def launch_body(
    request: ComputeRequest,
    opts: Mapping[str, Any],
    type_name: str,
    region: str,
    key_name: str,
    env: Mapping[str, str],
) -> dict[str, Any]:
    """The launch body for ``request`` on ``type_name`` in ``region`` with SSH key ``key_name``."""
    body: dict[str, Any] = {
        "region_name": region,
        "instance_type_name": type_name,
        "ssh_key_names": [key_name],
    }
    if request.name:
        body["name"] = request.name
    if opts.get("hostname"):
        body["hostname"] = str(opts["hostname"])
    fs = opts.get("file_systems")
    if fs:
        body["file_system_names"] = [fs] if isinstance(fs, str) else list(fs)
    if opts.get("file_system_mounts"):
        body["file_system_mounts"] = list(opts["file_system_mounts"])
    image = opts.get("image")
    if image:
        body["image"] = {"family": image} if isinstance(image, str) else dict(image)
    ports = [(p.port, p.protocol) for p in request.ports]
    if opts.get("user_data"):
        body["user_data"] = str(opts["user_data"])
    elif request.image:
        body["user_data"] = cloud_init(request.image, env, ports)
    tags = {TAG_CREATED: f"{time.time():.0f}"}
    if request.image and len(request.image) <= 128:
        tags[TAG_IMAGE] = request.image
    if ports:
        tags[TAG_PORTS] = ",".join(f"{p}/{proto}" for p, proto in ports)[:128]
    tags.update(check_tags(opts.get("tags")))
    body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    if opts.get("firewall_rulesets"):
        body["firewall_rulesets"] = [{"id": str(i)} for i in opts["firewall_rulesets"]]
    return body
