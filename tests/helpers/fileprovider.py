"""A tiny provider whose computes live in a JSON file, so two processes see the same cloud.

Used to test that a second process adopts tracked computes (kernel restart) and as an example
of a user's own Provider class.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from atlas_nb.errors import NotFoundError
from atlas_nb.models import Compute, ComputeStatus
from atlas_nb.providers import Provider

ENV = "ATLAS_TEST_FILEPROVIDER"


class FileProvider(Provider):
    name = "fileprov"
    requires_api_key = False
    CAPABILITIES = frozenset()

    @staticmethod
    def _path() -> Path:
        return Path(os.environ[ENV])

    def _load(self) -> dict:
        try:
            return json.loads(self._path().read_text())
        except FileNotFoundError:
            return {}

    def _save(self, data: dict) -> None:
        tmp = self._path().with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self._path())

    def _compute(self, rec: dict) -> Compute:
        return Compute(
            id=rec["id"],
            provider=self.name,
            name=rec["name"],
            status=ComputeStatus(rec["status"]),
            provider_status=rec["status"],
            gpu=rec.get("gpu"),
            gpu_count=1,
            cost_per_hr=rec.get("cost", 3.6),
            created_at=datetime.fromisoformat(rec["created_at"]),
        ).bind(self)

    async def spawn(self, request):
        data = self._load()
        cid = "f-" + secrets.token_hex(4)
        data[cid] = {
            "id": cid,
            "name": request.name,
            "status": "running",
            "gpu": request.gpu,
            "created_at": datetime.now(UTC).isoformat(),
        }
        self._save(data)
        return self._compute(data[cid])

    async def get(self, compute_id):
        rec = self._load().get(compute_id)
        if rec is None:
            raise NotFoundError(f"no compute {compute_id}", provider=self.name)
        return self._compute(rec)

    async def list_computes(self, *, status=None, name=None):
        out = [self._compute(r) for r in self._load().values()]
        if status is None:
            out = [c for c in out if c.status != ComputeStatus.TERMINATED]
        else:
            out = [c for c in out if c.status == status]
        return [c for c in out if name is None or c.name == name]

    async def terminate(self, compute_id):
        data = self._load()
        if compute_id not in data:
            raise NotFoundError(f"no compute {compute_id}", provider=self.name)
        data[compute_id]["status"] = "terminated"
        self._save(data)
