/*
 * audit's reports, built from the audit's own JSON records so that each says exactly what
 * --format json says: the page (--format html, report_html.c), the monitoring plugin's output
 * (--format nagios) and node_exporter's textfile (--format prometheus, report_prom.c).
 * The records stream through report_sink; the report keeps only aggregates, the rows to act on
 * (bounded) and, for --per-certificate, one series per value in a temporary file, so memory
 * does not grow with the directory.
 */
#ifndef SMIMEPUB_REPORT_H
#define SMIMEPUB_REPORT_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#define REPORT_CHART_MONTHS 18

struct report_finding {
	char *code;
	char *severity;
	char *advice;     /* the first message seen for the code */
	size_t count;
};

struct report_row {
	char *dn;
	long index;       /* -1: the entry as a whole */
	char *subject;
	char *not_after;
	char *severity;   /* the worst */
	char *codes;      /* "expired, untrusted" */
};

struct report {
	char *title;
	char *line;       /* the sink's incomplete line */
	size_t len, cap;
	int year, month;  /* the chart's first month */
	long months[REPORT_CHART_MONTHS];
	long later, earlier;
	long state[3];    /* certificate values by their worst problem: ok, warning, critical */
	struct report_finding *f;
	size_t nf;
	struct report_row *rows;
	size_t nrows, more_rows;
	json_t *summary;
	FILE *series;     /* --per-certificate: the expiry series, written as values come */
	char *series_dn;  /* the entry whose values the series file holds last */
	char **series_seen;  /* their sha256, so a duplicate value is one series */
	size_t n_seen;
	/* also called with each record the sink takes, when set (serve's audit pages); a
	   non-zero return fails the write */
	int (*on_record)(const json_t *record, void *ctx);
	void *on_record_ctx;
};

/* A report whose expiry chart covers the 18 months from the month of now. NULL: no memory. */
struct report *report_new(time_t now, const char *title);

/* Also keep one expiry series per certificate value (--per-certificate), in a temporary file.
   0, or -1 (errno set) when it cannot be created. */
int report_keep_series(struct report *r);

/* Takes one audit record (certificate, entry, referral or summary; borrowed). 0, or -1
   when out of memory or the series file cannot be written. */
int report_add(struct report *r, const json_t *record);

/*
 * A stream whose every line is one JSON record for r (what cli_out_record writes in JSON
 * format): the audit renders into it as it would to stdout, in process or from its workers.
 * A write fails (ferror) when memory runs out or a line is not a JSON object. fclose it
 * before writing the report.
 */
FILE *report_sink(struct report *r);

/* The page into fp. 0, or -1 when writing failed. */
int report_write_html(const struct report *r, FILE *fp);

/*
 * The monitoring plugin's output (Monitoring Plugins guidelines, SPEC §7):
 * "SMIMEPUB AUDIT <STATUS> - <text> | <perfdata>", then up to 10 of the worst rows.
 * status is audit's (0-3), why the reason an audit could not complete (or NULL); warn_days
 * and crit_days the thresholds of soonest_expiry_days. 0, or -1 when writing failed.
 */
int report_write_nagios(const struct report *r, FILE *fp, int status, time_t now,
			int warn_days, int crit_days, const char *why);

/* What node_exporter's textfile says about the run itself. */
struct report_run {
	int status;            /* audit's, 0-3; 3: it did not complete */
	double started;        /* Unix time, with fractions */
	double duration;       /* seconds */
	double last_success;   /* the latest run that completed: this one, or the previous
				  file's; 0 when none is known */
};

/*
 * node_exporter's textfile format (SPEC §7): the run's success, duration and times, then
 * (only when the audit completed, since a partial count is not a count) entries, values by
 * state, findings by code and severity, the soonest expiry and, with report_keep_series, one
 * series per value. Passes `promtool check metrics`. 0, or -1 when writing failed.
 */
int report_write_prometheus(struct report *r, FILE *fp, const struct report_run *run);

/*
 * The smimepub_audit_last_success_timestamp_seconds sample of an earlier textfile
 * text[0..len) (not NUL-terminated), so a failed run keeps saying when the last good one was.
 * 0 with *out set, or -1 when the text has no such sample with a finite, positive value.
 */
int report_prom_last_success(const char *text, size_t len, double *out);

void report_free(struct report *r);

/* For the writers: a record's string member, "" when absent; an RFC 3339 UTC time
   ("2026-06-15T00:00:00Z") as time_t, or -1; a summary count, 0 when absent; a label value of
   the text format written with backslash, double quote and line feed escaped. */
const char *report_str(const json_t *o, const char *key);
time_t report_utc_time(const char *s);
long report_summary_int(const struct report *r, const char *key);
void report_prom_label(FILE *fp, const char *s);

#endif
