#!/bin/sh
# cleanup.sh stop this project's session, tell peers, remove long-stale sessions (reference contract, see DESIGN.md)
exec "$(dirname "$0")/session-bridge" compat cleanup "$@"
