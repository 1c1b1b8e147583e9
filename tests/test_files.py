"""Atomic writes of the run cache and the results files."""

import os
import stat

import pytest

from icl_lib.files import atomic_write


def test_an_atomic_write_gets_the_umask_permissions_and_leaves_no_temporary_file(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "sub" / "a.json", lambda f: f.write(b"{}"))
    finally:
        os.umask(old)
    path = tmp_path / "sub" / "a.json"
    assert path.read_bytes() == b"{}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable by other users and workers, unlike mkstemp's 0600
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b"old")

    def fail(f):
        f.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, fail)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.json"]
