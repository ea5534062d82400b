"""The ``newsdesk`` subcommands: one module a command (or group), each with ``register(sub, parents)``."""
