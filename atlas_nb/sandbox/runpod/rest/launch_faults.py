"""How RunPod refuses a pod it cannot place, and how a stuck pod stays provisioning (the
sandbox's launch faults, :mod:`atlas_nb.sandbox._offer_faults`).

    >>> LAUNCH_FAULTS.refusal("capacity", "/v2/pods")[0]
    400
    >>> LAUNCH_FAULTS.created_ids(b'{"id": "p1", "desiredStatus": "RUNNING"}')
    ['p1']
"""

from __future__ import annotations

from typing import Any

from ..._offer_faults import json_object
from ..._state import SandboxState
from ..world import runpod_world

CAPACITY = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)


class RunPodLaunchFaults:
    """RunPod answers every refusal with the same 400 problem; its catalogue then shows no
    stock of that GPU type in that cloud (RunPod's client decides capacity from it)."""

    def refusal(self, kind: str, path: str) -> tuple[int, dict[str, Any]]:
        return 400, {"title": "Bad Request", "status": 400, "detail": CAPACITY}

    def sell_out(self, state: SandboxState, kind: str, path: str, body: bytes) -> None:
        create = json_object(body)
        gpu = create.get("gpu")
        if isinstance(gpu, dict) and gpu.get("id"):
            cloud = str(create.get("cloud") or "SECURE").upper()
            runpod_world(state).sold_out.add((str(gpu["id"]), cloud))

    def created_ids(self, body: bytes) -> list[str]:
        data = json_object(body)
        return [str(data["id"])] if data.get("id") is not None else []

    def freeze(self, state: SandboxState, ids: list[str], until: float) -> None:
        pods = runpod_world(state).pods
        for pid in ids:
            if pid in pods:
                pods[pid].boot_at = until


LAUNCH_FAULTS = RunPodLaunchFaults()
