/* smimepub engine: the one pipeline of the operations that write (see pipeline.h). */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void pipe_item_reset(struct pipe_item *it)
{
	smp_entry_free(it->own);
	free_changes(it->changes, it->n_changes);
	it->own = NULL;
	it->entry = NULL;
	it->plan = NULL;
	it->changes = NULL;
	it->n_changes = 0;
	it->record[0] = '\0';
}

void pipe_item_release(struct pipe_item *it)
{
	pipe_item_reset(it);
	pub_result_release(&it->res);
	memset(it, 0, sizeof(*it));
}

void pipe_fail(struct pipe_item *it, int code, const char *msg)
{
	char *dn = it->res.dn;

	it->res.dn = NULL;
	pub_result_release(&it->res);
	pub_failure(&it->res, code, msg != NULL && *msg != '\0' ? msg : "cannot change the entry");
	it->res.dn = dn;
	it->state = PIPE_DONE;
}

int pipe_planned(smp_session *c, struct pipe_item *it, const smp_plan *plan)
{
	smp_error err = SMP_ERROR_INIT;
	int r;

	it->plan = plan;
	r = build_changes(smp_dir_profile(c->dir), it->entry, plan, &it->changes, &it->n_changes,
			  &err);
	if (r == 0)
		it->state = PIPE_PLANNED;
	return r;
}

size_t pipe_group_size(const smp_session *c, size_t per_window, size_t min, size_t max)
{
	size_t n = (size_t)c->win.size * per_window;

	return n < min ? min : n > max ? max : n;
}

/* ---- reconnecting and settling --------------------------------------------------------- */

/*
 * Reconnects with backoff (0.2 s, 0.5 s, 1 s, then every 2 s up to PUB_RECONNECT_SECONDS: a
 * restarted server is back within seconds, and polling it every 2 s costs it nothing). Returns
 * 0, or the last error (c->down set: nothing more is tried).
 */
int bulk_reconnect(smp_session *c, smp_error *err)
{
	static const long delays_ms[] = { 200, 500, 1000, 2000 };
	long waited = 0, limit = c->o.reconnect_seconds > 0 ? c->o.reconnect_seconds
							      : PUB_RECONNECT_SECONDS;
	int r = SMP_ERR_UNAVAILABLE;

	if (c->down)
		return smp_error_set(err, SMP_ERR_UNAVAILABLE, "the directory is unavailable");
	for (size_t i = 0;; i++) {
		long d = delays_ms[i < 3 ? i : 3];
		struct timespec ts = { d / 1000, (d % 1000) * 1000000L };

		/* asked to stop: one quick try to settle what was in flight, no long wait */
		if (waited + d > limit * 1000L || (i > 0 && pub_cancelled(c)))
			break;
		nanosleep(&ts, NULL);  /* a signal cuts it short: then the check above */
		waited += d;
		r = smp_dir_reconnect(c->dir, err);
		if (r == 0) {
			pub_notice(c, "reconnected to '%s'", smp_dir_uri(c->dir));
			return 0;
		}
		if (r != SMP_ERR_UNAVAILABLE)
			break;
	}
	c->down = 1;
	return r;
}

static int value_in(const struct berval *v, const struct berval *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i].bv_len == v->bv_len && memcmp(set[i].bv_val, v->bv_val, v->bv_len) == 0)
			return 1;
	return 0;
}

/*
 * Whether the modify (delete del, then add add) of an entry that held before[] happened, seen
 * from what the entry holds now: now equal to the expected result, yes; equal to before, no;
 * otherwise (someone else changed it too) yes when every added value is there and every value
 * only deleted is gone.
 */
static int change_happened(const struct berval *before, size_t nb, const struct berval *del,
			   size_t nd, const struct berval *add, size_t na, const smp_entry *now)
{
	size_t k = 0, i;
	int same = now->n_certs == nb;

	for (i = 0; same && i < nb; i++)
		same = before[i].bv_len == now->certs[i].bv_len &&
		       memcmp(before[i].bv_val, now->certs[i].bv_val, before[i].bv_len) == 0;
	if (same)
		return 0;
	for (i = 0; i < nb; i++) {
		if (value_in(&before[i], del, nd))
			continue;
		if (k >= now->n_certs || !value_in(&before[i], &now->certs[k], 1))
			goto loose;
		k++;
	}
	for (i = 0; i < na; i++, k++)
		if (k >= now->n_certs || !value_in(&add[i], &now->certs[k], 1))
			goto loose;
	if (k == now->n_certs)
		return 1;
loose:
	for (i = 0; i < na; i++)
		if (!value_in(&add[i], now->certs, now->n_certs))
			return 0;
	for (i = 0; i < nd; i++)
		if (!value_in(&del[i], add, na) && value_in(&del[i], now->certs, now->n_certs))
			return 0;
	return 1;
}

int settle_unknown(smp_session *c, const char *dn, const struct berval *before, size_t nb,
		   const struct berval *del, size_t nd, const struct berval *add, size_t na,
		   smp_journal_batch *jb, size_t jid, int *happened, smp_error *err)
{
	smp_entry *now = NULL;
	int r;

	*happened = 0;
	for (;;) {
		r = smp_dir_read(c->dir, dn, &now, err);
		if (r != SMP_ERR_UNAVAILABLE)
			break;
		if ((r = bulk_reconnect(c, err)) != 0)
			return r;
	}
	if (r == SMP_ERR_NOTFOUND) {
		*happened = 0;
	} else if (r != 0) {
		return r;
	} else {
		*happened = change_happened(before, nb, del, nd, add, na, now);
	}
	smp_entry_free(now);
	if (!*happened)
		return smp_journal_batch_void(c->journal, jb, jid, err);
	return 0;
}

/* The next reply of the operations in flight; lets c->idle run first. */
static int next_reply(smp_session *c, smp_dir_reply *rep, smp_error *err)
{
	if (c->idle != NULL)
		c->idle(c->idle_ctx);
	return smp_dir_next_reply(c->dir, rep, err);
}

static struct pipe_item *by_msgid(struct pipe_item **g, size_t n, int state, int msgid)
{
	for (size_t i = 0; i < n; i++)
		if (g[i]->state == state && g[i]->msgid == msgid)
			return g[i];
	return NULL;
}

/* ---- locating by address ----------------------------------------------------------------- */

struct sbatch {
	size_t first, end;        /* items g[first..end) */
	const char **addrs;
	size_t naddrs;
	smp_entry **found;
	size_t nfound;
	int msgid;
	int state;                /* 0 to send, 1 in flight, 2 done, 3 failed */
};

struct pipe_search {
	struct sbatch *b;
	size_t n;
};

static void sbatch_reset(struct sbatch *b)
{
	smp_entries_free(b->found, b->nfound);
	b->found = NULL;
	b->nfound = 0;
}

void pipe_search_free(struct pipe_search *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		sbatch_reset(&s->b[i]);
		free(s->b[i].addrs);
	}
	free(s->b);
	free(s);
}

static int sbatch_add_entry(struct sbatch *b, smp_entry *e)
{
	smp_entry **grown = realloc(b->found, (b->nfound + 1) * sizeof(*grown));

	if (grown == NULL) {
		smp_entry_free(e);
		return SMP_ERR_NOMEM;
	}
	b->found = grown;
	b->found[b->nfound++] = e;
	return 0;
}

/* Sends the searches (as many at once as c->win allows) and collects their entries. */
static int search_all(smp_session *c, struct sbatch *sb, size_t nsb)
{
	smp_error err = SMP_ERROR_INIT;
	size_t inflight = 0, i;
	smp_dir_reply rep;
	int r;

	for (;;) {
		/* asked to stop: unsent searches leave their items to pipe_single, which says so */
		for (i = 0; i < nsb && smp_window_may_send(&c->win) && !pub_cancelled(c); i++) {
			if (sb[i].state != 0)
				continue;
			r = smp_dir_find_addresses_send(c->dir, sb[i].addrs, sb[i].naddrs,
							&sb[i].msgid, &err);
			if (r == SMP_ERR_UNAVAILABLE)
				goto lost;
			sb[i].state = r == 0 ? 1 : 3;
			inflight += r == 0;
			if (r == 0)
				smp_window_sent(&c->win, smp_window_clock());
		}
		if (inflight == 0)
			return 0;
		r = next_reply(c, &rep, &err);
		if (r == SMP_ERR_UNAVAILABLE)
			goto lost;
		if (r != 0)
			return r;
		for (i = 0; i < nsb; i++)
			if (sb[i].state == 1 && sb[i].msgid == rep.msgid)
				break;
		if (i == nsb) {
			smp_entry_free(rep.entry);
			continue;
		}
		if (!rep.done) {
			if (sbatch_add_entry(&sb[i], rep.entry) != 0)
				return SMP_ERR_NOMEM;
			continue;
		}
		sb[i].state = rep.code == 0 ? 2 : 3;
		inflight--;
		smp_window_done(&c->win, smp_window_clock(), smp_window_trouble_rc(rep.rc));
		continue;
lost:
		smp_window_lost(&c->win, smp_window_clock());
		if (bulk_reconnect(c, &err) != 0)
			return 0;  /* c->down: every item still open fails in its single path */
		inflight = 0;
		for (i = 0; i < nsb; i++)
			if (sb[i].state == 1) {
				sbatch_reset(&sb[i]);
				sb[i].state = 0;
			}
	}
}

/*
 * The addresses of e that smp_entry_has_address matches (mail values, smtp: proxyAddresses),
 * normalised once: a batch's items are compared with every entry the batch found.
 */
struct entry_addrs {
	char **v;
	size_t n;
};

static void entry_addrs_release(struct entry_addrs *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

/* smp_entry_each_address's callback: keeps a copy of addr. */
static int entry_addrs_add(const char *addr, int how, void *ctx)
{
	struct entry_addrs *a = ctx;
	char **grown = realloc(a->v, (a->n + 1) * sizeof(*grown));

	(void)how;
	if (grown == NULL)
		return SMP_ERR_NOMEM;
	a->v = grown;
	if ((a->v[a->n] = strdup(addr)) == NULL)
		return SMP_ERR_NOMEM;
	a->n++;
	return 0;
}

/* Whether a holds one of it's addresses (both normalised, compared as smp_address_equal). */
static int entry_addrs_hit(const struct entry_addrs *a, const struct pipe_item *it)
{
	for (size_t i = 0; i < it->n_addrs; i++)
		for (size_t k = 0; k < a->n; k++)
			if (smp_address_equal(a->v[k], it->addrs[i]))
				return 1;
	return 0;
}

/* Matches each item of batch b with the batch's entries: exactly one → PIPE_HAVE. */
static int match(struct pipe_item **g, const struct sbatch *b)
{
	struct entry_addrs *addrs = NULL;
	size_t loaded = 0;
	int r = 0;

	if (b->state == 2 && (addrs = calloc(b->nfound + 1, sizeof(*addrs))) == NULL)
		return SMP_ERR_NOMEM;
	for (; b->state == 2 && loaded < b->nfound && r == 0; loaded++)
		r = smp_entry_each_address(b->found[loaded], entry_addrs_add, &addrs[loaded]);
	for (size_t i = b->first; i < b->end && r == 0; i++) {
		struct pipe_item *it = g[i];
		const smp_entry *one = NULL;
		size_t count = 0;

		if (it->state != PIPE_LOCATE)
			continue;
		for (size_t k = 0; b->state == 2 && k < b->nfound; k++) {
			if (!entry_addrs_hit(&addrs[k], it) ||
			    (one != NULL && strcasecmp(one->dn, b->found[k]->dn) == 0))
				continue;
			one = b->found[k];
			count++;
		}
		/* none, several, or the search failed: the single path says so */
		it->entry = count == 1 ? one : NULL;
		it->state = count == 1 ? PIPE_HAVE : PIPE_SINGLE;
	}
	for (size_t k = 0; k < loaded; k++)
		entry_addrs_release(&addrs[k]);
	free(addrs);
	return r;
}

int pipe_locate(smp_session *c, struct pipe_item **g, size_t n, struct pipe_search **out)
{
	struct pipe_search *s = calloc(1, sizeof(*s));
	int r = SMP_ERR_NOMEM;

	*out = s;
	if (s == NULL || (s->b = calloc(n + 1, sizeof(*s->b))) == NULL)
		return SMP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		struct pipe_item *it = g[i];
		struct sbatch *b = s->n > 0 ? &s->b[s->n - 1] : NULL;

		if (it->state != PIPE_LOCATE)
			continue;
		if (b == NULL || b->naddrs + it->n_addrs > PIPE_ADDRS) {
			b = &s->b[s->n++];
			b->first = i;
			b->addrs = calloc(it->n_addrs > PIPE_ADDRS ? it->n_addrs : PIPE_ADDRS,
					  sizeof(char *));
			if (b->addrs == NULL)
				return SMP_ERR_NOMEM;
		}
		for (size_t a = 0; a < it->n_addrs; a++)
			b->addrs[b->naddrs++] = it->addrs[a];
		b->end = i + 1;
	}
	if (s->n > 0 && (r = search_all(c, s->b, s->n)) != 0)
		return r;
	for (size_t i = 0; i < s->n; i++)
		if ((r = match(g, &s->b[i])) != 0)
			return r;
	return 0;
}

/* ---- reading by DN ------------------------------------------------------------------------ */

void pipe_read(smp_session *c, struct pipe_item **g, size_t n)
{
	smp_error err = SMP_ERROR_INIT;
	size_t inflight = 0, next = 0;
	smp_dir_reply rep;
	struct pipe_item *it;
	int r;

	for (;;) {
		for (; next < n && smp_window_may_send(&c->win) && !c->down && !pub_cancelled(c);
		     next++) {
			if (g[next]->state != PIPE_READ)
				continue;
			r = smp_dir_read_send(c->dir, g[next]->dn, &g[next]->msgid, &err);
			if (r == SMP_ERR_UNAVAILABLE)
				goto lost;
			if (r != 0) {
				g[next]->state = PIPE_SINGLE;
				continue;
			}
			g[next]->state = PIPE_READING;
			inflight++;
			smp_window_sent(&c->win, smp_window_clock());
		}
		if (inflight == 0)
			break;
		if ((r = next_reply(c, &rep, &err)) != 0)
			goto lost;
		if ((it = by_msgid(g, n, PIPE_READING, rep.msgid)) == NULL) {
			smp_entry_free(rep.entry);
			continue;
		}
		if (!rep.done) {
			if (it->own == NULL)
				it->own = rep.entry;
			else
				smp_entry_free(rep.entry);
			continue;
		}
		inflight--;
		smp_window_done(&c->win, smp_window_clock(), smp_window_trouble_rc(rep.rc));
		it->entry = it->own;
		it->state = rep.rc == 0 && it->own != NULL ? PIPE_HAVE : PIPE_SINGLE;
		continue;
lost:
		smp_window_lost(&c->win, smp_window_clock());
		inflight = 0;
		next = 0;
		for (size_t i = 0; i < n; i++)
			if (g[i]->state == PIPE_READING) {
				pipe_item_reset(g[i]);
				g[i]->state = PIPE_READ;
			}
		if (bulk_reconnect(c, &err) != 0)
			break;
	}
	for (size_t i = 0; i < n; i++)
		if (g[i]->state == PIPE_READ && pub_cancelled(c))
			pipe_fail(g[i], SMP_ERR_CANCELLED, PUB_INTERRUPTED_MSG);
		else if (g[i]->state == PIPE_READ)
			pipe_fail(g[i], SMP_ERR_UNAVAILABLE, err.msg[0] ? err.msg :
				  "the directory is unavailable");
}

/* ---- one item per entry ------------------------------------------------------------------- */

struct dnref {
	const char *dn;
	size_t idx;
};

static int dnref_cmp(const void *a, const void *b)
{
	const struct dnref *x = a, *y = b;
	int d = strcasecmp(x->dn, y->dn);

	return d != 0 ? d : (x->idx > y->idx) - (x->idx < y->idx);
}

int pipe_one_per_entry(struct pipe_item **g, size_t n)
{
	struct dnref *refs = calloc(n + 1, sizeof(*refs));
	size_t nrefs = 0;

	if (refs == NULL)
		return SMP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		if (g[i]->state == PIPE_HAVE) {
			refs[nrefs].dn = g[i]->entry->dn;
			refs[nrefs++].idx = i;
		}
	qsort(refs, nrefs, sizeof(*refs), dnref_cmp);
	for (size_t i = 1; i < nrefs; i++)
		if (strcasecmp(refs[i].dn, refs[i - 1].dn) == 0)
			g[refs[i].idx]->state = PIPE_SINGLE;
	free(refs);
	return 0;
}

/* ---- writing ------------------------------------------------------------------------------ */

static void void_record(smp_session *c, smp_journal_batch *jb, size_t jid)
{
	smp_error verr = SMP_ERROR_INIT;

	smp_journal_batch_void(c->journal, jb, jid, &verr);
}

static void written(struct pipe_item *it, const smp_journal_batch *jb)
{
	const char *id = smp_journal_batch_record_id(jb, it->jid);

	it->action = it->plan->action;
	it->state = PIPE_WRITTEN;
	snprintf(it->record, sizeof(it->record), "%s", id != NULL ? id : "");
}

/* Journals the planned items of g in jb and commits it (one fsync). */
static int journal_group(smp_session *c, struct pipe_item **g, size_t n, smp_journal_batch *jb,
			 smp_error *err)
{
	int r = 0;

	r = pub_journal_ready(c, err);
	for (size_t i = 0; i < n && r == 0; i++)
		if (g[i]->state == PIPE_PLANNED)
			r = smp_journal_batch_add_undo(jb, c->journal, g[i]->entry->dn,
						       g[i]->changes, g[i]->n_changes,
						       g[i]->undoes, &g[i]->jid, err);
	if (r == 0 && smp_journal_batch_count(jb) > 0)
		r = smp_journal_batch_commit(c->journal, jb, err);
	return r;
}

int pipe_write(smp_session *c, struct pipe_item **g, size_t n)
{
	smp_error err = SMP_ERROR_INIT;
	smp_journal_batch *jb = NULL;
	size_t inflight = 0, next = 0, i;
	smp_dir_reply rep;
	struct pipe_item *it;
	int r;

	if (pub_cancelled(c)) {
		/* asked to stop before this group: nothing journalled, nothing sent */
		for (i = 0; i < n; i++)
			if (g[i]->state == PIPE_PLANNED)
				pipe_fail(g[i], SMP_ERR_CANCELLED, PUB_INTERRUPTED_MSG);
		return 0;
	}
	if ((r = smp_journal_batch_new(&jb)) != 0)
		return r;
	if ((r = journal_group(c, g, n, jb, &err)) != 0) {
		/* nothing is sent without its undo record on disk */
		for (i = 0; i < n; i++)
			if (g[i]->state == PIPE_PLANNED)
				pipe_fail(g[i], r == SMP_ERR_NOMEM ? r : SMP_ERR_NOFILE, err.msg);
		smp_journal_batch_free(jb);
		return r == SMP_ERR_NOMEM ? r : 0;
	}
	for (;;) {
		/* asked to stop: no new modify; the ones in flight are waited for below */
		for (; next < n && smp_window_may_send(&c->win) && !c->down && !pub_cancelled(c);
		     next++) {
			it = g[next];
			if (it->state != PIPE_PLANNED)
				continue;
			pub_before_modify(c, it->entry->dn);
			r = smp_dir_modify_send(c->dir, it->entry->dn, it->changes, it->n_changes,
						&it->msgid, &err);
			if (r == SMP_ERR_UNAVAILABLE)
				goto lost;
			if (r != 0) {
				void_record(c, jb, it->jid);
				if (r == SMP_ERR_CONFLICT)
					it->state = PIPE_SINGLE;
				else
					pipe_fail(it, r, err.msg);
				continue;
			}
			it->state = PIPE_SENT;
			inflight++;
			smp_window_sent(&c->win, smp_window_clock());
		}
		if (inflight == 0)
			break;
		if ((r = next_reply(c, &rep, &err)) != 0)
			goto lost;
		smp_entry_free(rep.entry);
		if ((it = by_msgid(g, n, PIPE_SENT, rep.msgid)) == NULL || !rep.done)
			continue;
		inflight--;
		smp_window_done(&c->win, smp_window_clock(), smp_window_trouble_rc(rep.rc));
		if (rep.code == 0) {
			written(it, jb);
			continue;
		}
		/* the modify is atomic: it did not happen, its undo must not either */
		void_record(c, jb, it->jid);
		if (rep.code == SMP_ERR_CONFLICT || rep.code == SMP_ERR_NOTFOUND)
			it->state = PIPE_SINGLE;  /* changed meanwhile: read and plan it again */
		else
			pipe_fail(it, rep.code, err.msg);
		continue;
lost:
		smp_window_lost(&c->win, smp_window_clock());
		inflight = 0;
		next = 0;
		if (bulk_reconnect(c, &err) != 0)
			break;
		for (i = 0; i < n; i++) {
			int happened = 0;

			it = g[i];
			if (it->state != PIPE_SENT)
				continue;
			r = settle_unknown(c, it->entry->dn, it->entry->certs, it->entry->n_certs,
					   it->plan->del, it->plan->n_del, it->plan->add,
					   it->plan->n_add, jb, it->jid, &happened, &err);
			if (r == SMP_ERR_UNAVAILABLE)
				break;
			if (r != 0 && r != SMP_ERR_NOFILE && r != SMP_ERR_INTERNAL)
				pipe_fail(it, r, err.msg);
			else if (happened)
				written(it, jb);
			else
				it->state = PIPE_SINGLE;
		}
		if (c->down)
			break;
	}
	/* asked to stop, or the directory stayed away: what was not sent is skipped or fails,
	   its record voided; what was in flight fails with its record kept (its outcome is
	   unknown, see journal.h) */
	for (i = 0; i < n; i++) {
		if (g[i]->state == PIPE_PLANNED)
			void_record(c, jb, g[i]->jid);
		if (g[i]->state == PIPE_PLANNED && pub_cancelled(c))
			pipe_fail(g[i], SMP_ERR_CANCELLED, PUB_INTERRUPTED_MSG);
		else if (g[i]->state == PIPE_PLANNED || g[i]->state == PIPE_SENT)
			pipe_fail(g[i], SMP_ERR_UNAVAILABLE, err.msg);
	}
	smp_journal_batch_free(jb);
	return 0;
}

int pipe_write_groups(smp_session *c, struct pipe_item **g, size_t n,
		      void (*progress)(smp_session *c, size_t done))
{
	struct pipe_item **group = calloc(n + 1, sizeof(*group));
	int r = 0;

	if (group == NULL)
		return SMP_ERR_NOMEM;
	for (size_t i = 0; i < n && r == 0;) {
		size_t ng = 0, max = pipe_group_size(c, 16, 64, n);

		for (; i < n && ng < max; i++)
			if (g[i]->state == PIPE_PLANNED)
				group[ng++] = g[i];
		if (ng == 0)
			break;
		r = pipe_write(c, group, ng);
		if (r == 0 && progress != NULL)
			progress(c, i);
	}
	free(group);
	return r;
}

/* ---- one at a time ------------------------------------------------------------------------ */

int pipe_single(smp_session *c, struct pipe_item *it, pipe_single_fn fn, void *ctx)
{
	smp_error err = SMP_ERROR_INIT;
	int r;

	for (int attempt = 0;; attempt++) {
		if (pub_cancelled(c)) {
			pipe_item_reset(it);
			pipe_fail(it, SMP_ERR_CANCELLED, PUB_INTERRUPTED_MSG);
			return 0;
		}
		if (c->down) {
			pipe_fail(it, SMP_ERR_UNAVAILABLE,
				  "the directory is unavailable: run the same command again later");
			return 0;
		}
		pipe_item_reset(it);
		pub_result_release(&it->res);
		if ((r = fn(c, it, ctx)) != 0)
			return r;
		if (it->state == PIPE_WRITTEN && it->record[0] == '\0')
			memcpy(it->record, c->record, sizeof(it->record));
		if (!c->unknown.set && (it->state != PIPE_DONE || it->res.status != 69 ||
					c->o.dry_run))
			return 0;
		if (bulk_reconnect(c, &err) != 0) {
			pub_unknown_release(&c->unknown);  /* its record stays: see journal.h */
			return 0;                          /* keeps the failure */
		}
		if (c->unknown.set) {
			struct pub_unknown *u = &c->unknown;
			int happened = 0;

			r = settle_unknown(c, u->dn, u->before, u->n_before, u->del, u->n_del,
					   u->add, u->n_add, u->jb, u->jid, &happened, &err);
			if (r == 0 && happened) {
				char *dn = it->res.dn;

				it->res.dn = NULL;
				pub_result_release(&it->res);
				it->res.dn = dn;
				it->action = u->action;
				it->state = PIPE_WRITTEN;
				snprintf(it->record, sizeof(it->record), "%s",
					 smp_journal_batch_record_id(u->jb, u->jid) != NULL
					 ? smp_journal_batch_record_id(u->jb, u->jid) : "");
			}
			pub_unknown_release(u);
			if (r != 0 || happened)
				return 0;
		}
		if (attempt >= PUB_MAX_RETRIES)
			return 0;  /* keeps the failure */
	}
}
