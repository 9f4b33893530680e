"""Evaluation of frozen encoders: retrieval."""
