-- 0002: the owner's schedule, settings and admins.

-- Working hours per ISO weekday (1 = Monday .. 7 = Sunday), local wall-clock times.
-- No row for a weekday = closed that day.
CREATE TABLE working_hours (
    weekday    smallint PRIMARY KEY CHECK (weekday BETWEEN 1 AND 7),
    opens_at   time NOT NULL,
    closes_at  time NOT NULL,
    CHECK (closes_at > opens_at)
);

-- Breaks inside working hours, per weekday (local times).
CREATE TABLE breaks (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    weekday    smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    starts_at  time NOT NULL,
    ends_at    time NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX breaks_weekday ON breaks (weekday);

-- Whole local dates the business is closed.
CREATE TABLE days_off (
    day        date PRIMARY KEY,
    reason     text NOT NULL DEFAULT ''
);

-- One row of owner-tunable settings.
CREATE TABLE settings (
    id                     boolean PRIMARY KEY DEFAULT true CHECK (id),
    slot_step_minutes      integer NOT NULL DEFAULT 30 CHECK (slot_step_minutes IN (15, 30, 45, 60, 90, 120)),
    min_notice_minutes     integer NOT NULL DEFAULT 120 CHECK (min_notice_minutes >= 0),
    cancel_cutoff_minutes  integer NOT NULL DEFAULT 180 CHECK (cancel_cutoff_minutes >= 0),
    horizon_days           integer NOT NULL DEFAULT 28 CHECK (horizon_days BETWEEN 1 AND 180),
    reminder_offsets_minutes integer[] NOT NULL DEFAULT '{1440,120}',
    updated_at             timestamptz NOT NULL DEFAULT now()
);
INSERT INTO settings (id) VALUES (true);

-- A plain default week so a fresh tenant can take bookings: Mon-Fri 10:00-19:00,
-- Sat 10:00-16:00, lunch 13:00-14:00 on weekdays. The owner changes it in the bot.
INSERT INTO working_hours (weekday, opens_at, closes_at) VALUES
    (1, '10:00', '19:00'), (2, '10:00', '19:00'), (3, '10:00', '19:00'),
    (4, '10:00', '19:00'), (5, '10:00', '19:00'), (6, '10:00', '16:00');
INSERT INTO breaks (weekday, starts_at, ends_at) VALUES
    (1, '13:00', '14:00'), (2, '13:00', '14:00'), (3, '13:00', '14:00'),
    (4, '13:00', '14:00'), (5, '13:00', '14:00');

-- Admins added in the bot (the owner and ADMIN_TELEGRAM_IDS from the environment are
-- admins too, without a row here).
CREATE TABLE admins (
    telegram_id bigint PRIMARY KEY,
    added_by    bigint,
    added_at    timestamptz NOT NULL DEFAULT now()
);
