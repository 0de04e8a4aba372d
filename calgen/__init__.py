"""calgen: national migration runbooks as per-role calendar feeds and documents."""

__version__ = "0.1.0"
