-- 0005: rows copied from a legacy client's SQLite file remember where they came from, so
-- `python -m booking_bot.legacy import-sqlite` can be re-run without duplicating anything.
-- NULL for everything the bot creates itself; the partial unique indexes cost the bot nothing.
ALTER TABLE services ADD COLUMN legacy_id bigint;
ALTER TABLE bookings ADD COLUMN legacy_id bigint;
CREATE UNIQUE INDEX services_legacy_id ON services (legacy_id) WHERE legacy_id IS NOT NULL;
CREATE UNIQUE INDEX bookings_legacy_id ON bookings (legacy_id) WHERE legacy_id IS NOT NULL;

-- Users are keyed by their Telegram id already; this records which ones came from the legacy file.
CREATE TABLE legacy_users (
    telegram_id bigint PRIMARY KEY REFERENCES users (telegram_id) ON DELETE CASCADE
);

-- One row per import run that wrote something: the audit trail of the migration.
CREATE TABLE legacy_imports (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_sha256 text NOT NULL,
    bookings      integer NOT NULL,
    services      integer NOT NULL,
    users         integer NOT NULL,
    new_bookings  integer NOT NULL,
    new_services  integer NOT NULL,
    new_users     integer NOT NULL,
    placeholder_services integer NOT NULL DEFAULT 0,
    imported_at   timestamptz NOT NULL DEFAULT now()
);
