#!/bin/sh
# register.sh print this project's bridge session id, creating the session if needed (reference contract, see DESIGN.md)
exec "$(dirname "$0")/session-bridge" compat register "$@"
