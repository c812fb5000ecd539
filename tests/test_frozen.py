"""`Frozen` classes behave as the `attrs.frozen` classes they replaced (issue 20: attrs cost most
of the import): the public ones are checked against attrs twins of their former definitions,
on generated values."""

from __future__ import annotations

import copy
import pickle
import sys
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from screening_eagle_id import ClientCredentials, ConfigurationError, RetryPolicy, Token
from screening_eagle_id._credentials import Profile, ResolvedConfig
from screening_eagle_id._effects import Log, Observe, Send, Sleep
from screening_eagle_id._frozen import Frozen, replace


# The former definitions, verbatim but for the name.
@attrs.frozen
class AttrsToken:
    access_token: str = attrs.field(repr=False)
    token_type: str
    scope: frozenset[str]
    issued_at: datetime
    expires_at: datetime
    id_token: str | None = attrs.field(default=None, repr=False)
    refresh_token: str | None = attrs.field(default=None, repr=False)
    binding: str | None = attrs.field(default=None, repr=False, eq=False)
    client_id: str | None = attrs.field(default=None, eq=False)


@attrs.frozen
class AttrsClientCredentials:
    client_id: str
    client_secret: str = attrs.field(repr=False)


@attrs.frozen
class AttrsRetryPolicy:
    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0
    total_timeout: float = 30.0


TWINS: dict[type[Frozen], type[Any]] = {
    Token: AttrsToken,
    ClientCredentials: AttrsClientCredentials,
    RetryPolicy: AttrsRetryPolicy,
}

_text = st.text(min_size=1, max_size=8)
_times = st.datetimes(timezones=st.just(UTC))
_tokens = st.fixed_dictionaries(
    {
        "access_token": st.sampled_from(["a.b.c", "x.y.z"]),
        "token_type": st.sampled_from(["Bearer", "bearer"]),
        "scope": st.frozensets(st.sampled_from(["openid", "email"])),
        "issued_at": st.sampled_from([datetime(2026, 1, 1, tzinfo=UTC)]),
        "expires_at": _times,
    },
    optional={
        "id_token": st.none() | st.sampled_from(["i.d.t"]),
        "refresh_token": st.none() | st.sampled_from(["r.e.f"]),
        "binding": st.none() | st.sampled_from(["b1", "b2"]),
        "client_id": st.none() | st.sampled_from(["c1", "c2"]),
    },
)
_credentials = st.fixed_dictionaries(
    {"client_id": st.sampled_from(["c1", "c 2"]), "client_secret": st.sampled_from(["s", "t"])}
)
_policies = st.fixed_dictionaries(
    {},
    optional={
        "attempts": st.integers(1, 3),
        "backoff": st.sampled_from([0.5, 1.0]),
        "total_timeout": st.floats(1, 60),
    },
)
_cases = st.one_of(
    st.tuples(st.just(Token), _tokens, _tokens),
    st.tuples(st.just(ClientCredentials), _credentials, _credentials),
    st.tuples(st.just(RetryPolicy), _policies, _policies),
)


@given(_cases)
def test_equality_hash_and_repr_are_those_of_the_attrs_class(
    case: tuple[type[Frozen], dict[str, Any], dict[str, Any]],
) -> None:
    cls, one, other = case
    twin = TWINS[cls]
    a, b, ta, tb = cls(**one), cls(**other), twin(**one), twin(**other)
    assert repr(a) == repr(ta).replace(twin.__name__, cls.__name__)
    assert (a == b) == (ta == tb)
    assert (a != b) == (ta != tb)
    assert a == cls(**one)
    assert hash(a) == hash(cls(**one))
    assert (a == ta) is False  # another class, as between two attrs classes
    assert cls.__match_args__ == twin.__match_args__
    positional = [one.get(f.name, f.default) for f in attrs.fields(twin)]
    assert cls(*positional) == a


@given(_cases)
def test_instances_are_immutable_as_attrs_made_them(
    case: tuple[type[Frozen], dict[str, Any], dict[str, Any]],
) -> None:
    cls, one, _ = case
    obj = cls(**one)
    name = cls._fields[0]
    before = getattr(obj, name)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(obj, name, before)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        delattr(obj, name)
    with pytest.raises(AttributeError):
        obj.not_a_field = 1  # type: ignore[attr-defined]
    assert getattr(obj, name) is before
    assert not hasattr(obj, "__dict__")


@given(_cases)
def test_pickle_copy_and_replace_keep_every_field(
    case: tuple[type[Frozen], dict[str, Any], dict[str, Any]],
) -> None:
    cls, one, other = case
    obj = cls(**one)
    for clone in (
        pickle.loads(pickle.dumps(obj)),  # noqa: S301 (our own bytes)
        copy.copy(obj),
        copy.deepcopy(obj),
    ):
        assert clone.__class__ is cls
        assert [getattr(clone, f) for f in cls._fields] == [getattr(obj, f) for f in cls._fields]
    changed = replace(obj, **other)
    evolved = attrs.evolve(TWINS[cls](**one), **other)
    assert [getattr(changed, f) for f in cls._fields] == [getattr(evolved, f) for f in cls._fields]
    assert obj == cls(**one)  # the original is unchanged


@pytest.mark.skipif(sys.version_info < (3, 13), reason="copy.replace() is new in Python 3.13")
def test_copy_replace_makes_a_changed_token() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    token = Token("a.b.c", "Bearer", frozenset(), when, when)
    changed = copy.replace(token, client_id="c1")  # type: ignore[attr-defined, unused-ignore]
    assert (changed.client_id, changed.access_token, token.client_id) == ("c1", "a.b.c", None)


def test_effects_compare_by_class_and_value() -> None:
    from screening_eagle_id._effects import Acquire, DeleteCache, ReadCache, Release

    assert Release() == Release()
    assert Release() != ReadCache() != DeleteCache()
    assert Sleep(1.0) != Acquire(True)  # a tuple would call these equal
    assert Send(1.0, 2.0) == Send(anchor=1.0, wall=2.0, attempt=1, ahead=False)
    assert Log(20, "m %s", ("x",)) != Log(20, "m %s", ("y",))
    assert repr(Observe("failed")) == "Observe(event='failed', error=None, ahead=False)"
    assert {Sleep(1.0), Sleep(1.0)} == {Sleep(1.0)}


def test_the_private_value_classes_are_frozen_too() -> None:
    creds = ClientCredentials("c", "s")
    resolved = ResolvedConfig("https://x.example", creds, "openid")
    profile = Profile("default", creds)
    assert "'s'" not in repr(resolved) + repr(profile)
    for obj in (resolved, profile):
        with pytest.raises(AttributeError):
            obj.credentials = creds  # type: ignore[misc]


def test_the_secret_is_checked_before_it_is_stored() -> None:
    with pytest.raises(ConfigurationError, match="client_secret is empty"):
        ClientCredentials("c", "")
    with pytest.raises(ConfigurationError, match="client_id is empty"):
        ClientCredentials("", "s")


def test_a_class_whose_slots_are_not_its_fields_is_refused() -> None:
    with pytest.raises(TypeError, match="__slots__ must name"):

        class Wrong(Frozen):
            __slots__ = ("a",)

            def __init__(self, b: int) -> None:
                object.__setattr__(self, "a", b)
