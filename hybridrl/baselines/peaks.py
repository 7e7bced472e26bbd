"""What a site can know of the grid's coincident peaks (4CP) before the month is over.

The plant charges the site for its draw in the step of each charged month's highest realised
system load (:class:`~hybridrl.sim.params.GridParams`), a step nobody knows until the month has
ended. A site knows today's day-ahead load forecast (``load_forecast_gw``, and its daily maximum
``load_day_peak_forecast_gw``) and the highest load realised so far this month
(``load_month_high_gw``); :class:`PeakRule` turns
that into a share in [0, 1] of the month's charge expected from drawing now, the way operators
call 4CP curtailments: curtail the hours near today's forecast peak on days whose forecast peak
comes close to the month's highest load so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from hybridrl.sim.exogenous import calendar
from hybridrl.sim.information import PathView
from hybridrl.sim.params import ScenarioParams

FloatArray = NDArray[np.float64]


@dataclass
class PeakRule:
    """Expected share of a month's coincident-peak charge that drawing now sets (0 or 1).

    Now counts as a likely peak when the month is a charged one, today's forecast peak is at
    least ``1 - day_band`` of the highest load realised earlier this month, and this step's
    forecast is at least ``1 - hour_band`` of today's forecast peak.

    :param day_band: how close to the month's highest load so far a day's forecast peak must come.
    :param hour_band: how close to the day's forecast peak an hour's forecast must come.
    """

    day_band: float = 0.05
    hour_band: float = 0.02
    _charged: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)
    _params: ScenarioParams | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not (0.0 <= self.day_band < 1.0 and 0.0 <= self.hour_band < 1.0):
            raise ValueError(
                f"day_band and hour_band must lie in [0, 1), got {self.day_band}, {self.hour_band}"
            )

    def likely_day(self, params: ScenarioParams, view: PathView) -> NDArray[np.bool_]:
        """(B,) today may hold this month's coincident peak: a charged month, and today's forecast
        peak at least ``1 - day_band`` of the month's highest load so far."""
        if params.grid is None or not self._charged_months(params)[view.t]:
            return np.zeros(view.n_paths, dtype=bool)
        highest = view.now("load_month_high_gw")
        return np.asarray(view.now("load_day_peak_forecast_gw") >= (1.0 - self.day_band) * highest)

    def share(self, params: ScenarioParams, view: PathView) -> FloatArray:
        """(B,) 1.0 where drawing now likely sets this month's charge, else 0.0."""
        likely_day = self.likely_day(params, view)
        if not np.count_nonzero(likely_day):
            return np.zeros(view.n_paths)
        day_peak = view.now("load_day_peak_forecast_gw")
        likely_hour = view.now("load_forecast_gw") >= (1.0 - self.hour_band) * day_peak
        return (likely_day & likely_hour).astype(np.float64)

    def _charged_months(self, params: ScenarioParams) -> NDArray[np.bool_]:
        """(T+1,) whether each step lies in a charged month (kept for the last scenario asked)."""
        if self._params is not params:
            self._charged = np.asarray(calendar(params, params.time.n_steps + 1)["charged_month"])
            self._params = params
        return self._charged
