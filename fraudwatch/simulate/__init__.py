"""A telecom operator simulator: ordinary traffic, labelled fraud, hard negatives.

Nobody outside a carrier can share real CDRs; this package writes files in the record
contract's canonical formats (``calls.csv``, ``sms.csv``, ``registrations.csv``,
``feedback.csv``), a ground truth ``labels.json`` and optionally a SIP capture, for the
demo, the tests, the benchmarks and for measuring detection quality.

Modules: :mod:`.phonebook` (China numbering), :mod:`.rhythm` (diurnal/weekly volume),
:mod:`.population` (subscribers), :mod:`.background` (ordinary traffic),
:mod:`.scenarios` (labelled fraud), :mod:`.negatives` (hard negatives), :mod:`.writers`
(CSV files), :mod:`.sippcap` (SIP pcap), :mod:`.simulation` (putting it together).
"""

from fraudwatch.simulate.simulation import DEFAULT_START, SimulationResult, simulate

__all__ = ["DEFAULT_START", "SimulationResult", "simulate"]
