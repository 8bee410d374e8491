"""The workspace extension: the REST API in each student's Jupyter server.

Under ``<base_url>imad/api/`` (docs/api.md, "Workspace API"): workspace state,
commit-and-push, publish, the app's status and unpublish.

Modules: ``config`` (traitlets: ``ImadWorkspace``), ``core`` (the logic, no tornado:
``Workspace``), ``working_copy`` (its git mechanics: commit in a temporary index, push,
rebase, conflict branch: ``WorkingCopy``), ``git`` (async git runner with the
credential hook: ``GitRunner``),
``service_client`` (the classroom service API: ``ServiceClient``), ``handlers`` (thin
tornado handlers and ``setup_handlers``).

Parts: ``load_workspace(server_app)``.
"""


def load_workspace(server_app):
    """Build the ``Workspace`` for this server, add its routes, start cloning if needed."""
    from tornado.ioloop import IOLoop

    from .config import ImadWorkspace
    from .core import Workspace
    from .handlers import SETTINGS_KEY, setup_handlers

    config = ImadWorkspace(parent=server_app)
    workspace = Workspace(config, log=server_app.log, contents_root=server_app.root_dir)
    server_app.web_app.settings[SETTINGS_KEY] = workspace
    setup_handlers(server_app.web_app)
    IOLoop.current().add_callback(workspace.start)
    server_app.log.info(
        "IMAD workspace: app %s, repository %s, branch %s",
        workspace.app_dir, config.repo_url or "(none)", config.branch,
    )  # fmt: skip
    return workspace
