"""Incremental inference: logits of one-pixel (or few-pixel) candidates without a full forward pass.

A candidate differs from its clean image in a few pixels, so most activations of the first layers
equal the clean image's. The model is traced with torch.fx, batch norms are folded into the
convolutions before them, and the clean activations of every node are cached once. A candidate is
then carried as a *window*: the values of a small rectangle of each activation map (fixed size per
node, clamped inside the map) that covers everything the changed pixel can reach. Spatial layers
(convolution, max/average pooling, zero padding, strided subsampling) recompute their window from
a crop of the cached clean input with the changed window written in; pointwise layers apply to the
window; additions and channel concatenations align their operands' windows first. From the
*cutoff* node on, windows are written into copies of the clean maps and the rest of the network
runs densely. The cutoff is chosen by measurement per model, device and input size.

Nodes that it cannot carry as windows (anything not listed above) make the dense switch happen
before them, so results are never silently wrong; :class:`UnsupportedModel` is raised when not even
the first layer can be carried. k-pixel candidates run one window per pixel; a candidate whose
windows meet before the cutoff is run again with the dense switch just before the node where they
met, and densely from the input only when they already overlap there.
"""
from .backend import IncrementalBackend
from .graph import UnsupportedModel, fold_batchnorm

__all__ = ["IncrementalBackend", "UnsupportedModel", "fold_batchnorm"]
