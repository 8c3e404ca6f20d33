"""Payload checksum, tarsum v0 and files listing (spec §3.5, §2.2 R9)."""

from __future__ import annotations

import hashlib
import io
import lzma
import tarfile

import pytest

from docker_registry.core.v1.checksums import (
    LayerFormatError,
    payload_checksum,
    scan_layer,
)


def test_payload_vectors():
    assert payload_checksum(b"", b"") == (
        "sha256:01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b"
    )
    assert payload_checksum(b"test", b"") == (
        "sha256:f2ca1bb6c7e907d06dafe4687e579fce76b37e4e93b7605022da52e6ccc26fd2"
    )
    assert payload_checksum(b'{"id": "0123456789abcdef"}', b"hello layer") == (
        "sha256:7f49be5e47b92a079b7e23d3547612d82ae6fce3944874f2fdc93ae69353b236"
    )


def _tar(members) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for info, content in members:
            archive.addfile(info, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


def _info(name, type_=tarfile.REGTYPE, size=0, mode=0o644):
    info = tarfile.TarInfo(name)
    info.type = type_
    info.size = size
    info.mode = mode
    info.mtime = 1234567890
    info.uname = "root"
    info.gname = "root"
    return info


def test_tarsum_by_hand():
    layer = _tar(
        [
            (_info("./etc", tarfile.DIRTYPE, mode=0o755), None),
            (_info("./etc/hosts", size=5), b"hosts"),
        ]
    )
    json_data = b'{"id": "x"}'
    dir_header = (
        "name./etc/mode493uid0gid0size0mtime1234567890typeflag5linkname"
        "unamerootgnamerootdevmajor0devminor0"
    )
    file_header = (
        "name./etc/hostsmode420uid0gid0size5mtime1234567890typeflag0linkname"
        "unamerootgnamerootdevmajor0devminor0"
    )
    hashes = sorted(
        [
            hashlib.sha256(dir_header.encode()).hexdigest(),
            hashlib.sha256(file_header.encode() + b"hosts").hexdigest(),
        ]
    )
    expected = "tarsum+sha256:" + hashlib.sha256(json_data + "".join(hashes).encode()).hexdigest()
    assert scan_layer(io.BytesIO(layer), json_data).tarsum == expected


def test_tarsum_of_empty_layer_is_json_hash():
    expected = "tarsum+sha256:" + hashlib.sha256(b"{}").hexdigest()
    assert scan_layer(io.BytesIO(b""), b"{}").tarsum == expected
    assert scan_layer(io.BytesIO(b"\0" * 1024), b"{}").tarsum == expected


def test_same_tarsum_through_gzip_and_xz():
    layer = _tar([(_info("a", size=3), b"abc")])
    plain = scan_layer(io.BytesIO(layer), b"j").tarsum
    import gzip

    assert scan_layer(io.BytesIO(gzip.compress(layer)), b"j").tarsum == plain
    assert scan_layer(io.BytesIO(lzma.compress(layer)), b"j").tarsum == plain


def test_files_listing_rules():
    layer = _tar(
        [
            (_info("."), None),
            (_info("./ab", size=512), b"x" * 512),
            (_info("./.wh..wh.aufs"), None),
            (_info("./.wh.gone"), None),
            (_info("./etc/.wh.passwd"), None),
            (_info("plain", tarfile.SYMTYPE), None),
            (_info("./dev/null", tarfile.CHRTYPE), None),
        ]
    )
    files = scan_layer(io.BytesIO(layer), b"{}").files
    assert files[0][:3] == ["/", "f", False]
    assert files[1] == ["/ab", "f", False, 512, 1234567890, 0o644, 0, 0]
    names = [(entry[0], entry[1], entry[2]) for entry in files]
    assert ("/gone", "f", True) in names
    assert ("/etc/passwd", "f", True) in names  # nested whiteout (Q14)
    assert not any(".wh." in name for name, _, _ in names)
    assert ("plain", "s", False) in names
    assert ("/dev/null", "c", False) in names


def test_non_utf8_pax_header_is_tolerated():
    info = _info("./bin/ping", size=2)
    info.pax_headers = {"SCHILY.xattr.security.capability": "PLACEHOLDER"}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(info, io.BytesIO(b"ok"))
    # NOTE: raw capability bytes, not UTF-8, and no hdrcharset record (what docker wrote).
    raw = buffer.getvalue().replace(b"PLACEHOLDER", b"\x01\x00\x00\x02\xff\xfe\x00\x00\x00\x00\x00")
    scan = scan_layer(io.BytesIO(raw), b"{}")
    assert scan.files[0][0] == "/bin/ping"


def test_garbage_is_not_a_layer():
    with pytest.raises(LayerFormatError):
        scan_layer(io.BytesIO(b"this is not a tar file at all" * 100), b"{}")
