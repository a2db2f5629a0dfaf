"""omarc: omni (audio + video) token compression and compression-robust training on PyTorch Lightning."""

__version__ = "0.1.0"
