"""Read a few root-group string attributes of an HDF5 file in pure Python.

Importing h5py (and numpy with it) costs more than the rest of an
``archlint check`` of a Keras ``.h5``; the model config is one string
attribute of the root group, which this module reads directly from the file
(HDF5 File Format Specification 3.0: superblock v0-v3, object headers v1/v2,
compact attribute messages, fixed-length and variable-length strings in the
global heap).

It is a fast path only: anything it does not understand (user blocks, shared
or dense attribute storage, non-scalar attributes, unexpected layouts) makes
:func:`read_root_attrs` return ``None`` or leave the attribute out, and the
caller reads the file with h5py instead. It never decides that a file is bad.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MAX_MESSAGES = 100_000
_MAX_BLOCK = 64 * 1024 * 1024
#: most bytes all reads of one file may copy (overlapping continuation blocks
#: would each be copied in full: a 1.2 MB file once grew to 6 GB)
MAX_TOTAL_READ = 128 * 1024 * 1024
#: most header blocks (first block and continuations) one object header may have
MAX_BLOCKS = 10_000


class _Unsupported(Exception):
    pass


class TooLarge(Exception):
    """The file asks the reader to copy more than it ever should: a memory bomb.
    Unlike :class:`_Unsupported` this is an answer (the caller reports it),
    not a reason to try h5py."""


class _Reader:
    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh = fh
        self.size = size
        self.O = 8  # size of offsets
        self.L = 8  # size of lengths
        self.base = 0
        self.budget = MAX_TOTAL_READ

    def read(self, addr: int, n: int) -> bytes:
        if addr < 0 or n < 0 or n > _MAX_BLOCK or self.base + addr + n > self.size:
            raise _Unsupported("out of range")
        self.budget -= n
        if self.budget < 0:
            raise TooLarge(f"its object headers make the reader copy more than {MAX_TOTAL_READ // 2**20} MiB")
        self.fh.seek(self.base + addr)
        data = self.fh.read(n)
        if len(data) != n:
            raise _Unsupported("short read")
        return data

    @staticmethod
    def uint(b: bytes, off: int, n: int) -> int:
        if off + n > len(b):
            raise _Unsupported("truncated field")
        return int.from_bytes(b[off : off + n], "little")

    # -- superblock --
    def root_header(self) -> int:
        head = self.read(0, min(self.size, 128))
        if not head.startswith(_SIGNATURE):
            raise _Unsupported("no signature at 0")
        version = head[8]
        if version in (0, 1):
            self.O, self.L = head[13], head[14]
            pos = 24 + (4 if version == 1 else 0)
            self.base = self.uint(head, pos, self.O)
            pos += 4 * self.O  # base, free-space, end-of-file, driver info
            return self.uint(head, pos + self.O, self.O)  # root entry: name offset, header address
        if version in (2, 3):
            self.O, self.L = head[9], head[10]
            self.base = self.uint(head, 12, self.O)
            return self.uint(head, 12 + 3 * self.O, self.O)
        raise _Unsupported(f"superblock version {version}")

    # -- object headers --
    def messages(self, addr: int) -> list[tuple[int, int, bytes]]:
        """(type, flags, data) of every message in the object header at ``addr``."""
        first = self.read(addr, 16)
        if first[:4] == b"OHDR":
            return self._messages_v2(addr)
        if first[0] != 1:
            raise _Unsupported("object header version")
        size = self.uint(first, 8, 4)
        out: list[tuple[int, int, bytes]] = []
        blocks = [(addr + 16, size)]
        for start, length in _each_block(blocks):
            self._scan(self.read(start, length), 1, 8, blocks, out)
        return out

    def _scan(self, block: bytes, version: int, hdr: int, blocks: list, out: list) -> None:
        """Messages of one header block (v1: type u16, size u16, flags, 3 reserved;
        v2: type u8, size u16, flags[, creation order u16]); continuations go to ``blocks``."""
        p = 0
        while p + hdr <= len(block):
            if version == 1:
                mtype, msize, mflags = self.uint(block, p, 2), self.uint(block, p + 2, 2), block[p + 4]
            else:
                mtype, msize, mflags = block[p], self.uint(block, p + 1, 2), block[p + 3]
            data = block[p + hdr : p + hdr + msize]
            p += hdr + msize
            if mtype == 0x10:
                blocks.append((self.uint(data, 0, self.O), self.uint(data, self.O, self.L)))
            out.append((mtype, mflags, data))
            if len(out) > _MAX_MESSAGES:
                raise _Unsupported("too many messages")

    def _messages_v2(self, addr: int) -> list[tuple[int, int, bytes]]:
        head = self.read(addr, 6 + 16 + 4 + 8)
        if head[4] != 2:
            raise _Unsupported("object header v2 version")
        flags = head[5]
        pos = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 0x03)
        chunk = self.uint(head, pos, width)
        pos += width
        tracked = bool(flags & 0x04)
        out: list[tuple[int, int, bytes]] = []
        blocks = [(addr + pos, chunk)]
        first = True
        for start, length in _each_block(blocks):
            if first:
                block = self.read(start, length)
                first = False
            else:  # continuation chunk: "OCHK" + messages + checksum
                raw = self.read(start, length)
                if raw[:4] != b"OCHK":
                    raise _Unsupported("bad continuation chunk")
                block = raw[4:-4]
            self._scan(block, 2, 4 + (2 if tracked else 0), blocks, out)
        return out

    # -- attributes --
    def attribute(self, data: bytes) -> tuple[str, str | bytes] | None:
        version = data[0]
        flags = data[1]
        if flags & 0x03:
            return None  # shared datatype or dataspace
        nsize, tsize, ssize = self.uint(data, 2, 2), self.uint(data, 4, 2), self.uint(data, 6, 2)
        if version == 1:
            pad = lambda n: (n + 7) & ~7  # noqa: E731
            pos = 8
            name = data[pos : pos + nsize]
            pos += pad(nsize)
            dtype = data[pos : pos + tsize]
            pos += pad(tsize)
            space = data[pos : pos + ssize]
            pos += pad(ssize)
        elif version in (2, 3):
            pos = 8 + (1 if version == 3 else 0)
            name = data[pos : pos + nsize]
            pos += nsize
            dtype = data[pos : pos + tsize]
            pos += tsize
            space = data[pos : pos + ssize]
            pos += ssize
        else:
            return None
        key = name.rstrip(b"\x00").decode("utf-8", "replace")
        if not self._scalar(space):
            return None
        value = self._value(dtype, data[pos:])
        return None if value is None else (key, value)

    @staticmethod
    def _scalar(space: bytes) -> bool:
        if len(space) < 2:
            return False
        version, rank = space[0], space[1]
        if version == 2:
            return len(space) >= 4 and space[3] == 0  # type 0: scalar
        if version == 1:
            return rank == 0
        return False

    def _value(self, dtype: bytes, raw: bytes) -> str | bytes | None:
        if len(dtype) < 8:
            return None
        cls = dtype[0] & 0x0F
        size = self.uint(dtype, 4, 4)
        if cls == 3:  # fixed-length string
            return raw[:size].rstrip(b"\x00 ")
        if cls == 9 and dtype[1] & 0x0F == 1:  # variable-length string: length, heap address, index
            if len(raw) < 4 + self.O + 4:
                return None
            length = self.uint(raw, 0, 4)
            collection = self.uint(raw, 4, self.O)
            index = self.uint(raw, 4 + self.O, 4)
            obj = self._heap_object(collection, index)
            if obj is None:
                return None
            return obj[:length].decode("utf-8") if dtype[1] & 0xF0 else obj[:length].decode("ascii", "replace")
        return None

    def _heap_object(self, addr: int, index: int) -> bytes | None:
        head = self.read(addr, 8 + self.L)
        if head[:4] != b"GCOL":
            return None
        size = self.uint(head, 8, self.L)
        block = self.read(addr, size)
        pos = 8 + self.L
        while pos + 8 + self.L <= len(block):
            idx = self.uint(block, pos, 2)
            osize = self.uint(block, pos + 8, self.L)
            start = pos + 8 + self.L
            if idx == 0:
                return None  # free space: the rest of the collection
            if idx == index:
                return block[start : start + osize] if start + osize <= len(block) else None
            pos = start + ((osize + 7) & ~7)
        return None


def read_root_attrs(fh: BinaryIO, size: int, names: tuple[str, ...]) -> dict[str, str | bytes] | None:
    """The root group's scalar string attributes among ``names`` that could be read;
    ``None`` when the file's layout is outside what this reader understands.
    Raises :class:`TooLarge` for a file that would make it copy without bound."""
    r = _Reader(fh, size)
    try:
        msgs = r.messages(r.root_header())
        out: dict[str, str | bytes] = {}
        for mtype, mflags, data in msgs:
            if mtype != 0x0C or mflags & 0x02 or len(data) < 8:
                continue
            got = r.attribute(data)
            if got is not None and got[0] in names:
                out[got[0]] = got[1]
        return out
    except (_Unsupported, struct.error, IndexError, UnicodeDecodeError, OSError, ValueError):
        return None


def _each_block(blocks: list[tuple[int, int]]):
    """Header blocks in order, including continuations appended while iterating;
    a continuation that points back at a block already read (a cycle in a
    corrupt file) stops the fast reader."""
    seen: set[int] = set()
    while blocks:
        start, length = blocks.pop(0)
        if start in seen:
            raise _Unsupported("continuation cycle")
        seen.add(start)
        if len(seen) > MAX_BLOCKS:
            raise TooLarge(f"an object header has more than {MAX_BLOCKS:,} continuation blocks")
        yield start, length
