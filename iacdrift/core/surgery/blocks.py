"""Which state operations configuration can say instead, and the blocks that say them.

Contract of :func:`configuration_block` (pure; one operation of a validated
:class:`~iacdrift.models.surgery.StateMigration`). Rules, in the order the code
follows them:

1. ``mv`` is a ``moved {}`` block, ``from`` and ``to`` as written (within or across
   modules, resources or whole module calls).
2. ``rm`` is one ``removed {}`` block per address, each with ``lifecycle { destroy =
   false }`` so the object stays in the cloud, in the order written. ``removed.from``
   takes no instance keys (it forgets every instance of a resource or module), so an
   address with keys makes the whole operation not expressible, saying which.
3. ``import`` is an ``import {}`` block, ``to`` and ``id`` as written.
4. ``replace-provider`` is not expressible: the provider a resource was created by is
   recorded in the state, and no block changes it.
5. ``force-unlock`` is not expressible: a lock is not configuration.
6. An address the HCL writer refuses (:mod:`iacdrift.core.reconcile.hcl`) makes the
   operation not expressible with the writer's reason, never a wrong block.

:func:`configuration_alternative` is the blocks of every operation as one file's text
(:func:`~iacdrift.core.reconcile.hcl.render_blocks`: sorted, a blank line between),
or None as soon as one operation is not expressible: half a migration in configuration
and half in the state is not an alternative.
"""

from __future__ import annotations

from collections.abc import Sequence

from iacdrift.core.reconcile import hcl
from iacdrift.models.surgery import (
    ConfigurationBlock,
    ForceUnlockOperation,
    ImportOperation,
    MoveOperation,
    Operation,
    RemoveOperation,
    ReplaceProviderOperation,
)

__all__ = ["configuration_alternative", "configuration_block"]

REPLACE_PROVIDER_WHY = (
    "configuration cannot change the provider the state records for a resource; "
    "only `terraform state replace-provider` can"
)
FORCE_UNLOCK_WHY = (
    "a lock is not configuration: it is released by force-unlock at apply time, "
    "after its age and holder are checked"
)


def _not_expressible(why: str) -> ConfigurationBlock:
    return ConfigurationBlock(expressible=False, why=why)


def configuration_block(operation: Operation) -> ConfigurationBlock:
    """Whether configuration can say ``operation``, and the block text (rules 1-6)."""
    try:
        if isinstance(operation, MoveOperation):  # Rule 1.
            return ConfigurationBlock(
                expressible=True, block=hcl.moved_block(operation.from_, operation.to)
            )
        if isinstance(operation, RemoveOperation):  # Rule 2.
            keyed = [a for a in operation.addresses if hcl.has_instance_keys(a)]
            if keyed:
                return _not_expressible(
                    f"{', '.join(keyed)}: removed {{}} takes no instance keys (it forgets "
                    "every instance of a resource or module); one instance needs "
                    "`terraform state rm`"
                )
            blocks = [hcl.removed_block(address) for address in operation.addresses]
            return ConfigurationBlock(expressible=True, block="\n".join(blocks))
        if isinstance(operation, ImportOperation):  # Rule 3.
            return ConfigurationBlock(
                expressible=True, block=hcl.import_block(operation.to, operation.id)
            )
    except ValueError as exc:  # Rule 6.
        return _not_expressible(str(exc))
    if isinstance(operation, ReplaceProviderOperation):  # Rule 4.
        return _not_expressible(REPLACE_PROVIDER_WHY)
    if isinstance(operation, ForceUnlockOperation):  # Rule 5.
        return _not_expressible(FORCE_UNLOCK_WHY)
    raise TypeError(f"not a state operation: {operation!r}")


def configuration_alternative(blocks: Sequence[ConfigurationBlock]) -> str | None:
    """The blocks of every operation as one file's text; None when any one is not
    expressible (or there are none)."""
    if not blocks or not all(b.expressible and b.block for b in blocks):
        return None
    return hcl.render_blocks([b.block for b in blocks if b.block])
