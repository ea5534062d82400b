"""Turn text into unit vectors: the ``Embedder`` protocol (base), one module per backend, a factory."""
