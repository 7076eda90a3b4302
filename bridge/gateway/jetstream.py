"""What the gateway uses on the NATS server: subjects, the stream, the buckets, per-machine permissions, a server
config for a team, and the connection (credentials, TLS).

    bridge.<to>.msg.<from>     a message for a session on machine <to>, sent from machine <from>
    bridge.<to>.rcpt.<from>    a receipt (read, answered, ...) for a message <to> sent, from the machine it went to
    stream BRIDGE              all of bridge.>, on file, work-queue retention: a message stays until <to> acks it
    consumer gw-<machine>      durable, filter bridge.<machine>.>: the only way to read a machine's messages
    KV bridge_presence         s.<machine>.<sid>: a session's presence record, expiring PRESENCE_TTL_S after the
                               last refresh; m.<machine>: the gateway itself
    object store bridge_artifacts   attachments by sha256, checked against the hash when they arrive

The <from> token is what makes a machine's word checkable: machine M may publish only bridge.*.msg.M and
bridge.*.rcpt.M (the server enforces it), so a receiver knows which machine sent what, whatever the payload says.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from bridge import layout, validate
from bridge.errors import BridgeError

STREAM = "BRIDGE"
PRESENCE = "bridge_presence"
ARTIFACTS = "bridge_artifacts"
PRESENCE_TTL_S = 60.0
DEFAULT_LISTEN = "127.0.0.1:4222"
SETUP_FILE = "setup.json"  # what `remote setup` was last given in a folder, so a rerun keeps it
DUPLICATE_WINDOW_S = 20 * 60  # the server drops a re-publish of a message id within this window
MAX_AGE_S = 14 * 24 * 3600  # a message waits this long for a machine that is off
QUEUE_CAP = 10_000  # messages (or receipts) one machine may have waiting on the server for another; more wait at home


def msg_subject(to: str, sender: str) -> str:
    """The subject a message for machine `to` is published on by machine `sender`."""
    return f"bridge.{to}.msg.{sender}"


def receipt_subject(to: str, sender: str) -> str:
    """The subject a receipt for machine `to` is published on by machine `sender`."""
    return f"bridge.{to}.rcpt.{sender}"


def consumer(machine: str) -> str:
    """The durable consumer that reads machine's subjects."""
    return f"gw-{machine}"


def inbox_prefix(machine: str) -> str:
    """Reply subjects of machine's connection; only it may subscribe there, so no peer reads its replies."""
    return f"_INBOX_{machine}"


def stream_config(cap: int):
    """The BRIDGE stream as a gateway makes it: on file, work queue (a message goes once its machine acks it),
    de-duplicated by message id, at most `cap` waiting per pair of machines (more are refused, not dropped)."""
    from nats.js import api

    return api.StreamConfig(name=STREAM, subjects=["bridge.>"], storage=api.StorageType.FILE,
                            retention=api.RetentionPolicy.WORK_QUEUE, duplicate_window=DUPLICATE_WINDOW_S,
                            max_age=MAX_AGE_S, max_msgs_per_subject=cap, discard=api.DiscardPolicy.NEW,
                            discard_new_per_subject=True)


def stream_differences(found, cap: int) -> list[str]:
    """What in an existing BRIDGE stream's config breaks a guarantee, worded for the log ([] when nothing)."""
    want = stream_config(cap)
    out = []
    for key in ("subjects", "retention", "storage", "discard", "discard_new_per_subject"):
        have, need = (getattr(getattr(c, key), "value", getattr(c, key)) for c in (found, want))  # enums as text
        if have != need:
            out.append(f"{key} is {have!r}, not {need!r}")
    if not found.duplicate_window or found.duplicate_window < DUPLICATE_WINDOW_S:
        out.append(f"duplicate_window is {found.duplicate_window!r} s, less than {DUPLICATE_WINDOW_S} s")
    if not found.max_msgs_per_subject or found.max_msgs_per_subject < 1:
        out.append("no per-pair cap (max_msgs_per_subject): one machine can fill the server")
    return out


def queue_cap() -> int:
    """Per pair of machines, how many messages the server holds before the sender's gateway keeps the rest (set when
    a gateway creates the stream: BRIDGE_GATEWAY_QUEUE_CAP, default QUEUE_CAP), so one machine's flood fills its own
    disk and not the team's server."""
    raw = os.environ.get("BRIDGE_GATEWAY_QUEUE_CAP")
    if not raw:
        return QUEUE_CAP
    if not raw.isdigit() or int(raw) < 1:
        raise BridgeError(f"BRIDGE_GATEWAY_QUEUE_CAP must be a whole number of messages >= 1, not {raw!r}")
    return int(raw)


def permissions(machine: str) -> dict:
    """What machine's user may do: publish into every machine's inbox subjects as itself, announce its own
    sessions, read presence and artifacts, and read only its own subjects (its consumer, its reply inbox)."""
    api = "$JS.API"
    return {
        "publish": {"allow": [
            f"bridge.*.msg.{machine}", f"bridge.*.rcpt.{machine}",
            f"$KV.{PRESENCE}.s.{machine}.>", f"$KV.{PRESENCE}.m.{machine}",
            f"$O.{ARTIFACTS}.>",
            f"{api}.INFO", f"{api}.STREAM.NAMES",
            f"{api}.STREAM.INFO.*", f"{api}.STREAM.CREATE.{STREAM}",
            f"{api}.STREAM.CREATE.KV_{PRESENCE}", f"{api}.STREAM.CREATE.OBJ_{ARTIFACTS}",
            f"{api}.CONSUMER.CREATE.{STREAM}.{consumer(machine)}.bridge.{machine}.>",
            f"{api}.CONSUMER.INFO.{STREAM}.{consumer(machine)}",
            f"{api}.CONSUMER.MSG.NEXT.{STREAM}.{consumer(machine)}",
            f"$JS.ACK.{STREAM}.{consumer(machine)}.>",
            # presence and artifacts are the team's: ordered consumers and lookups on those two streams
            f"{api}.CONSUMER.CREATE.KV_{PRESENCE}", f"{api}.CONSUMER.CREATE.KV_{PRESENCE}.>",
            f"{api}.CONSUMER.CREATE.OBJ_{ARTIFACTS}", f"{api}.CONSUMER.CREATE.OBJ_{ARTIFACTS}.>",
            f"{api}.CONSUMER.DELETE.KV_{PRESENCE}.*", f"{api}.CONSUMER.DELETE.OBJ_{ARTIFACTS}.*",
            f"{api}.CONSUMER.INFO.KV_{PRESENCE}.*", f"{api}.CONSUMER.INFO.OBJ_{ARTIFACTS}.*",
            f"{api}.STREAM.MSG.GET.KV_{PRESENCE}", f"{api}.STREAM.MSG.GET.OBJ_{ARTIFACTS}",
            f"{api}.DIRECT.GET.KV_{PRESENCE}.>", f"{api}.DIRECT.GET.OBJ_{ARTIFACTS}.>",
            f"{api}.DIRECT.GET.KV_{PRESENCE}", f"{api}.DIRECT.GET.OBJ_{ARTIFACTS}",
            "$JS.FC.>",
        ]},
        "subscribe": {"allow": [f"{inbox_prefix(machine)}.>"]},
    }


# --- a team's server ---------------------------------------------------------------------------------------------


def new_seed() -> tuple[str, str]:
    """A new user nkey: (seed, public key). The seed is the machine's credential; the server keeps only the key."""
    import nkeys

    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    return seed.decode(), nkeys.from_seed(bytearray(seed)).public_key.decode()


def public_key(seed_file: Path) -> str:
    """The public key of a seed file."""
    import nkeys

    return nkeys.from_seed(bytearray(_read_seed(seed_file).encode())).public_key.decode()


def _read_seed(path: Path) -> str:
    try:
        text = layout.read_text(path).strip()
    except (OSError, UnicodeDecodeError) as e:
        raise BridgeError(f"cannot read credentials {path}: {getattr(e, 'strerror', e)}") from None
    if not text.startswith("SU"):
        raise BridgeError(f"{path} holds no user nkey seed (SU...); make one with: session-bridge remote setup")
    return text


def setup(folder: Path, machines: list[str], listen: str | None = None, store: str | None = None,
          tls_cert: str | None = None, tls_key: str | None = None) -> dict:
    """Write a team's nats-server config and one credentials file per machine into `folder`: folder/nats.conf
    (users by nkey, each with permissions(machine), JetStream on file) and folder/<machine>.nk (0600). A machine
    that already has a credentials file keeps it, so adding one leaves the others' as they are; so do the server's
    settings (listen, store, TLS) that this run does not give, from folder/setup.json."""
    for m in machines:
        validate.machine(m)
    if not machines:
        raise BridgeError("name at least one machine: --machine laptop --machine buildbox")
    if bool(tls_cert) != bool(tls_key):
        raise BridgeError("TLS needs both --tls-cert and --tls-key")
    saved = _saved_setup(folder)
    if not tls_cert:
        tls_cert, tls_key = saved.get("tls_cert"), saved.get("tls_key")
    listen = listen or saved.get("listen") or DEFAULT_LISTEN
    store = store or saved.get("store") or str(folder / "jetstream")
    host = listen.rpartition(":")[0] or listen
    if not tls_cert and not _loopback(host):
        raise BridgeError(f"a server listening on {listen} must use TLS: give --tls-cert and --tls-key, or listen "
                          f"on 127.0.0.1")
    layout.make_dirs(folder)
    users, made = [], []
    for m in sorted(set(machines)):
        creds = folder / f"{m}.nk"
        if not creds.exists():
            seed, _ = new_seed()
            layout.atomic_write(creds, seed.encode() + b"\n")
            made.append(m)
        users.append((m, public_key(creds)))
    for extra in sorted(p.stem for p in folder.glob("*.nk") if p.stem not in machines):
        users.append((extra, public_key(folder / f"{extra}.nk")))  # machines added by an earlier run stay
    users.sort()
    conf = folder / "nats.conf"
    layout.atomic_write(conf, server_config(users, listen, store, tls_cert, tls_key).encode())
    layout.atomic_write(folder / SETUP_FILE, layout.dumps({"listen": listen, "store": store, "tls_cert": tls_cert,
                                                           "tls_key": tls_key}))
    return {"config": str(conf), "machines": [m for m, _ in users], "new_credentials": made,
            "credentials": {m: str(folder / f"{m}.nk") for m, _ in users}, "listen": listen, "tls": bool(tls_cert)}


def _saved_setup(folder: Path) -> dict:
    """The settings of the last `remote setup` in folder ({} for the first; a damaged file is a one-line error)."""
    path = folder / SETUP_FILE
    if not path.exists():
        return _settings_of_config(folder / "nats.conf")
    try:
        saved = layout.read_json(path, 64 * 1024)
    except (OSError, ValueError) as e:
        raise BridgeError(f"{path} is not the settings `remote setup` wrote ({e}); delete it and give --listen, "
                          "--store and the TLS options again") from None
    if not isinstance(saved, dict) or not all(v is None or isinstance(v, str) for v in saved.values()):
        raise BridgeError(f"{path} is not the settings `remote setup` wrote; delete it and give --listen, --store "
                          "and the TLS options again")
    return saved


def _settings_of_config(conf: Path) -> dict:
    """The settings in a nats.conf that `remote setup` wrote before it kept setup.json ({} when there is none)."""
    import json
    import re

    try:
        text = conf.read_text()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise BridgeError(f"cannot read {conf} ({e}); give --listen, --store and the TLS options again") from None
    found = {}
    for key, pattern in (("listen", r'^listen: ("[^"\n]*")$'), ("store", r'store_dir: ("[^"\n]*")'),
                         ("tls_cert", r'cert_file: ("[^"\n]*")'), ("tls_key", r'key_file: ("[^"\n]*")')):
        m = re.search(pattern, text, re.M)
        found[key] = json.loads(m.group(1)) if m else None
    if found["listen"] is None or found["store"] is None:
        raise BridgeError(f"{conf} is not a config `remote setup` wrote, so its settings are unknown: give --listen "
                          "and --store (and --tls-cert and --tls-key if it uses TLS)")
    return found


def server_config(users: list[tuple[str, str]], listen: str, store: str, tls_cert: str | None = None,
                  tls_key: str | None = None) -> str:
    """nats-server's config text for these (machine, public key) users."""
    import json

    def perms(m: str) -> str:
        return json.dumps(permissions(m), indent=2).replace("\n", "\n      ")

    lines = [f"# session-bridge team server: {len(users)} machine(s). Made by `session-bridge remote setup`.",
             f"listen: {json.dumps(listen)}", "max_payload: 1MB",
             f"jetstream {{ store_dir: {json.dumps(store)} }}"]
    if tls_cert:
        lines.append(f"tls {{ cert_file: {json.dumps(tls_cert)}, key_file: {json.dumps(tls_key)} }}")
    lines.append("authorization {\n  users = [")
    for m, key in users:
        lines.append(f"    # machine {m}\n    {{ nkey: {json.dumps(key)}, permissions: {perms(m)} }}")
    lines.append("  ]\n}\n")
    return "\n".join(lines)


# --- connecting ----------------------------------------------------------------------------------------------------


def _loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connect_options(url: str, machine: str, creds: str | None = None, tls_ca: str | None = None) -> dict:
    """nats.connect() keyword arguments for this machine, after the checks: TLS is required for any server that is
    not on this machine (tls:// or --tls-ca), and credentials must be a user nkey seed or a NATS .creds file."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    if parts.scheme not in ("nats", "tls") or not parts.hostname:
        raise BridgeError(f"{url!r} is not a NATS server address; give nats://HOST:PORT (tls://HOST:PORT off this "
                          f"machine)")
    tls = parts.scheme == "tls" or tls_ca is not None
    if not tls and not _loopback(parts.hostname):
        raise BridgeError(f"refusing to reach {parts.hostname} without TLS: messages would cross the network in "
                          f"clear; use tls://{parts.hostname}:{parts.port or 4222} and --tls-ca FILE")
    opts: dict = {"servers": [url if "://" in url else f"nats://{url}"], "name": f"session-bridge gateway {machine}",
                  "inbox_prefix": inbox_prefix(machine), "max_reconnect_attempts": -1, "reconnect_time_wait": 0.5,
                  "connect_timeout": 5, "allow_reconnect": True}
    if tls:
        try:
            ctx = ssl.create_default_context(cafile=tls_ca)
        except (OSError, ssl.SSLError) as e:
            raise BridgeError(f"cannot use the TLS CA file {tls_ca}: {e}; give the PEM file of the server's CA") \
                from None
        opts["tls"] = ctx
        opts["tls_hostname"] = parts.hostname
    if creds:
        path = Path(creds).expanduser()
        try:
            head = layout.read_text(path, 64 * 1024)
        except (OSError, UnicodeDecodeError) as e:
            raise BridgeError(f"cannot read credentials {path}: {getattr(e, 'strerror', e)}") from None
        if "BEGIN NATS USER JWT" in head:
            opts["user_credentials"] = str(path)
        else:
            _read_seed(path)
            opts["nkeys_seed"] = str(path)
    return opts
