"""Parsing a ListObjectsV2 page, as the fast listing does, on plain data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from bucketsync.stores.listing import _contents

PAGE = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix>p%2F</Prefix><IsTruncated>false</IsTruncated>
  <Contents><Key>p%2Fa+b%01%C3%BC</Key><LastModified>2026-11-26T12:00:49.463Z</LastModified>
    <ETag>&quot;9dd4e461268c8034f5c8564e155c67a6&quot;</ETag><Size>12</Size>
    <ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType>
  </Contents>
  <Contents><Key>p%2Fz</Key><LastModified>2026-11-26T12:00:49Z</LastModified>
    <ETag>abc-2</ETag><Size>0</Size></Contents>
</ListBucketResult>"""


def test_page_fields_and_url_encoded_keys() -> None:
    first, second = _contents(ET.fromstring(PAGE), "p/")
    assert first.key == "p/a b\x01\u00fc" and first.rel == "a b\x01\u00fc"
    assert first.size == 12 and first.etag == "9dd4e461268c8034f5c8564e155c67a6"
    assert first.checksum_algorithm == "CRC64NVME" and first.checksum_type == "FULL_OBJECT"
    assert first.last_modified_ns == 1795694449463000000
    assert second.etag == "abc-2" and second.checksum_algorithm is None
