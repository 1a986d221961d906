"""Pure time arithmetic: no I/O, no clock; every function takes the instants it needs."""
