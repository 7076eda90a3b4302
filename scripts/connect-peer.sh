#!/bin/sh
# connect-peer.sh <target-id> - ping a peer and print where it is (reference contract, see DESIGN.md)
exec "$(dirname "$0")/session-bridge" compat connect-peer "$@"
