"""Stand-in for the classroom service while ``imad_extension.service`` cannot run yet.

Used only by ``test_github_e2e.py`` when ``python -m imad_extension.service`` does not
exist in the checkout: answers ``health`` (so the hub counts as up) and 501 for the rest,
so GitHub mode's login, provisioning, clone, commit and push are tested without it.
"""

import asyncio
import json
import os
from urllib.parse import urlparse

import tornado.web


class Health(tornado.web.RequestHandler):
    def get(self):
        self.finish({"status": "ok", "stub": True})


class NotYet(tornado.web.RequestHandler):
    def prepare(self):
        self.set_status(501)
        self.set_header("Content-Type", "application/json")
        body = {"error": "not_implemented", "message": "classroom service stub", "status": 501}
        self.finish(json.dumps(body))


async def main():
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/imad/")
    app = tornado.web.Application([(prefix + "health", Health), (prefix + ".*", NotYet)])
    app.listen(url.port, url.hostname)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
