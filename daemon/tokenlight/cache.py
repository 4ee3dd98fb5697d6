"""The results cache: attributions stored content-addressed on disk, so a repeat is free.

A key is the sha256 of everything that decides a result (model identity, method, every option but
the execution ones, the prompt and the target); the file under it is msgpack (never pickle) holding
the key and :meth:`Attribution.to_msgpack` bytes. Why each rule:

- writes go to a temporary file in the same folder and are renamed into place (``os.replace``), so a
  reader (or a second daemon) never sees half a file;
- a file that does not decode, or that holds another key, is ignored and replaced: a crash, a full
  disk or a foreign file must never turn into a wrong result;
- the folder is kept under a size limit by evicting the least recently used files (a hit touches
  the file's mtime);
- an unusable folder (read-only, full, missing permissions) is logged and caching is skipped: the
  cache is an optimisation, never a reason for an attribution to fail;
- keys are checked to be 64 hex digits before they become file names, so nothing can steer a path
  outside the folder.

No torch and no pygls at import time: the engine's result type is imported when a file is decoded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack

from .paths import default_cache_dir

if TYPE_CHECKING:
    from .engine import Attribution

log = logging.getLogger(__name__)

ENV_MAX_MB = "TOKENLIGHT_CACHE_MAX_MB"
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
ENVELOPE = "tokenlight-result-cache"
ENVELOPE_VERSION = 1
SUFFIX = ".msgpack"
_KEY = re.compile(r"[0-9a-f]{64}")


def default_max_bytes() -> int:
    """``$TOKENLIGHT_CACHE_MAX_MB`` (MiB) when set to a number, else 256 MiB."""
    raw = os.environ.get(ENV_MAX_MB)
    if raw:
        try:
            return max(0, int(float(raw) * 1024 * 1024))
        except ValueError:
            log.warning("%s=%r is not a number of MiB; using %d MiB", ENV_MAX_MB, raw, DEFAULT_MAX_BYTES >> 20)
    return DEFAULT_MAX_BYTES


def cache_key(material: dict[str, Any]) -> str:
    """The sha256 hex digest of ``material`` as canonical JSON (sorted keys, exact text)."""
    canonical = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResultCache:
    """Attributions by key in ``directory``, at most ``max_bytes`` of files (0 turns caching off).

    Not thread-safe: the language server calls it from its one worker thread. Several processes may
    share a folder (atomic renames, tolerant reads).
    """

    def __init__(self, directory: Path | str | None = None, max_bytes: int | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.max_bytes = default_max_bytes() if max_bytes is None else max_bytes
        self.hits = 0
        self.misses = 0
        self._total: int | None = None  # bytes on disk, counted on first write
        self._write_failed = False

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def path_for(self, key: str) -> Path:
        """``<dir>/<first two hex digits>/<key>.msgpack``; a key that is not 64 hex digits is refused."""
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ValueError(f"not a cache key (64 lowercase hex digits): {key!r}")
        return self.directory / key[:2] / f"{key}{SUFFIX}"

    # ------------------------------------------------------------------------------------------
    def get(self, key: str) -> Attribution | None:
        """The cached result, or None (missing, unreadable, corrupt or foreign: the latter removed)."""
        if not self.enabled:
            return None
        path = self.path_for(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        except OSError as exc:
            log.warning("cannot read cached result %s: %s", path, exc)
            self.misses += 1
            return None
        result = self._decode(key, data)
        if result is None:
            log.warning("ignoring corrupt or foreign cache file %s; it will be replaced", path)
            self._remove(path)
            self.misses += 1
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # least recently *used*: a hit keeps the file
        self.hits += 1
        return result

    def put(self, key: str, result: Attribution) -> bool:
        """Store ``result`` under ``key`` atomically; False (logged) when it could not be written."""
        if not self.enabled:
            return False
        path = self.path_for(key)
        data = msgpack.packb(
            {"format": ENVELOPE, "version": ENVELOPE_VERSION, "key": key, "result": result.to_msgpack()},
            use_bin_type=True,
        )
        if len(data) > self.max_bytes:
            log.info(
                "result of %d bytes is larger than the whole cache (%d bytes): not cached", len(data), self.max_bytes
            )
            return False
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIX, dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            level = logging.DEBUG if self._write_failed else logging.WARNING
            log.log(
                level, "cannot write to the results cache in %s (%s); continuing without caching", self.directory, exc
            )
            self._write_failed = True
            if tmp is not None:
                self._remove(Path(tmp))
            return False
        if self._total is None:
            self._total = self.total_bytes()
        else:
            self._total += len(data)
        if self._total > self.max_bytes:
            self._evict()
        return True

    # ------------------------------------------------------------------------------------------
    def entries(self) -> int:
        """How many results the folder holds (scans it: for status, not for hot paths)."""
        return sum(1 for _ in self._files())

    def total_bytes(self) -> int:
        return sum(size for _, size, _ in self._files())

    def _files(self):
        """(mtime, size, path) of every cache file; temporary files and strangers are skipped."""
        try:
            subdirs = list(os.scandir(self.directory))
        except OSError:
            return
        for sub in subdirs:
            if not (len(sub.name) == 2 and sub.is_dir(follow_symlinks=False)):
                continue
            try:
                files = list(os.scandir(sub.path))
            except OSError:
                continue
            for entry in files:
                name = entry.name
                if not (name.endswith(SUFFIX) and _KEY.fullmatch(name[: -len(SUFFIX)])):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                yield st.st_mtime, st.st_size, Path(entry.path)

    def _evict(self) -> None:
        """Delete least recently used files until the folder is under the limit again."""
        files = sorted(self._files())
        total = sum(size for _, size, _ in files)
        for _mtime, size, path in files:
            if total <= self.max_bytes:
                break
            if self._remove(path):
                total -= size
        self._total = total

    def _decode(self, key: str, data: bytes) -> Attribution | None:
        from .engine.result import Attribution

        try:
            envelope = msgpack.unpackb(data, raw=False, strict_map_key=False)
            if (
                not isinstance(envelope, dict)
                or envelope.get("format") != ENVELOPE
                or envelope.get("version") != ENVELOPE_VERSION
                or envelope.get("key") != key
                or not isinstance(envelope.get("result"), bytes)
            ):
                return None
            return Attribution.from_msgpack(envelope["result"])
        except Exception:  # any decoding failure means "not a usable cache file"
            log.debug("cache file for %s does not decode", key, exc_info=True)
            return None

    @staticmethod
    def _remove(path: Path) -> bool:
        try:
            path.unlink()
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            log.debug("cannot remove %s: %s", path, exc)
            return False
