#!/bin/sh
# bridge-receive.sh <session-id> <message-id> [timeout-s] - block for the reply (reference contract, see DESIGN.md)
exec "$(dirname "$0")/session-bridge" compat bridge-receive "$@"
