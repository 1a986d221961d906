"""``notifier web``: the pages this service answers itself (contract section 11)."""
