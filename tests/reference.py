"""A session of the reference bash plugin, played from its file formats (tests/fixtures/reference), not its code:
it registers by writing a manifest, sends by mktemp + mv into the peer's inbox, and reads the way its scripts do
(glob inbox/*.json, keep "status": "pending", mark read by rewriting the file in place)."""

from __future__ import annotations

import json
import os
import secrets
import string
import tempfile
import time
from pathlib import Path

FIXTURES = Path(__file__).with_name("fixtures") / "reference"


def _fill(template: str, **values: str) -> str:
    text = (FIXTURES / template).read_text()
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def _rand(n: int) -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(n))


class ReferenceSession:
    def __init__(self, root: Path, project: Path, heartbeat_age_s: float = 0) -> None:
        self.root = root
        self.id = _rand(6)
        self.project = project
        self.dir = root / "sessions" / self.id
        (self.dir / "inbox").mkdir(parents=True)
        (self.dir / "outbox").mkdir()
        hb = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - heartbeat_age_s))
        (self.dir / "manifest.json").write_text(_fill(
            "manifest.json", SESSION_ID=self.id, PROJECT_NAME=project.name, PROJECT_PATH=str(project), HEARTBEAT=hb))
        (project / ".claude").mkdir(parents=True, exist_ok=True)
        (project / ".claude" / "bridge-session").write_text(self.id)

    def send(self, to: str, type: str, content: str, in_reply_to: str | None = None) -> str:
        msg_id = "msg-" + _rand(12)
        body = _fill("message.json", MSG_ID=msg_id, FROM_ID=self.id, TO_ID=to, TYPE=type,
                     FROM_PROJECT=self.project.name, IN_REPLY_TO=json.dumps(in_reply_to))
        body = body.replace('"CONTENT"', json.dumps(content))
        inbox = self.root / "sessions" / to / "inbox"
        fd, tmp = tempfile.mkstemp(prefix=f"{msg_id}.", dir=inbox)  # mktemp "$INBOX/$MSG_ID.XXXXXX"
        with os.fdopen(fd, "w") as f:
            f.write(body)
        os.rename(tmp, inbox / f"{msg_id}.json")
        return msg_id

    def pending(self) -> list[dict]:
        """What the reference's listen would see: every inbox/*.json whose status is pending."""
        out = []
        for path in sorted((self.dir / "inbox").glob("*.json")):
            msg = json.loads(path.read_text())
            if msg["status"] == "pending":
                out.append(msg)
        return out

    def mark_read(self, msg_id: str) -> None:
        path = self.dir / "inbox" / f"{msg_id}.json"
        msg = json.loads(path.read_text())
        msg["status"] = "read"
        path.write_text(json.dumps(msg, indent=2))

    def status_of(self, owner_inbox: Path, msg_id: str) -> str:
        return json.loads((owner_inbox / f"{msg_id}.json").read_text())["status"]
