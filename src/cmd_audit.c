/* smimepub audit: check every certificate in the directory or an LDIF export (SPEC §2, §3). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "smimepub/audit.h"
#include "smimepub/ldif_in.h"

/* Monitoring-plugin status when the audit could not complete. */
#define AUDIT_INCOMPLETE 3

struct audit_state {
	struct cli_opts *o;
	struct cli_out out;
	smp_trust *trust;
	smp_audit_summary *summary;
	struct cli_progress progress;
	size_t referrals;
	smp_error err;       /* why the walk stopped, when it did */
};

static json_t *problems_json(const smp_problem *p, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "code", p[i].code,
						     "severity", smp_severity_name(p[i].severity),
						     "message", p[i].message ? p[i].message : ""));
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

	obj = json_pack("{s:s, s:s, s:s, s:s, s:o}", "type", "entry", "dn",
			a->entry->dn ? a->entry->dn : "", "code", p->code, "severity",
			smp_severity_name(p->severity), "problems", problems_json(p, 1));
	if (obj != NULL && st->out.format == CLI_FMT_TEXT)
		json_object_set_new(obj, "role", json_string("entry"));
	else if (obj != NULL && st->out.format == CLI_FMT_CSV && p->message != NULL)
		json_object_set_new(obj, "message", json_string(p->message));
	cli_out_record(&st->out, obj);
}

static int audit_one(const smp_entry *e, void *ctx)
{
	struct audit_state *st = ctx;
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
	cli_progress_update(&st->progress, smp_audit_summary_entries(st->summary), 0);
	return r;
}

static void on_referral(const char *url, void *ctx)
{
	struct audit_state *st = ctx;
	char *msg = NULL;

	st->referrals++;
	if (asprintf(&msg, "the server referred part of the search to '%s'; it was not "
		     "followed: audit that directory separately if it holds contacts", url) < 0)
		msg = NULL;
	if (st->out.format == CLI_FMT_TEXT) {
		fprintf(st->out.fp, "referral %s:\n    %-8s %-22s %s\n", url, "warning", "referral",
			msg ? msg : "");
		fflush(st->out.fp);
	} else {
		cli_out_record(&st->out,
			       json_pack("{s:s, s:s, s:s, s:s, s:s?}", "type", "referral", "url", url,
					 "severity", "warning", "reason", "referral", "message", msg));
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

static void text_summary(struct audit_state *st, int status)
{
	const smp_audit_summary *s = st->summary;
	FILE *fp = st->out.fp;
	char when[32];
	size_t count;

	fprintf(fp, "summary: %s: %zu entries, %zu certificates, %zu critical, %zu warnings%s\n",
		status_name(status), smp_audit_summary_entries(s), smp_audit_summary_values(s),
		smp_audit_summary_severity_count(s, SMP_SEV_CRITICAL),
		smp_audit_summary_severity_count(s, SMP_SEV_WARNING),
		status == AUDIT_INCOMPLETE ? " (incomplete)" : "");
	for (size_t i = 0; i < smp_audit_summary_n_codes(s); i++) {
		const char *code = smp_audit_summary_code(s, i, &count);
		fprintf(fp, "  %-22s %zu\n", code, count);
	}
	if (st->referrals > 0)
		fprintf(fp, "  %-22s %zu (not followed)\n", "referrals", st->referrals);
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
	if (asprintf(&msg, "%zu entries, %zu certificates: %zu critical, %zu warnings%s",
		     smp_audit_summary_entries(s), smp_audit_summary_values(s),
		     smp_audit_summary_severity_count(s, SMP_SEV_CRITICAL),
		     smp_audit_summary_severity_count(s, SMP_SEV_WARNING),
		     status == AUDIT_INCOMPLETE ? " (incomplete)" : "") < 0)
		msg = NULL;
	obj = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:b, s:s?}",
			"type", "summary", "status", status_name(status),
			"entries", (json_int_t)smp_audit_summary_entries(s),
			"certificates", (json_int_t)smp_audit_summary_values(s),
			"critical", (json_int_t)smp_audit_summary_severity_count(s, SMP_SEV_CRITICAL),
			"warnings", (json_int_t)smp_audit_summary_severity_count(s, SMP_SEV_WARNING),
			"counts", counts, "soonest_expiries", soonest,
			"referrals", (json_int_t)st->referrals,
			"complete", status != AUDIT_INCOMPLETE, "message", msg);
	free(msg);
	cli_out_record(&st->out, obj);
}

static int audit_directory(struct audit_state *st)
{
	smp_dir *d = NULL;
	int r;

	r = cli_connect(&d, st->o, &st->err);
	if (r != 0)
		return r;
	r = smp_dir_walk(d, audit_one, on_referral, st, &st->err);
	smp_dir_close(d);
	return r;
}

int cmd_audit(struct cli_opts *o)
{
	struct audit_state st;
	int r, status;

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
	cli_progress_start(&st.progress, o, "audit");
	if (o->from_ldif != NULL)
		r = smp_ldif_walk(o->from_ldif, audit_one, &st, &st.err);
	else
		r = audit_directory(&st);
	cli_progress_end(&st.progress);
	if (r != 0) {
		cli_error("audit could not complete: %s",
			  st.err.msg[0] ? st.err.msg : "unknown error");
		status = AUDIT_INCOMPLETE;
	} else {
		status = smp_audit_summary_exit_status(st.summary);
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
