"""Two small endpoints in Flask, to compare servers (chapter 12); the same as 12-json_fastapi.py.

GET /json: a small JSON answer, computed at once (only the server and the framework work).
GET /wait: the same after 50 ms of waiting, as for a database or another API.
"""

import time

from flask import Flask

app = Flask(__name__)


@app.get("/json")
def json_now():
    return {"message": "Hello, World!"}


@app.get("/wait")
def json_later():
    time.sleep(0.05)  # a blocking wait: this request holds its thread for 50 ms
    return {"message": "Hello, World!"}
