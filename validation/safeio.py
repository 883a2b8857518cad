"""Hostile-input safe reading and writing for ``archlint validate``.

Datasets are data: CIFAR batches are read with :class:`CifarUnpickler`, which builds only the
numpy arrays, lists, dicts, bytes and strings those files hold (no other global is ever looked
up, so a pickle's payload cannot run); ``.npy``/``.npz`` files are read with
``allow_pickle=False``; images are size-checked from their header before any pixel is decoded.

Every file validate writes goes through :func:`write_bytes`: the path is taken apart below the
output folder and each folder is opened with ``O_NOFOLLOW`` (relative to its parent's file
descriptor), the bytes go to an exclusive temporary file (``O_CREAT | O_EXCL | O_NOFOLLOW``) in the
destination folder, and ``os.replace`` moves it into place. A symbolic link anywhere below the
output folder, or a path that leaves it (``..``, absolute), is refused with an
:class:`~.errors.OutputError`, so a link committed as ``archlint-validate/<plot>.png ->
../../somewhere`` is never written through.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import io
import os
import pickle
import secrets
import stat
from pathlib import Path

import numpy as np

from .errors import DataError, OutputError

# ----------------------------------------------------------------------------------------------
# reading datasets

#: the largest CIFAR batch file read (CIFAR-100 ``train`` is 154 MB)
MAX_PICKLE_BYTES = 256 << 20
#: the largest single image file read from an image folder
MAX_IMAGE_FILE_BYTES = 16 << 20
#: pixels (width x height) decoded for one dataset in all: 131,072 images of 32 x 32; CIFAR has 60,000
MAX_TOTAL_PIXELS = 1 << 27
#: members listed from one dataset tarball (the CIFAR-10 JPEG tarball has about 60,000)
MAX_TAR_MEMBERS = 300_000

# the only globals a CIFAR batch refers to (numpy's array pickling); numpy 2 renamed numpy.core
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
}


def _safe_dtype(*args, **kwargs):
    dt = np.dtype(*args, **kwargs)
    if dt.hasobject:
        raise pickle.UnpicklingError("an object array (it could hold anything) is not data")
    return dt


class CifarUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays of plain dtypes, lists, dicts, tuples, bytes, str and numbers only.
    Any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen`` ...) is refused before
    it is looked up, so nothing the pickle names is imported or called."""

    def find_class(self, module: str, name: str):
        if (module, name) in _NUMPY_GLOBALS:
            return {"dtype": _safe_dtype, "ndarray": _new_ndarray, "scalar": _scalar,
                    "_reconstruct": _reconstruct_plain}[name]
        if (module, name) == ("_codecs", "encode"):  # how protocol 2 (Python 3) spells bytes
            return _latin1_bytes
        raise pickle.UnpicklingError(f"refers to {module}.{name}, which a CIFAR batch never holds (refused, not loaded)")


def _latin1_bytes(text, encoding="utf-8"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("only latin-1 text to bytes is data")
    return text.encode("latin-1")


def _check_shape(shape, dtype) -> None:
    n = 1
    for d in (shape if isinstance(shape, (tuple, list)) else (shape,)):
        if not isinstance(d, int) or d < 0:
            raise pickle.UnpicklingError("an array shape of non-negative integers is expected")
        n *= d
    if n * np.dtype(dtype).itemsize > MAX_PICKLE_BYTES:
        raise pickle.UnpicklingError(f"an array larger than {MAX_PICKLE_BYTES >> 20} MiB")


def _new_ndarray(shape, dtype=float, *args, **kwargs):
    dt = _safe_dtype(dtype)
    _check_shape(shape, dt)
    return np.ndarray(shape, dt, *args, **kwargs)


def _reconstruct_plain(subtype, shape, dtype):
    if subtype is not _new_ndarray:
        raise pickle.UnpicklingError("an ndarray subclass is not data")
    dt = _safe_dtype(dtype)
    _check_shape(shape, dt)
    return np.ndarray.__new__(np.ndarray, shape, dt)


def _scalar(dtype, *args):
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy 1
        from numpy.core.multiarray import scalar
    return scalar(_safe_dtype(dtype), *args)


def load_cifar_pickle(f, name: str, size: int | None) -> dict:
    """Read one CIFAR batch from a binary file object; one :class:`DataError` for anything else."""
    if size is not None and size > MAX_PICKLE_BYTES:
        raise DataError(f"{name}: {size:,} bytes is larger than any CIFAR batch ({MAX_PICKLE_BYTES >> 20} MiB at most)")
    blob = f.read(MAX_PICKLE_BYTES + 1)
    if len(blob) > MAX_PICKLE_BYTES:
        raise DataError(f"{name}: larger than any CIFAR batch ({MAX_PICKLE_BYTES >> 20} MiB at most)")
    try:
        out = CifarUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except MemoryError:
        raise DataError(f"{name}: not a CIFAR python pickle (it asks for more memory than there is)") from None
    except RecursionError:
        raise DataError(f"{name}: not a CIFAR python pickle (nested too deeply)") from None
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a data error, in one line
        text = (str(e).splitlines() or [""])[0][:200]
        raise DataError(f"{name}: not a CIFAR python pickle ({text or type(e).__name__})") from None
    if not isinstance(out, dict):
        raise DataError(f"{name}: not a CIFAR python pickle (holds a {type(out).__name__}, not a dict)")
    return out


def load_array(path, *, max_bytes: int = 1 << 31):
    """``np.load`` of a ``.npy``/``.npz`` with ``allow_pickle=False`` (an object array is refused, never
    unpickled); one :class:`DataError` for a file numpy cannot read."""
    path = Path(path)
    try:
        if path.stat().st_size > max_bytes:
            raise DataError(f"{path}: larger than {max_bytes >> 20} MiB")
        arr = np.load(path, allow_pickle=False)
        if isinstance(arr, np.lib.npyio.NpzFile):
            with arr:
                return {k: arr[k] for k in arr.files}
        return arr
    except DataError:
        raise
    except (ValueError, OSError, EOFError) as e:
        text = (str(e).splitlines() or [""])[0][:200]
        raise DataError(f"{path}: not a plain numpy array file ({text})") from None


class PixelBudget:
    """Pixels decoded for one dataset, counted before each decode."""

    def __init__(self, limit: int | None = None):
        self.limit, self.used = MAX_TOTAL_PIXELS if limit is None else limit, 0

    def reserve(self, n_images: int, width: int = 32, height: int = 32) -> None:
        if self.used + n_images * width * height > self.limit:
            raise DataError(f"the dataset asks for more than {self.limit:,} pixels in all (at most "
                            f"{self.limit // 1024:,} images of 32x32); use --limit / --test-limit")
        self.used += n_images * width * height


def decode_image(blob: bytes, name: str, size=(32, 32)) -> np.ndarray:
    """Decode one image after checking its size from the header (PIL opens lazily: nothing is
    decoded before ``load``), so a small file of a huge solid image is refused without its pixels."""
    from PIL import Image  # optional dependency, needed only here

    if len(blob) > MAX_IMAGE_FILE_BYTES:
        raise DataError(f"{name}: image file larger than {MAX_IMAGE_FILE_BYTES >> 20} MiB")
    try:
        with Image.open(io.BytesIO(blob)) as im:
            if im.size != tuple(size):
                raise DataError(f"image-folder images must be {size[0]}x{size[1]} RGB; {name} is "
                                f"{im.size[0]}x{im.size[1]} (size read from its header, not decoded)")
            if getattr(im, "n_frames", 1) != 1:
                raise DataError(f"{name}: an animated image is not a training image")
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except DataError:
        raise
    except Image.DecompressionBombError:
        raise DataError(f"{name}: its header claims more pixels than Pillow's decompression-bomb limit "
                        "(refused from its header, not decoded)") from None
    except (OSError, ValueError, SyntaxError, MemoryError) as e:
        text = (str(e).splitlines() or [""])[0][:200]
        raise DataError(f"{name}: not a readable image ({text or type(e).__name__})") from None
    if arr.shape != (size[1], size[0], 3):
        raise DataError(f"image-folder images must be {size[0]}x{size[1]} RGB, got {arr.shape}")
    return arr


def read_member(tf, member, limit: int, name: str) -> bytes:
    """A tarball member's bytes, at most ``limit`` (the header's size is checked first, then the read)."""
    if member.size > limit:
        raise DataError(f"{name}: {member.size:,} bytes, more than {limit >> 20} MiB")
    f = tf.extractfile(member)
    if f is None:
        raise DataError(f"{name}: not a regular file in the tarball")
    blob = f.read(limit + 1)
    if len(blob) > limit:
        raise DataError(f"{name}: more than {limit >> 20} MiB")
    return blob


def iter_tar(tf, path):
    """Members of an open tarball, at most :data:`MAX_TAR_MEMBERS` (a gzip of empty headers lists
    millions in a few KB)."""
    for i, m in enumerate(tf):
        if i >= MAX_TAR_MEMBERS:
            raise DataError(f"{path}: more than {MAX_TAR_MEMBERS:,} entries in the tarball (a dataset has fewer)")
        yield m


# ----------------------------------------------------------------------------------------------
# writing: one writer for every file validate writes

_HAS_DIR_FD = os.open in os.supports_dir_fd and hasattr(os, "O_NOFOLLOW") and hasattr(os, "O_DIRECTORY")


def _parts(rel) -> list[str]:
    rel = Path(rel)
    if rel.is_absolute() or rel.drive:
        raise OutputError(f"refusing to write {rel}: an absolute path inside the output folder")
    parts = [p for p in rel.parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise OutputError(f"refusing to write {rel}: it leaves the output folder")
    return parts


def _check_root(root: Path) -> Path:
    root = Path(root)
    if root.is_symlink():
        raise OutputError(f"output folder {root} is a symbolic link (to {os.readlink(root)}); refusing to write "
                          "through it: pass the real folder as --out")
    return root


def _open_dirs(root: Path, dirs: list[str], create: bool) -> int:
    """An fd of ``root/dirs...``, each component opened with O_NOFOLLOW relative to its parent."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(root, flags)
    try:
        for i, d in enumerate(dirs):
            try:
                nfd = os.open(d, flags, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(d, 0o777, dir_fd=fd)
                except FileExistsError:
                    pass
                nfd = os.open(d, flags, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise OutputError(f"refusing to write below {root / '/'.join(dirs[:i + 1])}: it is a symbolic "
                                      "link or not a folder") from None
                raise
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def ensure_dir(root, rel=None) -> Path:
    """Create ``root`` (and ``root/rel``) without following a link below ``root``."""
    root = _check_root(Path(root))
    try:
        root.mkdir(parents=True, exist_ok=True)
        if rel is not None:
            parts = _parts(rel)
            if _HAS_DIR_FD:
                os.close(_open_dirs(root, parts, create=True))
            else:
                _fallback_check(root, root.joinpath(*parts))
                root.joinpath(*parts).mkdir(parents=True, exist_ok=True)
    except OutputError:
        raise
    except OSError as e:
        raise OutputError(f"output folder {root} is not writable: {e.strerror or e}") from e
    return root if rel is None else root / rel


def _fallback_check(root: Path, target: Path) -> None:
    real_root = os.path.realpath(root)
    p = root
    for part in target.relative_to(root).parts:
        p = p / part
        if p.is_symlink():
            raise OutputError(f"refusing to write through {p}: it is a symbolic link")
    if os.path.commonpath([real_root, os.path.realpath(target)]) != real_root:
        raise OutputError(f"refusing to write {target}: it resolves outside {root}")


def write_bytes(root, rel, data: bytes, *, mode: int = 0o644) -> Path:
    """Write ``root/rel`` atomically without following any link below ``root``; returns the path."""
    root = _check_root(Path(root))
    parts = _parts(rel)
    target = root.joinpath(*parts)
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not _HAS_DIR_FD:  # Windows: best effort, checked by path
            _fallback_check(root, target)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
            return target
        dfd = _open_dirs(root, parts[:-1], create=True)
        try:
            name = parts[-1]
            try:
                st = os.lstat(name, dir_fd=dfd)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISLNK(st.st_mode):
                raise OutputError(f"refusing to write {target}: it is a symbolic link (to "
                                  f"{os.readlink(name, dir_fd=dfd)}); remove it and rerun")
            if st is not None and not stat.S_ISREG(st.st_mode):
                raise OutputError(f"refusing to write {target}: it exists and is not a regular file")
            for _ in range(100):
                tmp = f".{name[:100]}.{secrets.token_hex(6)}.tmp"
                try:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                                 mode, dir_fd=dfd)
                    break
                except FileExistsError:
                    continue
            else:  # pragma: no cover - 100 random names taken
                raise OutputError(f"cannot create a temporary file beside {target}")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except BaseException:
                try:
                    os.unlink(tmp, dir_fd=dfd)
                except OSError:
                    pass
                raise
        finally:
            os.close(dfd)
    except OutputError:
        raise
    except OSError as e:
        raise OutputError(f"cannot write {target}: {e.strerror or e}; finished runs are kept in {root}") from e
    return target


def check_writable(root, names) -> None:
    """Refuse early (before any training) when a file the run will write is a link or a folder."""
    root = _check_root(Path(root))
    for rel in names:
        p = root.joinpath(*_parts(rel))
        for q in [*reversed(p.parents), p]:
            if q == root or root not in [q, *q.parents]:
                continue
            if q.is_symlink():
                raise OutputError(f"refusing to write {p}: {q} is a symbolic link (to {os.readlink(q)}); "
                                  "remove it and rerun")
        if p.exists() and not p.is_file():
            raise OutputError(f"refusing to write {p}: it exists and is not a regular file")


def read_bytes_nofollow(root, rel, limit: int = 64 << 20) -> bytes | None:
    """Bytes of ``root/rel`` if it is a regular file reached without links (else None)."""
    root = Path(root)
    try:
        parts = _parts(rel)
        if root.is_symlink():
            return None
        if not _HAS_DIR_FD:
            p = root.joinpath(*parts)
            if any(q.is_symlink() for q in [p, *p.parents] if root in q.parents):
                return None
            with open(p, "rb") as f:
                return f.read(limit + 1)[:limit + 1] if os.path.getsize(p) <= limit else None
        dfd = _open_dirs(root, parts[:-1], create=False)
        try:
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), dir_fd=dfd)
        finally:
            os.close(dfd)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return None
            blob = f.read(limit + 1)
        return None if len(blob) > limit else blob
    except (OSError, OutputError):
        return None


# ----------------------------------------------------------------------------------------------
# run-record integrity: an HMAC of each record's bytes, keyed by a per-user secret outside the
# output folder, listed in <run dir>/index.json by the run that wrote the record


def user_key(cache_dir: Path) -> bytes:
    """This user's record-signing key (32 random bytes, created 0600 on first use)."""
    cache_dir = Path(cache_dir)
    path = cache_dir / "validate-records.key"
    try:
        cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as f:
            if os.name != "nt" and os.fstat(f.fileno()).st_mode & 0o077:
                os.fchmod(f.fileno(), 0o600)
            key = f.read(64)
    except OSError as e:
        raise OutputError(f"cannot read or create the record key {path}: {e.strerror or e}") from e
    if len(key) < 16:
        raise OutputError(f"the record key {path} is damaged (remove it: finished runs are then retrained)")
    return key


def record_mac(key: bytes, name: str, blob: bytes) -> str:
    return hmac.new(key, name.encode() + b"\0" + blob, hashlib.sha256).hexdigest()


def check_mac(key: bytes, name: str, blob: bytes, mac) -> bool:
    return isinstance(mac, str) and hmac.compare_digest(record_mac(key, name, blob), mac)
