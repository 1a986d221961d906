"""The job layer: thin arq functions and the CLI's ``run``; the only code that reads the clock."""
