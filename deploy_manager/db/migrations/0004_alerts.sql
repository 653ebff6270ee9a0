-- Alerts raised by the alert sensor: failed asset checks, late sites and KPI thresholds.
-- Every statement is IF NOT EXISTS so the file is safe to apply twice.

CREATE SCHEMA IF NOT EXISTS ops;

-- One row per occurrence of a condition: raised when it starts, cleared_at set when it ends.
-- alert_key names the condition (kind, asset, check or metric, partition or site), so a
-- condition that returns after clearing gets a new row.
CREATE TABLE IF NOT EXISTS ops.alerts (
    id                  bigserial   PRIMARY KEY,
    alert_key           text        NOT NULL,
    kind                text        NOT NULL CHECK (kind IN ('check', 'freshness', 'threshold')),
    severity            text        NOT NULL CHECK (severity IN ('error', 'warning')),
    asset_key           text        NOT NULL,
    name                text        NOT NULL,
    site_id             text,
    partition_date      date,
    message             text        NOT NULL,
    details             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    raised_at           timestamptz NOT NULL DEFAULT now(),
    cleared_at          timestamptz,
    -- When the webhook accepted the raise and the clear notifications (NULL: not yet sent).
    raise_notified_at   timestamptz,
    clear_notified_at   timestamptz,
    delivery_attempts   integer     NOT NULL DEFAULT 0,
    last_delivery_error text
);

-- At most one open alert per condition: this is what deduplicates the sensor's ticks.
CREATE UNIQUE INDEX IF NOT EXISTS alerts_open_key ON ops.alerts (alert_key)
    WHERE cleared_at IS NULL;
CREATE INDEX IF NOT EXISTS alerts_raised_at ON ops.alerts (raised_at DESC);
CREATE INDEX IF NOT EXISTS alerts_site ON ops.alerts (site_id, raised_at DESC);
