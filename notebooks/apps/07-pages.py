"""HTML pages from a Jinja2 template, with a static style sheet (chapter 07).

    python -m sandbox app --app notebooks/apps/07-pages.py     then open /dice?n=5
"""

import random

from flask import Flask, render_template, request

app = Flask(__name__)  # templates/ and static/ are found beside this file


@app.get("/dice")
def dice():
    n = request.args.get("n", 3, type=int)         # a page may be forgiving: bad n, 3 dice
    generator = random.Random(request.args.get("seed", type=int))  # same seed, same rolls
    rolls = [generator.randint(1, 6) for _ in range(min(max(n, 1), 20))]
    player = request.args.get("player", "you")
    return render_template("07-dice.html", player=player, rolls=rolls)
