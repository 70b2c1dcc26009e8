"""Publishing the course: offline slide decks and a static web site (``python -m publish``)."""
