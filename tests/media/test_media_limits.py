"""``MediaLimits`` and ``read_file``: refuse big or unreadable files before reading them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jikimi.config import Settings
from jikimi.errors import ConfigError, MediaError, MediaTooLarge
from jikimi.media import MediaLimits, UnreadableMedia, read_file


def test_limits_come_from_settings() -> None:
    settings = Settings(max_bytes=1234, max_pixels=5678, max_dimension=90)
    assert MediaLimits.from_settings(settings) == MediaLimits(1234, 5678, 90)


def test_limits_are_frozen() -> None:
    limits = MediaLimits(1, 2, 3)
    with pytest.raises(AttributeError):
        limits.max_bytes = 5  # type: ignore[misc]


@pytest.mark.parametrize("bad", [0, -1])
def test_limits_must_be_positive(bad: int) -> None:
    with pytest.raises(ConfigError, match="positive"):
        MediaLimits(max_bytes=bad, max_pixels=10, max_dimension=10)


def test_read_file_returns_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc" * 10)
    assert read_file(path, MediaLimits(30, 1, 1)) == b"abc" * 10


def test_read_file_refuses_a_big_file_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.bin"
    with path.open("wb") as fh:  # sparse: 1 GiB on paper, nothing on disk
        fh.truncate(1 << 30)

    def no_open(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("read_file opened a file it should have refused")

    monkeypatch.setattr(Path, "open", no_open)
    with pytest.raises(MediaTooLarge) as info:
        read_file(path, MediaLimits(max_bytes=1000, max_pixels=1, max_dimension=1))
    assert "1,073,741,824 bytes" in info.value.message
    assert "1,000 bytes" in info.value.message
    assert info.value.code == "media_too_large"


def test_read_file_bounds_the_read_even_if_the_size_check_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a file that grows between stat() and read() (or a lying file system)
    path = tmp_path / "growing.bin"
    path.write_bytes(b"x" * 10_000)
    real_stat = Path.stat

    def small_stat(self: Path, **kwargs: bool) -> os.stat_result:
        st = real_stat(self, **kwargs)
        return os.stat_result((st.st_mode, *list(st)[1:6], 10, *list(st)[7:]))

    monkeypatch.setattr(Path, "stat", small_stat)
    with pytest.raises(MediaTooLarge):
        read_file(path, MediaLimits(max_bytes=100, max_pixels=1, max_dimension=1))


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableMedia, match="no such file") as info:
        read_file(tmp_path / "nope.jpg", MediaLimits(10, 10, 10))
    assert info.value.code == "unreadable"
    assert isinstance(info.value, MediaError)
    assert "nope.jpg" in info.value.message


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableMedia, match="folder"):
        read_file(tmp_path, MediaLimits(10, 10, 10))


def test_device_is_refused_rather_than_read_forever() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    with pytest.raises(UnreadableMedia, match="not a regular file"):
        read_file(Path("/dev/zero"), MediaLimits(10, 10, 10))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_unreadable_permission_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "secret.png"
    path.write_bytes(b"x")
    path.chmod(0)
    with pytest.raises(UnreadableMedia, match="permission"):
        read_file(path, MediaLimits(10, 10, 10))


def test_permission_error_is_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Runs as root too: simulate the OS refusing the open.
    path = tmp_path / "secret.png"
    path.write_bytes(b"x")

    def denied(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(UnreadableMedia, match="permission to read it was denied"):
        read_file(path, MediaLimits(10, 10, 10))
