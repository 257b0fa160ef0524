"""Typer CLI (``p2s``)."""
