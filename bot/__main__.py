"""``python -m bot`` runs the newsdesk command line."""

from bot.cli import main

raise SystemExit(main())
