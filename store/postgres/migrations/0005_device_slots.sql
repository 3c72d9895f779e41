-- 5: each device's cohort slot (relay.Device.Slot, a uint64 stored as its
-- bits); 0 for devices registered before, whose slot is their noise key's
-- hash (manifest.KeySlot).
ALTER TABLE devices ADD COLUMN slot bigint NOT NULL DEFAULT 0;
