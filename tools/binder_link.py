"""Print the "Launch on Binder" link (and a Markdown badge) for where this clone is published.

The link is built from the clone's own ``origin`` remote, so it points at your repository or
your fork, never at someone else's::

    python tools/binder_link.py                     # from origin, the default branch
    python tools/binder_link.py --ref my-branch     # a branch, tag or commit
    python tools/binder_link.py git@github.com:you/atlas_nb.git

GitHub and GitLab remotes get mybinder.org's short forms; any other public git URL its
``git/`` form.

>>> binder_url("git@github.com:you/atlas_nb.git")
'https://mybinder.org/v2/gh/you/atlas_nb/HEAD?urlpath=lab/tree/notebooks/01_quickstart.ipynb'
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from urllib.parse import quote

BINDER = "https://mybinder.org/v2"
OPENS = "lab/tree/notebooks/01_quickstart.ipynb"
BADGE = "https://mybinder.org/badge_logo.svg"
# https://host/path, ssh://[user@]host[:port]/path, or scp-like [user@]host:path
_URL = re.compile(
    r"^(?P<scheme>https?|ssh|git)://(?:[^@/]+@)?(?P<host>[^/:]+)(?P<port>:\d+)?/(?P<path>.+)$"
)
_SCP = re.compile(r"^(?:[^@/]+@)?(?P<host>[^/:]+):(?P<path>[^/].*)$")


class NotARemoteError(ValueError):
    """The text is not a git remote URL mybinder.org can clone."""


def _host_and_path(remote: str) -> tuple[str, str]:
    """``(host, path)``; the host keeps its port only for an http(s) remote."""
    match = _URL.match(remote) or _SCP.match(remote)
    if not match:
        raise NotARemoteError(
            f"{remote!r} is not a git remote URL: give one like "
            "https://github.com/<owner>/<repo> or git@github.com:<owner>/<repo>.git"
        )
    path = match["path"].strip("/").removesuffix(".git")
    host = match["host"].lower()
    if match.groupdict().get("scheme", "").startswith("http") and match.groupdict().get("port"):
        host += match["port"]
    return host, path


def binder_url(remote: str, ref: str = "HEAD") -> str:
    """The mybinder.org URL that opens the quickstart of ``remote`` at ``ref``."""
    host, path = _host_and_path(remote.strip())
    if host == "github.com" and path.count("/") == 1:
        spec = f"gh/{path}/{quote(ref, safe='')}"
    elif host == "gitlab.com" and "/" in path:
        spec = f"gl/{quote(path, safe='')}/{quote(ref, safe='')}"
    else:
        # rebuilt from host and path: a token in the remote never reaches the link
        spec = f"git/{quote(f'https://{host}/{path}', safe='')}/{quote(ref, safe='')}"
    return f"{BINDER}/{spec}?urlpath={OPENS}"


def origin_url() -> str:
    """The URL of this clone's ``origin`` remote."""
    done = subprocess.run(
        ["git", "remote", "get-url", "origin"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise NotARemoteError(
            "this clone has no `origin` remote: publish it first "
            "(git remote add origin <url>), or pass the URL: python tools/binder_link.py <url>"
        )
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("remote", nargs="?", help="a git remote URL (default: origin's)")
    parser.add_argument("--ref", default="HEAD", help="branch, tag or commit (default: HEAD)")
    args = parser.parse_args(argv)
    try:
        url = binder_url(args.remote or origin_url(), args.ref)
    except NotARemoteError as exc:
        print(f"binder_link: {exc}", file=sys.stderr)
        return 2
    print(url)
    print(f"[![Launch on Binder]({BADGE})]({url})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
