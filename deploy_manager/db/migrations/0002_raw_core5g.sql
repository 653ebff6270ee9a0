-- Raw layer for the 5G core: AMF and SMF attempts from logs, Prometheus scrapes of the NFs,
-- counter increases between consecutive scrapes, and CHF charging data records.
-- Every statement is IF NOT EXISTS so the file is safe to apply twice.
--
-- event_date is the UTC date of the row's event time and, with site_id, places the row in
-- its (date, site) partition: select one with WHERE event_date = ? AND site_id = ?.
-- source_path is the landing file's path relative to the ingested folder. A re-ingested file
-- replaces all rows with its source_path, so ingesting the same file twice changes nothing.
-- No column holds a subscriber identity in clear: SUPI/IMSI, SUCI, GPSI, PEI and UE IP
-- addresses are keyed HMAC pseudonyms ("ue-", "suci-", "gpsi-", "pei-", "ip-" + 16 hex).

CREATE SCHEMA IF NOT EXISTS raw;

-- One row per Registration Request at an AMF. A success is outcome 'accept' or 'complete'
-- (Open5GS logs the Registration complete, free5GC the accept and then the complete).
-- latency_ms runs from the request to the first accept (free5GC) or to the complete or
-- reject (Open5GS) on the AMF's own clock. 'no_response' means no outcome within the
-- response window or before the file ended, and is never a success. cause_code is the
-- 5GMM cause (TS 24.501 9.11.3.2). It is NULL with cause_logged false where the NF does not
-- log the cause (free5GC), and cause_name is NULL for a code outside the standard table.
-- attempt_key is 'RAN_UE_NGAP_ID/AMF_UE_NGAP_ID', or 'line-<n>' without NGAP ids.
CREATE TABLE IF NOT EXISTS raw.amf_registration_attempts (
    site_id                 text             NOT NULL,
    amf_instance            text             NOT NULL,
    nf_vendor               text             NOT NULL CHECK (nf_vendor IN ('open5gs', 'free5gc')),
    attempt_key             text             NOT NULL,
    ran_ue_ngap_id          bigint,
    amf_ue_ngap_id          bigint,
    ue_pseudonym            text,
    identity_resolved       boolean          NOT NULL,
    requested_at            timestamptz      NOT NULL,
    requested_at_text       text             NOT NULL,
    outcome                 text             NOT NULL
        CHECK (outcome IN ('accept', 'complete', 'reject', 'no_response')),
    outcome_at              timestamptz,
    outcome_at_text         text,
    cause_code              integer,
    cause_name              text,
    cause_logged            boolean          NOT NULL,
    latency_ms              double precision,
    accept_retransmissions  integer          NOT NULL DEFAULT 0,
    tac                     integer,
    cell_id                 bigint,
    event_date              date             NOT NULL,
    source_path             text             NOT NULL,
    line_number             integer          NOT NULL,
    PRIMARY KEY (source_path, line_number)
);
CREATE INDEX IF NOT EXISTS amf_registration_attempts_partition
    ON raw.amf_registration_attempts (event_date, site_id);

-- One row per PDU Session Establishment Request at an SMF. outcome 'accept' is the SMF's
-- "UE SUPI[..] DNN[..] IPv4[..]" line: the session was set up and the UE got its address.
-- cause_code is the 5GSM cause (TS 24.501 9.11.4.2) of a reject. Rejected sessions produce
-- no CDR, so the session setup success rate comes from this table or the SMF counters.
CREATE TABLE IF NOT EXISTS raw.pdu_session_attempts (
    site_id                 text             NOT NULL,
    smf_instance            text             NOT NULL,
    nf_vendor               text             NOT NULL CHECK (nf_vendor IN ('open5gs', 'free5gc')),
    ue_pseudonym            text,
    pdu_session_id          integer,
    dnn                     text,
    snssai_sst              integer,
    snssai_sd               text,
    requested_at            timestamptz      NOT NULL,
    requested_at_text       text             NOT NULL,
    outcome                 text             NOT NULL
        CHECK (outcome IN ('accept', 'reject', 'no_response')),
    outcome_at              timestamptz,
    outcome_at_text         text,
    cause_code              integer,
    cause_name              text,
    cause_logged            boolean          NOT NULL,
    latency_ms              double precision,
    ue_ipv4_pseudonym       text,
    ue_ipv6_pseudonym       text,
    event_date              date             NOT NULL,
    source_path             text             NOT NULL,
    line_number             integer          NOT NULL,
    PRIMARY KEY (source_path, line_number)
);
CREATE INDEX IF NOT EXISTS pdu_session_attempts_partition
    ON raw.pdu_session_attempts (event_date, site_id);

-- One row per scrape of one NF instance (one scrape file).
CREATE TABLE IF NOT EXISTS raw.nf_scrapes (
    site_id             text             NOT NULL,
    nf                  text             NOT NULL,
    instance            text             NOT NULL,
    nf_vendor           text             NOT NULL,
    scraped_at          timestamptz      NOT NULL,
    process_start_time  double precision,
    sample_count        integer          NOT NULL,
    event_date          date             NOT NULL,
    source_path         text             NOT NULL UNIQUE,
    PRIMARY KEY (site_id, instance, scraped_at)
);
CREATE INDEX IF NOT EXISTS nf_scrapes_partition ON raw.nf_scrapes (event_date, site_id);

-- One row per sample of a scrape, as exposed. An impossible value (a negative gauge or
-- counter, NaN, an infinity) is stored as NULL with value_text and a quality flag other
-- than 'ok'. labels_key is the sorted, escaped label set ('' for an unlabelled series).
-- Open5GS exposes some counters both unlabelled (every request) and per label, so a sum
-- over a metric must take either the unlabelled series or the labelled ones, never both.
CREATE TABLE IF NOT EXISTS raw.nf_metric_samples (
    site_id              text             NOT NULL,
    nf                   text             NOT NULL,
    instance             text             NOT NULL,
    scraped_at           timestamptz      NOT NULL,
    metric               text             NOT NULL,
    metric_type          text             NOT NULL,
    labels_key           text             NOT NULL,
    labels               jsonb            NOT NULL,
    value                double precision,
    value_text           text             NOT NULL,
    quality              text             NOT NULL
        CHECK (quality IN ('ok', 'negative_gauge', 'negative_counter', 'nan', 'infinite')),
    sample_timestamp_ms  bigint,
    process_start_time   double precision,
    event_date           date             NOT NULL,
    source_path          text             NOT NULL,
    line_number          integer          NOT NULL,
    PRIMARY KEY (site_id, instance, scraped_at, metric, labels_key)
);
CREATE INDEX IF NOT EXISTS nf_metric_samples_partition
    ON raw.nf_metric_samples (event_date, site_id);
CREATE INDEX IF NOT EXISTS nf_metric_samples_source ON raw.nf_metric_samples (source_path);

-- Increase of each cumulative series between two consecutive scrapes of one instance,
-- computed as Prometheus increase() treats resets: after a value drop or a changed
-- process_start_time the counter restarted at 0, so the increase is the new value
-- (counter_reset true). A series absent from the earlier scrape started at 0 after it
-- (series_started true). Summing increase over a day gives the day's count without
-- extrapolation. event_date is the UTC date of the interval's midpoint. The unlabelled
-- rule of raw.nf_metric_samples applies here too.
CREATE TABLE IF NOT EXISTS raw.nf_counter_increases (
    site_id          text             NOT NULL,
    nf               text             NOT NULL,
    instance         text             NOT NULL,
    metric           text             NOT NULL,
    labels_key       text             NOT NULL,
    labels           jsonb            NOT NULL,
    unlabelled       boolean          NOT NULL,
    interval_start   timestamptz      NOT NULL,
    interval_end     timestamptz      NOT NULL,
    interval_seconds double precision NOT NULL,
    start_value      double precision,
    end_value        double precision NOT NULL,
    increase         double precision NOT NULL,
    counter_reset    boolean          NOT NULL,
    series_started   boolean          NOT NULL,
    event_date       date             NOT NULL,
    PRIMARY KEY (site_id, instance, interval_end, metric, labels_key)
);
CREATE INDEX IF NOT EXISTS nf_counter_increases_partition
    ON raw.nf_counter_increases (event_date, site_id);

-- One row per used-unit container of a CHF-CDR (TS 32.298), with the fields of its record.
-- A record without containers has one row with container_number 0 and NULL volumes.
-- Partial records of one long session share charging_id: group by it before summing.
-- container_nr_cell_id is the container's cell, or the record's where the container names
-- none, for throughput per cell. event_date is the UTC date of the container's first usage,
-- else of the record's opening.
CREATE TABLE IF NOT EXISTS raw.chf_cdrs (
    site_id                       text             NOT NULL,
    chf_instance                  text             NOT NULL,
    charging_id                   bigint           NOT NULL,
    record_sequence_number        integer,
    local_record_sequence_number  integer,
    partial_record                boolean          NOT NULL,
    ue_pseudonym                  text,
    gpsi_pseudonym                text,
    pei_pseudonym                 text,
    ue_ipv4_pseudonym             text,
    ue_ipv6_pseudonym             text,
    record_opening_time           timestamptz      NOT NULL,
    record_opening_time_text      text             NOT NULL,
    duration_seconds              integer,
    cause_for_record_closing      text,
    pdu_session_id                integer,
    snssai_sst                    integer,
    snssai_sd                     text,
    dnn                           text,
    rat_type                      text,
    plmn_id                       text,
    tac                           integer,
    nr_cell_id                    bigint,
    rating_group                  integer,
    container_number              integer          NOT NULL,
    local_sequence_number         integer,
    first_usage_at                timestamptz,
    last_usage_at                 timestamptz,
    container_time_seconds        integer,
    container_nr_cell_id          bigint,
    uplink_octets                 bigint,
    downlink_octets               bigint,
    event_date                    date             NOT NULL,
    source_path                   text             NOT NULL,
    record_location               text             NOT NULL,
    PRIMARY KEY (source_path, record_location, container_number)
);
CREATE INDEX IF NOT EXISTS chf_cdrs_partition ON raw.chf_cdrs (event_date, site_id);
CREATE INDEX IF NOT EXISTS chf_cdrs_charging_id ON raw.chf_cdrs (charging_id);
