/*
 * audit's reports (report.h): the records' aggregates, the sink they stream through, and the
 * monitoring plugin's output. The page is report_html.c, the textfile report_prom.c.
 */
#include "report.h"

#include <stdlib.h>
#include <string.h>

/* rows of the table of values to act on (the findings table counts them all) */
#define MAX_ROWS 5000

const char *report_str(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? v : "";
}

struct report *report_new(time_t now, const char *title)
{
	struct report *r = calloc(1, sizeof(*r));
	struct tm tm;

	if (r == NULL || gmtime_r(&now, &tm) == NULL ||
	    (r->title = strdup(title != NULL ? title : "smimepub audit")) == NULL) {
		report_free(r);
		return NULL;
	}
	r->year = tm.tm_year + 1900;
	r->month = tm.tm_mon + 1;
	return r;
}

void report_free(struct report *r)
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
	for (size_t i = 0; i < r->n_seen; i++)
		free(r->series_seen[i]);
	free(r->series_seen);
	free(r->series_dn);
	if (r->series != NULL)
		fclose(r->series);
	free(r->f);
	free(r->rows);
	free(r->line);
	free(r->title);
	json_decref(r->summary);
	free(r);
}

/* The chart's bucket of an RFC 3339 time. */
static void count_expiry(struct report *r, const char *when)
{
	int y, m, k;

	if (sscanf(when, "%4d-%2d", &y, &m) != 2)
		return;
	k = (y - r->year) * 12 + (m - r->month);
	if (k < 0)
		r->earlier++;
	else if (k >= REPORT_CHART_MONTHS)
		r->later++;
	else
		r->months[k]++;
}

/* Counted by code and severity: some codes (issuer_not_distributed) can be either. */
static int add_finding(struct report *r, const json_t *p)
{
	const char *code = report_str(p, "code"), *severity = report_str(p, "severity");
	struct report_finding *grown;

	for (size_t i = 0; i < r->nf; i++)
		if (strcmp(r->f[i].code, code) == 0 && strcmp(r->f[i].severity, severity) == 0) {
			r->f[i].count++;
			return 0;
		}
	if ((grown = realloc(r->f, (r->nf + 1) * sizeof(*grown))) == NULL)
		return -1;
	r->f = grown;
	grown[r->nf].count = 1;
	grown[r->nf].code = strdup(code);
	grown[r->nf].severity = strdup(severity);
	grown[r->nf].advice = strdup(report_str(p, "message"));
	r->nf++;
	return grown[r->nf - 1].code && grown[r->nf - 1].severity && grown[r->nf - 1].advice ? 0
											     : -1;
}

static int add_row(struct report *r, const json_t *rec, const json_t *problems)
{
	const char *worst = "warning";
	size_t len = 0, i;
	json_t *p;
	struct report_row *grown, *w;
	char *codes;

	if (r->nrows >= MAX_ROWS) {
		r->more_rows++;
		return 0;
	}
	json_array_foreach(problems, i, p) {
		len += strlen(report_str(p, "code")) + 2;
		if (strcmp(report_str(p, "severity"), "critical") == 0)
			worst = "critical";
	}
	if ((codes = calloc(1, len + 1)) == NULL)
		return -1;
	len = 0;
	json_array_foreach(problems, i, p) {
		const char *code = report_str(p, "code");
		int n = snprintf(codes + len, strlen(code) + 3, "%s%s", i > 0 ? ", " : "", code);

		len += n > 0 ? (size_t)n : 0;  /* sized above */
	}
	if ((grown = realloc(r->rows, (r->nrows + 1) * sizeof(*grown))) == NULL) {
		free(codes);
		return -1;
	}
	r->rows = grown;
	w = &grown[r->nrows++];
	w->codes = codes;
	w->index = json_is_integer(json_object_get(rec, "index")) &&
		   strcmp(report_str(rec, "type"), "entry") != 0
		   ? (long)json_integer_value(json_object_get(rec, "index")) : -1;
	w->dn = strdup(report_str(rec, "dn"));
	w->subject = strdup(report_str(rec, "subject"));
	w->not_after = strdup(report_str(rec, "not_after"));
	w->severity = strdup(worst);
	return w->dn && w->subject && w->not_after && w->severity ? 0 : -1;
}

/* 0 none, 1 warning, 2 critical: the index of report.state */
static int worst_severity(const json_t *problems)
{
	int worst = 0;
	size_t i;
	json_t *p;

	json_array_foreach(problems, i, p) {
		const char *sev = report_str(p, "severity");

		if (strcmp(sev, "critical") == 0)
			return 2;
		if (strcmp(sev, "warning") == 0)
			worst = 1;
	}
	return worst;
}

int report_keep_series(struct report *r)
{
	if (r->series == NULL && (r->series = tmpfile()) == NULL)
		return -1;
	return 0;
}

void report_prom_label(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', fp);
		if (*s == '\n')
			fputs("\\n", fp);
		else
			fputc(*s, fp);
	}
}

/* Whether the entry's values so far include sha256; remembers it when not. -1: no memory. */
static int seen_on_entry(struct report *r, const char *dn, const char *sha256)
{
	char **grown;

	if (r->series_dn == NULL || strcmp(r->series_dn, dn) != 0) {
		for (size_t i = 0; i < r->n_seen; i++)
			free(r->series_seen[i]);
		r->n_seen = 0;
		free(r->series_dn);
		if ((r->series_dn = strdup(dn)) == NULL)
			return -1;
	}
	for (size_t i = 0; i < r->n_seen; i++)
		if (strcmp(r->series_seen[i], sha256) == 0)
			return 1;
	if ((grown = realloc(r->series_seen, (r->n_seen + 1) * sizeof(*grown))) == NULL)
		return -1;
	r->series_seen = grown;
	if ((grown[r->n_seen] = strdup(sha256)) == NULL)
		return -1;
	r->n_seen++;
	return 0;
}

/*
 * One smimepub_certificate_expiry_timestamp_seconds sample per value that is a certificate
 * (a value that is not has no expiry). A value twice on one entry is the `duplicate` finding,
 * and one series: the text format allows no repeated label set.
 */
static int add_series(struct report *r, const json_t *rec)
{
	const char *dn = report_str(rec, "dn"), *sha256 = report_str(rec, "sha256");
	const char *address = json_string_value(json_array_get(json_object_get(rec, "emails"), 0));
	time_t t = report_utc_time(report_str(rec, "not_after"));
	int seen;

	if (t == (time_t)-1)
		return 0;
	if ((seen = seen_on_entry(r, dn, sha256)) != 0)
		return seen < 0 ? -1 : 0;
	fputs("smimepub_certificate_expiry_timestamp_seconds{dn=\"", r->series);
	report_prom_label(r->series, dn);
	fputs("\",address=\"", r->series);
	report_prom_label(r->series, address != NULL ? address : "");
	fputs("\",sha256=\"", r->series);
	report_prom_label(r->series, sha256);
	fprintf(r->series, "\"} %lld\n", (long long)t);
	return ferror(r->series) ? -1 : 0;
}

int report_add(struct report *r, const json_t *record)
{
	const char *type = report_str(record, "type");
	const json_t *problems = json_object_get(record, "problems");
	json_t *p;
	size_t i;

	if (strcmp(type, "summary") == 0) {
		json_decref(r->summary);
		r->summary = json_deep_copy(record);
		return r->summary != NULL ? 0 : -1;
	}
	if (strcmp(type, "certificate") == 0) {
		r->state[worst_severity(problems)]++;
		if (*report_str(record, "not_after") != '\0')
			count_expiry(r, report_str(record, "not_after"));
		if (r->series != NULL && add_series(r, record) != 0)
			return -1;
	} else if (strcmp(type, "entry") != 0) {
		return 0;
	}
	json_array_foreach(problems, i, p)
		if (add_finding(r, p) != 0)
			return -1;
	return json_array_size(problems) > 0 ? add_row(r, record, problems) : 0;
}

static int sink_line(struct report *r, const char *s, size_t n)
{
	json_t *rec = json_loadb(s, n, 0, NULL);
	int rc = json_is_object(rec) ? report_add(r, rec) : -1;

	if (rc == 0 && r->on_record != NULL)
		rc = r->on_record(rec, r->on_record_ctx);

	json_decref(rec);
	return rc;
}

static ssize_t sink_write(void *cookie, const char *buf, size_t n)
{
	struct report *r = cookie;

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
	struct report *r = cookie;
	int rc = r->len > 0 ? sink_line(r, r->line, r->len) : 0;

	r->len = 0;
	return rc;
}

FILE *report_sink(struct report *r)
{
	cookie_io_functions_t io = { NULL, sink_write, NULL, sink_close };

	return fopencookie(r, "w", io);
}

time_t report_utc_time(const char *s)
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

int report_write_nagios(const struct report *r, FILE *fp, int status, time_t now,
			int warn_days, int crit_days, const char *why)
{
	static const char *const names[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };
	const json_t *s = r->summary;
	const json_t *soonest = json_array_get(json_object_get(s, "soonest_expiries"), 0);
	long expiring = (long)json_integer_value(json_object_get(json_object_get(s, "counts"),
								 "expiring"));
	long entries = report_summary_int(r, "entries");
	long values = report_summary_int(r, "certificates");
	long critical = report_summary_int(r, "critical");
	long warnings = report_summary_int(r, "warnings");
	time_t first = soonest != NULL ? report_utc_time(report_str(soonest, "not_after"))
				       : (time_t)-1;
	size_t shown = 0;

	if (status < 0 || status > 3)
		status = 3;
	fprintf(fp, "SMIMEPUB AUDIT %s - ", names[status]);
	if (why != NULL) {
		fputs("audit could not complete: ", fp);
		put_plain(fp, why);
		fputs("; ", fp);
	}
	fprintf(fp, "%ld entries, %ld certificates, %ld critical, %ld warnings", entries, values,
		critical, warnings);
	fprintf(fp, " | entries=%ld;;;0 certificates=%ld;;;0 critical=%ld;;1;0 warnings=%ld;1;;0 "
		    "expiring=%ld;;;0 ", entries, values, critical, warnings, expiring);
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
			const struct report_row *w = &r->rows[i];

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

long report_summary_int(const struct report *r, const char *key)
{
	return (long)json_integer_value(json_object_get(r->summary, key));
}

