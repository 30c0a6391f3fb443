"""``ComputeDashboard``: a live table of tracked computes with per-row actions.

Columns: provider, name, GPU, status, uptime, $/hr, spend so far, time left before the next
limit (idle TTL, deadline or cost cap), and who guards it: ``pod`` (it ends itself; with the
time left on its lease, or the last renewal's failure) or ``client`` (this kernel or
``atlas-nb reap``). Touch is always available; Stop and Terminate are
disabled unless ``allow_destructive=True`` and ask for confirmation. The table refreshes every
``refresh`` and immediately on orchestrator events; the last error is shown, not swallowed.

    >>> dash = ComputeDashboard(refresh=60, allow_destructive=False, autostart=False)
    >>> dash.text_repr()
    'ComputeDashboard(refresh=60s, allow_destructive=False, rows=0)'
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import time
from typing import Any

import ipywidgets as w

from .._deprecated import renamed_method
from .._durations import Duration, to_seconds
from .._runtime import cancel_task, get_runtime
from .theme import PALETTE, money, status_colour

_BAD = PALETTE["bad"]

MIN_REFRESH_S = 1.0
MIN_EVENT_GAP_S = 0.5

HEADERS = (
    "provider",
    "name",
    "GPU",
    "status",
    "uptime",
    "$/hr",
    "spent",
    "limit in",
    "guard",
    "owner",
    "",
)


def _duration(seconds: Any) -> str:
    if seconds is None or seconds != seconds:  # None or NaN
        return "-"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def format_row(row: dict[str, Any]) -> list[str]:
    """The text cells of one tracked compute (pure; used by the table and the text repr)."""
    limit = row.get("limit")
    left = _duration(row.get("limit_in_s"))
    return [
        str(row.get("provider") or "-"),
        str(row.get("name") or row.get("id")),
        str(row.get("gpu") or "cpu"),
        str(
            (row.get("terminating") and f"terminating ({row['terminating']})")
            or row.get("status")
            or "-"
        ),
        _duration(row.get("uptime_s")),
        money(row.get("cost_per_hr"), 2),
        money(row.get("spend_usd"), 4),
        f"{left} ({limit})" if limit else "-",
        guard_cell(row),
        str(row.get("owner") or "-"),
    ]


def guard_cell(row: dict[str, Any], now: float | None = None) -> str:
    """Who guards a compute, and its lease: ``client``, ``pod · lease 4m10s`` or
    ``pod · renewal failed: ...`` (a failed renewal never ends the pod by itself).

    >>> guard_cell({"guard": "pod", "lease_error": "unreachable: ConnectError"})
    'pod · renewal failed: unreachable: ConnectError'
    >>> guard_cell({"guard": "client"})
    'client'
    """
    guard = row.get("guard")
    if guard != "pod":
        return str(guard or "client")
    error = row.get("lease_error")
    if isinstance(error, str) and error:
        return f"pod · renewal failed: {error}"
    expires = row.get("lease_expires_at")
    if expires is None or expires != expires:  # None or NaT
        return "pod"
    at = expires.timestamp() if hasattr(expires, "timestamp") else float(expires)
    return f"pod · lease {_duration(max(0.0, at - (now or time.time())))}"


class _Row:
    """The widgets of one row, updated in place on refresh."""

    def __init__(self, dash: ComputeDashboard, compute_id: str) -> None:
        self.id = compute_id
        self.cells = [w.HTML() for _ in HEADERS[:-1]]
        self.touch = w.Button(
            description="Touch",
            layout=w.Layout(width="auto"),
            tooltip="Mark activity: restart the idle timer",
        )
        self.stop = w.Button(
            description="Stop", layout=w.Layout(width="auto"), disabled=not dash.allow_destructive
        )
        self.terminate = w.Button(
            description="Terminate",
            button_style="danger",
            layout=w.Layout(width="auto"),
            disabled=not dash.allow_destructive,
        )
        self.confirm = w.Button(
            description="Confirm",
            button_style="danger",
            layout=w.Layout(width="auto", display="none"),
        )
        self.cancel = w.Button(description="Cancel", layout=w.Layout(width="auto", display="none"))
        self.pending: str | None = None
        self.touch.on_click(lambda _b: dash._act("touch", self.id))
        self.stop.on_click(lambda _b: self.ask("stop"))
        self.terminate.on_click(lambda _b: self.ask("terminate"))
        self.confirm.on_click(lambda _b: self.run(dash))
        self.cancel.on_click(lambda _b: self.ask(None))
        self.actions = w.HBox([self.touch, self.stop, self.terminate, self.confirm, self.cancel])
        for b in (self.touch, self.stop, self.terminate, self.confirm, self.cancel):
            b.add_class(f"atlas-action-{b.description.lower()}")

    def ask(self, action: str | None) -> None:
        """Show (or hide) the confirmation for a destructive action."""
        self.pending = action
        shown = "inline-flex" if action else "none"
        self.confirm.layout.display = shown
        self.cancel.layout.display = shown
        self.confirm.description = f"Confirm {action}" if action else "Confirm"

    def run(self, dash: ComputeDashboard) -> None:
        action, self.pending = self.pending, None
        self.ask(None)
        if action:
            dash._act(action, self.id)

    def update(self, cells: list[str], status: str) -> None:
        """Set each cell once (a widget only sends a message when its value changes)."""
        values = [html.escape(text) for text in cells]
        colour = status_colour(status)
        values[3] = f"<span style='color:{colour}'>{values[3]}</span>"
        for cell, value in zip(self.cells, values, strict=True):
            if cell.value != value:
                cell.value = value

    def widgets(self) -> list[w.Widget]:
        return [*self.cells, self.actions]

    def close(self) -> None:
        for widget in self.widgets():
            widget.close()


class ComputeDashboard(w.VBox):
    """The compute dashboard; see the module docstring. ``atlas.dashboard()`` makes one."""

    def __init__(
        self, *, refresh: Duration = "5s", allow_destructive: bool = False, autostart: bool = True
    ) -> None:
        self.refresh_s = max(MIN_REFRESH_S, to_seconds(refresh, field="refresh"))
        self.allow_destructive = allow_destructive
        self.title = w.HTML("<b>atlas_nb computes</b>")
        self.info = w.HTML()
        self.error = w.HTML()
        self.grid = w.GridBox(
            layout=w.Layout(grid_template_columns="repeat(9, auto) 1fr", grid_gap="2px 12px")
        )
        self._headers = [w.HTML(f"<b>{h}</b>") for h in HEADERS]
        self._rows: dict[str, _Row] = {}
        self.rows_data: list[dict[str, Any]] = []
        self.last_error: str | None = None
        self.refreshed_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._kick: asyncio.Event | None = None
        self._unsubscribe: Any = None
        super().__init__([w.HBox([self.title, self.info]), self.error, self.grid])
        self.add_class("atlas-dashboard")
        self._layout_rows()
        if autostart:
            get_runtime().run(self._start())

    # -- data ------------------------------------------------------------------------------
    async def _start(self) -> None:
        from ..orchestrator.api import _running

        sup = await _running()
        self._kick = asyncio.Event()
        self._unsubscribe = sup.bus.subscribe(self._on_event)
        await self.arefresh()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def _on_event(self, _event: Any) -> None:
        if self._kick is not None:
            self._kick.set()

    async def _loop(self) -> None:
        assert self._kick is not None
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.refresh_s):  # not wait_for: see supervisor
                    await self._kick.wait()
            self._kick.clear()
            # a burst of events makes one refresh, at most every MIN_EVENT_GAP_S
            since = time.time() - (self.refreshed_at or 0.0)
            await asyncio.sleep(max(0.1, MIN_EVENT_GAP_S - since))
            await self.arefresh()

    async def arefresh(self) -> None:
        """Reload the tracked computes and redraw (errors are shown, not raised)."""
        from ..orchestrator.api import tracked

        try:
            df = await tracked()
            self.rows_data = [{str(k): v for k, v in r.items()} for r in df.to_dict("records")]
            if self.last_error and self.last_error.startswith("refresh failed"):
                self._show_error(None)
        except Exception as exc:
            self._show_error(f"refresh failed: {exc}")
            return
        self.refreshed_at = time.time()
        self._sync_rows()

    def refresh(self) -> None:
        get_runtime().run(self.arefresh())

    def _sync_rows(self) -> None:
        wanted = [r["id"] for r in self.rows_data]
        changed = set(wanted) != set(self._rows)
        for cid in list(self._rows):
            if cid not in wanted:
                self._rows.pop(cid).close()
        for row in self.rows_data:
            widget_row = self._rows.get(row["id"])
            if widget_row is None:
                widget_row = self._rows[row["id"]] = _Row(self, row["id"])
            widget_row.update(format_row(row), str(row.get("status")))
        if changed:
            self._layout_rows()
        stamp = time.strftime("%H:%M:%S", time.localtime(self.refreshed_at or time.time()))
        self.info.value = (
            f"&nbsp;{len(self.rows_data)} tracked · refreshed {stamp} · every {self.refresh_s:g}s"
        )

    def _layout_rows(self) -> None:
        children: list[w.Widget] = list(self._headers)
        for cid in [r["id"] for r in self.rows_data if r["id"] in self._rows]:
            children.extend(self._rows[cid].widgets())
        self.grid.children = children

    def _show_error(self, message: str | None) -> None:
        self.last_error = message
        self.error.value = (
            "" if message is None else f"<span style='color:{_BAD}'>⚠ {html.escape(message)}</span>"
        )

    # -- actions ---------------------------------------------------------------------------
    # deprecated names (one release): the rule is an ``a`` prefix
    refresh_async = renamed_method("refresh_async", "arefresh")
    act_async = renamed_method("act_async", "aact")

    def _act(self, action: str, compute_id: str) -> None:
        get_runtime().spawn(self.aact(action, compute_id))

    async def aact(self, action: str, compute_id: str) -> None:
        """Run a row action through the tracker (with the compute's own provider)."""
        from ..orchestrator.api import _running, authorize

        try:
            if action in ("stop", "terminate") and not self.allow_destructive:
                raise PermissionError(
                    f"{action} is disabled; open the dashboard with allow_destructive=True"
                )
            sup = await _running()
            rec = sup.records.get(compute_id)
            if rec is None:
                raise LookupError(f"{compute_id} is no longer tracked")
            if action in ("stop", "terminate"):  # the dashboard was opened allowing it
                authorize(sup, rec, action, allow_destructive=True)()
            if action == "touch":
                sup.touch(compute_id)
            elif action == "stop":
                await sup.provider_for(rec).stop(compute_id)
            elif action == "terminate":
                await sup.provider_for(rec).terminate(compute_id)
                sup.forget(compute_id, reason="terminated from the dashboard")
            self._show_error(None)
        except Exception as exc:
            self._show_error(f"{action} {compute_id} failed: {exc}")
        await self.arefresh()

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        cancel_task(self._task)  # never starts a runtime (after shutdown, at exit)
        if self._unsubscribe is not None:
            self._unsubscribe()
        for row in self._rows.values():
            row.close()
        super().close()

    def text_repr(self) -> str:
        """The first line, then a plain table of the rows (what a terminal shows)."""
        head = (
            f"ComputeDashboard(refresh={self.refresh_s:g}s, "
            f"allow_destructive={self.allow_destructive}, rows={len(self.rows_data)})"
        )
        if not self.rows_data:
            return head
        table = [list(HEADERS[:-1])] + [format_row(r) for r in self.rows_data]
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in table
        ]
        return "\n".join([head, *lines])

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            return {**bundle, "text/plain": self.text_repr()}
        return bundle
