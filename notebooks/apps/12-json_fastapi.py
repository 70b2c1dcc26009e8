"""Two small endpoints in FastAPI, to compare servers (chapter 12); the same as 12-json_flask.py.

GET /json: a small JSON answer, computed at once (only the server and the framework work).
GET /wait: the same after 50 ms of waiting, as for a database or another API.
"""

import asyncio

from fastapi import FastAPI

app = FastAPI()


@app.get("/json")
async def json_now():
    return {"message": "Hello, World!"}


@app.get("/wait")
async def json_later():
    await asyncio.sleep(0.05)  # waits without a thread: the loop serves other requests meanwhile
    return {"message": "Hello, World!"}
