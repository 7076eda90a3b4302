"""The gateway: this machine's sessions on a NATS JetStream server the team runs (`session-bridge gateway`).

A front-end like the CLI: the file side (proxies, idempotent delivery, receipts) is bridge/remote.py; this package
only moves bytes between those files and the server. jetstream.py holds the names, permissions and connection;
run.py the loop.
"""
