"""The notes API of exercise 07, in a file, so that a WSGI server can serve it (exercise 10).

    python -m sandbox app --app apps/notes_app.py                  # waitress
    python -m sandbox app --app apps/notes_app.py --server dev     # Flask's development server

The server calls create_app() once, then serves the application from several
threads at once: a lock keeps the notes and the ids consistent.
"""

import itertools
import threading

from flask import Flask, abort, request, url_for
from werkzeug.exceptions import HTTPException


def create_app() -> Flask:
    app = Flask(__name__)
    notes, ids, lock = {}, itertools.count(1), threading.Lock()

    @app.errorhandler(HTTPException)
    def json_error(error):
        body = {"status": error.code, "error": error.name, "message": error.description}
        return body, error.code, {k: v for k, v in error.get_headers() if k != "Content-Type"}

    @app.get("/notes")
    def list_notes():
        with lock:
            return list(notes.values())

    @app.post("/notes")
    def create_note():
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            abort(400, 'Send a JSON object with a text: {"text": "buy milk"}.')
        with lock:
            note_id = next(ids)
            notes[note_id] = {"id": note_id, "text": body["text"]}
        return notes[note_id], 201, {"Location": url_for("get_note", note_id=note_id)}

    @app.get("/notes/<int:note_id>")
    def get_note(note_id):
        with lock:
            if note_id not in notes:
                abort(404, f"There is no note {note_id}.")
            return notes[note_id]

    return app
