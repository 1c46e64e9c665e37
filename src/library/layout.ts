/**
 * The shared look of the library's emails: one narrow, single-column table
 * layout with inline styles (what mail clients render reliably). Pure string
 * building; the Liquid inside is rendered at send time.
 */

/** A call-to-action button. */
export interface EmailButton {
  label: string;
  url: string;
}

/** Wraps Liquid body HTML in the library's email layout, with an optional button. */
export function emailLayout(body: string, button?: EmailButton): string {
  const cta = button
    ? `<p style="margin:28px 0"><a href="${button.url}" style="background:#1f6f5c;color:#ffffff;text-decoration:none;padding:12px 22px;border-radius:6px;display:inline-block;font-weight:600">${button.label}</a></p>`
    : "";
  return `<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"></head>
<body style="margin:0;padding:0;background:#f4f5f2">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f5f2"><tr><td align="center" style="padding:24px 12px">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:560px;background:#ffffff;border-radius:8px">
<tr><td style="padding:28px 32px;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:16px;line-height:1.55;color:#1d2320">
<p style="margin:0 0 20px;font-weight:700;color:#1f6f5c">{{ shop.name }}</p>
${body}
${cta}
</td></tr></table>
</td></tr></table>
</body></html>`;
}

/** A Liquid table of the event's items (name, quantity, price, image), for carts and orders. */
export const itemsTable = `{% if event.properties.items %}<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="margin:16px 0;border-top:1px solid #e6e8e3">
{% for item in event.properties.items %}<tr>
<td style="padding:10px 0;border-bottom:1px solid #e6e8e3;width:72px">{% if item.image_url %}<img src="{{ item.image_url }}" alt="" width="60" style="border-radius:4px;display:block">{% endif %}</td>
<td style="padding:10px 8px;border-bottom:1px solid #e6e8e3">{% if item.url %}<a href="{{ item.url }}" style="color:#1d2320">{{ item.name }}</a>{% else %}{{ item.name }}{% endif %}{% if item.quantity and item.quantity > 1 %} × {{ item.quantity }}{% endif %}</td>
<td style="padding:10px 0;border-bottom:1px solid #e6e8e3;text-align:right;white-space:nowrap">{% if item.price %}{{ item.price | money: event.properties.currency }}{% endif %}</td>
</tr>{% endfor %}
</table>{% endif %}`;
