"""The detectors: each compares one hour of one service (or endpoint) with its own baseline and says how unusual it is.

The baseline of an hour is the same hour on the previous days (up to `baseline_days`) and the `baseline_hours`
before it, leaving out hours that belong to an incident of the same service (an incident is not "usual"). Rates
(errors per record, requests slower than the usual percentile) are compared directly, so the daily traffic curve
raises no alarm; counts (for silence) follow the same hour on previous days, scaled by how the last hours compared
with theirs.

Each finding carries a size (a ratio) and a significance (the probability of a count at least this extreme if the
baseline still held: Poisson for events, binomial for slow requests). `opens` findings pass both strict thresholds
and may open an incident; weaker ones (the continue thresholds) only keep an open incident going or, with a release
that appeared at their start, open one as a regression of that release (loglens.alerts.engine decides).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from loglens.alerts.hours import HOUR, HourlyFacts, ServiceKey
from loglens.alerts.settings import AlertSettings, Thresholds
from loglens.alerts.stats import (
    binomial_at_least,
    count_above,
    histogram_quantile,
    merge_histograms,
    poisson_at_least,
    poisson_at_most,
)
from loglens.alerts.templates import TemplateCatalog

ERROR_RATE: Final = "error_rate"
NEW_ERROR: Final = "new_error"
LATENCY: Final = "latency"
SILENCE: Final = "silence"
RELEASE: Final = "release"
KINDS: Final = (ERROR_RATE, NEW_ERROR, LATENCY, SILENCE, RELEASE)

DAY: Final = timedelta(days=1)
# A new error type or template stays "new" this long after its first appearance.
NOVELTY_WINDOW: Final = timedelta(hours=24)
# Fewer baseline records than this and a rate is not known well enough to call anything unusual.
MIN_BASELINE_RECORDS: Final = 50
MIN_BASELINE_REQUESTS: Final = 40
# A new error seen fewer times than this says nothing, even after a release.
WEAK_NEW_ERRORS: Final = 3

# Whether an hour of a service belongs to one of its incidents (left out of baselines).
Excluded = Callable[[str, datetime], bool]


@dataclass(frozen=True)
class Finding:
    kind: str
    service: str
    environment: str  # '' for endpoint latency (the histograms have no environment)
    subject: str  # '' (the service as a whole), an error type, "type: template", or "METHOD /endpoint"
    hour: datetime
    start: datetime  # when this change began: the hour, or an error's first appearance
    observed: float
    expected: float
    p_value: float
    opens: bool  # strong enough to open an incident on its own
    rate: float  # anomalous events per unit of `basis`: what the resolution expects to stop seeing
    basis: str  # "records" of (service, environment), or "requests" of the endpoint
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.observed / self.expected if self.expected > 0 else float("inf")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.environment, self.subject)


def baseline_hours(hour: datetime, settings: AlertSettings) -> list[datetime]:
    days = [hour - k * DAY for k in range(1, settings.baseline_days + 1)]
    recent = [hour - j * HOUR for j in range(1, settings.baseline_hours + 1)]
    return days + recent


def latency_hours(hour: datetime, settings: AlertSettings) -> list[datetime]:
    """The hours an evaluation of `hour` reads latency histograms for: itself and its baseline."""
    return [hour, *baseline_hours(hour, settings)]


def history_start(first_evaluated: datetime, settings: AlertSettings) -> datetime:
    """The first hour whose counts a run needs: novelty looks a day back, then a baseline period before that."""
    return (
        first_evaluated
        - NOVELTY_WINDOW
        - timedelta(days=settings.baseline_days)
        - timedelta(hours=settings.baseline_hours)
    )


def has_history(facts: HourlyFacts, key: ServiceKey, hour: datetime, settings: AlertSettings) -> bool:
    """Whether the service sent records at least `min_history_hours` before `hour` (its usual is known)."""
    oldest = hour - timedelta(hours=settings.min_history_hours)
    return any(h <= oldest and slot.records > 0 for h, slot in facts.counts.get(key, {}).items())


def error_rate(
    facts: HourlyFacts, key: ServiceKey, hour: datetime, settings: AlertSettings, excluded: Excluded
) -> Finding | None:
    service, environment = key
    limits = settings.for_service(service)
    slot = facts.counts.get(key, {}).get(hour)
    if slot is None or slot.records == 0 or slot.errors == 0 or not has_history(facts, key, hour, settings):
        return None
    base_records = base_errors = 0
    for h in baseline_hours(hour, settings):
        other = facts.counts[key].get(h)
        if other is not None and not excluded(service, h):
            base_records += other.records
            base_errors += other.errors
    if base_records < MIN_BASELINE_RECORDS:
        return None
    # One pseudo-error: a baseline with no errors is "rare", not "impossible".
    usual_rate = (base_errors + 1) / (base_records + 1)
    expected = usual_rate * slot.records
    p_value = poisson_at_least(slot.errors, expected)
    ratio = slot.errors / expected
    opens = slot.errors >= limits.min_errors and ratio >= limits.error_ratio and p_value <= limits.significance
    if not opens and not _continues(ratio, p_value, limits, limits.error_ratio):
        return None
    types = facts.error_types.get(key, {}).get(hour, {})
    return Finding(
        kind=ERROR_RATE,
        service=service,
        environment=environment,
        subject="",
        hour=hour,
        start=hour,
        observed=slot.errors,
        expected=expected,
        p_value=p_value,
        opens=opens,
        rate=max(0.0, (slot.errors - expected) / slot.records),
        basis="records",
        detail={
            "records": slot.records,
            "error_rate": slot.errors / slot.records,
            "usual_error_rate": usual_rate,
            "error_types": dict(sorted(types.items(), key=lambda item: -item[1])[:5]),
        },
    )


def _continues(ratio: float, p_value: float, limits: Thresholds, open_ratio: float) -> bool:
    return ratio >= min(limits.release_ratio, open_ratio) and p_value <= limits.continue_significance


def latency(
    facts: HourlyFacts,
    endpoint: tuple[str, str, str],
    hour: datetime,
    settings: AlertSettings,
    excluded: Excluded,
) -> Finding | None:
    service, path, method = endpoint
    limits = settings.for_service(service)
    series = facts.latency.get(endpoint, {})
    current = series.get(hour)
    if not current:
        return None
    requests = sum(current.values())
    if requests < limits.min_requests:
        return None
    keys = [k for k in facts.counts if k[0] == service]
    if not any(has_history(facts, k, hour, settings) for k in keys):
        return None
    usual = merge_histograms(
        series[h] for h in baseline_hours(hour, settings) if h in series and not excluded(service, h)
    )
    usual_requests = sum(usual.values())
    if usual_requests < MIN_BASELINE_REQUESTS:
        return None
    q = limits.latency_percentile
    usual_p = histogram_quantile(usual, q)
    now_p = histogram_quantile(current, q)
    if usual_p is None or now_p is None:
        return None
    slow_share = max(count_above(usual, usual_p) / usual_requests, 0.5 / usual_requests)
    slow = count_above(current, usual_p)
    p_value = binomial_at_least(round(slow), round(requests), slow_share)
    ratio = now_p / usual_p
    opens = (
        ratio >= limits.latency_ratio
        and now_p - usual_p >= limits.latency_min_delta_ms
        and p_value <= limits.significance
    )
    # The weaker reading (keeping an incident open, or a regression of a release) still needs a step a person
    # would notice: half the opening one. Histogram buckets make a p95 jump between bucket bounds, so a 36 → 56
    # ms move on a quiet endpoint can look significant and is not an incident.
    # A p95 over a handful of requests is their slowest one, so the weaker reading also needs as many slow
    # requests as the detector needs requests at all: the demo's ordinary tail put a single slow order, or
    # five slow profile reads in a quiet hour, right after a release.
    weak_step = now_p - usual_p >= limits.latency_min_delta_ms / 2 and slow >= limits.min_requests
    if not opens and not (_continues(ratio, p_value, limits, limits.latency_ratio) and weak_step):
        return None
    label = f"{method} {path}".strip()
    return Finding(
        kind=LATENCY,
        service=service,
        environment="",
        subject=label,
        hour=hour,
        start=hour,
        observed=slow,
        expected=slow_share * requests,
        p_value=p_value,
        opens=opens,
        rate=max(0.0, slow / requests - slow_share),
        basis="requests",
        detail={
            "endpoint": path,
            "method": method,
            "percentile": q,
            "ms": now_p,
            "usual_ms": usual_p,
            "requests": requests,
            "slower_than_usual": slow,
        },
    )


def _first_appearance(
    series: Mapping[datetime, int], hour: datetime, settings: AlertSettings
) -> tuple[datetime, int] | None:
    """(first hour, occurrences since) of something occurring in `hour` that the baseline period never saw."""
    window_start = hour - NOVELTY_WINDOW
    seen = sorted(h for h, count in series.items() if count > 0 and h <= hour)
    recent = [h for h in seen if h >= window_start]
    if not recent or recent[-1] != hour:
        return None
    first = recent[0]
    lookback = first - timedelta(days=settings.baseline_days)
    if any(lookback <= h < first for h in seen):
        return None
    return first, sum(series[h] for h in recent)


def new_errors(
    facts: HourlyFacts,
    catalog: TemplateCatalog,
    key: ServiceKey,
    hour: datetime,
    settings: AlertSettings,
    excluded: Excluded,
) -> list[Finding]:
    """Error types, and message templates of known types, that the baseline period never saw."""
    service = key[0]
    limits = settings.for_service(service)
    by_hour = facts.error_types.get(key, {})
    findings: list[Finding] = []
    range_start = facts.first_hour
    new_types: set[str] = set()
    for error_type in by_hour.get(hour, {}):
        if not error_type:
            continue
        series = {h: types.get(error_type, 0) for h, types in by_hour.items()}
        found = _first_appearance(series, hour, settings)
        if found is None or found[0] - timedelta(hours=settings.min_history_hours) < range_start:
            continue
        new_types.add(error_type)
        finding = _novelty(facts, key, hour, found, error_type, {"error_type": error_type}, limits, settings, excluded)
        if finding is not None:
            findings.append(finding)
    templates = catalog.hours.get(key, {})
    for error_type, template in templates.get(hour, {}):
        if error_type in new_types:
            continue
        series = {
            h: slot[(error_type, template)].occurrences
            for h, slot in templates.items()
            if (error_type, template) in slot
        }
        found = _first_appearance(series, hour, settings)
        if found is None:
            continue
        first = found[0]
        scanned = sum(1 for h in catalog.scanned if first - timedelta(days=settings.baseline_days) <= h < first)
        if scanned < settings.min_history_hours:
            continue
        sample = templates[first][(error_type, template)].sample
        detail = {"error_type": error_type, "template": template, "sample_message": sample}
        subject = f"{error_type}: {template}" if error_type else template
        finding = _novelty(facts, key, hour, found, subject, detail, limits, settings, excluded)
        if finding is not None:
            findings.append(finding)
    return findings


def _novelty(
    facts: HourlyFacts,
    key: ServiceKey,
    hour: datetime,
    found: tuple[datetime, int],
    subject: str,
    detail: Mapping[str, Any],
    limits: Thresholds,
    settings: AlertSettings,
    excluded: Excluded,
) -> Finding | None:
    first, occurrences = found
    if not has_history(facts, key, first, settings):
        return None
    counts = facts.counts.get(key, {})
    since = sum(slot.records for h, slot in counts.items() if first <= h <= hour)
    lookback = first - timedelta(days=settings.baseline_days)
    usual = sum(slot.records for h, slot in counts.items() if lookback <= h < first and not excluded(key[0], h))
    if since == 0 or usual < MIN_BASELINE_RECORDS:
        return None
    # Never seen in `usual` records: a rate of at most ~1/usual, so this many is that unlikely.
    expected = since / usual
    p_value = poisson_at_least(occurrences, expected)
    opens = occurrences >= limits.new_error_min and p_value <= limits.significance
    # Weaker (only with a release at its start): still a few of them, and unlikely by chance.
    if not opens and not (occurrences >= WEAK_NEW_ERRORS and p_value <= limits.continue_significance):
        return None
    return Finding(
        kind=NEW_ERROR,
        service=key[0],
        environment=key[1],
        subject=subject,
        hour=hour,
        start=first,
        observed=occurrences,
        expected=expected,
        p_value=p_value,
        opens=opens,
        rate=occurrences / since,
        basis="records",
        detail={**detail, "first_hour": first.isoformat(), "records_since": since},
    )


def silence(
    facts: HourlyFacts, key: ServiceKey, hour: datetime, settings: AlertSettings, excluded: Excluded
) -> Finding | None:
    service, environment = key
    limits = settings.for_service(service)
    if not limits.silence:
        return None
    expected = expected_records(facts, key, hour, settings, excluded)
    if expected is None or expected < limits.silence_min_expected:
        return None
    observed = facts.records(key, hour)
    if observed > 0.05 * expected:
        return None
    p_value = poisson_at_most(observed, expected)
    if p_value > limits.significance:
        return None
    return Finding(
        kind=SILENCE,
        service=service,
        environment=environment,
        subject="",
        hour=hour,
        start=hour,
        observed=observed,
        expected=expected,
        p_value=p_value,
        opens=True,
        rate=1.0,
        basis="records",
        detail={"records": observed, "expected_records": round(expected, 1)},
    )


def expected_records(
    facts: HourlyFacts, key: ServiceKey, hour: datetime, settings: AlertSettings, excluded: Excluded
) -> float | None:
    """Records expected in `hour` (as far as the data reaches into it), on the low side: the smaller of the same
    hours (one either side) on previous days and the previous hours' mean. Either alone is fooled (a burst a day
    ago, the evening's traffic falling), and a silence alert must only fire when "nothing" is beyond doubt."""
    counts = facts.counts.get(key, {})
    service = key[0]
    by_day: list[float] = []
    for k in range(1, settings.baseline_days + 1):
        day = hour - k * DAY
        around = [day + j * HOUR for j in (-1, 0, 1)]
        if all(facts.covers(h) and not excluded(service, h) for h in around) and _existed(counts, around[0]):
            by_day.append(sum(facts.records(key, h) for h in around) / 3)
    recent = [
        float(facts.records(key, h))
        for j in range(1, settings.baseline_hours + 1)
        if facts.covers(h := hour - j * HOUR) and not excluded(service, h) and _existed(counts, h)
    ]
    if not by_day or len(recent) < min(3, settings.baseline_hours):
        return None
    usual = min(sum(by_day) / len(by_day), sum(recent) / len(recent))
    return usual * facts.fraction(hour)


def _existed(counts: Mapping[datetime, Any], hour: datetime) -> bool:
    """Whether the service was sending by `hour` (an hour before its first record is not a zero)."""
    return any(h <= hour for h in counts)


def detect(
    facts: HourlyFacts,
    catalog: TemplateCatalog,
    hour: datetime,
    settings: AlertSettings,
    excluded: Excluded,
) -> list[Finding]:
    """Every finding for `hour`, from every detector, for every watched service and endpoint."""
    findings: list[Finding] = []
    for key in sorted(facts.counts):
        if not settings.watches(key[1]):
            continue
        found = error_rate(facts, key, hour, settings, excluded)
        if found is not None:
            findings.append(found)
        findings.extend(new_errors(facts, catalog, key, hour, settings, excluded))
        quiet = silence(facts, key, hour, settings, excluded)
        if quiet is not None:
            findings.append(quiet)
    for endpoint in sorted(facts.latency):
        found = latency(facts, endpoint, hour, settings, excluded)
        if found is not None:
            findings.append(found)
    return findings


def occurrences(facts: HourlyFacts, catalog: TemplateCatalog, finding: Finding, hour: datetime) -> float | None:
    """How often `finding`'s subject happened in `hour` (None when the data cannot say)."""
    key = (finding.service, finding.environment)
    if finding.kind == NEW_ERROR:
        error_type = str(finding.detail.get("error_type", ""))
        template = finding.detail.get("template")
        if template is None:
            return float(facts.error_types.get(key, {}).get(hour, {}).get(error_type, 0))
        slot = catalog.hours.get(key, {}).get(hour, {}).get((error_type, str(template)))
        return float(slot.occurrences) if slot else 0.0
    return None


def basis_count(facts: HourlyFacts, finding: Finding, hour: datetime) -> float:
    """Records of the finding's (service, environment), or requests of its endpoint, in `hour`."""
    if finding.basis == "requests":
        endpoint = (finding.service, str(finding.detail.get("endpoint", "")), str(finding.detail.get("method", "")))
        return sum(facts.latency.get(endpoint, {}).get(hour, {}).values())
    return float(facts.records((finding.service, finding.environment), hour))


def endpoints_of(facts: HourlyFacts, service: str) -> Iterable[tuple[str, str, str]]:
    return (endpoint for endpoint in facts.latency if endpoint[0] == service)
