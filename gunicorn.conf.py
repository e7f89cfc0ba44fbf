"""gunicorn's settings for smspanel, read from the working directory by `gunicorn run:app`
(the README's commands and the systemd unit run there).

Only one: answers carry no `Server: gunicorn` banner. gunicorn has no setting for it, so
its response class is told to leave the header out; the version an attacker would look up
known flaws for is then nowhere in an answer.
"""

import gunicorn.http.wsgi

_default_headers = gunicorn.http.wsgi.Response.default_headers


def _without_server_banner(self):
    return [line for line in _default_headers(self) if not line.startswith("Server:")]


gunicorn.http.wsgi.Response.default_headers = _without_server_banner
