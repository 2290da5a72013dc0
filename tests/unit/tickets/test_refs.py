"""Ticket refs: six characters of the unambiguous alphabet, every character possible at every
position (30 random bits from the system's randomness), found again in text."""

from __future__ import annotations

from intake.tickets.store import REF_ALPHABET, find_ref, new_ref


def test_refs_use_every_character_at_every_position_and_are_found_again() -> None:
    refs = [new_ref() for _ in range(20_000)]
    assert all(len(r) == 9 and r.startswith("TK-") and set(r[3:]) <= set(REF_ALPHABET) for r in refs)
    for position in range(3, 9):
        assert {r[position] for r in refs} == set(REF_ALPHABET)
    assert len(set(refs)) > 19_990  # 2**30 possible refs
    assert all(find_ref(f"Re: [{r}] my upload") == r for r in refs[:500])
