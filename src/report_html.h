/*
 * smimepub audit --format html: one self-contained page (no script, no font, nothing fetched)
 * built from the audit's own JSON records, so that it says exactly what --format json says.
 * Every text from a certificate or the directory is escaped.
 */
#ifndef SMIMEPUB_REPORT_HTML_H
#define SMIMEPUB_REPORT_HTML_H

#include <stdio.h>
#include <time.h>

#include <jansson.h>

struct html_report;

/* A report whose expiry chart covers the 18 months from the month of now. NULL: no memory. */
struct html_report *html_report_new(time_t now, const char *title);

/* Takes one audit record (certificate, entry, referral or summary; borrowed). 0, or -1
   when out of memory. */
int html_report_add(struct html_report *r, const json_t *record);

/* The page into fp. 0, or -1 when writing failed. */
int html_report_write(const struct html_report *r, FILE *fp);

/*
 * A stream whose every line is one JSON record for r (what cli_out_record writes in JSON
 * format): the audit renders into it as it would to stdout, in process or from its workers,
 * and the report keeps only its aggregates and the rows to act on. A write fails (ferror)
 * when memory runs out or a line is not a JSON object. fclose it before html_report_write.
 */
FILE *html_report_sink(struct html_report *r);

/*
 * The same aggregates as a monitoring plugin's output (Monitoring Plugins guidelines, SPEC
 * §7): "SMIMEPUB AUDIT <STATUS> - <text> | <perfdata>", then up to 10 of the worst rows.
 * status is audit's (0-3), why the reason an audit could not complete (or NULL); warn_days
 * and crit_days the thresholds of soonest_expiry_days. 0, or -1 when writing failed.
 */
int html_report_write_nagios(const struct html_report *r, FILE *fp, int status, time_t now,
			     int warn_days, int crit_days, const char *why);

void html_report_free(struct html_report *r);

#endif
