"""The MCP tools for advisory file leases (bridge/leases.py): take, list and release them.

Registered on the server of bridge/mcp/tools.py when that module imports this one. Relative paths are taken from
the agent's project directory (PROJECT_DIR, CLAUDE_PROJECT_DIR, else the server's working directory). The git guard
itself is installed from a shell (`session-bridge guard install`); it honours the leases taken here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

import bridge
from bridge import identity, leases, views
from bridge.mcp import models
from bridge.mcp.models import LeaseResult, LeasesResult, ReleaseLeasesResult
from bridge.mcp.tools import me, tool

Paths = Annotated[list[str], Field(description="Files or directories, absolute or relative to the project "
                                               "directory; a directory lease covers everything under it")]


def lease_out(lease: leases.Lease, mine: str | None) -> models.Lease:
    """A lease as the tools' Lease."""
    return models.Lease(**views.lease_view(lease, mine))


@tool(read_only=False, idempotent=True)
def bridge_lease(paths: Paths,
                 exclusive: Annotated[bool, Field(description="No other session may lease these paths, and the "
                                                              "git guard refuses their commits touching them")] = False,
                 ttl: Annotated[str | None, Field(description="Let the lease expire after this long, e.g. 90s, 30m, "
                                                              "2h; default: while this session lives")] = None,
                 reason: Annotated[str | None, Field(description="Why, one line, shown to the sessions it blocks, "
                                                                 "e.g. 'refactoring auth'")] = None) -> LeaseResult:
    """Lease files or directories (advisory) so other sessions know this one is working on them.

    Shared leases coexist; an exclusive one conflicts with any other session's lease on the path (the error names
    the holder and its reason: ask it with bridge_ask, or wait). Release with bridge_release_leases when done; a
    lease also ends with its ttl or this session. Lease exclusively only what you are about to change."""
    session = me()
    taken = leases.take(session, paths, exclusive=exclusive, ttl=ttl, reason=reason, base=identity.project_dir())
    return LeaseResult(leases=[lease_out(x, session.id) for x in taken])


@tool(read_only=True, idempotent=True)
def bridge_leases() -> LeasesResult:
    """List every live file lease on this machine: path, holder (name, role@room, session), shared or exclusive,
    reason and expiry. Check it before editing files another session may be working on."""
    root = bridge.bridge_dir()
    mine = bridge.current(root)
    return LeasesResult(leases=[lease_out(x, mine.id if mine else None) for x in leases.live(root)])


@tool(read_only=False, idempotent=True)
def bridge_release_leases(paths: Annotated[list[str] | None, Field(
        description="The leased paths to give up; omit to release all of this session's leases")] = None,
) -> ReleaseLeasesResult:
    """Give up this session's file leases (all of them when `paths` is omitted). Naming a path this session holds
    no lease on is an error, and nothing is released then. (Held inbound messages are bridge_release.)"""
    return ReleaseLeasesResult(released=leases.release(me(), paths, base=identity.project_dir()))
