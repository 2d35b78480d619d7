-- 0006: the owner's notice of a customer's first booking waits for the phone question's
-- answer, so that it carries the number. `notice_held_at` is set while it waits; the answer
-- (or the worker, after a timeout) claims it by clearing it in one UPDATE ... RETURNING.
ALTER TABLE bookings ADD COLUMN IF NOT EXISTS notice_held_at timestamptz;
CREATE INDEX IF NOT EXISTS bookings_notice_held ON bookings (notice_held_at) WHERE notice_held_at IS NOT NULL;
