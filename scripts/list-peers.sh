#!/bin/sh
# list-peers.sh table of sessions with active/stale status (reference contract, see DESIGN.md)
exec "$(dirname "$0")/session-bridge" compat list-peers "$@"
