/* smimepub audit: check every certificate in the directory or an LDIF export (SPEC §2, §3). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "advice.h"
#include "cli.h"
#include "frame.h"
#include "smimepub/audit.h"
#include "smimepub/ldif_in.h"
#include "workers.h"

/* Monitoring-plugin status when the audit could not complete. */
#define AUDIT_INCOMPLETE 3

/* With --jobs above 1, entries go to the analysis workers in batches (entry_batches). */
#define BATCH_DEPTH 4      /* batches per worker in flight */

struct audit_state {
	struct cli_opts *o;
	struct cli_out out;
	smp_trust *trust;
	smp_audit_summary *summary;
	struct cli_progress progress;
	smp_dir *dir;        /* the directory or export walked */
	size_t referrals;    /* every referral reported */
	size_t ad_partition_referrals;  /* of those, to AD partitions that hold no recipients */
	smp_error err;       /* why the walk stopped, when it did */
	struct entry_batches eb;  /* to the analysis workers (eb.pool), or eb.pool NULL: here */
	int failed;          /* a failure outside fn (printing before a referral): stop the walk */
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

	if (st->o->quiet && n == 0)
		return;
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

/* Audits one entry: its records to st->out, its findings to st->summary. */
static int audit_entry(struct audit_state *st, const smp_entry *e)
{
	smp_audit_entry *a = NULL;
	int r;

	r = smp_audit_entry_run(&a, e, st->trust, &st->err);
	if (r != 0)
		return r;
	r = smp_audit_summary_add(st->summary, a, &st->err);
	if (r == 0) {
		for (size_t i = 0; i < a->n_values; i++)
			report_value(st, a, &a->values[i]);
		for (size_t i = 0; i < a->n_entry_problems; i++)
			report_entry_problem(st, a, &a->entry_problems[i]);
	}
	smp_audit_entry_free(a);
	return r;
}

/* ---- Framing between the walk and the analysis workers ------------------------------------ */

/*
 * In a worker: audits a batch of entries. The result: status and message, the batch's summary
 * (entries, values, codes in order of first sighting, soonest expiries) and the records as
 * cli_out_record formatted them.
 */
static int audit_job(unsigned char **res, size_t *res_len, const unsigned char *job, size_t len,
		     void *ctx)
{
	struct audit_state *st = ctx;
	struct rd in = { job, len, 0, 0 };
	struct buf b = { 0 };
	const char *header;
	smp_entry e;
	char *out = NULL;
	size_t out_len = 0, count;
	uint32_t n;
	int r = 0;

	smp_error_clear(&st->err);
	if ((st->out.fp = open_memstream(&out, &out_len)) == NULL ||
	    smp_audit_summary_new(&st->summary, &st->err) != 0) {
		if (st->out.fp != NULL)
			fclose(st->out.fp);
		free(out);
		return SMP_ERR_NOMEM;
	}
	st->out.csv_header_done = 1;  /* the parent writes the header */
	n = entry_batch_read(&in, &header);
	for (uint32_t i = 0; i < n && r == 0; i++) {
		if ((r = rd_entry(&in, &e)) != 0) {
			smp_error_set(&st->err, r, "analysis worker received a damaged batch");
			break;
		}
		r = audit_entry(st, &e);
		rd_entry_release(&e);
	}
	fclose(st->out.fp);
	st->out.fp = NULL;
	buf_u32(&b, (uint32_t)(int32_t)r);
	buf_str(&b, st->err.msg);
	buf_u64(&b, smp_audit_summary_entries(st->summary));
	buf_u64(&b, smp_audit_summary_values(st->summary));
	buf_u32(&b, (uint32_t)smp_audit_summary_n_codes(st->summary));
	for (size_t i = 0; i < smp_audit_summary_n_codes(st->summary); i++) {
		buf_str(&b, smp_audit_summary_code(st->summary, i, &count));
		buf_u64(&b, count);
	}
	buf_u32(&b, (uint32_t)smp_audit_summary_n_soonest(st->summary));
	for (size_t i = 0; i < smp_audit_summary_n_soonest(st->summary); i++) {
		const smp_audit_expiry *x = smp_audit_summary_soonest(st->summary, i);

		buf_str(&b, x->dn);
		buf_str(&b, x->subject);
		buf_str(&b, x->sha256);
		buf_u64(&b, (uint64_t)(int64_t)x->not_after);
	}
	buf_bytes(&b, out, out_len);
	free(out);
	smp_audit_summary_free(st->summary);
	st->summary = NULL;
	if (b.failed) {
		free(b.p);
		return SMP_ERR_NOMEM;
	}
	*res = b.p;
	*res_len = b.len;
	return 0;
}

/* In the parent: one batch's result, in walk order: fold the summary, print the records. */
static int audit_result(const unsigned char *res, size_t len, void *ctx)
{
	struct audit_state *st = ctx;
	struct rd in = { res, len, 0, 0 };
	smp_audit_expiry x;
	const char *msg, *data, *code;
	size_t n, data_len;
	uint64_t entries, values, count;
	int status, r;

	status = (int)(int32_t)rd_u32(&in);
	msg = rd_str(&in);
	entries = rd_u64(&in);
	values = rd_u64(&in);
	if (!in.bad)
		smp_audit_summary_add_counts(st->summary, entries, values);
	n = rd_u32(&in);
	for (size_t i = 0; i < n && !in.bad; i++) {
		code = rd_str(&in);
		count = rd_u64(&in);
		if (code != NULL && !in.bad &&
		    (r = smp_audit_summary_add_code(st->summary, code, count, &st->err)) != 0)
			return r;
	}
	n = rd_u32(&in);
	for (size_t i = 0; i < n && !in.bad; i++) {
		memset(&x, 0, sizeof(x));
		x.dn = (char *)rd_str(&in);
		x.subject = (char *)rd_str(&in);
		snprintf(x.sha256, sizeof(x.sha256), "%s", (code = rd_str(&in)) ? code : "");
		x.not_after = (time_t)(int64_t)rd_u64(&in);
		if (!in.bad && (r = smp_audit_summary_add_expiry(st->summary, &x, &st->err)) != 0)
			return r;
	}
	data = rd_bytes(&in, &data_len);
	if (in.bad)
		return smp_error_set(&st->err, SMP_ERR_INTERNAL,
				     "an analysis worker sent a damaged result");
	cli_out_bytes(&st->out, data, data_len);
	cli_progress_update(&st->progress, smp_audit_summary_entries(st->summary), 0);
	if (status != 0)
		return smp_error_set(&st->err, status, "%s", msg != NULL ? msg : "unknown error");
	return 0;
}

static int audit_one(const smp_entry *e, void *ctx)
{
	struct audit_state *st = ctx;
	int r;

	if (st->failed != 0)
		return st->failed;
	if (st->eb.pool != NULL)
		return entry_batches_add(&st->eb, e, &st->err);
	r = audit_entry(st, e);
	cli_progress_update(&st->progress, smp_audit_summary_entries(st->summary), 0);
	return r;
}

/* Everything handed out so far printed, in order (before a referral, and at the end). */
static int audit_sync(struct audit_state *st)
{
	return entry_batches_sync(&st->eb, &st->err);
}

static void on_referral(const char *url, void *ctx)
{
	struct audit_state *st = ctx;
	int partition = smp_dir_referral_is_ad_partition(st->dir, url);
	const char *severity = partition ? "info" : "warning";
	const char *reason = partition ? "ad_partition" : "referral";
	char *msg = NULL;

	st->referrals++;
	st->ad_partition_referrals += partition != 0;
	if (st->failed != 0 || (st->failed = audit_sync(st)) != 0)
		return;  /* the walk stops at the next entry, or cmd_audit reports it at the end */
	if (asprintf(&msg, partition ? "the server referred part of the search to '%s', one of "
		     "Active Directory's configuration and DNS partitions, which hold no mail "
		     "recipients: not followed" : "the server referred part of the search to '%s'; "
		     "it was not followed: audit that directory separately if it holds contacts",
		     url) < 0)
		msg = NULL;
	if (st->out.format == CLI_FMT_TEXT) {
		fprintf(st->out.fp, "referral %s:\n    %-8s %-22s %s\n", url, severity, reason,
			msg ? msg : "");
		fflush(st->out.fp);
	} else {
		cli_out_record(&st->out,
			       json_pack("{s:s, s:s, s:s, s:s, s:s?}", "type", "referral", "url", url,
					 "severity", severity, "reason", reason, "message", msg));
	}
	free(msg);
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

static void text_summary(struct audit_state *st, int status)
{
	const smp_audit_summary *s = st->summary;
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

static void report_summary(struct audit_state *st, int status)
{
	const smp_audit_summary *s = st->summary;
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
		     status == AUDIT_INCOMPLETE ? " (incomplete)" : "") < 0)
		msg = NULL;
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

/* The directory or the export, walked the same way (an export streamed: no index). */
static int audit_directory(struct audit_state *st)
{
	smp_ldif_options lo = SMP_LDIF_OPTIONS_INIT;
	smp_dir *d = NULL;
	int r;

	lo.schema = st->o->conn.schema;
	lo.base = st->o->conn.base;
	lo.walk_only = 1;
	if (st->o->from_ldif != NULL)
		r = smp_dir_open_ldif_ex(&d, st->o->from_ldif, &lo, &st->err);
	else
		r = cli_connect(&d, st->o, &st->err);
	if (r != 0)
		return r;
	st->dir = d;
	r = smp_dir_walk(d, audit_one, on_referral, st, &st->err);
	st->dir = NULL;
	smp_dir_close(d);
	return r;
}

int cmd_audit(struct cli_opts *o)
{
	struct audit_state st;
	int r, status, jobs;

	memset(&st, 0, sizeof(st));
	st.o = o;
	cli_out_init(&st.out, o, stdout);
	if (o->nargs > 0) {
		cli_error("audit takes no arguments (unexpected '%s'): use --from-ldif FILE for "
			  "an export", o->args[0]);
		return 64;
	}
	if ((r = cli_trust(&st.trust, o, &st.err)) != 0) {
		cli_error("audit could not start: %s", st.err.msg);
		return AUDIT_INCOMPLETE;
	}
	if ((r = smp_audit_summary_new(&st.summary, &st.err)) != 0) {
		cli_error("audit could not start: %s", st.err.msg);
		smp_trust_free(st.trust);
		return AUDIT_INCOMPLETE;
	}
	jobs = workers_count(o->jobs);
	st.eb.on_result = audit_result;
	st.eb.ctx = &st;
	/* before connecting: the workers inherit the trust context, not the connection */
	if (jobs > 1 &&
	    (r = workers_start(&st.eb.pool, jobs, BATCH_DEPTH, audit_job, &st, &st.err)) != 0) {
		cli_error("audit could not start: %s", st.err.msg);
		smp_audit_summary_free(st.summary);
		smp_trust_free(st.trust);
		return AUDIT_INCOMPLETE;
	}
	cli_progress_start(&st.progress, o, "audit");
	r = audit_directory(&st);
	if (r == 0)
		r = st.failed;
	if (!st.eb.failed) {
		/* print what was handed out before the walk ended, as audit_one would have */
		smp_error walk_err = st.err;
		int rs = audit_sync(&st);

		if (r == 0)
			r = rs;
		else
			st.err = walk_err;
	}
	if (workers_stop(st.eb.pool, r == 0 ? &st.err : NULL) != 0 && r == 0)
		r = SMP_ERR_INTERNAL;
	entry_batches_release(&st.eb);
	cli_progress_end(&st.progress);
	if (r != 0) {
		cli_error("audit could not complete: %s",
			  st.err.msg[0] ? st.err.msg : "unknown error");
		status = AUDIT_INCOMPLETE;
	} else {
		status = smp_audit_summary_exit_status(st.summary);
		/* part of the directory was not audited: at least a warning (2 ranks as 1) */
		if (st.referrals > st.ad_partition_referrals)
			status = smp_status_worse(status, 1);
	}
	if (o->quiet || (status == AUDIT_INCOMPLETE && smp_audit_summary_entries(st.summary) == 0 &&
			 o->format == CLI_FMT_TEXT))
		;  /* nothing to sum up */
	else if (o->format == CLI_FMT_TEXT)
		text_summary(&st, status);
	else
		report_summary(&st, status);
	smp_audit_summary_free(st.summary);
	smp_trust_free(st.trust);
	return status;
}
