/* smimepub prune: remove expired, untrusted or superseded certificates across the directory. */
#include <stdlib.h>
#include <string.h>

#include "advice.h"
#include "cli.h"
#include "exec/window.h"
#include "frame.h"
#include "smimepub/audit.h"
#include "smimepub/journal.h"
#include "workers.h"

/* With --jobs above 1, the walk's entries go to analysis workers in batches (as in audit). */
#define BATCH_DEPTH 4

/*
 * The walk never writes: entries to change are spooled (their DNs, NUL-terminated, in an
 * unlinked temporary file) and changed after the paged search has ended, each read again
 * first, a group at a time (prune_spooled). Memory stays bounded on any directory size, and
 * no server sees its paged search interleaved with modifications of the entries it pages
 * through. A dry run changes nothing and prints straight from the walk.
 */

struct prune_state {
	struct cli_opts *o;
	struct cli_out out;
	smp_trust *trust;
	smp_prune_sel sel;
	smp_dir *dir;
	smp_journal *journal;
	FILE *spool;
	size_t spooled;
	size_t entries;
	size_t removed;
	size_t failed_entries;
	int status;             /* worst exit status so far */
	int stop;               /* the connection is gone: no point in going on */
	struct cli_progress progress;
	smp_error err;          /* why the walk stopped */
	FILE *aside;            /* where a CSV dry run's LDIF goes: stderr (a worker: its result) */
	struct entry_batches eb;  /* the walk's analysis workers (eb.pool), or eb.pool NULL */
	smp_window win;         /* operations in flight: bounded by --jobs if given */
};

/* The changes that delete the picked values: one smp_change per attribute form. */
struct prune_changes {
	smp_change *v;
	size_t n;
};

static const char *value_attr(const smp_entry *e, size_t i, const char *default_attr)
{
	return e->cert_attrs != NULL && e->cert_attrs[i] != NULL ? e->cert_attrs[i] : default_attr;
}

static smp_change *change_for(struct prune_changes *c, const char *attr, size_t cap)
{
	smp_change *ch;

	for (size_t k = 0; k < c->n; k++)
		if (strcmp(c->v[k].attr, attr) == 0)
			return &c->v[k];
	ch = &c->v[c->n];
	ch->attr = attr;
	ch->del = calloc(cap, sizeof(*ch->del));
	ch->add = calloc(cap, sizeof(*ch->add));
	if (ch->del == NULL || ch->add == NULL) {
		free(ch->del);
		free(ch->add);
		ch->del = ch->add = NULL;
		return NULL;
	}
	c->n++;
	return ch;
}

static void changes_release(struct prune_changes *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].del);
		free(c->v[i].add);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static int is_picked(const smp_prune_pick *picks, size_t n, size_t index)
{
	for (size_t i = 0; i < n; i++)
		if (picks[i].index == index)
			return 1;
	return 0;
}

/*
 * The changes that delete the picked values, one smp_change per attribute form. With
 * for_journal, instead an equivalent change whose inverse also restores the order: from the
 * first picked value of each attribute on, delete every value and add back those that stay.
 */
static int changes_build(struct prune_changes *c, const smp_entry *e, const char *default_attr,
			 const smp_prune_pick *picks, size_t n, int for_journal, smp_error *err)
{
	memset(c, 0, sizeof(*c));
	c->v = calloc(e->n_certs + 1, sizeof(*c->v));
	if (c->v == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < e->n_certs; i++) {
		const char *attr = value_attr(e, i, default_attr);
		int picked = is_picked(picks, n, i);
		smp_change *ch = NULL;

		for (size_t k = 0; k < c->n && ch == NULL; k++)
			if (strcmp(c->v[k].attr, attr) == 0)
				ch = &c->v[k];
		if (ch == NULL && !picked)
			continue;  /* nothing picked in this attribute yet */
		if (ch == NULL && (ch = change_for(c, attr, e->n_certs)) == NULL) {
			changes_release(c);
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		}
		if (picked || for_journal)
			ch->del[ch->n_del++] = e->certs[i];
		if (!picked && for_journal)
			ch->add[ch->n_add++] = e->certs[i];
	}
	return 0;
}

static void note_status(struct prune_state *st, int status)
{
	/* 69 and 77 say more than 1 */
	if (status > st->status)
		st->status = status;
}

/* The action record for one value: where, what, why, then the certificate's fields. */
static json_t *action_json(const smp_audit_entry *a, const smp_prune_pick *pick,
			   const char *action, const char *message)
{
	const smp_audit_value *v = &a->values[pick->index];
	json_t *obj;

	obj = json_pack("{s:s, s:s, s:s, s:I, s:s?}", "dn", a->entry->dn, "action", action,
			"reason", pick->reason, "index", (json_int_t)pick->index, "attribute",
			v->attr);
	if (obj == NULL)
		return NULL;
	if (message != NULL)
		json_object_set_new(obj, "message", json_string(message));
	if (v->info != NULL)
		json_object_update_new(obj, cli_certinfo_json(v->info));
	else
		json_object_set_new(obj, "sha256", json_string(v->sha256));
	return obj;
}

/* Writes the report of a dry run so that stdout stays a file ldapmodify accepts. */
static void emit_dry(struct prune_state *st, json_t *record, const char *ldif)
{
	struct cli_out tmp;
	char *text = NULL;
	size_t len = 0;
	int bol = 1;

	if (st->out.format == CLI_FMT_JSON) {
		if (ldif != NULL)
			json_object_set_new(record, "ldif", json_string(ldif));
		cli_out_record(&st->out, record);
		return;
	}
	if (st->out.format == CLI_FMT_CSV) {
		cli_out_record(&st->out, record);
		if (ldif != NULL)
			fputs(ldif, st->aside != NULL ? st->aside : stderr);
		return;
	}
	tmp = st->out;
	tmp.fp = open_memstream(&text, &len);
	if (tmp.fp == NULL) {
		json_decref(record);
		return;
	}
	cli_out_record(&tmp, record);
	fclose(tmp.fp);
	for (size_t i = 0; i < len; i++) {
		if (bol)
			fputs("# ", st->out.fp);
		fputc(text[i], st->out.fp);
		bol = text[i] == '\n';
	}
	if (!bol)
		fputc('\n', st->out.fp);
	free(text);
	if (ldif != NULL) {
		fputs(ldif, st->out.fp);
		fputc('\n', st->out.fp);
	}
	fflush(st->out.fp);
}

static int ldif_text(char **out, const smp_entry *e, const struct prune_changes *c,
		     size_t n_picks, smp_error *err)
{
	char comment[96];
	size_t len = 0;
	FILE *fp;
	int r;

	*out = NULL;
	snprintf(comment, sizeof(comment), "smimepub prune: would remove %zu certificate%s",
		 n_picks, n_picks == 1 ? "" : "s");
	fp = open_memstream(out, &len);
	if (fp == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	r = smp_ldif_write_modify(fp, e->dn, c->v, c->n, comment, err);
	if (fclose(fp) != 0 && r == 0)
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	if (r != 0) {
		free(*out);
		*out = NULL;
	}
	return r;
}

static const char *failure_reason(int code)
{
	switch (code) {
	case SMP_ERR_ACCESS: return "insufficient_access";
	case SMP_ERR_UNAVAILABLE: return "unavailable";
	case SMP_ERR_CONFLICT: return "conflict";
	case SMP_ERR_NOTFOUND: return "not_found";
	default: return "failed";
	}
}

static void report_failure(struct prune_state *st, const char *dn, int code, const char *msg)
{
	cli_out_record(&st->out, json_pack("{s:s, s:s, s:s, s:s}", "dn", dn, "action", "failed",
					   "reason", failure_reason(code), "message", msg));
	st->failed_entries++;
	note_status(st, code == SMP_ERR_ACCESS || code == SMP_ERR_UNAVAILABLE ?
				smp_exit_status(code) : 1);
	if (code == SMP_ERR_UNAVAILABLE)
		st->stop = 1;
}

/* Audits e and chooses what to remove. *a and *picks are the caller's to free. */
static int plan_entry(struct prune_state *st, const smp_entry *e, smp_audit_entry **a,
		      smp_prune_pick **picks, size_t *n, smp_error *err)
{
	int r;

	*picks = NULL;
	*n = 0;
	r = smp_audit_entry_run(a, e, st->trust, err);
	if (r != 0)
		return r;
	r = smp_audit_prune_select(picks, n, *a, &st->sel, err);
	if (r != 0) {
		smp_audit_entry_free(*a);
		*a = NULL;
	}
	return r;
}

static void report_dry(struct prune_state *st, const smp_entry *e, const char *default_attr,
		       const smp_audit_entry *a, const smp_prune_pick *picks, size_t n)
{
	struct prune_changes c;
	char *ldif = NULL;
	smp_error err = SMP_ERROR_INIT;

	if (changes_build(&c, e, default_attr, picks, n, 0, &err) != 0 ||
	    ldif_text(&ldif, e, &c, n, &err) != 0) {
		report_failure(st, e->dn, err.code, err.msg);
		changes_release(&c);
		return;
	}
	for (size_t i = 0; i < n; i++)
		emit_dry(st, action_json(a, &picks[i], "would_remove", NULL), i == 0 ? ldif : NULL);
	st->removed += n;
	free(ldif);
	changes_release(&c);
}

/* Reads dn again, re-plans and applies one modify; on a conflict once more. */
static void prune_entry(struct prune_state *st, const char *dn)
{
	smp_entry *e = NULL;
	smp_audit_entry *a = NULL;
	smp_prune_pick *picks = NULL;
	struct prune_changes c = { NULL, 0 };
	smp_journal_batch *jb = NULL;
	size_t n = 0, jid = 0;
	smp_error err = SMP_ERROR_INIT;
	int r = SMP_ERR_INTERNAL;

	for (int attempt = 0; attempt < 2; attempt++) {
		smp_entry_free(e);
		smp_audit_entry_free(a);
		free(picks);
		changes_release(&c);
		e = NULL;
		a = NULL;
		picks = NULL;
		smp_error_clear(&err);
		r = smp_dir_read(st->dir, dn, &e, &err);
		if (r == SMP_ERR_NOTFOUND) {
			r = 0;  /* deleted meanwhile: nothing left to prune */
			goto out;
		}
		if (r != 0)
			goto out;
		r = plan_entry(st, e, &a, &picks, &n, &err);
		if (r != 0 || n == 0)
			goto out;
		r = changes_build(&c, e, smp_dir_profile(st->dir)->cert_attr, picks, n, 1, &err);
		if (r != 0)
			goto out;
		if (st->journal == NULL &&
		    (r = smp_journal_open(&st->journal, st->o->journal, &err)) != 0)
			goto out;
		/* a record that can be voided in place when the change does not happen */
		smp_journal_batch_free(jb);
		jb = NULL;
		if ((r = smp_journal_batch_new(&jb)) == 0 &&
		    (r = smp_journal_batch_add(jb, e->dn, c.v, c.n, &jid, &err)) == 0)
			r = smp_journal_batch_commit(st->journal, jb, &err);
		changes_release(&c);
		if (r == 0)
			r = changes_build(&c, e, smp_dir_profile(st->dir)->cert_attr, picks, n, 0,
					  &err);
		if (r != 0)
			goto out;
		cli_test_before_modify(e->dn);
		r = smp_dir_modify(st->dir, e->dn, c.v, c.n, &err);
		if (r != 0 && r != SMP_ERR_UNAVAILABLE) {
			/* refused, so it did not happen: its undo must not stay either (journal.h) */
			smp_error verr = SMP_ERROR_INIT;

			smp_journal_batch_void(st->journal, jb, jid, &verr);
		}
		if (r != SMP_ERR_CONFLICT)
			break;
	}
	if (r != 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		cli_out_record(&st->out, action_json(a, &picks[i], "removed", NULL));
	st->removed += n;
out:
	if (r != 0) {
		if (r == SMP_ERR_CONFLICT)
			smp_error_set(&err, r, "cannot modify '%s': it changed again while being "
				      "pruned; run prune again", dn);
		report_failure(st, dn, r, err.msg[0] ? err.msg : "cannot prune");
	}
	smp_journal_batch_free(jb);
	changes_release(&c);
	free(picks);
	smp_audit_entry_free(a);
	smp_entry_free(e);
}

/*
 * Checks e and either reports it (dry run) or spools its DN; st->err says why it could not.
 * default_attr: the profile's certificate attribute, for values read without one.
 */
static int check_entry(struct prune_state *st, const smp_entry *e, const char *default_attr)
{
	smp_audit_entry *a = NULL;
	smp_prune_pick *picks = NULL;
	size_t n = 0;
	int r;

	r = plan_entry(st, e, &a, &picks, &n, &st->err);
	if (r != 0)
		return r;
	if (n > 0) {
		if (st->o->dry_run) {
			report_dry(st, e, default_attr, a, picks, n);
		} else if (fwrite(e->dn, 1, strlen(e->dn) + 1, st->spool) != strlen(e->dn) + 1) {
			r = smp_error_set(&st->err, SMP_ERR_INTERNAL,
					  "cannot write the list of entries to prune to a "
					  "temporary file");
		} else {
			st->spooled++;
		}
	}
	free(picks);
	smp_audit_entry_free(a);
	return r;
}

/*
 * In a worker: checks a batch of entries. The result: status and message, the counts
 * (entries, would-be removals, failed entries, worst exit status), the DNs to spool, and the
 * records as cli_out_record formatted them.
 */
static int prune_job(unsigned char **res, size_t *res_len, const unsigned char *job, size_t len,
		     void *ctx)
{
	struct prune_state *st = ctx;
	struct rd in = { job, len, 0, 0 };
	struct buf b = { 0 };
	char *out = NULL, *dns = NULL, *aside = NULL;
	size_t out_len = 0, dns_len = 0, aside_len = 0;
	const char *attr;
	smp_entry e;
	uint32_t n;
	int r = 0;

	smp_error_clear(&st->err);
	st->entries = st->removed = st->failed_entries = st->spooled = 0;
	st->status = 0;
	st->out.fp = open_memstream(&out, &out_len);
	st->spool = open_memstream(&dns, &dns_len);
	st->aside = open_memstream(&aside, &aside_len);
	if (st->out.fp == NULL || st->spool == NULL || st->aside == NULL) {
		if (st->out.fp != NULL)
			fclose(st->out.fp);
		if (st->spool != NULL)
			fclose(st->spool);
		if (st->aside != NULL)
			fclose(st->aside);
		free(out);
		free(dns);
		free(aside);
		return SMP_ERR_NOMEM;
	}
	st->out.csv_header_done = 1;  /* the parent writes the header */
	n = entry_batch_read(&in, &attr);
	for (uint32_t i = 0; i < n && r == 0; i++) {
		if (attr == NULL || (r = rd_entry(&in, &e)) != 0) {
			r = SMP_ERR_INTERNAL;
			smp_error_set(&st->err, r, "analysis worker received a damaged batch");
			break;
		}
		st->entries++;
		r = check_entry(st, &e, attr);
		rd_entry_release(&e);
	}
	fclose(st->out.fp);
	fclose(st->spool);
	fclose(st->aside);
	st->out.fp = NULL;
	st->spool = NULL;
	st->aside = NULL;
	buf_u32(&b, (uint32_t)(int32_t)r);
	buf_str(&b, st->err.msg);
	buf_u64(&b, st->entries);
	buf_u64(&b, st->removed);
	buf_u64(&b, st->failed_entries);
	buf_u32(&b, (uint32_t)st->status);
	buf_u64(&b, st->spooled);
	buf_bytes(&b, dns, dns_len);
	buf_bytes(&b, out, out_len);
	buf_bytes(&b, aside, aside_len);
	free(dns);
	free(out);
	free(aside);
	if (b.failed) {
		free(b.p);
		return SMP_ERR_NOMEM;
	}
	*res = b.p;
	*res_len = b.len;
	return 0;
}

/* In the parent: one batch's result, in walk order: counts, spool, records. */
static int prune_result(const unsigned char *res, size_t len, void *ctx)
{
	struct prune_state *st = ctx;
	struct rd in = { res, len, 0, 0 };
	const char *msg, *dns, *data, *aside;
	size_t dns_len, data_len, aside_len;
	uint64_t entries, removed, failed, spooled;
	int status, worst;

	status = (int)(int32_t)rd_u32(&in);
	msg = rd_str(&in);
	entries = rd_u64(&in);
	removed = rd_u64(&in);
	failed = rd_u64(&in);
	worst = (int)rd_u32(&in);
	spooled = rd_u64(&in);
	dns = rd_bytes(&in, &dns_len);
	data = rd_bytes(&in, &data_len);
	aside = rd_bytes(&in, &aside_len);
	if (in.bad)
		return smp_error_set(&st->err, SMP_ERR_INTERNAL,
				     "an analysis worker sent a damaged result");
	st->entries += entries;
	st->removed += removed;
	st->failed_entries += failed;
	note_status(st, worst);
	if (dns_len > 0 && fwrite(dns, 1, dns_len, st->spool) != dns_len)
		return smp_error_set(&st->err, SMP_ERR_INTERNAL, "cannot write the list of "
				     "entries to prune to a temporary file");
	st->spooled += spooled;
	cli_out_bytes(&st->out, data, data_len);
	if (aside_len > 0) {
		fflush(st->out.fp);
		fwrite(aside, 1, aside_len, stderr);
	}
	cli_progress_update(&st->progress, st->entries, 0);
	if (status != 0)
		return smp_error_set(&st->err, status, "%s", msg != NULL ? msg : "unknown error");
	return 0;
}

static int walk_one(const smp_entry *e, void *ctx)
{
	struct prune_state *st = ctx;

	if (st->eb.pool != NULL)
		return entry_batches_add(&st->eb, e, &st->err);
	st->entries++;
	cli_progress_update(&st->progress, st->entries, 0);
	return check_entry(st, e, st->eb.header);
}

static void on_referral(const char *url, void *ctx)
{
	struct prune_state *st = ctx;

	/* AD refers every search from a domain's root there; they hold no recipients */
	if (smp_dir_referral_is_ad_partition(st->dir, url)) {
		if (st->o->verbose)
			fprintf(stderr, "smimepub: not followed: '%s', one of Active Directory's "
				"configuration and DNS partitions (no recipients)\n", url);
		return;
	}
	cli_warn(st->o, "the server referred part of the search to '%s'; it was not followed: "
		 "prune that directory separately", url);
}

/*
 * The spooled entries are changed in groups: the group's entries read again with as many
 * reads in flight as st->win allows, planned, their undo records synced with one fsync, then
 * their modifies sent the same way. An entry whose modify meets a conflict (changed meanwhile)
 * goes once more through prune_entry, alone. A group is 8 windows, PRUNE_GROUP to
 * PRUNE_GROUP_MAX entries: each group drains twice (reads, writes), a round trip each.
 */
#define PRUNE_GROUP 128
#define PRUNE_GROUP_MAX 1024

enum { PI_NEW, PI_READING, PI_READ, PI_SENT, PI_DONE, PI_RETRY };

struct pitem {
	char *dn;
	int state;
	int msgid;
	smp_entry *e;              /* as read again */
	smp_audit_entry *a;
	smp_prune_pick *picks;
	size_t n;
	struct prune_changes c;    /* the modify */
	size_t jid;                /* its undo record in the group's journal batch */
};

static void pitem_release(struct pitem *it)
{
	free(it->dn);
	smp_entry_free(it->e);
	smp_audit_entry_free(it->a);
	free(it->picks);
	changes_release(&it->c);
	memset(it, 0, sizeof(*it));
}

static struct pitem *pitem_by_msgid(struct pitem *g, size_t n, int state, int msgid)
{
	for (size_t i = 0; i < n; i++)
		if (g[i].state == state && g[i].msgid == msgid)
			return &g[i];
	return NULL;
}

/* The connection is gone: every item of g still open fails as unavailable, and prune stops. */
static void group_lost(struct prune_state *st, struct pitem *g, size_t n, const char *msg)
{
	for (size_t i = 0; i < n; i++)
		if (g[i].state != PI_DONE) {
			report_failure(st, g[i].dn, SMP_ERR_UNAVAILABLE, msg);
			g[i].state = PI_DONE;
		}
	st->stop = 1;
}

/*
 * One kind of operation for the items of a group: send it for an item (0, or an error in err:
 * SMP_ERR_UNAVAILABLE means the connection is gone), take back an item whose send failed
 * otherwise, and take each reply (a search entry, or the final result).
 */
struct group_op {
	int from, sent;           /* item states: waiting for the operation, operation in flight */
	int (*send)(struct prune_state *st, struct pitem *it, smp_error *err);
	void (*refused)(struct prune_state *st, struct pitem *it, int code, const char *msg,
			void *ctx);
	void (*reply)(struct prune_state *st, struct pitem *it, smp_dir_reply *rep,
		      const smp_error *err, void *ctx);
};

/* Runs op for every item of g in state op->from, as many in flight as st->win allows. */
static void group_run(struct prune_state *st, struct pitem *g, size_t n,
		      const struct group_op *op, void *ctx)
{
	smp_error err = SMP_ERROR_INIT;
	size_t inflight = 0, next = 0;
	smp_dir_reply rep;
	struct pitem *it;
	int r;

	for (;;) {
		for (; next < n && smp_window_may_send(&st->win); next++) {
			if (g[next].state != op->from)
				continue;
			if ((r = op->send(st, &g[next], &err)) == SMP_ERR_UNAVAILABLE) {
				group_lost(st, g, n, err.msg);
				return;
			}
			if (r != 0) {
				g[next].state = PI_DONE;
				op->refused(st, &g[next], r, err.msg, ctx);
				continue;
			}
			g[next].state = op->sent;
			inflight++;
			smp_window_sent(&st->win, smp_window_clock());
		}
		if (inflight == 0)
			return;
		if ((r = smp_dir_next_reply(st->dir, &rep, &err)) != 0) {
			/* what was in flight may have happened: undo records stay */
			smp_window_lost(&st->win, smp_window_clock());
			group_lost(st, g, n, err.msg);
			return;
		}
		if ((it = pitem_by_msgid(g, n, op->sent, rep.msgid)) == NULL) {
			smp_entry_free(rep.entry);
			continue;
		}
		inflight -= rep.done;
		if (rep.done)
			smp_window_done(&st->win, smp_window_clock(), smp_window_trouble_rc(rep.rc));
		op->reply(st, it, &rep, &err, ctx);
	}
}

static int read_send(struct prune_state *st, struct pitem *it, smp_error *err)
{
	return smp_dir_read_send(st->dir, it->dn, &it->msgid, err);
}

static void op_refused(struct prune_state *st, struct pitem *it, int code, const char *msg,
		       void *ctx)
{
	(void)ctx;
	report_failure(st, it->dn, code, msg);
}

/* The entry as read again (PI_READ), gone (PI_DONE: nothing left to prune), or a failure. */
static void read_reply(struct prune_state *st, struct pitem *it, smp_dir_reply *rep,
		       const smp_error *err, void *ctx)
{
	(void)ctx;
	if (!rep->done) {
		if (it->e == NULL)
			it->e = rep->entry;
		else
			smp_entry_free(rep->entry);
		return;
	}
	if (rep->rc == 0 || smp_dir_rc_no_entry(rep->rc)) {
		it->state = it->e != NULL ? PI_READ : PI_DONE;  /* no entry: deleted meanwhile */
	} else {
		report_failure(st, it->dn, rep->code, err->msg);
		it->state = PI_DONE;
	}
}

static const struct group_op read_op = { PI_NEW, PI_READING, read_send, op_refused, read_reply };

/* Plans each entry read and adds its undo record to jb; 0 or SMP_ERR_NOMEM. */
static int group_plan(struct prune_state *st, struct pitem *g, size_t n, smp_journal_batch *jb)
{
	const char *attr = smp_dir_profile(st->dir)->cert_attr;
	smp_error err = SMP_ERROR_INIT;
	struct prune_changes jc;
	int r;

	for (size_t i = 0; i < n; i++) {
		struct pitem *it = &g[i];

		if (it->state != PI_READ)
			continue;
		it->state = PI_DONE;
		if ((r = plan_entry(st, it->e, &it->a, &it->picks, &it->n, &err)) != 0 ||
		    it->n == 0 ||
		    (r = changes_build(&jc, it->e, attr, it->picks, it->n, 1, &err)) != 0) {
			if (r == SMP_ERR_NOMEM)
				return r;
			if (r != 0)
				report_failure(st, it->dn, r, err.msg);
			continue;  /* n == 0: changed meanwhile, nothing to prune any more */
		}
		r = smp_journal_batch_add(jb, it->e->dn, jc.v, jc.n, &it->jid, &err);
		changes_release(&jc);
		if (r == 0)
			r = changes_build(&it->c, it->e, attr, it->picks, it->n, 0, &err);
		if (r != 0)
			return r;
		it->state = PI_READ;  /* planned, with its record in jb */
	}
	return 0;
}

static int write_send(struct prune_state *st, struct pitem *it, smp_error *err)
{
	cli_test_before_modify(it->e->dn);
	return smp_dir_modify_send(st->dir, it->e->dn, it->c.v, it->c.n, &it->msgid, err);
}

/* A modify refused before or by the server changed nothing: its undo record goes. */
static void write_refused(struct prune_state *st, struct pitem *it, int code, const char *msg,
			  void *ctx)
{
	smp_error verr = SMP_ERROR_INIT;

	smp_journal_batch_void(st->journal, ctx, it->jid, &verr);
	if (code == SMP_ERR_CONFLICT)
		it->state = PI_RETRY;  /* changed meanwhile: read and plan it once more, alone */
	else
		report_failure(st, it->dn, code, msg);
}

static void write_reply(struct prune_state *st, struct pitem *it, smp_dir_reply *rep,
			const smp_error *err, void *ctx)
{
	smp_entry_free(rep->entry);
	if (!rep->done)
		return;
	it->state = PI_DONE;
	if (rep->code != 0) {
		write_refused(st, it, rep->code, err->msg, ctx);
		return;
	}
	for (size_t i = 0; i < it->n; i++)
		cli_out_record(&st->out, action_json(it->a, &it->picks[i], "removed", NULL));
	st->removed += it->n;
}

/* planned items (PI_READ after group_plan) get their modify */
static const struct group_op write_op = { PI_READ, PI_SENT, write_send, write_refused,
					  write_reply };

/* Changes every spooled entry, reading the DNs back a group at a time. */
static int prune_spooled(struct prune_state *st)
{
	struct pitem *g = calloc(PRUNE_GROUP_MAX, sizeof(*g));
	smp_journal_batch *jb = NULL;
	size_t cap = 0, done = 0, n, group;
	char *dn = NULL;
	int r = 0;

	if (g == NULL)
		return smp_error_set(&st->err, SMP_ERR_NOMEM, "out of memory");
	if (fflush(st->spool) != 0 || fseek(st->spool, 0, SEEK_SET) != 0) {
		free(g);
		return smp_error_set(&st->err, SMP_ERR_INTERNAL,
				     "cannot read back the list of entries to prune");
	}
	cli_progress_start(&st->progress, st->o, "prune: removing");
	smp_window_init(&st->win, st->o->jobs_set ? (unsigned)st->o->jobs : 0, smp_window_clock());
	while (!st->stop && r == 0) {
		group = (size_t)st->win.size * 8;
		if (group < PRUNE_GROUP)
			group = PRUNE_GROUP;
		if (group > PRUNE_GROUP_MAX)
			group = PRUNE_GROUP_MAX;
		for (n = 0; n < group && getdelim(&dn, &cap, '\0', st->spool) > 0; n++) {
			g[n].dn = dn;
			dn = NULL;
			cap = 0;
		}
		if (n == 0)
			break;
		group_run(st, g, n, &read_op, NULL);
		if ((r = smp_journal_batch_new(&jb)) != 0 || (r = group_plan(st, g, n, jb)) != 0) {
			smp_error_set(&st->err, r, "out of memory");
		} else if (smp_journal_batch_count(jb) > 0 &&
			   (r = smp_journal_batch_commit(st->journal, jb, &st->err)) != 0) {
			/* nothing of this group is sent without its undo records on disk */
			for (size_t i = 0; i < n; i++)
				if (g[i].state == PI_READ)
					report_failure(st, g[i].dn, r, st->err.msg);
			st->stop = 1;
			r = 0;
		} else {
			group_run(st, g, n, &write_op, jb);
		}
		for (size_t i = 0; i < n; i++) {
			if (g[i].state == PI_RETRY && !st->stop)
				prune_entry(st, g[i].dn);
			else if (g[i].state == PI_RETRY)
				report_failure(st, g[i].dn, SMP_ERR_UNAVAILABLE, "the connection was "
					       "lost before this entry could be pruned again");
			pitem_release(&g[i]);
		}
		smp_journal_batch_free(jb);
		jb = NULL;
		done += n;
		cli_progress_update(&st->progress, done, st->spooled);
	}
	cli_progress_end(&st->progress);
	for (size_t i = 0; i < PRUNE_GROUP_MAX; i++)
		pitem_release(&g[i]);
	free(g);
	free(dn);
	return r;
}

static void report_summary(struct prune_state *st)
{
	char *msg = NULL;

	if (st->o->quiet)
		return;
	if (asprintf(&msg, "%zu entries checked, %zu certificates %s, %zu entries failed",
		     st->entries, st->removed, st->o->dry_run ? "would be removed" : "removed",
		     st->failed_entries) < 0)
		msg = NULL;
	if (st->out.format == CLI_FMT_TEXT) {
		/* a dry run's stdout stays a file ldapmodify accepts */
		fprintf(st->out.fp, "%s%s\n", st->o->dry_run ? "# " : "summary: ", msg ? msg : "");
		fflush(st->out.fp);
	} else {
		cli_out_record(&st->out,
			       json_pack("{s:s, s:I, s:I, s:I, s:s?}", "type", "summary", "entries",
					 (json_int_t)st->entries, st->o->dry_run ? "would_remove" :
					 "removed", (json_int_t)st->removed, "failed",
					 (json_int_t)st->failed_entries, "message", msg));
	}
	free(msg);
}

int cmd_prune(struct cli_opts *o)
{
	struct prune_state st;
	smp_prune_sel sel = SMP_PRUNE_SEL_INIT;
	int r, jobs;

	memset(&st, 0, sizeof(st));
	st.o = o;
	cli_out_init(&st.out, o, stdout);
	if (o->nargs > 0) {
		cli_error("prune takes no arguments (unexpected '%s'): narrow it with -b BASE",
			  o->args[0]);
		return 64;
	}
	if (o->from_ldif != NULL) {
		cli_error("prune works on a directory, not on '%s': use audit --from-ldif to check "
			  "an export", o->from_ldif);
		return 64;
	}
	if (!o->prune_expired_sel && !o->prune_untrusted && !o->prune_superseded) {
		cli_error("--select chose nothing to prune: use expired, untrusted, superseded");
		return 64;
	}
	sel.expired = o->prune_expired_sel;
	sel.untrusted = o->prune_untrusted;
	sel.revoked = o->prune_untrusted && o->trust.crl_file != NULL;
	sel.superseded = o->prune_superseded;
	sel.malformed = 0;
	st.sel = sel;
	if ((r = cli_trust(&st.trust, o, &st.err)) != 0) {
		cli_error_of(&st.err);
		return smp_exit_status(r);
	}
	/* before connecting: the workers inherit the trust context, not the connection */
	jobs = workers_count(o->jobs);
	st.eb.on_result = prune_result;
	st.eb.ctx = &st;
	if (jobs > 1 &&
	    (r = workers_start(&st.eb.pool, jobs, BATCH_DEPTH, prune_job, &st, &st.err)) != 0) {
		cli_error("prune could not start: %s", st.err.msg);
		smp_trust_free(st.trust);
		return 1;
	}
	if ((r = cli_connect(&st.dir, o, &st.err)) != 0) {
		cli_error_of(&st.err);
		st.status = smp_exit_status(r);
		goto out;
	}
	/* the profile's certificate attribute, for values read without one (batches carry it) */
	st.eb.header = smp_dir_profile(st.dir)->cert_attr;
	if (!o->dry_run && (st.spool = tmpfile()) == NULL) {
		cli_error("cannot create a temporary file for the list of entries to prune");
		st.status = 1;
		goto out;
	}
	cli_progress_start(&st.progress, o, "prune: checking");
	r = smp_dir_walk(st.dir, walk_one, on_referral, &st, &st.err);
	if (r == 0)  /* every batch handed out checked, its records printed, its DNs spooled */
		r = entry_batches_sync(&st.eb, &st.err);
	if (workers_stop(st.eb.pool, r == 0 ? &st.err : NULL) != 0 && r == 0)
		r = SMP_ERR_INTERNAL;
	st.eb.pool = NULL;
	cli_progress_end(&st.progress);
	if (r != 0) {
		cli_error("prune stopped: %s", st.err.msg[0] ? st.err.msg : "unknown error");
		note_status(&st, r < 0 ? smp_exit_status(r) : 1);
		if (st.status == 0)
			st.status = 1;
	}
	/* what the walk found before it stopped is still pruned */
	if (!o->dry_run && st.spooled > 0 &&
	    (r = smp_journal_open(&st.journal, o->journal, &st.err)) != 0) {
		cli_error("%s: nothing was changed", st.err.msg);
		note_status(&st, smp_exit_status(r));
	} else if (!o->dry_run && st.spooled > 0 && prune_spooled(&st) != 0) {
		cli_error_of(&st.err);
		note_status(&st, 1);
	}
	report_summary(&st);
out:
	workers_stop(st.eb.pool, NULL);
	entry_batches_release(&st.eb);
	if (st.spool != NULL)
		fclose(st.spool);
	smp_journal_close(st.journal);
	smp_dir_close(st.dir);
	smp_trust_free(st.trust);
	return st.status;
}
