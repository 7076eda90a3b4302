"""Errors the front-ends turn into one-line messages and stable exit codes.

A core error says what went wrong; its `next` says what to do about it as an action and its arguments. The core
never names a command: each front-end words the action in its own terms (a CLI command, an MCP tool, a slash
command) with `worded()`, so renaming a command cannot silently break another front-end's wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

# Exit codes (documented in the README and in `session-bridge --help`); 2 is click's usage error.
ERROR = 1  # bad input, unusable bridge dir, anything else
TIMEOUT = 3  # nothing arrived within --timeout
NO_SESSION = 4  # the caller has no bridge session yet
NO_PEER = 5  # the named peer does not exist, is ambiguous, or has ended

# The actions a core error may point at; every front-end words each of them (a test checks).
ACTIONS = ("start", "peers", "status", "inbox", "outbox", "listen", "receive", "gc")


@dataclass(frozen=True)
class Next:
    """The next step that fixes an error: `action` (one of ACTIONS) with its arguments, and the phrase that
    introduces it ("start one with")."""

    action: str
    hint: str
    args: tuple[str, ...] = ()


class BridgeError(Exception):
    """A failure the user can fix: str() is one line saying what went wrong; `next` is the step that fixes it."""

    exit_code = ERROR

    def __init__(self, text: str, next: Next | None = None) -> None:
        super().__init__(text)
        self.next = next

    def worded(self, words: Mapping[str, str]) -> str:
        """The message with its next step in a front-end's words: `words` maps each action to a command template
        whose `{}` placeholders take the action's arguments."""
        if self.next is None or self.next.action not in words:
            return str(self)
        return f"{self}; {self.next.hint}: {words[self.next.action].format(*self.next.args)}"


class NoSession(BridgeError):
    """The caller has no bridge session (or it was stopped)."""

    exit_code = NO_SESSION


class PeerNotFound(BridgeError):
    """No session, or more than one, answers to the name given."""

    exit_code = NO_PEER


class PeerGone(BridgeError):
    """The peer's session ended (before the message was delivered or answered)."""

    exit_code = NO_PEER


class Timeout(BridgeError):
    """Nothing arrived within the time allowed."""

    exit_code = TIMEOUT
