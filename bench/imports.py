"""``patron orders import`` throughput, measured by bench/import_orders.py when it is there.

That module is its own benchmark; this one only calls it on the filled databases (the first of
``measure``, ``run`` or ``main`` it defines, with whichever of database_url, database and quick
it takes) and puts its answer in the results."""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable
from typing import Any

from bench.databases import Target

ENTRY_POINTS = ("measure", "run", "main")


def measure(targets: list[Target], *, quick: bool, notes: list[str], log: Callable[[str], None]) -> dict[str, Any]:
    try:
        module = importlib.import_module("bench.import_orders")
    except ModuleNotFoundError:
        notes.append("Order import: skipped, bench/import_orders.py is not there.")
        return {"skipped": True, "text": "Skipped: bench/import_orders.py is not there."}
    entry = next((getattr(module, name) for name in ENTRY_POINTS if callable(getattr(module, name, None))), None)
    if entry is None:
        notes.append("Order import: skipped, bench/import_orders.py defines none of measure, run or main.")
        return {"skipped": True, "text": "Skipped: bench/import_orders.py has no entry point to call."}
    accepted = inspect.signature(entry).parameters
    results: dict[str, Any] = {}
    for target in targets if {"database_url", "database"} & set(accepted) else targets[:1]:
        offered = {"database_url": target.url, "database": target.name, "quick": quick}
        try:
            answer = entry(**{k: v for k, v in offered.items() if k in accepted})
        except Exception as exc:  # its failure must not lose the rest of the results
            notes.append(f"Order import on {target.name} failed: {exc!r}")
            answer = {"error": repr(exc)}
        log(f"  import on {target.name}: {answer}")
        results[target.name] = answer
    text = "\n\n".join(
        answer["text"] if isinstance(answer, dict) and "text" in answer else f"{name}: `{json.dumps(answer)}`"
        for name, answer in results.items()
    )
    return {"skipped": False, "results": results, "text": text}
