"""A compact set of ids: 16-byte BLAKE2b fingerprints in one bytearray (open addressing).

A Python ``set`` of a million short strings costs ~90 MB; this costs 16-32 MB, so a batch of a
million rows resumes and de-duplicates in bounded memory. Two different ids share a fingerprint
with probability below 1e-26 at a billion ids (128-bit hashes), the same bet as content-addressed
stores make.
"""

from __future__ import annotations

from hashlib import blake2b

__all__ = ["IdSet"]

_SLOT = 16
_EMPTY = bytes(_SLOT)
_INITIAL_SLOTS = 1024
_MAX_LOAD = 2 / 3


_ZERO_STANDIN = bytes(_SLOT - 1) + b"\x01"


def _fingerprint(key: str) -> bytes:
    digest = blake2b(key.encode("utf-8", "surrogatepass"), digest_size=_SLOT).digest()
    return digest if digest != _EMPTY else _ZERO_STANDIN  # all zeros marks an empty slot


class IdSet:
    """A set of ``str`` ids supporting ``add``, ``in`` and ``len`` (no removal, no iteration)."""

    __slots__ = ("_count", "_mask", "_table")

    def __init__(self) -> None:
        self._table = bytearray(_SLOT * _INITIAL_SLOTS)
        self._mask = _INITIAL_SLOTS - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        fp = _fingerprint(key)
        offset = self._slot(fp)
        return self._table[offset : offset + _SLOT] == fp

    def add(self, key: str) -> bool:
        """Add ``key``; True when it was not there before."""
        fp = _fingerprint(key)
        offset = self._slot(fp)
        if self._table[offset : offset + _SLOT] == fp:
            return False
        self._table[offset : offset + _SLOT] = fp
        self._count += 1
        if self._count > _MAX_LOAD * (self._mask + 1):
            self._grow()
        return True

    def _slot(self, fp: bytes) -> int:
        """Offset of ``fp``'s slot, or of the empty slot where it would go (linear probing)."""
        table, mask = self._table, self._mask
        index = int.from_bytes(fp, "little") & mask
        while True:
            offset = index * _SLOT
            slot = table[offset : offset + _SLOT]
            if slot in (fp, _EMPTY):
                return offset
            index = (index + 1) & mask

    def _grow(self) -> None:
        old = self._table
        slots = 2 * (self._mask + 1)
        self._table = bytearray(_SLOT * slots)
        self._mask = slots - 1
        view = memoryview(old)
        for offset in range(0, len(old), _SLOT):
            fp = bytes(view[offset : offset + _SLOT])
            if fp != _EMPTY:
                new = self._slot(fp)
                self._table[new : new + _SLOT] = fp
