INSERT INTO public.offices (id, legacy_id, name) VALUES ('00000000-0000-0000-0000-000000000007', 990001, 'Their office');
INSERT INTO public.categories (id, legacy_id, name) VALUES ('00000000-0000-0000-0000-000000000008', 990001, 'Their category');
