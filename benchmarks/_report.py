"""Shared output format of the benchmarks: readable lines, then one JSON line."""

from __future__ import annotations

import json
import operator
import re
from typing import Any

_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


def met(figures: dict[str, Any], targets: dict[str, str]) -> bool:
    """True when every target like ``"<= 100"`` holds for its figure."""
    for name, rule in targets.items():
        m = re.match(r"\s*(<=|>=|<|>)\s*([-\d.e]+)\s*$", rule)
        if not m or not _OPS[m.group(1)](float(figures[name]), float(m.group(2))):
            return False
    return True


def report(name: str, figures: dict[str, Any], targets: dict[str, str]) -> bool:
    ok = met(figures, targets)
    for key, value in figures.items():
        target = f"   (target {targets[key]})" if key in targets else ""
        shown = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}"
        print(f"  {key:<40} {shown:>14}{target}")
    print(json.dumps({"benchmark": name, "figures": figures, "targets": targets, "met": ok}))
    return ok
