"""`session-bridge` and `python -m bridge`: the CLI's entry point.

A hook, a reference script (`compat`) and the MCP server run once per prompt, per script call, per agent start:
they load only their own front-end (click and that module), not the whole CLI with every host module. Any other
command, and `--help` or `--version` at the top, loads the full CLI (bridge/cli.py).
"""

from __future__ import annotations

import importlib
import sys

# A first argument -> the front-end module whose `commands` hold it.
ONE_SHOT = {"hook": "bridge.hooks", "cursor-hook": "bridge.hooks", "background": "bridge.hooks",
            "compat": "bridge.compat", "mcp": "bridge.mcp"}


def main() -> None:
    """Run `session-bridge` with sys.argv."""
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    if name in ONE_SHOT:
        module = importlib.import_module(ONE_SHOT[name])
        command = next(c for c in module.commands if c.name == name)
        command(sys.argv[2:], prog_name=f"session-bridge {name}")
    else:
        from bridge.cli import main as cli

        cli()


if __name__ == "__main__":
    main()
