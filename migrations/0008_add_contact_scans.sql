CREATE TABLE `contact_scans` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`flow_id` text NOT NULL,
	`cursor` text DEFAULT '' NOT NULL,
	`started_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
