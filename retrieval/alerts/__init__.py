"""Topic alerts and briefings: follows kept in SQLite, new articles matched to topics, stories grouped."""
