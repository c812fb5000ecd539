"""When a token stops being handed out: the hard expiry, one rule in one place.

Standard library only: `_token.schedule()` uses it, and so does the command line's quick
cached path, which must not import attrs.
"""

__all__ = ["CLOCK_SKEW", "hard_expiry"]

#: Seconds before `expires_at` at which a token stops being handed out (clock-skew leeway).
CLOCK_SKEW = 30.0


def hard_expiry(issued: float, lifetime: float) -> float:
    """`issued + lifetime - leeway`, on `issued`'s clock; the leeway is CLOCK_SKEW, capped at
    half the lifetime so a short-lived token is not born expired."""
    return issued + lifetime - min(CLOCK_SKEW, lifetime / 2)
