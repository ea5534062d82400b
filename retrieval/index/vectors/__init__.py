"""The dense side of the index: a ``VectorStore`` protocol and one module per backend."""
