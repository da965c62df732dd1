"""A response body read into the caller's buffer, straight from the socket.

botocore's `StreamingBody.readinto` goes through urllib3's `read`, which allocates a
new bytes object per call and copies it into the buffer: on a 2 GiB download in
128 KiB reads that was about 0.25 s of some 1.2 s of user time (timed by hand, S5's setup).
Under urllib3 sits the standard library's `http.client` response, whose `readinto`
fills the buffer from the socket with no copy; this module reads through it when the
stack is the one it knows (no content encoding to undo), and through botocore's
`readinto` otherwise.
"""

from __future__ import annotations

import http.client
from typing import Any

from .. import errors


class DirectBody:
    """The body of one GET, read to its end with `readinto`."""

    def __init__(self, body: Any, key: str) -> None:
        self._key = key
        raw = getattr(body, "_raw_stream", None)
        response = getattr(raw, "_fp", None)
        if isinstance(response, http.client.HTTPResponse) and _plain(raw):
            self._raw, self._readinto = raw, response.readinto
        else:
            self._raw, self._readinto = None, body.readinto

    def readinto(self, buffer: memoryview) -> int:
        """Fill the start of buffer; the count of bytes put there, 0 at the end."""
        try:
            n: int = self._readinto(buffer)
        except (OSError, http.client.HTTPException) as e:
            self._close()
            raise errors.TransferError(f"{self._key}: the download broke off ({e})") from e
        if n == 0 and self._raw is not None:
            self._raw.release_conn()  # read to its end: the connection can serve another GET
        return n

    def _close(self) -> None:
        """A body broken off mid-way: its connection is closed, never reused."""
        if self._raw is not None:
            self._raw.close()


def _plain(raw: Any) -> bool:
    """Whether the bytes on the wire are the object's bytes (no content encoding)."""
    headers = getattr(raw, "headers", None)
    return headers is not None and not headers.get("Content-Encoding")
