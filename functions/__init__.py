"""Producers: parse, validate, dedupe, enqueue, return. No media processing here."""
