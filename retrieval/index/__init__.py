"""The index: chunking, BM25, vectors, the on-disk store and the builder."""
