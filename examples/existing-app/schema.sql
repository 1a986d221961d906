-- A practice-management application's own tables, written the way such applications are, not
-- the way notifier's contract (section 1) would have them. Nothing here knows notifier exists.
--
-- What differs from the contract, on purpose:
--   * the time zone lives on the practice only; accounts have none;
--   * accounts have roles: only practitioners are notified;
--   * one appointment reminder offset, as an int; times as 'HH:MM' strings; agenda weekdays as a
--     JSON list of names;
--   * visits have capitalised states and soft deletes, and no practitioner column: a visit is
--     on a calendar, and a calendar is owned by an account;
--   * patients' names are encrypted by the application (AES-256-GCM, see decoder.py), so no SQL
--     can read them;
--   * session notes are "clinical notes" with a status.
-- The application has no tasks.

CREATE SCHEMA app;

CREATE TABLE app.practices (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    tz          text NOT NULL DEFAULT 'Europe/London',  -- IANA name; the only zone there is
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE app.accounts (
    id            uuid PRIMARY KEY,
    practice_id   uuid NOT NULL REFERENCES app.practices,
    email         text NOT NULL UNIQUE,
    display_name  text NOT NULL,
    role          text NOT NULL CHECK (role IN ('OWNER', 'PRACTITIONER', 'RECEPTION')),
    disabled_at   timestamptz,  -- locked out by an owner
    deleted_at    timestamptz   -- soft delete
);

CREATE TABLE app.account_preferences (
    account_id               uuid PRIMARY KEY REFERENCES app.accounts,
    emails_on                boolean NOT NULL DEFAULT true,
    remind_minutes_before    int NOT NULL DEFAULT 60,  -- 0: no reminders
    agenda_email             boolean NOT NULL DEFAULT false,
    agenda_at                varchar(5) NOT NULL DEFAULT '07:00',  -- 'HH:MM', local
    agenda_days              jsonb NOT NULL DEFAULT '["mon", "tue", "wed", "thu", "fri"]',
    notes_nudge              boolean NOT NULL DEFAULT false,
    notes_nudge_at           varchar(5) NOT NULL DEFAULT '18:00',
    do_not_disturb_from      varchar(5),  -- 'HH:MM' or null
    do_not_disturb_until     varchar(5),
    updated_at               timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE app.patients (
    id           uuid PRIMARY KEY,
    practice_id  uuid NOT NULL REFERENCES app.practices,
    -- AES-256-GCM by the application: base64(nonce (12 bytes) || ciphertext || tag)
    name_sealed  text NOT NULL,
    phone        text,
    deleted_at   timestamptz
);

CREATE TABLE app.calendars (
    id                uuid PRIMARY KEY,
    practice_id       uuid NOT NULL REFERENCES app.practices,
    owner_account_id  uuid NOT NULL REFERENCES app.accounts,
    label             text NOT NULL
);

CREATE TABLE app.visit_types (
    id           uuid PRIMARY KEY,
    practice_id  uuid NOT NULL REFERENCES app.practices,
    label        text NOT NULL
);

CREATE TABLE app.visits (
    id                uuid PRIMARY KEY,
    calendar_id       uuid NOT NULL REFERENCES app.calendars,
    patient_id        uuid REFERENCES app.patients,
    visit_type_id     uuid REFERENCES app.visit_types,
    room              text,
    starts_at         timestamptz NOT NULL,
    duration_minutes  int NOT NULL DEFAULT 50,
    state             text NOT NULL DEFAULT 'SCHEDULED'
                      CHECK (state IN ('SCHEDULED', 'CHECKED_IN', 'DONE', 'CANCELLED', 'NO_SHOW')),
    deleted_at        timestamptz
);
-- The worker asks "scheduled visits starting in these ranges" every minute.
CREATE INDEX visits_upcoming ON app.visits (starts_at) WHERE deleted_at IS NULL;
CREATE INDEX visits_calendar ON app.visits (calendar_id, starts_at);

CREATE TABLE app.clinical_notes (
    id                 uuid PRIMARY KEY,
    visit_id           uuid REFERENCES app.visits,
    author_account_id  uuid NOT NULL REFERENCES app.accounts,
    status             text NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT', 'SIGNED')),
    body_sealed        text,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    deleted_at         timestamptz
);
CREATE INDEX clinical_notes_drafts ON app.clinical_notes (author_account_id)
    WHERE status = 'DRAFT' AND deleted_at IS NULL;
