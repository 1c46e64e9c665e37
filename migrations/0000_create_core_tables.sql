CREATE TABLE `contacts` (
	`id` text PRIMARY KEY NOT NULL,
	`email` text NOT NULL,
	`first_name` text,
	`last_name` text,
	`timezone` text,
	`consent` text DEFAULT 'subscribed' NOT NULL,
	`consent_changed_at` integer,
	`lifecycle_stage` text,
	`attributes` text DEFAULT '{}' NOT NULL,
	`tags` text DEFAULT '[]' NOT NULL,
	`last_opened_at` integer,
	`last_clicked_at` integer,
	`last_order_at` integer,
	`orders_count` integer DEFAULT 0 NOT NULL,
	`total_spent` real DEFAULT 0 NOT NULL,
	`unopened_streak` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `contacts_email_unique` ON `contacts` (`email`);--> statement-breakpoint
CREATE INDEX `contacts_lifecycle_idx` ON `contacts` (`lifecycle_stage`);--> statement-breakpoint
CREATE INDEX `contacts_last_engaged_idx` ON `contacts` (`last_opened_at`,`last_clicked_at`);--> statement-breakpoint
CREATE TABLE `enrollments` (
	`id` text PRIMARY KEY NOT NULL,
	`contact_id` text NOT NULL,
	`flow_id` text NOT NULL,
	`flow_version` integer NOT NULL,
	`status` text NOT NULL,
	`current_step` text,
	`exit_reason` text,
	`entered_at` integer NOT NULL,
	`exited_at` integer,
	`converted_at` integer
);
--> statement-breakpoint
CREATE INDEX `enrollments_contact_idx` ON `enrollments` (`contact_id`);--> statement-breakpoint
CREATE INDEX `enrollments_flow_status_idx` ON `enrollments` (`flow_id`,`status`);--> statement-breakpoint
CREATE TABLE `events` (
	`id` text PRIMARY KEY NOT NULL,
	`contact_id` text,
	`anonymous_id` text,
	`name` text NOT NULL,
	`properties` text DEFAULT '{}' NOT NULL,
	`value` real,
	`source` text NOT NULL,
	`machine` integer DEFAULT false NOT NULL,
	`message_id` text,
	`ts` integer NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_contact_name_ts_idx` ON `events` (`contact_id`,`name`,`ts`);--> statement-breakpoint
CREATE INDEX `events_anonymous_idx` ON `events` (`anonymous_id`);--> statement-breakpoint
CREATE INDEX `events_message_idx` ON `events` (`message_id`);--> statement-breakpoint
CREATE INDEX `events_ts_idx` ON `events` (`ts`);--> statement-breakpoint
CREATE TABLE `flow_versions` (
	`flow_id` text NOT NULL,
	`version` integer NOT NULL,
	`definition` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`flow_id`, `version`)
);
--> statement-breakpoint
CREATE TABLE `flows` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`status` text DEFAULT 'draft' NOT NULL,
	`version` integer NOT NULL,
	`definition` text NOT NULL,
	`trigger_key` text NOT NULL,
	`transactional` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `flows_status_trigger_idx` ON `flows` (`status`,`trigger_key`);--> statement-breakpoint
CREATE TABLE `identities` (
	`anonymous_id` text PRIMARY KEY NOT NULL,
	`contact_id` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `identities_contact_idx` ON `identities` (`contact_id`);--> statement-breakpoint
CREATE TABLE `links` (
	`message_id` text NOT NULL,
	`idx` integer NOT NULL,
	`url` text NOT NULL,
	PRIMARY KEY(`message_id`, `idx`)
);
--> statement-breakpoint
CREATE TABLE `messages` (
	`id` text PRIMARY KEY NOT NULL,
	`contact_id` text,
	`to_email` text NOT NULL,
	`kind` text NOT NULL,
	`flow_id` text,
	`flow_version` integer,
	`enrollment_id` text,
	`step_id` text,
	`variant` text,
	`template_id` text,
	`context` text DEFAULT '{}' NOT NULL,
	`status` text NOT NULL,
	`due_at` integer NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`lease_until` integer,
	`batch_id` text,
	`provider_id` text,
	`reason` text,
	`subject` text,
	`from_email` text,
	`html` text,
	`text` text,
	`headers` text,
	`created_at` integer NOT NULL,
	`sent_at` integer,
	`delivered_at` integer,
	`opened_at` integer,
	`clicked_at` integer,
	`bounced_at` integer,
	`complained_at` integer
);
--> statement-breakpoint
CREATE INDEX `messages_status_due_idx` ON `messages` (`status`,`due_at`);--> statement-breakpoint
CREATE INDEX `messages_contact_idx` ON `messages` (`contact_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `messages_flow_idx` ON `messages` (`flow_id`,`step_id`);--> statement-breakpoint
CREATE INDEX `messages_enrollment_idx` ON `messages` (`enrollment_id`);--> statement-breakpoint
CREATE INDEX `messages_batch_idx` ON `messages` (`batch_id`);--> statement-breakpoint
CREATE INDEX `messages_provider_idx` ON `messages` (`provider_id`);--> statement-breakpoint
CREATE TABLE `segments` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`condition` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `send_batches` (
	`id` text PRIMARY KEY NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `send_batches_status_idx` ON `send_batches` (`status`);--> statement-breakpoint
CREATE TABLE `suppressions` (
	`email` text PRIMARY KEY NOT NULL,
	`reason` text NOT NULL,
	`detail` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `suppressions_created_idx` ON `suppressions` (`created_at`);--> statement-breakpoint
CREATE TABLE `templates` (
	`id` text PRIMARY KEY NOT NULL,
	`subject` text NOT NULL,
	`html` text NOT NULL,
	`text` text,
	`from` text,
	`reply_to` text,
	`preheader` text,
	`library_hash` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `webhook_receipts` (
	`svix_id` text PRIMARY KEY NOT NULL,
	`received_at` integer NOT NULL
);
