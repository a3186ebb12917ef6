"""Order stacks so that a stack comes after the stacks whose state it reads."""

from __future__ import annotations

from collections.abc import Mapping, Set

import networkx as nx


def dependency_order(stacks: Set[str] | list[str], reads: Mapping[str, Set[str]]) -> list[str]:
    """Topological order of ``stacks`` given ``reads[stack]`` = stacks it reads.

    Ties are broken by name so the order is deterministic. Reads of stacks
    outside ``stacks`` are ignored. A cycle raises ValueError naming it.
    """
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(sorted(stacks))
    for stack in sorted(stacks):
        for upstream in sorted(reads.get(stack, set())):
            if upstream in graph and upstream != stack:
                graph.add_edge(upstream, stack)
    try:
        return list(nx.lexicographical_topological_sort(graph))
    except nx.NetworkXUnfeasible:
        cycle = " -> ".join(edge[0] for edge in nx.find_cycle(graph))
        raise ValueError(f"stacks read each other's state in a cycle: {cycle}") from None
