/*
 * smimepub engine: undo, applying the journal's inverse records newest first (SPEC §4).
 *
 * A record deletes exactly the values its change added and adds back exactly the values it
 * removed, in their order. Applied as ONE exact-value modify, it either finds the entry as the
 * change left it and restores it, or the server refuses it whole (a value to delete is gone:
 * 16, one to add is back: 20) and nothing changes. The entry is also read and checked first,
 * so that a dry run says the same as the real run, and a refusal is reported in plain words
 * ("conflict") instead of as a server error. Records already undone (a later record names
 * them in its undoes=) are never applied twice; an undo's own records are what `undo --record`
 * of them re-applies.
 *
 * Two passes over the journal keep memory small: the first reads only the framing (ids, runs,
 * times, what undid what), the second reads the selected records by offset, newest first, a
 * chunk at a time, and sends them through the one pipeline (reads and modifies in flight, one
 * journal fsync per group, reconnect and settle).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ldap.h>
#include <openssl/evp.h>

#include "smimepub/ca.h"
#include "smimepub/journal.h"
#include "pipeline.h"

#define UNDO_CHUNK 1000

/* One record as the first pass saw it. */
struct rec {
	char id[24];
	char run[24];
	char undoes[24];          /* "" when it undoes nothing */
	char command[24];
	char time[32];
	char by[256];
	time_t when;              /* (time_t)-1 when its time cannot be read */
	smp_journal_state state;
	unsigned long long offset;
	size_t len;
	int undone;               /* a later record undid it */
	int selected;
};

struct recs {
	struct rec *v;
	size_t n, cap;
	size_t *by_id;            /* indexes of v sorted by id */
	int nomem;
};

static void copy_field(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src != NULL ? src : "");
}

static int collect(const smp_journal_info *r, void *ctx)
{
	struct recs *rs = ctx;
	struct rec *x;
	smp_error terr = SMP_ERROR_INIT;

	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 256;
		struct rec *grown = realloc(rs->v, cap * sizeof(*grown));

		if (grown == NULL) {
			rs->nomem = 1;
			return SMP_ERR_NOMEM;
		}
		rs->v = grown;
		rs->cap = cap;
	}
	x = &rs->v[rs->n++];
	memset(x, 0, sizeof(*x));
	copy_field(x->id, sizeof(x->id), r->id);
	/* a legacy record is a run of its own: --last takes it alone */
	copy_field(x->run, sizeof(x->run), r->run[0] != '\0' ? r->run : r->id);
	copy_field(x->undoes, sizeof(x->undoes), r->undoes);
	copy_field(x->command, sizeof(x->command), r->command);
	copy_field(x->time, sizeof(x->time), r->time);
	copy_field(x->by, sizeof(x->by), r->by);
	if (smp_parse_time(&x->when, r->time, &terr) != 0)
		x->when = (time_t)-1;
	x->state = r->state;
	x->offset = r->offset;
	x->len = r->len;
	return 0;
}

static const struct recs *sort_ctx;

static int cmp_id(const void *a, const void *b)
{
	return strcmp(sort_ctx->v[*(const size_t *)a].id, sort_ctx->v[*(const size_t *)b].id);
}

/* The index of the record named id, or -1. */
static long find_rec(const struct recs *rs, const char *id)
{
	size_t lo = 0, hi = rs->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(rs->v[rs->by_id[mid]].id, id);

		if (c == 0)
			return (long)rs->by_id[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int applicable(const struct rec *x)
{
	return x->state == SMP_JOURNAL_OK || x->state == SMP_JOURNAL_LEGACY;
}

/*
 * Reads the journal's framing into rs, indexed by id, with each record's `undone` settled in
 * file order: a record that undoes X undoes it; one that undoes an undo (of W) makes W's change
 * current again.
 */
static int load(struct recs *rs, const char *path, smp_error *err)
{
	int r;

	memset(rs, 0, sizeof(*rs));
	r = smp_journal_walk(path, collect, rs, err);
	if (rs->nomem)
		return smp_error_set(err, SMP_ERR_NOMEM, "cannot read the journal: out of memory");
	if (r != 0)
		return r;
	if ((rs->by_id = calloc(rs->n + 1, sizeof(*rs->by_id))) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "cannot read the journal: out of memory");
	for (size_t i = 0; i < rs->n; i++)
		rs->by_id[i] = i;
	sort_ctx = rs;
	qsort(rs->by_id, rs->n, sizeof(*rs->by_id), cmp_id);
	for (size_t i = 0; i < rs->n; i++) {
		long x;

		if (rs->v[i].state != SMP_JOURNAL_OK || rs->v[i].undoes[0] == '\0')
			continue;
		if ((x = find_rec(rs, rs->v[i].undoes)) < 0)
			continue;
		rs->v[x].undone = 1;
		if (rs->v[x].undoes[0] != '\0') {
			long w = find_rec(rs, rs->v[x].undoes);

			if (w >= 0)
				rs->v[w].undone = 0;
		}
	}
	return 0;
}

static void recs_release(struct recs *rs)
{
	free(rs->v);
	free(rs->by_id);
	memset(rs, 0, sizeof(*rs));
}

/* ---- one record's undo ---------------------------------------------------------------- */

struct uitem {
	struct pipe_item p;       /* its way through the pipeline; p.res its result */
	struct rec *rec;          /* borrowed */
	smp_journal_change *ch;   /* the record's change (owned), or NULL */
	char *text;               /* the record's bytes (owned), for a dry run's LDIF */
	smp_plan plan;            /* MODIFY: borrows ch's values */
	struct berval *del, *add; /* plan's arrays (owned, values borrowed) */
	int serial;               /* after the bulk: an earlier item has the same entry, or the
				     record is not a modify */
	int ca;                   /* MODIFY of a CA entry's certificates (ca publish / remove):
				     undone one by one by ca_modify_single */
	int reported;
};

static void uitem_release(struct uitem *u)
{
	pipe_item_release(&u->p);
	smp_journal_change_free(u->ch);
	free(u->text);
	free(u->del);
	free(u->add);
	memset(u, 0, sizeof(*u));
}

static void set_result(struct uitem *u, const char *action, const char *reason, int status,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void set_result(struct uitem *u, const char *action, const char *reason, int status,
		       const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	free(u->p.res.message);
	u->p.res.message = NULL;
	u->p.res.action = action;
	u->p.res.reason = reason;
	u->p.res.status = status;
	if (fmt != NULL) {
		va_start(ap, fmt);
		if (vasprintf(&msg, fmt, ap) < 0)
			msg = NULL;
		va_end(ap);
	}
	u->p.res.message = msg;
	u->p.state = PIPE_DONE;
}

static int is_cert_attr(const char *attr)
{
	size_t n = strlen("userCertificate");

	return strncasecmp(attr, "userCertificate", n) == 0 &&
	       (attr[n] == '\0' || attr[n] == ';');
}

/* The attributes ca publish and ca remove change on a CA entry (SPEC §6). */
static int is_ca_attr(const char *attr)
{
	return strncasecmp(attr, "cACertificate", 13) == 0 ||
	       strncasecmp(attr, "crossCertificatePair", 20) == 0;
}

static int has_value(const struct berval *v, size_t n, const struct berval *x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].bv_len == x->bv_len && memcmp(v[i].bv_val, x->bv_val, x->bv_len) == 0)
			return 1;
	return 0;
}

/* "SHA-256 1a2b3c4d…" of a value, for messages. */
static void short_digest(char out[24], const struct berval *v)
{
	unsigned char md[32];
	unsigned int len = 0;

	if (EVP_Digest(v->bv_val, v->bv_len, md, &len, EVP_sha256(), NULL) != 1 || len < 4)
		snprintf(out, 24, "?");
	else
		snprintf(out, 24, "%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
}

/* Whether the record only reorders: it deletes and adds back the same values. */
static int reorder_only(const struct uitem *u)
{
	for (size_t i = 0; i < u->plan.n_del; i++)
		if (!has_value(u->plan.add, u->plan.n_add, &u->plan.del[i]))
			return 0;
	return 1;
}

/*
 * Whether entry e is still as the change of u's record left it: every value the record
 * deletes (the change added) is there, none it adds (the change removed) is, but for the values
 * it deletes and adds back (the order of the values the change kept). Otherwise sets u's
 * result to "conflict" and returns 0.
 */
static int still_as_left(struct uitem *u, const smp_entry *e)
{
	char d[24];
	int before = 1;

	/*
	 * The entry as it was BEFORE the change (none of what it added, all of what it removed):
	 * the change never happened -- the process died between its record and its write -- or
	 * was undone by hand. Nothing to do, and nothing wrong.
	 */
	for (size_t i = 0; i < u->plan.n_del && before; i++)
		if (has_value(e->certs, e->n_certs, &u->plan.del[i]) &&
		    !has_value(u->plan.add, u->plan.n_add, &u->plan.del[i]))
			before = 0;
	for (size_t i = 0; i < u->plan.n_add && before; i++)
		if (!has_value(e->certs, e->n_certs, &u->plan.add[i]))
			before = 0;
	if (before && u->plan.n_del + u->plan.n_add > 0 &&
	    !(u->plan.n_del == u->plan.n_add && u->plan.n_del > 0 && reorder_only(u))) {
		set_result(u, "unchanged", "not_applied", 0,
			   "the entry is as it was before the change: the change never happened "
			   "(the process stopped between its journal record and its write) or was "
			   "undone already");
		return 0;
	}

	for (size_t i = 0; i < u->plan.n_del; i++) {
		if (!has_value(e->certs, e->n_certs, &u->plan.del[i])) {
			short_digest(d, &u->plan.del[i]);
			set_result(u, "skipped", "conflict", 1,
				   "the entry changed since: the certificate the change added (SHA-256 "
				   "%s...) is no longer on it; left as it is", d);
			return 0;
		}
	}
	for (size_t i = 0; i < u->plan.n_add; i++) {
		/* a value deleted and added back is the order being restored, not a conflict */
		if (has_value(e->certs, e->n_certs, &u->plan.add[i]) &&
		    !has_value(u->plan.del, u->plan.n_del, &u->plan.add[i])) {
			short_digest(d, &u->plan.add[i]);
			set_result(u, "skipped", "conflict", 1,
				   "the entry changed since: the certificate the change removed "
				   "(SHA-256 %s...) is on it again; left as it is", d);
			return 0;
		}
	}
	return 1;
}

/* The plan that applies a MODIFY record: its deletions, then its additions, in order. */
static int plan_of(struct uitem *u)
{
	const smp_journal_change *ch = u->ch;
	size_t nd = 0, na = 0;

	for (size_t i = 0; i < ch->n_changes && ch->n_changes == 1; i++)
		if (is_ca_attr(ch->changes[i].attr)) {
			u->ca = 1;
			return 0;
		}
	for (size_t i = 0; i < ch->n_changes; i++) {
		if (!is_cert_attr(ch->changes[i].attr)) {
			set_result(u, "failed", "malformed", 65,
				   "the record changes '%s', which smimepub never writes; apply it "
				   "by hand if it is meant", ch->changes[i].attr);
			return 0;
		}
		nd += ch->changes[i].n_del;
		na += ch->changes[i].n_add;
	}
	u->del = calloc(nd + 1, sizeof(*u->del));
	u->add = calloc(na + 1, sizeof(*u->add));
	if (u->del == NULL || u->add == NULL)
		return SMP_ERR_NOMEM;
	nd = na = 0;
	for (size_t i = 0; i < ch->n_changes; i++) {
		for (size_t k = 0; k < ch->changes[i].n_del; k++)
			u->del[nd++] = ch->changes[i].del[k];
		for (size_t k = 0; k < ch->changes[i].n_add; k++)
			u->add[na++] = ch->changes[i].add[k];
	}
	u->plan.action = na > 0 ? (nd > 0 ? SMP_ACT_REPLACED : SMP_ACT_PUBLISHED) : SMP_ACT_REMOVED;
	u->plan.del = u->del;
	u->plan.n_del = nd;
	u->plan.add = u->add;
	u->plan.n_add = na;
	u->plan.n_removed = nd;
	return 0;
}

/* Reads record u->rec's bytes from fd and parses them. 0, or a final result set. */
static int load_record(struct uitem *u, int fd)
{
	smp_error perr = SMP_ERROR_INIT;
	ssize_t got;
	int r;

	if ((u->text = malloc(u->rec->len + 1)) == NULL)
		return SMP_ERR_NOMEM;
	got = pread(fd, u->text, u->rec->len, (off_t)u->rec->offset);
	if (got != (ssize_t)u->rec->len) {
		set_result(u, "failed", "unreadable", 66, "cannot read the record from the journal: %s",
			   got < 0 ? strerror(errno) : "the file changed");
		return 0;
	}
	u->text[u->rec->len] = '\0';
	r = smp_journal_parse(&u->ch, u->text, u->rec->len, &perr);
	if (r == SMP_ERR_NOMEM)
		return r;
	if (r != 0) {
		set_result(u, "failed", "malformed", 65, "%s", perr.msg);
		return 0;
	}
	if ((u->p.res.dn = strdup(u->ch->dn)) == NULL)
		return SMP_ERR_NOMEM;
	u->p.dn = u->ch->dn;
	u->p.undoes = u->rec->id;
	if (u->ch->op == SMP_JOURNAL_MODIFY)
		return plan_of(u);
	return 0;
}

/* Reads u's entry (reconnecting as needed). 0 and *e, SMP_ERR_NOTFOUND, or another error. */
static int read_entry(smp_session *c, const char *dn, smp_entry **e, smp_error *err)
{
	int r;

	for (int tries = 0;; tries++) {
		r = smp_dir_read(c->dir, dn, e, err);
		if (r != SMP_ERR_UNAVAILABLE || tries >= PUB_MAX_RETRIES || c->down)
			return r;
		if ((r = bulk_reconnect(c, err)) != 0)
			return r;
	}
}

static void would_undo(smp_session *c, struct uitem *u)
{
	set_result(u, "would_undo", NULL, 0, NULL);
	free(u->p.res.ldif);
	u->p.res.ldif = strdup(u->text);
	(void)c;
}

/* A MODIFY record planned on the entry as read (it->entry set): conflict, dry run or write. */
static int decide_modify(smp_session *c, struct uitem *u)
{
	if (!still_as_left(u, u->p.entry))
		return 0;
	if (c->o.dry_run) {
		would_undo(c, u);
		return 0;
	}
	return pipe_planned(c, &u->p, &u->plan);
}

/*
 * A MODIFY record of a CA entry's certificates: applied while the entry holds every value the
 * change added and none it removed, as exec_modify (journalled itself, naming the record).
 */
static int ca_modify_single(smp_session *c, struct uitem *u)
{
	const smp_change *ch = &u->ch->changes[0];
	smp_error err = SMP_ERROR_INIT;
	struct berval *have = NULL;
	char *ldif = NULL;
	size_t n = 0;
	int exists = 0, r;

	if ((r = smp_dir_ca_read(c->dir, u->ch->dn, ch->attr, &exists, &have, &n, &err)) != 0)
		goto fail;
	if (!exists) {
		set_result(u, "skipped", "gone", 1, "the entry no longer exists");
		goto out;
	}
	for (size_t i = 0; i < ch->n_del; i++)
		if (!has_value(have, n, &ch->del[i])) {
			set_result(u, "skipped", "conflict", 1, "the entry changed since: the CA "
				   "certificate the change added is no longer on it; left as it is");
			goto out;
		}
	for (size_t i = 0; i < ch->n_add; i++)
		if (has_value(have, n, &ch->add[i])) {
			set_result(u, "skipped", "conflict", 1, "the entry changed since: the CA "
				   "certificate the change removed is on it again; left as it is");
			goto out;
		}
	if (c->o.dry_run) {
		would_undo(c, u);
		goto out;
	}
	c->undoes = u->rec->id;
	r = exec_modify(c, u->ch->dn, ch, 1, NULL, &ldif, NULL, NULL, &err);
	c->undoes = NULL;
	if (r != 0)
		goto fail;
	set_result(u, "undone", NULL, 0, "the entry's CA certificates are as they were before the "
		   "change (this undo is journal record %s)", c->record);
	snprintf(u->p.record, sizeof(u->p.record), "%s", c->record);
	goto out;
fail:
	pipe_fail(&u->p, r, err.msg);
	r = r == SMP_ERR_NOMEM ? r : 0;
	smp_bervals_free(have, n);
	free(ldif);
	return r;
out:
	smp_bervals_free(have, n);
	free(ldif);
	return 0;
}

/* A MODIFY record the one-at-a-time way: read, check, write through pipe_write of one. */
static int modify_single(smp_session *c, struct uitem *u)
{
	smp_error err = SMP_ERROR_INIT;
	struct pipe_item *g[1] = { &u->p };
	smp_entry *e = NULL;
	int r;

	for (int tries = 0; tries <= PUB_MAX_RETRIES; tries++) {
		pipe_item_reset(&u->p);
		r = read_entry(c, u->ch->dn, &e, &err);
		if (r == SMP_ERR_NOTFOUND) {
			set_result(u, "skipped", "gone", 1, "the entry no longer exists");
			return 0;
		}
		if (r != 0) {
			pipe_fail(&u->p, r, err.msg);
			return r == SMP_ERR_NOMEM ? r : 0;
		}
		u->p.own = e;
		u->p.entry = e;
		e = NULL;
		if ((r = decide_modify(c, u)) != 0)
			return r;
		if (u->p.state != PIPE_PLANNED)
			return 0;
		if ((r = pipe_write(c, g, 1)) != 0)
			return r;
		if (u->p.state != PIPE_SINGLE)
			return 0;
		/* changed between the read and the write: read it again */
	}
	set_result(u, "skipped", "conflict", 1, "the entry kept changing; left as it is");
	return 0;
}

/* The DN of dn's parent (malloc'd), by libldap's DN parser, or NULL. */
static char *parent_dn(const char *dn)
{
	LDAPDN parsed = NULL;
	char *out = NULL;

	if (ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAP) != LDAP_SUCCESS || parsed == NULL)
		return NULL;
	if (parsed[0] != NULL && parsed[1] != NULL &&
	    ldap_dn2str(&parsed[1], &out, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
		out = NULL;
	ldap_dnfree(parsed);
	if (out != NULL) {
		char *copy = strdup(out);

		ldap_memfree(out);
		out = copy;
	}
	return out;
}

/* Undoes a creation: deletes the contact, if it holds no certificate any more. */
/*
 * A CA entry (or the container) that ca publish created, as it is now: into *k what
 * re-creates it (its classes, name and values; attrs borrow *names, freed by the caller with
 * smp_dir_values_free). Returns how many CA certificates it holds (the undo deletes it only
 * while that is at most the one it was created with), or an error.
 */
static int ca_entry_recreation(smp_session *c, struct uitem *u, smp_contact **k,
			       char ***names, size_t *n, smp_error *err)
{
	char *attrs[] = { "objectClass", "cn", "ou", "cACertificate", "cACertificate;binary",
			  "crossCertificatePair", "certificateRevocationList",
			  "authorityRevocationList", NULL };
	struct berval *v = NULL;
	int exists = 0, held = 0, r;

	if ((r = smp_dir_read_values(c->dir, u->ch->dn, attrs, &exists, names, &v, n, err)) != 0)
		return r;
	if ((*k = calloc(1, sizeof(**k))) == NULL || ((*k)->dn = strdup(u->ch->dn)) == NULL) {
		smp_bervals_free(v, *n);
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	(*k)->exchange = -1;
	for (size_t i = 0; i < *n; i++) {
		if ((strncasecmp((*names)[i], "cACertificate", 13) == 0 ||
		     strncasecmp((*names)[i], "crossCertificatePair", 20) == 0) &&
		    !smp_ca_value_is_placeholder(&v[i]))
			held++;
		if ((*k)->n < SMP_CONTACT_MAX_VALUES) {
			(*k)->attrs[(*k)->n] = (*names)[i];
			(*k)->values[(*k)->n] = v[i];  /* moved: smp_contact_free frees it */
			(*k)->n++;
		} else {
			free(v[i].bv_val);
		}
	}
	free(v);
	return held;
}

static int delete_single(smp_session *c, struct uitem *u)
{
	smp_error err = SMP_ERROR_INIT;
	const char *what = "contact";
	char **ca_names = NULL;
	size_t ca_n = 0;
	smp_journal_batch *jb = NULL;
	smp_contact *k = NULL;
	smp_entry *e = NULL;
	char *parent = NULL;
	size_t jid = 0;
	int r, sent = 0;

	for (int tries = 0; tries <= PUB_MAX_RETRIES; tries++) {
		smp_entry_free(e);
		e = NULL;
		r = read_entry(c, u->ch->dn, &e, &err);
		if (r == SMP_ERR_NOTFOUND) {
			if (sent)
				set_result(u, "undone", NULL, 0, "deleted the %s the change created", what);
			else
				set_result(u, "unchanged", "gone", 0, "the contact no longer exists");
			r = 0;
			goto out;
		}
		if (r != 0)
			goto fail;
		if (e->n_certs > 0 || e->n_smime > 0) {
			set_result(u, "skipped", "conflict", 1,
				   "the contact holds %zu certificate%s now: undo or remove them first; "
				   "left as it is", e->n_certs + e->n_smime,
				   e->n_certs + e->n_smime == 1 ? "" : "s");
			r = 0;
			goto out;
		}
		if (c->o.dry_run) {
			would_undo(c, u);
			r = 0;
			goto out;
		}
		if (k == NULL && e->n_mail == 0) {
			/* no mail: a CA entry or the CA container ca publish created (SPEC §6) */
			int held = ca_entry_recreation(c, u, &k, &ca_names, &ca_n, &err);

			if (held < 0) {
				r = held;
				goto fail;
			}
			if (held > 1) {
				set_result(u, "skipped", "conflict", 1,
					   "the entry holds %d CA certificates now: remove the others "
					   "first; left as it is", held);
				r = 0;
				goto out;
			}
			what = "entry";
			if ((r = pub_journal_ready(c, &err)) != 0 ||
			    (r = smp_journal_batch_new(&jb)) != 0 ||
			    (r = smp_journal_batch_add_deletion(jb, c->journal, u->ch->dn,
								k->attrs, k->values, k->n,
								u->rec->id, &jid, &err)) != 0 ||
			    (r = smp_journal_batch_commit(c->journal, jb, &err)) != 0)
				goto fail;
		}
		if (k == NULL) {
			/* what re-creates it: the contact smimepub writes for its name and mail */
			if ((parent = parent_dn(u->ch->dn)) == NULL || e->n_mail == 0 || e->cn == NULL ||
			    smp_dir_contact_new(&k, c->dir, parent, e->cn, e->mail[0], &err) != 0) {
				set_result(u, "skipped", "conflict", 1,
					   "the contact no longer looks like the one created (name or "
					   "mail changed); left as it is");
				r = 0;
				goto out;
			}
			if ((r = pub_journal_ready(c, &err)) != 0 ||
			    (r = smp_journal_batch_new(&jb)) != 0 ||
			    (r = smp_journal_batch_add_deletion(jb, c->journal, u->ch->dn,
								k->attrs, k->values, k->n,
								u->rec->id, &jid, &err)) != 0 ||
			    (r = smp_journal_batch_commit(c->journal, jb, &err)) != 0)
				goto fail;
		}
		pub_before_modify(c, u->ch->dn);
		sent = 1;
		r = smp_dir_delete(c->dir, u->ch->dn, &err);
		if (r == 0) {
			const char *id = smp_journal_batch_record_id(jb, jid);

			set_result(u, "undone", NULL, 0, "deleted the %s the change created", what);
			snprintf(u->p.record, sizeof(u->p.record), "%s", id != NULL ? id : "");
			goto out;
		}
		if (r == SMP_ERR_UNAVAILABLE) {
			if (bulk_reconnect(c, &err) != 0)
				goto fail;
			continue;  /* the read decides whether it happened */
		}
		{
			smp_error verr = SMP_ERROR_INIT;

			smp_journal_batch_void(c->journal, jb, jid, &verr);
		}
		goto fail;
	}
	set_result(u, "failed", "unavailable", 69, "the directory kept going away");
	r = 0;
	goto out;
fail:
	pipe_fail(&u->p, r, err.msg);
	r = r == SMP_ERR_NOMEM ? r : 0;
out:
	smp_entry_free(e);
	smp_contact_free(k);
	smp_dir_values_free(ca_names, NULL, ca_n);
	smp_journal_batch_free(jb);
	free(parent);
	return r;
}

/* Undoes a deletion: re-creates the entry from the record, if it does not exist again. */
static int add_single(smp_session *c, struct uitem *u)
{
	smp_error err = SMP_ERROR_INIT;
	smp_journal_batch *jb = NULL;
	smp_contact k;
	smp_entry *e = NULL;
	size_t jid = 0;
	int r, sent = 0;

	memset(&k, 0, sizeof(k));
	if (u->ch->n_values > SMP_CONTACT_MAX_VALUES) {
		set_result(u, "failed", "malformed", 65, "the record re-creates an entry with %zu "
			   "values, more than a contact has", u->ch->n_values);
		return 0;
	}
	k.dn = u->ch->dn;
	k.n = u->ch->n_values;
	for (size_t i = 0; i < k.n; i++) {
		k.attrs[i] = u->ch->attrs[i];
		k.values[i] = u->ch->values[i];
	}
	for (int tries = 0; tries <= PUB_MAX_RETRIES; tries++) {
		smp_entry_free(e);
		e = NULL;
		r = read_entry(c, u->ch->dn, &e, &err);
		if (r == 0) {
			if (sent)
				set_result(u, "undone", NULL, 0, "re-created the contact");
			else
				set_result(u, "skipped", "conflict", 1,
					   "an entry of that name exists again; left as it is");
			r = 0;
			goto out;
		}
		if (r != SMP_ERR_NOTFOUND)
			goto fail;
		if (c->o.dry_run) {
			would_undo(c, u);
			r = 0;
			goto out;
		}
		if (jb == NULL &&
		    ((r = pub_journal_ready(c, &err)) != 0 || (r = smp_journal_batch_new(&jb)) != 0 ||
		     (r = smp_journal_batch_add_creation(jb, c->journal, k.dn, u->rec->id, &jid,
							 &err)) != 0 ||
		     (r = smp_journal_batch_commit(c->journal, jb, &err)) != 0))
			goto fail;
		sent = 1;
		r = smp_dir_add_contact(c->dir, &k, &err);
		if (r == 0) {
			const char *id = smp_journal_batch_record_id(jb, jid);

			set_result(u, "undone", NULL, 0, "re-created the contact");
			snprintf(u->p.record, sizeof(u->p.record), "%s", id != NULL ? id : "");
			goto out;
		}
		if (r == SMP_ERR_UNAVAILABLE) {
			if (bulk_reconnect(c, &err) != 0)
				goto fail;
			continue;
		}
		{
			smp_error verr = SMP_ERROR_INIT;

			smp_journal_batch_void(c->journal, jb, jid, &verr);
		}
		goto fail;
	}
	set_result(u, "failed", "unavailable", 69, "the directory kept going away");
	r = 0;
	goto out;
fail:
	pipe_fail(&u->p, r, err.msg);
	r = r == SMP_ERR_NOMEM ? r : 0;
out:
	smp_entry_free(e);
	smp_journal_batch_free(jb);
	return r;
}

static int run_single(smp_session *c, struct uitem *u)
{
	if (u->p.state == PIPE_DONE)
		return 0;
	if (pub_cancelled(c)) {
		pipe_fail(&u->p, SMP_ERR_CANCELLED, PUB_INTERRUPTED_MSG);
		return 0;
	}
	switch (u->ch->op) {
	case SMP_JOURNAL_MODIFY:
		return u->ca ? ca_modify_single(c, u) : modify_single(c, u);
	case SMP_JOURNAL_DELETE:
		return delete_single(c, u);
	case SMP_JOURNAL_ADD:
		return add_single(c, u);
	}
	return 0;
}

static void report(smp_session *c, const smp_undo_options *o, struct uitem *u, int *stop)
{
	smp_item it;

	if (u->p.state == PIPE_WRITTEN) {
		char rec[sizeof(u->p.record)];

		memcpy(rec, u->p.record, sizeof(rec));
		set_result(u, "undone", NULL, 0,
			   "the entry's certificates are as they were before the change%s%s%s",
			   rec[0] ? " (this undo is journal record " : "", rec, rec[0] ? ")" : "");
	}
	pub_item_fill(&it, &u->p.res, NULL, NULL);
	it.record = u->rec->id;
	it.record_time = u->rec->time;
	pub_emit_item(c, &it, o->on_item, o->ctx, stop);
}

/* Starts the undo of record x: a final result for what cannot be applied, else its change. */
static int start(struct uitem *u, struct rec *x, int fd)
{
	u->rec = x;
	u->p.state = PIPE_READ;
	if (x->state == SMP_JOURNAL_VOIDED) {
		set_result(u, "unchanged", "voided", 0,
			   "its change never happened (the record was voided): nothing to undo");
		return 0;
	}
	if (x->state == SMP_JOURNAL_TORN) {
		set_result(u, "skipped", "torn", 1,
			   "the record was cut short (a crash or a full disk while it was written): "
			   "it cannot be trusted and is not applied");
		return 0;
	}
	if (x->undone) {
		set_result(u, "unchanged", "already_undone", 0, "already undone");
		return 0;
	}
	return load_record(u, fd);
}

/* Undoes sel[0..n) (indexes into rs, newest first): in the pipeline, then one by one. */
static int undo_chunk(smp_session *c, const smp_undo_options *o, struct recs *rs,
		      const size_t *sel, size_t n, int fd, int *stop)
{
	struct uitem *u = calloc(n + 1, sizeof(*u));
	struct pipe_item **g = calloc(n + 1, sizeof(*g));
	size_t ng = 0;
	int r = 0;

	if (u == NULL || g == NULL) {
		r = SMP_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		if ((r = start(&u[i], &rs->v[sel[i]], fd)) != 0 || u[i].p.state == PIPE_DONE)
			continue;
		/* a second record for one entry waits for the first: newest first, always */
		for (size_t k = 0; k < i && !u[i].serial; k++)
			if (u[k].ch != NULL && strcasecmp(u[k].ch->dn, u[i].ch->dn) == 0)
				u[i].serial = 1;
		if (u[i].ch->op != SMP_JOURNAL_MODIFY || u[i].ca)
			u[i].serial = 1;
		if (!u[i].serial)
			g[ng++] = &u[i].p;
	}
	if (r != 0)
		goto out;
	pipe_read(c, g, ng);
	for (size_t i = 0; i < ng && r == 0; i++) {
		struct uitem *x = (struct uitem *)g[i];

		if (x->p.state == PIPE_HAVE)
			r = decide_modify(c, x);
		else if (x->p.state == PIPE_SINGLE)
			x->serial = 1;
	}
	if (r == 0 && !c->o.dry_run)
		r = pipe_write_groups(c, g, ng, NULL);
	for (size_t i = 0; i < n && r == 0; i++) {
		if (u[i].p.state == PIPE_SINGLE)
			u[i].serial = 1;
		if (u[i].serial && u[i].p.state != PIPE_DONE && u[i].p.state != PIPE_WRITTEN)
			r = run_single(c, &u[i]);
		report(c, o, &u[i], stop);
	}
out:
	for (size_t i = 0; u != NULL && i < n; i++)
		uitem_release(&u[i]);
	free(u);
	free(g);
	return r;
}

static const char *journal_path(smp_session *c, char **own, smp_error *err)
{
	*own = NULL;
	if (c->o.journal != NULL)
		return c->o.journal;
	if (smp_journal_default_path(own, err) != 0)
		return NULL;
	return *own;
}

int smp_undo(smp_session *s, const smp_undo_options *o, smp_error *err)
{
	struct recs rs;
	size_t *sel = NULL, nsel = 0;
	char *own = NULL;
	const char *path;
	int r = SMP_ERR_INTERNAL, fd = -1, stop = 0;

	memset(&rs, 0, sizeof(rs));
	if (o == NULL || o->version != SMP_ENGINE_VERSION)
		return smp_error_set(err, SMP_ERR_USAGE, "unknown undo options version");
	if (!o->last && !o->has_since && o->n_records == 0)
		return smp_error_set(err, SMP_ERR_USAGE, "say which changes to undo");
	if ((path = journal_path(s, &own, err)) == NULL)
		return err->code;
	if ((r = load(&rs, path, err)) != 0)
		goto out;
	if ((sel = calloc(rs.n + o->n_records + 1, sizeof(*sel))) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < o->n_records; i++) {
		long x = find_rec(&rs, o->records[i]);
		smp_item it;

		if (x >= 0) {
			rs.v[x].selected = 1;
			continue;
		}
		memset(&it, 0, sizeof(it));
		it.action = "skipped";
		it.reason = "no_such_record";
		it.message = "the journal holds no record of that id";
		it.record = o->records[i];
		it.status = 1;
		pub_emit_item(s, &it, o->on_item, o->ctx, &stop);
	}
	if (o->last) {
		const char *run = NULL;

		for (size_t i = rs.n; i-- > 0 && run == NULL;)
			if (applicable(&rs.v[i]) && !rs.v[i].undone && strcmp(rs.v[i].command, "undo") != 0)
				run = rs.v[i].run;
		for (size_t i = 0; run != NULL && i < rs.n; i++)
			if (strcmp(rs.v[i].run, run) == 0 && applicable(&rs.v[i]) && !rs.v[i].undone)
				rs.v[i].selected = 1;
	}
	if (o->has_since)
		for (size_t i = 0; i < rs.n; i++)
			if (applicable(&rs.v[i]) && !rs.v[i].undone &&
			    strcmp(rs.v[i].command, "undo") != 0 && rs.v[i].when != (time_t)-1 &&
			    rs.v[i].when >= o->since)
				rs.v[i].selected = 1;
	for (size_t i = rs.n; i-- > 0;)
		if (rs.v[i].selected)
			sel[nsel++] = i;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 && nsel > 0) {
		r = smp_error_set(err, SMP_ERR_NOFILE, "cannot read journal '%s': %s", path,
				  strerror(errno));
		goto out;
	}
	s->total = nsel;
	s->done_before = 0;
	smp_window_init(&s->win, 0, smp_window_clock());
	for (size_t i = 0; i < nsel && !stop; i += UNDO_CHUNK) {
		size_t n = nsel - i < UNDO_CHUNK ? nsel - i : UNDO_CHUNK;

		if ((r = undo_chunk(s, o, &rs, sel + i, n, fd, &stop)) != 0) {
			smp_error_set(err, r, "out of memory");
			goto out;
		}
		s->done_before += n;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(sel);
	free(own);
	recs_release(&rs);
	return r;
}

int smp_journal_list(smp_session *s, smp_item_fn on_item, void *ctx, smp_error *err)
{
	struct recs rs;
	char *own = NULL;
	const char *path;
	int r, fd = -1, stop = 0;

	if ((path = journal_path(s, &own, err)) == NULL)
		return err->code;
	if ((r = load(&rs, path, err)) != 0)
		goto out;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		r = smp_error_set(err, SMP_ERR_NOFILE, "cannot read journal '%s': %s", path,
				  strerror(errno));
		goto out;
	}
	for (size_t i = rs.n; i-- > 0 && !stop;) {
		struct uitem u;
		smp_item it;
		struct rec *x = &rs.v[i];

		memset(&u, 0, sizeof(u));
		u.rec = x;
		if (applicable(x) && (r = load_record(&u, fd)) != 0) {
			uitem_release(&u);
			smp_error_set(err, r, "out of memory");
			goto out;
		}
		memset(&it, 0, sizeof(it));
		it.action = x->state == SMP_JOURNAL_VOIDED ? "voided"
			    : x->state == SMP_JOURNAL_TORN ? "torn"
			    : x->undone ? "undone" : "record";
		it.reason = x->undoes[0] != '\0' ? "undo" : NULL;
		it.dn = u.ch != NULL ? u.ch->dn : NULL;
		it.source = x->command;
		it.message = x->by;
		it.record = x->id;
		it.record_time = x->time;
		if (on_item != NULL)
			stop = on_item(&it, ctx);
		uitem_release(&u);
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(own);
	recs_release(&rs);
	return r;
}
