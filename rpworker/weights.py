"""Model weights: fetch the files rpbuild.yaml's ``weights:`` names, verify them, place them.

One implementation serves both moments. During the image build it runs as
``python -m rpworker.weights`` in a RUN step of its own, downloading into a BuildKit
cache mount (``--cache``) so that a step rerun finds the verified file and asks the
network for nothing. At worker start, entries marked ``at: runtime`` are read from
the manifest the image carries (:data:`MANIFEST`) and fetched once into their path,
usually a network volume. Standard library only: it runs before anything else is
installed in the build, and in every worker.

Hugging Face repositories are read the way the hub client reads them: ``HF_ENDPOINT``
(default https://huggingface.co), the revision resolved to a commit with
``/api/models/{repo}/revision/{revision}``, the file list from
``/api/models/{repo}/tree/{commit}?recursive=true``, each file from
``/{repo}/resolve/{commit}/{path}``. Every file is checked against the digest the
listing gives: sha256 for LFS files, the git blob id for the others.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import fnmatch
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

MANIFEST = "/etc/rpworker/weights.json"
"""Where an image keeps its ``at: runtime`` entries; RPWORKER_WEIGHTS_MANIFEST overrides."""
MANIFEST_ENV = "RPWORKER_WEIGHTS_MANIFEST"
HF_DEFAULT_ENDPOINT = "https://huggingface.co"
CHUNK = 1 << 20
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_STATE = ".rpworker-weights.json"

log = logging.getLogger("rpworker")
Say = Callable[[str], None]


class WeightsError(Exception):
    """A weights entry cannot be fetched or does not match its checksum."""


@dataclass(frozen=True)
class Source:
    """What a ``weights:`` entry names: one file by URL (with its sha256), or files of a
    Hugging Face repository at a revision; ``path`` is where they go."""

    path: str
    url: str | None = None
    sha256: str | None = None
    hf: str | None = None
    revision: str = "main"
    files: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Entry(Source):
    """One entry to fetch; ``name`` identifies it in every message."""

    name: str
    token_file: str | None = None

    @classmethod
    def of(cls, source: Source, name: str, token_file: str | None = None) -> Entry:
        shared = {f.name: getattr(source, f.name) for f in fields(Source)}
        return cls(**shared, name=name, token_file=token_file)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        return cls(**{**data, "files": tuple(data.get("files") or ())})

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "files": list(self.files)}


@dataclass(frozen=True)
class Remote:
    """One file to fetch: where from, where to under the entry's path, what it must hash to."""

    url: str
    relative: str
    algorithm: str
    digest: str
    size: int | None = None

    def hasher(self) -> Any:
        if self.algorithm == "git-blob":
            blob = hashlib.sha1(usedforsecurity=False)
            blob.update(f"blob {self.size}\0".encode())
            return blob
        return hashlib.sha256()


def _token(entry: Entry) -> str | None:
    """A build secret file when the step mounts one, else HF_TOKEN for hub entries."""
    if entry.token_file and Path(entry.token_file).is_file():
        text = Path(entry.token_file).read_text(encoding="utf-8").strip()
        if text:
            return text
    if entry.hf:
        return os.environ.get("HF_TOKEN") or None
    return None


def _open(entry: Entry, url: str, token: str | None) -> Any:
    request = urllib.request.Request(url, headers={"User-Agent": "rpworker-weights"})
    if token:
        # Unredirected: the hub redirects downloads to a CDN that must not see the token.
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    try:
        return urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as error:
        hint = " (a private or gated repository needs HF_TOKEN)" if error.code in (401, 403) else ""
        raise WeightsError(f"{entry.name}: {url}: HTTP {error.code} {error.reason}{hint}") from None
    except (urllib.error.URLError, OSError) as error:
        raise WeightsError(f"{entry.name}: {url}: {error}") from None


def _json(entry: Entry, url: str, token: str | None) -> Any:
    with _open(entry, url, token) as response:
        return json.load(response), response.headers.get("Link", "")


def _endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or HF_DEFAULT_ENDPOINT).rstrip("/")


def _hf_commit(entry: Entry, repo: str, token: str | None) -> str:
    if _COMMIT.match(entry.revision):
        return entry.revision
    revision = urllib.parse.quote(entry.revision, safe="")
    info, _ = _json(entry, f"{_endpoint()}/api/models/{repo}/revision/{revision}", token)
    commit = info.get("sha") if isinstance(info, dict) else None
    if not isinstance(commit, str) or not _COMMIT.match(commit):
        raise WeightsError(f"{entry.name}: the hub gave no commit for revision {entry.revision}")
    return commit


def _hf_tree(entry: Entry, repo: str, commit: str, token: str | None) -> list[dict[str, Any]]:
    """Every file of the repository at ``commit``, following the listing's pages."""
    url: str | None = f"{_endpoint()}/api/models/{repo}/tree/{commit}?recursive=true"
    files: list[dict[str, Any]] = []
    while url:
        page, link = _json(entry, url, token)
        files += [item for item in page if item.get("type") == "file"]
        following = re.search(r'<([^>]+)>;\s*rel="next"', link)
        url = urllib.parse.urljoin(url, following.group(1)) if following else None
    return files


def _wanted(path: str, patterns: Sequence[str]) -> bool:
    """The hub client's rule: a pattern ending in ``/`` means everything below it."""
    globs = [p + "*" if p.endswith("/") else p for p in patterns]
    return not globs or any(fnmatch.fnmatchcase(path, glob) for glob in globs)


def _safe_relative(entry: Entry, path: str) -> str:
    parts = PurePosixPath(path).parts
    if not parts or PurePosixPath(path).is_absolute() or ".." in parts:
        raise WeightsError(f"{entry.name}: the hub listed an unsafe file name {path!r}")
    return path


def remotes(entry: Entry, cache: Path | None = None) -> list[Remote]:
    """The files ``entry`` stands for; a hub listing at a commit is kept in ``cache``."""
    if entry.url is not None:
        return [Remote(entry.url, "", "sha256", (entry.sha256 or "").lower())]
    repo = entry.hf or ""
    token = _token(entry)
    commit = _hf_commit(entry, repo, token)
    kept = cache / "hf-tree" / repo.replace("/", "--") / f"{commit}.json" if cache else None
    if kept is not None and kept.is_file():
        tree = json.loads(kept.read_text(encoding="utf-8"))
    else:
        tree = _hf_tree(entry, repo, commit, token)
        if kept is not None:
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(json.dumps(tree), encoding="utf-8")
    chosen = []
    for item in tree:
        path = _safe_relative(entry, str(item.get("path", "")))
        if not _wanted(path, entry.files):
            continue
        lfs = item.get("lfs") or {}
        algorithm, digest = ("sha256", lfs["oid"]) if lfs.get("oid") else ("git-blob", item["oid"])
        url = f"{_endpoint()}/{repo}/resolve/{commit}/{urllib.parse.quote(path)}"
        chosen.append(Remote(url, path, algorithm, digest, int(item.get("size", 0))))
    if not chosen:
        raise WeightsError(
            f"{entry.name}: no file of {repo}@{entry.revision} matches files: {list(entry.files)}"
        )
    return chosen


def human_size(size: float) -> str:
    """Decimal units, as download sizes are given: 1.5 GB is 1.5e9 bytes."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def _copy_hashing(
    source: BinaryIO, target: BinaryIO, remote: Remote, total: int | None, say: Say, label: str
) -> str:
    hasher = remote.hasher()
    done, shown, last = 0, -1, time.monotonic()
    while chunk := source.read(CHUNK):
        target.write(chunk)
        hasher.update(chunk)
        done += len(chunk)
        decile = done * 10 // total if total else -1
        if decile > shown or time.monotonic() - last > 10:
            of = f"{decile * 10}% {human_size(done)} of {human_size(total)}" if total else ""
            say(f"{label}: {of or human_size(done)}")
            shown, last = decile, time.monotonic()
    return str(hasher.hexdigest())


def download(entry: Entry, remote: Remote, target: Path, say: Say) -> None:
    """Fetch ``remote`` to ``target`` through a partial file; a wrong digest is an error."""
    label = f"{entry.name} {remote.relative or remote.url}"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    say(f"{label}: downloading")
    try:
        with _open(entry, remote.url, _token(entry)) as response, partial.open("wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else remote.size
            actual = _copy_hashing(response, out, remote, total, say, label)
        if actual != remote.digest:
            raise WeightsError(
                f"{label}: checksum mismatch: expected {remote.algorithm} {remote.digest}, "
                f"got {actual}"
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    say(f"{label}: verified ({remote.algorithm} {remote.digest})")


def _destination(entry: Entry, remote: Remote) -> Path:
    return Path(entry.path) / remote.relative if remote.relative else Path(entry.path)


def fetch_cached(entry: Entry, cache: Path, say: Say) -> None:
    """Build time: each file from ``cache`` (named by its digest) or the network, then placed."""
    for remote in remotes(entry, cache):
        kept = cache / remote.algorithm / remote.digest
        if kept.is_file():
            say(f"{entry.name} {remote.relative or remote.url}: from the build cache")
        else:
            download(entry, remote, kept, say)
        target = _destination(entry, remote)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kept, target)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One worker at a time per entry: workers sharing a volume start together."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _state_file(entry: Entry) -> Path:
    path = Path(entry.path)
    return path / _STATE if entry.hf else path.with_name(f"{path.name}{_STATE}")


def _recorded(entry: Entry) -> bool:
    """Fetched and verified by an earlier start, and untouched since (size and mtime)."""
    state = _state_file(entry)
    if not state.is_file():
        return False
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
    except ValueError:
        return False
    if data.get("entry") != entry.as_dict():
        return False
    for relative, (size, mtime_ns) in data.get("files", {}).items():
        file = Path(entry.path) / relative if relative else Path(entry.path)
        try:
            stat = file.stat()
        except OSError:
            return False
        if (stat.st_size, stat.st_mtime_ns) != (size, mtime_ns):
            return False
    return True


def ensure(entry: Entry, say: Say) -> None:
    """Runtime: fetch and verify ``entry`` into its path unless an earlier start did."""
    with _locked(_state_file(entry).with_suffix(".lock")):
        if _recorded(entry):
            say(f"{entry.name}: present in {entry.path}, verified at an earlier start")
            return
        files = {}
        for remote in remotes(entry):
            target = _destination(entry, remote)
            download(entry, remote, target, say)
            stat = target.stat()
            files[remote.relative] = (stat.st_size, stat.st_mtime_ns)
        state = {"entry": entry.as_dict(), "files": files}
        _state_file(entry).write_text(json.dumps(state), encoding="utf-8")


def load_manifest(path: Path) -> list[Entry]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Entry.from_dict(item) for item in data]
    except (OSError, ValueError, TypeError) as error:
        raise WeightsError(f"weights manifest {path} is unreadable: {error}") from None


def ensure_runtime(environ: dict[str, str] | None = None) -> None:
    """Before the first job: every ``at: runtime`` entry of the image's manifest, in order."""
    env = os.environ if environ is None else environ
    path = Path(env.get(MANIFEST_ENV) or MANIFEST)
    if not path.is_file():
        return
    for entry in load_manifest(path):
        ensure(entry, log.info)


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m rpworker.weights", description="Fetch one weights entry at build time."
    )
    parser.add_argument("--name", required=True)
    parser.add_argument("--to", required=True, dest="path")
    parser.add_argument("--cache", required=True, type=Path)
    parser.add_argument("--url")
    parser.add_argument("--sha256")
    parser.add_argument("--hf")
    parser.add_argument("--revision", default="main")
    parser.add_argument("--file", action="append", default=[], dest="files")
    parser.add_argument("--token-file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    values = vars(args)
    cache = values.pop("cache")
    entry = Entry(**{**values, "files": tuple(values["files"])})
    try:
        fetch_cached(entry, cache, lambda line: print(line, flush=True))
    except WeightsError as error:
        print(f"error: weights {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
