"""Request handlers of the fake GitHub: OAuth, REST (``/api/v3``) and git smart HTTP.

One handler table (``make_app``). ``BaseHandler`` does what every GitHub endpoint does:
records the request, applies injected faults, checks the token (401 ``Bad
credentials``), enforces the secondary limit on content-creating requests, and writes
GitHub's headers (``X-OAuth-Scopes``, ``X-RateLimit-*``) and JSON error bodies.
"""

import asyncio
import base64
import binascii
import json
import os
import re
import subprocess
import time
from urllib.parse import urlencode

import tornado.web

from . import payloads
from .server import (
    GIT_ENV,
    GIT_HTTP_BACKEND,
    SECONDARY_DOCS,
    SECONDARY_MESSAGE,
    RequestRecord,
    _now_iso,
)

NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class BaseHandler(tornado.web.RequestHandler):
    api = True  # REST endpoints: token in "Authorization: token|Bearer <t>"

    def initialize(self, fake):
        self.fake = fake
        self.login = None
        self.scopes = []

    def check_xsrf_cookie(self):
        pass

    def set_default_headers(self):
        self.set_header("Server", "GitHub.com")
        self.set_header("X-GitHub-Request-Id", os.urandom(8).hex().upper())

    def on_finish(self):
        with self.fake.lock:
            self.fake.requests.append(
                RequestRecord(
                    time.time(),
                    self.request.method,
                    self.request.path,
                    self.get_status(),
                    self.login,
                )
            )

    def json(self, body, status: int = 200):
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body))

    def fail(self, status: int, message: str, **kw):
        self.json(payloads.error(message, status, **kw), status)

    def body_json(self) -> dict:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            self.fail(400, "Problems parsing JSON")
            return None
        if not isinstance(body, dict):
            self.fail(400, "Body should be a JSON object")
            return None
        return body

    def bearer(self) -> str | None:
        header = self.request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("token", "bearer") and value:
            return value.strip()
        return None

    async def prepare(self):
        fault = self.fake.take_fault(self.request.method, self.request.path)
        if fault is not None:
            for name, value in fault.headers.items():
                self.set_header(name, value)
            if isinstance(fault.body, dict):
                self.json(fault.body, fault.status)
            else:
                self.set_status(fault.status)
                self.finish(fault.body or "")
            return
        if not self.api:
            return
        token = self.bearer()
        if token is not None:
            owner = self.fake.token_owner(token)
            if owner is None:
                self.fail(401, "Bad credentials")
                return
            self.login, self.scopes = owner["login"], owner["scopes"]
            self.set_header("X-OAuth-Scopes", ", ".join(self.scopes))
        self.set_header("X-Accepted-OAuth-Scopes", "")
        self.set_header("X-GitHub-Media-Type", "github.v3; format=json")
        self.set_header("X-RateLimit-Limit", "5000" if self.login else "60")
        self.set_header("X-RateLimit-Remaining", "4999" if self.login else "59")
        self.set_header("X-RateLimit-Reset", str(int(time.time()) + 3600))
        self.set_header("X-RateLimit-Resource", "core")
        if self.request.method in WRITE_METHODS and self.login:
            if not self.fake.note_write(self.login):
                self.set_header("Retry-After", str(self.fake.secondary_retry_after))
                self.fail(403, SECONDARY_MESSAGE, documentation_url=SECONDARY_DOCS)

    def require_login(self) -> bool:
        if self.login is None:
            self.fail(401, "Requires authentication")
            return False
        return True

    def can_write(self, private: bool) -> bool:
        return ("repo" in self.scopes) or (not private and "public_repo" in self.scopes)

    def visible_repo(self, owner: str, name: str):
        """The repository, or None after answering 404 (GitHub hides private ones)."""
        repo = self.fake.get_repo(f"{owner}/{name}")
        if repo is None or (
            repo.private
            and (
                self.login is None
                or self.login.lower() != repo.owner.lower()
                or "repo" not in self.scopes
            )
        ):
            self.fail(404, "Not Found")
            return None
        return repo


# --- OAuth web flow ---------------------------------------------------------------------
class SessionHandler(BaseHandler):
    """``/session?login=alice``: sign this browser in to the fake (github.com's login page)."""

    api = False

    def get(self):
        login = self.get_argument("login")
        if login.lower() not in self.fake.users:
            self.fake.add_user(login)
        self.set_cookie("fake_github_login", login)
        self.finish(f"signed in as {login}\n")


class AuthorizeHandler(BaseHandler):
    api = False

    def get(self):
        client_id = self.get_argument("client_id", "")
        redirect_uri = self.get_argument("redirect_uri", "") or self.fake.callback_url
        state = self.get_argument("state", "")
        if client_id != self.fake.client_id:
            self.set_status(404)
            self.finish("Not Found: no OAuth app with this client_id")
            return
        if not self.fake.redirect_uri_ok(redirect_uri):
            self.redirect(
                self.fake.redirect(
                    self.fake.callback_url,
                    error="redirect_uri_mismatch",
                    error_description="The redirect_uri MUST match the registered callback URL for this application.",
                    error_uri="https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch",
                    state=state,
                )
            )
            return
        login = self.get_cookie("fake_github_login") or self.fake.default_login
        if not login:
            self.set_status(200)
            self.finish("Sign in to GitHub to continue (fake: visit /session?login=<you>)")
            return
        if login.lower() not in self.fake.users:
            self.fake.add_user(login)
        code = self.fake.authorize(login, client_id, redirect_uri, self.get_argument("scope", ""))
        self.redirect(self.fake.redirect(redirect_uri, code=code, state=state))


class AccessTokenHandler(BaseHandler):
    """``POST /login/oauth/access_token``: errors are 200s with ``error``, like GitHub."""

    api = False

    def params(self) -> dict:
        params = {k: self.get_argument(k) for k in self.request.arguments}
        if self.request.headers.get("Content-Type", "").startswith("application/json"):
            try:
                params.update(json.loads(self.request.body or b"{}"))
            except ValueError:
                pass
        header = self.request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(header.split(None, 1)[1]).decode().partition(":")
                params.setdefault("client_id", cid)
                params.setdefault("client_secret", secret)
            except (binascii.Error, UnicodeDecodeError):
                pass
        return params

    def oauth_error(self, error: str, description: str):
        uri = f"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#{error.replace('_', '-')}"
        self.answer({"error": error, "error_description": description, "error_uri": uri})

    def answer(self, body: dict):
        if "application/json" in self.request.headers.get("Accept", ""):
            self.json(body)
        else:
            self.set_header("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
            self.finish(urlencode(body))

    def post(self):
        p = self.params()
        if (
            p.get("client_id") != self.fake.client_id
            or p.get("client_secret") != self.fake.client_secret
        ):
            self.oauth_error(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            )
            return
        if p.get("grant_type") == "refresh_token":
            grant = self.fake.refresh_tokens.pop(p.get("refresh_token", ""), None)
            if grant is None:
                self.oauth_error(
                    "bad_refresh_token", "The refresh token passed is incorrect or expired."
                )
                return
            self.answer(self.fake.issue_token(grant["login"], grant["scopes"]))
            return
        with self.fake.lock:
            grant = self.fake.codes.pop(p.get("code", ""), None)
        if (
            grant is None
            or grant["client_id"] != p["client_id"]
            or time.monotonic() - grant["time"] > 600
        ):
            self.oauth_error("bad_verification_code", "The code passed is incorrect or expired.")
            return
        if p.get("redirect_uri") and p["redirect_uri"] != grant["redirect_uri"]:
            self.oauth_error(
                "redirect_uri_mismatch",
                "The redirect_uri MUST match the registered callback URL for this application.",
            )
            return
        self.answer(self.fake.issue_token(grant["login"], grant["scopes"]))


# --- REST -------------------------------------------------------------------------------
class UserHandler(BaseHandler):
    def get(self):
        if self.require_login():
            self.json(payloads.user(self.fake, self.login))


class RepoHandler(BaseHandler):
    def get(self, owner, name):
        repo = self.visible_repo(owner, name)
        if repo is not None:
            self.json(payloads.repository(self.fake, repo, self.login))


class ForkHandler(BaseHandler):
    def post(self, owner, name):
        if not self.require_login():
            return
        source = self.visible_repo(owner, name)
        body = self.body_json()
        if source is None or body is None:
            return
        if not self.can_write(source.private):
            self.fail(404, "Not Found")
            return
        if body.get("organization"):
            self.fail(
                422,
                "Validation Failed",
                errors=[{"resource": "Fork", "field": "organization", "code": "invalid"}],
            )
            return
        fork_name = body.get("name")
        if fork_name is not None and not (isinstance(fork_name, str) and NAME_RE.match(fork_name)):
            self.fail(
                422,
                "Validation Failed",
                errors=[{"resource": "Repository", "field": "name", "code": "invalid"}],
            )
            return
        taken = self.fake.get_repo(f"{self.login}/{fork_name or source.name}")
        if taken is not None and taken.parent != source.full_name:
            self.fail(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "Repository",
                        "code": "custom",
                        "field": "name",
                        "message": "name already exists on this account",
                    }
                ],
            )
            return
        fork = self.fake.fork(source, self.login, fork_name, bool(body.get("default_branch_only")))
        self.json(payloads.repository(self.fake, fork, self.login), 202)


class GenerateHandler(BaseHandler):
    def post(self, owner, name):
        if not self.require_login():
            return
        template = self.visible_repo(owner, name)
        body = self.body_json()
        if template is None or body is None:
            return
        new_owner, new_name = body.get("owner") or self.login, body.get("name")
        private = bool(body.get("private"))
        if not template.is_template:
            self.fail(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "Repository",
                        "code": "custom",
                        "message": f"{template.full_name} is not a template repository",
                    }
                ],
            )
            return
        if not isinstance(new_name, str) or not NAME_RE.match(new_name):
            self.fail(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "Repository",
                        "field": "name",
                        "code": "missing_field" if not new_name else "invalid",
                    }
                ],
            )
            return
        if new_owner.lower() != self.login.lower():
            self.fail(404, "Not Found")
            return
        if not self.can_write(private):
            self.fail(404, "Not Found")
            return
        if self.fake.get_repo(f"{new_owner}/{new_name}") is not None:
            self.fail(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "Repository",
                        "code": "custom",
                        "field": "name",
                        "message": "Name already exists on this account",
                    }
                ],
            )
            return
        repo = self.fake.generate(
            template, self.login, new_name, private, bool(body.get("include_all_branches"))
        )
        self.json(payloads.repository(self.fake, repo, self.login), 201)


class GitRefHandler(BaseHandler):
    def get(self, owner, name, ref):
        repo = self.visible_repo(owner, name)
        if repo is None:
            return
        if repo.empty():
            self.fail(
                409,
                "Git Repository is empty.",
                documentation_url="https://docs.github.com/rest/git/refs#get-a-reference",
            )
            return
        sha = repo.git("rev-parse", "--verify", "--quiet", f"refs/{ref}^{{commit}}", check=False)
        if not ref.startswith(("heads/", "tags/")) or not sha:
            self.fail(
                404,
                "Not Found",
                documentation_url="https://docs.github.com/rest/git/refs#get-a-reference",
            )
            return
        self.json(payloads.git_ref(self.fake, repo, f"refs/{ref}", sha))


class GitCommitHandler(BaseHandler):
    def get(self, owner, name, sha):
        repo = self.visible_repo(owner, name)
        if repo is None:
            return
        if repo.empty():
            self.fail(409, "Git Repository is empty.")
            return
        commit = repo.commit(sha)
        if commit is None:
            self.fail(
                404,
                "Not Found",
                documentation_url="https://docs.github.com/rest/git/commits#get-a-commit-object",
            )
            return
        self.json(payloads.git_commit(self.fake, repo, commit))


class ContentsHandler(BaseHandler):
    def get(self, owner, name, path):
        repo = self.visible_repo(owner, name)
        if repo is None:
            return
        if repo.empty():
            self.fail(404, "This repository is empty.")
            return
        ref = self.get_argument("ref", repo.default_branch)
        blob = repo.git("rev-parse", "--verify", "--quiet", f"{ref}:{path}", check=False)
        if not blob or repo.git("cat-file", "-t", blob) != "blob":
            self.fail(404, "Not Found")
            return
        data = subprocess.run(
            ["git", "--git-dir", str(repo.path), "cat-file", "blob", blob],
            capture_output=True,
            check=True,
        ).stdout
        self.json(payloads.content_file(self.fake, repo, path, blob, data, ref))

    def put(self, owner, name, path):
        if not self.require_login():
            return
        repo = self.visible_repo(owner, name)
        body = self.body_json()
        if repo is None or body is None:
            return
        if self.login.lower() != repo.owner.lower() or not self.can_write(repo.private):
            self.fail(404, "Not Found")
            return
        missing = [k for k in ("message", "content") if not isinstance(body.get(k), str)]
        if missing:
            self.fail(
                422, "Invalid request.\n\n" + ", ".join(f'"{k}" wasn\'t supplied.' for k in missing)
            )
            return
        try:
            data = base64.b64decode(body["content"], validate=True)
        except binascii.Error:
            self.fail(422, "content is not valid Base64")
            return
        branch = body.get("branch") or repo.default_branch
        parent = repo.head(branch)
        current = (
            repo.git("rev-parse", "--verify", "--quiet", f"{parent}:{path}", check=False)
            if parent
            else ""
        )
        if current and not body.get("sha"):
            self.fail(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
            return
        if current and body["sha"] != current:
            self.fail(409, f"{path} does not match {body['sha']}")
            return
        author = {}
        if isinstance(body.get("author"), dict):
            author = {
                "GIT_AUTHOR_NAME": body["author"].get("name", ""),
                "GIT_AUTHOR_EMAIL": body["author"].get("email", ""),
            }
        sha = self.fake._commit_files(repo, branch, {path: data}, body["message"], parent, author)
        blob = payloads.blob_sha(data)
        self.json(
            payloads.content_commit(self.fake, repo, path, blob, data, branch, repo.commit(sha)),
            200 if current else 201,
        )


class NotFoundHandler(BaseHandler):
    def prepare(self):
        self.fail(404, "Not Found")


# --- git smart HTTP -----------------------------------------------------------------------
class GitHttpHandler(BaseHandler):
    """``/<owner>/<repo>(.git)/(info/refs|git-upload-pack|git-receive-pack)`` via CGI."""

    api = False

    def need_auth(
        self,
        message="Invalid username or token. Password authentication is not supported for Git operations.",
    ):
        self.set_status(401)
        self.set_header("WWW-Authenticate", 'Basic realm="GitHub"')
        self.finish(message + "\n")

    async def get(self, owner, name, service):
        await self.serve(owner, name, service)

    async def post(self, owner, name, service):
        await self.serve(owner, name, service)

    async def serve(self, owner, name, service):
        repo = self.fake.get_repo(f"{owner}/{name}")
        pushing = (
            service == "git-receive-pack" or self.get_argument("service", "") == "git-receive-pack"
        )
        header = self.request.headers.get("Authorization", "")
        token = self.fake.basic_token(header) if header else None
        if header:
            grant = self.fake.token_owner(token or "")
            if grant is None:
                self.need_auth()
                return
            self.login, self.scopes = grant["login"], grant["scopes"]
        if repo is None or (repo.private and self.login is None):
            if self.login is None:
                self.need_auth()
            else:
                self.set_status(404)
                self.finish("Repository not found.\n")
            return
        if repo.private and (self.login.lower() != repo.owner.lower() or "repo" not in self.scopes):
            self.set_status(404)
            self.finish("Repository not found.\n")
            return
        if pushing:
            if self.login is None:
                self.need_auth()
                return
            if self.login.lower() != repo.owner.lower() or not self.can_write(repo.private):
                self.set_status(403)
                self.finish(f"Permission to {repo.full_name}.git denied to {self.login}.\n")
                return
        env = {
            **GIT_ENV,
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(repo.path.parent),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{repo.path.name}/{service}",
            "REQUEST_METHOD": self.request.method,
            "QUERY_STRING": self.request.query,
            "CONTENT_TYPE": self.request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(self.request.body or b"")),
            "REMOTE_ADDR": self.request.remote_ip or "127.0.0.1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        if self.login:
            env["REMOTE_USER"] = self.login
        if self.request.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.request.headers["Content-Encoding"]
        if self.request.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.request.headers["Git-Protocol"]
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(
            None,
            lambda: subprocess.run(
                [GIT_HTTP_BACKEND],
                input=self.request.body or b"",
                env=env,
                capture_output=True,
                timeout=60,
            ),
        )
        head, sep, body = result.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = result.stdout.partition(b"\n\n")
        status = 200
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                self.set_header(key.strip(), value.strip())
        self.set_status(status)
        if pushing and service == "git-receive-pack" and status == 200:
            repo.pushed_at = repo.updated_at = _now_iso()
        self.finish(body)


def make_app(fake) -> tornado.web.Application:
    repo = r"([^/]+)/([^/]+?)"
    kw = {"fake": fake}
    return tornado.web.Application(
        [
            (r"/session", SessionHandler, kw),
            (r"/login/oauth/authorize", AuthorizeHandler, kw),
            (r"/login/oauth/access_token", AccessTokenHandler, kw),
            (r"/api/v3/user", UserHandler, kw),
            (rf"/api/v3/repos/{repo}/forks", ForkHandler, kw),
            (rf"/api/v3/repos/{repo}/generate", GenerateHandler, kw),
            (rf"/api/v3/repos/{repo}/git/ref/(.+)", GitRefHandler, kw),
            (rf"/api/v3/repos/{repo}/git/commits/([0-9a-f]{{40}})", GitCommitHandler, kw),
            (rf"/api/v3/repos/{repo}/contents/(.+)", ContentsHandler, kw),
            (rf"/api/v3/repos/{repo}", RepoHandler, kw),
            (
                rf"/{repo}(?:\.git)?/(info/refs|git-upload-pack|git-receive-pack)",
                GitHttpHandler,
                kw,
            ),
            (r"/api/v3/.*", NotFoundHandler, kw),
        ],
        default_handler_class=NotFoundHandler,
        default_handler_args=kw,
    )
