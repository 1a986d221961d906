"""The operator console (contract section 11): ``console.build_console`` mounts it."""
