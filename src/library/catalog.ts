/** The flow library: ready-made flows with their templates, bundled as TS modules. */

import type { TemplateContent } from "../db/templates";
import type { Flow } from "../flows/schema";
import { abandonedCart } from "./abandoned-cart";
import { birthday } from "./birthday";
import { browseAbandonment } from "./browse-abandonment";
import { failedPayment } from "./failed-payment";
import { leadNurturing } from "./lead-nurturing";
import { nps } from "./nps";
import { postPurchase } from "./post-purchase";
import { reEngagement } from "./re-engagement";
import { renewal } from "./renewal";
import { replenishment } from "./replenishment";
import { salesRepAlert } from "./sales-rep-alert";
import { webinar } from "./webinar";
import { welcomeSeries } from "./welcome";
import { winBack } from "./win-back";

/** A library template as installed into D1 `templates`. */
export interface LibraryTemplate extends TemplateContent {
  id: string;
}

/** One installable library flow. */
export interface LibraryEntry {
  name: string;
  description: string;
  flow: Flow;
  templates: LibraryTemplate[];
}

/** Every library flow, in catalogue order. */
export const LIBRARY: readonly LibraryEntry[] = [
  welcomeSeries,
  abandonedCart,
  browseAbandonment,
  postPurchase,
  reEngagement,
  winBack,
  birthday,
  replenishment,
  leadNurturing,
  salesRepAlert,
  nps,
  webinar,
  renewal,
  failedPayment,
];

/** A library entry by name, or undefined. */
export function libraryEntry(name: string): LibraryEntry | undefined {
  return LIBRARY.find((e) => e.name === name);
}
