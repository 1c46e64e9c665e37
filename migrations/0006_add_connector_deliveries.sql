CREATE TABLE `connector_deliveries` (
	`platform` text PRIMARY KEY NOT NULL,
	`delivery_id` text,
	`topic` text,
	`result` text NOT NULL,
	`detail` text,
	`received_at` integer NOT NULL
);
