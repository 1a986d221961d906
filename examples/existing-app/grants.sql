-- notifier's role beside the application, run as the database's owner after views.sql.
-- The role itself is created by whoever holds the password (not in a file):
--   CREATE ROLE notifier_worker LOGIN PASSWORD '...';
-- It may read the views and nothing else of the application's; it owns schema notifier, where
-- `notifier migrate --own-tables-only` creates the worker's own tables (and Alembic's version
-- table). It gets no privilege on schema app: the views read it with their owner's rights.

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO notifier_worker', current_database());
END $$;
GRANT USAGE ON SCHEMA notifier_host TO notifier_worker;
GRANT SELECT ON ALL TABLES IN SCHEMA notifier_host TO notifier_worker;
GRANT EXECUTE ON FUNCTION notifier_host.wall_time(text) TO notifier_worker;
CREATE SCHEMA notifier AUTHORIZATION notifier_worker;
