"""session-bridge: coding-agent sessions ask each other questions through files on the local disk."""

__version__ = "0.1.0"
