"""Alembic's entry point for chapter 08's migrations: how to reach the database.

Alembic runs this file for every command. It reads the database's URL from the configuration,
``sqlalchemy.url``, which chapter 08 and tests/test_orm_example.py set from Python:

    from alembic import command
    from alembic.config import Config

    migrations = Config()                    # no alembic.ini: the settings are given here
    migrations.set_main_option("script_location", "notebooks/apps/08-migrations")
    migrations.set_main_option("sqlalchemy.url", "sqlite:///messages.sqlite3")
    command.upgrade(migrations, "head")      # as `alembic upgrade head` would

``alembic revision --autogenerate`` would also need ``target_metadata``: the models'
``Base.metadata``, which it compares with the database to draft the next migration.
"""

from alembic import context
from sqlalchemy import create_engine, pool

url = context.config.get_main_option("sqlalchemy.url")

if context.is_offline_mode():  # `alembic upgrade head --sql`: print the SQL, run nothing
    context.configure(url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url, poolclass=pool.NullPool)  # no pool: the file is closed when done
    with engine.connect() as connection:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
