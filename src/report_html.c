/*
 * smimepub audit --format html (report.h). The page: the summary, an inline SVG chart of
 * how many certificates expire in each of the next 18 months (drawn here: bars with their
 * counts), the findings grouped by code with the advice the JSON carries, and the values and
 * entries to act on. Styles are inline in <style>; there is no script at all, so the file
 * reads the same in a mail attachment, on a phone and on paper. Every text from a certificate
 * or the directory is escaped.
 */
#include "report.h"

#include <string.h>

#include "smimepub/cert.h"

static void put_escaped(FILE *fp, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&': fputs("&amp;", fp); break;
		case '<': fputs("&lt;", fp); break;
		case '>': fputs("&gt;", fp); break;
		case '"': fputs("&quot;", fp); break;
		case '\'': fputs("&#39;", fp); break;
		default: fputc(*s, fp);
		}
	}
}

/* The chart: one bar per month, its count above it, the month below; no script. */
static void write_chart(const struct report *r, FILE *fp)
{
	const int w = 36, gap = 8, h = 160, top = 20, base = top + h;
	long max = 1;

	for (int k = 0; k < REPORT_CHART_MONTHS; k++)
		if (r->months[k] > max)
			max = r->months[k];
	fprintf(fp, "<figure>\n<svg class=\"chart\" role=\"img\" viewBox=\"0 0 %d %d\" "
		    "xmlns=\"http://www.w3.org/2000/svg\" aria-labelledby=\"chart-title\">\n"
		    "<title id=\"chart-title\">Certificates expiring per month, next %d months</title>\n",
		    REPORT_CHART_MONTHS * (w + gap) + gap, base + 40, REPORT_CHART_MONTHS);
	fprintf(fp, "<line x1=\"0\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>\n", base,
		REPORT_CHART_MONTHS * (w + gap) + gap, base);
	for (int k = 0; k < REPORT_CHART_MONTHS; k++) {
		int y = r->year + (r->month - 1 + k) / 12, m = (r->month - 1 + k) % 12 + 1;
		long bh = r->months[k] * h / max;
		int x = gap + k * (w + gap);

		fprintf(fp, "<g class=\"month\" data-month=\"%04d-%02d\" data-count=\"%ld\">"
			    "<rect class=\"bar\" x=\"%d\" y=\"%ld\" width=\"%d\" height=\"%ld\">"
			    "<title>%04d-%02d: %ld</title></rect>"
			    "<text class=\"count\" x=\"%d\" y=\"%ld\">%ld</text>"
			    "<text class=\"label\" x=\"%d\" y=\"%d\">%04d-%02d</text></g>\n",
			y, m, r->months[k], x, (long)base - bh, w, bh, y, m, r->months[k],
			x + w / 2, (long)base - bh - 4, r->months[k], x + w / 2, base + 16, y, m);
	}
	fprintf(fp, "</svg>\n<figcaption>Certificates expiring per month over the next %d months"
		    " (%ld already expired, %ld later).</figcaption>\n</figure>\n", REPORT_CHART_MONTHS,
		r->earlier, r->later);
}

int report_write_html(const struct report *r, FILE *fp)
{
	const char *status = r->summary != NULL ? report_str(r->summary, "status") : "unknown";

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; img-src data:\">\n<title>", fp);
	put_escaped(fp, r->title);
	fputs("</title>\n<style>\n"
	      "body{font-family:system-ui,sans-serif;margin:1rem auto;max-width:72rem;padding:0 "
	      "1rem;color:#222}\nh1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}\n"
	      ".status{display:inline-block;padding:.2rem .6rem;border-radius:.3rem;color:#fff}\n"
	      ".ok{background:#2e7d32}.warning{background:#b26a00}.critical{background:#c62828}"
	      ".unknown{background:#555}\n"
	      "dl.summary{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}\n"
	      "dl.summary dt{font-weight:600}dl.summary dd{margin:0}\n"
	      ".scroll{overflow-x:auto}table{border-collapse:collapse;width:100%}\n"
	      "th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;"
	      "vertical-align:top}td.dn,td.advice{overflow-wrap:anywhere}\n"
	      "td.sev-critical{color:#c62828;font-weight:600}td.sev-warning{color:#b26a00}\n"
	      "svg.chart{width:100%;height:auto;max-height:16rem}.bar{fill:#1565c0}"
	      ".axis{stroke:#888}\nsvg .count,svg .label{font-size:10px;text-anchor:middle;fill:#222}\n"
	      "@media print{body{max-width:none}.scroll{overflow:visible}a{color:inherit}}\n"
	      "</style>\n</head>\n<body>\n<h1>", fp);
	put_escaped(fp, r->title);
	fputs("</h1>\n<p>Status: <span class=\"status ", fp);
	put_escaped(fp, status);
	fputs("\" id=\"status\">", fp);
	put_escaped(fp, status);
	fputs("</span></p>\n", fp);
	if (r->summary != NULL) {
		fprintf(fp, "<dl class=\"summary\"><dt>entries</dt><dd id=\"entries\">%ld</dd>"
			    "<dt>certificates</dt><dd id=\"certificates\">%ld</dd>"
			    "<dt>critical</dt><dd id=\"critical\">%ld</dd>"
			    "<dt>warnings</dt><dd id=\"warnings\">%ld</dd>"
			    "<dt>complete</dt><dd>%s</dd></dl>\n<p>", report_summary_int(r, "entries"),
			report_summary_int(r, "certificates"), report_summary_int(r, "critical"),
			report_summary_int(r, "warnings"),
			json_is_true(json_object_get(r->summary, "complete")) ? "yes" : "no");
		put_escaped(fp, report_str(r->summary, "message"));
		fputs("</p>\n", fp);
	}
	fputs("<h2>Expiry</h2>\n", fp);
	write_chart(r, fp);
	fputs("<h2>Findings</h2>\n", fp);
	if (r->nf == 0)
		fputs("<p id=\"no-findings\">No findings.</p>\n", fp);
	else
		fputs("<div class=\"scroll\"><table id=\"findings\"><thead><tr><th>code</th>"
		      "<th>severity</th><th>count</th><th>advice (first case)</th></tr></thead>"
		      "<tbody>\n", fp);
	for (size_t i = 0; i < r->nf; i++) {
		fputs("<tr><td class=\"code\">", fp);
		put_escaped(fp, r->f[i].code);
		fprintf(fp, "</td><td class=\"sev-%s\">", strcmp(r->f[i].severity, "critical") == 0
							  ? "critical" : "warning");
		put_escaped(fp, r->f[i].severity);
		fprintf(fp, "</td><td class=\"count\">%zu</td><td class=\"advice\">", r->f[i].count);
		put_escaped(fp, r->f[i].advice);
		fputs("</td></tr>\n", fp);
	}
	if (r->nf > 0)
		fputs("</tbody></table></div>\n", fp);
	fputs("<h2>Entries to act on</h2>\n", fp);
	if (r->nrows > 0)
		fputs("<div class=\"scroll\"><table id=\"entries-table\"><thead><tr><th>entry</th>"
		      "<th>value</th><th>subject</th><th>expires</th><th>severity</th>"
		      "<th>problems</th></tr></thead><tbody>\n", fp);
	for (size_t i = 0; i < r->nrows; i++) {
		const struct report_row *w = &r->rows[i];

		fputs("<tr><td class=\"dn\">", fp);
		put_escaped(fp, w->dn);
		if (w->index >= 0)
			fprintf(fp, "</td><td>%ld</td><td class=\"subject\">", w->index);
		else
			fputs("</td><td>entry</td><td class=\"subject\">", fp);
		put_escaped(fp, w->subject);
		fputs("</td><td>", fp);
		fprintf(fp, "%.10s", w->not_after);
		fprintf(fp, "</td><td class=\"sev-%s\">%s</td><td>", w->severity, w->severity);
		put_escaped(fp, w->codes);
		fputs("</td></tr>\n", fp);
	}
	if (r->nrows > 0)
		fputs("</tbody></table></div>\n", fp);
	else
		fputs("<p>None.</p>\n", fp);
	if (r->more_rows > 0)
		fprintf(fp, "<p>... and %zu more (see --format json).</p>\n", r->more_rows);
	fputs("<footer><p>Written by smimepub " SMIMEPUB_VERSION ".</p></footer>\n"
	      "</body>\n</html>\n", fp);
	fflush(fp);
	return ferror(fp) ? -1 : 0;
}
