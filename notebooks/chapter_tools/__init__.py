"""Plumbing for the chapters: helpers that no slide needs to show.

One module per chapter (``chNN.py``). A notebook runs with its own folder,
``notebooks/``, as working directory, so it imports them as
``from chapter_tools.ch06 import AsyncioServer``.
"""
