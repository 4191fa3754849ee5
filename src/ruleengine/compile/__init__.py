"""Compiler stages 4-6: IR with shared subexpressions, planning with derived warm-up, execution on arrays."""
