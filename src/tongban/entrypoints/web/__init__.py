"""The web console: a static page (``static/``) served at ``/console/`` beside the APIs it
calls, plus the few console-only JSON routes (``console.py``)."""
