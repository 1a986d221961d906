-- The contract's section 1 tables as views over the application's own (schema.sql), in a schema
-- of their own that notifier reads with HOST_SCHEMA=notifier_host. Run as the application's
-- owner: the views read app.* with their owner's rights, so notifier's role needs SELECT on
-- these views and nothing in schema app (grants.sql).
--
-- Each view gives every column of section 1 (and of sections 9 and 10) with the contract's
-- type; a setting the application does not have is a constant (section 12 allows it).
-- `notifier check` names a missing or mistyped column.
--
-- The traps, each handled where it occurs below:
--   * zones: the practice's zone is the only one; users.timezone is NULL, so every account
--     follows its practice's zone, and a practice that moves takes its accounts along;
--   * statuses: the worker knows 'scheduled', 'cancelled' and 'completed', in lower case;
--     it sends only for 'scheduled', so a state mapped wrongly is silence, not a wrong email;
--   * soft deletes: a deleted visit is 'cancelled' (never 'scheduled'), a deleted account is
--     inactive, deleted notes are not drafts;
--   * 'HH:MM' strings: cast only what matches the pattern. One unguarded cast of a bad string
--     fails the worker's whole query, for every user, every tick; guarded, that account gets
--     the contract's default time instead;
--   * weekdays: names become ISO numbers (1 = Monday); an unknown name becomes a null in the
--     list, which the worker refuses for that account alone (its digest recorded failed);
--   * the one reminder offset: a list of one; 0 turns reminders off. An offset outside the
--     contract's 15, 30, 60, 120, 1440 fails that account's reminders with the reason.

CREATE SCHEMA notifier_host;

-- 'HH:MM' to time, or NULL for anything else (the worker then uses the contract's default).
CREATE FUNCTION notifier_host.wall_time(value text) RETURNS time
    LANGUAGE sql IMMUTABLE STRICT
    RETURN CASE WHEN value ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' THEN value::time END;

CREATE VIEW notifier_host.workspaces AS
SELECT p.id, p.name, p.tz AS timezone
FROM app.practices AS p;

-- Only practitioners are notified; owners and reception never appear.
CREATE VIEW notifier_host.users AS
SELECT a.id,
       a.practice_id AS workspace_id,
       a.email,
       a.display_name AS full_name,
       NULL::text AS timezone,
       (a.disabled_at IS NULL AND a.deleted_at IS NULL) AS is_active
FROM app.accounts AS a
WHERE a.role = 'PRACTITIONER';

CREATE VIEW notifier_host.notification_settings AS
SELECT p.account_id AS user_id,
       p.emails_on AS email_enabled,
       p.agenda_email AS digest_enabled,
       notifier_host.wall_time(p.agenda_at) AS digest_time,
       false AS digest_skip_weekends,
       p.notes_nudge AS notes_reminder_enabled,
       notifier_host.wall_time(p.notes_nudge_at) AS notes_reminder_time,
       (p.remind_minutes_before > 0) AS appointment_reminders_enabled,
       CASE WHEN p.remind_minutes_before > 0
            THEN jsonb_build_array(p.remind_minutes_before) ELSE '[]'::jsonb
       END AS appointment_reminder_minutes,
       false AS task_reminders_enabled,
       NULL::text AS webhook_url,
       notifier_host.wall_time(p.do_not_disturb_from) AS quiet_hours_start,
       notifier_host.wall_time(p.do_not_disturb_until) AS quiet_hours_end,
       (SELECT jsonb_agg(
                   CASE day WHEN 'mon' THEN 1 WHEN 'tue' THEN 2 WHEN 'wed' THEN 3
                            WHEN 'thu' THEN 4 WHEN 'fri' THEN 5 WHEN 'sat' THEN 6
                            WHEN 'sun' THEN 7 END)
        FROM jsonb_array_elements_text(p.agenda_days) AS d(day)) AS digest_days,
       false AS weekly_report_enabled,
       1 AS weekly_report_day,
       time '08:00' AS weekly_report_time
FROM app.account_preferences AS p;

-- name_sealed is ciphertext: CONTENT_DECODER (decoder.py) opens it when content is built.
CREATE VIEW notifier_host.clients AS
SELECT pt.id, pt.practice_id AS workspace_id, pt.name_sealed AS full_name
FROM app.patients AS pt;

-- No practitioner column: the practitioner is the owner of the visit's calendar.
CREATE VIEW notifier_host.appointments AS
SELECT v.id,
       c.practice_id AS workspace_id,
       c.owner_account_id AS user_id,
       v.patient_id AS client_id,
       v.starts_at,
       v.starts_at + make_interval(mins => v.duration_minutes) AS ends_at,
       v.room AS location,
       t.label AS service_name,
       CASE
           WHEN v.deleted_at IS NOT NULL THEN 'cancelled'
           WHEN v.state IN ('SCHEDULED', 'CHECKED_IN') THEN 'scheduled'
           WHEN v.state IN ('CANCELLED', 'NO_SHOW') THEN 'cancelled'
           WHEN v.state = 'DONE' THEN 'completed'
           ELSE lower(v.state)
       END AS status
FROM app.visits AS v
JOIN app.calendars AS c ON c.id = v.calendar_id
LEFT JOIN app.visit_types AS t ON t.id = v.visit_type_id;

CREATE VIEW notifier_host.sessions AS
SELECT n.id,
       a.practice_id AS workspace_id,
       n.author_account_id AS user_id,
       n.visit_id AS appointment_id,
       (n.status = 'DRAFT' AND n.deleted_at IS NULL) AS is_draft,
       n.updated_at
FROM app.clinical_notes AS n
JOIN app.accounts AS a ON a.id = n.author_account_id;

-- The application has no tasks: empty views with the contract's columns, and the task jobs
-- disabled (JOB_TASK_DUE_REMINDERS_ENABLED, JOB_TASK_REMINDERS_ENABLED,
-- JOB_OVERDUE_SCANNER_ENABLED, JOB_RECURRING_TASKS_ENABLED = false), since those jobs write
-- to tasks and task_reminders. The digest's task lines are then always empty.
CREATE VIEW notifier_host.tasks AS
SELECT NULL::uuid AS id, NULL::uuid AS workspace_id, NULL::uuid AS user_id,
       NULL::text AS title, NULL::text AS description, NULL::text AS priority,
       '[]'::jsonb AS tags, NULL::timestamptz AS due_date, false AS completed,
       NULL::timestamptz AS completed_at, 'open'::text AS status, false AS is_recurring,
       NULL::text AS recurrence_type, 1 AS recurrence_interval, NULL::text AS recurrence_rule,
       NULL::timestamptz AS recurrence_end, NULL::uuid AS parent_task_id,
       NULL::timestamptz AS last_processed_at, NULL::timestamptz AS deleted_at
WHERE false;

CREATE VIEW notifier_host.task_reminders AS
SELECT NULL::uuid AS id, NULL::uuid AS task_id, NULL::uuid AS user_id,
       NULL::timestamptz AS remind_at, 'email'::text AS channel, false AS sent,
       NULL::timestamptz AS sent_at
WHERE false;
