-- Raw layer for Ansible deployment runs, the inventory and the quarantine.
-- Every statement is IF NOT EXISTS so the file is safe to apply twice.

CREATE SCHEMA IF NOT EXISTS raw;

-- One row per landing file read, so a re-ingest of an unchanged file is skipped.
CREATE TABLE IF NOT EXISTS raw.ingested_files (
    source_path   text        NOT NULL,
    sha256        text        NOT NULL,
    source_kind   text        NOT NULL,
    record_count  integer     NOT NULL,
    quarantined   integer     NOT NULL,
    ingested_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_path, sha256)
);

-- Host-to-site assignments from inventory snapshots; a host belongs to the site of the
-- newest snapshot taken at or before the run.
CREATE TABLE IF NOT EXISTS raw.inventory (
    host        text        NOT NULL,
    site_id     text        NOT NULL,
    valid_from  timestamptz NOT NULL,
    source_path text        NOT NULL,
    PRIMARY KEY (host, valid_from)
);

CREATE TABLE IF NOT EXISTS raw.ansible_runs (
    run_id            text        PRIMARY KEY,
    playbook          text        NOT NULL,
    status            text,
    rc                integer,
    completeness      text        NOT NULL
        CHECK (completeness IN ('complete', 'no_stats', 'no_events', 'timeout', 'canceled')),
    started_at        timestamptz,
    ended_at          timestamptz,
    run_date          date,
    duration_seconds  double precision,
    ansible_version   text,
    source_format     text        NOT NULL,
    source_path       text        NOT NULL,
    event_count       integer     NOT NULL,
    duplicate_events  integer     NOT NULL,
    preamble          text,
    ingested_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ansible_runs_run_date ON raw.ansible_runs (run_date);

-- One row per (run, host, task, outcome). Loop items and retries are folded into the task's
-- final result, so a failed loop counts once. run_date and site_id place the row in its
-- (date, site) partition: run_date is the UTC date of the run's first event.
CREATE TABLE IF NOT EXISTS raw.ansible_host_results (
    run_id              text             NOT NULL,
    host                text             NOT NULL,
    site_id             text             NOT NULL,
    run_date            date             NOT NULL,
    task_id             text             NOT NULL,
    outcome             text             NOT NULL
        CHECK (outcome IN ('ok', 'changed', 'failed', 'ignored', 'rescued', 'unreachable',
                           'skipped')),
    playbook            text             NOT NULL,
    play                text,
    task                text,
    task_action         text,
    role                text,
    event_counter       integer,
    event_created       timestamptz,
    duration_seconds    double precision,
    error_message       text,
    error_normalised    text,
    result_json         text,
    result_truncated    boolean          NOT NULL DEFAULT false,
    result_length       integer          NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, host, task_id, outcome)
);
CREATE INDEX IF NOT EXISTS ansible_host_results_partition
    ON raw.ansible_host_results (run_date, site_id);

-- The run's playbook_on_stats per host. A missing count in the stats means 0.
CREATE TABLE IF NOT EXISTS raw.ansible_host_stats (
    run_id      text    NOT NULL,
    host        text    NOT NULL,
    site_id     text    NOT NULL,
    run_date    date    NOT NULL,
    playbook    text    NOT NULL,
    ok          integer NOT NULL,
    changed     integer NOT NULL,
    failures    integer NOT NULL,
    dark        integer NOT NULL,
    skipped     integer NOT NULL,
    rescued     integer NOT NULL,
    ignored     integer NOT NULL,
    succeeded   boolean NOT NULL,
    PRIMARY KEY (run_id, host)
);
CREATE INDEX IF NOT EXISTS ansible_host_stats_partition
    ON raw.ansible_host_stats (run_date, site_id);

-- Sites a run touched, one row per (run, site): from the stats where the run finished, from
-- the host events otherwise. A run with no host events has no row here and is counted
-- under raw.ansible_runs only.
CREATE TABLE IF NOT EXISTS raw.ansible_run_sites (
    run_id        text    NOT NULL,
    site_id       text    NOT NULL,
    run_date      date    NOT NULL,
    playbook      text    NOT NULL,
    completeness  text    NOT NULL,
    duration_seconds double precision,
    PRIMARY KEY (run_id, site_id)
);
CREATE INDEX IF NOT EXISTS ansible_run_sites_partition ON raw.ansible_run_sites (run_date, site_id);

-- Input that could not be parsed or placed, kept whole with the reason.
CREATE TABLE IF NOT EXISTS raw.quarantine (
    id              bigserial   PRIMARY KEY,
    source_kind     text        NOT NULL,
    source_path     text        NOT NULL,
    location        text        NOT NULL,
    reason          text        NOT NULL,
    content         text        NOT NULL,
    content_sha256  text        NOT NULL,
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_path, location, content_sha256)
);
