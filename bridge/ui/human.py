"""The person at the browser as a peer: a bridge session labelled `human`, hosted by the ui process.

Its project directory is `$BRIDGE_DIR/human`, so every run of the dashboard resumes the same session (its inbox, its
outbox, its inbound policy). The session lives while the ui process runs; peers see it `gone` after that.
"""

from __future__ import annotations

from pathlib import Path

from bridge import layout, sessions

LABEL = "human"


def project_dir(root: Path) -> Path:
    """Where the human session's project pointer lives: $BRIDGE_DIR/human."""
    return root / LABEL


def register(root: Path) -> sessions.Session:
    """Start (or resume) the session labelled `human`, hosted by this ui process (sessions.hosted_here)."""
    layout.make_dirs(project_dir(root))
    return sessions.hosted_here(root, project_dir(root), LABEL, "ui")


def session(root: Path, sid: str) -> sessions.Session:
    """The human session as it is on disk now (its manifest may have changed: inbound policy, connections)."""
    found = sessions.load(root, sid)
    if found is None:  # stopped by someone (`gc` after a crash, a peer's cleanup): start it again
        return register(root)
    return found
