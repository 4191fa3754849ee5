"""The committed OHLCV sample (tests/fixtures/daily_sample/daily.parquet) and how it was cut.

The kernel oracle tests and the engine cross-checks need real prices (gaps, flat stretches, penny prices,
listings and delistings), not the full 15 MB of ../shared/data. Where that folder is absent they run on this
sample instead: a few symbols x a few hundred daily bars cut from ../shared/data/daily.parquet, in the same
file layout and schema, so the ``local`` provider reads it through the same code path.

Regenerate (only needed if the cut below changes; the file is committed)::

    cd tests && python -m support.daily_sample

Each symbol keeps one window of `BARS` consecutive bars, chosen so that the properties the tests rely on stay:
the ETFs share 2011-07 .. 2013-06, LEHMQ and HPCCP end there (delisted in 2012: penny prices, flat stretches,
zero-volume days), AAPL starts there (listed in the data from 2012-12), so aligned columns have missing bars;
WWY keeps its flat, zero-volume tail.
"""
from __future__ import annotations

from pathlib import Path

from support.paths import FIXTURES, SHARED_DATA

SAMPLE = FIXTURES / "daily_sample"
BARS = 500
#: symbol -> which end of its history the window is anchored to: "first" bars, "last" bars, or a start date.
WINDOWS = {
    "SPY": "2011-07-01", "QQQ": "2011-07-01", "XLE": "2011-07-01", "XLF": "2011-07-01",
    "AAPL": "first", "LEHMQ": "last", "HPCCP": "last", "WWY": "last",
}


def cut(source: Path = SHARED_DATA / "daily.parquet", target: Path = SAMPLE / "daily.parquet") -> Path:
    """Write the sample: per symbol of `WINDOWS`, `BARS` consecutive rows of `source`, schema unchanged."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(source)
    parts = []
    for symbol, anchor in WINDOWS.items():
        rows = table.filter(pc.equal(table["symbol"], symbol)).sort_by("date")
        if anchor == "first":
            start = 0
        elif anchor == "last":
            start = max(rows.num_rows - BARS, 0)
        else:
            dates = rows["date"].cast(pa.string()).to_pylist()
            start = next(i for i, d in enumerate(dates) if d >= anchor)
        parts.append(rows.slice(start, BARS))
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.concat_tables(parts), target, compression="zstd", compression_level=19)
    return target


if __name__ == "__main__":
    written = cut()
    print(f"{written}: {written.stat().st_size} bytes")
