"""A class list for the messaging server: accounts from a CSV file, tokens to hand out.

    python -m sandbox messaging --db class.sqlite3 --users class.csv

class.csv has a header line ``name`` then one student per line (other
columns are ignored, so a spreadsheet's export works). The server creates an
account for every name that has none yet, and appends ``name,id,token`` for
each new account to class-tokens.csv (or --tokens-out FILE). The server keeps
only a hash of each token: that file is the only place the tokens are written,
so keep it, and give each student their own line. Running the same command
again creates only the accounts of names added since.
"""

from __future__ import annotations

import csv
import os
import sqlite3
from pathlib import Path

from . import db
from .validation import NAME_MAX, string


def default_tokens_file(users_file: Path) -> Path:
    """class.csv -> class-tokens.csv, in the same folder."""
    return users_file.with_name(f"{users_file.stem}-tokens.csv")


def read_names(path: Path) -> list[str]:
    """The names in the CSV file ``path``, or ValueError saying what is wrong with it."""
    check = string(1, NAME_MAX, not_blank=True)
    try:
        # utf-8-sig: also reads the invisible mark (BOM) some spreadsheets put first.
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            if "name" not in (reader.fieldnames or []):
                raise ValueError(f"{path}: the first line must be the header 'name' (found {reader.fieldnames})")
            names = []
            for row in reader:
                name = (row["name"] or "").strip()  # spreadsheets often leave spaces around
                if not name:
                    continue  # an empty line
                if (problem := check(name)) is not None:
                    raise ValueError(f"{path}, line {reader.line_num}: the name {name!r} {problem}")
                names.append(name)
            return names
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"cannot read {path}: {e}") from None


def add_accounts(database: Path, names: list[str]) -> list[tuple[dict, str]]:
    """Create the accounts that do not exist yet: [(user, token)] for the new ones."""
    conn = db.connect(database)
    try:
        return db.add_users(conn, names)
    except sqlite3.Error as e:
        raise ValueError(f"cannot add the users to {database}: {e}") from None
    finally:
        conn.close()


def write_tokens(path: Path, created: list[tuple[dict, str]]) -> None:
    """Append name,id,token lines to the CSV file ``path`` (with a header if it is new)."""
    # The tokens are passwords: on Linux and macOS the file is created readable
    # and writable by its owner only (mode 600). Appending, never overwriting,
    # keeps the tokens of an earlier run.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with open(fd, "a", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        if file.tell() == 0:
            writer.writerow(["name", "id", "token"])
        for user, token in created:
            writer.writerow([user["name"], user["id"], token])
