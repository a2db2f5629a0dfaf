"""omarc: omni (audio + video) token compression and compression-robust training on PyTorch Lightning.

``omarc.pipeline(model)`` -> :class:`omarc.api.OmniPipeline`: answer a question about a clip
under a named compressor (imported on first use, so ``import omarc`` stays light).
"""

__version__ = "0.1.0"
__all__ = ["OmniPipeline", "PipelineOutput", "pipeline"]


def pipeline(model="default", processor=None, **options):
    """:func:`omarc.api.pipeline`: an :class:`OmniPipeline` for a model name, checkpoint folder or model object."""
    from omarc.api import pipeline as build  # noqa: PLC0415 - torch and transformers load on first use

    return build(model, processor, **options)


def __getattr__(name: str):
    if name in ("OmniPipeline", "PipelineOutput"):
        import omarc.api as module  # noqa: PLC0415

        return getattr(module, name)
    raise AttributeError(f"module 'omarc' has no attribute {name!r}")
