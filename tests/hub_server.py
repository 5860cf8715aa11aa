"""LocalHub: a small, in-memory Hugging Face Hub-compatible HTTP server for the tests (standard library only).

It serves on 127.0.0.1 (a free port) from a background thread, so that the real `huggingface_hub` client and
transformers' `from_pretrained` / `push_to_hub` code run end to end without a network: set `HF_ENDPOINT=hub.url`
in a subprocess, pass `endpoint=hub.url` to `HfApi` / `hf_hub_download`, or call `hub.patch_endpoint(monkeypatch)`
in-process (patching `huggingface_hub.constants.ENDPOINT` alone is not enough: file URLs come from
`constants.HUGGINGFACE_CO_URL_TEMPLATE`, built at import, and transformers caches one `HfApi`).

Modelled on the endpoints huggingface_hub 2.4 calls, with the Hub's status codes and `X-Error-Code` headers
(which `hf_raise_for_status` turns into RepositoryNotFoundError / RevisionNotFoundError / EntryNotFoundError):

    GET  /api/whoami-v2
    POST /api/repos/create                               (initial commit with .gitattributes; 409 if it exists)
    POST /api/validate-yaml                              (README.md metadata check: always valid)
    GET  /api/models/{repo}[/revision/{rev}]             (model_info / repo_info)
    GET  /api/models/{repo}/tree/{rev}[/{path}]          (list_repo_tree / list_repo_files; ?recursive, ?expand)
    GET  /api/models/{repo}/refs, /commits/{rev}         (list_repo_refs / list_repo_commits)
    POST /api/models/{repo}/branch/{branch}              (create_branch; 409 if it exists)
    POST /api/models/{repo}/preupload/{rev}              (always uploadMode "regular": no LFS, no Xet)
    POST /api/models/{repo}/commit/{rev}                 (NDJSON: a header and base64 "file" lines)
    GET|HEAD /{repo}/resolve/{rev}/{path}                (file bytes; ETag = git blob sha1, X-Repo-Commit, Range)

Model repos only; no LFS, Xet, pull requests or pagination. A token in `Authorization: Bearer <token>` must be
in `tokens` (token -> user name) or the request is refused (401), as on the Hub; writes need the owner's token;
private repos look missing to everyone else. Setting `fail_with` answers every request (or, with `fail_only`,
those whose path contains that text) with that status.
The client retries 408/429/500/502/503/504 five times (sleeping 1+2+4+8+8 s) on preupload, upload_folder's commit,
tree listings and file downloads, so a `fail_with = 500` upload fails after ~23 s; 501 is not retried.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

GITATTRIBUTES = b"".join(
    b"*.%s filter=lfs diff=lfs merge=lfs -text\n" % ext
    for ext in (b"bin", b"h5", b"msgpack", b"npy", b"npz", b"onnx", b"ot", b"pt", b"pth", b"safetensors", b"zip")
)


def git_oid(data: bytes) -> str:
    """The git blob sha1 of `data` (the Hub's oid / ETag of a non-LFS file)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp)) + ".000Z"


class HubError(Exception):
    """An error answer: `status`, JSON {"error": message, **body}, X-Error-Message and (if given) X-Error-Code."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None, body=None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers, self.body = status, message, code, headers or {}, body


class _Repo:
    def __init__(self, repo_id: str, owner: str, private: bool):
        self.id, self.owner, self.private, self.created = repo_id, owner, private, time.time()
        self.commits: dict[str, dict] = {}  # sha -> {sha, parent, summary, description, date, files}
        self.branches: dict[str, str] = {}  # name -> sha

    def commit(self, branch: str, files: dict[str, bytes], summary: str, description: str = "") -> dict:
        parent = self.branches.get(branch)
        digest = hashlib.sha1(f"{self.id}\n{parent}\n{summary}\n{time.time_ns()}\n".encode())
        for path in sorted(files):
            digest.update(f"{path}\0{git_oid(files[path])}\n".encode())
        commit = {"sha": digest.hexdigest(), "parent": parent, "summary": summary, "description": description,
                  "date": time.time(), "files": dict(files)}  # fmt: skip
        self.commits[commit["sha"]] = commit
        self.branches[branch] = commit["sha"]
        return commit

    def resolve(self, revision: str) -> dict:
        sha = self.branches.get(revision, revision)
        if sha not in self.commits:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return self.commits[sha]

    def last_commit(self, commit: dict, path: str) -> dict:
        """The oldest ancestor of `commit` whose file or folder at `path` is unchanged (the Hub's lastCommit)."""

        def subtree(files):
            return {p: v for p, v in files.items() if p == path or p.startswith(path + "/")}

        current = subtree(commit["files"])
        while commit["parent"] and subtree(self.commits[commit["parent"]]["files"]) == current:
            commit = self.commits[commit["parent"]]
        return commit


class LocalHub:
    """Hub-compatible server on 127.0.0.1 in a background thread. Context manager."""

    def __init__(self, tokens: dict[str, str]):
        self.tokens = dict(tokens)  # token -> user name
        self.url = ""
        self.fail_with: int | None = None
        self.fail_only: str | None = None  # with fail_with: fail only requests whose path contains this
        self.requests: list[tuple[str, str, int]] = []  # (method, raw path with query, status)
        self.received_authorization: list[str] = []
        self._repos: dict[str, _Repo] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle and inspection ---------------------------------------------------------------------
    def start(self) -> LocalHub:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="LocalHub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def patch_endpoint(self, monkeypatch) -> None:
        """Point huggingface_hub and transformers, in this process, at this server (with pytest's `monkeypatch`)."""
        from huggingface_hub import constants

        monkeypatch.setattr(constants, "ENDPOINT", self.url)
        template = self.url + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr("transformers.utils.hub._hf_api", None, raising=False)

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        with self._lock:
            return dict(self._repos[repo_id].resolve(revision)["files"])

    def commits(self, repo_id: str, revision: str = "main") -> list[dict]:
        """Commit history of `revision`, newest first: [{"sha", "summary", "description"}]."""
        with self._lock:
            repo, history = self._repos[repo_id], []
            commit = repo.resolve(revision)
            while commit is not None:
                history.append({k: commit[k] for k in ("sha", "summary", "description")})
                commit = repo.commits.get(commit["parent"]) if commit["parent"] else None
            return history

    # -- request handling (called with the lock held) -------------------------------------------------
    def _user(self, authorization: str | None) -> str | None:
        if not authorization:
            return None
        user = self.tokens.get(authorization.removeprefix("Bearer ").strip())
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return user

    def _repo(self, repo_id: str, user: str | None, write: bool = False) -> _Repo:
        repo = self._repos.get(repo_id)
        if repo is None or (repo.private and repo.owner != user):
            # the Hub answers 401 without a token, 404 with one: the same for missing and for private repos
            raise HubError(404 if user else 401, "Repository not found" if user else "Invalid username or password.",
                           "RepoNotFound")  # fmt: skip
        if write and user is None:
            raise HubError(401, "Invalid username or password.")
        if write and repo.owner != user:
            raise HubError(403, f"You don't have the rights to write to {repo_id}")
        return repo

    def handle(self, method: str, path: str, query: dict, user: str | None, body: bytes):
        """Route one request; returns (status, payload, headers). `payload` is JSON-able or bytes."""
        segments = path.strip("/").split("/")
        if method == "GET" and path == "/api/whoami-v2":
            if user is None:
                raise HubError(401, "Invalid username or password.")
            token = {"displayName": "test", "role": "write"}
            answer = {"type": "user", "id": user, "name": user, "fullname": user, "orgs": [],
                      "auth": {"type": "access_token", "accessToken": token}}  # fmt: skip
            return 200, answer, {}
        if method == "POST" and path == "/api/validate-yaml":
            return 200, {"errors": [], "warnings": []}, {}
        if method == "POST" and path == "/api/repos/create":
            data = json.loads(body or b"{}")
            if data.get("type", "model") != "model":
                raise HubError(400, "LocalHub only serves model repos")
            namespace = data.get("organization") or user
            repo_id = f"{namespace}/{data['name']}"
            if user is None:
                raise HubError(401, "Invalid username or password.")
            if namespace != user:
                raise HubError(403, f'You don\'t have the rights to create a model under the namespace "{namespace}"')
            if repo_id in self._repos:
                raise HubError(409, "You already created this model repo", body={"url": f"{self.url}/{repo_id}"})
            private = data.get("visibility", "private" if data.get("private") else "public") == "private"
            repo = self._repos[repo_id] = _Repo(repo_id, user, private)
            repo.commit("main", {".gitattributes": GITATTRIBUTES}, "initial commit")
            repo_hash = hashlib.sha1(repo_id.encode()).hexdigest()[:24]
            return 200, {"url": f"{self.url}/{repo_id}", "name": repo_id, "id": repo_hash}, {}
        if segments[:2] == ["api", "models"] and len(segments) >= 4:
            repo_id, action, rest = "/".join(segments[2:4]), segments[4:5], [unquote(s) for s in segments[5:]]
            return self._api_models(method, repo_id, action[0] if action else "", rest, query, user, body)
        if method in ("GET", "HEAD") and len(segments) >= 5 and segments[2] == "resolve":
            repo = self._repo("/".join(segments[:2]), user)
            commit = repo.resolve(unquote(segments[3]))
            filename = unquote("/".join(segments[4:]))
            headers = {"X-Repo-Commit": commit["sha"]}
            if filename not in commit["files"]:
                raise HubError(404, "Entry not found", "EntryNotFound", headers)
            data = commit["files"][filename]
            return 200, data, {**headers, "ETag": f'"{git_oid(data)}"', "Content-Type": "application/octet-stream"}
        raise HubError(404, f"LocalHub does not implement {method} {path}")

    def _api_models(self, method, repo_id, action, rest, query, user, body):
        flag = lambda name: query.get(name, ["false"])[-1].lower() in ("1", "true")
        if method == "GET" and action in ("", "revision"):
            repo = self._repo(repo_id, user)
            commit = repo.resolve("/".join(rest) if action else "main")
            blobs = flag("blobs")
            siblings = [{"rfilename": p, **({"size": len(d), "blobId": git_oid(d)} if blobs else {})}
                        for p, d in sorted(commit["files"].items())]  # fmt: skip
            info = {"_id": repo_id, "id": repo_id, "modelId": repo_id, "author": repo.owner, "sha": commit["sha"],
                    "lastModified": _iso(commit["date"]), "createdAt": _iso(repo.created), "private": repo.private,
                    "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
                    "spaces": [], "usedStorage": sum(len(d) for d in commit["files"].values())}  # fmt: skip
            try:
                config = json.loads(commit["files"]["config.json"])
                info["config"] = {k: config[k] for k in ("architectures", "model_type", "auto_map") if k in config}
            except (KeyError, ValueError, TypeError):
                pass
            return 200, info, {}
        if method == "GET" and action == "tree" and rest:
            repo = self._repo(repo_id, user)
            commit, prefix = repo.resolve(rest[0]), "/".join(rest[1:]).strip("/")
            return 200, self._tree(repo, commit, prefix, flag("recursive"), flag("expand")), {}
        if method == "GET" and action == "refs":
            repo = self._repo(repo_id, user)
            branches = [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": s} for n, s in repo.branches.items()]
            return 200, {"branches": branches, "converts": [], "tags": [], "pullRequests": []}, {}
        if method == "GET" and action == "commits" and rest:
            repo = self._repo(repo_id, user)
            history = [repo.commits[c["sha"]] for c in self.commits(repo_id, "/".join(rest))]
            return 200, [{"id": c["sha"], "title": c["summary"], "message": c["description"], "date": _iso(c["date"]),
                          "authors": [{"user": repo.owner}]} for c in history], {}  # fmt: skip
        if method == "POST" and action == "branch" and rest:
            repo, branch = self._repo(repo_id, user, write=True), "/".join(rest)
            start = json.loads(body or b"{}").get("startingPoint") or "main"
            if branch in repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            repo.branches[branch] = repo.resolve(start)["sha"]
            return 200, {}, {}
        if method == "POST" and action in ("preupload", "commit") and rest:
            repo = self._repo(repo_id, user, write=True)
            if flag("create_pr"):
                raise HubError(400, "LocalHub does not support pull requests (create_pr)")
            revision = "/".join(rest)
            commit = repo.resolve(revision)
            if revision not in repo.branches:
                raise HubError(400, f"Can only commit to a branch, not to {revision}")
            if action == "preupload":
                files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                          "oid": git_oid(commit["files"][f["path"]]) if f["path"] in commit["files"] else None}
                         for f in json.loads(body)["files"]]  # fmt: skip
                return 200, {"files": files, "commitOid": commit["sha"]}, {}
            return self._commit(repo, revision, commit, body)
        raise HubError(404, f"LocalHub does not implement {method} /api/models/{repo_id}/{action}")

    def _tree(self, repo, commit, prefix, recursive, expand):
        files = commit["files"]
        base = prefix + "/" if prefix else ""
        if prefix and not any(p.startswith(base) for p in files):
            raise HubError(404, f"{prefix} does not exist on \"{commit['sha']}\"", "EntryNotFound")
        entries = {}
        for path, data in files.items():
            if not path.startswith(base):
                continue
            parts = path[len(base) :].split("/")
            if len(parts) > 1 and not recursive:  # only the direct children
                entries.setdefault(base + parts[0], {"type": "directory", "path": base + parts[0], "size": 0})
                continue
            for depth in range(1, len(parts)):  # recursive listings include every folder on the way
                folder = base + "/".join(parts[:depth])
                entries.setdefault(folder, {"type": "directory", "path": folder, "size": 0})
            entries[path] = {"type": "file", "oid": git_oid(data), "size": len(data), "path": path}
        for path, entry in entries.items():
            if entry["type"] == "directory":
                content = sorted((p, git_oid(d)) for p, d in files.items() if p.startswith(path + "/"))
                entry["oid"] = hashlib.sha1(json.dumps(content).encode()).hexdigest()
            if expand:
                last = repo.last_commit(commit, path)
                entry["lastCommit"] = {"id": last["sha"], "title": last["summary"], "date": _iso(last["date"])}
        return [entries[p] for p in sorted(entries)]

    def _commit(self, repo, branch, head, body):
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next((line["value"] for line in lines if line["key"] == "header"), None)
        if header is None or not header.get("summary"):
            raise HubError(400, "A commit needs a header line with a summary")
        if header.get("parentCommit") not in (None, head["sha"]):
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(head["files"])
        for line in lines:
            key, value = line["key"], line["value"]
            path = value.get("path", "").strip("/") if isinstance(value, dict) else ""
            if key == "file":
                content = value["content"]
                files[path] = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
            elif key != "header":
                raise HubError(400, f"LocalHub does not support {key!r} commit operations (no LFS)")
        commit = repo.commit(branch, files, header["summary"], header.get("description") or "")
        return 200, {"commitUrl": f"{self.url}/{repo.id}/commit/{commit['sha']}", "commitOid": commit["sha"],
                     "success": True, "pullRequestUrl": None}, {}  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client pools connections
    disable_nagle_algorithm = True  # headers and body go out in two writes: without this each answer waits ~40 ms
    hub: LocalHub

    def log_message(self, *args) -> None:  # quiet
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        hub, body = self.hub, self._read_body()
        authorization = self.headers.get("Authorization")
        split = urlsplit(self.path)
        try:
            with hub._lock:
                if authorization:
                    hub.received_authorization.append(authorization)
                if hub.fail_with is not None and (hub.fail_only is None or hub.fail_only in split.path):
                    raise HubError(hub.fail_with, f"LocalHub simulated failure (HTTP {hub.fail_with})")
                user = hub._user(authorization)
                status, payload, headers = hub.handle(self.command, split.path, parse_qs(split.query), user, body)
        except HubError as error:
            status, headers = error.status, dict(error.headers)
            payload = {"error": error.message, **(error.body or {})}
            headers["X-Error-Message"] = error.message.encode("ascii", "replace").decode()  # headers are latin-1
            if error.code:
                headers["X-Error-Code"] = error.code
        except (ValueError, KeyError, TypeError) as error:  # a malformed request (or a server bug): never hang
            status, payload, headers = 400, {"error": f"LocalHub could not handle the request: {error!r}"}, {}
        except Exception as error:  # noqa: BLE001 - a bug in the server: answer anyway (the client retries 500s)
            status, payload, headers = 500, {"error": f"LocalHub internal error: {error!r}"}, {}
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if not isinstance(payload, bytes):
            headers["Content-Type"] = "application/json; charset=utf-8"
        elif status == 200:
            headers["Accept-Ranges"] = "bytes"
            start, end = self._range(len(data))
            if (start, end) != (0, len(data)):
                status, headers["Content-Range"] = 206, f"bytes {start}-{end - 1}/{len(data)}"
                data = data[start:end]
        with hub._lock:
            hub.requests.append((self.command, self.path, status))
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _range(self, size: int) -> tuple[int, int]:
        """`Range: bytes=a-b` / `bytes=a-` / `bytes=-n` as (start, end); anything else is the whole file."""
        value = self.headers.get("Range", "")
        try:
            first, last = value.removeprefix("bytes=").split("-")
            if not first:
                return max(size - int(last), 0), size
            return min(int(first), size), min(int(last) + 1 if last else size, size)
        except ValueError:
            return 0, size

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _serve  # unknown routes get a clear 404
