"""The bridge's MCP server, and `session-bridge mcp`, the command that runs it over stdio.

    tools.py     the server: one typed tool per core call, nothing else
    prompts.py   the MCP prompts for an admin session (auto-mode's settings): which tool to call with what
    models.py    the tools' results: the shared JSON shape (bridge.views) as pydantic models with descriptions
    waits.py     blocking core calls in worker threads, put back when a call is cancelled
    channel.py   (opt-in) telling Claude Code that a message waits: a pointer per message, as a channel event
    sdk.py       the one module that touches the SDK's internals: handshakes, the channel capability, stdio

This module is imported on every CLI call, so it stays light: the `mcp` package is imported only when the command runs.
"""

from __future__ import annotations

import math

import click


@click.command("mcp")
@click.option("--wait", "wait_s", type=float, envvar="BRIDGE_MCP_WAIT", default=40.0, show_default=True,
              help="Longest a waiting tool blocks before it returns 'still waiting' (env BRIDGE_MCP_WAIT); "
                   "keep it under the agent's tool-call time-out.")
@click.option("--channels/--no-channels", envvar="BRIDGE_CHANNELS", default=False, show_default=True,
              help="Tell the agent about each message for this session with a pointer (notifications/claude/"
                   "channel: sender, subject, the tool that reads it; it stays unread until taken). Refuses "
                   "server/discover so Claude Code uses initialize, where channels work (env BRIDGE_CHANNELS=1; "
                   "Claude Code started with --channels).")
def mcp(wait_s: float, channels: bool) -> None:
    """Serve the bridge tools over MCP (stdio) for the agent that runs this command.

    The server acts for the agent session above it (CLAUDE_CODE_SESSION_ID / the agent's process, and the project
    directory), so its tools, the CLI and the hooks of one agent are one bridge session.

    \b
    Example (in an agent's MCP config):
        {"command": "/path/to/session-bridge", "args": ["mcp"]}
    """
    if not math.isfinite(wait_s) or wait_s <= 0:  # nan passes `<= 0` and would make every wait endless
        raise click.BadParameter(f"must be a finite number of seconds > 0, e.g. 40, not {wait_s!r}",
                                 param_hint="--wait")
    from bridge.mcp import tools  # the SDK: imported only when the server runs

    tools.serve(wait_s=wait_s, channels=channels)


commands = [mcp]
