/*
 * smimepub audit --format prometheus (report.h): node_exporter's textfile collector format.
 * Every family is a gauge in base units (seconds, Unix time); no address or DN appears as a
 * label but in the per-certificate series, which the administrator asks for by name, because
 * each distinct label set is a series Prometheus keeps.
 */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LAST_SUCCESS "smimepub_audit_last_success_timestamp_seconds"

static void family(FILE *fp, const char *name, const char *help)
{
	fprintf(fp, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* The series streamed while the audit ran, copied after their HELP and TYPE. */
static int copy_series(struct report *r, FILE *fp)
{
	char buf[8192];
	size_t n;

	if (fflush(r->series) != 0 || fseek(r->series, 0, SEEK_SET) != 0)
		return -1;
	family(fp, "smimepub_certificate_expiry_timestamp_seconds",
	       "When each published certificate expires, as Unix time (--per-certificate).");
	while ((n = fread(buf, 1, sizeof(buf), r->series)) > 0)
		if (fwrite(buf, 1, n, fp) != n)
			return -1;
	return ferror(r->series) ? -1 : 0;
}

static void findings(const struct report *r, FILE *fp)
{
	if (r->nf == 0)
		return;
	family(fp, "smimepub_findings", "Problems found by the audit, by code and severity.");
	for (size_t i = 0; i < r->nf; i++) {
		fputs("smimepub_findings{code=\"", fp);
		report_prom_label(fp, r->f[i].code);
		fputs("\",severity=\"", fp);
		report_prom_label(fp, r->f[i].severity);
		fprintf(fp, "\"} %zu\n", r->f[i].count);
	}
}

int report_write_prometheus(struct report *r, FILE *fp, const struct report_run *run)
{
	static const char *const states[] = { "ok", "warning", "critical" };
	const json_t *soonest = json_array_get(json_object_get(r->summary, "soonest_expiries"), 0);
	int complete = run->status >= 0 && run->status < 3;
	time_t first;

	family(fp, "smimepub_audit_success", "Whether the audit completed (1) or not (0).");
	fprintf(fp, "smimepub_audit_success %d\n", complete);
	family(fp, "smimepub_audit_status", "The audit's exit status: 0 clean, 1 warnings only, "
	       "2 critical findings, 3 could not complete.");
	fprintf(fp, "smimepub_audit_status %d\n", complete ? run->status : 3);
	family(fp, "smimepub_audit_duration_seconds", "How long the audit ran.");
	fprintf(fp, "smimepub_audit_duration_seconds %.3f\n", run->duration);
	family(fp, "smimepub_audit_last_run_timestamp_seconds",
	       "When the audit started, as Unix time.");
	fprintf(fp, "smimepub_audit_last_run_timestamp_seconds %.3f\n", run->started);
	if (run->last_success > 0) {
		family(fp, LAST_SUCCESS, "When the latest audit that completed started, as Unix time.");
		fprintf(fp, LAST_SUCCESS " %.3f\n", run->last_success);
	}
	if (complete) {
		/* an audit that stopped half way has no counts to give: absent, not zero */
		family(fp, "smimepub_entries", "Directory entries audited (those that hold "
		       "certificates or had a problem).");
		fprintf(fp, "smimepub_entries %ld\n", report_summary_int(r, "entries"));
		family(fp, "smimepub_certificates", "Published certificate values, by their worst "
		       "problem.");
		for (int i = 0; i < 3; i++)
			fprintf(fp, "smimepub_certificates{state=\"%s\"} %ld\n", states[i],
				r->state[i]);
		findings(r, fp);
		first = soonest != NULL ? report_utc_time(report_str(soonest, "not_after"))
					: (time_t)-1;
		if (first != (time_t)-1) {
			family(fp, "smimepub_certificate_soonest_expiry_timestamp_seconds",
			       "When the first published certificate that has not yet expired "
			       "expires, as Unix time.");
			fprintf(fp, "smimepub_certificate_soonest_expiry_timestamp_seconds %lld\n",
				(long long)first);
		}
		if (r->series != NULL && copy_series(r, fp) != 0)
			return -1;
	}
	fflush(fp);
	return ferror(fp) ? -1 : 0;
}

int report_prom_last_success(const char *text, size_t len, double *out)
{
	const size_t nlen = strlen(LAST_SUCCESS);
	size_t at = 0;

	while (at < len) {
		const char *line = text + at, *nl = memchr(line, '\n', len - at);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - at;
		char value[64], *end;
		double v;

		at += n + 1;
		/* "<name> <value>[ <timestamp>]", the only form this program writes */
		if (n <= nlen + 1 || n - nlen - 1 >= sizeof(value) ||
		    memcmp(line, LAST_SUCCESS, nlen) != 0 || line[nlen] != ' ')
			continue;
		memcpy(value, line + nlen + 1, n - nlen - 1);
		value[n - nlen - 1] = '\0';
		v = strtod(value, &end);
		if (end != value && (*end == '\0' || *end == ' ') && isfinite(v) && v > 0) {
			*out = v;
			return 0;
		}
	}
	return -1;
}
