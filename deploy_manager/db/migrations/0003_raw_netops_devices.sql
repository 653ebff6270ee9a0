-- Raw layer for network device health and configuration drift.
-- Every statement is IF NOT EXISTS so the file is safe to apply twice.
-- event_date is the UTC date of the row's time and, with site_id, places the row in its
-- (date, site) partition. site_id comes from the newest raw.inventory snapshot taken at or
-- before that time.

CREATE SCHEMA IF NOT EXISTS raw;

-- One row per device and sample from the network monitor. A re-ingested sample (same device
-- and time) is skipped. Interface counters are summed over the device's interfaces: totals
-- since boot when counter_kind is 'cumulative' (so they drop back at a reboot), events per
-- second when it is 'per_second'. A value the monitor sent out of range is stored as NULL
-- and named in quality_flags.
CREATE TABLE IF NOT EXISTS raw.device_metrics (
    device           text             NOT NULL,
    site_id          text             NOT NULL,
    sample_time      timestamptz      NOT NULL,
    event_date       date             NOT NULL,
    cpu_pct          double precision,
    mem_pct          double precision,
    if_in_errors     double precision,
    if_out_errors    double precision,
    if_in_discards   double precision,
    if_out_discards  double precision,
    counter_kind     text             NOT NULL
        CHECK (counter_kind IN ('cumulative', 'per_second')),
    reachable        boolean,
    rtt_ms           double precision,
    packet_loss_pct  double precision,
    quality_flags    text[]           NOT NULL DEFAULT '{}',
    source_format    text             NOT NULL CHECK (source_format IN ('jsonl', 'csv')),
    source_path      text             NOT NULL,
    line             integer          NOT NULL,
    ingested_at      timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (device, sample_time)
);
CREATE INDEX IF NOT EXISTS device_metrics_partition
    ON raw.device_metrics (event_date, site_id);

-- One row per configuration backup of a device: a file of a collection folder or a file
-- changed by a git commit. The normalised hash is taken after removing the lines that
-- change without a configuration change (timestamps, uptime, counters); removed_patterns
-- maps each pattern name to the number of lines it removed.
CREATE TABLE IF NOT EXISTS raw.config_backups (
    device              text        NOT NULL,
    site_id             text        NOT NULL,
    role                text,
    vendor              text        NOT NULL
        CHECK (vendor IN ('cisco_ios', 'cisco_nxos', 'juniper_junos', 'arista_eos', 'unknown')),
    backup_time         timestamptz NOT NULL,
    event_date          date        NOT NULL,
    raw_sha256          text        NOT NULL,
    normalised_sha256   text        NOT NULL,
    removed_line_count  integer     NOT NULL,
    removed_patterns    jsonb       NOT NULL DEFAULT '{}',
    source              text        NOT NULL CHECK (source IN ('folder', 'git')),
    source_root         text        NOT NULL,
    source_path         text        NOT NULL,
    source_commit       text,
    content             text        NOT NULL,
    ingested_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device, backup_time)
);
CREATE INDEX IF NOT EXISTS config_backups_partition
    ON raw.config_backups (event_date, site_id);

-- One row per configuration backup, compared with the device's previous backup and with the
-- golden configuration of its role. With daily collections that is one row per device and
-- day. drift_vs_previous is NULL for a device's first backup, drift_vs_golden is NULL when
-- the device has no role or the role has no golden configuration, and expected is NULL
-- unless drift_vs_previous is true. expected is true when an Ansible run on the device
-- started inside the deployment window before the backup; deployment_run_id names that run.
-- Diffs are unified diffs of the normalised configurations, cut at a bounded size.
CREATE TABLE IF NOT EXISTS raw.config_drift (
    device                      text        NOT NULL,
    site_id                     text        NOT NULL,
    event_date                  date        NOT NULL,
    backup_time                 timestamptz NOT NULL,
    previous_backup_time        timestamptz,
    role                        text,
    normalised_sha256           text        NOT NULL,
    previous_normalised_sha256  text,
    golden_sha256               text,
    drift_vs_previous           boolean,
    volatile_only_change        boolean     NOT NULL DEFAULT false,
    drift_vs_golden             boolean,
    lines_added                 integer     NOT NULL DEFAULT 0,
    lines_removed               integer     NOT NULL DEFAULT 0,
    diff                        text,
    diff_truncated              boolean     NOT NULL DEFAULT false,
    golden_lines_added          integer,
    golden_lines_removed        integer,
    golden_diff                 text,
    golden_diff_truncated       boolean     NOT NULL DEFAULT false,
    expected                    boolean,
    deployment_run_id           text,
    computed_at                 timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device, backup_time)
);
CREATE INDEX IF NOT EXISTS config_drift_partition
    ON raw.config_drift (event_date, site_id);
