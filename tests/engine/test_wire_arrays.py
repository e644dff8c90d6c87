"""The array blobs that cross the sandbox boundary: .npy bytes, read by a strict fast path or numpy's reader."""

import io
import struct

import numpy as np
import pytest

from dlgrade.sandbox import protocol


@pytest.mark.parametrize("array", [
    np.array(3.5), np.arange(6.0).reshape(2, 3), np.arange(6).reshape(3, 2).T, np.array([True, False]),
    np.zeros((0, 4)), np.array([np.nan, np.inf, -np.inf]), np.zeros((1,) * 20, dtype=np.int64),
])
def test_plain_arrays_round_trip_through_the_fast_reader(array: np.ndarray) -> None:
    blob = protocol.encode_array(array)
    assert protocol.read_plain_npy(blob) is not None  # the fast path, not numpy's literal_eval
    back = protocol.decode_array(blob)
    assert back.dtype == array.dtype and back.shape == array.shape and back.flags.writeable
    np.testing.assert_array_equal(back, array)


def test_a_fortran_ordered_npy_reads_as_the_same_values() -> None:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asfortranarray(np.arange(6.0).reshape(2, 3)))
    np.testing.assert_array_equal(protocol.decode_array(buffer.getvalue()), np.arange(6.0).reshape(2, 3))


def _npy(header: bytes, data: bytes = b"") -> bytes:
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


@pytest.mark.parametrize("blob, why", [
    (protocol.encode_array(np.arange(3.0))[:-8], "does not match 16 data bytes"),
    (protocol.encode_array(np.arange(3.0)) + bytes(8), "does not match 32 data bytes"),
    (_npy(b"{'descr': '<f8', 'fortran_order': False, 'shape': (0, 100000000000000000000000), }\n"), "dimension"),
    (_npy(b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 1000000000000), }\n", bytes(8)),
     "does not match 8 data bytes"),
    (_npy(b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n", bytes(8)), "pickle"),
    (b"not an npy at all", "malformed array"),
])
def test_malformed_or_forged_blobs_are_refused(blob: bytes, why: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=why):
        protocol.decode_array(blob)


def test_other_dtypes_go_through_numpy_and_are_refused() -> None:
    for dtype in (np.float32, np.complex128, np.dtype("U3")):
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.zeros(2, dtype=dtype))
        assert protocol.read_plain_npy(buffer.getvalue()) is None
        with pytest.raises(protocol.ProtocolError, match="not allowed across the boundary"):
            protocol.decode_array(buffer.getvalue())


def _numpy_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


# Shapes whose headers fall on each side of a 64-byte boundary, long first axes, empty and 0-d arrays.
_SHAPES = [(), (0,), (1,), (3,), (2, 3), (0, 5), (7, 0), (10**6,), (10**12, 0), (1,) * 12, (1,) * 20,
           *[(n, 2, 3) for n in range(1, 12)], *[(2,) * k for k in range(1, 9)]]


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.bool_])
def test_plain_arrays_are_written_byte_for_byte_as_numpy_writes_them(dtype: type) -> None:
    for shape in _SHAPES:
        array = (np.arange(int(np.prod(shape))) % 3).astype(dtype).reshape(shape)
        assert protocol.encode_array(array) == _numpy_npy(array), shape
    transposed = np.arange(6).reshape(2, 3).T.astype(dtype)  # Fortran-ordered: always sent as a C-ordered copy
    assert protocol.encode_array(transposed) == _numpy_npy(np.ascontiguousarray(transposed))


def test_a_reader_reads_messages_alike_however_the_stream_cuts_them() -> None:
    """Several messages in one write, and one written a few bytes at a time, read back the same; what a Reader
    takes beyond the message it reads (to read a small message in one recv) is kept for the next, never more than
    READ_AHEAD bytes of it."""
    import socket
    import threading

    big = np.arange(300_000, dtype=np.float64)  # 2.4 MB: read past READ_AHEAD, in several recvs
    messages = [({"op": "a", "n": 1}, []), ({"op": "b"}, [protocol.encode_array(np.arange(3.0))]),
                ({"op": "c"}, [protocol.encode_array(big)]), ({"op": "d", "s": "é"}, [b"x" * 10])]
    ours, theirs = socket.socketpair()
    with ours, theirs:
        stream = b"".join(protocol.pack(header, blobs) for header, blobs in messages)

        def write() -> None:
            theirs.sendall(stream[:200])  # the first messages whole and the third's start in one write
            for start in range(200, len(stream), 7919):  # the rest in odd-sized pieces
                theirs.sendall(stream[start:start + 7919])

        writer = threading.Thread(target=write)
        writer.start()
        reader = protocol.Reader(ours)
        for header, blobs in messages:
            got, got_blobs = reader.receive(deadline=None)
            assert {key: value for key, value in got.items() if key != "blobs"} == header
            assert got_blobs == blobs
            assert len(reader.ahead) <= protocol.READ_AHEAD
        writer.join()
        assert not reader.ahead
