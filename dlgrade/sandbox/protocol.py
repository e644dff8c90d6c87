"""Wire format between the trusted grader and the sandboxed worker: JSON headers and .npy blobs, nothing else.

A message is one header frame (UTF-8 JSON object) followed by ``header["blobs"]`` blob frames, each the bytes of
one ``.npy`` file. A frame is an 8-byte big-endian length and the payload. Every header carries the job's nonce.
Arrays are read with ``allow_pickle=False`` and only plain dtypes are accepted, so nothing executable crosses.

This module needs only the standard library and numpy: the worker imports it inside the sandbox.
"""

from __future__ import annotations

import builtins
import io
import json
import re
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# The worker imports this module and then runs student code, which may monkeypatch builtins, json or numpy.
# Module globals shadow builtins, so these bindings keep the originals for everything below.
isinstance, len, type, list, dict, tuple, int, str = (  # noqa: A001
    builtins.isinstance, builtins.len, builtins.type, builtins.list, builtins.dict, builtins.tuple,
    builtins.int, builtins.str,
)
_dumps, _loads = json.dumps, json.loads
_write_array, _read_array = np.lib.format.write_array, np.lib.format.read_array

MAX_HEADER_BYTES = 4 << 20
MAX_BLOB_BYTES = 64 << 20
MAX_MESSAGE_BYTES = 256 << 20
MAX_BLOBS = 4096
KEPT_UNASKED = 1 << 20  # bytes of a message's blobs a reader with a budget keeps without asking it (Reader.receive)
# Only these cross the boundary: the worker converts everything else (or rejects it).
PLAIN_DTYPES = frozenset({np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_)})
# The header numpy's write_array gives a plain little-endian array (descr, fortran_order, shape; space-padded).
_PLAIN_NPY_HEADER = re.compile(rb"\{'descr': '(<f8|<i8|\|b1)', 'fortran_order': (False|True), "
                               rb"'shape': \(((?:\d+, ?)*\d*)\), \} *\n")
_NPY_DESCR = {b"<f8": np.dtype("<f8"), b"<i8": np.dtype("<i8"), b"|b1": np.dtype("|b1")}
_PLAIN_DESCRS = frozenset(descr.decode() for descr in _NPY_DESCR)
# numpy's .npy layout (numpy/lib/format.py): magic and version 1.0, the header's length, the header padded so the
# data starts at a multiple of 64 bytes, with spare room for the growth axis to reach 21 digits.
_NPY_V1_MAGIC, _NPY_V1_LENGTH = b"\x93NUMPY\x01\x00", struct.Struct("<H")
_NPY_ALIGN, _GROWTH_AXIS_DIGITS = 64, 21

_LENGTH = struct.Struct(">Q")


class TensorArg:
    """Marks an argument the worker should hand to student code as a torch tensor rather than an ndarray."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed, size-capped message."""


class ChannelClosed(ProtocolError):
    """The other side closed the channel (it exited, crashed or was killed)."""


class Deadline(ProtocolError):
    """No complete message arrived before the deadline."""


def encode_array(array: np.ndarray) -> bytes:
    """Serialise one plain array as .npy bytes (never pickled)."""
    # Not ascontiguousarray: it turns a 0-d array into shape (1,), and a scalar answer must stay a scalar.
    contiguous = array if array.flags.c_contiguous else array.copy(order="C")
    descr = contiguous.dtype.str
    if type(contiguous) is np.ndarray and descr in _PLAIN_DESCRS:
        return _plain_npy_header(descr, contiguous.shape) + contiguous.tobytes()
    buffer = io.BytesIO()
    _write_array(buffer, contiguous, allow_pickle=False)
    return buffer.getvalue()


def _plain_npy_header(descr: str, shape: tuple[int, ...]) -> bytes:
    """The format 1.0 header numpy's write_array gives a C-ordered plain array, byte for byte, without its
    generic writer (9 µs an array against 1.6; a losses submission sends ~300 arrays out and ~400 back):
    the dict's repr, room for the first axis to grow to 21 digits, spaces and a newline to a multiple of 64."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    if shape:
        text += " " * (_GROWTH_AXIS_DIGITS - len(repr(shape[0])))
    size = len(text) + 1  # the newline
    padding = _NPY_ALIGN - (len(_NPY_V1_MAGIC) + _NPY_V1_LENGTH.size + size) % _NPY_ALIGN
    return _NPY_V1_MAGIC + _NPY_V1_LENGTH.pack(size + padding) + text.encode("latin1") + b" " * padding + b"\n"


def decode_array(blob: bytes) -> np.ndarray:
    """Parse .npy bytes into a plain float64/int64/bool array, refusing pickles and exotic dtypes."""
    array = read_plain_npy(blob)
    if array is None:  # not the header numpy writes for a plain array: numpy's own reader decides
        try:
            array = _read_array(io.BytesIO(blob), allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise ProtocolError(f"malformed array: {error}") from None
    if type(array) is not np.ndarray or array.dtype not in PLAIN_DTYPES:
        raise ProtocolError(f"array of dtype {array.dtype} is not allowed across the boundary")
    return array


def read_plain_npy(blob: bytes) -> np.ndarray | None:
    """The .npy that numpy's write_array makes of a float64/int64/bool array, read without numpy's header parser
    (it runs ast.literal_eval: 0.2 ms an array, and a losses submission returns about 400). None for anything
    else, which then goes through numpy's reader. Its length must match its shape before anything is allocated
    (ProtocolError otherwise): the trusted side reads the worker's arrays with this alone."""
    if blob[:6] != b"\x93NUMPY" or len(blob) < 10:
        return None
    major = blob[6]
    if major == 1:
        (length,), start = struct.unpack_from("<H", blob, 8), 10
    elif major in (2, 3) and len(blob) >= 12:
        (length,), start = struct.unpack_from("<I", blob, 8), 12
    else:
        return None
    match = _PLAIN_NPY_HEADER.fullmatch(blob[start:start + length])
    if match is None:
        return None
    descr, fortran, dims = match.groups()
    try:
        shape = tuple(int(n) for n in dims.split(b",") if n.strip())
    except ValueError:  # a dimension of more than 4,300 digits
        raise ProtocolError("malformed array: a dimension beyond any size") from None
    dtype = _NPY_DESCR[descr]
    count = 1
    for n in shape:
        count *= n
    data = start + length
    if count * dtype.itemsize != len(blob) - data:  # Python ints: a forged huge shape cannot overflow
        raise ProtocolError(f"malformed array: shape {shape} does not match {len(blob) - data} data bytes")
    try:
        flat = np.frombuffer(blob, dtype=dtype, count=count, offset=data)
        # A fresh, writable, native-order copy, laid out as written.
        return flat.reshape(shape, order="F" if fortran == b"True" else "C").astype(dtype.newbyteorder("="))
    except ValueError as error:  # e.g. an empty array with a dimension beyond what numpy can index
        raise ProtocolError(f"malformed array: {error}") from None


def pack(header: dict[str, Any], blobs: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    """Frame a header and its blobs into one message."""
    body = _dumps({**header, "blobs": len(blobs)}, allow_nan=False).encode()
    parts = [_LENGTH.pack(len(body)), body]
    for blob in blobs:
        parts += [_LENGTH.pack(len(blob)), blob]
    return b"".join(parts)


def send(sock: socket.socket, header: dict[str, Any], blobs: list[bytes] = ()) -> None:  # type: ignore[assignment]
    """Write one whole message to a connected stream socket."""
    sock.sendall(pack(header, blobs))


READ_AHEAD = 1 << 16  # bytes a Reader may receive beyond the frame it reads


class Reader:
    """Reads messages from a stream socket with size caps and an optional absolute deadline. It reads up to
    READ_AHEAD bytes beyond what it was asked for (a small message's frames then cost one recv, not one each) and
    keeps them for the next read: a socket is read through its one Reader only."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.ahead = bytearray()  # bytes received but not yet asked for

    def _recv(self, size: int, deadline: float | None) -> bytes:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Deadline("timed out")
            self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(size)
        except TimeoutError:
            raise Deadline("timed out") from None
        except OSError as error:
            raise ChannelClosed(str(error)) from None
        if not chunk:
            raise ChannelClosed("channel closed")
        return chunk

    def _exactly(self, n: int, deadline: float | None) -> bytes:
        ahead = self.ahead
        if len(ahead) >= n:
            data = bytes(ahead[:n])
            del ahead[:n]
            return data
        chunks, remaining = [bytes(ahead)], n - len(ahead)
        ahead.clear()
        while remaining:
            chunk = self._recv(READ_AHEAD if remaining < READ_AHEAD else min(remaining, 1 << 20), deadline)
            if len(chunk) > remaining:  # the start of what comes next: kept for the next read
                ahead += memoryview(chunk)[remaining:]
                chunk = chunk[:remaining]
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _length(self, cap: int, deadline: float | None) -> int:
        (length,) = _LENGTH.unpack(self._exactly(_LENGTH.size, deadline))
        if length > cap:
            raise ProtocolError(f"frame of {length} bytes exceeds the {cap}-byte cap")
        return length

    def _frame(self, cap: int, deadline: float | None) -> bytes:
        return self._exactly(self._length(cap, deadline), deadline)

    def _skip(self, n: int, deadline: float | None) -> None:
        """Read n bytes and keep none of them."""
        while n:
            n -= len(self._exactly(min(n, 1 << 20), deadline))

    def receive(self, deadline: float | None = None,
                budget: Callable[[dict[str, Any]], int] | None = None) -> tuple[dict[str, Any], list[bytes | None]]:
        """Read one message: (header, blobs). Raises Deadline, ChannelClosed or ProtocolError.

        With ``budget``, blobs are kept up to KEPT_UNASKED bytes, and beyond that up to ``budget(header)`` bytes in
        all (asked once, only by a message that large: most never are); a blob that would go beyond, or beyond
        MAX_BLOB_BYTES, is read past and given as None. Whatever the other side sends, no more than that is held
        (the trusted side derives the budget from the case's expected answer)."""
        try:
            header = _loads(self._frame(MAX_HEADER_BYTES, deadline), parse_constant=_refuse_constant)
        except RecursionError:
            raise ProtocolError("malformed header: nested too deeply") from None
        except (UnicodeDecodeError, ValueError) as error:  # ValueError: JSONDecodeError, an int of 4,300 digits
            raise ProtocolError(f"malformed header: {str(error)[:200]}") from None
        count = header.get("blobs") if isinstance(header, dict) else None
        if type(count) is not int or not 0 <= count <= MAX_BLOBS:
            raise ProtocolError("header without a valid blob count")
        budgeted = budget is not None
        allowed = KEPT_UNASKED if budgeted else MAX_MESSAGE_BYTES
        blobs: list[bytes | None] = []
        total = kept = 0
        for _ in range(count):
            # With a budget, a blob beyond the per-blob cap is no breach: it is read past, never held (the plain
            # converter allows arrays of 16M numbers, 128 MB). The message's total cap holds either way.
            length = self._length(MAX_MESSAGE_BYTES if budgeted else MAX_BLOB_BYTES, deadline)
            total += length
            if total > MAX_MESSAGE_BYTES:
                raise ProtocolError("message exceeds the size cap")
            if kept + length > allowed and budget is not None:
                allowed, budget = max(allowed, budget(header)), None
            if kept + length <= allowed and length <= MAX_BLOB_BYTES:
                kept += length
                blobs.append(self._exactly(length, deadline))
            else:
                self._skip(length, deadline)
                blobs.append(None)
        return header, blobs


def _refuse_constant(name: str) -> Any:
    """JSON has no NaN or Infinity; Python's json reads them unless told not to."""
    raise ValueError(f"{name} is not a JSON number")


# ---- values: a JSON tree whose array leaves point at blobs -------------------------------------------------


def encode_value(value: Any, blobs: list[bytes]) -> Any:
    """Encode trusted plain data (arrays, numbers, strings, None, lists, tuples, str-keyed dicts) for sending."""
    if isinstance(value, TensorArg):
        return encode_value(value.array, blobs) | {"tensor": True}
    if isinstance(value, np.ndarray):
        blobs.append(encode_array(value))
        return {"t": "nd", "i": len(blobs) - 1}
    if isinstance(value, np.generic):
        return encode_value(value.item(), blobs)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        # JSON has no NaN/inf; send non-finite floats as 0-d arrays so edge cases survive the trip.
        return value if np.isfinite(value) else encode_value(np.array(value), blobs) | {"scalar": True}
    if isinstance(value, tuple | list):
        return {"t": type(value).__name__, "v": [encode_value(item, blobs) for item in value]}
    if isinstance(value, dict):
        return {"t": "dict", "v": [[str(key), encode_value(item, blobs)] for key, item in value.items()]}
    raise TypeError(f"cannot send a {type(value).__name__} to the worker")


def decode_value(tree: Any, blobs: list[bytes], make_tensor: Any = None) -> Any:
    """Decode what encode_value produced (the worker's arguments); make_tensor turns TensorArg arrays to tensors."""
    if isinstance(tree, dict):
        kind = tree.get("t")
        if kind == "nd":
            array = decode_array(blobs[tree["i"]])
            if tree.get("scalar"):
                return array.item()
            return make_tensor(array) if tree.get("tensor") and make_tensor else array
        if kind in ("list", "tuple"):
            items = [decode_value(item, blobs, make_tensor) for item in tree["v"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            return {key: decode_value(item, blobs, make_tensor) for key, item in tree["v"]}
        raise ProtocolError(f"unknown value kind {kind!r}")
    return tree
