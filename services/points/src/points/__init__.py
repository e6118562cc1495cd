"""The points service."""
