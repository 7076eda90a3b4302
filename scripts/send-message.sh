#!/bin/sh
# send-message.sh <target-id> <type> <content> [in-reply-to] - print the new message id (reference contract, see DESIGN.md)
exec "$(dirname "$0")/session-bridge" compat send-message "$@"
