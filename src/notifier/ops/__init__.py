"""Operator and support tools behind ``notifier check``, ``preview`` and ``upcoming``.

They read, never write: nothing here claims a slot, sends an email or records an outcome.
"""
