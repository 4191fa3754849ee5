"""The expression language: grammar loading, parsing to an AST with spans, types, functions, checking."""
