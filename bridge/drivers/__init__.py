"""Drivers: ways to get a message in front of an agent (a monitor line, a prompt hook, a tmux push, a host's own
queue). A driver only notifies: it marks a message noticed; the agent reads it by taking it (DESIGN.md "drivers")."""
