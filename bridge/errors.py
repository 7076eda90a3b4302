"""Errors the front-ends turn into one-line messages and stable exit codes."""

# Exit codes (documented in the README and in `session-bridge --help`).
OK = 0
ERROR = 1  # bad input, unusable bridge dir, anything else
USAGE = 2  # click's own usage errors
TIMEOUT = 3  # nothing arrived within --timeout
NO_SESSION = 4  # the caller has no bridge session yet
NO_PEER = 5  # the named peer does not exist, is ambiguous, or has ended


class BridgeError(Exception):
    """A failure the user can fix; str() is one line that names the fix."""

    exit_code = ERROR


class NoSession(BridgeError):
    exit_code = NO_SESSION


class PeerNotFound(BridgeError):
    exit_code = NO_PEER


class PeerGone(BridgeError):
    exit_code = NO_PEER


class Timeout(BridgeError):
    exit_code = TIMEOUT
