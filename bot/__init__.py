"""newsdesk's fronts: settings, the command line and the Discord bot."""
