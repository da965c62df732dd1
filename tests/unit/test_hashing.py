"""Digests against independent computations with hashlib and zlib."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bucketsync.hashing import (
    Hasher,
    InOrderHasher,
    combine_crc64nvme,
    crc64_text,
    crc64nvme,
    hash_file,
    is_plain_md5,
    multipart_count,
    part_sizes_fit,
)

MIB = 1024 * 1024


def _multipart_etag(data: bytes, part: int) -> str:
    digests = [hashlib.md5(data[i : i + part]).digest() for i in range(0, len(data), part)]
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def test_md5_and_multipart_etag_match_hashlib(tmp_path: Path) -> None:
    data = os.urandom(5 * MIB + 12345)
    path = tmp_path / "f"
    path.write_bytes(data)
    got = hash_file(path, {"md5", f"etag:{MIB}", f"etag:{2 * MIB}"})
    assert got["md5"] == hashlib.md5(data).hexdigest()
    assert got[f"etag:{MIB}"] == _multipart_etag(data, MIB)
    assert got[f"etag:{2 * MIB}"] == _multipart_etag(data, 2 * MIB)


def test_part_boundaries_do_not_depend_on_feed_sizes() -> None:
    data = os.urandom(3 * MIB + 7)
    one = Hasher({f"etag:{MIB}", "crc32:1048576"})
    one.update(data)
    many = Hasher({f"etag:{MIB}", "crc32:1048576"})
    for i in range(0, len(data), 333_333):
        many.update(data[i : i + 333_333])
    assert one.values() == many.values()


def test_crc32_and_composite_crc32_match_zlib() -> None:
    data = os.urandom(2 * MIB + 5)
    hasher = Hasher({"crc32", f"crc32:{MIB}"})
    hasher.update(data)
    values = hasher.values()
    assert values["crc32"] == base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    parts = [zlib.crc32(data[i : i + MIB]).to_bytes(4, "big") for i in range(0, len(data), MIB)]
    composite = base64.b64encode(zlib.crc32(b"".join(parts)).to_bytes(4, "big")).decode()
    assert values[f"crc32:{MIB}"] == f"{composite}-3"


def test_sha256_is_base64() -> None:
    hasher = Hasher({"sha256"})
    hasher.update(b"abc")
    assert hasher.values()["sha256"] == base64.b64encode(hashlib.sha256(b"abc").digest()).decode()


def test_crc64nvme_known_value_and_combine() -> None:
    # The CRC64NVME check value (of b"123456789") from the NVMe specification.
    assert crc64nvme(b"123456789") == 0xAE8B14860A799888
    a, b = os.urandom(1000), os.urandom(777)
    assert combine_crc64nvme(crc64nvme(a), crc64nvme(b), len(b)) == crc64nvme(a + b)
    assert crc64_text(0) == "AAAAAAAAAAA="


def test_etag_shapes() -> None:
    assert is_plain_md5("d41d8cd98f00b204e9800998ecf8427e")
    assert not is_plain_md5("d41d8cd98f00b204e9800998ecf8427e-2")
    assert multipart_count("abc-12") == 12
    assert multipart_count("abc") is None
    assert multipart_count("AAAA==-3") == 3
    assert part_sizes_fit(10 * MIB, 8 * MIB, 2)
    assert not part_sizes_fit(10 * MIB, 8 * MIB, 3)


def test_in_order_hasher_gets_ranges_from_threads_in_any_order() -> None:
    """Ranges fed from several threads, out of order, hash as the whole stream does."""
    data = random.Random(7).randbytes(1_000_003)
    ranges = [(start, data[start : start + 65_536]) for start in range(0, len(data), 65_536)]
    ordered = InOrderHasher({"md5", "etag:262144", "sha256"}, window=4 * 65_536)

    def feed(item: tuple[int, bytes]) -> None:
        assert ordered.admit(item[0])
        for at in range(0, len(item[1]), 10_000):
            ordered.add(item[0] + at, item[1][at : at + 10_000])

    with ThreadPoolExecutor(6) as pool, ordered:
        list(pool.map(feed, ranges))
    whole = Hasher({"md5", "etag:262144", "sha256"})
    whole.update(data)
    assert ordered.bytes == len(data)
    assert ordered.values() == whole.values()
    assert ordered.values()["md5"] == hashlib.md5(data).hexdigest()


def test_in_order_hasher_releases_waiting_ranges_when_abandoned() -> None:
    ordered = InOrderHasher({"md5"}, window=10)
    with pytest.raises(RuntimeError), ThreadPoolExecutor(1) as pool, ordered:
        waiting = pool.submit(ordered.admit, 100)  # beyond the window: it waits
        ordered.add(5, b"x")  # a range after a gap: never hashed
        raise RuntimeError("a range failed")
    assert waiting.result(timeout=5) is False
    assert ordered.bytes == 0
