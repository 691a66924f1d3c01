"""The one interface of a signal type, and the optional abilities a type may have.

A *signal type* is a kind of hash (PDQ, MD5, SHA-256, ...). Banks store its values
under its stable name, the pipeline computes it, the matcher compares it. Following
python-threatexchange, a type is a class of classmethods (it has no per-instance
state), and what it can do beyond naming and validating is declared by explicit
mixins rather than discovered by ``hasattr`` probes::

    SignalType              get_name(), validate(value)        every type
      + FixedHex            validate() for fixed-length hex    most types
      + HammingDistance     distance(a, b), default_threshold() binary perceptual hashes
      + PictureHasher       hash_picture(picture) -> Signal    needs decoded pixels
      + BytesHasher         hash_bytes(data) -> Signal         needs only the file bytes

Callers check an ability with ``issubclass(t, PictureHasher)``; mypy then knows the
method exists. Hashers return a :class:`~jikimi.domain.Signal` or raise a typed
error: never a sentinel such as an empty string.
"""

from __future__ import annotations

import string
from abc import ABC, abstractmethod
from typing import ClassVar

from jikimi.domain import Signal, SignalKind
from jikimi.errors import InvalidHash
from jikimi.media.picture import Picture
from jikimi.signals.distance import hamming_hex

_HEX_DIGITS = frozenset(string.hexdigits)
_SHOWN_CHARS = 80
"""How much of a rejected value an error message repeats (values may be huge)."""


class SignalType(ABC):
    """A kind of hash. Never instantiated: every method is a classmethod."""

    @classmethod
    @abstractmethod
    def get_name(cls) -> SignalKind:
        """The stable storage key of this type (bank rows, Verdict ``signals[].type``)."""

    @classmethod
    @abstractmethod
    def validate(cls, value: str) -> str:
        """The canonical form of ``value``; raise :class:`InvalidHash` if it is not one.

        Every hash that enters jikimi from outside (bank imports, API queries) passes
        through here once, so the rest of the code compares canonical strings only.
        """


class FixedHex(SignalType):
    """A type whose values are exactly ``HEX_LENGTH`` hex digits, stored lowercase."""

    HEX_LENGTH: ClassVar[int]

    @classmethod
    def validate(cls, value: str) -> str:
        """Strip surrounding whitespace and lowercase; reject wrong length or alphabet.

        >>> from jikimi.signals import Md5Signal
        >>> Md5Signal.validate(" D41D8CD98F00B204E9800998ECF8427E\\n")
        'd41d8cd98f00b204e9800998ecf8427e'
        """
        name = cls.get_name().value
        text = value.strip()
        if len(text) != cls.HEX_LENGTH:
            raise InvalidHash(
                f"a {name} hash is {cls.HEX_LENGTH} hex digits; "
                f"got {len(text)} characters: {_shown(text)}"
            )
        bad = sorted(set(text) - _HEX_DIGITS)
        if bad:
            raise InvalidHash(
                f"a {name} hash contains only 0-9 and a-f; got {''.join(bad)!r} in {_shown(text)}"
            )
        return text.lower()


class HammingDistance(FixedHex):
    """Values are bit strings compared by the number of differing bits."""

    DEFAULT_THRESHOLD: ClassVar[int]

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """Bits that differ between two canonical (validated) values."""
        return hamming_hex(a, b)

    @classmethod
    def default_threshold(cls) -> int:
        """Largest distance that counts as a match unless a bank overrides it."""
        return cls.DEFAULT_THRESHOLD


class PictureHasher(SignalType):
    """The type is computed from decoded pixels."""

    @classmethod
    @abstractmethod
    def hash_picture(cls, picture: Picture) -> Signal:
        """The signal of one still image."""


class BytesHasher(SignalType):
    """The type is computed from the file's bytes, exactly as received."""

    @classmethod
    @abstractmethod
    def hash_bytes(cls, data: bytes) -> Signal:
        """The signal of one file."""


def _shown(text: str) -> str:
    if len(text) <= _SHOWN_CHARS:
        return repr(text)
    return repr(text[:_SHOWN_CHARS]) + "..."
