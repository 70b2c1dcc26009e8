"""The WSGI entry point of the contacts service: the ``app`` a server imports.

    gunicorn --workers 3 --bind 127.0.0.1:8000 wsgi:app    # Linux, macOS (see netcourse.service)
    waitress-serve --listen=127.0.0.1:8000 wsgi:app        # anywhere, Windows included

Run it from this folder (gunicorn's ``--chdir``, systemd's ``WorkingDirectory=``).
The settings come from the environment: see ``contacts_service.Settings``.
"""

from contacts_service import create_app

app = create_app()
