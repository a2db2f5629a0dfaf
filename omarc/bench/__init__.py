"""Latency, memory and FLOP measurements behind ``omarc bench`` (paper Table 6)."""
