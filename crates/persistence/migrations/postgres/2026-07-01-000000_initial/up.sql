-- The first schema: course bindings, certificates (identity and lifecycle, plus the frozen
-- request sent to POK in a 1:1 table), their history, and the job queue.
-- Timestamps are UTC in TIMESTAMP (without time zone) columns; UUIDs are text. Key columns use
-- the "C" collation so that ordering is byte order, as on SQLite and MySQL (utf8mb4_bin).

CREATE TABLE course_bindings (
    course_key       VARCHAR(255) COLLATE "C" NOT NULL PRIMARY KEY,
    template_id      VARCHAR(128) NOT NULL,
    emission_type    VARCHAR(16) NOT NULL,
    page_id          VARCHAR(128),
    enabled          BOOLEAN NOT NULL,
    allowed_modes    TEXT NOT NULL,          -- JSON array of modes
    params           TEXT NOT NULL,          -- JSON array of {name, source}
    title_override   TEXT,
    emitter_override TEXT,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);

CREATE TABLE certificates (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- insertion order
    id                VARCHAR(36) NOT NULL UNIQUE,                      -- public UUID
    user_id           BIGINT NOT NULL,
    username          TEXT NOT NULL,
    course_key        VARCHAR(255) COLLATE "C" NOT NULL,
    mode              VARCHAR(100) NOT NULL,
    grade             DOUBLE PRECISION,
    state             VARCHAR(32) NOT NULL,
    live              BOOLEAN CHECK (live),                             -- TRUE while live, NULL once superseded
    attempts          INTEGER NOT NULL,
    next_attempt_at   TIMESTAMP,
    last_error        TEXT,
    credential_id     VARCHAR(128),
    pok_state         TEXT,
    view_url          TEXT,
    emitted_at        TIMESTAMP,
    revocation_reason TEXT,
    revoked_at        TIMESTAMP,
    superseded_by     VARCHAR(36),
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    version           BIGINT NOT NULL
);
-- At most one live certificate per (user, course): NULLs are distinct, so superseded rows do not count.
CREATE UNIQUE INDEX certificates_one_live ON certificates (user_id, course_key, live);
CREATE INDEX certificates_by_course ON certificates (course_key, created_at);
CREATE INDEX certificates_by_state ON certificates (state, created_at);
CREATE INDEX certificates_by_created ON certificates (created_at);

CREATE TABLE certificate_requests (
    certificate_id          VARCHAR(36) NOT NULL PRIMARY KEY REFERENCES certificates (id) ON DELETE CASCADE,
    template_id             VARCHAR(128) NOT NULL,
    page_id                 VARCHAR(128),
    emission_type           VARCHAR(16) NOT NULL,
    date_format             VARCHAR(16) NOT NULL,
    emission_date           TIMESTAMP NOT NULL,
    title                   TEXT NOT NULL,
    emitter                 TEXT NOT NULL,
    tags                    TEXT NOT NULL,   -- JSON array of strings
    custom_parameters       TEXT NOT NULL,   -- JSON object of strings
    receiver_email          VARCHAR(254) NOT NULL,
    receiver_first_name     TEXT NOT NULL,
    receiver_last_name      TEXT NOT NULL,
    receiver_language       TEXT NOT NULL,
    receiver_identification TEXT NOT NULL
);

CREATE TABLE certificate_events (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    certificate_id VARCHAR(36) NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
    occurred_at    TIMESTAMP NOT NULL,
    from_state     VARCHAR(32),
    to_state       VARCHAR(32) NOT NULL,
    actor          TEXT NOT NULL,
    reason         TEXT NOT NULL
);
CREATE INDEX certificate_events_by_certificate ON certificate_events (certificate_id, occurred_at);

CREATE TABLE jobs (
    id               VARCHAR(36) NOT NULL PRIMARY KEY,
    kind             VARCHAR(16) NOT NULL,
    certificate_id   VARCHAR(36) NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
    run_at           TIMESTAMP NOT NULL,
    attempts         INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at TIMESTAMP,
    last_error       TEXT
);
CREATE INDEX jobs_by_run_at ON jobs (run_at);
CREATE INDEX jobs_by_certificate ON jobs (certificate_id);
