"""Auxiliary heads: branches that feed only a training-only output.

GoogLeNet's and Inception-v3's auxiliary classifiers, deep-supervision heads: the network returns
them only while it trains (or names them so), and they are dropped before it is shipped. A
finding on such a branch is about a part the user never deploys, so it is reported as info with
a note (:func:`auxiliary_nodes`, applied by ``api.check_graph``).

An output is training-only when the frontend saw it only in training mode
(``graph.meta["training_only_outputs"]``: the torch frontend compares a training-mode capture's
outputs with the model's outputs in eval mode), or when its producing layer is named as an
auxiliary or deep-supervision head (``aux``, ``auxiliary``, ``AuxLogits``, ``deep_supervision``,
``ds_out`` ...) while another output is not.
"""

from __future__ import annotations

import re

from archlint.graph import Graph, Node, OpKind

_AUX_NAME = re.compile(r"(^|[._/\-])(aux\w*|auxiliary\w*|deep_?supervision\w*|ds_?out\w*)($|[._/\-\d])", re.I)
_AUX_CAMEL = re.compile(r"Aux[A-Z]")

NOTE = "on an auxiliary head that feeds only a training-only output, dropped before deployment"


def _named_aux(node: Node) -> bool:
    text = f"{node.layer}/{node.outputs[0].name if node.outputs else ''}" if node.kind is not OpKind.OUTPUT else node.layer
    return bool(_AUX_NAME.search(text) or _AUX_CAMEL.search(text))


def training_only_outputs(graph: Graph) -> list[Node]:
    """The OUTPUT nodes of training-only outputs (never all of them: one output is the model's)."""
    outs = [n for n in graph.nodes if n.kind is OpKind.OUTPUT]
    if len(outs) < 2:
        return []
    marked = set(graph.meta.get("training_only_outputs") or ())
    found = [n for n in outs if n.inputs and n.inputs[0].name in marked]
    if not found:
        found = [n for n in outs if n.inputs and n.inputs[0].producer is not None
                 and (_named_aux(n.inputs[0].producer) or _named_aux(n))]
    return found if len(found) < len(outs) else []


def auxiliary_nodes(graph: Graph) -> set[int]:
    """Ids of the nodes whose results reach only training-only outputs (one reverse pass)."""
    aux_outs = training_only_outputs(graph)
    if not aux_outs:
        return set()
    aux_ids = {id(n) for n in aux_outs}
    main: set[int] = set()  # reaches a deployed output
    side: set[int] = set()  # reaches a training-only output
    for n in reversed(graph.nodes):
        if n.kind is OpKind.OUTPUT:
            (side if id(n) in aux_ids else main).add(id(n))
            continue
        succ = n.successors()
        if any(id(s) in main for s in succ):
            main.add(id(n))
        elif any(id(s) in side for s in succ):
            side.add(id(n))
    return side - main
