"""The small Flask application the deployment chapter measures its servers with.

GET /search?q=TEXT: the contacts whose name contains TEXT, out of 2 000, as JSON.
Each request costs about a millisecond of pure Python work, like a typical small
API endpoint that filters and serializes data.
"""

import os

from flask import Flask, jsonify, request

app = Flask(__name__)
CONTACTS = [{"id": n, "name": f"contact {n:04}", "email": f"c{n}@example.org"} for n in range(2000)]


@app.get("/search")
def search():
    text = request.args.get("q", "")
    found = [c for c in CONTACTS if text in c["name"]]
    return jsonify(count=len(found), first=found[:20], pid=os.getpid())
