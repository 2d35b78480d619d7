-- 0004: customers may share their phone number after their first booking, so the business
-- can reach them. Asked once; `phone_asked_at` remembers that we asked (shared or skipped).
ALTER TABLE users ADD COLUMN phone text CHECK (length(phone) <= 32);
ALTER TABLE users ADD COLUMN phone_asked_at timestamptz;
