//! The tables, as Diesel sees them. One description for all three backends: only SQL types
//! that every backend (and Diesel's `MultiConnection`) supports — text for UUIDs and JSON,
//! `Timestamp` holding UTC. The migrations in `migrations/{sqlite,postgres,mysql}` create them.

diesel::table! {
    /// A course's link to a POK template (`CourseBinding`).
    course_bindings (course_key) {
        course_key -> Text,
        template_id -> Text,
        emission_type -> Text,
        page_id -> Nullable<Text>,
        enabled -> Bool,
        allowed_modes -> Text,
        params -> Text,
        title_override -> Nullable<Text>,
        emitter_override -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// One learner's certificate for one course: identity and lifecycle. `seq` (the real
    /// primary key) orders rows by insertion; `id` is the public UUID. `live` is TRUE while the
    /// certificate counts as the learner's one certificate for the course and NULL afterwards,
    /// so that the unique index on (user_id, course_key, live) allows one live row only.
    certificates (id) {
        seq -> BigInt,
        id -> Text,
        user_id -> BigInt,
        username -> Text,
        course_key -> Text,
        mode -> Text,
        grade -> Nullable<Double>,
        state -> Text,
        live -> Nullable<Bool>,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        credential_id -> Nullable<Text>,
        pok_state -> Nullable<Text>,
        view_url -> Nullable<Text>,
        emitted_at -> Nullable<Timestamp>,
        revocation_reason -> Nullable<Text>,
        revoked_at -> Nullable<Timestamp>,
        superseded_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    /// The request sent to POK, frozen when the certificate was recorded (1:1 with
    /// `certificates`; a table of its own because Diesel's default build handles at most 32
    /// columns per table).
    certificate_requests (certificate_id) {
        certificate_id -> Text,
        template_id -> Text,
        page_id -> Nullable<Text>,
        emission_type -> Text,
        date_format -> Text,
        emission_date -> Timestamp,
        title -> Text,
        emitter -> Text,
        tags -> Text,
        custom_parameters -> Text,
        receiver_email -> Text,
        receiver_first_name -> Text,
        receiver_last_name -> Text,
        receiver_language -> Text,
        receiver_identification -> Text,
    }
}

diesel::table! {
    /// The history of every transition.
    certificate_events (id) {
        id -> BigInt,
        certificate_id -> Text,
        occurred_at -> Timestamp,
        from_state -> Nullable<Text>,
        to_state -> Text,
        actor -> Text,
        reason -> Text,
    }
}

diesel::table! {
    /// The work queue; a claimed job carries a lease (owner and expiry).
    jobs (id) {
        id -> Text,
        kind -> Text,
        certificate_id -> Text,
        run_at -> Timestamp,
        attempts -> Integer,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::joinable!(certificate_requests -> certificates (certificate_id));
diesel::joinable!(certificate_events -> certificates (certificate_id));
diesel::joinable!(jobs -> certificates (certificate_id));

diesel::allow_tables_to_appear_in_same_query!(
    course_bindings,
    certificates,
    certificate_requests,
    certificate_events,
    jobs,
);
