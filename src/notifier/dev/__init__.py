"""``notifier dev``: the real worker, crons and health server on embedded stand-ins.

A newcomer's first command must need nothing but the package: a SQLite file instead of
PostgreSQL, fakeredis instead of Redis, an in-memory SMTP catcher with a web inbox instead of a
relay, and a demo workspace timed so that every kind of email arrives within two minutes. Each
stand-in is replaced by the real thing when its variable (``DATABASE_URL``, ``REDIS_URL``,
``SMTP_HOST``) is set. Nothing here is imported by the production paths.
"""
