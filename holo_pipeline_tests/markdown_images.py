"""Test helper: read back a Markdown image whose PNG is inlined as a data URI."""

from __future__ import annotations

import base64
import re

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decode_markdown_image(markdown: str) -> tuple[str, bytes]:
    """The alt text and PNG bytes of one Markdown data-URI image."""
    match = re.fullmatch(r"!\[(.*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match, markdown[:80]
    return match.group(1), base64.b64decode(match.group(2))
