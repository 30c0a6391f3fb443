"""Minting a read-only token with ``fly tokens create readonly``.

The token is org-scoped, so one run serves every app of the org: concurrent requests for one
org share a single subprocess, and the result is remembered for the org until it expires.
Only stdout is read (flyctl prints update notices and warnings on stderr), the output must
look like a token, a hung CLI is killed (its whole process group) after the timeout, and a
missing ``fly`` binary is a miss with a reason — never a crash.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

from ..._redact import redact
from .. import _process
from .._executable import find_fly
from .shape import normalize_token

log = logging.getLogger("atlas_nb.fly.tokens")


class CliMiss(Exception):
    """The CLI gave no token; ``str(exc)`` says why (no secrets in it)."""


@dataclass(frozen=True)
class CliToken:
    token: str
    expires_at: float


def parse_cli_output(stdout: str) -> str | None:
    """The token in ``fly tokens create ... [--json]`` output, or ``None``.

    >>> parse_cli_output('{"token": "FlyV1 fm2_AAAA"}')
    'FlyV1 fm2_AAAA'
    >>> parse_cli_output("Update available!\\nFlyV1 fm2_BBBB\\n")
    'FlyV1 fm2_BBBB'
    >>> parse_cli_output("Error: not logged in") is None
    True
    """
    text = stdout.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("token"), str):
            return normalize_token(data["token"])
    for line in reversed(text.splitlines()):
        token = normalize_token(line)
        if token:
            return token
    return None


def _reason_line(data: bytes) -> str:
    """The line of CLI output that says what went wrong (an ``Error:`` line, else the last)."""
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    line = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "")
    # never echo anything that could be a token (a bare one, or one inside JSON or a message)
    return "REDACTED" if normalize_token(line) else redact(line[:200])


class CliTokenRunner:
    """Runs the CLI at most once at a time per org and remembers each org's token."""

    def __init__(self) -> None:
        self._inflight: dict[str, asyncio.Task[CliToken]] = {}
        self._memo: dict[str, CliToken] = {}
        self.runs = 0

    def forget(self, token: str | None = None) -> None:
        """Drop remembered tokens (all, or those equal to ``token``)."""
        if token is None:
            self._memo.clear()
        else:
            self._memo = {org: t for org, t in self._memo.items() if t.token != token}

    async def acquire(
        self, org: str | None, *, timeout: float, ttl: float, reuse: bool = True
    ) -> CliToken:
        """A token for ``org`` (``None``: the CLI's default org); raises :class:`CliMiss`."""
        key = org or ""
        memo = self._memo.get(key)
        if reuse and memo is not None and memo.expires_at > time.time():
            return memo
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._run(org, timeout, ttl))
            self._inflight[key] = task

            def done(t: asyncio.Task[CliToken], key: str = key) -> None:
                if self._inflight.get(key) is t:
                    del self._inflight[key]
                if not t.cancelled() and t.exception() is None:
                    self._memo[key] = t.result()

            task.add_done_callback(done)
        return await asyncio.shield(task)

    async def _run(self, org: str | None, timeout: float, ttl: float) -> CliToken:
        exe, reason = find_fly()
        if exe is None:
            raise CliMiss(f"fly CLI not found ({reason})")
        argv = [exe, "tokens", "create", "readonly", "--json"]
        if org:
            argv += ["--org", org]
        self.runs += 1
        try:
            proc = await _process.start(
                argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
        except OSError as exc:
            raise CliMiss(f"could not run {exe}: {exc.strerror or exc}") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            await _process.kill_group(proc, grace=0.5)
            raise CliMiss(f"`fly tokens create readonly` did not finish in {timeout:g} s") from None
        except BaseException:
            await _process.kill_group(proc, grace=0.5)
            raise
        if proc.returncode != 0:
            raise CliMiss(
                f"`fly tokens create readonly` exited with {proc.returncode}: "
                f"{_reason_line(err) or _reason_line(out) or 'no message'}"
            )
        token = parse_cli_output(out.decode("utf-8", "replace"))
        if token is None:
            raise CliMiss("`fly tokens create readonly` printed nothing that looks like a token")
        return CliToken(token, time.time() + ttl)
