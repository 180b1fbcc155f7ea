/*
 * smimepub engine: prune, removing expired, untrusted or superseded certificates across the
 * directory (SPEC §2, §4).
 *
 * The walk never writes: entries to change are spooled (their DNs, NUL-terminated, in an
 * unlinked temporary file) and changed after the paged search has ended, each read again
 * first, a group at a time. Memory stays bounded on any directory size, and no server sees its
 * paged search interleaved with modifications of the entries it pages through. A dry run
 * changes nothing and reports straight from the walk.
 *
 * What the walk finds about an entry is encoded (frame.h) whether it was checked here or in
 * an analysis worker, and reported from that encoding: one path, so --jobs cannot change a
 * byte of the output.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "frame.h"
#include "smimepub/audit.h"
#include "workers.h"

/* With more than one analysis process, the walk's entries go to workers in batches. */
#define BATCH_DEPTH 4

/*
 * A group is 8 windows, PRUNE_GROUP to PRUNE_GROUP_MAX entries: each group drains twice
 * (reads, writes), a round trip each.
 */
#define PRUNE_GROUP 128
#define PRUNE_GROUP_MAX 1024

/* What a check of the walk found, in the encoding (frame.h) a batch result carries. */
enum { EV_END = 0, EV_SPOOL, EV_ITEM };

struct prune_run {
	smp_session *c;
	const smp_prune_options *o;
	smp_prune_report rep;
	FILE *spool;
	size_t spooled;
	struct entry_batches eb;  /* the walk's analysis workers (eb.pool), or eb.pool NULL */
	smp_error err;            /* why the walk stopped */
	size_t w_entries;         /* in a worker: entries of this batch checked */
};

/* ---- reporting ---------------------------------------------------------------------------- */

static int report_item(struct prune_run *run, smp_item *it)
{
	pub_note_status(run->c, it->status);
	if (strcmp(it->action, "failed") == 0)
		run->rep.failed++;
	else if (strcmp(it->action, "skipped") == 0)
		run->rep.skipped++;
	else
		run->rep.removed++;
	return run->o->on_item != NULL ? run->o->on_item(it, run->o->ctx) : 0;
}

/* The item for value pick of audited entry a (borrowed strings). */
static void value_item(smp_item *it, const smp_audit_entry *a, const smp_prune_pick *pick,
		       const char *action, const char *ldif)
{
	const smp_audit_value *v = &a->values[pick->index];

	memset(it, 0, sizeof(*it));
	it->action = action;
	it->reason = pick->reason;
	it->dn = a->entry->dn;
	it->message = "";
	it->ldif = ldif;
	it->cert = v->info;
	it->value_sha256 = v->info == NULL ? v->sha256 : NULL;
	it->value_index = pick->index;
	it->attribute = v->attr;
}

/* ---- the walk ----------------------------------------------------------------------------- */

/* The entry's values and their analyses as the planner takes them; info is the caller's. */
static int existing_of(smp_existing *ex, smp_certinfo ***info, const smp_audit_entry *a)
{
	*info = calloc(a->n_values + 1, sizeof(**info));
	if (*info == NULL)
		return SMP_ERR_NOMEM;
	for (size_t i = 0; i < a->n_values; i++)
		(*info)[i] = a->values[i].info;
	ex->values = a->entry->certs;
	ex->info = *info;
	ex->n = a->n_values;
	return 0;
}

/* Audits e and chooses what to remove. *a and *picks are the caller's to free. */
static int select_picks(struct prune_run *run, const smp_entry *e, smp_audit_entry **a,
			smp_prune_pick **picks, size_t *n, smp_error *err)
{
	int r;

	*a = NULL;
	*picks = NULL;
	*n = 0;
	if ((r = smp_audit_entry_run(a, e, run->c->trust, err)) != 0)
		return r;
	if ((r = smp_audit_prune_select(picks, n, *a, &run->o->sel, err)) != 0) {
		smp_audit_entry_free(*a);
		*a = NULL;
	}
	return r;
}

static void buf_item(struct buf *b, const smp_item *it)
{
	buf_u32(b, EV_ITEM);
	buf_str(b, it->action);
	buf_str(b, it->reason);
	buf_str(b, it->dn);
	buf_str(b, it->message);
	buf_u32(b, (uint32_t)it->status);
	buf_u64(b, it->value_index);
	buf_str(b, it->attribute);
	buf_str(b, it->value_sha256);
	buf_u32(b, it->cert != NULL);
	if (it->cert != NULL)
		buf_certinfo(b, it->cert);
	buf_str(b, it->ldif);
}

/* The dry run's report of e: one item per pick, the first with the LDIF. */
static int check_dry(struct prune_run *run, const smp_entry *e, const smp_audit_entry *a,
		     const smp_prune_pick *picks, size_t n, struct buf *b, smp_error *err)
{
	smp_certinfo **info = NULL;
	smp_existing ex;
	smp_plan *plan = NULL;
	char *ldif = NULL, comment[96];
	int r;

	snprintf(comment, sizeof(comment), "smimepub prune: would remove %zu certificate%s", n,
		 n == 1 ? "" : "s");
	if ((r = existing_of(&ex, &info, a)) != 0 ||
	    (r = smp_plan_prune(&plan, &ex, picks, n)) != 0) {
		smp_error_set(err, r, "cannot plan the removals on '%s'", e->dn);
	} else if ((r = pub_apply(run->c, e, plan, comment, &ldif, err)) == 0) {
		for (size_t i = 0; i < n; i++) {
			smp_item it;

			value_item(&it, a, &picks[i], pub_action_name(run->c, SMP_ACT_REMOVED),
				   i == 0 ? ldif : NULL);
			buf_item(b, &it);
		}
	}
	if (r != 0 && r != SMP_ERR_NOMEM) {
		smp_item it;
		struct pub_result res;

		memset(&res, 0, sizeof(res));
		pub_failure(&res, r, err->msg);
		memset(&it, 0, sizeof(it));
		it.action = "failed";
		it.reason = res.reason;
		it.dn = e->dn;
		it.message = res.message != NULL ? res.message : "";
		it.status = res.status;
		buf_item(b, &it);
		pub_result_release(&res);
		smp_error_clear(err);
		r = 0;
	}
	free(ldif);
	smp_plan_free(plan);
	free(info);
	return r;
}

/* Checks e; what it found goes to b (a DN to spool, or a dry run's items). */
static int check_entry(struct prune_run *run, const smp_entry *e, struct buf *b, smp_error *err)
{
	smp_audit_entry *a = NULL;
	smp_prune_pick *picks = NULL;
	size_t n = 0;
	int r;

	if ((r = select_picks(run, e, &a, &picks, &n, err)) != 0)
		return r;
	if (n > 0 && run->c->o.dry_run) {
		r = check_dry(run, e, a, picks, n, b, err);
	} else if (n > 0) {
		buf_u32(b, EV_SPOOL);
		buf_str(b, e->dn);
	}
	free(picks);
	smp_audit_entry_free(a);
	if (r == 0 && b->failed)
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	return r;
}

/* A result: status, message, entries checked, then the events up to EV_END. */
static void result_head(struct buf *b, int status, const char *msg, size_t entries)
{
	buf_u32(b, (uint32_t)(int32_t)status);
	buf_str(b, msg);
	buf_u64(b, entries);
}

/* In a worker: checks a batch of entries. */
static int prune_job(unsigned char **res, size_t *res_len, const unsigned char *job, size_t len,
		     void *ctx)
{
	struct prune_run *run = ctx;
	struct rd in = { job, len, 0, 0 };
	struct buf events = { 0 }, b = { 0 };
	smp_error err = SMP_ERROR_INIT;
	const char *attr;
	size_t entries = 0;
	smp_entry e;
	uint32_t n;
	int r = 0;

	n = entry_batch_read(&in, &attr);
	for (uint32_t i = 0; i < n && r == 0; i++) {
		if (attr == NULL || rd_entry(&in, &e) != 0) {
			r = smp_error_set(&err, SMP_ERR_INTERNAL,
					  "analysis worker received a damaged batch");
			break;
		}
		entries++;
		r = check_entry(run, &e, &events, &err);
		rd_entry_release(&e);
	}
	buf_u32(&events, EV_END);
	result_head(&b, r, err.msg, entries);
	buf_put(&b, events.p, events.len);
	free(events.p);
	if (b.failed || events.failed) {
		free(b.p);
		return SMP_ERR_NOMEM;
	}
	*res = b.p;
	*res_len = b.len;
	return 0;
}

/* In the parent: one result, in walk order: counts, spool, items. */
static int prune_result(const unsigned char *res, size_t len, void *ctx)
{
	struct prune_run *run = ctx;
	struct rd in = { res, len, 0, 0 };
	const char *msg;
	uint32_t kind;
	int status, r = 0;

	status = (int)(int32_t)rd_u32(&in);
	msg = rd_str(&in);
	run->rep.entries += rd_u64(&in);
	while (!in.bad && (kind = rd_u32(&in)) != EV_END && r == 0) {
		if (kind == EV_SPOOL) {
			const char *dn = rd_str(&in);

			if (dn == NULL || in.bad)
				break;
			if (fwrite(dn, 1, strlen(dn) + 1, run->spool) != strlen(dn) + 1)
				return smp_error_set(&run->err, SMP_ERR_INTERNAL, "cannot write the "
						     "list of entries to prune to a temporary file");
			run->spooled++;
		} else if (kind == EV_ITEM) {
			smp_certinfo *ci = NULL;
			smp_item it;

			memset(&it, 0, sizeof(it));
			it.action = rd_str(&in);
			it.reason = rd_str(&in);
			it.dn = rd_str(&in);
			it.message = rd_str(&in);
			it.status = (int)rd_u32(&in);
			it.value_index = rd_u64(&in);
			it.attribute = rd_str(&in);
			it.value_sha256 = rd_str(&in);
			if (rd_u32(&in) != 0 && rd_certinfo(&in, &ci) != 0)
				break;
			it.cert = ci;
			it.ldif = rd_str(&in);
			if (in.bad || it.action == NULL) {
				smp_certinfo_free(ci);
				break;
			}
			if (it.message == NULL)
				it.message = "";
			if (report_item(run, &it) != 0)
				r = smp_error_set(&run->err, SMP_ERR_INTERNAL, "stopped by the caller");
			smp_certinfo_free(ci);
		} else {
			in.bad = 1;
		}
	}
	if (in.bad)
		return smp_error_set(&run->err, SMP_ERR_INTERNAL,
				     "an analysis worker sent a damaged result");
	if (run->o->on_progress != NULL)
		run->o->on_progress(run->rep.entries, 0, run->o->ctx);
	if (r != 0)
		return r;
	if (status != 0)
		return smp_error_set(&run->err, status, "%s", msg != NULL ? msg : "unknown error");
	return 0;
}

static int walk_one(const smp_entry *e, void *ctx)
{
	struct prune_run *run = ctx;
	struct buf b = { 0 }, events = { 0 };
	smp_error err = SMP_ERROR_INIT;
	int r;

	if (pub_cancelled(run->c))
		return smp_error_set(&run->err, SMP_ERR_CANCELLED, "interrupted while checking "
				     "the entries (%zu checked)", run->rep.entries);
	if (run->eb.pool != NULL)
		return entry_batches_add(&run->eb, e, &run->err);
	r = check_entry(run, e, &events, &err);
	buf_u32(&events, EV_END);
	result_head(&b, r, err.msg, 1);
	buf_put(&b, events.p, events.len);
	free(events.p);
	if (b.failed || events.failed)
		r = smp_error_set(&run->err, SMP_ERR_NOMEM, "out of memory");
	else
		r = prune_result(b.p, b.len, run);
	free(b.p);
	return r;
}

static void on_referral(const char *url, void *ctx)
{
	struct prune_run *run = ctx;

	if (run->o->on_referral != NULL)
		run->o->on_referral(url, run->o->ctx);
}

/* ---- changing the spooled entries ----------------------------------------------------------- */

/* One spooled entry on its way through the pipeline. */
struct pentry {
	struct pipe_item p;        /* p.dn is dn; p.res a failure to report */
	char *dn;
	smp_audit_entry *a;
	smp_prune_pick *picks;
	size_t n;
	smp_certinfo **info;
	smp_existing ex;
	smp_plan *plan;
};

static void pentry_reset(struct pentry *pe)
{
	smp_audit_entry_free(pe->a);
	free(pe->picks);
	free(pe->info);
	smp_plan_free(pe->plan);
	pe->a = NULL;
	pe->picks = NULL;
	pe->n = 0;
	pe->info = NULL;
	pe->plan = NULL;
}

static void pentry_release(struct pentry *pe)
{
	pentry_reset(pe);
	pipe_item_release(&pe->p);
	free(pe->dn);
	memset(pe, 0, sizeof(*pe));
}

/*
 * Plans pe against pe->p.entry: audit, the picks, smp_plan_prune. Returns 0 with pe->n == 0
 * when nothing is left to prune (it changed meanwhile), or an error.
 */
static int pentry_plan(struct prune_run *run, struct pentry *pe, smp_error *err)
{
	int r;

	pentry_reset(pe);
	if ((r = select_picks(run, pe->p.entry, &pe->a, &pe->picks, &pe->n, err)) != 0)
		return r;
	if (pe->n == 0)
		return 0;
	if ((r = existing_of(&pe->ex, &pe->info, pe->a)) != 0 ||
	    (r = smp_plan_prune(&pe->plan, &pe->ex, pe->picks, pe->n)) != 0)
		return smp_error_set(err, r, "cannot plan the removals on '%s'", pe->dn);
	return 0;
}

/*
 * pipe_single_fn, for an entry the pipeline could not take in bulk: read, plan, pub_apply; on
 * a conflict read and plan again. Gone or nothing left to prune: done, nothing to report.
 */
static int prune_single(smp_session *c, struct pipe_item *p, void *ctx)
{
	struct pentry *pe = (struct pentry *)p;
	struct prune_run *run = ctx;
	smp_error err = SMP_ERROR_INIT;
	char comment[96];
	int r;

	for (int attempt = 0;; attempt++) {
		pipe_item_reset(p);
		smp_error_clear(&err);
		r = smp_dir_read(c->dir, pe->dn, &p->own, &err);
		p->entry = p->own;
		if (r == SMP_ERR_NOTFOUND) {
			p->state = PIPE_DONE;  /* deleted meanwhile: nothing left to prune */
			return 0;
		}
		if (r != 0 || (r = pentry_plan(run, pe, &err)) != 0) {
			pipe_fail(p, r, err.msg);
			return r == SMP_ERR_NOMEM ? r : 0;
		}
		if (pe->n == 0) {
			p->state = PIPE_DONE;  /* changed meanwhile: nothing to prune any more */
			return 0;
		}
		snprintf(comment, sizeof(comment), "smimepub prune: remove %zu certificate%s", pe->n,
			 pe->n == 1 ? "" : "s");
		r = pub_apply(c, p->entry, pe->plan, comment, NULL, &err);
		if (r == 0) {
			memcpy(p->record, c->record, sizeof(p->record));
			p->action = pe->plan->action;
			p->state = PIPE_WRITTEN;
			return 0;
		}
		if (r != SMP_ERR_CONFLICT || attempt >= PUB_MAX_RETRIES) {
			if (r == SMP_ERR_CONFLICT)
				smp_error_set(&err, r, "cannot modify '%s': it changed again while "
					      "being pruned; run prune again", pe->dn);
			pipe_fail(p, r, err.msg);
			return 0;
		}
	}
}

/* Plans each entry the group read. Returns 0 or SMP_ERR_NOMEM. */
static int group_plan(struct prune_run *run, struct pentry *g, size_t n)
{
	smp_error err = SMP_ERROR_INIT;
	int r;

	for (size_t i = 0; i < n; i++) {
		struct pentry *pe = &g[i];

		if (pe->p.state != PIPE_HAVE)
			continue;
		smp_error_clear(&err);
		if ((r = pentry_plan(run, pe, &err)) == 0 && pe->n == 0)
			pe->p.state = PIPE_DONE;  /* changed meanwhile: nothing to prune any more */
		else if (r == 0)
			r = pipe_planned(run->c, &pe->p, pe->plan);
		if (r == SMP_ERR_NOMEM)
			return r;
		if (r != 0)
			pipe_fail(&pe->p, r, err.msg);
	}
	return 0;
}

/* The items of a finished entry: one per value removed, or its failure. */
static void pentry_report(struct prune_run *run, struct pentry *pe)
{
	if (pe->p.state == PIPE_WRITTEN) {
		for (size_t i = 0; i < pe->n; i++) {
			smp_item it;

			value_item(&it, pe->a, &pe->picks[i], "removed", NULL);
			it.record = pe->p.record[0] != '\0' ? pe->p.record : NULL;
			report_item(run, &it);
		}
	} else if (pe->p.res.action != NULL) {
		smp_item it;

		memset(&it, 0, sizeof(it));
		it.action = pe->p.res.action;
		it.reason = pe->p.res.reason;
		it.dn = pe->dn;
		it.message = pe->p.res.message != NULL ? pe->p.res.message : "";
		it.status = pe->p.res.status;
		report_item(run, &it);
	}
}

/* Changes every spooled entry, reading the DNs back a group at a time. */
static int prune_spooled(struct prune_run *run, smp_error *err)
{
	smp_session *c = run->c;
	struct pentry *g = calloc(PRUNE_GROUP_MAX, sizeof(*g));
	struct pipe_item **ptrs = calloc(PRUNE_GROUP_MAX, sizeof(*ptrs));
	size_t cap = 0, done = 0, n, group;
	char *dn = NULL;
	int r = 0;

	if (g == NULL || ptrs == NULL) {
		free(g);
		free(ptrs);
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	if (fflush(run->spool) != 0 || fseek(run->spool, 0, SEEK_SET) != 0) {
		free(g);
		free(ptrs);
		return smp_error_set(err, SMP_ERR_INTERNAL,
				     "cannot read back the list of entries to prune");
	}
	if (run->o->on_stage != NULL)
		run->o->on_stage("removing", run->o->ctx);
	smp_window_init(&c->win, run->o->jobs > 0 ? (unsigned)run->o->jobs : 0,
			smp_window_clock());
	while (r == 0) {
		group = pipe_group_size(c, 8, PRUNE_GROUP, PRUNE_GROUP_MAX);
		for (n = 0; n < group && getdelim(&dn, &cap, '\0', run->spool) > 0; n++) {
			g[n].dn = dn;
			g[n].p.dn = dn;
			g[n].p.state = PIPE_READ;
			ptrs[n] = &g[n].p;
			dn = NULL;
			cap = 0;
		}
		if (n == 0)
			break;
		pipe_read(c, ptrs, n);
		if ((r = group_plan(run, g, n)) != 0 || (r = pipe_write(c, ptrs, n)) != 0)
			smp_error_set(err, r, "out of memory");
		for (size_t i = 0; i < n; i++) {
			if (r == 0 && g[i].p.state == PIPE_SINGLE &&
			    (r = pipe_single(c, &g[i].p, prune_single, run)) != 0)
				smp_error_set(err, r, "out of memory");
			pentry_report(run, &g[i]);
			pentry_release(&g[i]);
		}
		done += n;
		if (run->o->on_progress != NULL)
			run->o->on_progress(done, run->spooled, run->o->ctx);
	}
	free(ptrs);
	free(g);
	free(dn);
	return r;
}

/* ---- the operation ------------------------------------------------------------------------ */

/* Keeps the first reason the run could not go on; the session's status takes the worst. */
static int run_failed(struct prune_run *run, smp_error *err, int r, int status,
		      const char *prefix, const char *msg, const char *suffix)
{
	pub_note_status(run->c, status);
	if (err != NULL && err->code == 0)
		smp_error_set(err, r, "%s%s%s", prefix, msg != NULL && *msg ? msg :
			      "unknown error", suffix);
	return r;
}

int smp_prune(smp_session *c, const smp_prune_options *opts, smp_prune_report *report,
	      smp_error *err)
{
	struct prune_run run;
	int r, ret = 0, jobs;

	if (opts == NULL || opts->version != SMP_ENGINE_VERSION)
		return smp_error_set(err, SMP_ERR_USAGE, "prune options of an unknown version");
	/* a server that goes away mid-write must be an error to reconnect from, not SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	memset(&run, 0, sizeof(run));
	run.c = c;
	run.o = opts;
	run.eb.on_result = prune_result;
	run.eb.ctx = &run;
	/* the profile's certificate attribute, for values read without one (batches carry it) */
	run.eb.header = smp_dir_profile(c->dir)->cert_attr;
	jobs = workers_count(opts->jobs > 0 ? opts->jobs : SMP_DEFAULT_JOBS);
	if (jobs > 1 && (r = workers_start(&run.eb.pool, jobs, BATCH_DEPTH, prune_job, &run,
					   &run.err)) != 0) {
		ret = run_failed(&run, err, r, 1, "prune could not start: ", run.err.msg, "");
		goto out;
	}
	if (!c->o.dry_run && (run.spool = tmpfile()) == NULL) {
		ret = run_failed(&run, err, SMP_ERR_INTERNAL, 1, "", "cannot create a temporary "
				 "file for the list of entries to prune", "");
		goto out;
	}
	run.rep.walked = 1;
	if (opts->on_stage != NULL)
		opts->on_stage("checking", opts->ctx);
	r = smp_dir_walk(c->dir, walk_one, on_referral, &run, &run.err);
	if (r == 0)  /* every batch handed out checked, its items reported, its DNs spooled */
		r = entry_batches_sync(&run.eb, &run.err);
	if (workers_stop(run.eb.pool, r == 0 ? &run.err : NULL) != 0 && r == 0)
		r = SMP_ERR_INTERNAL;
	run.eb.pool = NULL;
	if (r != 0)
		ret = run_failed(&run, err, r, r < 0 ? smp_status_worse(smp_exit_status(r), 1) : 1,
				 "prune stopped: ", run.err.msg, "");
	/* what the walk found before it stopped is still pruned */
	if (!c->o.dry_run && run.spooled > 0) {
		smp_error jerr = SMP_ERROR_INIT;

		if ((r = pub_journal_ready(c, &jerr)) != 0) {
			r = run_failed(&run, err, r, smp_exit_status(r), "", jerr.msg,
				       ": nothing was changed");
			ret = ret != 0 ? ret : r;
		} else if ((r = prune_spooled(&run, &jerr)) != 0) {
			r = run_failed(&run, err, r, 1, "", jerr.msg, "");
			ret = ret != 0 ? ret : r;
		}
	}
	if (opts->on_stage != NULL)
		opts->on_stage(NULL, opts->ctx);
out:
	workers_stop(run.eb.pool, NULL);
	entry_batches_release(&run.eb);
	if (run.spool != NULL)
		fclose(run.spool);
	if (report != NULL)
		*report = run.rep;
	return ret;
}
