ALTER TABLE offices DROP COLUMN city;
DROP TABLE doctor_offices;
