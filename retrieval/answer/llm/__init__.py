"""Language-model clients for written answers: one module per backend behind ``ChatModel``."""
