/*
 * smimepub engine: audit, which walks every entry that holds a certificate and reports what
 * is wrong with each (engine.h).
 *
 * With jobs > 1 the analysis (chains, signatures: nearly all of the CPU) runs in worker
 * processes (lib/parallel/workers.h): entries go to them in batches, and each batch comes back
 * in one of two forms. As data: every entry with its findings (frame.h: buf_entry,
 * buf_audit_entry), which the parent reads back into an smp_audit_entry, adds to the summary
 * and hands to on_item in walk order. Or, when the caller gives a render function, as the
 * bytes it wrote for each entry in the worker, with the batch's part of the summary: the
 * parent then only copies bytes and folds counts. The second exists for speed: the parent is
 * one process, and reading the findings back and rendering them there doubles its CPU (audit
 * of 10,000 certificates from an export, JSON: parent 0.26-0.33 s against 0.11-0.16 s, the
 * workers 0.6-0.8 s together), which would cap the audit at about three workers' worth of
 * analysis. Nothing a front end formats is known here either way: render is the front end's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "frame.h"
#include "workers.h"

/* Batches per worker in flight (entry_batches: audit's and prune's walk). */
#define AUDIT_BATCH_DEPTH 4

struct audit_run {
	smp_session *s;
	const smp_audit_options *o;
	smp_audit_summary *summary;
	smp_error err;            /* why the walk stopped, when it did */
	struct entry_batches eb;  /* to the analysis workers (eb.pool), or eb.pool NULL: here */
	int failed;               /* a failure outside the walk's callback (a referral's sync,
				     the item callback): stop the walk */
};

/* Sums up a and hands it to on_item. Returns 0, on_item's value or SMP_ERR_NOMEM. */
static int report_entry(struct audit_run *st, const smp_audit_entry *a)
{
	smp_item it;
	int r;

	if ((r = smp_audit_summary_add(st->summary, a, &st->err)) != 0)
		return r;
	memset(&it, 0, sizeof(it));
	it.action = "audited";
	it.dn = a->entry->dn;
	it.message = "";
	it.audit = a;
	if (st->o->on_item != NULL && (r = st->o->on_item(&it, st->o->ctx)) != 0)
		return smp_error_set(&st->err, r, "stopped by the caller");
	return 0;
}

static void progress(struct audit_run *st)
{
	if (st->o->on_progress != NULL)
		st->o->on_progress(smp_audit_summary_entries(st->summary), 0, st->o->ctx);
}

/* ---- Framing between the walk and the analysis workers ------------------------------------ */

/* A batch's part of the summary: counts, codes in order of first sighting, soonest expiries. */
static void buf_summary(struct buf *b, const smp_audit_summary *sum)
{
	size_t count;

	buf_u64(b, smp_audit_summary_entries(sum));
	buf_u64(b, smp_audit_summary_values(sum));
	buf_u32(b, (uint32_t)smp_audit_summary_n_codes(sum));
	for (size_t i = 0; i < smp_audit_summary_n_codes(sum); i++) {
		buf_str(b, smp_audit_summary_code(sum, i, &count));
		/* by severity: a finding may be lower than its code's (issuer_not_distributed) */
		for (int sev = SMP_SEV_NONE; sev <= SMP_SEV_CRITICAL; sev++)
			buf_u64(b, smp_audit_summary_code_severity(sum, i, (smp_severity)sev));
	}
	buf_u32(b, (uint32_t)smp_audit_summary_n_soonest(sum));
	for (size_t i = 0; i < smp_audit_summary_n_soonest(sum); i++) {
		const smp_audit_expiry *x = smp_audit_summary_soonest(sum, i);

		buf_str(b, x->dn);
		buf_str(b, x->subject);
		buf_str(b, x->sha256);
		buf_u64(b, (uint64_t)(int64_t)x->not_after);
	}
}

/* Folds a part written by buf_summary into st->summary, as if its entries were added here. */
static int rd_summary(struct audit_run *st, struct rd *in)
{
	smp_audit_expiry x;
	const char *code;
	uint64_t entries, values, count;
	size_t n;
	int r;

	entries = rd_u64(in);
	values = rd_u64(in);
	if (!in->bad)
		smp_audit_summary_add_counts(st->summary, entries, values);
	n = rd_u32(in);
	for (size_t i = 0; i < n && !in->bad; i++) {
		code = rd_str(in);
		for (int sev = SMP_SEV_NONE; sev <= SMP_SEV_CRITICAL; sev++) {
			count = rd_u64(in);
			if (code != NULL && !in->bad &&
			    (r = smp_audit_summary_add_code_at(st->summary, code, (smp_severity)sev,
							       count, &st->err)) != 0)
				return r;
		}
	}
	n = rd_u32(in);
	for (size_t i = 0; i < n && !in->bad; i++) {
		memset(&x, 0, sizeof(x));
		x.dn = (char *)rd_str(in);
		x.subject = (char *)rd_str(in);
		snprintf(x.sha256, sizeof(x.sha256), "%s", (code = rd_str(in)) ? code : "");
		x.not_after = (time_t)(int64_t)rd_u64(in);
		if (!in->bad && (r = smp_audit_summary_add_expiry(st->summary, &x, &st->err)) != 0)
			return r;
	}
	return 0;
}

/*
 * In a worker, rendering (opts->render): audits a batch into sum and fp. Returns 0 or an
 * error in st->err.
 */
static int audit_batch_rendered(struct audit_run *st, struct rd *in, uint32_t n,
				smp_audit_summary *sum, FILE *fp)
{
	smp_audit_entry *a = NULL;
	smp_entry e;
	smp_item it;
	int r = 0;

	for (uint32_t i = 0; i < n && r == 0; i++) {
		if ((r = rd_entry(in, &e)) != 0)
			return smp_error_set(&st->err, r, "analysis worker received a damaged batch");
		if ((r = smp_audit_entry_run(&a, &e, st->s->trust, &st->err)) == 0 &&
		    (r = smp_audit_summary_add(sum, a, &st->err)) == 0) {
			memset(&it, 0, sizeof(it));
			it.action = "audited";
			it.dn = e.dn;
			it.message = "";
			it.audit = a;
			if ((r = st->o->render(&it, fp, st->o->ctx)) != 0)
				smp_error_set(&st->err, r, "rendering an entry failed");
		}
		smp_audit_entry_free(a);
		a = NULL;
		rd_entry_release(&e);
	}
	return r;
}

/*
 * In a worker: audits a batch of entries. Without a render function, the result is, for each
 * entry audited, 1, the entry (buf_entry) and its findings (buf_audit_entry); then 0, the
 * status and its message. With one: the status and message, the batch's part of the summary
 * and the bytes rendered.
 */
static int audit_job(unsigned char **res, size_t *res_len, const unsigned char *job, size_t len,
		     void *ctx)
{
	struct audit_run *st = ctx;
	struct rd in = { job, len, 0, 0 };
	struct buf b = { 0 };
	smp_audit_summary *sum = NULL;
	smp_audit_entry *a;
	const char *header;
	smp_entry e;
	char *out = NULL;
	size_t out_len = 0;
	FILE *fp = NULL;
	uint32_t n;
	int r = 0;

	smp_error_clear(&st->err);
	n = entry_batch_read(&in, &header);
	if (st->o->render != NULL) {
		if ((fp = open_memstream(&out, &out_len)) == NULL ||
		    smp_audit_summary_new(&sum, &st->err) != 0) {
			if (fp != NULL)
				fclose(fp);
			free(out);
			return SMP_ERR_NOMEM;
		}
		r = audit_batch_rendered(st, &in, n, sum, fp);
		fclose(fp);
		buf_u32(&b, (uint32_t)(int32_t)r);
		buf_str(&b, st->err.msg);
		buf_summary(&b, sum);
		buf_bytes(&b, out, out_len);
		free(out);
		smp_audit_summary_free(sum);
		goto done;
	}
	for (uint32_t i = 0; i < n && r == 0; i++) {
		if ((r = rd_entry(&in, &e)) != 0) {
			smp_error_set(&st->err, r, "analysis worker received a damaged batch");
			break;
		}
		if ((r = smp_audit_entry_run(&a, &e, st->s->trust, &st->err)) == 0) {
			buf_u32(&b, 1);
			buf_entry(&b, &e);
			buf_audit_entry(&b, a);
			smp_audit_entry_free(a);
		}
		rd_entry_release(&e);
	}
	buf_u32(&b, 0);
	buf_u32(&b, (uint32_t)(int32_t)r);
	buf_str(&b, st->err.msg);
done:
	if (b.failed) {
		free(b.p);
		return SMP_ERR_NOMEM;
	}
	*res = b.p;
	*res_len = b.len;
	return 0;
}

/* In the parent: one batch's result, in walk order: each entry summed up and reported. */
static int audit_result(const unsigned char *res, size_t len, void *ctx)
{
	struct audit_run *st = ctx;
	struct rd in = { res, len, 0, 0 };
	smp_audit_entry *a;
	smp_entry e;
	const char *msg;
	const char *data;
	size_t data_len;
	int status, r;

	if (st->o->render != NULL) {
		status = (int)(int32_t)rd_u32(&in);
		msg = rd_str(&in);
		if ((r = rd_summary(st, &in)) != 0)
			return r;
		data = rd_bytes(&in, &data_len);
		if (in.bad)
			return smp_error_set(&st->err, SMP_ERR_INTERNAL,
					     "an analysis worker sent a damaged result");
		if (data_len > 0 && st->o->on_output != NULL)
			st->o->on_output(data, data_len, st->o->ctx);
		goto done;
	}
	while (rd_u32(&in) == 1 && !in.bad) {
		if ((r = rd_entry(&in, &e)) != 0 || (r = rd_audit_entry(&in, &e, &a)) != 0) {
			rd_entry_release(&e);
			if (r == SMP_ERR_NOMEM)
				return smp_error_set(&st->err, r, "out of memory");
			break;
		}
		r = report_entry(st, a);
		smp_audit_entry_free(a);
		rd_entry_release(&e);
		if (r != 0)
			return r;
	}
	status = (int)(int32_t)rd_u32(&in);
	msg = rd_str(&in);
	if (in.bad)
		return smp_error_set(&st->err, SMP_ERR_INTERNAL,
				     "an analysis worker sent a damaged result");
done:
	progress(st);
	if (status != 0)
		return smp_error_set(&st->err, status, "%s", msg != NULL ? msg : "unknown error");
	return 0;
}

/* The walk's callback: one entry, audited here or batched for the workers. */
static int audit_one(const smp_entry *e, void *ctx)
{
	struct audit_run *st = ctx;
	smp_audit_entry *a = NULL;
	int r;

	if (st->failed != 0)
		return st->failed;
	if (pub_cancelled(st->s))
		return smp_error_set(&st->err, SMP_ERR_CANCELLED, "interrupted");
	if (st->eb.pool != NULL)
		return entry_batches_add(&st->eb, e, &st->err);
	if ((r = smp_audit_entry_run(&a, e, st->s->trust, &st->err)) != 0)
		return r;
	r = report_entry(st, a);
	smp_audit_entry_free(a);
	progress(st);
	return r;
}

/* Everything handed to the workers so far reported, in order (before a referral, and at the
   end). */
static int audit_sync(struct audit_run *st)
{
	return entry_batches_sync(&st->eb, &st->err);
}

/*
 * A referral the server returned: reported after every entry before it. Part of the directory
 * is then not audited (status 1), unless it is an AD partition that holds no recipients.
 */
static void on_referral(const char *url, void *ctx)
{
	struct audit_run *st = ctx;
	int partition = smp_dir_referral_is_ad_partition(st->s->dir, url);
	char *msg = NULL;
	smp_item it;
	int r;

	if (st->failed != 0 || (st->failed = audit_sync(st)) != 0)
		return;  /* the walk stops at the next entry, or smp_audit reports it at the end */
	if (asprintf(&msg, partition ? "the server referred part of the search to '%s', one of "
		     "Active Directory's configuration and DNS partitions, which hold no mail "
		     "recipients: not followed" : "the server referred part of the search to '%s'; "
		     "it was not followed: audit that directory separately if it holds contacts",
		     url) < 0)
		msg = NULL;
	memset(&it, 0, sizeof(it));
	it.source = url;
	it.action = "referral";
	it.reason = partition ? "ad_partition" : "referral";
	it.message = msg != NULL ? msg : "";
	it.status = partition ? 0 : 1;
	pub_note_status(st->s, it.status);
	if (st->o->on_item != NULL && (r = st->o->on_item(&it, st->o->ctx)) != 0)
		st->failed = smp_error_set(&st->err, r, "stopped by the caller");
	free(msg);
}

/* See engine.h. */
int smp_audit(smp_session *s, const smp_audit_options *opts, smp_audit_summary **summary_out,
	      smp_error *err)
{
	struct audit_run st;
	int r, jobs;

	*summary_out = NULL;
	if (opts == NULL || opts->version != SMP_ENGINE_VERSION)
		return smp_error_set(err, SMP_ERR_USAGE, "audit options of version %u: this "
				     "library knows version %u", opts != NULL ? opts->version : 0,
				     SMP_ENGINE_VERSION);
	if (s->dir == NULL)
		return smp_error_set(err, SMP_ERR_USAGE, "audit needs a directory");
	if ((opts->render == NULL) != (opts->on_output == NULL))
		return smp_error_set(err, SMP_ERR_USAGE, "audit options: a render function "
				     "needs an output function, and the other way round");
	memset(&st, 0, sizeof(st));
	st.s = s;
	st.o = opts;
	if ((r = smp_audit_summary_new(&st.summary, err)) != 0)
		return r;
	jobs = workers_count(opts->jobs > 0 ? opts->jobs : SMP_DEFAULT_JOBS);
	st.eb.on_result = audit_result;
	st.eb.ctx = &st;
	if (jobs > 1 &&
	    (r = workers_start(&st.eb.pool, jobs, AUDIT_BATCH_DEPTH, audit_job, &st, err)) != 0) {
		smp_audit_summary_free(st.summary);
		return r;
	}
	r = smp_dir_walk(s->dir, audit_one, on_referral, &st, &st.err);
	if (r == 0)
		r = st.failed;
	if (!st.eb.failed) {
		/* report what was handed out before the walk ended, as audit_one would have */
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
	if (r != 0) {
		if (st.err.msg[0] == '\0')
			smp_error_set(&st.err, r, "unknown error");
		*err = st.err;
	}
	*summary_out = st.summary;
	return r;
}
