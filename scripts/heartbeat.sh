#!/bin/sh
# heartbeat.sh refresh this session's heartbeat (reference contract, see DESIGN.md)
exec "$(dirname "$0")/session-bridge" compat heartbeat "$@"
