"""newsdesk's engine: articles in, cited answers out. No Discord, no env vars, no printing."""

__version__ = "0.1.0"
