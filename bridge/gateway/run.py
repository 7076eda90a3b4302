"""The gateway's loop: one asyncio task per direction, all over one NATS connection.

    files     on every change of sessions/, a proxy's inbox or receipts, or a local manifest (inotify, never a
              poll): announce local sessions, publish each proxy's pending messages (and their attachments) and
              each receipt left for a remote sender, dropping the local copy only after the server's ack
    presence  watch the presence bucket: mirror remote sessions as proxies, remove the ones their machine ends
    inbound   pull this machine's subjects from its durable consumer: deliver each message into its local inbox
              (or apply each receipt), and ack only after that write

Each step is safe to repeat, and every crash point sits between a write and its acknowledgement: the server's
de-duplication (Nats-Msg-Id is the message id) and the idempotent local write (remote.deliver) turn the repeat after
a crash into nothing. The server being away is only a wait: files stay where they are until it acks.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import threading
import time
from pathlib import Path

import orjson

from bridge import artifacts, layout, message, remote, sessions, validate
from bridge.errors import BridgeError
from bridge.gateway import jetstream as names
from bridge.watch import watching

REFRESH_S = names.PRESENCE_TTL_S / 4  # presence is refreshed this often, well within its TTL
RETRY_S = (0.2, 0.5, 1, 2, 5)  # waits between attempts while the server is away
FETCH_BATCH = 64
PUBLISH_TIMEOUT_S = 5
QUEUE_FULL = 10077  # JetStream's error code for "maximum messages per subject exceeded" (discard new per subject)


def _queue_full(e: Exception) -> bool:
    """True for the server's refusal of a publish because the pair's queue holds QUEUE_CAP already (and not for
    another limit, such as a full disk, which needs its own words)."""
    return getattr(e, "err_code", None) == QUEUE_FULL and "per subject" in str(getattr(e, "description", ""))


def why(e: BaseException) -> str:
    """An exception as one line for the log (nats-py's often have no text)."""
    return str(e) or type(e).__name__


class Gateway:
    """One machine's gateway (see the module's docstring)."""

    def __init__(self, root: Path, machine: str, options: dict) -> None:
        self.root = root
        self.machine = validate.machine(machine)
        self.options = options
        self.server = options["servers"][0]
        self.nc = None
        self.js = None
        self.stopping = False
        self.bell = threading.Event()  # set by the inotify watches (any thread)
        self.wake: asyncio.Event | None = None  # the loop's side of the bell
        self.stopped: asyncio.Event | None = None
        self.announced: dict[str, tuple[bytes, float]] = {}  # sid -> (record, when) last put in the bucket
        self.machine_at = 0.0  # when the gateway's own record was last put
        self.counts = {k: 0 for k in ("forwarded", "delivered", "duplicate", "held", "undeliverable", "bounced",
                                      "bad", "receipts_sent", "receipts_applied", "receipts_refused", "artifacts_sent",
                                      "artifacts_received", "artifacts_refused", "errors")}
        self.connected = False
        self.last_error: str | None = None
        self._status_at = 0.0
        self.queue_cap = names.queue_cap()  # the stream's own, once known (the gateway that created it chose)
        self.full_errors: set[str] = set()  # the errors that say a peer's queue is full (over once it drains)

    # --- running ---------------------------------------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGINT/SIGTERM; one gateway per bridge dir. Returns the exit code."""
        lock = remote.gateway_lock(self.root)
        try:
            lock.acquire()
        except TimeoutError:
            raise BridgeError(f"a gateway already runs for {self.root}; one per machine is enough (see: remote "
                              f"status)") from None
        try:
            return asyncio.run(self._main())
        finally:
            lock.release()

    async def _main(self) -> int:
        loop = asyncio.get_running_loop()
        self.wake, self.stopped = asyncio.Event(), asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)
        threading.Thread(target=self._relay_bell, args=(loop,), name="gateway-bell", daemon=True).start()
        remote.log_event(self.root, "started", machine=self.machine, server=self.server)
        self._status(force=True)
        if not await self._connect():
            return 0
        tasks = [asyncio.create_task(t) for t in (self._files(), self._presence(), self._inbound())]
        await self.stopped.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self.nc.close()  # not drain(): every message is acked explicitly, the rest comes again
        except Exception:  # closing anyway
            pass
        self.connected = False
        remote.log_event(self.root, "stopped", machine=self.machine)
        self._status(force=True)
        return 0

    def stop(self) -> None:
        """End the gateway (a signal handler): what is not acked yet stays where it is for the next run."""
        self.stopping = True
        if self.stopped is not None:
            self.stopped.set()

    def _relay_bell(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            self.bell.wait()
            self.bell.clear()
            loop.call_soon_threadsafe(self.wake.set)

    async def _connect(self) -> bool:
        """Connect (waiting for the server as long as it takes), then make sure the stream, buckets and this
        machine's consumer exist. False if stopped first."""
        import nats

        async def on_error(e: Exception) -> None:
            self._error(f"server: {why(e)}")

        async def on_disconnect() -> None:
            self.connected = False
            remote.log_event(self.root, "disconnected", server=self.server)
            self._status(force=True)

        async def on_reconnect() -> None:
            self.connected = True
            self.last_error = None
            remote.log_event(self.root, "reconnected", server=self.server)
            self._status(force=True)
            self.wake.set()  # what piled up while away goes now

        async def connect() -> None:
            self.nc = await nats.connect(**self.options, error_cb=on_error, disconnected_cb=on_disconnect,
                                         reconnected_cb=on_reconnect)
            self.js = self.nc.jetstream()
            await self._ensure()

        attempt = 0
        while not self.stopping:
            try:
                await self._unless_stopped(connect())
                break
            except asyncio.CancelledError:
                return False  # stopped while nats-py was still trying to reach the server
            except Exception as e:  # no server yet, refused credentials, ...: say so and try again
                self._error(f"cannot use {self.server}: {why(e)}")
                if self.nc is not None and self.nc.is_connected:
                    await self.nc.close()
                await self._pause(attempt)
                attempt += 1
        else:
            return False
        self.connected = True
        self.last_error = None
        remote.log_event(self.root, "connected", server=self.server)
        self._status(force=True)
        return True

    async def _unless_stopped(self, coro) -> None:
        """Run coro, cancelled when the gateway is stopped first (a signal must end a gateway that never connected)."""
        work, stop = asyncio.ensure_future(coro), asyncio.ensure_future(self.stopped.wait())
        await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not work.done():
            work.cancel()
            raise asyncio.CancelledError
        work.result()

    async def _ensure(self) -> None:
        from nats.js import api
        from nats.js.errors import BucketNotFoundError, NotFoundError

        try:
            config = (await self.js.stream_info(names.STREAM)).config
            if config.max_msgs_per_subject and config.max_msgs_per_subject > 0:
                self.queue_cap = config.max_msgs_per_subject
            wrong = names.stream_differences(config, self.queue_cap)
            if wrong:  # made by hand, by an older gateway, or by a hostile machine first: the guarantees need these
                remote.log_event(self.root, "stream-settings", why=f"stream {names.STREAM} differs from what "
                                 f"gateways make: {'; '.join(wrong)}; see docs/remote.md (troubleshooting)")
        except NotFoundError:
            await self.js.add_stream(names.stream_config(self.queue_cap))
        try:
            self.kv = await self.js.key_value(names.PRESENCE)
        except BucketNotFoundError:
            self.kv = await self.js.create_key_value(bucket=names.PRESENCE, ttl=names.PRESENCE_TTL_S, history=1,
                                                     storage=api.StorageType.FILE)
        try:
            self.objects = await self.js.object_store(names.ARTIFACTS)
        except BucketNotFoundError:
            self.objects = await self.js.create_object_store(bucket=names.ARTIFACTS, storage=api.StorageType.FILE)
        durable = names.consumer(self.machine)
        await self.js.add_consumer(names.STREAM, api.ConsumerConfig(
            name=durable, durable_name=durable, filter_subject=f"bridge.{self.machine}.>",
            ack_policy=api.AckPolicy.EXPLICIT, ack_wait=30, max_ack_pending=1000,
            deliver_policy=api.DeliverPolicy.ALL))
        self.pull = await self.js.pull_subscribe_bind(durable, names.STREAM)

    async def _failed(self, what: str, e: Exception, attempt: int) -> int:
        """Log a failed step, wait before the next attempt; returns the attempt count to use next."""
        self._error(f"{what}: {why(e)}")
        await self._pause(attempt)
        return attempt + 1

    async def _pause(self, attempt: int) -> None:
        """Wait before trying the server again (or until stopped)."""
        try:
            await asyncio.wait_for(self.stopped.wait(), RETRY_S[min(attempt, len(RETRY_S) - 1)])
        except asyncio.TimeoutError:
            pass

    # --- files -> server -------------------------------------------------------------------------------------------

    async def _files(self) -> None:
        attempt = 0
        while not self.stopping:
            self.wake.clear()
            try:
                self._watch()
                await self._announce()
                blocked = await self._send_all()
                attempt = 0
                timeout = RETRY_S[-1] if blocked else REFRESH_S  # a peer's queue is full: look again soon
            except Exception as e:  # the server went away mid-pass: nothing was dropped before its ack
                self._error(f"sending: {why(e)}")
                timeout = RETRY_S[min(attempt, len(RETRY_S) - 1)]
                attempt += 1
            self._status()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    def _watch(self) -> None:
        """Ring the bell on new sessions, on arrivals in each proxy's inbox and receipts, and on local manifest
        changes (a label, a summary: presence)."""
        watching(layout.sessions_dir(self.root), creates=True).ring(self.bell)
        for s in sessions.all_sessions(self.root):
            paths = [s.mailbox.inbox, s.dir / layout.RECEIPTS] if s.machine else [s.dir]
            for path in paths:
                try:
                    watching(path).ring(self.bell)
                except OSError:
                    continue  # removed meanwhile

    async def _announce(self) -> None:
        """Put each local session's presence record in the bucket when it changed or is due for a refresh; delete
        the records of sessions that ended."""
        now = time.monotonic()
        live = {s.id: s for s in remote.local_sessions(self.root)}
        for sid, s in live.items():
            rec = remote.record(s)
            body = orjson.dumps({k: v for k, v in rec.items() if k != "lastHeartbeat"}, option=orjson.OPT_SORT_KEYS)
            last = self.announced.get(sid)
            if last is None or last[0] != body or now - last[1] >= REFRESH_S:
                await self.kv.put(f"s.{self.machine}.{sid}", orjson.dumps(rec))
                self.announced[sid] = (body, now)
        for sid in [sid for sid in self.announced if sid not in live]:
            await self.kv.delete(f"s.{self.machine}.{sid}")
            del self.announced[sid]
        if not self.machine_at or now - self.machine_at >= REFRESH_S:
            await self.kv.put(f"m.{self.machine}", orjson.dumps({"machine": self.machine, "sessions": len(live),
                                                                 "at": message.now_iso()}))
            self.machine_at = now

    async def _send_all(self) -> bool:
        """Send what every proxy holds; True when some of it must wait for a peer to take what it was sent."""
        from nats.js.errors import APIError

        blocked = False
        for proxy in remote.proxies(self.root):
            for step in (self._send_messages, self._send_receipts):
                try:
                    await step(proxy)
                except APIError as e:
                    if not _queue_full(e):
                        raise
                    # the peer's machine is off or behind: what is left waits here, and other machines go on
                    text = (f"machine {proxy.machine} has not taken what this one sent it (the server holds "
                            f"{self.queue_cap} per pair): the rest waits here until its gateway takes some")
                    self._error(text)
                    self.full_errors.add(text)
                    blocked = True
        if not blocked and self.last_error in self.full_errors:
            self.last_error = None  # it took them: the error is over
        return blocked

    async def _send_messages(self, proxy: sessions.Session) -> None:
        """Publish the proxy's pending messages, dropping each local copy after the server's ack."""
        from nats.errors import MaxPayloadError

        while batch := remote.outgoing(proxy):  # a drop is no inotify event: go on until the inbox is empty
            for msg in batch:
                await self._announce()  # only when due: a long backlog must not make this machine's sessions stale
                await self._send_artifacts(msg)
                try:
                    await self.js.publish(names.msg_subject(proxy.machine, self.machine), layout.dumps(msg),
                                          timeout=PUBLISH_TIMEOUT_S, headers={"Nats-Msg-Id": msg["id"]})
                except MaxPayloadError:  # it can never go: tell its sender instead of blocking the rest
                    remote.undeliverable(proxy, msg)
                    self.counts["undeliverable"] += 1
                    remote.log_event(self.root, "undeliverable", msg=msg["id"], to=proxy.id,
                                     why="over the server's max_payload; attach large data as an artifact")
                    continue
                layout.crash_point("gateway-published")
                remote.forwarded(proxy, msg["id"])
                self.counts["forwarded"] += 1
                remote.log_event(self.root, "forwarded", msg=msg["id"], to=proxy.id, machine=proxy.machine)

    async def _send_receipts(self, proxy: sessions.Session) -> None:
        """Publish the receipts local readers left for the proxy's session, dropping each after the server's ack."""
        for msg_id, state in remote.receipts_out(proxy):
            await self._publish_receipt(proxy.machine, proxy.id, msg_id, state)
            layout.crash_point("gateway-receipt-published")
            remote.receipt_forwarded(proxy, msg_id, state)
            self.counts["receipts_sent"] += 1

    async def _bounce(self, origin: str, data: bytes) -> None:
        """Tell `origin` its message was undeliverable. If its receipts queue is full (it does not take them), it is
        told nothing more: holding the message for that would let one machine stall everything this one receives."""
        from nats.js.errors import APIError

        try:
            await self._publish_receipt(origin, *remote.bounced(data), "undeliverable")
        except APIError as e:
            if not _queue_full(e):
                raise
            remote.log_event(self.root, "bounce-unsent", machine=origin, why=e.description)

    async def _publish_receipt(self, machine: str, sender: str, msg_id: str, state: str) -> None:
        """Tell `machine` what became of message msg_id its session `sender` sent (de-duplicated by id and state)."""
        body = orjson.dumps({"session": sender, "id": msg_id, "state": state})
        await self.js.publish(names.receipt_subject(machine, self.machine), body, timeout=PUBLISH_TIMEOUT_S,
                              headers={"Nats-Msg-Id": f"{msg_id}.{state}"})

    async def _send_artifacts(self, msg: dict) -> None:
        """Put the message's attachments in the object store first (once per content), so they are there when it
        arrives."""
        from nats.js.errors import ObjectNotFoundError

        for ref in msg["metadata"].get("artifacts") or []:
            try:
                await self.objects.get_info(ref["sha256"])
                continue
            except ObjectNotFoundError:
                pass
            except Exception as e:  # a deleted or damaged entry (anyone may write the store): put ours again
                if not self.nc.is_connected:
                    raise
                remote.log_event(self.root, "artifact-replaced", sha256=ref["sha256"], why=why(e))
            try:
                _, data = artifacts.get(self.root, ref["sha256"])
            except BridgeError as e:
                remote.log_event(self.root, "artifact-missing", msg=msg["id"], sha256=ref["sha256"], why=str(e))
                continue
            await self.objects.put(ref["sha256"], data)
            self.counts["artifacts_sent"] += 1

    # --- server -> proxies -----------------------------------------------------------------------------------------

    async def _presence(self) -> None:
        """Mirror what every other machine says of its sessions."""
        from nats.js.kv import KV_DEL, KV_PURGE

        attempt = 0
        while not self.stopping:
            try:
                watcher = await self.kv.watch("s.>")
                attempt = 0
                async for entry in watcher:
                    if entry is None:
                        continue  # the end of the initial values
                    _, machine, sid = (entry.key.split(".", 2) + ["", ""])[:3]
                    if machine == self.machine or not validate.is_machine(machine):
                        continue
                    if entry.operation in (KV_DEL, KV_PURGE):
                        if remote.unmirror(self.root, sid, machine):
                            remote.log_event(self.root, "peer-ended", session=sid, machine=machine)
                        continue
                    try:
                        rec = orjson.loads(entry.value)
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(rec, dict) and rec.get("sessionId") == sid:
                        if remote.mirror(self.root, machine, rec) is None:
                            remote.log_event(self.root, "peer-refused", session=sid, machine=machine,
                                             why="its id is taken here, or is not valid")
            except asyncio.CancelledError:
                raise
            except Exception as e:
                attempt = await self._failed("presence", e, attempt)

    # --- server -> local inboxes -----------------------------------------------------------------------------------

    async def _inbound(self) -> None:
        import nats.errors

        attempt = 0
        while not self.stopping:
            try:
                batch = await self.pull.fetch(FETCH_BATCH, timeout=5)
                attempt = 0
            except (nats.errors.TimeoutError, asyncio.TimeoutError):
                continue  # nothing came within the fetch's wait
            except asyncio.CancelledError:
                raise
            except Exception as e:
                attempt = await self._failed("receiving", e, attempt)
                continue
            for m in batch:
                await self._take(m)
            self._status()

    async def _take(self, m) -> None:
        """One message or receipt from the server: write it here, then ack; a write that fails is offered again."""
        parts = m.subject.split(".")
        origin = parts[3] if len(parts) == 4 and parts[1] == self.machine else None
        try:
            if origin is None or not validate.is_machine(origin):
                outcome, detail = "bad", f"unexpected subject {m.subject}"
            elif parts[2] == "msg":
                await self._fetch_artifacts(origin, m.data)
                outcome, detail = remote.deliver(self.root, origin, m.data)
                if outcome == "bounced":  # no proxy of its sender here to carry the receipt: straight back
                    await self._bounce(origin, m.data)
                layout.crash_point("gateway-delivered")
            elif parts[2] == "rcpt":
                outcome, detail = self._receipt(origin, m.data)
                layout.crash_point("gateway-receipt-applied")
            else:
                outcome, detail = "bad", f"unexpected subject {m.subject}"
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a full disk, a locked session, the server away: not acked, so offered again
            self._error(f"delivering {m.subject}: {why(e)}")
            try:
                await m.nak(delay=5)
            except Exception:  # the server is away: it offers the message again after ack_wait anyway
                pass
            return
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        if outcome != "receipts_applied":
            remote.log_event(self.root, outcome, subject=m.subject, detail=detail,
                             msg=m.headers.get("Nats-Msg-Id") if m.headers else None)
        await m.ack()

    def _receipt(self, origin: str, data: bytes) -> tuple[str, str]:
        try:
            r = orjson.loads(data)
        except orjson.JSONDecodeError:
            return "bad", "a receipt that is not JSON"
        if not isinstance(r, dict):
            return "bad", "a receipt that is not an object"
        if remote.apply_receipt(self.root, origin, r.get("session"), r.get("id"), r.get("state")):
            return "receipts_applied", f"{r.get('id')} {r.get('state')}"
        return "receipts_refused", f"{origin} may not say {r.get('state')!r} of {r.get('id')!r}"

    async def _fetch_artifacts(self, origin: str, data: bytes) -> None:
        """Bring the message's attachments from the object store into the local one, each checked against its hash
        (a tampered or missing one is left out and logged: `artifact get` then says it is not here)."""
        from nats.js.errors import ObjectNotFoundError

        try:
            refs = message.parse(data)["metadata"].get("artifacts") or []
        except message.BadMessage:
            return
        for ref in refs:
            sha = ref["sha256"]
            try:
                artifacts.info(self.root, sha)
                continue  # already here
            except BridgeError:
                pass
            try:
                got = await self.objects.get(sha)
            except Exception as e:  # missing, deleted, damaged meta, a digest mismatch: left out, never a stall
                if not isinstance(e, ObjectNotFoundError) and not self.nc.is_connected:
                    raise
                self.counts["artifacts_refused"] += 1
                remote.log_event(self.root, "artifact-missing", sha256=sha, machine=origin, why=why(e))
                continue
            if hashlib.sha256(got.data or b"").hexdigest() != sha:
                self.counts["artifacts_refused"] += 1
                remote.log_event(self.root, "artifact-refused", sha256=sha, machine=origin,
                                 why="its bytes do not hash to its name")
                continue
            artifacts.share(self.root, got.data, ref["name"])
            self.counts["artifacts_received"] += 1

    # --- saying what it does ---------------------------------------------------------------------------------------

    def _error(self, text: str) -> None:
        self.counts["errors"] += 1
        if text != self.last_error:
            remote.log_event(self.root, "error", why=text)
        self.last_error = text
        self._status(force=True)

    def _status(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._status_at < 1:
            return
        self._status_at = now
        try:
            remote.write_status(self.root, {"machine": self.machine, "server": self.server,
                                            "connected": self.connected, "last_error": self.last_error,
                                            "counts": self.counts})
        except BridgeError:
            pass  # status is a courtesy; the log has the story
