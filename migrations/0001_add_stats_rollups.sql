CREATE TABLE `ab_winners` (
	`flow_id` text NOT NULL,
	`step_id` text NOT NULL,
	`template_id` text NOT NULL,
	`decided_at` integer NOT NULL,
	`p_value` real NOT NULL,
	PRIMARY KEY(`flow_id`, `step_id`)
);
--> statement-breakpoint
CREATE TABLE `stats_daily` (
	`flow_id` text NOT NULL,
	`day` text NOT NULL,
	`step_id` text DEFAULT '' NOT NULL,
	`variant` text DEFAULT '' NOT NULL,
	`entered` integer DEFAULT 0 NOT NULL,
	`sent` integer DEFAULT 0 NOT NULL,
	`delivered` integer DEFAULT 0 NOT NULL,
	`unique_opens` integer DEFAULT 0 NOT NULL,
	`unique_clicks` integer DEFAULT 0 NOT NULL,
	`machine_opens` integer DEFAULT 0 NOT NULL,
	`machine_clicks` integer DEFAULT 0 NOT NULL,
	`bounces` integer DEFAULT 0 NOT NULL,
	`complaints` integer DEFAULT 0 NOT NULL,
	`unsubscribes` integer DEFAULT 0 NOT NULL,
	`conversions` integer DEFAULT 0 NOT NULL,
	`goals` integer DEFAULT 0 NOT NULL,
	`revenue` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`flow_id`, `day`, `step_id`, `variant`)
);
--> statement-breakpoint
CREATE INDEX `stats_daily_day_idx` ON `stats_daily` (`day`);