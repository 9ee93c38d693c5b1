"""snnc: a compiler toolchain for spiking neural networks.

Searchers emit textual genomes; the frontend lowers them to a spiking dataflow IR with explicit
synaptic delays and backward edges; passes fold BatchNorm and depthwise convolutions; backends train
(PyTorch), simulate (Lava/Loihi), cost (SOP/energy) and interchange (NIR, ONNX). See docs/ARCHITECTURE.md.
"""
__version__ = "0.1.0"
