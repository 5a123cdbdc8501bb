-- The first schema: course bindings, certificates (identity and lifecycle, plus the frozen
-- request sent to POK in a 1:1 table), their history, and the job queue.
-- Timestamps are UTC in DATETIME(6) columns; UUIDs are text. Tables are utf8mb4 with a binary
-- collation, so that keys compare and sort by bytes as on SQLite and PostgreSQL. Indexed text
-- columns are VARCHARs short enough for InnoDB's 3072-byte key limit.
-- MySQL/MariaDB cannot roll back DDL: a migration that fails half-way must be repaired by hand,
-- so each one stays small.

CREATE TABLE course_bindings (
    course_key       VARCHAR(255) NOT NULL PRIMARY KEY,
    template_id      VARCHAR(128) NOT NULL,
    emission_type    VARCHAR(16) NOT NULL,
    page_id          VARCHAR(128),
    enabled          BOOLEAN NOT NULL,
    allowed_modes    TEXT NOT NULL,
    params           TEXT NOT NULL,
    title_override   TEXT,
    emitter_override TEXT,
    created_at       DATETIME(6) NOT NULL,
    updated_at       DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE certificates (
    seq               BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    id                VARCHAR(36) NOT NULL,
    user_id           BIGINT NOT NULL,
    username          TEXT NOT NULL,
    course_key        VARCHAR(255) NOT NULL,
    mode              VARCHAR(100) NOT NULL,
    grade             DOUBLE,
    state             VARCHAR(32) NOT NULL,
    live              BOOLEAN CHECK (live = 1),
    attempts          INTEGER NOT NULL,
    next_attempt_at   DATETIME(6),
    last_error        TEXT,
    credential_id     VARCHAR(128),
    pok_state         TEXT,
    view_url          TEXT,
    emitted_at        DATETIME(6),
    revocation_reason TEXT,
    revoked_at        DATETIME(6),
    superseded_by     VARCHAR(36),
    created_at        DATETIME(6) NOT NULL,
    updated_at        DATETIME(6) NOT NULL,
    version           BIGINT NOT NULL,
    UNIQUE KEY certificates_id (id),
    UNIQUE KEY certificates_one_live (user_id, course_key, live),
    KEY certificates_by_course (course_key, created_at),
    KEY certificates_by_state (state, created_at),
    KEY certificates_by_created (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE certificate_requests (
    certificate_id          VARCHAR(36) NOT NULL PRIMARY KEY,
    template_id             VARCHAR(128) NOT NULL,
    page_id                 VARCHAR(128),
    emission_type           VARCHAR(16) NOT NULL,
    date_format             VARCHAR(16) NOT NULL,
    emission_date           DATETIME(6) NOT NULL,
    title                   TEXT NOT NULL,
    emitter                 TEXT NOT NULL,
    tags                    TEXT NOT NULL,
    custom_parameters       TEXT NOT NULL,
    receiver_email          VARCHAR(254) NOT NULL,
    receiver_first_name     TEXT NOT NULL,
    receiver_last_name      TEXT NOT NULL,
    receiver_language       TEXT NOT NULL,
    receiver_identification TEXT NOT NULL,
    CONSTRAINT certificate_requests_certificate FOREIGN KEY (certificate_id)
        REFERENCES certificates (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE certificate_events (
    id             BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    certificate_id VARCHAR(36) NOT NULL,
    occurred_at    DATETIME(6) NOT NULL,
    from_state     VARCHAR(32),
    to_state       VARCHAR(32) NOT NULL,
    actor          TEXT NOT NULL,
    reason         TEXT NOT NULL,
    KEY certificate_events_by_certificate (certificate_id, occurred_at),
    CONSTRAINT certificate_events_certificate FOREIGN KEY (certificate_id)
        REFERENCES certificates (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE jobs (
    id               VARCHAR(36) NOT NULL PRIMARY KEY,
    kind             VARCHAR(16) NOT NULL,
    certificate_id   VARCHAR(36) NOT NULL,
    run_at           DATETIME(6) NOT NULL,
    attempts         INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at DATETIME(6),
    last_error       TEXT,
    KEY jobs_by_run_at (run_at),
    KEY jobs_by_certificate (certificate_id),
    CONSTRAINT jobs_certificate FOREIGN KEY (certificate_id)
        REFERENCES certificates (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
