"""`session-bridge` and `python -m bridge`: the CLI's entry point.

A hook, a reference script (`compat`) and the MCP server run once per prompt, per script call, per agent start:
they load only their own front-end, not the whole CLI with every host module; a hook and a script are called
directly, without click. Any other command, and `--help` or `--version` at the top, loads the full CLI
(bridge/cli.py).
"""

from __future__ import annotations

import importlib
import sys

# A first argument -> the front-end module whose `commands` hold it.
ONE_SHOT = {"hook": "bridge.hooks", "cursor-hook": "bridge.hooks", "background": "bridge.hooks",
            "compat": "bridge.compat", "mcp": "bridge.mcp"}


def main() -> None:
    """Run `session-bridge` with sys.argv."""
    args = sys.argv[1:]
    name = args[0] if args else ""
    if name == "hook" and len(args) == 2:
        from bridge import hooks  # no click: a hook runs on every prompt

        if args[1] in hooks.EVENTS:
            return hooks.EVENTS[args[1]]()
    elif name == "cursor-hook" and len(args) == 1:
        from bridge import hooks

        return hooks.cursor_hook()
    elif name == "compat" and len(args) >= 2 and "--help" not in args:
        from bridge import compat  # no click: a script runs once per message

        if args[1] in compat.SCRIPTS:
            return compat.run(args[1], args[2:])
    if name in ONE_SHOT:
        module = importlib.import_module(ONE_SHOT[name])
        command = next(c for c in module.commands if c.name == name)
        command(args[1:], prog_name=f"session-bridge {name}")
    else:
        from bridge.cli import main as cli

        cli()


if __name__ == "__main__":
    main()
