"""Role briefings come back by themselves: the SessionStart hook hands the session that holds a role its briefing
on every kind of start Claude Code reports (startup, resume, clear, compact), and only to that role."""

from __future__ import annotations

import pytest

from support import payload
from test_hooks import ctx, hook


@pytest.mark.parametrize("source", ["startup", "resume", "clear", "compact"])
def test_the_role_briefing_is_re_injected_on_every_session_start(bridge, hosts, source):
    claude = hosts()
    bridge.cli("web", "start", "--json", check=True, BRIDGE_HOST_PID=claude.pid, BRIDGE_ROOM="shop",
               BRIDGE_ROLE="web")
    _brief(bridge, "shop", "web", "You own the storefront.")
    _brief(bridge, "shop", "infra", "You run the deploys.")
    data = payload("SessionStart", bridge.project("web"), session_id="claude-web", source=source)
    code, out, _ = hook(bridge, "web", "session-start", "SessionStart", claude, stdin=data,
                        CLAUDE_CODE_SESSION_ID="claude-web")
    text = ctx(out, "SessionStart")
    assert code == 0 and "You own the storefront." in text and "web@shop" in text
    assert "You run the deploys." not in text  # another role's briefing stays with that role


def test_a_session_launched_with_room_and_role_joins_at_start(bridge, hosts):
    claude = hosts()
    _brief(bridge, "shop", "qa", "Test the checkout.")
    code, out, _ = hook(bridge, "qa", "session-start", "SessionStart", claude, BRIDGE_ROOM="shop", BRIDGE_ROLE="qa")
    assert "Test the checkout." in ctx(out, "SessionStart")
    from bridge import layout, sessions

    held = sessions.role_session(layout.bridge_dir(), "shop", "qa")
    assert held is not None and held.manifest["pid"] == int(claude.pid)


def _brief(bridge, room: str, role: str, text: str) -> None:
    from bridge import layout, rooms

    rooms.set_briefing(layout.bridge_dir(), room, role, text)
