#!/bin/sh
# bridge-listen.sh [<session-id>] [timeout-s] - block for the next message (0 = forever) (reference contract, see DESIGN.md)
exec "$(dirname "$0")/session-bridge" compat bridge-listen "$@"
