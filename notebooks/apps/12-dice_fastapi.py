"""Dice in FastAPI, with typed parameters: FastAPI reads, checks and documents them (chapter 12).

    GET /roll?n=3&sides=6     {"sides": 6, "values": [4, 1, 6]}
    GET /roll?n=zero          422: FastAPI's own error, listing what was wrong and where
"""

import random

from fastapi import FastAPI, Query
from pydantic import BaseModel

# No /docs here: FastAPI's page loads Swagger UI from a CDN (random-async serves it locally).
app = FastAPI(title="dice", docs_url=None, redoc_url=None)


class Roll(BaseModel):  # the answer's shape: checked when sent, described in /openapi.json
    sides: int
    values: list[int]


@app.get("/roll")
def roll(n: int = Query(1, ge=1, le=100), sides: int = Query(6, ge=2, le=1000)) -> Roll:
    return Roll(sides=sides, values=[random.randint(1, sides) for _ in range(n)])
