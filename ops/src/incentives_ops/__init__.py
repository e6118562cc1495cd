"""Operator command line and the embedded stack."""
