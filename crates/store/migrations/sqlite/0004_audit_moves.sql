-- A move is in the log of the org it left as well as the one it entered.
ALTER TABLE audit ADD COLUMN other_org_id TEXT;
