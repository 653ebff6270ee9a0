"""Deterministic generator of 5G core landing files for demos, tests and load runs.

For N sites x D days it writes, under one landing folder::

    sources.json
    SITE001/amf-1/amf-2026-11-01.log         Open5GS AMF log, one file per UTC day
    SITE001/smf-1/smf-2026-11-01.log         Open5GS SMF log
    SITE001/metrics/amf-1-20261101T000000Z.prom   Prometheus scrapes of AMF, SMF and UPF
    SITE001/cdr/chf-2026-11-01.jsonl         CHF-CDRs (every third site writes CSV)

Registrations follow a daily load curve. A small share of UEs misbehaves: every attempt is
rejected with the same cause and the UE retries 2 to 5 times, 10 to 16 s apart. Other
attempts succeed, are rejected with a realistic 5GMM cause mix, or get no response.
Successful registrations may set up a PDU session, and accepted sessions produce CDRs with
hourly partial records. AMF and SMF restart at random (counters restart at 0 and
process_start_time_seconds changes), and the first AMF scrape after a restart may expose an
impossible negative ``ran_ue``.

Each site draws from its own random stream seeded with the seed and the site number, so the
output depends only on the settings, and sites are written in parallel processes.
GeneratedLanding.sites contains, per site, the counts the raw tables should show after
ingest.

Run ``python -m deploy_manager.core5g.sources.generator --help`` for the options.
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import os
import random
import time
from bisect import bisect_right
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from zoneinfo import ZoneInfo

from deploy_manager.core5g.sources.cdr import CSV_COLUMNS
from deploy_manager.core5g.sources.config import (
    CONFIG_FILE_NAME,
    FORMAT_CDR_CSV,
    FORMAT_CDR_JSON,
    FORMAT_OPEN5GS_LOG,
    FORMAT_PROMETHEUS,
)

log = logging.getLogger(__name__)

SITE_ZONES = ("UTC", "Europe/Berlin", "Asia/Kolkata")
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

# Share of the day's registrations in each UTC hour: low at night, peaks at 09 and 18.
_HOURLY_LOAD = (2, 1, 1, 1, 1, 2, 4, 7, 9, 10, 9, 8, 8, 8, 8, 8, 9, 10, 10, 9, 7, 5, 4, 3)

# 5GMM causes of rejected registrations of well-behaved UEs, with relative weights.
_REJECT_CAUSES = (
    (9, 30),
    (62, 15),
    (22, 10),
    (7, 10),
    (21, 8),
    (11, 5),
    (15, 5),
    (20, 5),
    (95, 3),
    (27, 2),
    (111, 2),
    (97, 5),
)
# Causes of misbehaving UEs: an unprovisioned SIM, a UE asking for a slice it lacks, a
# barred device.
_MISBEHAVING_CAUSES = ((9, 60), (62, 25), (3, 10), (5, 5))
# Causes logged without an identity, because the AMF could not decode the SUCI.
_NULL_IDENTITY_CAUSES = frozenset({97, 95})
# 5GSM causes of rejected PDU sessions.
_PDU_REJECT_CAUSES = ((27, 40), (26, 25), (69, 15), (29, 10), (33, 10))
# (DNN, SST, SD, weight)
_SESSIONS = (("internet", 1, "000001", 80), ("ims", 1, "000002", 15), ("iot", 3, "000003", 5))

_AMF_IDENTITY_ORIGIN = "(../src/amf/context.c:1835)\n"
_REG_INIT_REQ = "fivegs_amffunction_rm_reginitreq"
_REG_INIT_SUCC = "fivegs_amffunction_rm_reginitsucc"
_REG_INIT_FAIL = "fivegs_amffunction_rm_reginitfail"
_REG_PERIOD_REQ = "fivegs_amffunction_rm_regperiodreq"
_REG_PERIOD_SUCC = "fivegs_amffunction_rm_regperiodsucc"
_PDU_REQ = "fivegs_smffunction_sm_pdusessioncreationreq"
_PDU_SUCC = "fivegs_smffunction_sm_pdusessioncreationsucc"
_PDU_FAIL = "fivegs_smffunction_sm_pdusessioncreationfail"
_PLMN_JSON = '{"mcc":"001","mnc":"01"}'
# Mean uplink rates of sessions in octets per second. Downlink is 4 to 12 times more.
_UPLINK_RATES = (2_000, 8_000, 20_000, 60_000)
_RESTART = (
    "Open5GS daemon v2.7.2\n\n"
    "{ts}: [app] INFO: Configuration: '/etc/open5gs/{nf}.yaml' (../lib/app/ogs-init.c:133)\n"
    "{ts}: [{nf}] INFO: {upper} initialize...done (../src/{nf}/app.c:33)\n"
)

_HMS = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
_MILLIS = [f"{ms:03d}" for ms in range(1000)]


@dataclass(frozen=True)
class GeneratorSettings:
    """Generator settings. Every count is per site and UTC day."""

    sites: int = 3
    days: int = 2
    start_date: date = date(2026, 11, 1)
    registrations_per_site_day: int = 20_000
    ues_per_site: int = 5_000
    seed: int = 20261101
    misbehaving_ue_share: float = 0.005
    reject_share: float = 0.03
    no_response_share: float = 0.004
    pdu_session_share: float = 0.6
    scrape_interval_minutes: int = 60
    amf_restart_probability: float = 0.3
    smf_restart_probability: float = 0.15
    workers: int = 2

    def __post_init__(self) -> None:
        if self.sites < 1 or self.sites > 999:
            raise ValueError(f"sites={self.sites} is invalid: use 1 to 999")
        if self.days < 1:
            raise ValueError(f"days={self.days} is invalid: use 1 or more")
        if self.registrations_per_site_day < 0:
            raise ValueError(
                f"registrations_per_site_day={self.registrations_per_site_day} is invalid: "
                "use 0 or more"
            )
        if not 1 <= self.ues_per_site <= 9_999_999:
            raise ValueError(f"ues_per_site={self.ues_per_site} is invalid: use 1 to 9999999")
        if self.scrape_interval_minutes < 1 or 1440 % self.scrape_interval_minutes:
            raise ValueError(
                f"scrape_interval_minutes={self.scrape_interval_minutes} is invalid: use a "
                "divisor of 1440 such as 15 or 60"
            )
        for name in (
            "misbehaving_ue_share",
            "reject_share",
            "no_response_share",
            "pdu_session_share",
            "amf_restart_probability",
            "smf_restart_probability",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value} is invalid: use a share from 0 to 1")


@dataclass
class SiteTruth:
    """Counts the generator wrote for one site, keyed by the UTC date of the event."""

    site_id: str
    registrations: Counter = field(default_factory=Counter)  # (date, outcome)
    reject_causes: Counter = field(default_factory=Counter)  # (date, cause)
    pdu_sessions: Counter = field(default_factory=Counter)  # (date, outcome)
    cdr_containers: Counter = field(default_factory=Counter)  # date
    cdr_octets: Counter = field(default_factory=Counter)  # (date, "uplink" | "downlink")
    # Expected sum of raw.nf_counter_increases.increase per (instance, metric, labels_key).
    counter_increases: Counter = field(default_factory=Counter)
    restarts: Counter = field(default_factory=Counter)  # instance
    negative_gauges: int = 0
    files: int = 0
    bytes_written: int = 0


@dataclass
class GeneratedLanding:
    """Result of a generator run: the landing folder, the time taken and the counts per site."""

    folder: Path
    settings: GeneratorSettings
    sites: list[SiteTruth]
    seconds: float

    @property
    def registrations(self) -> int:
        return sum(sum(site.registrations.values()) for site in self.sites)

    @property
    def files(self) -> int:
        return sum(site.files for site in self.sites) + 1

    @property
    def bytes_written(self) -> int:
        return sum(site.bytes_written for site in self.sites)


def site_id_of(index: int) -> str:
    return f"SITE{index:03d}"


def sources_config(settings: GeneratorSettings) -> dict:
    """Build the content of the sources.json that describes the generated files."""
    entries = []
    for index in range(1, settings.sites + 1):
        site = site_id_of(index)
        zone = SITE_ZONES[(index - 1) % len(SITE_ZONES)]
        cdr_format = FORMAT_CDR_CSV if index % 3 == 0 else FORMAT_CDR_JSON
        for nf, folder in (("amf", "amf-1"), ("smf", "smf-1")):
            entries.append(
                _entry(f"{site}/{folder}/*.log", site, nf, folder, FORMAT_OPEN5GS_LOG, zone)
            )
        for nf in ("amf", "smf", "upf"):
            pattern = f"{site}/metrics/{nf}-1-*.prom"
            entries.append(_entry(pattern, site, nf, f"{nf}-1", FORMAT_PROMETHEUS, "UTC"))
        entries.append(_entry(f"{site}/cdr/chf-*", site, "chf", "chf-1", cdr_format, "UTC"))
    return {"response_window_seconds": 10, "sources": entries}


def _entry(pattern: str, site: str, nf: str, instance: str, fmt: str, zone: str) -> dict:
    return {
        "pattern": pattern,
        "site_id": site,
        "nf": nf,
        "instance": instance,
        "format": fmt,
        "timezone": zone,
    }


def generate_core5g_landing(
    folder: str | Path, settings: GeneratorSettings | None = None
) -> GeneratedLanding:
    """Write the landing files of every site and their sources.json into ``folder``."""
    settings = settings or GeneratorSettings()
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    (root / CONFIG_FILE_NAME).write_text(
        json.dumps(sources_config(settings), indent=2) + "\n", encoding="utf-8"
    )
    jobs = [(root, settings, index) for index in range(1, settings.sites + 1)]
    workers = max(1, min(settings.workers, settings.sites))
    if workers == 1:
        truths = [_generate_site(*job) for job in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            truths = list(pool.map(_generate_site, *zip(*jobs, strict=True)))
    landing = GeneratedLanding(root, settings, truths, time.perf_counter() - started)
    log.info(
        "generated %d registrations in %d files (%.1f MB) under %s in %.1f s",
        landing.registrations,
        landing.files,
        landing.bytes_written / 1e6,
        root,
        landing.seconds,
    )
    return landing


class _Stamper:
    """Formats UTC milliseconds as Open5GS line times in the site's zone."""

    def __init__(self, zone: ZoneInfo, first_day: date, days: int) -> None:
        self._start_ms = _epoch_ms(first_day)
        hours = (days + 2) * 24
        self._offsets = [
            int(
                zone.utcoffset(
                    datetime.combine(first_day, datetime.min.time()) + timedelta(hours=h)
                ).total_seconds()
                * 1000
            )
            for h in range(hours)
        ]
        local_start = first_day - timedelta(days=1)
        self._local_start_ms = _epoch_ms(local_start)
        self._month_day = [
            (local_start + timedelta(days=d)).strftime("%m/%d") for d in range(days + 4)
        ]

    def __call__(self, utc_ms: int) -> str:
        local = utc_ms + self._offsets[(utc_ms - self._start_ms) // HOUR_MS]
        day, in_day = divmod(local - self._local_start_ms, DAY_MS)
        second, millis = divmod(in_day, 1000)
        return f"{self._month_day[day]} {_HMS[second]}.{_MILLIS[millis]}"


def _epoch_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


def _weighted(pairs: tuple) -> tuple[list, list[int]]:
    values = [pair[0] for pair in pairs]
    cumulative = list(accumulate(pair[-1] for pair in pairs))
    return values, cumulative


def _choose(rng: random.Random, values: list, cumulative: list[int]):
    return values[bisect_right(cumulative, rng.random() * cumulative[-1])]


class _Counters:
    """Cumulative counters of one NF process, plus what each scrape interval added."""

    def __init__(self, instance: str, truth: SiteTruth, started_at: int) -> None:
        self.instance = instance
        self.truth = truth
        self.values: dict[tuple[str, str], float] = {}
        self.pending: Counter = Counter()
        self.process_start = started_at
        self.scraped_once = False

    def add(self, metric: str, labels: str = "", amount: float = 1) -> None:
        key = (metric, labels)
        self.values[key] = self.values.get(key, 0) + amount
        self.pending[key] += amount

    def restart(self, at_seconds: int) -> None:
        self.values = {}
        self.pending = Counter()
        self.process_start = at_seconds
        self.truth.restarts[self.instance] += 1

    def scraped(self) -> None:
        if self.scraped_once:
            for (metric, labels), amount in self.pending.items():
                self.truth.counter_increases[(self.instance, metric, labels)] += amount
        self.pending = Counter()
        self.scraped_once = True


class _SiteWriter:
    """Generates and writes every file of one site."""

    def __init__(self, root: Path, settings: GeneratorSettings, index: int) -> None:
        self.settings = settings
        self.index = index
        self.site_id = site_id_of(index)
        self.truth = SiteTruth(self.site_id)
        self.rng = random.Random(f"{settings.seed}-{index}")

        self.folder = root / self.site_id
        for sub in ("amf-1", "smf-1", "metrics", "cdr"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        zone = ZoneInfo(SITE_ZONES[(index - 1) % len(SITE_ZONES)])
        self.stamp = _Stamper(zone, settings.start_date, settings.days)
        self.start_ms = _epoch_ms(settings.start_date)
        self.cdr_csv = index % 3 == 0
        self.tac = 100 + index
        self.cells = [index * 0x100 + 0x10 + c for c in range(6)]

        count = settings.ues_per_site
        self.msin = [f"{index:03d}{ue:07d}" for ue in range(count)]
        self.imsi = [f"imsi-00101{m}" for m in self.msin]
        self.suci = [f"suci-0-001-01-0000-0-0-{m}" for m in self.msin]
        self.home_cell = [self.rng.randrange(len(self.cells)) for _ in range(count)]
        misbehaving = self.rng.sample(range(count), int(count * settings.misbehaving_ue_share))
        causes, cumulative = _weighted(_MISBEHAVING_CAUSES)
        self.misbehaving = {ue: _choose(self.rng, causes, cumulative) for ue in misbehaving}
        self.busy_until = [0] * count

        self.reject_causes = _weighted(_REJECT_CAUSES)
        self.pdu_causes = _weighted(_PDU_REJECT_CAUSES)
        self.sessions = _weighted(tuple((s[:3], s[3]) for s in _SESSIONS))
        self.hours = _weighted(tuple(enumerate(_HOURLY_LOAD)))

        started = self.start_ms // 1000 - 86_400
        self.amf = _Counters("amf-1", self.truth, started)
        self.smf = _Counters("smf-1", self.truth, started)
        self.upf = _Counters("upf-1", self.truth, started)
        self.upf_uplink_by_hour: Counter = Counter()
        self.upf_downlink_by_hour: Counter = Counter()
        self.amf_ngap_id = 0
        self.ran_ngap_id = [0] * len(self.cells)
        self.charging_id = index * 1_000_000_000
        self.address = 0
        self.negative_ran_ue_pending = False
        self.dates = [settings.start_date + timedelta(days=d) for d in range(settings.days + 2)]
        self.controls = self._plan_controls()

    def _plan_controls(self) -> list[tuple[int, int, str]]:
        """Scrapes and restarts in time order: (UTC ms, order within a time, kind)."""
        settings = self.settings
        step = settings.scrape_interval_minutes * 60_000
        end = self.start_ms + settings.days * DAY_MS
        controls = [(t, 1, "scrape") for t in range(self.start_ms, end + 1, step)]
        for day in range(settings.days):
            day_ms = self.start_ms + day * DAY_MS
            for nf, probability in (
                ("amf", settings.amf_restart_probability),
                ("smf", settings.smf_restart_probability),
            ):
                if self.rng.random() < probability:
                    at = day_ms + HOUR_MS + self.rng.randrange(22 * HOUR_MS)
                    controls.append((at, 0, nf))
        controls.sort()
        return controls

    def run(self) -> SiteTruth:
        control_index = 0
        for day in range(self.settings.days):
            day_ms = self.start_ms + day * DAY_MS
            day_text = (self.settings.start_date + timedelta(days=day)).isoformat()
            self.amf_lines: list[str] = []
            self.smf_lines: list[str] = []
            self.cdr_lines: list[str] = []
            self.amf_pending: list[tuple[int, int, str]] = []
            self.smf_pending: list[tuple[int, int, str]] = []
            self.sequence = 0
            retries: list[tuple[int, int, int]] = []
            base = self._request_times(day_ms)
            position = 0
            while position < len(base) or retries:
                if retries and (position >= len(base) or retries[0][0] <= base[position]):
                    at, ue, remaining = heapq.heappop(retries)
                else:
                    at, ue, remaining = base[position], -1, 0
                    position += 1
                controls = self.controls
                while control_index < len(controls) and controls[control_index][0] <= at:
                    self._flush_pending(controls[control_index][0])
                    self._control(controls[control_index])
                    control_index += 1
                self._flush_pending(at)
                ue = self._registration(at, ue, remaining, retries)
            self._flush_pending(None)
            self._write_day(day_text)
        while control_index < len(self.controls):
            self._control(self.controls[control_index])
            control_index += 1
        return self.truth

    def _request_times(self, day_ms: int) -> list[int]:
        rng = self.rng
        hours, cumulative = self.hours
        count = self.settings.registrations_per_site_day
        picks = rng.choices(hours, cum_weights=cumulative, k=count)
        return sorted(day_ms + hour * HOUR_MS + rng.randrange(HOUR_MS) for hour in picks)

    def _pick_ue(self, at: int) -> int:
        count = len(self.msin)
        ue = self.rng.randrange(count)
        busy = self.busy_until
        for _ in range(count):
            if busy[ue] <= at:
                return ue
            ue = ue + 1 if ue + 1 < count else 0
        return ue

    def _registration(self, at: int, ue: int, retries_left: int, retries: list) -> int:
        random = self.rng.random
        truth = self.truth
        settings = self.settings
        if ue < 0:
            ue = self._pick_ue(at)
            cause = self.misbehaving.get(ue)
            if cause is not None:
                retries_left = 2 + int(random() * 4)
        else:
            cause = self.misbehaving[ue]
        event_date = self.dates[(at - self.start_ms) // DAY_MS]
        self.busy_until[ue] = at + 12_000
        if cause is not None and retries_left > 0:
            retry_at = at + 10_000 + int(random() * 6_000)
            heapq.heappush(retries, (retry_at, ue, retries_left - 1))
            self.busy_until[ue] = retry_at + 12_000

        if cause is None:
            draw = random()
            if draw < settings.no_response_share:
                outcome = "no_response"
            elif draw < settings.no_response_share + settings.reject_share:
                outcome = "reject"
                cause = _choose(self.rng, *self.reject_causes)
            else:
                outcome = "complete"
        else:
            outcome = "reject"
        truth.registrations[(event_date, outcome)] += 1

        ts = self.stamp(at)
        cell_index = self.home_cell[ue]
        self.amf_ngap_id += 1
        self.ran_ngap_id[cell_index] += 1
        null_identity = outcome == "reject" and cause in _NULL_IDENTITY_CAUSES
        identity_line = (
            ""
            if null_identity
            else f"{ts}: [amf] INFO: [{self.suci[ue]}] Unknown UE by SUCI {_AMF_IDENTITY_ORIGIN}"
        )
        self.amf_lines.append(
            f"{ts}: [amf] INFO: InitialUEMessage (../src/amf/ngap-handler.c:401)\n"
            f"{ts}: [amf] INFO:     RAN_UE_NGAP_ID[{self.ran_ngap_id[cell_index]}] "
            f"AMF_UE_NGAP_ID[{self.amf_ngap_id}] TAC[{self.tac}] "
            f"CellID[0x{self.cells[cell_index]:x}] (../src/amf/ngap-handler.c:562)\n"
            f"{identity_line}"
            f"{ts}: [gmm] INFO: Registration request (../src/amf/gmm-sm.c:1061)\n"
        )

        if outcome == "complete":
            periodic = random() < 0.15
            self.amf.add(_REG_PERIOD_REQ if periodic else _REG_INIT_REQ)
            self.amf.add(_REG_PERIOD_SUCC if periodic else _REG_INIT_SUCC)
            done = at + 35 + min(int(self.rng.expovariate(1 / 45)), 4000)
            self._pending_amf(
                done,
                f"{self.stamp(done)}: [gmm] INFO: [{self.imsi[ue]}] Registration complete "
                "(../src/amf/gmm-sm.c:2146)\n",
            )
            if random() < settings.pdu_session_share:
                self._pdu_session(done, ue, cell_index)
        elif outcome == "reject":
            self.amf.add(_REG_INIT_REQ)
            self.amf.add(_REG_INIT_FAIL, f'cause="{cause}"')
            truth.reject_causes[(event_date, cause)] += 1
            if null_identity:
                done = at + 2
                identity = "(null)"
                self.amf_lines.append(
                    f"{ts}: [gmm] ERROR: Not implemented ProtectionSchemeID(3) in SUCI "
                    "(../src/amf/context.c:1620)\n"
                )
            else:
                done = at + 5 + int(random() * 255)
                identity = self.suci[ue]
            self._pending_amf(
                done,
                f"{self.stamp(done)}: [amf] WARNING: [{identity}] Registration reject [{cause}] "
                "(../src/amf/gmm-handler.c:1095)\n",
            )
        else:
            self.amf.add(_REG_INIT_REQ)
        return ue

    def _pending_amf(self, at: int, line: str) -> None:
        self.sequence += 1
        heapq.heappush(self.amf_pending, (at, self.sequence, line))

    def _pending_smf(self, at: int, line: str) -> None:
        self.sequence += 1
        heapq.heappush(self.smf_pending, (at, self.sequence, line))

    def _flush_pending(self, until: int | None) -> None:
        for pending, lines in (
            (self.amf_pending, self.amf_lines),
            (self.smf_pending, self.smf_lines),
        ):
            while pending and (until is None or pending[0][0] <= until):
                lines.append(heapq.heappop(pending)[2])

    def _pdu_session(self, registered_at: int, ue: int, cell_index: int) -> None:
        random = self.rng.random
        requested = registered_at + 20 + int(random() * 60)
        event_date = self.dates[(requested - self.start_ms) // DAY_MS]
        dnn, sst, sd = _choose(self.rng, *self.sessions)
        imsi = self.imsi[ue]
        self._pending_smf(
            requested,
            f"{self.stamp(requested)}: [gsm] INFO: [{imsi}:1] PDU session establishment request "
            f"DNN[{dnn}] S_NSSAI[SST:{sst} SD:0x{sd}] (../src/smf/gsm-sm.c:312)\n",
        )

        labels = f'plmnid="00101",snssai="{sst}-{sd}"'
        self.smf.add(_PDU_REQ)
        self.smf.add(_PDU_REQ, labels)
        draw = random()
        done = requested + 30 + int(random() * 120)
        if draw < 0.005:
            self.truth.pdu_sessions[(event_date, "no_response")] += 1
            return
        if draw < 0.03:
            cause = _choose(self.rng, *self.pdu_causes)
            self.truth.pdu_sessions[(event_date, "reject")] += 1
            self._pending_smf(
                done,
                f"{self.stamp(done)}: [gsm] WARNING: [{imsi}:1] PDU session establishment "
                f"reject [{cause}] (../src/smf/gsm-sm.c:415)\n",
            )
            self._pending_amf(
                done + 2,
                f"{self.stamp(done + 2)}: [amf] ERROR: [1:1] PDU session establishment reject "
                "(../src/amf/nsmf-handler.c:244)\n",
            )
            self.smf.add(_PDU_FAIL, f'cause="{cause}"')
            return

        self.truth.pdu_sessions[(event_date, "accept")] += 1
        self.address += 1
        ip = f"10.{45 + self.index % 200}.{(self.address >> 8) & 255}.{self.address & 255}"
        self._pending_smf(
            done,
            f"{self.stamp(done)}: [smf] INFO: UE SUPI[{imsi}] DNN[{dnn}] IPv4[{ip}] IPv6[] "
            "(../src/smf/npcf-handler.c:542)\n",
        )
        self.smf.add(_PDU_SUCC, labels)
        self._cdr(done, ue, cell_index, dnn, sst, sd, ip)

    def _cdr(self, opened_ms: int, ue: int, cell_index: int, dnn, sst, sd, ip) -> None:
        """Write the CDRs of one accepted session: one partial record per UTC hour it spans."""
        random = self.rng.random
        self.charging_id += 1
        duration_ms = 5_000 + int(min(self.rng.expovariate(1 / 1_500_000), 6 * HOUR_MS))
        end_ms = opened_ms + duration_ms
        uplink_rate = _UPLINK_RATES[int(random() * len(_UPLINK_RATES))]
        downlink_factor = 4 + int(random() * 9)
        home_cell = self.cells[cell_index]
        session = self._session_text(ue, dnn, sst, sd, ip, home_cell)

        pieces = []
        piece_start = opened_ms
        while piece_start < end_ms:
            piece_end = min(end_ms, (piece_start // HOUR_MS + 1) * HOUR_MS)
            pieces.append((piece_start, piece_end))
            piece_start = piece_end

        truth = self.truth
        for number, (start, end) in enumerate(pieces, start=1):
            cells = [home_cell]
            if end - start > 60_000 and random() < 0.1:
                cells.append(self.cells[(cell_index + 1) % len(self.cells)])
            slices = []
            step = (end - start) // len(cells)
            for position, cell in enumerate(cells):
                first = start + position * step
                last = end if position == len(cells) - 1 else first + step
                seconds = max(1, (last - first) // 1000)
                uplink = uplink_rate * seconds + int(random() * 1000)
                downlink = uplink * downlink_factor
                slices.append((first, last, seconds, uplink, downlink, cell))
                hour = (first - self.start_ms) // HOUR_MS
                day = self.dates[hour // 24]
                truth.cdr_containers[day] += 1
                truth.cdr_octets[(day, "uplink")] += uplink
                truth.cdr_octets[(day, "downlink")] += downlink
                self.upf_uplink_by_hour[hour] += uplink
                self.upf_downlink_by_hour[hour] += downlink
            record = _CdrRecord(
                charging_id=self.charging_id,
                sequence=number if len(pieces) > 1 else None,
                closing="normalRelease" if number == len(pieces) else "timeLimit",
                opened=start,
                seconds=max(1, (end - start) // 1000),
                session=session,
                slices=slices,
            )
            self.cdr_lines.append(self._cdr_csv(record) if self.cdr_csv else self._cdr_json(record))

    def _session_text(self, ue: int, dnn: str, sst: int, sd: str, ip: str, cell: int) -> str:
        """Fields shared by every partial record of a session, in the file's format."""
        msin = self.msin[ue]
        if self.cdr_csv:
            return (
                f"{self.imsi[ue]},msisdn-4917{msin},imeisv-35209900{msin[-6:]}01|"
                f"1,{sst},{sd},{dnn},NR,001,01,{self.tac:06x},{cell:09x},{ip},,10"
            )
        return (
            f'"subscriberIdentifier":"{self.imsi[ue]}"|'
            f'"pDUSessionChargingInformation":{{"userIdentifier":"msisdn-4917{msin}",'
            f'"userEquipmentInfo":"imeisv-35209900{msin[-6:]}01","pDUSessionId":1,'
            f'"networkSliceInstanceID":{{"sST":{sst},"sD":"{sd}"}},'
            f'"dataNetworkNameIdentifier":"{dnn}","rATType":"NR",'
            f'"userLocationInformation":{self._location_json(cell)},'
            f'"pDUAddress":{{"pDUIPv4Address":"{ip}"}}}}'
        )

    def _location_json(self, cell: int) -> str:
        return (
            f'{{"nrLocation":{{"tai":{{"plmnId":{_PLMN_JSON},"tac":"{self.tac:06x}"}},'
            f'"ncgi":{{"plmnId":{_PLMN_JSON},"nrCellId":"{cell:09x}"}}}}}}'
        )

    def _cdr_json(self, r: _CdrRecord) -> str:
        subscriber, session = r.session.split("|")
        sequence = f'"recordSequenceNumber":{r.sequence},' if r.sequence else ""
        containers = ",".join(
            f'{{"localSequenceNumber":{n},"timeOfFirstUsage":"{_iso(first)}",'
            f'"timeOfLastUsage":"{_iso(last)}","time":{seconds},'
            f'"uplinkVolume":{uplink},"downlinkVolume":{downlink},'
            f'"pDUContainerInformation":{{"userLocationInformation":{self._location_json(cell)}}}}}'
            for n, (first, last, seconds, uplink, downlink, cell) in enumerate(r.slices, start=1)
        )
        return (
            f'{{"recordType":"chargingFunctionRecord","recordingNetworkFunctionID":"chf-1",'
            f'{subscriber},"chargingID":{r.charging_id},'
            f'"recordOpeningTime":"{_iso(r.opened)}","duration":{r.seconds},{sequence}'
            f'"causeForRecClosing":"{r.closing}",{session},'
            f'"listOfMultipleUnitUsage":[{{"ratingGroup":10,"usedUnitContainers":[{containers}]}}]}}'
            "\n"
        )

    def _cdr_csv(self, r: _CdrRecord) -> str:
        subscriber, session = r.session.split("|")
        opened = _iso(r.opened)
        return "".join(
            f"{r.charging_id},{r.sequence or ''},,{subscriber},{opened},{r.seconds},{r.closing},"
            f"{session},{n},{_iso(first)},{_iso(last)},{seconds},{uplink},{downlink},{cell:09x}\n"
            for n, (first, last, seconds, uplink, downlink, cell) in enumerate(r.slices, start=1)
        )

    def _control(self, control: tuple[int, int, str]) -> None:
        at, _, kind = control
        if kind == "scrape":
            self._scrape(at)
            return
        counters = self.amf if kind == "amf" else self.smf
        counters.restart(at // 1000)
        lines = self.amf_lines if kind == "amf" else self.smf_lines
        lines.append(_RESTART.format(ts=self.stamp(at), nf=kind, upper=kind.upper()))
        if kind == "amf":
            self.amf_ngap_id = 0
            self.negative_ran_ue_pending = self.rng.random() < 0.5

    def _scrape(self, at: int) -> None:
        hour = (at - self.start_ms) // HOUR_MS
        if at > self.start_ms and (at - self.start_ms) % HOUR_MS == 0:
            uplink = self.upf_uplink_by_hour.pop(hour - 1, 0)
            downlink = self.upf_downlink_by_hour.pop(hour - 1, 0)
            self.upf.add("fivegs_ep_n3_gtp_indatavolumeqosleveln3upf", 'qfi="1"', uplink)
            self.upf.add("fivegs_ep_n3_gtp_outdatavolumeqosleveln3upf", 'qfi="1"', downlink)
        stamp = datetime.fromtimestamp(at / 1000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
        load = _HOURLY_LOAD[hour % 24] / max(_HOURLY_LOAD)
        active = int(len(self.msin) * 0.6 * load)
        ran_ue = active
        if self.negative_ran_ue_pending:
            ran_ue = -self.rng.randint(1, 5)
            self.negative_ran_ue_pending = False
            self.truth.negative_gauges += 1
        gauges = {
            "amf": (("ran_ue", ran_ue), ("amf_session", int(active * 0.8)), ("gnb", 2)),
            "smf": (("fivegs_smffunction_sm_sessionnbr", int(active * 0.5)),),
            "upf": (("fivegs_upffunction_upf_sessionnbr", int(active * 0.5)),),
        }
        always = {
            "amf": (
                "fivegs_amffunction_rm_reginitreq",
                "fivegs_amffunction_rm_reginitsucc",
                "fivegs_amffunction_rm_regperiodreq",
                "fivegs_amffunction_rm_regperiodsucc",
            ),
            "smf": ("fivegs_smffunction_sm_pdusessioncreationreq",),
            "upf": (),
        }
        for nf, counters in (("amf", self.amf), ("smf", self.smf), ("upf", self.upf)):
            text = _exposition(counters, always[nf], gauges[nf])
            path = self.folder / "metrics" / f"{nf}-1-{stamp}.prom"
            self._write(path, text)
            counters.scraped()

    def _write_day(self, day_text: str) -> None:
        self._write(self.folder / "amf-1" / f"amf-{day_text}.log", "".join(self.amf_lines))
        self._write(self.folder / "smf-1" / f"smf-{day_text}.log", "".join(self.smf_lines))
        if self.cdr_csv:
            header = ",".join(CSV_COLUMNS) + "\n"
            self._write(
                self.folder / "cdr" / f"chf-{day_text}.csv", header + "".join(self.cdr_lines)
            )
        else:
            self._write(self.folder / "cdr" / f"chf-{day_text}.jsonl", "".join(self.cdr_lines))

    def _write(self, path: Path, text: str) -> None:
        data = text.encode("utf-8")
        path.write_bytes(data)
        self.truth.files += 1
        self.truth.bytes_written += len(data)


@dataclass(slots=True)
class _CdrRecord:
    charging_id: int
    sequence: int | None
    closing: str
    opened: int
    seconds: int
    session: str
    slices: list


_ISO_DAYS: dict[int, str] = {}


def _iso(utc_ms: int) -> str:
    day, in_day = divmod(utc_ms, DAY_MS)
    prefix = _ISO_DAYS.get(day)
    if prefix is None:
        prefix = _ISO_DAYS[day] = date.fromordinal(_ORDINAL_EPOCH + day).isoformat()
    second, millis = divmod(in_day, 1000)
    return f"{prefix}T{_HMS[second]}.{_MILLIS[millis]}Z"


_ORDINAL_EPOCH = date(1970, 1, 1).toordinal()

_HELP = {
    "fivegs_amffunction_rm_reginitreq": "Number of initial registration requests received by "
    "the AMF",
    "fivegs_amffunction_rm_reginitsucc": "Number of successful initial registrations at the AMF",
    "fivegs_amffunction_rm_reginitfail": "Number of failed initial registrations at the AMF",
    "fivegs_amffunction_rm_regperiodreq": "Number of periodic registration update requests "
    "received by the AMF",
    "fivegs_amffunction_rm_regperiodsucc": "Number of successful periodic registration update "
    "requests at the AMF",
    "fivegs_smffunction_sm_pdusessioncreationreq": "Number of PDU sessions requested to be "
    "created by the SMF",
    "fivegs_smffunction_sm_pdusessioncreationsucc": "Number of PDU sessions successfully "
    "created by the SMF",
    "fivegs_smffunction_sm_pdusessioncreationfail": "Number of PDU sessions failed to be "
    "created by the SMF",
    "fivegs_ep_n3_gtp_indatavolumeqosleveln3upf": "Data volume of incoming GTP data packets "
    "per QoS level on N3",
    "fivegs_ep_n3_gtp_outdatavolumeqosleveln3upf": "Data volume of outgoing GTP data packets "
    "per QoS level on N3",
}


def _exposition(counters: _Counters, always: tuple[str, ...], gauges: tuple) -> str:
    """Text exposition of one NF: counters (unlabelled ones even at 0) and gauges."""
    families: dict[str, list[str]] = {}
    for metric in always:
        families.setdefault(metric, [])
    for (metric, labels), value in sorted(counters.values.items()):
        families.setdefault(metric, []).append(
            f"{metric}{{{labels}}} {_number(value)}" if labels else f"{metric} {_number(value)}"
        )
    out = []
    for metric, samples in families.items():
        if metric in always and not any(s.startswith(f"{metric} ") for s in samples):
            samples.insert(0, f"{metric} 0")
        if metric in _HELP:
            out.append(f"# HELP {metric} {_HELP[metric]}")
        out.append(f"# TYPE {metric} counter")
        out.extend(samples)
    for name, value in gauges:
        out.append(f"# TYPE {name} gauge")
        out.append(f"{name} {value}")
    out.append(
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds."
    )
    out.append("# TYPE process_start_time_seconds gauge")
    out.append(f"process_start_time_seconds {counters.process_start}")
    return "\n".join(out) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _generate_site(root: Path, settings: GeneratorSettings, index: int) -> SiteTruth:
    return _SiteWriter(root, settings, index).run()


def main(argv: list[str] | None = None) -> int:
    """Command line: write a generated landing folder and print what was written."""
    parser = argparse.ArgumentParser(
        description="Write deterministic Open5GS AMF/SMF logs, Prometheus scrapes and CHF-CDRs "
        "for N sites x D days, with their sources.json."
    )
    defaults = GeneratorSettings()

    parser.add_argument("folder", type=Path, help="landing folder to write (created if missing)")
    parser.add_argument("--sites", type=int, default=defaults.sites, help="number of sites")
    parser.add_argument("--days", type=int, default=defaults.days, help="number of UTC days")
    parser.add_argument(
        "--start-date",
        type=date.fromisoformat,
        default=defaults.start_date,
        help="first UTC day, YYYY-MM-DD",
    )
    parser.add_argument(
        "--registrations",
        type=int,
        default=defaults.registrations_per_site_day,
        help="registration requests per site and day, before misbehaving UEs' retries",
    )
    parser.add_argument("--ues", type=int, default=defaults.ues_per_site, help="UEs per site")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes writing sites"
    )
    args = parser.parse_args(argv)

    settings = GeneratorSettings(
        sites=args.sites,
        days=args.days,
        start_date=args.start_date,
        registrations_per_site_day=args.registrations,
        ues_per_site=args.ues,
        seed=args.seed,
        workers=args.workers,
    )
    landing = generate_core5g_landing(args.folder, settings)
    print(
        f"wrote {landing.registrations} registrations in {landing.files} files "
        f"({landing.bytes_written / 1e6:.1f} MB) to {landing.folder} in {landing.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
