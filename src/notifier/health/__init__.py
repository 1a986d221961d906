"""The ``/health`` endpoint: pure evaluation, I/O probes, and the small HTTP server."""
