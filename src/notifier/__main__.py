"""Lets ``python -m notifier`` behave exactly like the ``notifier`` command."""

from notifier.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
