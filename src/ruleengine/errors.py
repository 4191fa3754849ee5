"""Diagnostics: every user-fixable problem as a structured record with a stable code.

A `Diagnostic` carries the stage, a stable code (see `CODES`), a message, where it happened (a file span
and/or a field path such as ``entry.conditions[0]``) and a hint. Stages collect all their diagnostics and
raise one `RuleEngineError` holding them. Bugs in our own code stay ordinary exceptions.

Example:
    >>> d = Diagnostic(code="C101", message="unknown function 'smaa'", hint="did you mean 'sma'?")
    >>> d.to_dict()["code"]
    'C101'
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]

#: Stable error codes. The first letter is the stage: R read, S schema, P parse, C check, D data binding,
#: T store, X sandbox, L llm.
CODES: dict[str, str] = {
    # read (stage 0)
    "R101": "file not found or unreadable",
    "R102": "malformed YAML or JSON",
    "R103": "document is not a mapping",
    "R104": "duplicate key",
    "R105": "unsupported input type",
    "R106": "document too large",
    "R107": "document nested too deeply",
    "R108": "too many aliases",
    "R109": "document expands to too many values through aliases",
    "R110": "recursive alias",
    "R111": "merge keys (<<) not supported",
    "R112": "unsupported YAML tag",
    "R113": "number with too many digits",
    "R114": "not a regular file",
    # schema (stage 1)
    "S101": "unknown key",
    "S102": "missing required field",
    "S103": "wrong type",
    "S104": "invalid value",
    "S105": "parameter default outside its bounds",
    "S106": "parameter min greater than max",
    "S107": "empty condition list",
    "S108": "strategy needs conditions or code",
    "S109": "symbols do not belong in a strategy",
    "S110": "invalid name",
    "S111": "name used twice",
    "S112": "structured condition value does not fit its operator",
    "S113": "too many conditions",
    "S114": "risk percentage looks like a fraction",
    "S115": "parameter bound or default is not a finite number",
    "S116": "between bounds reversed",
    "S117": "exit value 0 (write off to switch it off)",
    "S120": "an exit given both in percent and as a distance",
    "S121": "take_profit_by_bars together with another take profit",
    "S122": "invalid take_profit_by_bars table",
    "S123": "trailing_stop_activation_pct without a trailing stop",
    "S124": "a distance that is neither a positive number nor an expression",
    "S118": "short_entry / short_exit on a strategy that is not long_short",
    "S119": "a long_short strategy without short_entry conditions",
    "S125": "limit or stop entry or exit order without a price (long_short: without short_price)",
    "S126": "market entry or exit order with a price (or valid_bars)",
    "S127": "a code strategy's limit or stop order with a price expression (its levels are the code's entry_price)",
    "S128": "limit or stop entry or exit order on a pair strategy, or short_price outside direction long_short",
    # sizing (S130-S134)
    "S130": "more than one sizing method",
    "S131": "risk_per_trade_pct without a stop loss",
    "S132": "volatility_target_pct without volatility, or volatility without volatility_target_pct",
    "S133": "volatility on a code strategy (code returns signals only: nothing computes the series)",
    "S134": "volatility that is neither a positive number nor an expression",
    # pairs: a document block that trades two price slots as one position
    "S135": "invalid pair block (two different legs; a hedge ratio > 0 or an expression)",
    "S136": "pair leg is not an ohlcv data slot",
    "S137": "pair leg without its own symbol (symbol_from)",
    "S138": "pair on a strategy without two price slots",
    "S139": "pair hedge ratio is not a number (a true/false expression, or an expression in a code strategy)",
    "S140": "a stop or target distance on a pair (price units of one instrument; a pair's stops act on its value)",
    "S144": "a code strategy's limit or stop exit order with a price expression (its levels are the code's exit_price)",
    # rotation portfolios (S142-S143)
    "S142": "invalid rotation block (rebalance frequency or parameter, empty or missing selection, volatility "
            "without inverse_volatility)",
    "S143": "a rotation combined with what it cannot serve (a pair, code beside rule selections, a short side, an "
            "entry or exit order, exits of a trade, a swept stop or sizing field)",
    # parse (stage 2)
    "P101": "unexpected token",
    "P102": "unexpected end of expression",
    "P103": "unexpected character",
    "P104": "expression too long",
    "P105": "expression nested too deeply",
    "P106": "empty expression",
    # check (stage 3)
    "C101": "unknown function",
    "C102": "unknown name",
    "C103": "wrong number of arguments",
    "C104": "argument of the wrong type",
    "C105": "window must be a whole number constant or int parameter",
    "C106": "window below its minimum",
    "C107": "negative or non-constant lag",
    "C108": "condition is not boolean",
    "C109": "operator applied to the wrong types",
    "C110": "unknown column of a data slot",
    "C111": "bare column name without a price slot",
    "C112": "parameter kind not usable here",
    "C113": "parameter bounds allow an invalid window",
    "C114": "name is ambiguous",
    "C115": "fast window not shorter than the slow window",
    "C116": "parameter bounds allow a fast window not shorter than the slow window",
    "C117": "cross-sectional function (rank, top, ...) in a run of one symbol: it needs a universe",
    # data binding / execution inputs (stage 5/6)
    "D101": "missing data slot",
    "D102": "missing column",
    "D103": "parameter value invalid",
    "D104": "unknown parameter",
    "D105": "data index is not a DatetimeIndex or not sorted",
    "D106": "empty data",
    "D107": "data slots are not aligned",
    # data providers (stage 5): fetching, symbols, point-in-time alignment
    "D108": "unknown provider",
    "D109": "provider does not serve this data kind or frequency",
    "D110": "symbol not found",
    "D111": "no data in the requested range",
    "D112": "data provider request failed",
    "D113": "data provider rejected the credentials or plan",
    "D114": "malformed data from the provider",
    "D115": "symbols do not match the data slots",
    "D116": "symbol skipped (no data)",
    "D117": "invalid symbols specification",
    "D118": "cannot resample to the execution frequency",
    # local data files: values the provider would otherwise coerce without a word (D150-D159)
    "D150": "data file value is not a number",
    "D151": "data file repeats a timestamp",
    "D152": "data file repeats a column",
    "D153": "data file holds an infinite value",
    "D154": "data file bar with high below low",
    "D155": "data file dates outside the supported range",
    "D156": "data file row without a time",
    "D157": "the broker's current positions disagree with the fills (warning)",
    # backtest (stage 7): warnings about a run's result
    "D119": "no trades (the entry signals never fired)",
    "D120": "synthetic data (not the symbol's real prices)",
    "D121": "benchmark not available (replaced)",
    "D130": "portfolio entries skipped (cash left too short)",
    "D131": "a short's loss exceeded its collateral: equity at or below zero (warning)",
    "D133": "borrow_cost_pct on a strategy that never sells short: no effect (warning)",
    "D135": "entries skipped by a sizing rule or a portfolio cap (warning)",
    "D136": "entries cut down to the cash available (warning)",
    "D137": "live signals: a long and a short entry on one bar cancel, no entry signal (warning)",
    "D145": "a pair strategy on the vectorbt engine (from_signals: one instrument per column, stops per column)",
    "D146": "a pair strategy given single symbols (a universe) instead of its two named legs",
    "D147": "live exit conditions on position variables without a held position (or pair) for some symbols (warning)",
    "D148": "live signals: a pair entry on a bar without a hedge ratio > 0 opens nothing, no entry signal (warning)",
    "D158": "live signals on a point-in-time universe: symbols not members on the bar get no entry (warning)",
    "D165": "live signals on a point-in-time universe: a held symbol's prices ended before the bar (warning)",
    "D166": "live signals of a strategy with an exit order: the level to place for the next bar (warning)",
    # sweeps, walk-forward folds and overfitting statistics
    "D122": "invalid sweep/overfitting input",
    # real data required (live signals, scan, tracking)
    "D160": "real market data required (synthetic data refused)",
    # multi-timeframe slots: symbol_from binding
    "D140": "a slot's symbol_from names no data slot",
    "D141": "data slots take their symbols from each other in a cycle",
    "D142": "a symbol given for a slot that takes its symbol from another slot",
    "D143": "a slot coarser than the bars completes no bar in the range (warning)",
    "D144": "a window or lag over a coarser slot counts execution bars (warning)",
    # command line: output files (D170, D171) and a warm-up longer than the data (D172)
    "D170": "output path cannot be written (checked before the run)",
    "D171": "writing an output file failed",
    "D172": "warm-up longer than the data available",
    # store (stage 8): persistence, live signals, tracking (T1xx)
    "T101": "unknown strategy id",
    "T102": "unknown backtest run id",
    "T103": "unknown signal id",
    "T104": "signal already acted on or closed",
    "T105": "stored strategy no longer compiles",
    "T106": "database error",
    "T107": "invalid store input",
    "T109": "no completed bar to evaluate",
    "T110": "synthetic results are never stored",
    "T111": "signal's data provider not available for tracking",
    "T112": "database is newer than this ruleengine",
    "T113": "database schema damaged or not a ruleengine database",
    "T114": "database folder does not exist",
    "T115": "database file is empty",
    "T116": "a pair signal's fill prices: one per leg (a missing or unknown leg, or one price for two legs)",
    # sandbox: generated Python, static checks and isolated execution (X1xx)
    "X101": "syntax error in strategy code",
    "X102": "code does not define generate_signals(data, params)",
    "X103": "import not allowed in strategy code",
    "X104": "name, attribute or text starting with '_' / containing '__'",
    "X105": "dynamic or reflective builtin not allowed (eval, exec, open, getattr, ...)",
    "X106": "file, network or system access not allowed (pandas/numpy I/O)",
    "X107": "time or randomness in strategy code",
    "X108": "lookahead pattern in strategy code",
    "X109": "strategy code too long or too complex",
    "X110": "statement not allowed at the top level of strategy code",
    "X111": "construct not allowed in strategy code (class, generator, global, async)",
    "X112": "WARMUP_BARS is not a whole number of bars",
    "X120": "sandbox unavailable (kernel lacks seccomp or Landlock): code strategies refused",
    "X121": "strategy code raised an exception",
    "X122": "strategy code timed out (wall clock)",
    "X123": "strategy code exceeded its memory or CPU limit",
    "X124": "strategy code crashed or was killed",
    "X125": "strategy code flooded its output",
    "X126": "strategy output breaks the contract (two boolean Series aligned with the data)",
    "X127": "malformed result from the sandbox",
    "X128": "strategy code is not deterministic",
    "X129": "strategy code looks ahead (signals change when later data are added)",
    "X130": "sandbox worker failed",
    # llm: authoring, the repair loop and agent tools (L1xx)
    "L101": "model reply is not valid JSON",
    "L102": "model reply does not have the requested shape",
    "L103": "model refused or its reply was cut off",
    "L104": "no valid strategy within the attempt budget",
    "L105": "model API request failed",
    "L106": "model API rejected the request or the credentials",
    "L107": "LLM not configured",
    "L108": "unknown tool",
    "L109": "invalid arguments (agent tools and authoring calls)",
    "L110": "refinement changed nothing",
    "L111": "backtest period lies before the model's knowledge cutoff",
    "L112": "agent tools do not open this path (no allowed folder, or outside it)",
    "L113": "file in the allowed folder cannot be used (missing, not a regular file, too large, invalid)",
    "L114": "agent tools busy: every worker and queue place is taken",
    "L115": "tool arguments too large",
    "L116": "live signals need real market data",
    "L117": "run on synthetic data not stored",
    "L118": "invalid agent-tools setting in the environment",
    # the calendar functions of the language (issue 17)
    "L119": "hour() / minute() at a daily or coarser execution frequency: NaN on every bar (warning, data request)",
    # expressions of issue 16's document fields, checked with the conditions (stage "check")
    "L125": "entry order price is true/false, not a price",
    "L126": "entry order price is not in price units",
    # exits that know the trade (issue 16): position variables and risk expressions; stage check unless said
    "L120": "position variable outside an exit condition",
    "L121": "risk expression (a distance, a volatility) is not a number",
    "L122": "position variable inside a function over bars (operators and the bar-by-bar functions take them)",
    "L123": "a distance was not positive (or missing) at an entry: that trade had no such exit (warning, backtest "
            "and sweep)",
    "L124": "stop/take-profit distances need rule conditions (not code)",
}

#: The seeds' ERROR_SCHEMA type of each code that is not a plain validation_error.
ERROR_TYPES: dict[str, str] = {
    "D110": "invalid_symbol_error",
    "D111": "data_fetch_error",
    "D112": "data_fetch_error",
    "D113": "data_fetch_error",
    "D114": "data_fetch_error",
    "D115": "schema_mismatch_error",
    "D142": "schema_mismatch_error",
    "D116": "data_fetch_error",
    **{f"D{n}": "data_fetch_error" for n in range(150, 157)},
    "T106": "execution_error",
    "D171": "execution_error",
    "T109": "data_fetch_error",
    "T111": "data_fetch_error",
    "T112": "execution_error",
    "T113": "execution_error",
    "D157": "data_fetch_error",
    "D160": "data_fetch_error",
    **{f"X{n}": "execution_error" for n in (120, 121, 122, 123, 124, 125, 126, 127, 130)},
    "L101": "code_generation_error",
    "L102": "code_generation_error",
    "L103": "code_generation_error",
    "L104": "code_generation_error",
    "L105": "code_generation_error",
    "L106": "code_generation_error",
    "L107": "code_generation_error",
    "L114": "execution_error",
    "L116": "data_fetch_error",
    "L118": "execution_error",
}


@dataclass(frozen=True)
class Span:
    """A region of source text. Lines and columns are 1-based; `end_col` is exclusive."""

    line: int
    col: int
    end_line: int
    end_col: int
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.col,
                "end_line": self.end_line, "end_column": self.end_col}


@dataclass(frozen=True)
class Diagnostic:
    """One user-facing problem. `path` is a field path like ``entry.conditions[0]``."""

    code: str
    message: str
    span: Span | None = None
    path: str | None = None
    hint: str | None = None
    severity: Severity = "error"
    stage: str = field(default="")

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered diagnostic code {self.code}")
        if not self.stage:
            object.__setattr__(self, "stage", _STAGES[self.code[0]])

    def to_dict(self) -> dict[str, Any]:
        """The JSON record the CLI (--json), the LLM repair loop and the agent tools receive."""
        s = self.span
        return {
            "code": self.code,
            "severity": self.severity,
            "stage": self.stage,
            "message": self.message,
            "file": s.file if s else None,
            "line": s.line if s else None,
            "column": s.col if s else None,
            "end_line": s.end_line if s else None,
            "end_column": s.end_col if s else None,
            "path": self.path,
            "hint": self.hint,
        }

    def with_location(self, span: Span | None, path: str | None) -> Diagnostic:
        return Diagnostic(self.code, self.message, span or self.span, path or self.path, self.hint,
                          self.severity, self.stage)


_STAGES = {"R": "read", "S": "schema", "P": "parse", "C": "check", "D": "data", "T": "store", "X": "sandbox",
           "L": "llm"}


class RuleEngineError(Exception):
    """Raised by a stage with every diagnostic it collected. `source` allows rendering with context."""

    def __init__(self, diagnostics: Sequence[Diagnostic], source: Any | None = None) -> None:
        self.diagnostics = list(diagnostics)
        self.source = source
        first = self.diagnostics[0] if self.diagnostics else None
        summary = f"{first.code}: {first.message}" if first else "error"
        more = f" (+{len(self.diagnostics) - 1} more)" if len(self.diagnostics) > 1 else ""
        super().__init__(summary + more)

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle their `args` (the summary text) by default; worker processes (sweep executors)
        # send the diagnostics themselves back.
        return (type(self), (self.diagnostics, self.source))

    def render(self) -> str:
        return render(self.diagnostics, self.source)

    @property
    def error_type(self) -> str:
        """The ERROR_SCHEMA type of the first error (validation_error unless its code says otherwise)."""
        first = next((d for d in self.diagnostics if d.severity == "error"), None)
        return ERROR_TYPES.get(first.code, "validation_error") if first else "validation_error"

    def to_error_schema(self, error_type: str | None = None) -> dict[str, Any]:
        """The seeds' ERROR_SCHEMA wrapper used at the service boundary."""
        return {"success": False, "error": {"type": error_type or self.error_type, "message": str(self),
                                             "details": [d.to_dict() for d in self.diagnostics]}}


def did_you_mean(name: str, candidates: Iterable[str], n: int = 1) -> str | None:
    """A hint naming the closest known names, or None."""
    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=n, cutoff=0.6)
    if not matches:
        return None
    return "did you mean " + " or ".join(f"'{m}'" for m in matches) + "?"


def render(diagnostics: Sequence[Diagnostic], source: Any | None = None) -> str:
    """Render diagnostics rustc-style, with the source line and a caret under the span.

    `source` is a `ruleengine.source.SourceText` (or None): it supplies the lines for context.
    """
    lines = source.text.splitlines() if source is not None and getattr(source, "text", None) else []
    out: list[str] = []
    for d in diagnostics:
        out.append(f"{d.severity}[{d.code}]: {d.message}")
        s = d.span
        where = ""
        if s is not None:
            where = f"{s.file or '<input>'}:{s.line}:{s.col}"
        if where or d.path:
            loc = where + (f"  ({d.path})" if d.path and where else (d.path or ""))
            out.append(f"  --> {loc}")
        if s is not None and 1 <= s.line <= len(lines):
            text = lines[s.line - 1]
            gutter = str(s.line)
            pad = " " * len(gutter)
            width = max(1, (s.end_col - s.col) if s.end_line == s.line else len(text) - s.col + 1)
            text, col, width = _clip(text, s.col, width)
            out.append(f"{pad} |")
            out.append(f"{gutter} | {text}")
            caret = " " * (col - 1) + "^" * width
            out.append(f"{pad} | {caret}" + (f" {d.hint}" if d.hint else ""))
        elif d.hint:
            out.append(f"  = hint: {d.hint}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


_MAX_SHOWN = 120  # characters of a long source line shown around the span


def _clip(text: str, col: int, width: int) -> tuple[str, int, int]:
    """A window of at most `_MAX_SHOWN` characters of a long line around the span, marked with '...'.

    Returns the text to show, the caret's column in it and the caret's width.
    """
    if len(text) <= _MAX_SHOWN:
        return text, col, width
    start = max(0, min(col - 1 - 20, len(text) - _MAX_SHOWN))
    end = start + _MAX_SHOWN
    prefix = "..." if start > 0 else ""
    suffix = "..." if end < len(text) else ""
    new_col = col - start + len(prefix)
    width = max(1, min(width, end - (col - 1)))
    return prefix + text[start:end] + suffix, new_col, width
