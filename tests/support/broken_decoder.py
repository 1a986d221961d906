"""A ``CONTENT_DECODER`` module that fails at import, as one whose key is missing would, with
a secret in its message: the worker must stop at start naming the module, not the message."""

from __future__ import annotations

SECRET = "key-material-Zanzibar-7731"

raise RuntimeError(f"no key: {SECRET}")
