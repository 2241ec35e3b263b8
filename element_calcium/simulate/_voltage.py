"""Writer of Bruker PrairieView voltage recordings (analog behaviour inputs)."""

from __future__ import annotations

import pathlib
from xml.sax.saxutils import escape

import numpy as np

from element_calcium.simulate._checks import check_number
from element_calcium.simulate._files import START, write_text


def write_voltage_recording(path, signals: dict[str, np.ndarray], *, rate: float) -> pathlib.Path:
    """Write analog inputs as a Bruker PrairieView voltage recording: ``path`` (CSV) and its ``.xml``.

    Args:
        path: the CSV file to write, e.g. ``.../TSeries-001_Cycle00001_VoltageRecording_001.csv``.
        signals: input name (e.g. ``"Input 0"``) -> (n,) samples in volts, all of one length n >= 2.
        rate: samples per second; sample i is at ``1000 * i / rate`` ms.

    Returns:
        The CSV path.
    """
    path = pathlib.Path(path)
    rate = check_number("rate", rate, 0.0, strict=True)
    lengths = {len(values) for values in signals.values()}
    if not signals or len(lengths) != 1 or lengths.pop() < 2:
        raise ValueError("signals must map names to sample arrays of one length, at least 2")
    columns = {"Time(ms)": np.arange(len(next(iter(signals.values())))) * 1000.0 / rate}
    columns.update({name: np.asarray(values, dtype=np.float64) for name, values in signals.items()})
    lines = [", ".join(columns)]
    lines += [", ".join(f"{value:.6g}" for value in row) for row in zip(*columns.values())]
    entries = "".join(
        f"<VRecSignal><Name>{escape(name)}</Name><Channel>{channel}</Channel><Enabled>true</Enabled>"
        f"<Unit><UnitName>V</UnitName><Multiplier>1</Multiplier><Divisor>1</Divisor></Unit></VRecSignal>"
        for channel, name in enumerate(signals)
    )
    write_text(path.with_suffix(".xml"), (
        f'<?xml version="1.0" encoding="utf-8"?>\n<VRecSessionEntry><DateTime>{START.isoformat()}</DateTime>'
        f"<Experiment><Rate>{rate:g}</Rate><AcquisitionTime>{1000 * len(lines[1:]) / rate:g}</AcquisitionTime>"
        f"<SignalList>{entries}</SignalList></Experiment></VRecSessionEntry>\n"
    ))
    write_text(path, "\n".join(lines) + "\n")
    return path
