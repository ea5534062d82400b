"""Compose answers from retrieved passages: sentence scores, the extractive answerer."""
