"""The step graph: which repair step must finish before which (networkx).

Nodes are step ids. Only steps that are carried out (``ordered``: they mutate, or
they are the verification) take part in the order; the others (drafts, refused
steps, steps for a person) are isolated nodes, in the first batch.

Edges, for the ordered steps of one stack:

1. Precedence of phases: moves, then imports, then removals, then refresh (and
   code updates), then targeted reverts, then the stack's apply, then the
   verification check. Every step of a phase precedes every step of the next
   non-empty phase.
2. Resource dependencies within a phase: step A precedes step B when one of B's
   addresses depends, directly or through addresses that have no step, on one of
   A's (``dependencies``: address -> the addresses it depends on, from the state's
   ``dependencies`` and the configuration's references; compared without instance
   keys). Across phases rule 1 decides, so data never contradicts precedence.
3. Module nesting within a phase: a step on a module instance (a ``moved`` of a
   whole module call, ``module.a`` or ``module.a["k"]``) precedes a step on an
   address inside it (``module.a.aws_s3_bucket.x``, ``module.a.module.b...``).
4. Across stacks: when stack D reads stack U's outputs (``terraform_remote_state``,
   registry order), U's verification precedes D's first steps.

A cycle is a :class:`~iacdrift.errors.DependencyCycleError` naming its members.
Batches are the topological generations, each sorted by (phase, stack, id).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import networkx as nx

from iacdrift.core.reconcile import hcl
from iacdrift.errors import DependencyCycleError
from iacdrift.models.finding import Action
from iacdrift.primitives.address import config_address

# Phase of each action (rule 1); the verification comes last.
PHASES: dict[Action, int] = {
    Action.MOVE: 0,
    Action.IMPORT: 1,
    Action.REMOVE_FROM_STATE: 2,
    Action.REFRESH: 3,
    Action.UPDATE_CODE: 3,
    Action.REVERT: 4,
    Action.INCIDENT_AND_REVERT: 4,
    # The stack's whole apply comes after the targeted reverts: one step over many
    # addresses inside the reverts' phase would be ordered both before and after them.
    Action.APPLY: 5,
}
UNORDERED_PHASE = 6  # steps nothing is carried out for
VERIFY_PHASE = 7


@dataclass(frozen=True)
class Node:
    """A step as the graph sees it."""

    id: str
    stack: str
    phase: int
    ordered: bool
    addresses: tuple[str, ...] = ()

    @property
    def sort_key(self) -> tuple[int, str, str]:
        return (self.phase, self.stack, self.id)


def phase_of(action: Action | None, *, verify: bool = False) -> int:
    if verify:
        return VERIFY_PHASE
    return PHASES.get(action, UNORDERED_PHASE) if action is not None else UNORDERED_PHASE


def _resource_graph(dependencies: Mapping[str, Collection[str]]) -> Any:
    graph = nx.DiGraph()
    for address, needs in sorted(dependencies.items()):
        dependent = config_address(address)
        graph.add_node(dependent)
        for need in sorted(needs):
            graph.add_edge(config_address(need), dependent)
    return graph


def build_graph(
    nodes: Sequence[Node],
    *,
    dependencies: Mapping[str, Mapping[str, Collection[str]]] | None = None,
    reads: Mapping[str, Collection[str]] | None = None,
    edges: Iterable[tuple[str, str]] = (),
) -> Any:
    """The step graph (a ``networkx.DiGraph`` of step ids, each with its ``node``).

    ``dependencies``: per stack, address -> addresses it depends on (rule 2);
    ``reads``: stack -> the stacks whose outputs it reads (rule 3); ``edges``: extra
    (before, after) pairs already decided (a plan's ``dependsOn``). Raises
    DependencyCycleError when the result has a cycle.
    """
    graph = nx.DiGraph()
    by_stack: dict[str, list[Node]] = {}
    for node in sorted(nodes, key=lambda n: n.sort_key):
        graph.add_node(node.id, node=node)
        if node.ordered:
            by_stack.setdefault(node.stack, []).append(node)
    graph.add_edges_from(edges)
    for stack, members in sorted(by_stack.items()):
        phases: dict[int, list[Node]] = {}
        for node in members:
            phases.setdefault(node.phase, []).append(node)
        ordered = [phases[p] for p in sorted(phases)]
        for earlier, later in pairwise(ordered):
            graph.add_edges_from((a.id, b.id) for a in earlier for b in later)
        needs = (dependencies or {}).get(stack)
        if needs:
            _dependency_edges(graph, ordered, _resource_graph(needs))
        _nesting_edges(graph, ordered)
    verify = {
        stack: next((n.id for n in members if n.phase == VERIFY_PHASE), None)
        for stack, members in by_stack.items()
    }
    for downstream, upstreams in sorted((reads or {}).items()):
        roots = [
            n.id
            for n in by_stack.get(downstream, [])
            if not any(graph.nodes[p]["node"].stack == downstream for p in graph.predecessors(n.id))
        ]
        for upstream in sorted(upstreams):
            last = verify.get(upstream)
            if last is not None and upstream != downstream:
                graph.add_edges_from((last, root) for root in roots)
    check_acyclic(graph)
    return graph


def _dependency_edges(graph: Any, phases: list[list[Node]], resources: Any) -> None:
    for members in phases:
        if len(members) < 2:
            continue
        owners: dict[str, list[str]] = {}
        for node in members:
            for address in {config_address(a) for a in node.addresses}:
                owners.setdefault(address, []).append(node.id)
        for node in members:
            upstream: set[str] = set()
            for address in {config_address(a) for a in node.addresses}:
                if address in resources:
                    upstream |= nx.ancestors(resources, address)
            for address in sorted(upstream):
                for before in owners.get(address, []):
                    if before != node.id:
                        graph.add_edge(before, node.id)


def is_module_address(address: str) -> bool:
    """``module.a``, ``module.a["k"]``, ``module.a.module.b``: a module instance, no resource."""
    try:
        steps = hcl.parse_address(address)
    except ValueError:
        return False
    return len(steps) % 2 == 0 and all(s.name == "module" for s in steps[::2])


def _nesting_edges(graph: Any, phases: list[list[Node]]) -> None:
    """Rule 3."""
    for members in phases:
        modules = [
            (node.id, address)
            for node in members
            for address in node.addresses
            if is_module_address(address)
        ]
        if not modules:
            continue
        for node in members:
            for owner, module in modules:
                # Inside module.a: module.a.x, and (module.a names every instance)
                # module.a["k"].x.
                prefixes = (module + ".",) if module.endswith("]") else (module + ".", module + "[")
                if owner != node.id and any(a.startswith(prefixes) for a in node.addresses):
                    graph.add_edge(owner, node.id)


def check_acyclic(graph: Any) -> None:
    """DependencyCycleError naming the steps (and their addresses) of one cycle."""
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    members = [str(edge[0]) for edge in cycle]

    def label(step: str) -> str:
        node = graph.nodes[step].get("node")
        if node is None:
            return step
        where = ", ".join(node.addresses) or "verification"
        return f"{step} [{node.stack}: {where}]"

    path = " -> ".join(label(m) for m in [*members, members[0]])
    raise DependencyCycleError(
        f"repair steps depend on each other in a cycle: {path}; check the state's "
        "dependencies, the configuration's references and the stacks' remote-state reads",
        members,
    )


def batches(graph: Any) -> list[list[str]]:
    """The topological generations of ``graph``: step ids, each batch sorted by
    (phase, stack, id)."""

    def key(step: str) -> tuple[int, str, str]:
        node: Node = graph.nodes[step]["node"]
        return node.sort_key

    return [sorted((str(s) for s in gen), key=key) for gen in nx.topological_generations(graph)]


def depends_on(graph: Any) -> dict[str, list[str]]:
    """Step id -> the steps it directly waits for (the transitive reduction), sorted."""
    reduced = nx.transitive_reduction(graph)
    return {str(step): sorted(str(p) for p in reduced.predecessors(step)) for step in graph.nodes}
