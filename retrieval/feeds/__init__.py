"""Following news feeds: fetch politely, extract articles, store them under the seeds, index them as they come."""
