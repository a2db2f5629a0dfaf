"""Evaluating a backbone under a compressor: the evaluator, answer parsing, metrics, prediction rows."""
