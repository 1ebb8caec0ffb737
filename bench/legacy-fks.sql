-- The foreign keys the legacy schema would have if it had any (bench/run.sh, method pipe_fk).
--
-- schema/legacy.sql declares none: the references below are the ones its comments and
-- docs/generator.md document ("-> table.id"). bench/run.sh adds them to the pipe_fk target
-- after the legacy DDL and reads this file (one statement per line, this exact shape) to copy
-- the tables parents first and to build the source-side views that leave out the rows an
-- FK-checked COPY would refuse (planted orphans and the rows under them). Not declared:
-- comments.commentable_id (polymorphic: no constraint can exist).
ALTER TABLE doctors ADD FOREIGN KEY (profile_id) REFERENCES profiles (id);
ALTER TABLE doctors ADD FOREIGN KEY (office_id) REFERENCES offices (id);
ALTER TABLE technicians ADD FOREIGN KEY (profile_id) REFERENCES profiles (id);
ALTER TABLE technicians ADD FOREIGN KEY (role_id) REFERENCES technician_roles (id);
ALTER TABLE patients ADD FOREIGN KEY (doctor_id) REFERENCES doctors (id);
ALTER TABLE patients ADD FOREIGN KEY (office_id) REFERENCES offices (id);
ALTER TABLE patients ADD FOREIGN KEY (profile_id) REFERENCES profiles (id);
ALTER TABLE orders ADD FOREIGN KEY (patient_id) REFERENCES patients (id);
ALTER TABLE orders ADD FOREIGN KEY (doctor_id) REFERENCES doctors (id);
ALTER TABLE orders ADD FOREIGN KEY (office_id) REFERENCES offices (id);
ALTER TABLE doctor_offices ADD FOREIGN KEY (doctor_id) REFERENCES doctors (id);
ALTER TABLE doctor_offices ADD FOREIGN KEY (office_id) REFERENCES offices (id);
ALTER TABLE products ADD FOREIGN KEY (category_id) REFERENCES categories (id);
ALTER TABLE jaws ADD FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE jaws ADD FOREIGN KEY (bracket_id) REFERENCES brackets (id);
ALTER TABLE projects ADD FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE projects ADD FOREIGN KEY (technician_id) REFERENCES technicians (id);
ALTER TABLE treatment_plans ADD FOREIGN KEY (project_id) REFERENCES projects (id);
ALTER TABLE treatment_plans ADD FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE treatment_plans ADD FOREIGN KEY (patient_id) REFERENCES patients (id);
ALTER TABLE treatment_plans ADD FOREIGN KEY (approved_by) REFERENCES doctors (id);
ALTER TABLE tasks ADD FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE tasks ADD FOREIGN KEY (technician_id) REFERENCES technicians (id);
ALTER TABLE cases ADD FOREIGN KEY (patient_id) REFERENCES patients (id);
ALTER TABLE cases ADD FOREIGN KEY (doctor_id) REFERENCES doctors (id);
ALTER TABLE case_states ADD FOREIGN KEY (case_id) REFERENCES cases (id);
ALTER TABLE case_states ADD FOREIGN KEY (changed_by) REFERENCES profiles (id);
ALTER TABLE case_messages ADD FOREIGN KEY (case_id) REFERENCES cases (id);
ALTER TABLE case_messages ADD FOREIGN KEY (sender_profile_id) REFERENCES profiles (id);
ALTER TABLE case_files ADD FOREIGN KEY (case_id) REFERENCES cases (id);
ALTER TABLE case_files ADD FOREIGN KEY (uploaded_by) REFERENCES profiles (id);
ALTER TABLE messages ADD FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE messages ADD FOREIGN KEY (sender_profile_id) REFERENCES profiles (id);
ALTER TABLE messages ADD FOREIGN KEY (recipient_profile_id) REFERENCES profiles (id);
ALTER TABLE message_attachments ADD FOREIGN KEY (message_id) REFERENCES messages (id);
ALTER TABLE communications ADD FOREIGN KEY (office_id) REFERENCES offices (id);
ALTER TABLE communications ADD FOREIGN KEY (doctor_id) REFERENCES doctors (id);
ALTER TABLE communications ADD FOREIGN KEY (author_profile_id) REFERENCES profiles (id);
ALTER TABLE order_files ADD FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE order_files ADD FOREIGN KEY (uploaded_by) REFERENCES profiles (id);
ALTER TABLE offers ADD FOREIGN KEY (product_id) REFERENCES products (id);
ALTER TABLE discounts ADD FOREIGN KEY (offer_id) REFERENCES offers (id);
ALTER TABLE discounts ADD FOREIGN KEY (doctor_id) REFERENCES doctors (id);
ALTER TABLE purchases ADD FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE purchases ADD FOREIGN KEY (doctor_id) REFERENCES doctors (id);
ALTER TABLE purchases ADD FOREIGN KEY (discount_id) REFERENCES discounts (id);
ALTER TABLE customer_feedback ADD FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE customer_feedback ADD FOREIGN KEY (doctor_id) REFERENCES doctors (id);
ALTER TABLE doctor_notes ADD FOREIGN KEY (doctor_id) REFERENCES doctors (id);
ALTER TABLE doctor_notes ADD FOREIGN KEY (author_profile_id) REFERENCES profiles (id);
ALTER TABLE comments ADD FOREIGN KEY (parent_id) REFERENCES comments (id);
ALTER TABLE comments ADD FOREIGN KEY (author_profile_id) REFERENCES profiles (id);
ALTER TABLE dispatch_state ADD FOREIGN KEY (last_message_id) REFERENCES messages (id);
