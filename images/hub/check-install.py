#!/usr/bin/env python3
"""Check a hub image: the classroom's hub-side code imports and configures a hub.

Run at the end of the hub image's build (images/hub/Dockerfile) and by the tests.
Exit status 0 and one line per check, or 1 and what is missing.
"""

import sys


def main() -> int:
    problems = []
    try:
        import jupyterhub

        major = int(jupyterhub.__version__.split(".")[0])
        if major != 6:
            problems.append(f"JupyterHub {jupyterhub.__version__}: imad-classroom needs 6.x")
        print(f"ok: jupyterhub {jupyterhub.__version__}")
        from traitlets.config import Config

        from imad_extension.settings import DEFAULTS
        from imad_extension.spawner_kube import configure_kubespawner

        c = configure_kubespawner(Config(), DEFAULTS)
        assert c.JupyterHub.spawner_class == "kubespawner.KubeSpawner"
        import kubespawner  # noqa: F401
        import oauthenticator  # noqa: F401

        import imad_extension.hubconfig  # noqa: F401
        import imad_extension.publisher.kubernetes  # noqa: F401
        import imad_extension.service  # noqa: F401

        print(
            "ok: imad_extension (hubconfig, service, kubernetes publisher), kubespawner, oauthenticator"
        )
    except Exception as e:  # report every kind of breakage the same way
        problems.append(f"{type(e).__name__}: {e}")
    for p in problems:
        print(f"missing: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
