-- 0003: reminders, delivered at most once.
-- A worker claims due rows with UPDATE ... SET claimed_at = now() WHERE id IN (SELECT ...
-- FOR UPDATE SKIP LOCKED) RETURNING ...; only then sends. A claimed row is never claimed
-- again, so overlapping pods or a restart can lose a reminder (crash between claim and
-- send) but never send one twice.
CREATE TABLE reminders (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_id      bigint NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    offset_minutes  integer NOT NULL CHECK (offset_minutes > 0),
    due_at          timestamptz NOT NULL,
    claimed_at      timestamptz,
    claimed_by      text,
    sent_at         timestamptz,
    error           text,
    UNIQUE (booking_id, offset_minutes, due_at)
);
CREATE INDEX reminders_due ON reminders (due_at) WHERE claimed_at IS NULL;
