ALTER TABLE offices DROP COLUMN phone;
ALTER TABLE categories ADD COLUMN slug text NOT NULL;
