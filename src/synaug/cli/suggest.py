"""`synaug plan --suggest WORDS`, answered without the parsers (which import torch and every backend):
this module imports only the emoji index."""

from __future__ import annotations

from synaug.emoji_index import search


def cmd_suggest(words: str) -> int:
    """`synaug plan --suggest WORDS`: the drawable emoji nearest to WORDS by name and CLDR keyword."""
    found = search(words, 15)
    if not found:
        print(f"no emoji name or keyword shares or nearly shares a word with {words!r}; try another word for the class")
        return 0
    width = max(len(n) for n, _, _ in found)
    print(f"emoji the render generator can draw, nearest to {words!r} first (use a name with --render-word "
          "'CLASS=NAME', or --alias to change the prompt too):")
    for name, sources, why in found:
        print(f"  {name:<{width}}  ({', '.join(sources)}; {why})")
    return 0
