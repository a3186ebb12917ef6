"""Which stack receives an unmanaged object, by its tags (when ``--into`` is not given).

Contract of :func:`receiving_stack` (pure; the caller reads the tags):

1. The tag ``iacdrift:stack`` names the receiving stack. Naming a registered stack
   that is planned: that stack. Naming another: nobody, saying which stack it names
   and what to do.
2. Without it, the ``owner`` tag: the one registered stack whose registry owner it is
   (across the whole registry, so the answer does not depend on which stacks were
   planned), when that stack is planned. An owner of several stacks: nobody, naming
   them (tag the object with ``iacdrift:stack``).
3. Otherwise nobody; the object stays for a person (INVESTIGATE).
Every answer comes with the reason, written into the finding's reason on import.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

STACK_TAG = "iacdrift:stack"
OWNER_TAG = "owner"


def receiving_stack(
    tags: Mapping[str, str], owners: Mapping[str, str | None], planned: Collection[str]
) -> tuple[str | None, str]:
    """(the receiving stack or None, why); ``owners``: every registered stack -> its
    owner; ``planned``: the stacks being planned."""
    named = tags.get(STACK_TAG)
    if named:
        if named in planned:
            return named, f"its tag {STACK_TAG}={named} names the receiving stack"
        if named in owners:
            return None, f"its tag {STACK_TAG}={named} names a stack not planned: plan it too"
        return None, f"its tag {STACK_TAG}={named} names no registered stack; fix the tag"
    owner = tags.get(OWNER_TAG)
    if owner:
        stacks = sorted(s for s, o in owners.items() if o == owner)
        if len(stacks) == 1:
            if stacks[0] in planned:
                return stacks[0], f"its tag {OWNER_TAG}={owner}: the one stack of that owner"
            return None, (
                f"its tag {OWNER_TAG}={owner}: the one stack of that owner is {stacks[0]}, "
                "not planned: plan it too"
            )
        if stacks:
            return None, (
                f"its tag {OWNER_TAG}={owner} fits several stacks ({', '.join(stacks)}); "
                f"tag it {STACK_TAG}=<stack> or pass --into"
            )
    return None, f"no {STACK_TAG} or owner tag names a stack; pass --into STACK"
