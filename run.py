"""Entry point: `python run.py`, `gunicorn -w 4 -b 0.0.0.0:3570 run:app`, or uwsgi."""

import os
import signal
import sys
from pathlib import Path

try:
    import smspanel  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from smspanel.serving import create_serving_app

app = create_serving_app()

if __name__ == "__main__":
    # SIGTERM ends the process through its exit hooks, which stop the dispatcher gracefully.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "3570"))
    app.run(host=host, port=port, threaded=True, use_reloader=False)
