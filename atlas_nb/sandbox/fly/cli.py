"""The fake ``fly`` CLI: the source of the script the sandbox installs (stdlib only).

``fake_fly.install`` copies this file next to a ``fly-settings.json`` and makes it executable
with a ``#!<python>`` shebang; the code under test runs it as a subprocess. The script reads the
settings file on every run, so ``sb.fly_cli(...)`` changes its behaviour at once. It appends
one JSON line per run to ``calls.jsonl`` (argv, pid and the names of its environment
variables) so tests can count runs and check what a run inherited.

Commands: ``fly version`` / ``--version``; ``fly tokens create readonly [--org X] [--json]``
(prints a ``FlyV1 fm2_...`` token the sandbox logs API accepts); ``fly deploy --remote-only
[--app X]`` (a realistic build and release log with ``\\r`` progress lines).

The token helpers (:func:`mint`, :func:`verify`) are imported by the sandbox's logs API too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from typing import Any

VERSION = "fly v0.3.214 linux/amd64 Commit: sandbox BuildDate: 2026-08-01T00:00:00Z"
SETTINGS_FILE = "fly-settings.json"
CALLS_FILE = "calls.jsonl"
PIDS_FILE = "hang-pids.txt"


# -- tokens -----------------------------------------------------------------------------------


def _sig(secret: str, org: str, kind: str, nonce: str) -> str:
    msg = f"{org}|{kind}|{nonce}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()[:32]


def mint(secret: str, org: str, kind: str = "readonly", nonce: str | None = None) -> str:
    """A ``FlyV1 fm2_<base64>`` token whose payload is signed with ``secret``."""
    nonce = nonce or os.urandom(8).hex()
    payload = {"v": 1, "org": org, "kind": kind, "nonce": nonce}
    payload["sig"] = _sig(secret, org, kind, nonce)
    body = json.dumps(payload, separators=(",", ":")).encode()
    return "FlyV1 fm2_" + base64.b64encode(body).decode()


def verify(secret: str, part: str) -> dict[str, Any] | None:
    """The claims of one ``fm2_...`` part when its signature is good, else ``None``."""
    if not part.startswith("fm2_"):
        return None
    try:
        claims = json.loads(base64.b64decode(part[4:], validate=True))
    except ValueError:
        return None
    if not isinstance(claims, dict):
        return None
    try:
        want = _sig(secret, str(claims["org"]), str(claims["kind"]), str(claims["nonce"]))
    except KeyError:
        return None
    if not hmac.compare_digest(want, str(claims.get("sig", ""))):
        return None
    return claims


# -- the script -------------------------------------------------------------------------------


def _here() -> str:
    return os.path.dirname(os.path.abspath(__file__))


def _settings() -> dict[str, Any]:
    try:
        with open(os.path.join(_here(), SETTINGS_FILE), encoding="utf-8") as f:
            data = json.load(f)
            return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _log_call(argv: list[str]) -> None:
    line = json.dumps(
        {
            "argv": argv,
            "pid": os.getpid(),
            "cwd": os.getcwd(),
            "t": time.time(),
            "env": sorted(os.environ),  # names only: tests check what the child inherits
        }
    )
    fd = os.open(os.path.join(_here(), CALLS_FILE), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _out(text: str, end: str = "\n") -> None:
    sys.stdout.write(text + end)
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _hang_forever() -> None:
    """Start a grandchild that sleeps too (its pid is recorded), then sleep forever."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nwhile True: time.sleep(60)"],
        stdout=sys.stdout,
        stderr=sys.stderr,
    )
    fd = os.open(os.path.join(_here(), PIDS_FILE), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, f"{os.getpid()} {child.pid}\n".encode())
    finally:
        os.close(fd)
    while True:
        time.sleep(60)


def _flag(args: list[str], *names: str) -> str | None:
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(n + "="):
                return a.split("=", 1)[1]
    return None


def tokens_create(args: list[str], s: dict[str, Any]) -> int:
    if not args or args[0] != "readonly":
        _err(f"Error: unknown token type {args[0] if args else ''!r} (the sandbox has readonly)")
        return 1
    rest = args[1:]
    org = _flag(rest, "--org", "-o")
    positional = [a for a in rest if not a.startswith("-") and a != org]
    org = org or (positional[0] if positional else None) or s.get("org", "personal")
    if s.get("stderr_notice", True):
        _err("A new version of flyctl is available: v0.3.999 (run `fly version update`)")
    time.sleep(float(s.get("token_delay_s", 0) or 0))
    gate = s.get("token_gate")
    while gate and not os.path.exists(gate):  # tests hold every run here, then release them
        time.sleep(0.01)
    mode = s.get("tokens", "ok")
    if mode == "hang":
        _hang_forever()
    if mode == "fail":
        _err("Error: failed to create token: unauthorized (run `fly auth login`)")
        return int(s.get("token_exit_code", 1) or 1)
    if mode == "empty":
        return 0
    if mode == "leak":  # a token on stdout, yet a failure exit code
        _out(json.dumps({"token": mint(str(s.get("secret", "")), str(org))}))
        return int(s.get("token_exit_code", 1) or 1)
    if mode == "garbage":
        _out("Your token is ready! Copy it from the dashboard.")
        return 0
    token = mint(str(s.get("secret", "")), str(org))
    if "--json" in rest:
        _out(json.dumps({"token": token}))
    else:
        _out(token)
    return 0


_BUILD_STEPS = (
    "[internal] load build definition from Dockerfile",
    "[internal] load metadata for docker.io/library/python:3.11-slim",
    "[internal] load .dockerignore",
    "[1/6] FROM docker.io/library/python:3.11-slim@sha256:4c2cf9917bd1cbacc5e9b07320025bdb",
    "[internal] load build context",
    "[2/6] WORKDIR /app",
    "[3/6] COPY requirements.txt .",
    "[4/6] RUN pip install --no-cache-dir -r requirements.txt",
    "[5/6] COPY . .",
    "[6/6] RUN python -m compileall -q .",
    "exporting to image",
    "exporting layers",
    "writing image sha256:9f2b7c1d0e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c",
)


def _machines(app: str) -> list[str]:
    digest = hashlib.sha256(app.encode()).hexdigest()
    return [digest[:14], digest[14:28]]


def _app_from_toml() -> str | None:
    try:
        with open("fly.toml", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition("=")
                if key.strip() == "app" and value.strip():
                    return value.split("#", 1)[0].strip().strip("\"'") or None
    except OSError:
        return None
    return None


def deploy(args: list[str], s: dict[str, Any]) -> int:
    app = _flag(args, "--app", "-a") or _app_from_toml()
    if not os.path.exists("fly.toml") and not _flag(args, "--app", "-a"):
        _err(
            "Error: the config for your app is missing an app name, add an app field to the "
            "fly.toml file or specify with the -a flag"
        )
        return 1
    if not app:
        _err("Error: the config for your app is missing an app name")
        return 1
    delay = float(s.get("deploy_delay_s", 0.01) or 0)
    mode = s.get("deploy", "ok")
    n_steps = int(s.get("deploy_lines", 12))

    def say(text: str) -> None:
        _out(text)
        if delay:
            time.sleep(delay)

    say("==> Verifying app config")
    say(f"Validating {os.path.join(os.getcwd(), 'fly.toml')}")
    say("✓ Configuration is valid")
    say("--> Verified app config")
    say("==> Building image")
    if mode == "hang":
        say("==> Building image with Depot")
        _hang_forever()
    say("==> Building image with Depot")
    say("--> build:  (using remote builder)")
    for i in range(n_steps):
        step = _BUILD_STEPS[i % len(_BUILD_STEPS)]
        say(f"#{i + 1} {step}")
        say(f"#{i + 1} DONE {0.1 * (i % 7) + 0.1:.1f}s")
    if mode == "trickle":
        n = 0
        while True:
            _out(f"#{n_steps + 1} waiting for the remote builder ({n}s)")
            n += 1
            time.sleep(0.05)
    if mode == "fail":
        say(
            "Error: failed to fetch an image or build from source: error building: "
            'failed to solve: process "/bin/sh -c pip install --no-cache-dir -r '
            'requirements.txt" did not complete successfully: exit code: 1'
        )
        return int(s.get("exit_code", 1) or 1)
    label = (
        "deployment-01J" + hashlib.sha256(f"{app}{time.time()}".encode()).hexdigest()[:23].upper()
    )
    say("--> Build Summary:  ()")
    say("--> Building image done")
    say(f"image: registry.fly.io/{app}:{label}")
    say("image size: 142 MB")
    for pct in (0, 12, 37, 64, 88, 100):
        sys.stdout.write(f"Pushing image to fly {pct:3d}% |{'#' * (pct // 10):<10}|\r")
        sys.stdout.flush()
        if delay:
            time.sleep(delay)
    _out("")
    say("--> Pushing image done")
    say(f"Watch your deployment at https://fly.io/apps/{app}/monitoring")
    say("-------")
    say(f"Updating existing machines in '{app}' with rolling strategy")
    say("")
    machines = _machines(app)
    for i, m in enumerate(machines, 1):
        say(f"-------\n ✔ [{i}/{len(machines)}] Machine {m} [app] update succeeded")
    say("-------")
    say(f"Checking DNS configuration for {app}.fly.dev")
    say("")
    say(f"Visit your newly deployed app at https://{app}.fly.dev/")
    return 0


def main(argv: list[str]) -> int:
    args = argv[1:]
    _log_call(args)
    s = _settings()
    if not args or args[0] in ("help", "--help", "-h"):
        _out(
            "This is the atlas_nb sandbox's fake fly CLI.\n\nUsage:\n  fly [command]\n\n"
            "Available Commands:\n  deploy      Deploy Fly applications\n"
            "  tokens      Manage Fly.io API tokens\n  version     Show version information"
        )
        return 0
    if args[0] in ("version", "--version", "-v"):
        _out(str(s.get("version", VERSION)))
        return 0
    if args[0] == "tokens" and len(args) > 1 and args[1] == "create":
        return tokens_create(args[2:], s)
    if args[0] == "deploy":
        return deploy(args[1:], s)
    _err(
        f'Error: unknown command {args[0]!r} for "fly" (the sandbox fakes deploy, tokens '
        "and version)"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
