#!/bin/sh
# check-inbox.sh [--summary-only] - hook JSON with pending messages (reference contract, see DESIGN.md)
exec "$(dirname "$0")/session-bridge" compat check-inbox "$@"
