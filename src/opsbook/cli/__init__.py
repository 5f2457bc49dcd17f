"""The command line: a thin Typer adapter over the domains. Only ``app.py`` catches errors."""
