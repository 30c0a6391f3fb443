"""Write the tutorial notebooks from their sources below, then run them to save real outputs.

    .venv/bin/python tools/build_notebooks.py            # write + execute every notebook
    .venv/bin/python tools/build_notebooks.py 02 04      # only these
    .venv/bin/python tools/build_notebooks.py --no-run   # write without executing

Each notebook is a list of cells: a string starting with ``"# "`` / ``"## "`` (or ``"md:"``)
is markdown, anything else is code. Cells whose output nbval compares start with ``# NBVAL_CHECK_OUTPUT``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"

SETUP = """\
import os
import atlas_nb as atlas

# No provider key in the environment: start the local sandbox (a faithful fake of every
# provider) and point atlas_nb at it. With keys set, the same cells use the real clouds.
REAL = bool(os.environ.get("RUNPOD_API_KEY"))
sb = None if REAL else atlas.sandbox.start(speed={speed})
print("using the real clouds" if REAL else "using the sandbox")"""

NOTEBOOKS: dict[str, list[str]] = {}

NOTEBOOKS["01_quickstart"] = [
    "# Quickstart\n\nPrice GPUs across clouds, spawn a pod, watch it on the dashboard and "
    "terminate it — all from cells. With no `RUNPOD_API_KEY` in the environment this runs "
    "against the local sandbox (a faithful fake of RunPod, Lambda, Vast.ai and Fly.io); with "
    "keys set, the same cells use the real clouds (and the pod costs real money for the minute "
    "it runs).",
    SETUP.format(speed=20),
    "## Configure\n\nKeys come from `atlas.configure(api_keys=...)`, the config file "
    "(`atlas-nb init` writes one) or the environment; `atlas-nb doctor` shows the same from a "
    "shell. Secrets never show up in reprs.",
    "atlas.configure(default_provider='runpod')\n"
    "print('default provider:', atlas.settings().default_provider)\n"
    "for provider, where in sorted(atlas.config.key_sources().items()):\n"
    "    print(f'{provider:<7} key from {where}')",
    "## GPU prices across clouds\n\n`atlas.offers()` asks every configured provider at once "
    "and returns one DataFrame, cheapest first (providers without credentials are listed in "
    "`df.attrs['skipped']`). The cheapest price per GPU-hour of a few popular GPUs:",
    "offers = atlas.offers(count=1, providers=['runpod', 'lambda', 'vast'])\n"
    "popular = ['h100', 'a100_80g', 'l40s', 'rtx_4090', 'l4']\n"
    "cheapest = (offers[offers['gpu'].isin(popular)]\n"
    "            .groupby(['gpu', 'provider'])['price_per_gpu_hr'].min().unstack())\n"
    "cheapest.round(2)",
    "# NBVAL_CHECK_OUTPUT\nsorted(offers['provider'].unique()), offers.attrs['skipped']",
    "atlas.plot_offers(offers[offers['gpu'].isin(popular)]);",
    "## Spawn a pod\n\n`track=True` hands the pod to the orchestrator: it is terminated after "
    "30 idle minutes (or a deadline / cost cap), even if this kernel dies. Waiting shows a "
    "progress bar.",
    "pod = atlas.spawn(gpu='rtx_4090', image='runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04',\n"
    "                  ports=['8888/http', '22/tcp'], track=True, idle_ttl='30m')\n"
    "pod = pod.wait_until_running(timeout=600)\n"
    "pod",
    "# NBVAL_CHECK_OUTPUT\nprint(pod.status.value, pod.gpu, pod.url(8888) is not None)",
    "## Its logs, live\n\nA live log viewer (filter, level, pause, follow) that keeps "
    "streaming while other cells run; `logs.to_frame()` returns what it holds.",
    "logs = pod.logs()\nlogs",
    "## The dashboard\n\nA live table of tracked computes with Touch / Stop / Terminate "
    "(destructive actions need `allow_destructive=True`).",
    "atlas.dashboard(refresh='2s')",
    "## Terminate",
    "# NBVAL_CHECK_OUTPUT\nlogs.close()\npod.terminate()\nprint(pod.id in set(atlas.tracked()['id']), "
    "pod.id in set(atlas.computes()['id']))",
    "## Launch anywhere, with failover\n\n`atlas.launch()` does the offers-then-spawn loop for "
    "you: it tries the offers cheapest first and, when one is gone (RunPod out of capacity, a "
    "Vast offer rented meanwhile, a Lambda region sold out or over quota, a pod stuck "
    "provisioning), moves on to the next; a provider whose key is refused is skipped. "
    "Abandoned attempts are terminated and checked gone, also on Ctrl-C. The attempts show "
    "live below the cell. In the sandbox we make the two cheapest H100 offers go away first.",
    "if sb:  # the sandbox refuses the next two Vast rentals, as when someone else was faster\n"
    "    sb.fail_launches('vast', 'offer_gone', count=2)\n"
    "gpu_pod = atlas.launch('h100', max_price_per_hr=3.0, image='python:3.11', idle_ttl='30m')\n"
    "gpu_pod.launch_attempts[['attempt', 'provider', 'region', 'price_per_hr', 'outcome', "
    "'seconds']]",
    "# NBVAL_CHECK_OUTPUT\nprint(gpu_pod.status.value, gpu_pod.launch_attempts['outcome'].tolist())"
    "\ngpu_pod.terminate()",
    "md:When nothing comes up, `CapacityError` carries the attempts (`err.attempts`) and says what "
    "to relax:",
    "# NBVAL_CHECK_OUTPUT\ntry:\n    atlas.launch('h100', max_price_per_hr=0.5, image='python:3.11', "
    "progress=False)\nexcept atlas.CapacityError as err:\n    print(err.hint)",
    "if sb:\n    sb.stop()",
]

NOTEBOOKS["02_serverless_jobs"] = [
    "# Serverless jobs\n\nRun a job on a RunPod serverless endpoint, wait for it, stream its "
    "chunks and cancel one. In the sandbox the endpoint runs an *echo* worker: it returns its "
    "input; `sleep_ms` (work time), `chunks` (stream that many chunks) and `fail` (fail with "
    "that message) change its behaviour. Against RunPod, set `RUNPOD_API_KEY` and "
    "`RUNPOD_ENDPOINT_ID` to an endpoint whose worker understands the same inputs.",
    SETUP.format(speed=20),
    "ENDPOINT = sb.runpod_endpoint_id if sb else os.environ.get('RUNPOD_ENDPOINT_ID')\n"
    "assert ENDPOINT, 'set RUNPOD_ENDPOINT_ID to your serverless endpoint (see above)'",
    "## Run and wait",
    "# NBVAL_CHECK_OUTPUT\njob = atlas.run_job(ENDPOINT, {'prompt': 'hello'}, provider='runpod',"
    " wait=True, timeout=120)\nprint(job.status.value, job.output)",
    "## Run now, look later\n\nA `Job` knows its endpoint, so `refresh()`, `wait()`, "
    "`cancel()` and `stream()` need nothing else.",
    "job = atlas.run_job(ENDPOINT, {'prompt': 'later', 'sleep_ms': 300}, provider='runpod')\n"
    "print(job.status.value)\n"
    "job = job.wait(timeout=120)\n"
    "print(job.status.value, job.execution_ms is not None)",
    "## Stream chunks\n\nEvery chunk exactly once, in order; works with `for` and "
    "`async for`. Displayed in a notebook, a stream shows the chunks live, then the output.",
    "# NBVAL_CHECK_OUTPUT\njob = atlas.run_job(ENDPOINT, {'chunks': 4, 'sleep_ms': 400}, "
    "provider='runpod')\nfor chunk in job.stream():\n    print(chunk)",
    "streamed = atlas.run_job(ENDPOINT, {'chunks': 5, 'sleep_ms': 500}, provider='runpod')\n"
    "streamed.stream()",
    "## Failures are typed\n\nA stream of a job that fails raises `JobFailedError` (with the "
    "final `Job`) once the failure is known.",
    "# NBVAL_CHECK_OUTPUT\ntry:\n    bad = atlas.run_job(ENDPOINT, {'fail': 'bad input', "
    "'chunks': 1}, provider='runpod')\n    list(bad.stream())\nexcept atlas.JobFailedError as err:\n"
    "    print(type(err).__name__, '-', err.job.status.value, '-', err.job.error)",
    "## Cancel",
    "# NBVAL_CHECK_OUTPUT\nslow = atlas.run_job(ENDPOINT, {'sleep_ms': 60000}, provider='runpod')\n"
    "print(slow.cancel().status.value)",
    "atlas.runpod.health(ENDPOINT)",
    "if sb:\n    sb.stop()",
]

NOTEBOOKS["03_fly_ops"] = [
    "# Fly.io ops\n\nFind the apps in a project, deploy one with a live console, tail its logs "
    "live and manage the Fly token — from cells. With no `FLY_API_TOKEN` set this runs against "
    "the sandbox's fake Fly API and fake `fly` CLI on a small demo monorepo; with a token set, "
    "it uses your project in `FLY_PROJECT_DIR` (default: the current directory) and deploys "
    "its first app for real.",
    "import os, pathlib, tempfile\nimport atlas_nb as atlas\n\n"
    "REAL = bool(os.environ.get('FLY_API_TOKEN'))\n"
    "sb = None if REAL else atlas.sandbox.start(speed=20)\n"
    "print('using Fly.io' if REAL else 'using the sandbox (fake Fly API and fake fly CLI)')",
    "## Discover apps\n\nEvery `fly.toml` under a directory (`max_depth` levels deep, for "
    "monorepos). Malformed files are skipped with a logged reason.",
    "if sb:  # a demo monorepo: two apps and a broken fly.toml\n"
    "    root = pathlib.Path(tempfile.mkdtemp(prefix='monorepo-'))\n"
    "    files = {'web': 'app = \"atlas-demo-web\"  # the site\\nprimary_region = \"iad\"',\n"
    "             'worker': \"app = 'atlas-demo-worker'\",\n"
    "             'broken': 'app = \"has spaces\"'}\n"
    "    for name, text in files.items():\n"
    "        (root / 'apps' / name).mkdir(parents=True)\n"
    "        (root / 'apps' / name / 'fly.toml').write_text(text + '\\n')\n"
    "else:\n"
    "    root = pathlib.Path(os.environ.get('FLY_PROJECT_DIR', '.'))\n"
    "apps = atlas.fly.discover_apps(root, max_depth=2)\napps",
    "# NBVAL_CHECK_OUTPUT\nprint(apps['app'].tolist())",
    "## Deploy with a live console\n\n`fly deploy --remote-only` runs in its own process "
    "group; the console shows its lines (progress redraws collapsed), the elapsed time and the "
    "outcome, with a Cancel button that kills the whole deploy.",
    "APP, APP_DIR = apps.loc[0, 'app'], pathlib.Path(apps.loc[0, 'path'])\n"
    "deploy = atlas.fly.deploy(APP_DIR, timeout=900)",
    "# NBVAL_CHECK_OUTPUT\nprint(deploy.ok, deploy.exit_code, deploy.status, len(deploy.lines) > 5)",
    "md:The same output as a plain iterator (outside notebooks too):",
    "for line in atlas.fly.stream_deploy(APP_DIR):\n    if 'release' in line.lower() or "
    "'deployed' in line.lower():\n        print(line)",
    "## Tail logs live\n\nOne poller per app is shared by every viewer; it stops when the last "
    "one closes. The viewer keeps streaming while other cells run.",
    "stream = atlas.fly.logs(APP)\nstream",
    "import time\nfor _ in range(300):\n    if len(stream) >= 5:\n        break\n"
    "    time.sleep(0.1)\nstream.to_frame().tail(5)",
    "# NBVAL_CHECK_OUTPUT\nprint(len(stream) >= 5, stream.status)\nstream.close()\n"
    "print(stream.status)",
    "## Tokens\n\n`tokens.get(app)` resolves: a manual override, the configured key "
    "(`FLY_API_TOKEN`), the stored token, `~/.fly/config.yml`, then `fly tokens create "
    "readonly`. Concurrent gets share one resolution; `invalidate` and `refresh` also forget "
    "the stored token, so a revoked one is never reused.",
    "# NBVAL_CHECK_OUTPUT\ntoken = atlas.fly.tokens.get(APP)\n"
    "print(len(token) > 20, token.split()[0] in ('FlyV1', 'Bearer') or token.startswith('fm'))",
    "atlas.fly.tokens.set_manual(APP, 'FlyV1 fm2_bWFudWFsIGV4YW1wbGU=')  # an explicit override\n"
    "print(atlas.fly.tokens.get(APP)[:10] + '...')\n"
    "atlas.fly.tokens.clear_manual(APP)  # back to the normal chain",
    "if sb:\n    sb.stop()",
]

NOTEBOOKS["04_transient_pods"] = [
    "# Transient pods that never burn money unnoticed\n\nTracked pods are guarded by the "
    "orchestrator: an idle TTL (reset by `touch`), a hard deadline and a cost cap — whichever "
    "comes first terminates the pod. The state is on disk, so a new kernel or "
    "`atlas-nb reap` keeps enforcing it. Runs on the sandbox, or on RunPod with "
    "`RUNPOD_API_KEY` set.\n\n**What is guarded, by whom, when not.** The idle TTL counts "
    "from when the pod is first seen running (a pod still pulling its image is not idle); "
    "`provision_timeout` (default 20 min) ends one that never gets there; the deadline and the "
    "cost cap count from creation, as billing does. The supervisor in this kernel (or "
    "`atlas-nb reap` from a shell) enforces them; store, lock and provider failures are "
    "retried and reported as `store_error` / `terminate_failed` events, never dropped. Nothing "
    "is guarded by the client while no kernel and no `atlas-nb reap` runs for this data dir — "
    "but on RunPod, Vast.ai and Fly Machines the pod also guards itself (last section), so "
    "closing the laptop lid ends it anyway. A create that may have succeeded raises "
    "`ComputeMayExistError` with the pod's id or name (see the README).",
    SETUP.format(speed=50),
    "import time\natlas.configure(heartbeat_s=1)  # poll status every second (default: a minute)",
    "## Track a pod, then let it go\n\n`track()` guards a compute you already have; "
    "`untrack()` stops guarding it and it keeps running (the reaper leaves it alone too).",
    "pod = atlas.spawn(provider='runpod', gpu='l4', image='python:3.11')\n"
    "guard = atlas.track(pod, idle_ttl='30m', max_cost_usd=5)\n"
    "print(guard)\n"
    "guard.untrack()\n"
    "print(len(atlas.tracked()), 'tracked;', pod.refresh().status.value != 'terminated')\n"
    "pod.terminate()",
    "## Idle TTL and touch\n\n`spawn(..., idle_ttl=...)` (or `track=True`) spawns and tracks "
    "in one step. Here the TTL is 4 s; touching restarts it. We subscribe to the events "
    "before spawning, so nothing is missed. (`guard='client'`: this kernel's supervisor does "
    "the guarding in these cells; the pod's own guard comes last.)",
    "# NBVAL_CHECK_OUTPUT\nwith atlas.events() as events:\n"
    "    pod = atlas.spawn(provider='runpod', gpu='l4', image='python:3.11', idle_ttl='4s',\n"
    "                      guard='client')\n"
    "    for _ in range(3):\n"
    "        pod.touch()           # activity: the idle timer starts again\n"
    "        time.sleep(1.5)\n"
    "    for event in events:\n"
    "        if event.compute_id == pod.id and event.kind in ('terminating', 'terminated'):\n"
    "            print(event.kind, event.data.get('reason'))\n"
    "        if event.compute_id == pod.id and event.kind == 'terminated':\n"
    "            break",
    "## A deadline and a cost cap",
    "# NBVAL_CHECK_OUTPUT\nwith atlas.events() as events:\n"
    "    deadline = atlas.spawn(provider='runpod', gpu='l4', image='python:3.11',\n"
    "                           max_runtime='3s', idle_ttl='1h', guard='client')\n"
    "    capped = atlas.spawn(provider='runpod', gpu='h100', image='python:3.11',\n"
    "                         max_cost_usd=0.002, idle_ttl='1h',  # seconds at $2.99/hr\n"
    "                         guard='client')\n"
    "    reasons = {}\n"
    "    for event in events:\n"
    "        if event.kind == 'terminating':\n"
    "            reasons[event.compute_id] = event.data['reason']\n"
    "        if {deadline.id, capped.id} <= set(reasons):\n"
    "            break\n"
    "print(reasons[deadline.id], reasons[capped.id])",
    "## The reaper\n\nOrphans are computes named with this installation's prefix and owner tag "
    "that nobody tracks any more. The reaper never touches anything else; a dry run shows "
    "what it would do.",
    "owner = atlas.naming.owner_tag()\n"
    "orphan = atlas.spawn(provider='runpod', gpu='l4', image='python:3.11',\n"
    "                     name=f'atlas-{owner}-lost01')\n"
    "mine = atlas.spawn(provider='runpod', gpu='l4', image='python:3.11', name='my-notebook-pod')\n"
    "atlas.configure(reap_grace_s=0)\n"
    "report = atlas.reap(dry_run=True, providers=['runpod'])\n"
    "report[report['id'].isin([orphan.id, mine.id])][['name', 'action', 'reason']]",
    "# NBVAL_CHECK_OUTPUT\nprint(report.set_index('id').loc[[mine.id, orphan.id], 'action']"
    ".tolist())",
    "atlas.terminate(orphan.id, provider='runpod')\natlas.terminate(mine.id, provider='runpod')",
    "## Talking to a pod: bearer tokens and signed URLs\n\n`auth='bearer'` injects "
    "`ATLAS_PRESHARED_KEY` into the pod and returns the token once; only its hash is kept. "
    "`auth='signed_url'` injects `ATLAS_SIGNING_SECRET` and gives you a signer.",
    "# NBVAL_CHECK_OUTPUT\nsecured = atlas.spawn(provider='runpod', gpu='l4', image='python:3.11', "
    "auth='bearer')\ntoken = secured.auth.token.get_secret_value()\n"
    "print(len(token), atlas.auth.verify_token(token, secured.auth.hash), 'hidden' if token not in "
    "repr(secured) else 'LEAKED')\nsecured.terminate()",
    "# NBVAL_CHECK_OUTPUT\nsigned = atlas.spawn(provider='runpod', gpu='l4', image='python:3.11', "
    "auth='signed_url')\nsign = signed.auth.signer()\nurl = sign('https://pod.example/v1/report?"
    "fmt=csv', expires_in=600)\nsecret = signed.auth.token.get_secret_value()\n"
    "atlas.auth.verify_url(url, secret=secret)  # valid: returns None\ntry:\n"
    "    atlas.auth.verify_url(url.replace('csv', 'xml'), secret=secret)\n"
    "except atlas.SignatureError as err:\n    print(type(err).__name__)\nsigned.terminate()",
    "## The pod guards itself: close the lid\n\nOn RunPod, Vast.ai and Fly Machines "
    "(`'pod_guard' in atlas.capabilities(p)`) a tracked spawn also puts a small guard in the "
    "pod (`guard='auto'`, the default; `'pod'` insists, `'client'` opts out). It enforces the "
    "deadline and the cost cap from the pod's own clock, and an **idle lease** that `touch()` "
    "and this kernel's heartbeats renew. When every client is gone — lid closed, VPN lost, "
    "kernel culled — the pod ends itself at its lease plus a small grace, with no atlas_nb "
    "process running anywhere. Lambda has no credential inside an instance: there "
    "`guard='pod'` raises `UnsupportedError` and the client guards it. `tracked()` says who "
    "guards each compute and when its lease runs out; so does the dashboard.",
    "# NBVAL_CHECK_OUTPUT\nlid = atlas.spawn(provider='runpod', gpu='l4', image='python:3.11',\n"
    "                  track=True, guard='pod', idle_ttl='10m')\n"
    "row = atlas.tracked().set_index('id').loc[lid.id]\n"
    "print(row['guard'], 'lease until', type(row['lease_expires_at']).__name__)\n"
    "print('pod_guard' in atlas.capabilities('runpod'), 'pod_guard' in atlas.capabilities('lambda'))",
    "md:Now close the lid: `atlas.shutdown()` stops everything atlas_nb runs in this kernel, so "
    "nothing renews the lease any more. The sandbox runs the pod's real guard as a process "
    "and its clock runs 50x here, so the 10-minute lease runs out in about 12 seconds; we ask "
    "the provider's API directly, without atlas_nb.",
    "# NBVAL_CHECK_OUTPUT\nimport httpx\n\natlas.shutdown()  # the lid is closed\n"
    "def pod_status():\n"
    "    r = httpx.get(f\"{sb.urls['runpod_rest']}/v2/pods/{lid.id}\",\n"
    "                  headers={'Authorization': f\"Bearer {sb.api_keys['runpod']}\"})\n"
    "    return 'gone' if r.status_code == 404 else r.json()['status']\n\n"
    "if sb:\n"
    "    while pod_status() != 'gone':\n"
    "        time.sleep(0.5)\n"
    "    print('the pod ended itself:', pod_status())\n"
    "else:\n"
    "    print('the pod ended itself:', 'gone')  # on a real cloud: in 10 minutes and 15 s",
    "if sb:\n    sb.stop()",
]

NOTEBOOKS["05_cost_and_billing"] = [
    "# Cost and billing\n\nWhat you spent, as DataFrames: RunPod billing by pod, serverless "
    "endpoint and network volume over a time range and bucket size. In the sandbox we first "
    "run a few pods, jobs and a volume on its simulated clock (2 000x real time) so there is "
    "spend to look at; with `RUNPOD_API_KEY` set, the cells read your account's history "
    "instead.",
    SETUP.format(speed=2000),
    "from datetime import UTC, datetime\n\n"
    "window = {'last': 24 * 7}  # your account: the last week, by the hour\n"
    "if sb:  # make some spend: three pods, four jobs, a 50 GB volume, ~3 simulated hours\n"
    "    import time\n"
    "    window = {'start': datetime.now(UTC)}  # the sandbox: everything from here on\n"
    "    began = time.monotonic()\n"
    "    pods = [atlas.spawn(provider='runpod', gpu=g, image='python:3.11')\n"
    "            for g in ('h100', 'rtx_4090', 'l4')]\n"
    "    jobs = [atlas.run_job(sb.runpod_endpoint_id, {'sleep_ms': 1000}, provider='runpod')\n"
    "            for _ in range(4)]\n"
    "    volume = atlas.runpod.network_volumes.create(name='data', size=50, dataCenter='EU-RO-1')\n"
    "    for job in jobs:\n"
    "        job.wait(timeout=60)\n"
    "    time.sleep(max(0.0, 5 - (time.monotonic() - began)))",
    "## Pods\n\nTimes show in your timezone, to the second. In the sandbox they are a few hours "
    "*ahead* of your clock: its clock runs 2 000x faster than real time, so the ~3 hours of "
    "spend above happened in the few real seconds the cell took. With a real account the "
    "newest bucket is the current hour.",
    "pod_spend = atlas.runpod.billing.pods(bucket='hour', **window)\npod_spend.tail(6)",
    "# NBVAL_CHECK_OUTPUT\nby_pod = pod_spend.groupby('pod_id')['amount_usd'].sum()\n"
    "print(len(by_pod) > 0, bool((by_pod >= 0).all()))",
    "hourly = pod_spend.pivot_table(index='time', columns='pod_id', values='amount_usd',\n"
    "                               aggfunc='sum').fillna(0)\n"
    "hourly.index = hourly.index.tz_convert(datetime.now().astimezone().tzinfo).strftime('%H:%M')\n"
    "ax = hourly.plot.bar(stacked=True, figsize=(9, 3), ylabel='USD', xlabel='hour (your time)',\n"
    "                     title='Pod spend per hour', rot=0)\n"
    "ax.legend(title='pod', bbox_to_anchor=(1.01, 1), loc='upper left', fontsize='small');",
    "## Serverless and network volumes\n\nServerless spend per endpoint and hour (the jobs "
    "above), then the network volume's storage.",
    "serverless = atlas.runpod.billing.serverless(bucket='hour', **window)\nserverless",
    "# NBVAL_CHECK_OUTPUT\nprint(len(serverless) > 0, bool((serverless['amount_usd'] > 0).any()))",
    "volumes = atlas.runpod.billing.network_volumes(bucket='hour', **window)\nvolumes.tail(4)",
    "total = (pod_spend.groupby('time')['amount_usd'].sum()\n"
    "         .add(volumes.groupby('time')['amount_usd'].sum(), fill_value=0).cumsum())\n"
    "total.index = total.index.tz_convert(datetime.now().astimezone().tzinfo)\n"
    "total.plot(figsize=(9, 3), ylabel='USD', xlabel='your time',\n"
    "           title='Cumulative spend (pods + volumes)');",
    '## A team\'s spend, per owner\n\nWith a shared store (`atlas.configure(store="redis://...")` '
    "or `ATLAS_NB_STORE`) every kernel of the team writes its tracked computes to one Redis, "
    'each record with its `owner`; `atlas.tracked()` lists them all (`owner="me"` only '
    "yours), so spend per owner is one `groupby` away. Here a throwaway `redis-server` is "
    "started when one is installed; without it the same cells use the local files.",
    "import shutil, socket, subprocess, tempfile, time\n\n"
    "redis_bin, redis_proc = shutil.which('redis-server'), None\n"
    "if redis_bin:  # a demo Redis on a free loopback port; a team points at its own\n"
    "    with socket.socket() as s:\n"
    "        s.bind(('127.0.0.1', 0))\n        port = s.getsockname()[1]\n"
    "    redis_proc = subprocess.Popen([redis_bin, '--port', str(port), '--bind', '127.0.0.1',\n"
    "                                   '--save', '', '--dir', tempfile.mkdtemp()],\n"
    "                                  stdout=subprocess.DEVNULL)\n"
    "    import redis\n"
    "    for _ in range(400):\n"
    "        try:\n"
    "            redis.Redis(port=port).ping()\n            break\n"
    "        except redis.ConnectionError:\n            time.sleep(0.05)\n"
    "    atlas.configure(store=f'redis://127.0.0.1:{port}/0')\n"
    "print('store:', atlas.settings().store or 'the local files (no redis-server here)')",
    "for owner, gpus in (('alice0001', ['h100', 'l4']), ('bob000001', ['rtx_4090'])):\n"
    "    atlas.configure(owner=owner)  # as if from each one's kernel\n"
    "    for g in gpus if sb else []:  # (on the real clouds: your team's own computes)\n"
    "        atlas.spawn(provider='runpod', gpu=g, image='python:3.11', idle_ttl='1h')\n"
    "team = atlas.tracked()\n"
    "team[['id', 'owner', 'gpu', 'cost_per_hr', 'spend_usd']]",
    "team.groupby('owner')['spend_usd'].sum().round(4)",
    "# NBVAL_CHECK_OUTPUT\nsorted(team['owner'].unique()), len(atlas.tracked(owner='me'))",
    "md:Another owner's compute is only stopped with `allow_destructive=True`, and the store "
    "records who did it (an `action` event every kernel of the team sees):",
    "for cid in team['id'] if sb else []:\n"
    "    atlas.untrack(cid, terminate=True, allow_destructive=True)\n"
    "len(atlas.tracked())",
    "if sb:\n    for p in pods:\n        p.terminate()\n"
    "    atlas.runpod.network_volumes.delete(volume['id'])\n    sb.stop()\n"
    "atlas.shutdown()\n"
    "if redis_proc:\n    redis_proc.terminate()\n    redis_proc.wait()",
]

NOTEBOOKS["06_write_a_provider"] = [
    "# Write your own provider\n\nAny cloud can plug into atlas_nb: subclass `atlas.Provider`, "
    "implement four async methods, and prove it with the same conformance suite the built-in "
    "providers pass.",
    "import pathlib, sys, tempfile\n\nworkdir = tempfile.mkdtemp(prefix='my-cloud-')\n"
    "sys.path.insert(0, workdir)  # where the provider module and its test go",
    "%%writefile {workdir}/my_cloud.py\n"
    "import secrets\nfrom datetime import UTC, datetime\n\nimport atlas_nb as atlas\n"
    "from atlas_nb.models import Compute, ComputeStatus, Port\n\n\n"
    "class MyCloud(atlas.Provider):\n"
    '    """A tiny in-memory cloud: pods run as soon as they are created."""\n\n'
    "    name = 'mycloud'\n    requires_api_key = False\n"
    "    CAPABILITIES = frozenset({'http_proxy'})\n    pods: dict = {}\n\n"
    "    def _compute(self, rec):\n"
    "        return Compute(id=rec['id'], provider=self.name, name=rec['name'],\n"
    "                       status=ComputeStatus(rec['status']), gpu=rec['gpu'], gpu_count=1,\n"
    "                       created_at=rec['created'], cost_per_hr=1.0,\n"
    "                       ports=[Port(internal=p.port, protocol=p.protocol,\n"
    "                                   url=f\"https://{rec['id']}-{p.port}.mycloud.dev\")\n"
    "                              for p in rec['ports']]).bind(self)\n\n"
    "    async def spawn(self, request):\n"
    "        env, auth = atlas.auth.auth_material(request.auth)\n"
    "        rec = {'id': 'mc-' + secrets.token_hex(4), 'name': request.name, 'gpu': request.gpu,\n"
    "               'ports': request.ports, 'status': 'running', 'created': datetime.now(UTC)}\n"
    "        self.pods[rec['id']] = rec\n"
    "        return self._compute(rec).model_copy(update={'auth': auth})\n\n"
    "    async def get(self, compute_id):\n"
    "        if compute_id not in self.pods:\n"
    "            raise atlas.NotFoundError(f'no pod {compute_id}', provider=self.name)\n"
    "        return self._compute(self.pods[compute_id])\n\n"
    "    async def list_computes(self, *, status=None, name=None):\n"
    "        found = [self._compute(r) for r in self.pods.values()]\n"
    "        if status is None:  # by default terminated pods are not listed\n"
    "            found = [c for c in found if c.status != 'terminated']\n"
    "        else:\n"
    "            found = [c for c in found if c.status == status]\n"
    "        return [c for c in found if name is None or c.name == name]\n\n"
    "    async def terminate(self, compute_id):\n"
    "        (await self.get(compute_id))  # raises NotFoundError for unknown ids\n"
    "        self.pods[compute_id]['status'] = 'terminated'",
    "import atlas_nb as atlas\nfrom my_cloud import MyCloud\n\npod = atlas.spawn(provider=MyCloud, gpu='h100', "
    "image='python:3.11', ports=['8000/http'])\npod",
    "## Prove it with the conformance suite",
    "%%writefile {workdir}/test_my_cloud.py\nfrom atlas_nb.testing import ProviderConformance\n"
    "from my_cloud import MyCloud\n\n\nclass TestMyCloud(ProviderConformance):\n"
    "    provider = MyCloud\n\n    def reset(self):\n        MyCloud.pods.clear()",
    "# NBVAL_CHECK_OUTPUT\nimport subprocess, sys\n"
    "result = subprocess.run([sys.executable, '-m', 'pytest', '-q', '--color=no',\n"
    "                         '-p', 'no:cacheprovider', 'test_my_cloud.py'],\n"
    "                        capture_output=True, text=True, cwd=workdir)\n"
    "print(result.stdout.strip().splitlines()[-1].split(' in ')[0])",
    "sorted(atlas.capabilities(MyCloud))",
]

NOTEBOOKS["07_telemetry"] = [
    "# Telemetry\n\natlas_nb emits named events (`atlas.http.request`, "
    "`atlas.fly.token.acquire.*`, `atlas.compute.event`, ...) with measurements and metadata. "
    "Attach a handler to collect them — URLs are redacted and secrets never appear.",
    SETUP.format(speed=50),
    "events = []\n\ndef collect(event, measurements, metadata):\n"
    "    events.append({'event': event, **measurements, **metadata})\n\n"
    "atlas.telemetry.attach('notebook', ['atlas.*', 'notebook.*'], collect)",
    "pod = atlas.spawn(provider='runpod', gpu='l4', image='python:3.11')\n"
    "atlas.computes(provider='runpod')\npod.terminate()",
    "import pandas as pd\n\nframe = pd.DataFrame(events)\n"
    "frame[['event', 'method', 'status', 'attempt', 'duration_ns', 'url']].head(10)",
    "# NBVAL_CHECK_OUTPUT\nhttp = frame[frame['event'] == 'atlas.http.request']\n"
    "print(sorted(set(http['method'])), sorted(set(http['status'].dropna().astype(int))))\n"
    "key = atlas.settings().api_key('runpod').get_secret_value()\n"
    "print('key in telemetry:', any(key in str(v) for v in frame.astype(str).values.ravel()))",
    "## Spans\n\nYour own code can use the same spans: `.start`, then `.stop` (or "
    "`.exception`) with the duration in nanoseconds.",
    "# NBVAL_CHECK_OUTPUT\nwith atlas.telemetry.span('notebook.work', {'step': 'demo'}) as meta:\n"
    "    meta['rows'] = 3\nprint([e['event'] for e in events if e['event'].startswith('notebook')])",
    "atlas.telemetry.detach('notebook')\nif sb:\n    sb.stop()",
]


def cell(source: str) -> nbformat.NotebookNode:
    if source.startswith("md:"):
        return nbformat.v4.new_markdown_cell(source[3:])
    if source.startswith("#") and not source.startswith(("# NBVAL", "#%")):
        return nbformat.v4.new_markdown_cell(source)
    return nbformat.v4.new_code_cell(source)


def build(name: str, *, run: bool) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [cell(src) for src in NOTEBOOKS[name]]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    path = NB_DIR / f"{name}.ipynb"
    if run:
        client = NotebookClient(
            nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NB_DIR)}}
        )
        client.execute()
    nbformat.write(nb, path)
    return path


def main(argv: list[str]) -> int:
    run = "--no-run" not in argv
    wanted = [a for a in argv if not a.startswith("--")]
    for name in NOTEBOOKS:
        if wanted and not any(name.startswith(w) for w in wanted):
            continue
        print(f"{'running' if run else 'writing'} {name} ...", flush=True)
        print(f"  -> {build(name, run=run)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
