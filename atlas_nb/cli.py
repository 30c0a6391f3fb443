"""``atlas-nb``: init, upgrade, doctor, sandbox, gpus, offers, reap, lab.

$ atlas-nb init            # commented config file + private storage dir (+ .gitignore)
$ atlas-nb doctor          # what is configured, where keys come from, fly on PATH, perms
$ atlas-nb sandbox         # serve the local cloud on 127.0.0.1
$ atlas-nb gpus --sandbox  # GPU prices (here: from the sandbox)
$ atlas-nb offers --gpu h100 --limit 10
$ atlas-nb reap            # dry run: what would be reaped; --yes to do it
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ._redact import mask
from .config import SCHEMA_VERSION

CONFIG_TEMPLATE = """\
# atlas_nb configuration (written by `atlas-nb init`).
# Resolution order: per-call arguments > atlas_nb.configure(...) > this file > environment.
schema_version = {version}

# The provider used when a call does not name one: "runpod", "lambda", "vast", "fly", "mock".
# default_provider = "runpod"

# Where atlas_nb keeps tracked computes, its owner tag and Fly token caches (0700).
data_dir = "{data_dir}"

# HTTP timeout (seconds) and retries for safe calls; creates are never retried blindly.
# timeout_s = 30
# max_retries = 3

# Orchestrator defaults: idle TTL for tracked computes, heartbeat, reaper grace period.
# idle_ttl_s = 1800
# heartbeat_s = 60
# reap_grace_s = 600
# name_prefix = "atlas-"

# Fly.io: the app for Fly Machines calls and the fly executable.
# fly_app = "my-app"
# fly_executable = "/usr/local/bin/fly"

# A team's shared store (Redis; needs `pip install 'atlas_nb[redis]'`); unset: the local files.
# Fly tokens go there only encrypted with the team key: set ATLAS_NB_STORE_KEY (a Fernet key).
# store = "redis://:password@redis.internal:6379/0"

[api_keys]
# Prefer environment variables (RUNPOD_API_KEY, LAMBDA_API_KEY, VAST_API_KEY, FLY_API_TOKEN);
# keys written here are read by every kernel of this user.
# runpod = "rpa_..."
# lambda = "secret_..."
# vast = "..."
# fly = "FlyV1 fm2_..."

[base_urls]
# Point a provider elsewhere (a proxy, or the sandbox printed by `atlas-nb sandbox`).
# runpod_rest = "https://api.runpod.io"
"""


def _print(text: str = "") -> None:
    print(text, flush=True)


# -- init / upgrade ----------------------------------------------------------------------------


def _git_root(start: Path) -> Path | None:
    for parent in [start, *start.parents]:
        if (parent / ".git").exists():
            return parent
    return None


def _ensure_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_uid == os.getuid():
        os.chmod(path, 0o700)


def _gitignore(storage: Path, cwd: Path) -> str:
    root = _git_root(cwd)
    if root is None:
        return "not inside a git repository: .gitignore left alone"
    try:
        rel = storage.resolve().relative_to(root.resolve())
    except ValueError:
        return f"the storage dir is outside the repository {root}: .gitignore left alone"
    entry = f"/{rel.as_posix()}/"
    path = root / ".gitignore"
    text = path.read_text() if path.exists() else ""
    if entry in text.splitlines():
        return f"{path} already ignores {entry}"
    prefix = "" if not text or text.endswith("\n") else "\n"
    path.write_text(
        f"{text}{prefix}# atlas_nb private storage (tokens, tracked computes)\n{entry}\n"
    )
    return f"added {entry} to {path}"


def cmd_init(args: argparse.Namespace) -> int:
    from .config import config_path, settings

    path = Path(args.config).expanduser() if args.config else config_path()
    storage = Path(args.storage_path).expanduser().absolute() if args.storage_path else None
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        _print(f"config file {path} exists: kept as is (your keys are never overwritten)")
        migrate(path)
        existing = tomllib.loads(path.read_text())
        if storage is not None and "data_dir" not in existing:
            _insert_key(path, "data_dir", str(storage))
            _print(f"  set data_dir = {storage}")
        data_dir = Path(existing.get("data_dir") or storage or settings().data_dir).expanduser()
    else:
        data_dir = storage or settings().data_dir
        write_private(path, CONFIG_TEMPLATE.format(version=SCHEMA_VERSION, data_dir=data_dir))
        _print(f"wrote {path} (mode 0600)")
    _ensure_private_dir(data_dir)
    _print(f"storage dir {data_dir} (mode 0700)")
    _print(_gitignore(data_dir, Path.cwd()))
    return 0


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, mode 0600: a temp file in the same directory,
    fsynced, then renamed over it. A crash or a full disk leaves the old file whole.

        >>> import tempfile, stat
        >>> p = Path(tempfile.mkdtemp()) / "c.toml"
        >>> write_private(p, "a = 1"); p.read_text(), oct(stat.S_IMODE(p.stat().st_mode))
        ('a = 1', '0o600')
    """
    import tempfile

    from .errors import StorageError

    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except (OSError, UnicodeError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise StorageError(
            f"could not write {path}: {why}; the file was left as it was",
            hint="Check that its directory is writable and the disk has space, then retry.",
        ) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _with_key(text: str, key: str, value: Any) -> str:
    """``text`` with ``key = value`` added before the first table (a top-level key)."""
    lines = text.splitlines(keepends=True)
    rendered = f"{key} = {_toml_value(value)}\n"
    for i, line in enumerate(lines):
        if line.lstrip().startswith("["):
            lines.insert(i, rendered)
            break
    else:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(rendered)
    return "".join(lines)


def _insert_key(path: Path, key: str, value: Any) -> None:
    write_private(path, _with_key(path.read_text(), key, value))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


#: schema migrations: version -> (description, function(text) -> text)
def _v0_to_v1(text: str) -> str:
    # 0.x wrote `reap_providers = "runpod,vast"`; now a TOML list
    out = []
    for line in text.splitlines(keepends=True):
        key, sep, value = line.partition("=")
        if sep and key.strip() == "reap_providers" and value.strip().startswith('"'):
            names = [n.strip() for n in value.strip().strip('"').split(",") if n.strip()]
            line = f"reap_providers = [{', '.join(_toml_value(n) for n in names)}]\n"
        out.append(line)
    return "".join(out)


MIGRATIONS = {1: ("reap_providers as a list", _v0_to_v1)}


def migrate(path: Path) -> list[str]:
    """Bring a config file to SCHEMA_VERSION; idempotent. Returns what was done."""
    text = path.read_text()
    data = tomllib.loads(text)
    version = int(data.get("schema_version", 0))
    done = []
    for target in range(version + 1, SCHEMA_VERSION + 1):
        description, fn = MIGRATIONS[target]
        text = fn(text)
        done.append(f"v{target - 1} -> v{target}: {description}")
    if done:
        tomllib.loads(text)  # never write a broken file
        if "schema_version" in data:
            text = "".join(
                f"schema_version = {SCHEMA_VERSION}\n"
                if line.split("=")[0].strip() == "schema_version"
                else line
                for line in text.splitlines(keepends=True)
            )
        else:
            text = _with_key(text, "schema_version", SCHEMA_VERSION)
        write_private(path, text)  # one atomic write: never a half-migrated key file
    return done


def cmd_upgrade(args: argparse.Namespace) -> int:
    from .config import config_path

    path = Path(args.config).expanduser() if args.config else config_path()
    if not path.exists():
        _print(f"no config file at {path}; run `atlas-nb init` first")
        return 1
    done = migrate(path)
    if done:
        for step in done:
            _print(f"migrated {path}: {step}")
    else:
        _print(f"{path} is up to date (schema_version {SCHEMA_VERSION})")
    return 0


# -- doctor ------------------------------------------------------------------------------------


def _perm_problem(path: Path, want: int) -> str | None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    return None if mode & ~want == 0 else f"{path} is {oct(mode)}, expected {oct(want)}"


def cmd_doctor(args: argparse.Namespace) -> int:
    from .config import DEFAULT_BASE_URLS, ENV_VARS, config_path, key_sources, settings
    from .fly._executable import find_fly

    problems: list[str] = []
    cfg = settings()
    path = config_path()
    _print(f"config file      {path} ({'found' if path.exists() else 'missing: atlas-nb init'})")
    _print(f"default provider {cfg.default_provider or '-'}")
    sources = key_sources()
    for provider in ("runpod", "lambda", "vast", "fly"):
        key = cfg.api_key(provider)
        where = sources.get(provider, f"not set (looked at {', '.join(ENV_VARS[provider])})")
        shown = mask(key.get_secret_value()) if key else "-"
        _print(f"key {provider:<12} {shown:<12} {where}")
    for name, url in cfg.base_urls.items():
        if url != DEFAULT_BASE_URLS.get(name):
            _print(f"base url {name:<16} {url}")
    if cfg.store is None:
        _print("store            local files (configure(store=...) or ATLAS_NB_STORE for Redis)")
    else:
        team_key = "set" if cfg.store_key else "not set: Fly tokens stay local"
        _print(f"store            {cfg.store.masked} (team key {team_key})")
    fly, why = find_fly()
    _print(f"fly executable   {fly or f'not found ({why})'}")
    data = cfg.data_dir
    if data.exists():
        _print(f"storage dir      {data} (mode {oct(stat.S_IMODE(data.stat().st_mode))})")
    else:
        _print(f"storage dir      {data} (not created yet: atlas-nb init)")
    for candidate, want in ((data, 0o700), (path, 0o600)):
        problem = _perm_problem(candidate, want)
        if problem:
            problems.append(problem)
    tracked = data / "tracked"
    if tracked.is_dir():
        _print(f"tracked computes {len(list(tracked.glob('*.json')))}")
    for problem in problems:
        _print(f"problem: {problem}")
    _print("ok" if not problems else f"{len(problems)} problem(s)")
    return 0 if not problems else 1


# -- sandbox, tables, reap, lab ------------------------------------------------------------------


@contextlib.contextmanager
def _maybe_sandbox(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    from . import sandbox

    sb = sandbox.in_process(speed=50)
    try:
        yield
    finally:
        sb.stop()


def sandbox_config(sb: Any) -> str:
    """The TOML block that points atlas_nb at a running sandbox, valid as pasted into
    ``atlas_nb.toml`` (top-level settings before the tables they would otherwise fall into)."""
    lines = [f"schema_version = {SCHEMA_VERSION}"]
    if sb.fly_executable:
        lines.append(f"fly_executable = {_toml_str(str(sb.fly_executable))}")
    lines += ["", "[base_urls]"]
    lines += [f"{key} = {_toml_str(url)}" for key, url in sb.urls.items()]
    lines += ["", "[api_keys]"]
    lines += [f"{provider} = {_toml_str(key)}" for provider, key in sb.api_keys.items()]
    return "\n".join(lines)


def _toml_str(value: str) -> str:
    import json

    return json.dumps(value)  # a JSON string is a valid TOML basic string


def cmd_sandbox(args: argparse.Namespace) -> int:
    import time

    from . import sandbox

    sb = sandbox.start(port=args.port, seed=args.seed, speed=args.speed, configure=False)
    _print(f"# atlas_nb sandbox on {sb.origin} (seed {args.seed}, speed {args.speed:g}x)")
    if sb.runpod_endpoint_id:
        _print(f"# serverless endpoint (echo worker): {sb.runpod_endpoint_id}")
    if sb.fly_apps:
        _print(f"# fly apps: {', '.join(sb.fly_apps)}")
    _print("# paste what follows into atlas_nb.toml (atlas-nb doctor shows its path):\n")
    _print(sandbox_config(sb))
    _print("\n# serving; Ctrl-C to stop")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()
    return 0


NO_KEYS = "(no rows: configure a provider key (atlas-nb doctor), or add --sandbox)"


def _nothing_asked(df: Any) -> bool:
    """No provider answered because none has credentials (so the empty frame means nothing)."""
    reasons = (df.attrs.get("skipped_reasons") or {}).values()
    answered = df.attrs.get("examined") or df.attrs.get("errors")
    return not len(df) and not answered and all(why == "no credentials" for why in reasons)


def _table(df: Any, columns: Sequence[str], limit: int, empty: str = "(no rows)") -> str:
    import pandas as pd

    shown = df[[c for c in columns if c in df.columns]].head(limit)
    if not len(shown):
        return NO_KEYS if _nothing_asked(df) else empty
    money = {c: 4 for c in shown.columns if "price" in c or c.endswith("_usd")}
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        text = shown.round(money).to_string(index=False)
    if len(df) > limit:
        text += f"\n... {len(df) - limit:,} more rows (raise --limit)"
    return str(text)


def _emit(df: Any, args: argparse.Namespace, columns: Sequence[str], empty: str) -> None:
    """The frame as a table (people), or every column as JSON / CSV on stdout (scripts; notes
    about skipped providers then go to stderr so stdout parses)."""
    rows = df.head(args.limit)
    if args.format == "json":
        print(rows.to_json(orient="records", date_format="iso"), flush=True)
    elif args.format == "csv":
        print(rows.to_csv(index=False), end="", flush=True)
    else:
        _print(_table(df, columns, args.limit, empty))
    _report_attrs(df, file=sys.stdout if args.format == "table" else sys.stderr)


def cmd_gpus(args: argparse.Namespace) -> int:
    import atlas_nb as atlas

    with _maybe_sandbox(args.sandbox):
        df = atlas.gpu_types(args.provider) if args.provider else atlas.gpu_types()
    columns = [
        "provider",
        "gpu",
        "vram_gb",
        "price_per_hr",
        "spot_price_per_hr",
        "availability",
        "max_count",
    ]
    _emit(df, args, columns, "(no GPU types listed)")
    return 0


def cmd_offers(args: argparse.Namespace) -> int:
    import atlas_nb as atlas

    providers = args.providers.split(",") if args.providers else None
    with _maybe_sandbox(args.sandbox):
        df = atlas.offers(
            args.gpu,
            count=args.count,
            max_price_per_hr=args.max_price,
            spot=args.spot,
            providers=providers,
            limit=args.limit,
        )
    columns = [
        "provider",
        "gpu",
        "gpu_count",
        "vram_gb",
        "price_per_hr",
        "spot_price_per_hr",
        "region",
        "availability",
        "offer_id",
    ]
    _emit(df, args, columns, "(no offers match: loosen --gpu, --max-price or --count)")
    if args.format == "table":
        _print_variants(args.gpu, df.attrs.get("variants") or [])
    return 0


def _print_variants(gpu: str | None, variants: list[str]) -> None:
    from .gpus import family_members

    if gpu and family_members(gpu):
        _print(f"{gpu} is a family: {', '.join(variants)} (the gpu column says which)")
        return
    others = [v for v in variants if v != (gpu or "").lower()]
    if others:
        _print(f"other variants of {gpu}: {', '.join(others)} (ask for them with --gpu)")


def _report_attrs(df: Any, file: Any = None) -> None:
    reasons = df.attrs.get("skipped_reasons") or {}
    for provider in df.attrs.get("skipped") or ():
        print(f"skipped {provider}: {reasons.get(provider, 'no credentials')}", file=file)
    for provider, error in (df.attrs.get("errors") or {}).items():
        print(f"error from {provider}: {error}", file=file)


def cmd_reap(args: argparse.Namespace) -> int:
    with _maybe_sandbox(args.sandbox):
        return _reap(args)


def _reap(args: argparse.Namespace) -> int:
    import atlas_nb as atlas

    from ._runtime import get_runtime
    from .orchestrator import api as orchestrator

    note = _print if args.format == "table" else _note
    providers = args.providers.split(",") if args.providers else None
    if not args.yes:
        atlas.configure(reaper_enabled=False)  # --watch must not reap without --yes
    # tracked computes: their limits are what you asked for when you tracked them
    fired = get_runtime().run(orchestrator.enforce(wait_s=60))
    for cid in fired:
        note(f"terminating {cid}: past its tracked limit")
    left = len(atlas.tracked())
    note(f"{left} tracked compute(s) within their limits\n")
    df = atlas.reap(dry_run=not args.yes, providers=providers)
    examined = ", ".join(df.attrs.get("examined") or ()) or "no provider"
    columns = ["provider", "id", "name", "status", "age_s", "action", "reason", "result"]
    _emit(df, args, columns, f"(no orphans on {examined}: nothing to reap)")
    to_reap = int((df["action"] == "terminate").sum()) if len(df) else 0
    if not args.yes and to_reap:
        note(f"\n{to_reap} orphan(s) would be terminated; run `atlas-nb reap --yes` to do it")
    if args.watch:
        note("\nguarding tracked computes; Ctrl-C to stop")
        with contextlib.suppress(KeyboardInterrupt), atlas.events() as events:
            for event in events:
                note(f"{event.compute_id} {event.kind} {event.data}")
    atlas.shutdown()
    return 0


def _note(text: str = "") -> None:
    print(text, file=sys.stderr, flush=True)


def cmd_store_migrate(args: argparse.Namespace) -> int:
    from ._redis import store_url
    from ._runtime import get_runtime
    from .config import settings
    from .orchestrator.migrate import migrate

    cfg = settings()
    url = store_url(args.to)
    done = get_runtime().run(
        migrate(cfg.data_dir, url, key=cfg.store_key, token_path=cfg.fly_token_storage_path)
    )
    _print(f"copied {len(done.records)} tracked record(s) from {cfg.data_dir / 'tracked'} "
           f"to {url.masked}")  # fmt: skip
    if done.already:
        _print(f"left {len(done.already)} alone (Redis holds them already): "
               + ", ".join(done.already))  # fmt: skip
    for note in done.quarantined:
        _print(f"not copied (corrupt, set aside): {note}")
    if done.tokens_skipped:
        _print(done.tokens_skipped)
    else:
        _print(f"copied {len(done.tokens)} Fly token(s), encrypted with the team key")
    _print(f"now use it: atlas.configure(store=...) or ATLAS_NB_STORE={url.masked}")
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    root = Path(__file__).resolve().parents[1] / "notebooks"
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or "jupyter"
    cmd = [
        jupyter,
        "lab",
        f"--notebook-dir={root}",
        f"--port={args.port}",
        "--LabApp.default_url=/lab/tree/01_quickstart.ipynb",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    _print(
        "starting JupyterLab on the tutorials; each notebook starts the sandbox in its first cell"
    )
    return subprocess.call(cmd)


# -- entry point -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atlas-nb", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="write a commented config file and the storage dir")
    p.add_argument("--config", help="config file to write (default: ATLAS_NB_CONFIG or user dir)")
    p.add_argument("--storage-path", help="where atlas_nb keeps its private state")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("upgrade", help="migrate the config file to this version (idempotent)")
    p.add_argument("--config")
    p.set_defaults(func=cmd_upgrade)

    p = sub.add_parser("doctor", help="what is configured, where keys come from, permissions")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("sandbox", help="serve the local fake cloud on 127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed", type=float, default=1.0)
    p.set_defaults(func=cmd_sandbox)

    for name, func, help_text in (
        ("gpus", cmd_gpus, "GPU types and list prices"),
        ("offers", cmd_offers, "rentable offers across clouds"),
    ):
        p = sub.add_parser(name, help=help_text)
        _common_table_args(p, limit=30)
        if name == "gpus":
            p.add_argument("--provider", help="one provider (default: every configured one)")
        else:
            p.add_argument("--gpu", help="canonical name (h100, rtx_4090, ...) or native id")
            p.add_argument("--count", type=int, default=1, help="GPUs per machine (default 1)")
            p.add_argument(
                "--max-price", type=float, dest="max_price", help="USD per hour for the whole offer"
            )
            p.add_argument("--spot", action="store_true", help="price by the spot/bid price")
            p.add_argument("--providers", help="comma-separated provider names")
        p.set_defaults(func=func)

    p = sub.add_parser(
        "reap",
        help="enforce tracked computes' limits and list orphans (terminate them with --yes)",
        description="Adopt the computes tracked on this installation and terminate those past "
        "their idle TTL, deadline or cost cap; then list orphans (computes with this "
        "installation's prefix and owner tag that nobody tracks). Orphans are only terminated "
        "with --yes.",
    )
    p.add_argument("--yes", action="store_true", help="terminate the orphans found")
    p.add_argument("--providers", help="comma-separated provider names")
    p.add_argument("--watch", action="store_true", help="keep guarding tracked computes")
    _common_table_args(p, limit=1000)
    p.set_defaults(func=cmd_reap)

    p = sub.add_parser("store", help="the team store (Redis): copy local state into it")
    store_sub = p.add_subparsers(dest="store_command", required=True)
    m = store_sub.add_parser(
        "migrate",
        help="copy local tracked records (and, with the team key, Fly tokens) into Redis",
        description="Copy this installation's tracked records into the Redis store at --to "
        "(records Redis already holds are left alone); Fly tokens too, encrypted, when the "
        "team key ATLAS_NB_STORE_KEY (store_key) is set. Nothing local is deleted.",
    )
    m.add_argument("--to", required=True, help="redis://[:password@]host:port/db (or rediss://)")
    m.set_defaults(func=cmd_store_migrate)

    p = sub.add_parser("lab", help="open JupyterLab on the tutorial notebooks")
    p.add_argument("--port", type=int, default=8888)
    p.set_defaults(func=cmd_lab)
    return parser


def _common_table_args(p: argparse.ArgumentParser, *, limit: int) -> None:
    """--sandbox, --limit and the output format (table, --json, --csv) of the table commands."""
    p.add_argument("--sandbox", action="store_true", help="ask the built-in sandbox")
    p.add_argument("--limit", type=int, default=limit, help=f"rows to show (default {limit})")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument(
        "--json", action="store_const", const="json", dest="format", help="rows as a JSON array"
    )
    fmt.add_argument("--csv", action="store_const", const="csv", dest="format", help="rows as CSV")
    p.set_defaults(format="table")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .errors import AtlasError

    try:
        return int(args.func(args) or 0)
    except AtlasError as exc:
        print(f"atlas-nb: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
