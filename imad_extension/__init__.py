"""IMAD Classroom: hub configuration, workspace extension, classroom service, publishers.

This module only wires the Jupyter extensions (and stays cheap to import: the hub
imports ``imad_extension.hubconfig`` through it):

- ``_jupyter_server_extension_points`` / ``_load_jupyter_server_extension``: the
  workspace API in each student's Jupyter server (``imad_extension.workspace``);
- ``_jupyter_labextension_paths``: the prebuilt lab extension (``labextension/``).
"""


def _jupyter_server_extension_points():
    return [{"module": "imad_extension"}]


def _load_jupyter_server_extension(server_app):
    from .workspace import load_workspace

    load_workspace(server_app)


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "imad-classroom"}]
