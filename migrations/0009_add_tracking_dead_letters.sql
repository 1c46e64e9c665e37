CREATE TABLE `tracking_dead_letters` (
	`id` text PRIMARY KEY NOT NULL,
	`body` text NOT NULL,
	`reason` text NOT NULL,
	`queued_at` integer NOT NULL,
	`dead_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `tracking_dead_letters_dead_idx` ON `tracking_dead_letters` (`dead_at`);