"""Countersign's performance benchmarks: `make bench` (ratios and budgets), `make bench-load`.

See BENCHMARKS.md for what each figure means, the budgets and the figures measured last.
"""
