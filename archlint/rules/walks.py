"""The rules' walk vocabulary, public for code outside the rules (the fixes' rewrites walk
the graph with the same sets the rules check with): what a walk may pass through, and the
walkers. Defined in :mod:`archlint.rules._match`."""

from archlint.rules._match import (
    ELEMENTWISE,
    NORMALISATIONS,
    PASSABLE,
    REGULARISERS,
    WalkSet,
    nearest_downstream,
    through,
)

__all__ = ["ELEMENTWISE", "NORMALISATIONS", "PASSABLE", "REGULARISERS", "WalkSet", "nearest_downstream", "through"]
