"""archlint's evidence experiments (``archlint validate``).

Importing this package is cheap: torch, numpy and matplotlib are imported only by the modules that
train or plot. ``validation.evidence`` never imports torch.
"""

__version__ = "0.1.0"
