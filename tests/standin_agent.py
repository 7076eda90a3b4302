"""A stand-in for an agent CLI that auto-mode spawns (`auto set ... --command standin-agent`): it acts on its prompt
through the real `session-bridge` CLI, as a model following the prompt would, and records what it saw.

Its plan is standin.json in its working directory (the role's --cwd):
    {"query": [["send", "infra", "query", "deploy {id}"], ["reply", "{id}", "done"]],   commands per message type
     "response": [], "gate": "/path/file", "exit": 0}
It appends {"event": "start"|"end", "role", "msg", "hops", "auto", "admin", "argv", "at", "results"} to runs.jsonl.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path


def record(**fields) -> None:
    with open("runs.jsonl", "a") as f:
        f.write(json.dumps({"role": os.environ.get("BRIDGE_ROLE"), "at": time.time(), **fields}) + "\n")


prompt = sys.argv[-1]
found = re.search(r"A ([a-z-]+) from .* \(message (msg-[A-Za-z0-9_-]+)\)", prompt)
kind, msg_id = found.groups() if found else ("?", "?")
plan = json.loads(Path("standin.json").read_text()) if Path("standin.json").exists() else {}
record(event="start", msg=msg_id, type=kind, hops=os.environ.get("BRIDGE_HOPS"), auto=os.environ.get("BRIDGE_AUTO"),
       admin=os.environ.get("BRIDGE_ADMIN"), session=os.environ.get("BRIDGE_SESSION_ID"), argv=sys.argv[1:-1])
if plan.get("gate"):
    while not Path(plan["gate"]).exists():  # held open until the test lets it finish (single flight)
        time.sleep(0.05)
results = []
for cmd in plan.get(kind, []):
    r = subprocess.run(["session-bridge", *[c.replace("{id}", msg_id) for c in cmd]], capture_output=True, text=True)
    results.append({"cmd": cmd, "rc": r.returncode, "out": r.stdout.strip(), "err": r.stderr.strip()})
record(event="end", msg=msg_id, results=results)
sys.exit(plan.get("exit", 0))
