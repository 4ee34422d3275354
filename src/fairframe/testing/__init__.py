"""Helpers for testing with Fairframe offline: tiny models and a loopback OpenAI-compatible server.

Nothing here is imported by ``import fairframe``.
"""
