"""`session-bridge demo`: the main job, live, with no agent installed.

Two sessions in a temporary bridge dir: "library" listens and answers (a scripted responder stands in for the agent
that made the change), "app" connects and asks. Every step is a real `session-bridge` process; the transcript shows
what each side would see, with timings, and everything is removed afterwards.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

# What the library's agent "knows": it made these changes. Keyed by a word in the question.
KNOWLEDGE = {
    "changed": (
        "v2.0 renamed getUser() to fetchUser(id) and made it async. It now raises UserNotFound instead of "
        "returning None. Everything else in the client is unchanged."
    ),
    "signature": (
        "async def fetchUser(id: str, *, include_profile: bool = False) -> User:\n"
        '    """Raises UserNotFound if no user has that id."""'
    ),
    "migrate": (
        "Replace `user = client.getUser(uid)` + the None check with:\n"
        "try:\n    user = await client.fetchUser(uid)\nexcept UserNotFound:\n    ..."
    ),
}
QUESTIONS = ["What changed in v2?", "What is the new signature of fetchUser?", "How do I migrate a getUser() call?"]


def responder() -> None:
    """The library's stand-in agent: listen, answer from KNOWLEDGE, listen again. Reports each step as JSON."""
    from bridge import layout, message, protocol, sessions

    me = sessions.require_current(layout.bridge_dir())
    print(orjson.dumps({"listening": me.id}).decode(), flush=True)
    while True:
        with protocol.listen(me) as m:
            woke_ms = (time.time_ns() - (message.id_time_ns(m["id"]) or time.time_ns())) / 1e6
            if m["type"] != "query":
                continue
            answer = next((v for k, v in KNOWLEDGE.items() if k in m["content"].lower()), "I did not change that.")
            reply = protocol.reply(me, m["id"], answer)
            print(orjson.dumps({"query": m, "woke_ms": woke_ms, "reply": reply["id"]}).decode(), flush=True)


class Demo:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = dict(os.environ, BRIDGE_DIR=str(tmp / "bridge"), BRIDGE_HOST_PID=str(os.getpid()))
        self.env.pop("BRIDGE_SESSION_ID", None)
        self.env.pop("CLAUDE_ENV_FILE", None)
        for name in ("acme-lib", "acme-app"):
            (tmp / name).mkdir()

    def side_env(self, side: str) -> dict:
        return dict(self.env, PROJECT_DIR=str(self.tmp / ("acme-lib" if side == "library" else "acme-app")))

    def say(self, side: str, text: str) -> None:
        pad = f"[{side}]".ljust(10)
        for i, line in enumerate(text.rstrip("\n").splitlines() or [""]):
            print(f"{pad if i == 0 else ' ' * 10} {line}", flush=True)

    def run(self, side: str, *args: str) -> tuple[str, float]:
        self.say(side, "$ session-bridge " + " ".join(shlex.quote(a) for a in args))
        t = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "bridge", *args], env=self.side_env(side), capture_output=True,
                           text=True, timeout=60)
        elapsed = time.monotonic() - t
        if r.returncode != 0:
            raise RuntimeError(f"session-bridge {' '.join(args)} failed: {r.stderr.strip()}")
        return r.stdout, elapsed


def run(keep: bool = False) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="session-bridge-demo-"))
    demo = Demo(tmp)
    print(f"session-bridge demo: two sessions on this machine, bridge dir {tmp / 'bridge'}\n")
    listener = None
    try:
        out, _ = demo.run("library", "start", "--label", "library")
        demo.say("library", out)
        out, _ = demo.run("app", "start", "--label", "app")
        demo.say("app", out)
        out, _ = demo.run("app", "connect", "library")
        demo.say("app", out)

        demo.say("library", "$ session-bridge listen      (the agent waits here; a script answers for it)")
        listener = subprocess.Popen([sys.executable, "-m", "bridge.demo", "responder"], env=demo.side_env("library"),
                                    stdout=subprocess.PIPE, text=True)
        orjson.loads(listener.stdout.readline())  # listening

        for question in QUESTIONS:
            print()
            demo.say("app", "$ session-bridge ask library " + shlex.quote(question))
            t = time.monotonic()
            asker = subprocess.Popen([sys.executable, "-m", "bridge", "ask", "library", question, "--json"],
                                     env=demo.side_env("app"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
            event = orjson.loads(listener.stdout.readline())
            demo.say("library", f"<- query from app: {event['query']['content']}   "
                                f"(woke {event['woke_ms']:.1f} ms after it was sent)")
            demo.say("library", f"$ session-bridge reply {event['query']['id']} -   (answer from its own context)")
            out, err = asker.communicate(timeout=60)
            if asker.returncode != 0:
                raise RuntimeError(err.strip())
            answer = orjson.loads(out)["answer"]
            demo.say("app", f"-> answer from library ({(time.monotonic() - t) * 1000:.0f} ms for the whole "
                            f"`ask` command, process start included):")
            demo.say("app", "   " + answer["content"].replace("\n", "\n   "))

        print()
        out, _ = demo.run("app", "status")
        demo.say("app", out)
        out, _ = demo.run("app", "stop")
        demo.say("app", out)
        out, _ = demo.run("library", "stop")
        demo.say("library", out)
        print("\nDone: 3 questions asked and answered through files, each delivered exactly once.")
        return 0
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"Error: demo failed: {e}", file=sys.stderr)
        return 1
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        if keep:
            print(f"(kept {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["responder"]:
        responder()
