"""The MCP tools for artifacts (bridge/artifacts.py) and session summaries: share, fetch, list; say what this session
is working on.

Registered on the server of bridge/mcp/tools.py when that module imports this one. Content travels as text when it is
UTF-8, else as base64; either way it is capped like a shared file (10 MiB, BRIDGE_MAX_ARTIFACT). Attach a shared
artifact to a message with its sha256 in bridge_send / bridge_ask / bridge_reply's `attachments`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from pydantic import Field

import bridge
from bridge import artifacts, sessions, views
from bridge.errors import BridgeError
from bridge.mcp import models
from bridge.mcp.models import ArtifactGetResult, ArtifactListResult, ShareResult, SummaryResult
from bridge.mcp.tools import me, tool

Sha = Annotated[str, Field(description="The artifact's sha256 (64 hex digits), as bridge_share or a message's "
                                       "attachments give it")]


def artifact_out(ref: dict) -> models.Artifact:
    """An artifact reference as the tools' Artifact."""
    return models.Artifact(**views.artifact_view(ref))


@tool(read_only=False, idempotent=True)
def bridge_share(content: Annotated[str, Field(description="The data: text as is, or base64 with "
                                                           "encoding='base64'")],
                 name: Annotated[str, Field(description="The file name peers see, e.g. trace.log; its extension "
                                                        "sets the media type")],
                 encoding: Annotated[Literal["text", "base64"], Field(description="How `content` is given")] = "text"
                 ) -> ShareResult:
    """Store data too big for a message (logs, diffs, dumps, images; up to 10 MiB) as an artifact.

    Returns its sha256: pass it in `attachments` of bridge_send, bridge_ask or bridge_reply, and the receiver
    fetches it with bridge_artifact_get. The same bytes are stored once."""
    if encoding == "base64":
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise BridgeError("content is not valid base64; send text with encoding 'text', or fix the base64") \
                from None
    else:
        data = content.encode("utf-8", "surrogatepass")
    return ShareResult(artifact=artifact_out(artifacts.share(bridge.bridge_dir(), data, name)))


@tool(read_only=True, idempotent=True)
def bridge_artifact_get(sha256: Sha) -> ArtifactGetResult:
    """Fetch an artifact (one a message's attachments name) after checking its bytes still hash to sha256.

    Text comes back as text (encoding 'text'), anything else as base64 (encoding 'base64'), with its name, size
    and media type."""
    ref, data = artifacts.get(bridge.bridge_dir(), sha256)
    try:
        return ArtifactGetResult(artifact=artifact_out(ref), encoding="text", content=data.decode("utf-8"), path=None)
    except UnicodeDecodeError:
        return ArtifactGetResult(artifact=artifact_out(ref), encoding="base64",
                                 content=base64.b64encode(data).decode("ascii"), path=None)


@tool(read_only=True, idempotent=True)
def bridge_artifact_list() -> ArtifactListResult:
    """List the artifacts stored in this bridge, newest first: sha256, name, size, media type, when shared."""
    return ArtifactListResult(artifacts=[models.StoredArtifact(**views.stored_artifact_view(e))
                                         for e in artifacts.list_all(bridge.bridge_dir())])


@tool(read_only=False, idempotent=True)
def bridge_summary(summary: Annotated[str | None, Field(description="One line (at most 300 characters) on what this "
                                                                    "session is working on; omit to read it")] = None,
                   clear: Annotated[bool, Field(description="Remove the summary")] = False) -> SummaryResult:
    """Say what this session is working on, in one line: peers see it in bridge_peers and when their session starts.

    Without arguments, returns the current summary. Keep it current when your task changes."""
    session = me()
    if clear and summary is not None:
        raise BridgeError("give a summary or clear=true, not both")
    if clear or summary is not None:
        value = sessions.set_summary(session, None if clear else summary)
    else:
        value = sessions.summary_of(session.manifest)
    return SummaryResult(session_id=session.id, summary=value)
