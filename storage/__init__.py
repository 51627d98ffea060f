"""Adapta's persistence: the data-home layout, the SQLite/PostgreSQL engine and the tables.

No torch and no gradio here: the web server, the worker and the training child all import it.
"""
