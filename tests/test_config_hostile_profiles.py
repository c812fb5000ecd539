"""Hostile credentials files: each is one ConfigurationError naming the file and the problem,
never a Python-internal message, never a hang."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from screening_eagle_id import ConfigurationError
from screening_eagle_id._config import read_profile


def _private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_an_integer_too_long_to_convert_names_the_file(tmp_path: Path) -> None:
    path = _private(tmp_path / "credentials.toml", "[default]\nclient_id = " + "1" * 5000 + "\n")
    with pytest.raises(ConfigurationError) as caught:
        read_profile(path=path)
    message = str(caught.value)
    assert str(path) in message
    assert "not valid TOML" in message
    assert "set_int_max_str_digits" not in message


def test_a_file_larger_than_a_profile_can_be_is_refused(tmp_path: Path) -> None:
    path = _private(tmp_path / "credentials.toml", "# x\n" * 1_000_000)
    with pytest.raises(ConfigurationError, match="larger than"):
        read_profile(path=path)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "credentials.toml"
    os.mkfifo(path, 0o600)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            read_profile(path=path)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)
        else:
            outcome.append(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(3)
    if reader.is_alive():  # unblock the reader stuck in open(): a writer comes and goes
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(3)
        pytest.fail("reading a FIFO as the credentials file waited for a writer")
    assert isinstance(outcome[0], ConfigurationError), outcome
    assert "not a regular file" in str(outcome[0])
