#!/bin/sh
# get-session-id.sh print the caller's session id, or NO_BRIDGE_SESSION on stderr (exit 1) (reference contract, see DESIGN.md)
exec "$(dirname "$0")/session-bridge" compat get-session-id "$@"
