/*
 * smimepub audit --format html (report_html.h). The page: the summary, an inline SVG chart of
 * how many certificates expire in each of the next 18 months (drawn here: bars with their
 * counts), the findings grouped by code with the advice the JSON carries, and the values and
 * entries to act on. Styles are inline in <style>; there is no script at all, so the file
 * reads the same in a mail attachment, on a phone and on paper.
 */
#include "report_html.h"

#include <stdlib.h>
#include <string.h>

#include "smimepub/cert.h"

#define CHART_MONTHS 18
/* rows of the table of values to act on (the findings table counts them all) */
#define MAX_ROWS 5000

struct finding {
	char *code;
	char *severity;
	char *advice;     /* the first message seen for the code */
	size_t count;
};

struct row {
	char *dn;
	long index;       /* -1: the entry as a whole */
	char *subject;
	char *not_after;
	char *severity;   /* the worst */
	char *codes;      /* "expired, untrusted" */
};

struct html_report {
	char *title;
	char *line;       /* the sink's incomplete line */
	size_t len, cap;
	int year, month;  /* the chart's first month */
	long months[CHART_MONTHS];
	long later, earlier;
	struct finding *f;
	size_t nf;
	struct row *rows;
	size_t nrows, more_rows;
	json_t *summary;
};

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

static const char *str(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? v : "";
}

struct html_report *html_report_new(time_t now, const char *title)
{
	struct html_report *r = calloc(1, sizeof(*r));
	struct tm tm;

	if (r == NULL || gmtime_r(&now, &tm) == NULL ||
	    (r->title = strdup(title != NULL ? title : "smimepub audit")) == NULL) {
		html_report_free(r);
		return NULL;
	}
	r->year = tm.tm_year + 1900;
	r->month = tm.tm_mon + 1;
	return r;
}

void html_report_free(struct html_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nf; i++) {
		free(r->f[i].code);
		free(r->f[i].severity);
		free(r->f[i].advice);
	}
	for (size_t i = 0; i < r->nrows; i++) {
		free(r->rows[i].dn);
		free(r->rows[i].subject);
		free(r->rows[i].not_after);
		free(r->rows[i].severity);
		free(r->rows[i].codes);
	}
	free(r->f);
	free(r->rows);
	free(r->line);
	free(r->title);
	json_decref(r->summary);
	free(r);
}

/* The chart's bucket of an RFC 3339 time. */
static void count_expiry(struct html_report *r, const char *when)
{
	int y, m, k;

	if (sscanf(when, "%4d-%2d", &y, &m) != 2)
		return;
	k = (y - r->year) * 12 + (m - r->month);
	if (k < 0)
		r->earlier++;
	else if (k >= CHART_MONTHS)
		r->later++;
	else
		r->months[k]++;
}

static int add_finding(struct html_report *r, const json_t *p)
{
	const char *code = str(p, "code");
	struct finding *grown;

	for (size_t i = 0; i < r->nf; i++)
		if (strcmp(r->f[i].code, code) == 0) {
			r->f[i].count++;
			return 0;
		}
	if ((grown = realloc(r->f, (r->nf + 1) * sizeof(*grown))) == NULL)
		return -1;
	r->f = grown;
	grown[r->nf].count = 1;
	grown[r->nf].code = strdup(code);
	grown[r->nf].severity = strdup(str(p, "severity"));
	grown[r->nf].advice = strdup(str(p, "message"));
	r->nf++;
	return grown[r->nf - 1].code && grown[r->nf - 1].severity && grown[r->nf - 1].advice ? 0
											     : -1;
}

static int add_row(struct html_report *r, const json_t *rec, const json_t *problems)
{
	const char *worst = "warning";
	size_t len = 0, i;
	json_t *p;
	struct row *grown, *w;
	char *codes;

	if (r->nrows >= MAX_ROWS) {
		r->more_rows++;
		return 0;
	}
	json_array_foreach(problems, i, p) {
		len += strlen(str(p, "code")) + 2;
		if (strcmp(str(p, "severity"), "critical") == 0)
			worst = "critical";
	}
	if ((codes = calloc(1, len + 1)) == NULL)
		return -1;
	len = 0;
	json_array_foreach(problems, i, p) {
		int n = snprintf(codes + len, strlen(str(p, "code")) + 3, "%s%s", i > 0 ? ", " : "",
				 str(p, "code"));

		len += n > 0 ? (size_t)n : 0;  /* sized above */
	}
	if ((grown = realloc(r->rows, (r->nrows + 1) * sizeof(*grown))) == NULL) {
		free(codes);
		return -1;
	}
	r->rows = grown;
	w = &grown[r->nrows++];
	w->codes = codes;
	w->index = json_is_integer(json_object_get(rec, "index")) && strcmp(str(rec, "type"),
									      "entry") != 0
		   ? (long)json_integer_value(json_object_get(rec, "index")) : -1;
	w->dn = strdup(str(rec, "dn"));
	w->subject = strdup(str(rec, "subject"));
	w->not_after = strdup(str(rec, "not_after"));
	w->severity = strdup(worst);
	return w->dn && w->subject && w->not_after && w->severity ? 0 : -1;
}

int html_report_add(struct html_report *r, const json_t *record)
{
	const char *type = str(record, "type");
	const json_t *problems = json_object_get(record, "problems");
	json_t *p;
	size_t i;

	if (strcmp(type, "summary") == 0) {
		json_decref(r->summary);
		r->summary = json_deep_copy(record);
		return r->summary != NULL ? 0 : -1;
	}
	if (strcmp(type, "certificate") == 0 && *str(record, "not_after") != '\0')
		count_expiry(r, str(record, "not_after"));
	if (strcmp(type, "certificate") != 0 && strcmp(type, "entry") != 0)
		return 0;
	json_array_foreach(problems, i, p)
		if (add_finding(r, p) != 0)
			return -1;
	return json_array_size(problems) > 0 ? add_row(r, record, problems) : 0;
}

static int sink_line(struct html_report *r, const char *s, size_t n)
{
	json_t *rec = json_loadb(s, n, 0, NULL);
	int rc = json_is_object(rec) ? html_report_add(r, rec) : -1;

	json_decref(rec);
	return rc;
}

static ssize_t sink_write(void *cookie, const char *buf, size_t n)
{
	struct html_report *r = cookie;

	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			if (r->len > 0 && sink_line(r, r->line, r->len) != 0)
				return -1;
			r->len = 0;
			continue;
		}
		if (r->len == r->cap) {
			size_t cap = r->cap ? 2 * r->cap : 4096;
			char *grown = realloc(r->line, cap);

			if (grown == NULL)
				return -1;
			r->line = grown;
			r->cap = cap;
		}
		r->line[r->len++] = buf[i];
	}
	return (ssize_t)n;
}

static int sink_close(void *cookie)
{
	struct html_report *r = cookie;
	int rc = r->len > 0 ? sink_line(r, r->line, r->len) : 0;

	r->len = 0;
	return rc;
}

FILE *html_report_sink(struct html_report *r)
{
	cookie_io_functions_t io = { NULL, sink_write, NULL, sink_close };

	return fopencookie(r, "w", io);
}

static long summary_int(const struct html_report *r, const char *key);

/* An RFC 3339 UTC time ("2026-06-15T00:00:00Z") as time_t, or -1. */
static time_t utc_time(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
		return (time_t)-1;
	return timegm(&tm);
}

/* perfdata text is one token: no space, '|', '=' or quote inside a row's words */
static void put_plain(FILE *fp, const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		fputc(*s == '\n' || *s == '\r' || *s == '|' ? ' ' : *s, fp);
}

int html_report_write_nagios(const struct html_report *r, FILE *fp, int status, time_t now,
			     int warn_days, int crit_days, const char *why)
{
	static const char *const names[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };
	const json_t *s = r->summary;
	const json_t *soonest = json_array_get(json_object_get(s, "soonest_expiries"), 0);
	long expiring = (long)json_integer_value(json_object_get(json_object_get(s, "counts"),
								 "expiring"));
	time_t first = soonest != NULL ? utc_time(str(soonest, "not_after")) : (time_t)-1;
	size_t shown = 0;

	if (status < 0 || status > 3)
		status = 3;
	fprintf(fp, "SMIMEPUB AUDIT %s - ", names[status]);
	if (why != NULL) {
		fputs("audit could not complete: ", fp);
		put_plain(fp, why);
		fputs("; ", fp);
	}
	fprintf(fp, "%ld entries, %ld certificates, %ld critical, %ld warnings",
		summary_int(r, "entries"), summary_int(r, "certificates"),
		summary_int(r, "critical"), summary_int(r, "warnings"));
	fprintf(fp, " | entries=%ld;;;0 certificates=%ld;;;0 critical=%ld;;1;0 warnings=%ld;1;;0 "
		    "expiring=%ld;;;0 ", summary_int(r, "entries"), summary_int(r, "certificates"),
		summary_int(r, "critical"), summary_int(r, "warnings"), expiring);
	if (first != (time_t)-1) {
		long long d = (long long)(first - now);

		/* whole days left, rounded down; negative: expired that many days ago */
		fprintf(fp, "soonest_expiry_days=%lld;%d;%d\n", d >= 0 ? d / 86400 : -((-d + 86399)
			/ 86400), warn_days, crit_days);
	} else {
		fprintf(fp, "soonest_expiry_days=U;%d;%d\n", warn_days, crit_days);
	}
	/* the worst first: every critical row, then warnings, ten in all */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < r->nrows && shown < 10; i++) {
			const struct row *w = &r->rows[i];

			if ((strcmp(w->severity, "critical") == 0) != (pass == 0))
				continue;
			fprintf(fp, "%s ", pass == 0 ? "CRITICAL" : "WARNING");
			put_plain(fp, w->dn);
			if (w->index >= 0)
				fprintf(fp, " value %ld", w->index);
			fputs(": ", fp);
			put_plain(fp, w->codes);
			fputc('\n', fp);
			shown++;
		}
	fflush(fp);
	return ferror(fp) ? -1 : 0;
}

static long summary_int(const struct html_report *r, const char *key)
{
	return (long)json_integer_value(json_object_get(r->summary, key));
}

/* The chart: one bar per month, its count above it, the month below; no script. */
static void write_chart(const struct html_report *r, FILE *fp)
{
	const int w = 36, gap = 8, h = 160, top = 20, base = top + h;
	long max = 1;

	for (int k = 0; k < CHART_MONTHS; k++)
		if (r->months[k] > max)
			max = r->months[k];
	fprintf(fp, "<figure>\n<svg class=\"chart\" role=\"img\" viewBox=\"0 0 %d %d\" "
		    "xmlns=\"http://www.w3.org/2000/svg\" aria-labelledby=\"chart-title\">\n"
		    "<title id=\"chart-title\">Certificates expiring per month, next %d months</title>\n",
		    CHART_MONTHS * (w + gap) + gap, base + 40, CHART_MONTHS);
	fprintf(fp, "<line x1=\"0\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>\n", base,
		CHART_MONTHS * (w + gap) + gap, base);
	for (int k = 0; k < CHART_MONTHS; k++) {
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
		    " (%ld already expired, %ld later).</figcaption>\n</figure>\n", CHART_MONTHS,
		r->earlier, r->later);
}

int html_report_write(const struct html_report *r, FILE *fp)
{
	const char *status = r->summary != NULL ? str(r->summary, "status") : "unknown";

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
			    "<dt>complete</dt><dd>%s</dd></dl>\n<p>", summary_int(r, "entries"),
			summary_int(r, "certificates"), summary_int(r, "critical"),
			summary_int(r, "warnings"),
			json_is_true(json_object_get(r->summary, "complete")) ? "yes" : "no");
		put_escaped(fp, str(r->summary, "message"));
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
		const struct row *w = &r->rows[i];

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
