"""The pod-side guard: a tracked pod ends itself when every client is gone.

``agent.py`` (stdlib-only Python, run by the POSIX sh ``launcher.sh``) runs beside the user's
command. It ends the pod at the hard deadline or the $ cap, computed from the pod's own clock and
its $/hr (no network needed to decide), and when its idle lease has run out plus a grace. The
creation time sits in a state file, so a pod restarted by the provider keeps its deadline.

**The renewal channel** is a small HTTP endpoint the guard serves on a port the spawn exposes
(default 8642): ``POST /lease {"ttl_s": N}`` with ``Authorization: Bearer <token>`` (the token
atlas_nb injects; the pod holds only its SHA-256). The TTL is relative, so a client clock that is
off does not matter. It rests on these facts (``shared/docs/provider-apis.md`` section 7):

- RunPod: the client reaches a pod's HTTP port at ``https://{podId}-{port}.proxy.runpod.net``;
  the pod ends itself with ``runpodctl remove pod $RUNPOD_POD_ID`` (else REST
  ``DELETE /v2/pods/{id}`` with its pod-scoped ``RUNPOD_API_KEY``), both read from PID 1's env.
- Vast.ai: container ports map to host ports in the instance's ``ports`` on ``public_ipaddr``;
  the instance destroys itself (``DELETE /api/v0/instances/{CONTAINER_ID}/``) with its
  ``CONTAINER_API_KEY``, and stops (``PUT ... {"state": "stopped"}``) when the scoped key may not
  destroy: destroy comes first because a stop ends the container, guard included, at once;
  the guard starts from ``onstart``.
- Fly Machines: a Fly service exposes the port (``machines/{id}/exec`` is the fallback channel);
  the guard is the main process and exits, so ``restart.policy = "no"`` stops the machine and
  ``auto_destroy`` removes it.
- Lambda has no in-instance credential: its computes keep the client guard.

RunPod's ``args`` and Fly's ``init`` replace the image's command, so the wrapper needs one: the
user's, or the image's own from its registry (:func:`resolve_image_command`, OCI distribution API).
Without python3 the launcher enforces only the deadline and the $ cap (curl or GNU wget for REST).

    >>> from atlas_nb.guard import pod_guard_supported
    >>> [p for p in ("runpod", "vast", "fly", "lambda") if pod_guard_supported(p)]
    ['runpod', 'vast', 'fly']
"""

from __future__ import annotations

from .image_command import parse_image_ref, resolve_image_command
from .injection import (
    DEFAULT_PORT,
    POD_GUARD_PROVIDERS,
    GuardSpec,
    fly_injection,
    guard_env,
    pod_guard_supported,
    require_pod_guard,
    runpod_injection,
    vast_injection,
    vast_onstart,
)
from .lease import (
    LeaseOutcome,
    fly_lease_url,
    renew_lease,
    runpod_lease_url,
    vast_lease_url,
)

__all__ = [
    "DEFAULT_PORT",
    "POD_GUARD_PROVIDERS",
    "GuardSpec",
    "LeaseOutcome",
    "fly_injection",
    "fly_lease_url",
    "guard_env",
    "parse_image_ref",
    "pod_guard_supported",
    "renew_lease",
    "require_pod_guard",
    "resolve_image_command",
    "runpod_injection",
    "runpod_lease_url",
    "vast_injection",
    "vast_lease_url",
    "vast_onstart",
]
