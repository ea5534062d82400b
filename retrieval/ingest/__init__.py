"""Read articles: seed files (text, Markdown, HTML, JSONL), cleaning of scraped pages, the seed cache."""
