"""Chapter 07's first Flask application.

    flask --app notebooks/apps/07-hello.py run     (in a terminal, in the course folder)
"""

from flask import Flask, request

app = Flask(__name__)


@app.get("/")
def index():
    return "Hello from Flask!"


@app.get("/hello")
def hello():
    name = request.args.get("name", "world")
    return {"greeting": f"Hello, {name}!"}
