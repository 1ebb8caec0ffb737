ALTER TABLE offices DROP CONSTRAINT offices_pkey;
ALTER TABLE offices ALTER COLUMN id DROP NOT NULL;
INSERT INTO offices (id, name) VALUES (1, 'Main St'), (NULL, 'No key'), (NULL, 'No key either');
ALTER TABLE categories DROP CONSTRAINT categories_pkey;
INSERT INTO categories (id, name) VALUES (1, 'Aligners'), (2, 'Wires'), (2, 'Wires again'), (2, 'Wires, third');
