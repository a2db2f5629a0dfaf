"""Backbone adapters: one file per Qwen-Omni family."""
