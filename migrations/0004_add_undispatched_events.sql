CREATE TABLE `undispatched_events` (
	`event_id` text PRIMARY KEY NOT NULL,
	`contact_id` text NOT NULL,
	`attempts` integer DEFAULT 1 NOT NULL,
	`next_at` integer NOT NULL,
	`last_error` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `undispatched_events_next_idx` ON `undispatched_events` (`next_at`);