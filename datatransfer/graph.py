"""The order in which tables are written, computed from the models' foreign keys.

Cycles are broken on nullable foreign keys, which become *deferred*: rows are written
without them first and the links are set once every table is written. Self-references
are always deferred.
"""

import heapq
from dataclasses import dataclass

from django.db import models

from datatransfer.exceptions import GraphError


@dataclass(frozen=True)
class Node:
    """One model in the order: what it needs written before it, and what waits until after."""

    model: type[models.Model]
    dependencies: tuple[type[models.Model], ...]
    deferred: tuple[models.ForeignKey, ...]


def relations(model) -> list[tuple[models.Field, type[models.Model]]]:
    """Return the model's outgoing links: concrete foreign keys, one-to-ones and
    many-to-manys declared on it, each with the model it points to."""
    links = [(f, f.related_model) for f in model._meta.concrete_fields if f.is_relation]
    links += [(f, f.related_model) for f in model._meta.local_many_to_many]
    return links


def _strongly_connected(nodes, edges):
    """Tarjan's algorithm; returns the components in a deterministic order."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            result.append(sorted(component))

    for node in nodes:
        if node not in index:
            visit(node)
    return result


def dependency_order(model_list) -> list[Node]:
    """Return `model_list` as Nodes in a deterministic order where every model comes after
    the models its non-deferred links point to; ties keep `model_list`'s order.

    Links to models outside `model_list` are ignored (they must exist in the target).
    Raises GraphError for a cycle that has no nullable foreign key to break it.
    """
    position = {model: i for i, model in enumerate(model_list)}
    # edges[i] = {j: [fields]}: model i depends on model j through fields.
    edges = {i: {} for i in range(len(model_list))}
    deferred = {i: [] for i in range(len(model_list))}
    for model, i in position.items():
        for field, target in relations(model):
            if target not in position:
                continue
            j = position[target]
            if i == j:
                if not field.null:
                    raise GraphError(
                        f"{model._meta.label}.{field.name} points to its own table and is not "
                        "nullable: rows cannot be ordered."
                    )
                deferred[i].append(field)
                continue
            edges[i].setdefault(j, []).append(field)

    _break_cycles(model_list, edges, deferred)

    waiting = {i: set(edges[i]) for i in edges}
    dependants = {i: set() for i in edges}
    for i, targets in edges.items():
        for j in targets:
            dependants[j].add(i)
    ready = [i for i, needs in waiting.items() if not needs]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for k in dependants[i]:
            waiting[k].discard(i)
            if not waiting[k]:
                heapq.heappush(ready, k)
    return [
        Node(
            model=model_list[i],
            dependencies=tuple(model_list[j] for j in sorted(edges[i])),
            deferred=tuple(deferred[i]),
        )
        for i in order
    ]


def _break_cycles(model_list, edges, deferred):
    """Move nullable links out of `edges` into `deferred` until no cycle is left.

    In each cycle, the model that comes first in `model_list` gives up its nullable links
    into the cycle; repeat until every component is a single model.
    """
    while True:
        components = [
            c
            for c in _strongly_connected(list(edges), {i: set(e) for i, e in edges.items()})
            if len(c) > 1
        ]
        if not components:
            return
        for component in components:
            members = set(component)
            for i in component:
                inside = [j for j in edges[i] if j in members]
                nullable = [j for j in inside if all(f.null for f in edges[i][j])]
                if nullable:
                    for j in nullable:
                        deferred[i].extend(edges[i].pop(j))
                    break
            else:
                names = ", ".join(model_list[i]._meta.label for i in component)
                raise GraphError(f"Cycle between {names} has no nullable foreign key to break it.")
