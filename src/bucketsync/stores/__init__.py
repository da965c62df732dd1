"""The two sides of a sync: a local folder and an S3 prefix."""

from __future__ import annotations

import os

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY")


def proxy_configured() -> bool:
    """True when a proxy is set: only botocore honours it, so the fast paths stand aside."""
    return any(os.environ.get(name) for name in _PROXY_VARS)
