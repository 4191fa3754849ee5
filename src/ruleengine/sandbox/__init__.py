"""Stage 6': generated Python (``code:`` strategies), statically checked and run in a hardened sandbox.

Modules: `static` (the AST check, fast feedback), `lockdown` (kernel layers in the child), `zygote` and
`child` (the pre-warmed process and what its forked children do), `pool` (the engine's zygotes), `protocol`
(the raw job/result format), `runner` (timeouts, caps, error mapping), `checks` (output contract,
determinism and lookahead), `strategy` (`CodeStrategy`). Importing this package loads none of them.

Example:
    >>> from ruleengine.sandbox.static import check_code
    >>> check_code("def generate_signals(data, params):\\n    c = data['prices']['close']\\n"
    ...            "    return c > c.shift(1), c < c.shift(1)\\n")
    []
"""
