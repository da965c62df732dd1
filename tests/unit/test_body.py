"""DirectBody over bodies that are not botocore's: read through their own readinto."""

from __future__ import annotations

import io

import pytest

from bucketsync import errors
from bucketsync.ranged import RANGE_STREAMS, range_size
from bucketsync.stores.body import DirectBody
from bucketsync.transfer import PART_SIZE


def read_all(body: DirectBody, size: int) -> bytes:
    buffer, out = memoryview(bytearray(size)), bytearray()
    while n := body.readinto(buffer):
        out += buffer[:n]
    return bytes(out)


def test_a_plain_stream_is_read_through_its_own_readinto() -> None:
    data = bytes(range(256)) * 100
    assert read_all(DirectBody(io.BytesIO(data), "k"), 1000) == data


class Broken(io.RawIOBase):
    def readinto(self, buffer: object) -> int:
        raise ConnectionResetError("reset by peer")


def test_a_broken_connection_is_a_transfer_error() -> None:
    with pytest.raises(errors.TransferError, match="k: the download broke off"):
        read_all(DirectBody(Broken(), "k"), 10)


def test_large_objects_get_larger_ranges_within_bounds() -> None:
    assert range_size(100 * 1024 * 1024, PART_SIZE) == PART_SIZE
    assert range_size(2 * RANGE_STREAMS * 3 * PART_SIZE, PART_SIZE) == 3 * PART_SIZE
    assert range_size(2**40, PART_SIZE) == 4 * PART_SIZE
