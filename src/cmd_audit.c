/* smimepub audit: check every certificate in the directory or an LDIF export (SPEC §2, §3). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smimepub/engine.h"
#include "smimepub/ldif_in.h"

#include "advice.h"
#include "cli.h"
#include "report.h"
#include "stop.h"

/* Monitoring-plugin status when the audit could not complete. */
#define AUDIT_INCOMPLETE 3

struct audit_state {
	struct cli_opts *o;
	struct cli_out out;
	struct cli_progress progress;
	size_t referrals;    /* every referral reported */
	size_t ad_partition_referrals;  /* of those, to AD partitions that hold no recipients */
	struct timespec started, started_mono;  /* for the textfile's time and duration */
};

static json_t *problems_json(const smp_problem *p, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, cli_problem_json(&p[i], NULL));
	return arr;
}

/* One record per certificate value: where it is, then the certificate's fields. */
static void report_value(struct audit_state *st, const smp_audit_entry *a,
			 const smp_audit_value *v)
{
	const smp_problem *p;
	size_t n = smp_audit_value_problems(v, &p);
	json_t *obj;
	char role[96];

	if (st->out.quiet && n == 0)
		return;  /* -q: only what needs action (not for the page: its chart counts all) */
	obj = json_pack("{s:s, s:s, s:I, s:I, s:s?, s:I}", "type", "certificate", "dn",
			a->entry->dn ? a->entry->dn : "", "index", (json_int_t)v->index,
			"values", (json_int_t)a->n_values, "attribute", v->attr,
			"size", (json_int_t)v->size);
	if (obj == NULL)
		return;
	if (v->info != NULL) {
		json_object_update_new(obj, cli_certinfo_json(v->info));
	} else {
		if (st->out.format != CLI_FMT_TEXT)
			json_object_set_new(obj, "sha256", json_string(v->sha256));
		json_object_set_new(obj, "message", json_string("not a certificate"));
		json_object_set_new(obj, "problems", problems_json(p, n));
	}
	if (st->out.format == CLI_FMT_TEXT) {
		snprintf(role, sizeof(role), "index %zu of %zu values%s%s", v->index, a->n_values,
			 v->attr ? ", " : "", v->attr ? v->attr : "");
		json_object_set_new(obj, "role", json_string(role));
	}
	cli_out_record(&st->out, obj);
}

/* One record per problem of the entry as a whole. */
static void report_entry_problem(struct audit_state *st, const smp_audit_entry *a,
				 const smp_problem *p)
{
	json_t *obj;
	char *text;

	obj = json_pack("{s:s, s:s, s:s, s:s, s:o}", "type", "entry", "dn",
			a->entry->dn ? a->entry->dn : "", "code", p->code, "severity",
			smp_severity_name(p->severity), "problems", problems_json(p, 1));
	if (obj != NULL && st->out.format == CLI_FMT_TEXT)
		json_object_set_new(obj, "role", json_string("entry"));
	else if (obj != NULL && st->out.format == CLI_FMT_CSV && p->message != NULL &&
		 (text = cli_problem_text(p)) != NULL) {
		json_object_set_new(obj, "message", json_string(text));
		free(text);
	}
	cli_out_record(&st->out, obj);
}

/* A referral the engine reports: counted for the summary, and one record. */
static void report_referral(struct audit_state *st, const smp_item *it)
{
	int partition = strcmp(it->reason, "ad_partition") == 0;
	const char *severity = partition ? "info" : "warning";

	st->referrals++;
	st->ad_partition_referrals += partition;
	if (st->out.format == CLI_FMT_TEXT) {
		fprintf(st->out.fp, "referral %s:\n    %-8s %-22s %s\n", it->source, severity,
			it->reason, it->message);
		fflush(st->out.fp);
	} else {
		cli_out_record(&st->out,
			       json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "referral", "url",
					 it->source, "severity", severity, "reason", it->reason,
					 "message", it->message));
	}
}

static int on_item(const smp_item *it, void *ctx)
{
	struct audit_state *st = ctx;
	const smp_audit_entry *a = it->audit;

	if (a == NULL) {
		report_referral(st, it);
		return 0;
	}
	for (size_t i = 0; i < a->n_values; i++)
		report_value(st, a, &a->values[i]);
	for (size_t i = 0; i < a->n_entry_problems; i++)
		report_entry_problem(st, a, &a->entry_problems[i]);
	return 0;
}

/* In an analysis worker: the records of one entry into fp, for the parent's on_output. */
static int render(const smp_item *it, FILE *fp, void *ctx)
{
	struct audit_state *st = ctx;

	st->out.fp = fp;
	st->out.csv_header_done = 1;  /* the parent writes the header */
	st->out.index_legend_done = 1;  /* and the numbering legend */
	on_item(it, ctx);
	/* a record that could not be built is a batch that failed, not one left out */
	return cli_stop == CLI_STOP_NOMEM ? SMP_ERR_NOMEM : 0;
}

/* In the parent: what a worker rendered, in walk order. */
static void on_output(const char *data, size_t len, void *ctx)
{
	struct audit_state *st = ctx;

	if (st->out.format == CLI_FMT_TEXT && !st->out.index_legend_done && len > 0) {
		fprintf(st->out.fp, "%s\n", CLI_INDEX_LEGEND);
		st->out.index_legend_done = 1;
	}
	cli_out_bytes(&st->out, data, len);
}

static void on_progress(size_t done, size_t total, void *ctx)
{
	struct audit_state *st = ctx;

	cli_progress_update(&st->progress, done, total);
}

static const char *status_name(int status)
{
	switch (status) {
	case 0: return "ok";
	case 1: return "warning";
	case 2: return "critical";
	default: return "unknown";
	}
}

/* ", part of the directory not audited (referrals)" when a referral raised the status. */
static const char *unfollowed_note(const struct audit_state *st)
{
	return st->referrals > st->ad_partition_referrals
		       ? ", part of the directory not audited (referrals)" : "";
}

static void text_summary(struct audit_state *st, const smp_audit_summary *s, int status)
{
	FILE *fp = st->out.fp;
	char when[32];
	size_t count;

	fprintf(fp, "summary: %s: %zu entries, %zu certificates, %zu critical, %zu warnings%s%s\n",
		status_name(status), smp_audit_summary_entries(s), smp_audit_summary_values(s),
		smp_audit_summary_severity_count(s, SMP_SEV_CRITICAL),
		smp_audit_summary_severity_count(s, SMP_SEV_WARNING), unfollowed_note(st),
		status == AUDIT_INCOMPLETE ? " (incomplete)" : "");
	for (size_t i = 0; i < smp_audit_summary_n_codes(s); i++) {
		const char *code = smp_audit_summary_code(s, i, &count);
		fprintf(fp, "  %-22s %zu\n", code, count);
	}
	if (st->referrals > st->ad_partition_referrals)
		fprintf(fp, "  %-22s %zu (not followed)\n", "referrals",
			st->referrals - st->ad_partition_referrals);
	if (st->ad_partition_referrals > 0)
		fprintf(fp, "  %-22s %zu (AD configuration and DNS partitions: no recipients)\n",
			"ad_partition_referrals", st->ad_partition_referrals);
	if (smp_audit_summary_n_soonest(s) > 0)
		fprintf(fp, "soonest expiries:\n");
	for (size_t i = 0; i < smp_audit_summary_n_soonest(s); i++) {
		const smp_audit_expiry *x = smp_audit_summary_soonest(s, i);
		smp_format_time(when, sizeof(when), x->not_after);
		fprintf(fp, "  %.10s  %s  (%s)\n", when, x->dn, x->subject);
	}
	fflush(fp);
}

static void report_summary(struct audit_state *st, const smp_audit_summary *s, int status)
{
	json_t *counts = json_object(), *soonest = json_array(), *obj;
	char when[32];
	char *msg = NULL;
	size_t count;

	for (size_t i = 0; i < smp_audit_summary_n_codes(s); i++) {
		const char *code = smp_audit_summary_code(s, i, &count);
		json_object_set_new(counts, code, json_integer((json_int_t)count));
	}
	for (size_t i = 0; i < smp_audit_summary_n_soonest(s); i++) {
		const smp_audit_expiry *x = smp_audit_summary_soonest(s, i);
		smp_format_time(when, sizeof(when), x->not_after);
		json_array_append_new(soonest, json_pack("{s:s, s:s, s:s, s:s}", "dn", x->dn,
							 "subject", x->subject, "sha256",
							 x->sha256, "not_after", when));
	}
	if (asprintf(&msg, "%zu entries, %zu certificates: %zu critical, %zu warnings%s%s",
		     smp_audit_summary_entries(s), smp_audit_summary_values(s),
		     smp_audit_summary_severity_count(s, SMP_SEV_CRITICAL),
		     smp_audit_summary_severity_count(s, SMP_SEV_WARNING), unfollowed_note(st),
		     status == AUDIT_INCOMPLETE ? " (incomplete)" : "") < 0) {
		msg = NULL;
		cli_stop_no_memory();  /* the record would not be whole */
	}
	obj = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:I, s:b, s:s?}",
			"type", "summary", "status", status_name(status),
			"entries", (json_int_t)smp_audit_summary_entries(s),
			"certificates", (json_int_t)smp_audit_summary_values(s),
			"critical", (json_int_t)smp_audit_summary_severity_count(s, SMP_SEV_CRITICAL),
			"warnings", (json_int_t)smp_audit_summary_severity_count(s, SMP_SEV_WARNING),
			"counts", counts, "soonest_expiries", soonest,
			"referrals", (json_int_t)st->referrals,
			"ad_partition_referrals", (json_int_t)st->ad_partition_referrals,
			"complete", status != AUDIT_INCOMPLETE, "message", msg);
	free(msg);
	cli_out_record(&st->out, obj);
}

/* The summary where the format has room for it: CSV holds only value rows, so stderr. */
static void summary_out(struct audit_state *st, const smp_audit_summary *s, int status)
{
	if (st->out.format == CLI_FMT_CSV) {
		struct audit_state tmp = *st;

		tmp.out.fp = stderr;
		text_summary(&tmp, s, status);
	} else if (st->out.format == CLI_FMT_TEXT) {
		text_summary(st, s, status);
	} else {
		report_summary(st, s, status);
	}
}

static int write_html(FILE *fp, void *ctx)
{
	return report_write_html(ctx, fp);
}

struct prom_file {
	struct report *report;
	struct report_run run;
};

static int write_prom(FILE *fp, void *ctx)
{
	struct prom_file *p = ctx;

	return report_write_prometheus(p->report, fp, &p->run);
}

/* When the latest completed audit ran, from the file this one replaces; 0 when unknown. */
static double previous_success(const char *path)
{
	const size_t max = 64 * 1024;  /* the sample comes before the per-certificate series */
	char *buf = malloc(max);
	FILE *fp = buf != NULL ? fopen(path, "r") : NULL;
	double v = 0;

	if (fp != NULL) {
		if (report_prom_last_success(buf, fread(buf, 1, max, fp), &v) != 0)
			v = 0;
		fclose(fp);
	}
	free(buf);
	return v;
}

static double seconds(const struct timespec *t)
{
	return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

/*
 * The report formats: the records went, as JSON, into the report's sink instead of stdout;
 * the plugin's output goes to stdout, the page and the textfile to --output at the end (also
 * for an audit that could not complete: they say so). Returns the audit's status, or 3 when
 * the file could not be written.
 */
static int report_finish(struct audit_state *st, struct report *report, int status,
			 const char *why)
{
	const struct cli_opts *o = st->o;
	struct prom_file prom = { report, { status, seconds(&st->started), 0, 0 } };
	struct timespec end;
	int r;

	if (st->out.fp != NULL && fclose(st->out.fp) != 0 && status != AUDIT_INCOMPLETE) {
		cli_error("audit could not complete: the report ran out of memory");
		status = prom.run.status = AUDIT_INCOMPLETE;
		why = "out of memory";
	}
	st->out.fp = NULL;
	switch (o->format) {
	case CLI_FMT_NAGIOS:
		/* the plugin's output: stdout, its status the exit code */
		report_write_nagios(report, stdout, status, o->trust.at != 0 ? o->trust.at :
				    time(NULL), o->trust.warn_days, o->trust.crit_days, why);
		return status;
	case CLI_FMT_PROMETHEUS:
		clock_gettime(CLOCK_MONOTONIC, &end);
		prom.run.duration = seconds(&end) - seconds(&st->started_mono);
		prom.run.last_success = status != AUDIT_INCOMPLETE ? prom.run.started
								   : previous_success(o->output);
		r = cli_replace_file(o->output, write_prom, &prom);
		break;
	default:
		r = cli_replace_file(o->output, write_html, report);
	}
	if (r != 0)
		return AUDIT_INCOMPLETE;
	if (o->verbose)
		fprintf(stderr, "smimepub: wrote the report '%s'\n", o->output);
	return status;
}

/* The directory, or the export streamed (no index): walked the same way. */
static int open_directory(smp_dir **out, const struct cli_opts *o, smp_error *err)
{
	smp_ldif_options lo = SMP_LDIF_OPTIONS_INIT;

	lo.schema = o->conn.schema;
	lo.base = o->conn.base;
	lo.walk_only = 1;
	if (o->from_ldif != NULL)
		return smp_dir_open_ldif_ex(out, o->from_ldif, &lo, err);
	return cli_connect(out, o, err);
}

int cli_audit_run(const struct cli_opts *o, smp_dir *dir, smp_trust *trust, FILE *fp,
		  smp_error *err)
{
	struct audit_state st;
	smp_session_options so = SMP_SESSION_OPTIONS_INIT;
	smp_audit_options ao = SMP_AUDIT_OPTIONS_INIT;
	smp_audit_summary *summary = NULL;
	smp_session *s = NULL;
	int r, status;

	memset(&st, 0, sizeof(st));
	st.o = (struct cli_opts *)o;
	cli_out_init(&st.out, o, fp);
	st.out.format = CLI_FMT_JSON;
	st.out.quiet = 0;
	so.dir = dir;
	so.trust = trust;
	so.cancel = &cli_stop;
	ao.jobs = 1;  /* in process: a server's threads are no place to fork workers from */
	ao.on_item = on_item;
	ao.ctx = &st;
	if ((r = smp_session_new(&s, &so, err)) == 0)
		r = smp_audit(s, &ao, &summary, err);
	if (summary != NULL) {
		status = r != 0 ? AUDIT_INCOMPLETE : smp_audit_summary_exit_status(summary);
		if (r == 0 && st.referrals > st.ad_partition_referrals)
			status = smp_status_worse(status, 1);
		report_summary(&st, summary, status);
	} else {
		status = AUDIT_INCOMPLETE;
	}
	smp_audit_summary_free(summary);
	smp_session_free(s);
	return status;
}

int cmd_audit(struct cli_opts *o)
{
	struct audit_state st;
	smp_session_options so = SMP_SESSION_OPTIONS_INIT;
	smp_audit_options ao = SMP_AUDIT_OPTIONS_INIT;
	smp_audit_summary *summary = NULL;
	smp_session *s = NULL;
	smp_trust *trust = NULL;
	smp_dir *dir = NULL;
	smp_error err = SMP_ERROR_INIT;
	struct report *report = NULL;
	int to_file = o->format == CLI_FMT_HTML || o->format == CLI_FMT_PROMETHEUS;
	int r, status;

	memset(&st, 0, sizeof(st));
	st.o = o;
	clock_gettime(CLOCK_REALTIME, &st.started);
	clock_gettime(CLOCK_MONOTONIC, &st.started_mono);
	cli_out_init(&st.out, o, stdout);
	if (o->nargs > 0) {
		cli_error("audit takes no arguments (unexpected '%s'): use --from-ldif FILE for "
			  "an export", o->args[0]);
		return 64;
	}
	if (to_file != (o->output != NULL)) {
		cli_error(o->output == NULL ? "audit --format %s needs --output FILE (the report is "
			  "one file)" : "--output is for audit --format html or prometheus",
			  cli_format_name(o->format));
		return 64;
	}
	if (o->per_certificate && o->format != CLI_FMT_PROMETHEUS) {
		cli_error("--per-certificate is for audit --format prometheus");
		return 64;
	}
	if (o->format >= CLI_FMT_HTML) {
		/* the chart's months start at --at, as every judgement of the run does */
		if ((report = report_new(o->trust.at != 0 ? o->trust.at : time(NULL),
					 "smimepub audit")) == NULL ||
		    (st.out.fp = report_sink(report)) == NULL ||
		    (o->per_certificate && report_keep_series(report) != 0)) {
			cli_error("audit could not start: %s", report != NULL && st.out.fp != NULL
				  ? "cannot create a temporary file for the series" : "out of memory");
			if (st.out.fp != NULL)
				fclose(st.out.fp);
			report_free(report);
			return AUDIT_INCOMPLETE;
		}
		st.out.format = CLI_FMT_JSON;
		st.out.quiet = 0;
	}
	if ((r = cli_trust(&trust, o, &err)) != 0) {
		cli_error("audit could not start: %s", err.msg);
		status = AUDIT_INCOMPLETE;
		goto out;  /* a page or a plugin line still says so */
	}
	so.trust = trust;
	so.cancel = &cli_stop;  /* SIGINT, SIGTERM, a closed output: the walk stops (status 3) */
	ao.jobs = o->jobs;
	ao.on_item = on_item;
	ao.on_progress = on_progress;
	ao.render = render;
	ao.on_output = on_output;
	ao.ctx = &st;
	cli_progress_start(&st.progress, o, "audit");
	if ((r = open_directory(&dir, o, &err)) == 0 &&
	    (r = cli_trust_directory(trust, dir, o, &err)) == 0) {
		so.dir = dir;
		if ((r = smp_session_new(&s, &so, &err)) == 0)
			r = smp_audit(s, &ao, &summary, &err);
	} else {
		/* nothing audited, but the summary still says so (JSON, CSV) */
		smp_error scratch = SMP_ERROR_INIT;

		if (smp_audit_summary_new(&summary, &scratch) != 0)
			summary = NULL;
	}
	cli_progress_end(&st.progress);
	if (summary == NULL) {
		cli_error("audit could not start: %s", err.msg);
		status = AUDIT_INCOMPLETE;
		goto out;
	}
	if (r != 0) {
		/* a paged walk cannot resume on a new connection (the cookie is the old one's):
		   say how far it got; the summary counts what was audited */
		cli_error("audit could not complete after %zu entries: %s",
			  smp_audit_summary_entries(summary), err.msg[0] ? err.msg : "unknown error");
		status = AUDIT_INCOMPLETE;
	} else {
		status = smp_audit_summary_exit_status(summary);
		/* part of the directory was not audited: at least a warning (2 ranks as 1) */
		if (st.referrals > st.ad_partition_referrals)
			status = smp_status_worse(status, 1);
	}
	if (report != NULL)
		summary_out(&st, summary, status);  /* the page always has its summary */
	else if (o->quiet || (status == AUDIT_INCOMPLETE &&
			      smp_audit_summary_entries(summary) == 0 && o->format == CLI_FMT_TEXT))
		;  /* nothing to sum up */
	else
		summary_out(&st, summary, status);
out:
	if (report != NULL)
		status = report_finish(&st, report, status, status == AUDIT_INCOMPLETE ?
				     (err.msg[0] != '\0' ? err.msg : "interrupted") : NULL);
	report_free(report);
	smp_audit_summary_free(summary);
	smp_session_free(s);
	if (dir != NULL)
		smp_dir_close(dir);
	smp_trust_free(trust);
	return status;
}
