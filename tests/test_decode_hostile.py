"""`eagle-id decode` and `decode_jwt_unverified` on hostile tokens: one clear line, exit 2,
never 'unexpected …; this is a bug'."""

from __future__ import annotations

import base64
import io

import pytest
from screening_eagle_id._cli import main
from screening_eagle_id._token import decode_jwt_unverified


def _segment(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_HEADER = _segment(b'{"alg":"HS256"}')
_DEEP = _segment(b"[" * 100_000 + b"]" * 100_000)
_HUGE_INT = _segment(b'{"n":' + b"1" * 5000 + b"}")
HOSTILE = {
    "deep nesting": f"{_HEADER}.{_DEEP}.sig",
    "5000-digit integer": f"{_HEADER}.{_HUGE_INT}.sig",
    "non-ASCII segment": "\u00e9\u00e9.\u00e9\u00e9.sig",
}


@pytest.mark.parametrize("jwt", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_jwt_is_not_a_jwt(jwt: str) -> None:
    with pytest.raises(ValueError, match=r"^not a JWT"):
        decode_jwt_unverified(jwt)


@pytest.mark.parametrize("jwt", HOSTILE.values(), ids=HOSTILE.keys())
def test_eagle_id_decode_says_not_a_jwt_and_exits_2(
    jwt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    assert main(["decode", jwt], out=out) == 2
    err = capsys.readouterr().err
    assert err.startswith("eagle-id: not a JWT"), err
    assert len(err.splitlines()) == 1
    assert out.getvalue() == ""
