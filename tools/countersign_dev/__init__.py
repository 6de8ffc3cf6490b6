"""Countersign developer tools: the `countersign` CLI and the local stack. Never shipped to Lambda."""
