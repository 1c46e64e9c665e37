CREATE TABLE `broadcasts` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`definition` text NOT NULL,
	`status` text DEFAULT 'draft' NOT NULL,
	`send_at` integer,
	`cursor` text,
	`fixed` integer DEFAULT 0 NOT NULL,
	`fanned_out_at` integer,
	`winner` text,
	`started_at` integer,
	`finished_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `broadcasts_status_send_idx` ON `broadcasts` (`status`,`send_at`);--> statement-breakpoint
ALTER TABLE `messages` ADD `broadcast_id` text;--> statement-breakpoint
CREATE INDEX `messages_broadcast_idx` ON `messages` (`broadcast_id`,`status`);