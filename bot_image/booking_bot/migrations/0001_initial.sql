-- 0001: the core of the booking model. Runs with search_path = the tenant schema.
-- Every timestamp is timestamptz (stored UTC); the tenant's zone only matters for display
-- and for turning working hours (local wall-clock times) into instants.

CREATE TABLE services (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description      text NOT NULL DEFAULT '',
    duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 720),
    price            numeric(12, 2) NOT NULL DEFAULT 0 CHECK (price >= 0),
    is_active        boolean NOT NULL DEFAULT true,
    sort_order       integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    telegram_id   bigint PRIMARY KEY,
    first_name    text NOT NULL DEFAULT '',
    last_name     text NOT NULL DEFAULT '',
    username      text,
    language_code text,
    blocked_at    timestamptz,          -- set when Telegram says the user blocked the bot
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);

-- kind 'customer': a customer's appointment; kind 'block': a slot the owner closed.
CREATE TABLE bookings (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL DEFAULT 'customer' CHECK (kind IN ('customer', 'block')),
    service_id    bigint REFERENCES services (id),
    user_id       bigint REFERENCES users (telegram_id),
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    status        text NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'cancelled')),
    note          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    cancelled_at  timestamptz,
    cancelled_by  text CHECK (cancelled_by IN ('customer', 'admin')),
    reschedule_count integer NOT NULL DEFAULT 0,
    CHECK (ends_at > starts_at),
    CHECK (kind = 'block' OR (service_id IS NOT NULL AND user_id IS NOT NULL))
);
CREATE INDEX bookings_starts_at_active ON bookings (starts_at) WHERE status = 'confirmed';
CREATE INDEX bookings_user_active ON bookings (user_id, starts_at) WHERE status = 'confirmed';

-- Double booking is impossible here, not in application code: every confirmed booking (or
-- owner block) owns one row per 15-minute cell of the UTC grid it covers, and a cell has a
-- primary key. Two transactions claiming an overlapping cell: the second one fails with
-- unique_violation and rolls back as a whole. (An exclusion constraint over tstzrange would
-- need btree_gist, which a tenant role may not create.) Cancelling deletes the cells.
CREATE TABLE booked_slots (
    slot_start timestamptz PRIMARY KEY
        CHECK (extract(epoch FROM slot_start)::bigint % 900 = 0),
    booking_id bigint NOT NULL REFERENCES bookings (id) ON DELETE CASCADE
);
CREATE INDEX booked_slots_booking ON booked_slots (booking_id);
