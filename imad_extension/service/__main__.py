"""``python -m imad_extension.service``: the classroom service (JupyterHub runs it)."""

from .app import main

main()
