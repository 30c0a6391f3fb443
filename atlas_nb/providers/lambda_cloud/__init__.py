"""The Lambda Cloud provider (``https://cloud.lambda.ai/api/v1``): GPU instances, SSH keys and
file systems.

Lambda rents whole VMs by *instance type* (``gpu_8x_h100_sxm5``: eight H100 SXM5). atlas_nb
picks the type from ``gpu`` and ``gpu_count`` (or launches exactly the offer of an offers-frame
row) and a region with free capacity. Without ``image=`` the VM itself is launched (Lambda
Stack; SSH in): ``atlas.spawn(provider="lambda", gpu="h100")``; ``provider_opts={"image":
{"family": ...}}`` picks another VM image. With ``image=`` (a container image) a cloud-init
script runs it with ``docker run --gpus all`` on boot, with ``env`` (and the bearer token, for
``auth="bearer"``) and the requested ports published on the instance's public IP.

Lambda's firewall lets in only SSH by default, so a spawn that publishes ports attaches a
firewall ruleset opening them (and SSH) to anyone: ``atlas-nb us-east-1 ports 8000,9000``
in the instance's region, made once and reused. Pass ``provider_opts={"firewall_rulesets": [ids]}``
to use your own rules instead (then the ports are open only as far as those rules say).

Lambda cannot stop or start an instance, only terminate it; launches are limited to one per
12 s per account, so atlas_nb queues them client-side (``LambdaProvider.launch_interval_s``).

``provider_opts`` keys: ``ssh_key`` (name; if omitted and the account has exactly one key, that
one), ``file_systems`` (names to mount), ``file_system_mounts``, ``image`` (the VM image:
``{"family": ...}``, ``{"id": ...}`` or a family name), ``instance_type``, ``user_data``
(replaces the generated cloud-init), ``tags`` (dict), ``firewall_rulesets`` (ids),
``hostname``.

SSH keys and file systems (module functions, blocking; :mod:`.aio` has the same names,
awaitable: ``await lambda_cloud.aio.ssh_keys()``)::

    from atlas_nb.providers import lambda_cloud
    lambda_cloud.ssh_keys()                          # DataFrame: id, name, public_key
    lambda_cloud.add_ssh_key("laptop", "ssh-ed25519 AAAA... me@laptop")
    lambda_cloud.file_systems()                      # DataFrame
    lambda_cloud.create_file_system("datasets", "us-east-1")
    lambda_cloud.delete_file_system("datasets")

One concept per module: ``translate`` (instance payloads, status, tags), ``catalog``
(instance types, offers, which type and region a request gets), ``launch`` (the launch body and
cloud-init), ``firewall`` (rulesets opening published ports), ``pacing`` (one launch per 12 s),
``account`` (SSH key and file system shapes), ``aio`` (their calls), ``provider``.
"""

from __future__ import annotations

from ..._deprecated import moved_to_aio
from ..._lazy import moved_names
from ..._runtime import syncify
from . import aio
from .account import SSHKey
from .provider import LambdaProvider

#: the helpers the single ``lambda_cloud`` module had, importable here as before
__getattr__ = moved_names(
    __name__,
    {
        "account": ["SSH_KEY_COLUMNS", "FILE_SYSTEM_COLUMNS"],
        "catalog": [
            "capacity_message",
            "gpu_types_from_catalogue",
            "matching_types",
            "offer_rows",
            "vram_from_description",
        ],
        "firewall": ["ports_ruleset"],
        "launch": ["OPTS", "TAG_KEY_MAX", "TAG_VALUE_MAX", "check_tags", "cloud_init"],
        "translate": [
            "STATUS_MAP",
            "TAG_CREATED",
            "TAG_IMAGE",
            "TAG_PORTS",
            "instance_fields",
            "instance_ports",
            "lambda_status",
            "parse_type_name",
            "tag_dict",
        ],
    },
)

ssh_keys = syncify(aio.ssh_keys)
add_ssh_key = syncify(aio.add_ssh_key)
delete_ssh_key = syncify(aio.delete_ssh_key)
file_systems = syncify(aio.file_systems)
create_file_system = syncify(aio.create_file_system)
delete_file_system = syncify(aio.delete_file_system)

#: deprecated (removed in the next release): the awaitable twins are ``aio.<name>``
ssh_keys_async = moved_to_aio(aio, "ssh_keys")
add_ssh_key_async = moved_to_aio(aio, "add_ssh_key")
delete_ssh_key_async = moved_to_aio(aio, "delete_ssh_key")
file_systems_async = moved_to_aio(aio, "file_systems")
create_file_system_async = moved_to_aio(aio, "create_file_system")
delete_file_system_async = moved_to_aio(aio, "delete_file_system")

__all__ = [
    "LambdaProvider",
    "SSHKey",
    "add_ssh_key",
    "add_ssh_key_async",
    "aio",
    "create_file_system",
    "create_file_system_async",
    "delete_file_system",
    "delete_file_system_async",
    "delete_ssh_key",
    "delete_ssh_key_async",
    "file_systems",
    "file_systems_async",
    "ssh_keys",
    "ssh_keys_async",
]
