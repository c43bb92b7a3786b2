"""Tracer: engagement tracking for marketing email and SMS.

This package holds what every pipeline stage shares: settings, the brands file, the key
ring and token codec, the event schema, Redis key names, the classifier and the CLI.
"""

__version__ = "0.1.0"
