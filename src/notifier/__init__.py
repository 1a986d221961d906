"""notifier: sends a scheduling application's notifications on time, once, in every time zone."""

__version__ = "0.1.0"
