"""Pure notification rules: given rows and ``now``, decide what is due. No I/O, no clock."""
