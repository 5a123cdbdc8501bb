DROP TABLE jobs;
DROP TABLE certificate_events;
DROP TABLE certificate_requests;
DROP TABLE certificates;
DROP TABLE course_bindings;
