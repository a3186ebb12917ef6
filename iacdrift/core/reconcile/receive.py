"""Which stack receives an unmanaged object, by its tags (when ``--into`` is not given).

Contract of :func:`receiving_stack` (pure; the caller reads the tags):

1. The tag ``iacdrift:stack`` names the receiving stack. Naming a stack that is
   planned: that stack. Naming another: nobody, saying which stack it names.
2. Without it, the ``owner`` tag: the one planned stack whose registry owner it is.
   Several such stacks: nobody, naming them (tag the object with ``iacdrift:stack``).
3. Otherwise nobody; the object stays for a person (INVESTIGATE).
Every answer comes with the reason, written into the finding's reason on import.
"""

from __future__ import annotations

from collections.abc import Mapping

STACK_TAG = "iacdrift:stack"
OWNER_TAG = "owner"


def receiving_stack(
    tags: Mapping[str, str], owners: Mapping[str, str | None]
) -> tuple[str | None, str]:
    """(the receiving stack or None, why); ``owners``: planned stack -> its owner."""
    named = tags.get(STACK_TAG)
    if named:
        if named in owners:
            return named, f"its tag {STACK_TAG}={named} names the receiving stack"
        return None, f"its tag {STACK_TAG}={named} names a stack that is not planned"
    owner = tags.get(OWNER_TAG)
    if owner:
        stacks = sorted(s for s, o in owners.items() if o == owner)
        if len(stacks) == 1:
            return stacks[0], f"its tag {OWNER_TAG}={owner}: the one planned stack of that owner"
        if stacks:
            return None, (
                f"its tag {OWNER_TAG}={owner} fits several planned stacks "
                f"({', '.join(stacks)}); tag it {STACK_TAG}=<stack> or pass --into"
            )
    return None, f"no {STACK_TAG} or owner tag names a planned stack; pass --into STACK"
