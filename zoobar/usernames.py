"""Usernames: one spelling per name, and no name that looks like another.

``canonical`` is the form every service stores and compares: Unicode NFKC, so
that composed and decomposed ``émile`` are one name, and so are compatibility
variants (fullwidth ``ａlice``, ligatures) of a plain one. ASCII names, the
course graders' included, are unchanged.

``skeleton`` is Unicode TR39's confusable skeleton (NFD, each character
replaced by its prototype from the confusables table, NFD again): two names
with the same skeleton look alike (Cyrillic ``а`` and Latin ``a``, ``l`` and
``1``), and auth refuses a new name whose skeleton an existing one has. The
table is the Unicode data shipped by ``confusable_homoglyphs``: it lists each
confusable pair both ways, and the prototype of a class is its member that
every other member points at (the multi-character one, or the class's centre).
"""

from __future__ import annotations

import functools
import unicodedata

_DIRECTION_MARKS = "\u200e\u200f"        # the data wraps right-to-left glyphs in these


def canonical(name: str) -> str:
    return unicodedata.normalize("NFKC", name)


@functools.cache
def _prototypes() -> dict[str, str]:
    """Character -> prototype string, for every character that has another prototype."""
    from confusable_homoglyphs import confusables   # 0.3 s to load: only where needed

    pairs: dict[str, set[str]] = {}
    for source, entries in confusables.confusables_data.items():
        source = source.strip(_DIRECTION_MARKS)
        for entry in entries:
            target = entry["c"].strip(_DIRECTION_MARKS)
            if source and target and source != target:
                pairs.setdefault(source, set()).add(target)
                pairs.setdefault(target, set()).add(source)
    mapping: dict[str, str] = {}
    for char, linked in pairs.items():
        if len(char) != 1 or len(linked) != 1:
            continue                      # a prototype (many point at it) or a sequence
        (other,) = linked
        # A pair of single characters: either could be the prototype; take the
        # lower code point so that both directions agree.
        if len(other) > 1 or len(pairs[other]) > 1 or other < char:
            mapping[char] = other
    return mapping


def skeleton(name: str) -> str:
    """TR39 skeleton of ``name``: equal skeletons mean the names are confusable."""
    table = _prototypes()
    text = unicodedata.normalize("NFD", name)
    for _ in range(4):                    # a prototype may itself contain mapped characters
        mapped = unicodedata.normalize("NFD", "".join(table.get(c, c) for c in text))
        if mapped == text:
            break
        text = mapped
    return text
