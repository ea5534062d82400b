"""One module per seed file format: seed-format text, Markdown, HTML, JSONL."""
