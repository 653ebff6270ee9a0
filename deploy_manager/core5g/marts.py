"""Spark transformations from the 5G core raw tables to the core5g marts.

Every function takes the raw rows of a rectangle of (date, site) partitions and returns mart
rows for the same partitions, so running it on one partition or on many gives the same rows
for each partition. A raw row's partition is its ``event_date`` (UTC) and ``site_id``.

Methods shared by the marts:

- Latency percentiles use Spark's exact ``percentile`` aggregate, which sorts the values of
  the group and interpolates linearly between the two nearest ranks, as
  ``numpy.percentile(values, q)`` does with its default method. The result differs from an
  exact computation only by floating-point rounding.
- Mean latencies are summed as DECIMAL(20, 6) (nanoseconds expressed in ms), so the mean does
  not depend on the order in which Spark adds the values.
- Counter sums follow the rule of raw.nf_counter_increases: within one interval, a metric is
  summed over its unlabelled series when it has one, and over its labelled series otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from deploy_manager.core5g.settings import SECONDS_PER_DAY
from deploy_manager.netops.marts import rate

REGISTRATION_KPIS_TABLE = "core5g.registration_kpis"
REGISTRATION_KPIS_COLUMNS = [
    ("amf_instance", "STRING"),
    ("nf_vendor", "STRING"),
    ("total_attempts", "BIGINT"),
    ("successful", "BIGINT"),
    ("failed", "BIGINT"),
    ("no_response", "BIGINT"),
    ("success_rate", "DOUBLE"),
    ("latency_samples", "BIGINT"),
    ("avg_latency", "DOUBLE"),
    ("p95_latency", "DOUBLE"),
    ("p99_latency", "DOUBLE"),
    ("deployment_status", "STRING"),
    ("processed_at", "TIMESTAMP"),
]

REGISTRATION_FAILURES_TABLE = "core5g.registration_failures"
REGISTRATION_FAILURES_COLUMNS = [
    ("amf_instance", "STRING"),
    ("outcome", "STRING"),
    ("cause_code", "INT"),
    ("cause_name", "STRING"),
    ("attempts", "BIGINT"),
    ("distinct_ues", "BIGINT"),
    ("first_seen", "TIMESTAMP"),
    ("last_seen", "TIMESTAMP"),
    ("processed_at", "TIMESTAMP"),
]

SESSION_KPIS_TABLE = "core5g.session_kpis"
SESSION_KPIS_COLUMNS = [
    ("smf_instance", "STRING"),
    ("attempts", "BIGINT"),
    ("successes", "BIGINT"),
    ("failures", "BIGINT"),
    ("no_response", "BIGINT"),
    ("setup_success_rate", "DOUBLE"),
    ("top_failure_cause", "INT"),
    ("top_failure_cause_name", "STRING"),
    ("top_failure_count", "BIGINT"),
    ("failure_causes", "STRING"),
    ("avg_latency", "DOUBLE"),
    ("p95_latency", "DOUBLE"),
    ("counter_requests", "DOUBLE"),
    ("counter_successes", "DOUBLE"),
    ("counter_failures", "DOUBLE"),
    ("counter_setup_success_rate", "DOUBLE"),
    ("processed_at", "TIMESTAMP"),
]

CELL_THROUGHPUT_TABLE = "core5g.cell_throughput"
CELL_THROUGHPUT_COLUMNS = [
    ("nr_cell_id", "BIGINT"),
    ("tac", "INT"),
    ("uplink_octets", "BIGINT"),
    ("downlink_octets", "BIGINT"),
    ("throughput_bps", "DOUBLE"),
    ("active_seconds", "DOUBLE"),
    ("active_throughput_bps", "DOUBLE"),
    ("sessions", "BIGINT"),
    ("containers", "BIGINT"),
    ("duplicate_containers", "BIGINT"),
    ("first_usage_at", "TIMESTAMP"),
    ("last_usage_at", "TIMESTAMP"),
    ("processed_at", "TIMESTAMP"),
]

NF_HEALTH_TABLE = "core5g.nf_health"
NF_HEALTH_COLUMNS = [
    ("nf", "STRING"),
    ("instance", "STRING"),
    ("nf_vendor", "STRING"),
    ("scrapes", "BIGINT"),
    ("expected_scrapes", "DOUBLE"),
    ("availability_pct", "DOUBLE"),
    ("restarts", "BIGINT"),
    ("counter_resets", "BIGINT"),
    ("first_scrape_at", "TIMESTAMP"),
    ("last_scrape_at", "TIMESTAMP"),
    ("quality_issues", "BIGINT"),
    ("negative_gauges", "BIGINT"),
    ("quality_flags", "STRING"),
    ("last_ran_ue", "DOUBLE"),
    ("max_ran_ue", "DOUBLE"),
    ("last_gnb", "DOUBLE"),
    ("counter_reg_requests", "DOUBLE"),
    ("counter_reg_successes", "DOUBLE"),
    ("counter_reg_failures", "DOUBLE"),
    ("counter_reg_success_rate", "DOUBLE"),
    ("counter_reg_failure_causes", "STRING"),
    ("log_reg_attempts", "BIGINT"),
    ("log_reg_successes", "BIGINT"),
    ("log_reg_success_rate", "DOUBLE"),
    ("processed_at", "TIMESTAMP"),
]

# Outcomes of raw.amf_registration_attempts that are a successful registration: Open5GS logs
# the Registration complete, free5GC the accept (and later the complete).
REGISTRATION_SUCCESS = ("accept", "complete")
NO_RESPONSE = "no_response"
REJECT = "reject"

# Open5GS names of the TS 28.552 registration counters, summed over registration types
# (initial, mobility, periodic, emergency) as the TS 28.554 success rate defines it. Open5GS
# exposes failures, per cause, for initial registrations only.
REG_REQUEST_METRICS = (
    "fivegs_amffunction_rm_reginitreq",
    "fivegs_amffunction_rm_regmobreq",
    "fivegs_amffunction_rm_regperiodreq",
    "fivegs_amffunction_rm_regemergreq",
)
REG_SUCCESS_METRICS = (
    "fivegs_amffunction_rm_reginitsucc",
    "fivegs_amffunction_rm_regmobsucc",
    "fivegs_amffunction_rm_regperiodsucc",
    "fivegs_amffunction_rm_regemergsucc",
)
REG_FAILURE_METRICS = ("fivegs_amffunction_rm_reginitfail",)
PDU_REQUEST_METRIC = "fivegs_smffunction_sm_pdusessioncreationreq"
PDU_SUCCESS_METRIC = "fivegs_smffunction_sm_pdusessioncreationsucc"
PDU_FAILURE_METRIC = "fivegs_smffunction_sm_pdusessioncreationfail"

RAN_UE_GAUGE = "ran_ue"
GNB_GAUGE = "gnb"

LATENCY_DECIMAL = "decimal(20,6)"
# Partition key of a raw row in the marts.
PARTITION = ("date", "site_id")


def _in_partition(frame: DataFrame) -> DataFrame:
    return frame.withColumn("date", F.col("event_date"))


def mean_latency(latency: Column) -> Column:
    """Mean of ``latency`` (ms), summed exactly so the result does not depend on row order."""
    return F.avg(latency.cast(LATENCY_DECIMAL)).cast("double")


def latency_percentiles(latency: Column, percentages: Sequence[float]) -> Column:
    """Exact percentiles of ``latency`` with linear interpolation; NULL without values."""
    return F.percentile(latency, list(percentages))


def causes_json(cause: Column, count: Column) -> Column:
    """Aggregate ``{"<cause>": count, ...}`` as JSON text, keys in ascending cause order and
    ``not logged`` for a failure without a cause."""
    entries = F.array_sort(F.collect_list(F.struct(cause.alias("cause"), count.alias("count"))))
    as_text = F.transform(
        entries,
        lambda e: F.struct(
            F.coalesce(e["cause"].cast("string"), F.lit("not logged")).alias("k"),
            e["count"].alias("v"),
        ),
    )
    return F.when(F.size(entries) > 0, F.to_json(F.map_from_entries(as_text)))


def registration_status(
    success_rate: Column, p95: Column, healthy: float, critical: float, max_p95_ms: float
) -> Column:
    """Status of an AMF's day.

    ``critical`` below ``critical`` %. ``healthy`` at or above ``healthy`` % with a p95
    latency of at most ``max_p95_ms``. ``degraded`` otherwise, which includes a healthy rate
    with a slow p95. ``unknown`` without attempts.
    """
    return (
        F.when(success_rate.isNull(), F.lit("unknown"))
        .when(success_rate < critical, F.lit("critical"))
        .when((success_rate >= healthy) & (p95.isNull() | (p95 <= max_p95_ms)), F.lit("healthy"))
        .otherwise(F.lit("degraded"))
    )


def registration_kpis(
    attempts: DataFrame, healthy: float, critical: float, max_p95_ms: float
) -> DataFrame:
    """Registration counts, success rate and latency per (date, site, AMF instance).

    ``total_attempts`` = successful + failed (rejected) + no_response, and the success rate is
    successful / total_attempts x 100, so an attempt without a response counts against it.
    Latencies are in ms from the Registration Request to the accept or complete on the AMF's
    own clock, over successful attempts only.
    """
    outcome = F.col("outcome")
    success = outcome.isin(*REGISTRATION_SUCCESS)
    success_latency = F.when(success, F.col("latency_ms"))
    grouped = (
        _in_partition(attempts)
        .groupBy(*PARTITION, "amf_instance")
        .agg(
            F.max("nf_vendor").alias("nf_vendor"),
            F.count("*").alias("total_attempts"),
            F.count(F.when(success, 1)).alias("successful"),
            F.count(F.when(outcome == REJECT, 1)).alias("failed"),
            F.count(F.when(outcome == NO_RESPONSE, 1)).alias("no_response"),
            F.count(success_latency).alias("latency_samples"),
            mean_latency(success_latency).alias("avg_latency"),
            latency_percentiles(success_latency, (0.95, 0.99)).alias("percentiles"),
        )
    )
    success_rate = rate(F.col("successful"), F.col("total_attempts"))
    return (
        grouped.withColumn("success_rate", success_rate)
        .withColumn("p95_latency", F.col("percentiles")[0])
        .withColumn("p99_latency", F.col("percentiles")[1])
        .drop("percentiles")
        .withColumn(
            "deployment_status",
            registration_status(
                F.col("success_rate"), F.col("p95_latency"), healthy, critical, max_p95_ms
            ),
        )
        .withColumn("processed_at", F.current_timestamp())
    )


def failure_cause_name(cause_name: Column, cause_code: Column, outcome: Column) -> Column:
    """Name of a failure's cause.

    ``no response`` for an attempt without a response, and ``not logged`` for a reject whose
    NF does not log the cause (free5GC). A code outside the TS 24.501 table keeps its number
    in cause_code and gets the name ``unknown cause``.
    """
    return (
        F.when(outcome == NO_RESPONSE, F.lit("no response"))
        .when(cause_code.isNull(), F.coalesce(cause_name, F.lit("not logged")))
        .otherwise(F.coalesce(cause_name, F.lit("unknown cause")))
    )


def registration_failures(attempts: DataFrame) -> DataFrame:
    """Rejected and unanswered registrations per (date, site, AMF, outcome, cause).

    ``distinct_ues`` counts the UE pseudonyms of the group. Attempts whose identity the AMF
    did not log (``(null)``) count as attempts but not as UEs.
    """
    failures = (
        _in_partition(attempts)
        .where(F.col("outcome").isin(REJECT, NO_RESPONSE))
        .withColumn(
            "cause_name",
            failure_cause_name(F.col("cause_name"), F.col("cause_code"), F.col("outcome")),
        )
    )
    return (
        failures.groupBy(*PARTITION, "amf_instance", "outcome", "cause_code", "cause_name")
        .agg(
            F.count("*").alias("attempts"),
            F.countDistinct("ue_pseudonym").alias("distinct_ues"),
            F.min("requested_at").alias("first_seen"),
            F.max("requested_at").alias("last_seen"),
        )
        .withColumn("processed_at", F.current_timestamp())
    )


def countable_increases(increases: DataFrame) -> DataFrame:
    """Keep, per (instance, metric, interval), the unlabelled series when there is one and the
    labelled series otherwise, so a sum never counts an event twice."""
    interval = Window.partitionBy("site_id", "instance", "metric", "interval_end")
    has_unlabelled = F.max(F.col("unlabelled").cast("int")).over(interval) == 1
    return increases.withColumn("_has_unlabelled", has_unlabelled).where(
        F.col("unlabelled") == F.col("_has_unlabelled")
    )


def _metric_sum(metrics: Sequence[str]) -> Column:
    return F.sum(F.when(F.col("metric").isin(*metrics), F.col("increase")))


def _cause_counts(increases: DataFrame, metrics: Sequence[str]) -> DataFrame:
    """Increase per (date, site, instance, cause label) of the failure ``metrics``."""
    return (
        increases.where(F.col("metric").isin(*metrics) & ~F.col("unlabelled"))
        .withColumn("cause", F.get_json_object("labels", "$.cause"))
        .where(F.col("cause").isNotNull())
        .groupBy(*PARTITION, "instance", "cause")
        .agg(F.sum("increase").alias("increase"))
    )


def session_counters(increases: DataFrame) -> DataFrame:
    """PDU session creation counters (SM.PduSessionCreationReq/Succ/Fail) per (date, site,
    SMF instance)."""
    countable = countable_increases(_in_partition(increases).where(F.col("nf") == "smf"))
    return (
        countable.groupBy(*PARTITION, F.col("instance").alias("smf_instance"))
        .agg(
            _metric_sum([PDU_REQUEST_METRIC]).alias("counter_requests"),
            _metric_sum([PDU_SUCCESS_METRIC]).alias("counter_successes"),
            _metric_sum([PDU_FAILURE_METRIC]).alias("counter_failures"),
        )
        .where(F.col("counter_requests").isNotNull() | F.col("counter_successes").isNotNull())
    )


def session_kpis(sessions: DataFrame, increases: DataFrame) -> DataFrame:
    """PDU session setup counts, success rate, failure causes and latency per (date, site,
    SMF instance) from the SMF logs, beside the same counts from the SMF counters.

    The setup success rate is accepted / attempted x 100, where an attempt without a response
    counts against it. ``failure_causes`` is JSON text ``{"<5GSM cause>": rejects}``. A row
    exists when the SMF logged attempts or its counters were scraped.
    """
    outcome = F.col("outcome")
    accepted_latency = F.when(outcome == "accept", F.col("latency_ms"))
    attempts = _in_partition(sessions)
    logged = attempts.groupBy(*PARTITION, "smf_instance").agg(
        F.count("*").alias("attempts"),
        F.count(F.when(outcome == "accept", 1)).alias("successes"),
        F.count(F.when(outcome == REJECT, 1)).alias("failures"),
        F.count(F.when(outcome == NO_RESPONSE, 1)).alias("no_response"),
        mean_latency(accepted_latency).alias("avg_latency"),
        latency_percentiles(accepted_latency, (0.95,)).alias("percentiles"),
    )
    causes = (
        attempts.where(outcome == REJECT)
        .groupBy(*PARTITION, "smf_instance", "cause_code")
        .agg(F.count("*").alias("count"), F.max("cause_name").alias("cause_name"))
    )
    ranked = causes.withColumn(
        "rank",
        F.row_number().over(
            Window.partitionBy(*PARTITION, "smf_instance").orderBy(
                F.desc("count"), F.asc_nulls_last("cause_code")
            )
        ),
    )
    cause_totals = ranked.groupBy(*PARTITION, "smf_instance").agg(
        F.max(F.when(F.col("rank") == 1, F.col("cause_code"))).alias("top_failure_cause"),
        F.max(F.when(F.col("rank") == 1, F.col("cause_name"))).alias("top_failure_cause_name"),
        F.max(F.when(F.col("rank") == 1, F.col("count"))).alias("top_failure_count"),
        causes_json(F.col("cause_code"), F.col("count")).alias("failure_causes"),
    )
    joined = (
        logged.join(cause_totals, [*PARTITION, "smf_instance"], "left")
        .join(session_counters(increases), [*PARTITION, "smf_instance"], "full_outer")
        .fillna(0, subset=["attempts", "successes", "failures", "no_response"])
    )
    return (
        joined.withColumn("setup_success_rate", rate(F.col("successes"), F.col("attempts")))
        .withColumn("p95_latency", F.col("percentiles")[0])
        .drop("percentiles")
        .withColumn(
            "counter_setup_success_rate",
            rate(F.col("counter_successes"), F.col("counter_requests")),
        )
        .withColumn("processed_at", F.current_timestamp())
    )


def unique_containers(cdrs: DataFrame) -> DataFrame:
    """Used-unit containers with exports of the same container dropped, and a flag count.

    A container is the same when (charging id, record sequence number, rating group, local
    sequence number) match within one (date, site) partition. The copy kept is the first by
    source file and location, so the choice does not depend on Spark's row order.
    """
    same_container = Window.partitionBy(
        "event_date",
        "site_id",
        "charging_id",
        "record_sequence_number",
        "rating_group",
        "local_sequence_number",
    ).orderBy("source_path", "record_location", "container_number")
    return cdrs.withColumn("_copy", F.row_number().over(same_container))


def cell_throughput(cdrs: DataFrame) -> DataFrame:
    """Uplink and downlink octets, throughput and sessions per (date, site, NR cell, TAC) from
    the CHF-CDR used-unit containers.

    Duplicate containers are dropped first. The partial records of a session are grouped by
    charging id before summing, so ``sessions`` counts charging ids. A container belongs to the
    date of its first usage and to its own cell (the record's cell when it names none).
    ``throughput_bps`` = (uplink + downlink octets) x 8 / 86,400, the seconds of the UTC day
    of the partition. ``active_throughput_bps`` divides by ``active_seconds`` instead, the span
    from the first usage to the last usage in the cell that day.
    """
    containers = unique_containers(_in_partition(cdrs)).withColumn(
        "nr_cell", F.col("container_nr_cell_id")
    )
    kept = containers.where(F.col("_copy") == 1)
    per_session = kept.groupBy(*PARTITION, "nr_cell", "tac", "charging_id").agg(
        F.sum("uplink_octets").alias("uplink_octets"),
        F.sum("downlink_octets").alias("downlink_octets"),
        F.count("*").alias("containers"),
        F.min("first_usage_at").alias("first_usage_at"),
        F.max("last_usage_at").alias("last_usage_at"),
    )
    per_cell = per_session.groupBy(*PARTITION, "nr_cell", "tac").agg(
        F.coalesce(F.sum("uplink_octets"), F.lit(0)).cast("long").alias("uplink_octets"),
        F.coalesce(F.sum("downlink_octets"), F.lit(0)).cast("long").alias("downlink_octets"),
        F.count("*").alias("sessions"),
        F.sum("containers").alias("containers"),
        F.min("first_usage_at").alias("first_usage_at"),
        F.max("last_usage_at").alias("last_usage_at"),
    )
    duplicates = (
        containers.where(F.col("_copy") > 1)
        .groupBy(*PARTITION, "nr_cell", "tac")
        .agg(F.count("*").alias("duplicate_containers"))
    )
    bits = (F.col("uplink_octets") + F.col("downlink_octets")) * 8.0
    active = F.unix_micros("last_usage_at") - F.unix_micros("first_usage_at")
    return (
        per_cell.join(duplicates, [*PARTITION, "nr_cell", "tac"], "left")
        .fillna(0, subset=["duplicate_containers"])
        .withColumnRenamed("nr_cell", "nr_cell_id")
        .withColumn("throughput_bps", F.round(bits / SECONDS_PER_DAY, 3))
        .withColumn("active_seconds", active / 1e6)
        .withColumn(
            "active_throughput_bps",
            F.when(F.col("active_seconds") > 0, F.round(bits / F.col("active_seconds"), 3)),
        )
        .withColumn("processed_at", F.current_timestamp())
    )


def _midpoint_date(start: Column, end: Column) -> Column:
    """UTC date of the midpoint of [start, end], as raw.nf_counter_increases dates intervals."""
    micros = F.floor((F.unix_micros(start) + F.unix_micros(end)) / 2)
    return F.to_date(F.timestamp_micros(micros))


def restart_intervals(scrapes: DataFrame, increases: DataFrame) -> DataFrame:
    """Scrape intervals in which an NF restarted, one row per (site, instance, interval).

    An interval counts when ``process_start_time_seconds`` changed between its two scrapes, or
    when any of its counter series was reset. ``series_resets`` counts those series. The
    interval is dated by its midpoint, like the counter increases.
    """
    ordered = Window.partitionBy("site_id", "instance").orderBy("scraped_at")
    previous_start = F.lag("process_start_time").over(ordered)
    by_start_time = scrapes.select(
        "site_id",
        "instance",
        F.lag("scraped_at").over(ordered).alias("interval_start"),
        F.col("scraped_at").alias("interval_end"),
        (
            previous_start.isNotNull()
            & F.col("process_start_time").isNotNull()
            & (previous_start != F.col("process_start_time"))
        ).alias("start_time_changed"),
    ).where(F.col("interval_start").isNotNull())
    by_counters = increases.groupBy("site_id", "instance", "interval_start", "interval_end").agg(
        F.count(F.when(F.col("counter_reset"), 1)).alias("series_resets")
    )
    keys = ["site_id", "instance", "interval_start", "interval_end"]
    joined = by_start_time.join(by_counters, keys, "full_outer").fillna(
        {"start_time_changed": False, "series_resets": 0}
    )
    return joined.where(F.col("start_time_changed") | (F.col("series_resets") > 0)).withColumn(
        "date", _midpoint_date(F.col("interval_start"), F.col("interval_end"))
    )


def sample_quality(samples: DataFrame) -> DataFrame:
    """Per (date, site, instance): invalid samples, negative gauges, their flags as
    ``metric=quality`` text, and the last values of the RAN UE and gNB gauges. An invalid
    value is NULL in raw.nf_metric_samples, so a last value can be NULL beside its flag."""
    bad = F.col("quality") != "ok"
    flag = F.when(bad, F.concat_ws("=", F.col("metric"), F.col("quality")))
    unlabelled = F.col("labels_key") == ""
    ran_ue = unlabelled & (F.col("metric") == RAN_UE_GAUGE)
    gnb = unlabelled & (F.col("metric") == GNB_GAUGE)
    flags = F.concat_ws(",", F.array_sort(F.collect_set(flag)))
    return (
        _in_partition(samples)
        .groupBy(*PARTITION, "instance")
        .agg(
            F.count(F.when(bad, 1)).alias("quality_issues"),
            F.count(F.when(F.col("quality") == "negative_gauge", 1)).alias("negative_gauges"),
            F.when(flags != "", flags).alias("quality_flags"),
            _last_value(ran_ue).alias("last_ran_ue"),
            F.max(F.when(ran_ue, F.col("value"))).alias("max_ran_ue"),
            _last_value(gnb).alias("last_gnb"),
        )
    )


def _last_value(selected: Column) -> Column:
    """Aggregate: ``value`` of the selected sample with the latest scrape time."""
    return F.max_by(F.when(selected, F.col("value")), F.when(selected, F.col("scraped_at")))


def registration_counters(increases: DataFrame) -> DataFrame:
    """Registration counter increases per (date, site, AMF instance), summed over types."""
    countable = countable_increases(_in_partition(increases).where(F.col("nf") == "amf"))
    totals = countable.groupBy(*PARTITION, "instance").agg(
        _metric_sum(REG_REQUEST_METRICS).alias("counter_reg_requests"),
        _metric_sum(REG_SUCCESS_METRICS).alias("counter_reg_successes"),
        _metric_sum(REG_FAILURE_METRICS).alias("counter_reg_failures"),
    )
    causes = (
        _cause_counts(countable, REG_FAILURE_METRICS)
        .groupBy(*PARTITION, "instance")
        .agg(
            causes_json(F.col("cause").cast("int"), F.col("increase").cast("long")).alias(
                "counter_reg_failure_causes"
            )
        )
    )
    return totals.join(causes, [*PARTITION, "instance"], "left").withColumn(
        "counter_reg_success_rate",
        rate(F.col("counter_reg_successes"), F.col("counter_reg_requests")),
    )


def nf_health(
    scrapes: DataFrame,
    samples: DataFrame,
    increases: DataFrame,
    attempts: DataFrame,
    dates: Sequence[date],
    expected_scrapes_per_day: float,
) -> DataFrame:
    """Scrapes, availability, restarts, sample quality and registration counters per (date,
    site, NF instance), with the AMF's log-based registration attempts beside its counters.

    ``scrapes`` must also contain the days before and after each of ``dates``, so that every
    scrape interval whose midpoint lies on one of ``dates`` has both of its scrapes, whatever
    rectangle is read. An instance scraped the day before but not at all on a day gets a row
    with 0 scrapes. Availability = scrapes received that UTC day /
    ``expected_scrapes_per_day`` x 100, capped at 100. An interval with a restart is one
    restart, however many counters it reset.

    NOTE: a scrape interval longer than one day may lack one of its scrapes, and then a
    restart in it is found from its counter resets alone.
    """
    day = F.col("event_date")
    in_rectangle = day.isin(list(dates))
    instances = (
        scrapes.select(day.alias("date"), "site_id", "nf", "instance", "nf_vendor")
        .unionByName(
            scrapes.select(
                F.date_add(day, 1).alias("date"), "site_id", "nf", "instance", "nf_vendor"
            )
        )
        .where(F.col("date").isin(list(dates)))
        .groupBy(*PARTITION, "instance")
        .agg(F.max("nf").alias("nf"), F.max("nf_vendor").alias("nf_vendor"))
    )
    scrape_counts = (
        _in_partition(scrapes)
        .groupBy(*PARTITION, "instance")
        .agg(
            F.count("*").alias("scrapes"),
            F.min("scraped_at").alias("first_scrape_at"),
            F.max("scraped_at").alias("last_scrape_at"),
        )
    )
    restarts = (
        restart_intervals(scrapes, increases)
        .groupBy(*PARTITION, "instance")
        .agg(F.count("*").alias("restarts"), F.sum("series_resets").alias("counter_resets"))
    )
    logged = (
        _in_partition(attempts)
        .groupBy(*PARTITION, F.col("amf_instance").alias("instance"))
        .agg(
            F.count("*").alias("log_reg_attempts"),
            F.count(F.when(F.col("outcome").isin(*REGISTRATION_SUCCESS), 1)).alias(
                "log_reg_successes"
            ),
        )
    )
    keys = [*PARTITION, "instance"]
    amf = F.col("nf") == "amf"
    joined = (
        instances.join(scrape_counts, keys, "left")
        .join(restarts, keys, "left")
        .join(sample_quality(samples.where(in_rectangle)), keys, "left")
        .join(registration_counters(increases.where(in_rectangle)), keys, "left")
        .join(logged, keys, "left")
        .fillna(
            0, subset=["scrapes", "restarts", "counter_resets", "quality_issues", "negative_gauges"]
        )
    )
    return (
        joined.withColumn("expected_scrapes", F.lit(float(expected_scrapes_per_day)))
        .withColumn(
            "availability_pct",
            F.least(rate(F.col("scrapes"), F.col("expected_scrapes")), F.lit(100.0)),
        )
        .withColumn("log_reg_attempts", F.when(amf, F.coalesce("log_reg_attempts", F.lit(0))))
        .withColumn("log_reg_successes", F.when(amf, F.coalesce("log_reg_successes", F.lit(0))))
        .withColumn(
            "log_reg_success_rate", rate(F.col("log_reg_successes"), F.col("log_reg_attempts"))
        )
        .withColumn("processed_at", F.current_timestamp())
    )
