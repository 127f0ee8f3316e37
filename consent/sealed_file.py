"""Lists waiting to be imported, kept encrypted on disk: they hold addresses and IPs.

A sealed file is a header line and a sequence of chunks, each
``length (4 bytes) || nonce (12) || AES-256-GCM(chunk)``. A chunk's associated
data binds it to the file's id, its position and whether it is the last one, so
chunks cannot be reordered, swapped between files or cut off unnoticed. The key
lives elsewhere (wrapped by the master key in the database) and is deleted with
the file once the import is done.
"""

from __future__ import annotations

import io
import os
import secrets
import struct
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"sendgate-sealed-file/1\n"
CHUNK_BYTES = 1 << 20
_NONCE_BYTES = 12
_LENGTH = struct.Struct(">I")


class SealedFileError(ValueError):
    """The sealed file was altered, truncated or does not belong to this key and id."""


def _aad(file_id: str, index: int, last: bool) -> bytes:
    return file_id.encode("ascii") + struct.pack(">QB", index, last)


class SealingWriter:
    """Writes a new sealed file at ``path`` (mode 0600) from plaintext given in any pieces.

    A chunk is sealed only when the next byte arrives or the writer is closed, so
    the last chunk is known to be the last.
    """

    def __init__(self, path: Path, key: bytes, file_id: str) -> None:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._out = os.fdopen(descriptor, "wb")
        self._out.write(MAGIC)
        self._aead = AESGCM(key)
        self._id = file_id
        self._index = 0
        self._pending = bytearray()
        self.written = 0  # plaintext bytes

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._pending += data
        while len(self._pending) > CHUNK_BYTES:
            self._seal(bytes(self._pending[:CHUNK_BYTES]), last=False)
            del self._pending[:CHUNK_BYTES]
        return len(data)

    def _seal(self, chunk: bytes, *, last: bool) -> None:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, chunk, _aad(self._id, self._index, last))
        self._out.write(_LENGTH.pack(len(sealed)) + nonce + sealed)
        self._index += 1
        self.written += len(chunk)

    def close(self) -> None:
        if self._out.closed:
            return
        self._seal(bytes(self._pending), last=True)
        self._pending.clear()
        self._out.close()


def seal(source: IO[bytes], path: Path, key: bytes, file_id: str) -> int:
    """Encrypt everything ``source`` yields into a new file at ``path`` (mode 0600).

    Returns the number of plaintext bytes written.
    """
    writer = SealingWriter(path, key, file_id)
    try:
        while chunk := source.read(CHUNK_BYTES):
            writer.write(chunk)
    finally:
        writer.close()
    return writer.written


class SealedReader(io.RawIOBase):
    """Reads a sealed file's plaintext; seekable back to the start (imports read twice)."""

    def __init__(self, path: Path, key: bytes, file_id: str) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._aead = AESGCM(key)
        self._id = file_id
        self._rewind()

    def _rewind(self) -> None:
        self._file.seek(0)
        if self._file.read(len(MAGIC)) != MAGIC:
            raise SealedFileError("not a sealed file")
        self._index = 0
        self._buffer = b""
        self._offset = 0
        self._position = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR and offset == 0:
            return self._position
        if whence == io.SEEK_SET and offset == 0:
            self._rewind()
            return 0
        raise io.UnsupportedOperation("a sealed file can only be read from its start")

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(target).cast("B")
        while self._offset >= len(self._buffer):
            if self._done:
                return 0
            self._next_chunk()
        count = min(len(view), len(self._buffer) - self._offset)
        view[:count] = self._buffer[self._offset : self._offset + count]
        self._offset += count
        self._position += count
        return count

    def _next_chunk(self) -> None:
        header = self._file.read(_LENGTH.size + _NONCE_BYTES)
        if len(header) < _LENGTH.size + _NONCE_BYTES:
            raise SealedFileError("the sealed file is cut short")
        (length,) = _LENGTH.unpack_from(header)
        sealed = self._file.read(length)
        if len(sealed) != length:
            raise SealedFileError("the sealed file is cut short")
        nonce = header[_LENGTH.size :]
        for last in (False, True):
            try:
                self._buffer = self._aead.decrypt(nonce, sealed, _aad(self._id, self._index, last))
            except InvalidTag:
                continue
            self._done = last
            break
        else:
            raise SealedFileError(f"chunk {self._index} of the sealed file does not verify")
        self._index += 1
        self._offset = 0
        if self._done and self._file.read(1):
            raise SealedFileError("the sealed file has data after its last chunk")

    def close(self) -> None:
        self._file.close()
        super().close()


def open_sealed(path: Path, key: bytes, file_id: str) -> io.BufferedReader:
    """A buffered binary stream of the plaintext (fast ``readline``, ``seek(0)``)."""
    return io.BufferedReader(SealedReader(path, key, file_id), buffer_size=1 << 16)


class EncryptedSpool(io.RawIOBase):
    """A temporary file for an upload whose bytes never reach the disk in clear.

    Written once, then read back from the start (``seek(0)`` switches), the way a
    form parser spools a file field. The key exists only in this object, and the
    file is unlinked as soon as it is opened for reading, so nothing readable is
    left behind, even by a crash.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._key = AESGCM.generate_key(bit_length=256)
        self._id = secrets.token_hex(8)
        self._path = directory / f"upload-{self._id}.spool"
        self._writer: SealingWriter | None = SealingWriter(self._path, self._key, self._id)
        self._reader: io.BufferedReader | None = None

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return self._writer is not None

    def seekable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self._writer is None:
            raise io.UnsupportedOperation("the spool was read already")
        return self._writer.write(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self._writer is not None and (offset, whence) == (0, io.SEEK_SET):
            self._writer.close()
            self._writer = None
            self._reader = open_sealed(self._path, self._key, self._id)
            self._path.unlink()
            return 0
        if self._reader is None:
            raise io.UnsupportedOperation("the spool can only be rewound once it is written")
        return self._reader.seek(offset, whence)

    def tell(self) -> int:
        if self._reader is None:
            return self._writer.written if self._writer is not None else 0
        return self._reader.tell()

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._reader is None:
            self.seek(0)
        assert self._reader is not None
        return self._reader.readinto(target)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._path.unlink(missing_ok=True)
        if self._reader is not None:
            self._reader.close()
        super().close()
