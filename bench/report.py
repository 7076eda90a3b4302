"""Printing benchmark results: the markdown tables every bench module prints."""

from __future__ import annotations

import sys


def table(title: str, header: list[str], rows: list[list[object]]) -> None:
    """Print one markdown table under a heading, flushed (a long run shows each table as it finishes)."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    sys.stdout.flush()
