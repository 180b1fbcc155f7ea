/* smimepub command line: the publish pipeline (match, plan, journal, execute) shared by commands. */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "smimepub/plan.h"

int smp_session_new(smp_session **out, const smp_session_options *opts, smp_error *err)
{
	smp_session *c;

	*out = NULL;
	if (opts == NULL || opts->version != SMP_ENGINE_VERSION)
		return smp_error_set(err, SMP_ERR_USAGE, "session options of version %u: this "
				     "library knows version %u", opts != NULL ? opts->version : 0,
				     SMP_ENGINE_VERSION);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	c->o = *opts;
	if (c->o.command == NULL)
		c->o.command = "smimepub";
	c->dir = opts->dir;
	c->trust = opts->trust;
	*out = c;
	return 0;
}

void smp_session_free(smp_session *c)
{
	if (c == NULL)
		return;
	pub_unknown_release(&c->unknown);
	smp_journal_close(c->journal);
	free(c);
}

int smp_session_status(const smp_session *c)
{
	return c->status;
}

void smp_session_note_status(smp_session *c, int status)
{
	pub_note_status(c, status);
}

smp_dir *smp_session_dir(smp_session *c)
{
	return c->dir;
}

void pub_before_modify(smp_session *c, const char *dn)
{
	if (c->o.before_modify != NULL)
		c->o.before_modify(dn, c->o.ctx);
}

void pub_note_status(smp_session *c, int status)
{
	c->status = smp_status_worse(c->status, status);
}

void pub_notice(smp_session *c, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL;

	if (c->o.notice == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	if (m != NULL)
		c->o.notice(m, c->o.ctx);
	free(m);
}

void pub_item_fill(smp_item *it, const struct pub_result *res, const smp_certinfo *ci,
		   const char *source)
{
	memset(it, 0, sizeof(*it));
	it->source = source;
	it->action = res->action != NULL ? res->action : "failed";
	it->reason = res->reason;
	it->dn = res->dn;
	it->message = res->message != NULL ? res->message : "";
	it->candidates = (const char *const *)res->candidates;
	it->n_candidates = res->n_candidates;
	it->ldif = res->ldif;
	it->created = res->created;
	it->status = res->status;
	it->cert = ci;
}

void pub_emit_item(smp_session *c, smp_item *it, smp_item_fn on_item, void *ctx, int *stop)
{
	int r;

	if (stop != NULL && *stop != 0)
		return;
	if (it->message == NULL)
		it->message = "";
	pub_note_status(c, it->status);
	r = on_item != NULL ? on_item(it, ctx) : 0;
	if (stop != NULL)
		*stop = r;
}

int pub_report(smp_session *c, const struct pub_result *res, const smp_certinfo *ci,
	       const char *source, smp_item_fn on_item, void *ctx)
{
	smp_item it;
	int stop = 0;

	pub_item_fill(&it, res, ci, source);
	pub_emit_item(c, &it, on_item, ctx, &stop);
	return stop;
}

void pub_result_release(struct pub_result *res)
{
	free(res->dn);
	free(res->message);
	free(res->ldif);
	for (size_t i = 0; i < res->n_candidates; i++)
		free(res->candidates[i]);
	free(res->candidates);
	memset(res, 0, sizeof(*res));
}

static void set_message(struct pub_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_message(struct pub_result *res, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL;

	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	free(res->message);
	res->message = m;
}

void pub_failure(struct pub_result *res, int code, const char *message)
{
	res->action = "failed";
	switch (code) {
	case SMP_ERR_ACCESS:
		res->reason = "insufficient_access";
		res->status = 77;
		break;
	case SMP_ERR_UNAVAILABLE:
		res->reason = "unavailable";
		res->status = 69;
		break;
	case SMP_ERR_CONFLICT:
		res->reason = "conflict";
		res->status = 1;
		break;
	case SMP_ERR_NOFILE:
		res->reason = "journal_unavailable";
		res->status = 1;
		break;
	case SMP_ERR_BADINPUT:  /* only a --from-ldif export reads entries that can be bad */
		res->reason = "bad_export";
		res->status = 65;
		break;
	case SMP_ERR_NOMEM:
	case SMP_ERR_INTERNAL:
		res->reason = "internal_error";
		res->status = 1;
		break;
	default:
		res->reason = "ldap_error";
		res->status = 1;
		break;
	}
	set_message(res, "%s", message != NULL ? message : "");
}

const char *pub_action_name(const smp_session *c, smp_action a)
{
	if (!c->o.dry_run)
		return smp_action_name(a);
	switch (a) {
	case SMP_ACT_PUBLISHED:
		return "would_publish";
	case SMP_ACT_REPLACED:
		return "would_replace";
	case SMP_ACT_REMOVED:
		return "would_remove";
	case SMP_ACT_REORDERED:
		return "would_reorder";
	default:
		return smp_action_name(a);
	}
}

/* ---- existing values -------------------------------------------------------------------- */

int pub_existing_load(struct pub_existing *pe, const smp_entry *e, const struct berval *newder,
		      smp_certinfo *newinfo, const smp_trust *trust, smp_error *err)
{
	smp_error verr = SMP_ERROR_INIT;
	int r;

	memset(pe, 0, sizeof(*pe));
	pe->info = calloc(e->n_certs + 1, sizeof(*pe->info));
	if (pe->info == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	pe->ex.n = e->n_certs; /* so a release frees what was analysed so far */
	pe->shared = newinfo;
	for (size_t i = 0; i < e->n_certs; i++) {
		if (newder != NULL && newinfo != NULL && e->certs[i].bv_len == newder->bv_len &&
		    memcmp(e->certs[i].bv_val, newder->bv_val, newder->bv_len) == 0) {
			pe->info[i] = newinfo;
			continue;
		}
		r = smp_cert_analyze_der(&pe->info[i], (const unsigned char *)e->certs[i].bv_val,
					 e->certs[i].bv_len, trust, &verr);
		if (r == SMP_ERR_NOMEM) {
			pub_existing_release(pe);
			return smp_error_set(err, r, "out of memory");
		}
		if (r != 0)
			pe->info[i] = NULL; /* not a certificate: the plan keeps it unless asked */
	}
	pe->ex.values = e->certs;
	pe->ex.info = pe->info;
	return 0;
}

void pub_existing_release(struct pub_existing *pe)
{
	if (pe->info != NULL)
		for (size_t i = 0; i < pe->ex.n; i++)
			if (pe->info[i] != pe->shared)
				smp_certinfo_free(pe->info[i]);
	free(pe->info);
	memset(pe, 0, sizeof(*pe));
}

/* ---- writing ---------------------------------------------------------------------------- */

/* The attribute a value of e was read in (deletions must name it), else fallback. */
static const char *value_attr(const smp_entry *e, const struct berval *bv, const char *fallback)
{
	for (size_t i = 0; i < e->n_certs; i++)
		if (e->certs[i].bv_val == bv->bv_val && e->cert_attrs != NULL &&
		    e->cert_attrs[i] != NULL)
			return e->cert_attrs[i];
	for (size_t i = 0; i < e->n_certs; i++)
		if (e->certs[i].bv_len == bv->bv_len &&
		    memcmp(e->certs[i].bv_val, bv->bv_val, bv->bv_len) == 0 &&
		    e->cert_attrs != NULL && e->cert_attrs[i] != NULL)
			return e->cert_attrs[i];
	return fallback;
}

/* The change for attr in changes[0..*n), appended when missing. */
static smp_change *change_for(smp_change *changes, size_t *n, const char *attr)
{
	for (size_t i = 0; i < *n; i++)
		if (strcasecmp(changes[i].attr, attr) == 0)
			return &changes[i];
	changes[*n].attr = attr;
	return &changes[(*n)++];
}

/* Appends text to *buf (malloc'd). Returns 0 or SMP_ERR_NOMEM. */
static int append_text(char **buf, const char *text, size_t len)
{
	size_t old = *buf != NULL ? strlen(*buf) : 0;
	char *grown = realloc(*buf, old + len + 1);

	if (grown == NULL)
		return SMP_ERR_NOMEM;
	memcpy(grown + old, text, len);
	grown[old + len] = '\0';
	*buf = grown;
	return 0;
}

/* Runs write(fp, ...) against a memory stream and appends what it wrote to *ldif. */
static int ldif_capture_modify(char **ldif, const char *dn, const smp_change *changes, size_t n,
			       const char *comment, smp_error *err)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp;
	int r;

	if ((fp = open_memstream(&text, &len)) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	r = smp_ldif_write_modify(fp, dn, changes, n, comment, err);
	fclose(fp);
	if (r == 0 && len > 0 && append_text(ldif, text, len) != 0)
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	free(text);
	return r;
}

/* The journal file's size, or -1. */
static off_t journal_size(const smp_journal *j)
{
	struct stat st;

	return stat(smp_journal_path(j), &st) == 0 ? st.st_size : -1;
}

/*
 * Takes back the undo record of a write that failed (access refused, conflict), so undoing the
 * journal does not trip over a change that never happened: cuts the file back to `before`, but
 * only while the record is still the last thing in it (another process may append too).
 */
static void journal_void(const smp_journal *j, off_t before, off_t after)
{
	int fd;
	struct stat st;

	if (before < 0 || after <= before)
		return;
	if ((fd = open(smp_journal_path(j), O_WRONLY | O_CLOEXEC)) < 0)
		return;
	if (fstat(fd, &st) == 0 && st.st_size == after && ftruncate(fd, before) == 0)
		fsync(fd);
	close(fd);
}

static int journal_ready(smp_session *c, smp_error *err)
{
	if (c->journal != NULL)
		return 0;
	return smp_journal_open(&c->journal, c->o.journal, err);
}

/* The exact-value changes that carry out plan on e; free with free_changes. */
int build_changes(const smp_profile *prof, const smp_entry *e, const smp_plan *plan,
			 smp_change **out, size_t *nout, smp_error *err)
{
	smp_change *changes;
	size_t n = 0;

	*out = NULL;
	*nout = 0;
	changes = calloc(plan->n_del + 2, sizeof(*changes));
	if (changes == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < plan->n_del; i++) {
		smp_change *ch = change_for(changes, &n,
					    value_attr(e, &plan->del[i], prof->cert_attr));
		if (ch->del == NULL) {
			/* the plan's arrays are contiguous; collect this attribute's values */
			ch->del = calloc(plan->n_del, sizeof(*ch->del));
			if (ch->del == NULL) {
				for (size_t k = 0; k < n; k++)
					free(changes[k].del);
				free(changes);
				return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			}
		}
		ch->del[ch->n_del++] = plan->del[i];
	}
	if (plan->n_add > 0) {
		smp_change *ch = change_for(changes, &n, prof->cert_attr);
		ch->add = plan->add;
		ch->n_add = plan->n_add;
	}
	*out = changes;
	*nout = n;
	return 0;
}

void free_changes(smp_change *changes, size_t n)
{
	if (changes != NULL)
		for (size_t i = 0; i < n; i++)
			free(changes[i].del);
	free(changes);
}

void pub_unknown_release(struct pub_unknown *u)
{
	free(u->dn);
	smp_bervals_free(u->before, u->n_before);
	smp_bervals_free(u->del, u->n_del);
	smp_bervals_free(u->add, u->n_add);
	smp_journal_batch_free(u->jb);
	memset(u, 0, sizeof(*u));
}

int pub_apply(smp_session *c, const smp_entry *e, const smp_plan *plan, const char *comment,
	      char **ldif, smp_error *err)
{
	const smp_profile *prof = smp_dir_profile(c->dir);
	smp_change *changes = NULL;
	smp_journal_batch *jb = NULL;
	size_t n = 0, jid = 0;
	off_t before, after;
	int r = SMP_ERR_INTERNAL;

	if (plan->n_del == 0 && plan->n_add == 0)
		return 0;
	if ((r = build_changes(prof, e, plan, &changes, &n, err)) != 0)
		goto out;
	if (c->o.dry_run) {
		r = ldif_capture_modify(ldif, e->dn, changes, n, comment, err);
		goto out;
	}
	if ((r = journal_ready(c, err)) != 0)
		goto out;
	if (c->bulk) {
		/* a record that can be voided in place wherever it ends up in the file */
		if ((r = smp_journal_batch_new(&jb)) != 0) {
			smp_error_set(err, r, "out of memory");
			goto out;
		}
		if ((r = smp_journal_batch_add(jb, e->dn, changes, n, &jid, err)) != 0 ||
		    (r = smp_journal_batch_commit(c->journal, jb, err)) != 0)
			goto out;
		pub_before_modify(c, e->dn);
		r = smp_dir_modify(c->dir, e->dn, changes, n, err);
		if (r == SMP_ERR_UNAVAILABLE) {
			/* outcome unknown: the caller re-reads after reconnecting and decides */
			struct pub_unknown *u = &c->unknown;

			pub_unknown_release(u);
			u->dn = strdup(e->dn);
			u->before = smp_bervals_dup(e->certs, e->n_certs);
			u->n_before = e->n_certs;
			u->del = smp_bervals_dup(plan->del, plan->n_del);
			u->n_del = plan->n_del;
			u->add = smp_bervals_dup(plan->add, plan->n_add);
			u->n_add = plan->n_add;
			u->action = plan->action;
			u->jb = jb;
			u->jid = jid;
			jb = NULL;
			u->set = u->dn != NULL && u->before != NULL && u->del != NULL &&
				 u->add != NULL;
		} else if (r != 0) {
			smp_error verr = SMP_ERROR_INIT;
			smp_journal_batch_void(c->journal, jb, jid, &verr);
		}
		goto out;
	}
	before = journal_size(c->journal);
	if ((r = smp_journal_record(c->journal, e->dn, changes, n, err)) != 0)
		goto out;
	after = journal_size(c->journal);
	pub_before_modify(c, e->dn);
	/* refused: the record goes; a lost answer keeps it (the change may have happened) */
	if ((r = smp_dir_modify(c->dir, e->dn, changes, n, err)) != 0 && r != SMP_ERR_UNAVAILABLE)
		journal_void(c->journal, before, after);
out:
	smp_journal_batch_free(jb);
	free_changes(changes, n);
	return r;
}

/* ---- matching --------------------------------------------------------------------------- */

struct match {
	smp_entry **v;
	size_t n;
};

static void match_release(struct match *m)
{
	smp_entries_free(m->v, m->n);
	m->v = NULL;
	m->n = 0;
}

/* Adds the entries found (taking them) to m, dropping DNs already there. */
static int match_merge(struct match *m, smp_entry **found, size_t nfound)
{
	smp_entry **grown = realloc(m->v, sizeof(*grown) * (m->n + nfound + 1));

	if (grown == NULL) {
		smp_entries_free(found, nfound);
		return SMP_ERR_NOMEM;
	}
	m->v = grown;
	for (size_t i = 0; i < nfound; i++) {
		int dup = 0;
		for (size_t j = 0; j < m->n && !dup; j++)
			dup = strcasecmp(m->v[j]->dn, found[i]->dn) == 0;
		if (dup)
			smp_entry_free(found[i]);
		else
			m->v[m->n++] = found[i];
	}
	free(found);
	return 0;
}

/* Whether a read by DN failed because there is no such entry (or the DN cannot be one). */
static int read_not_found(smp_dir *d, int r)
{
	int rc;

	if (r == SMP_ERR_NOTFOUND)
		return 1;
	if (r != SMP_ERR_LDAP)
		return 0;
	rc = smp_dir_last_result(d);
	return rc == LDAP_NO_SUCH_OBJECT || rc == LDAP_INVALID_DN_SYNTAX ||
	       rc == LDAP_REFERRAL || rc == LDAP_NAMING_VIOLATION || rc == LDAP_UNWILLING_TO_PERFORM;
}

/*
 * The certificate's subject CN as UTF-8 (caller frees), or NULL when it has none. Read from
 * ci->x509, or from der/len when the analysis came without it (from an analysis worker).
 */
static char *subject_cn(const smp_certinfo *ci, const unsigned char *der, size_t len)
{
	X509 *parsed = NULL;
	X509_NAME *name;
	unsigned char *utf8 = NULL;
	char *cn = NULL;
	int idx, n;

	if (ci->x509 == NULL && der != NULL && len <= SMP_MAX_INPUT)
		parsed = d2i_X509(NULL, &der, (long)len);
	name = ci->x509 != NULL ? X509_get_subject_name(ci->x509)
	       : parsed != NULL ? X509_get_subject_name(parsed) : NULL;
	if (name == NULL)
		goto out;
	idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (idx < 0)
		goto out;
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
	if (n > 0 && memchr(utf8, '\0', (size_t)n) == NULL)
		cn = strndup((const char *)utf8, (size_t)n);
out:
	OPENSSL_free(utf8);
	X509_free(parsed);
	ERR_clear_error();
	return cn;
}

/* The LDIF add record of contact k: what a dry run prints instead of adding it. */
static int ldif_contact(char **ldif, const smp_contact *k, smp_error *err)
{
	const struct berval *pv[SMP_CONTACT_MAX_VALUES];
	char *text = NULL;
	size_t len = 0;
	FILE *fp;
	int r;

	for (size_t i = 0; i < k->n; i++)
		pv[i] = &k->values[i];
	if ((fp = open_memstream(&text, &len)) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	r = smp_ldif_write_add(fp, k->dn, k->attrs, pv, k->n, "smimepub: would create a contact",
			       err);
	fclose(fp);
	if (r == 0 && append_text(ldif, text, len) != 0)
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	free(text);
	return r;
}

/*
 * Creates (or, in a dry run, describes) the contact for ci. On success *entry is the new entry
 * (read back, or an empty one in a dry run) and res->dn its DN.
 */
static int create_contact(smp_session *c, const smp_certinfo *ci, const unsigned char *der,
			  size_t len, struct pub_result *res, smp_entry **entry, smp_error *err)
{
	const char *addr = ci->emails[0];
	char *cn = subject_cn(ci, der, len);
	smp_contact *k = NULL;
	smp_entry *e = NULL;
	off_t before, after;
	int r = SMP_ERR_INTERNAL;

	*entry = NULL;
	if (cn == NULL && (cn = strdup(addr)) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* one description of the contact: printed by a dry run, added by a real one */
	if ((r = smp_dir_contact_new(&k, c->dir, c->pub->ou, cn, addr, err)) != 0)
		goto out;
	if (c->o.dry_run) {
		if ((r = ldif_contact(&res->ldif, k, err)) != 0)
			goto out;
		/* what the contact will hold that matching looks at */
		if ((e = calloc(1, sizeof(*e))) == NULL || (e->dn = strdup(k->dn)) == NULL ||
		    (e->mail = calloc(2, sizeof(*e->mail))) == NULL ||
		    (e->mail[0] = strdup(addr)) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
		e->n_mail = 1;
	} else {
		/* the undo is on disk before the contact exists, like every change's (SPEC §4) */
		if ((r = journal_ready(c, err)) != 0)
			goto out;
		before = journal_size(c->journal);
		if ((r = smp_journal_record_add(c->journal, k->dn, err)) != 0)
			goto out;
		after = journal_size(c->journal);
		if ((r = smp_dir_add_contact(c->dir, k, err)) != 0) {
			/* refused: nothing was created; a lost answer keeps the record (see journal.h) */
			if (r != SMP_ERR_UNAVAILABLE)
				journal_void(c->journal, before, after);
			goto out;
		}
		if ((r = smp_dir_read(c->dir, k->dn, &e, err)) != 0)
			goto out;
	}
	res->created = 1;
	free(res->dn);
	res->dn = k->dn;
	k->dn = NULL;
	*entry = e;
	e = NULL;
	r = 0;
out:
	smp_entry_free(e);
	smp_contact_free(k);
	free(cn);
	return r;
}

/* Finds the one entry for ci: by address, then by subject DN. Fills res on failure. */
static int find_entry(smp_session *c, const smp_certinfo *ci, struct pub_result *res,
		      smp_entry **entry, smp_error *err)
{
	struct match m = { NULL, 0 };
	int r = 0;

	*entry = NULL;
	for (size_t i = 0; i < ci->n_emails; i++) {
		smp_entry **found = NULL;
		size_t nfound = 0;

		if ((r = smp_dir_find_by_address(c->dir, ci->emails[i], &found, &nfound, err)) != 0)
			goto out;
		if ((r = match_merge(&m, found, nfound)) != 0) {
			smp_error_set(err, r, "out of memory");
			goto out;
		}
	}
	if (m.n == 0 && ci->subject != NULL && *ci->subject != '\0') {
		smp_entry *e = NULL;
		smp_error rerr = SMP_ERROR_INIT;

		r = smp_dir_read(c->dir, ci->subject, &e, &rerr);
		if (r == 0) {
			*entry = e;
			goto out;
		}
		if (!read_not_found(c->dir, r)) {
			*err = rerr;
			goto out;
		}
		r = 0;
	}
	if (m.n == 1) {
		*entry = m.v[0];
		m.v[0] = NULL;
		m.n = 0;
	} else if (m.n > 1) {
		size_t len = 0;
		char *list;

		res->action = "failed";
		res->reason = "ambiguous";
		res->status = 1;
		res->candidates = calloc(m.n, sizeof(*res->candidates));
		if (res->candidates == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < m.n; i++) {
			if ((res->candidates[i] = strdup(m.v[i]->dn)) == NULL) {
				r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
				goto out;
			}
			res->n_candidates++;
			len += strlen(m.v[i]->dn) + 4;
		}
		if ((list = calloc(1, len + 1)) != NULL) {
			for (size_t i = 0; i < res->n_candidates; i++) {
				strcat(list, i ? "; '" : "'");
				strcat(list, res->candidates[i]);
				strcat(list, "'");
			}
			set_message(res, "%zu entries match '%s': %s; nothing written: "
				    "give each a distinct address or remove the duplicate", m.n,
				    ci->emails[0], list);
			free(list);
		}
	}
out:
	match_release(&m);
	return r;
}

/* Adds address_mismatch / no_mail_attribute to ci for entry e (once). */
static int check_addresses(smp_certinfo *ci, const smp_entry *e)
{
	int best = 0;

	if (ci->n_emails == 0)
		return 0;
	for (size_t i = 0; i < ci->n_emails; i++) {
		int how = smp_entry_has_address(e, ci->emails[i]);
		if (how > best)
			best = how;
	}
	if (best == 0 && smp_certinfo_problem(ci, "address_mismatch") == NULL)
		return smp_certinfo_add_problem_with(ci, "address_mismatch", SMP_REMEDY_OVERRIDE,
			"the entry '%s' has none of the certificate's addresses ('%s'%s) in mail or "
			"proxyAddresses: clients looking up that address will not find it; check that "
			"this is the right entry, add the address to it",
			e->dn, ci->emails[0], ci->n_emails > 1 ? ", ..." : "");
	if (best == 1 && smp_certinfo_problem(ci, "no_mail_attribute") == NULL)
		return smp_certinfo_add_problem(ci, "no_mail_attribute",
			"the entry '%s' has '%s' only in proxyAddresses: gpgsm and Thunderbird look up "
			"the mail attribute and will not find the certificate; set mail on the entry",
			e->dn, ci->emails[0]);
	return 0;
}

/*
 * Refuses a certificate larger than the profile's largest value (Active Directory: 32,768
 * bytes) before anything is written: the server would refuse the modify, and --force cannot
 * change that. Fills res and adds the critical problem too_large to ci. Returns 1 when refused.
 */
static int too_large(smp_session *c, size_t len, smp_certinfo *ci, struct pub_result *res)
{
	const smp_profile *p = smp_dir_profile(c->dir);

	if (p->max_value_size == 0 || len <= p->max_value_size)
		return 0;
	if (smp_certinfo_problem(ci, "too_large") == NULL)
		smp_certinfo_add_problem(ci, "too_large", "the certificate is %zu bytes: the "
					 "directory (%s) stores at most %zu bytes in one value",
					 len, p->name, p->max_value_size);
	res->action = "skipped";
	res->reason = "too_large";
	res->status = 1;
	set_message(res, "not published: %zu bytes is more than the %zu bytes one value may hold",
		    len, p->max_value_size);
	return 1;
}

static int has_critical(const smp_certinfo *ci)
{
	return smp_certinfo_worst(ci) == SMP_SEV_CRITICAL;
}

/* The message for a plan's outcome. */
static void plan_message(struct pub_result *res, const smp_plan *plan, const smp_entry *e)
{
	if (plan->action == SMP_ACT_SKIPPED && plan->reason != NULL) {
		if (strcmp(plan->reason, "already_has_certificate") == 0)
			set_message(res, "'%s' already holds another certificate", e->dn);
		else if (strcmp(plan->reason, "critical_problem") == 0)
			set_message(res, "not published because of the critical problems below");
		else if (strcmp(plan->reason, "malformed") == 0)
			set_message(res, "not a certificate");
	} else if (plan->action == SMP_ACT_UNCHANGED) {
		set_message(res, "this certificate is already published on '%s'", e->dn);
	} else if (plan->n_del > 0 && plan->action != SMP_ACT_REORDERED) {
		size_t removed = plan->n_del;
		/* a reorder deletes and re-adds kept values: count only the ones that go */
		for (size_t i = 0; i < plan->n_del; i++)
			for (size_t j = 0; j < plan->n_add; j++)
				if (plan->add[j].bv_val == plan->del[i].bv_val) {
					removed--;
					break;
				}
		if (removed > 0)
			set_message(res, "%zu other certificate%s for the same address removed",
				    removed, removed == 1 ? "" : "s");
	}
}

int pub_certificate(smp_session *c, const unsigned char *der, size_t len, smp_certinfo *ci,
		    const char *source, struct pub_result *res)
{
	smp_error err = SMP_ERROR_INIT;
	smp_entry *e = NULL;
	struct pub_existing pe;
	smp_plan *plan = NULL;
	struct berval newbv;
	char *comment = NULL;
	int r = 0;

	memset(res, 0, sizeof(*res));
	memset(&pe, 0, sizeof(pe));
	newbv.bv_val = (char *)der;
	newbv.bv_len = len;

	if (too_large(c, len, ci, res))
		goto out;
	if ((r = find_entry(c, ci, res, &e, &err)) != 0) {
		pub_failure(res, r, err.msg);
		goto out;
	}
	if (res->action != NULL)
		goto out;
	if (e == NULL) {
		if (!c->pub->create_contact || ci->n_emails == 0) {
			res->action = "failed";
			res->reason = "not_found";
			res->status = 1;
			if (ci->n_emails > 0)
				set_message(res, "no entry has the address '%s' in mail or "
					    "proxyAddresses, and the subject is not an entry's DN",
					    ci->emails[0]);
			else
				set_message(res, "the certificate has no address and its subject is "
					    "not an entry's DN");
			goto out;
		}
		if (has_critical(ci) && !c->pub->policy.force) {
			res->action = "skipped";
			res->reason = "critical_problem";
			res->status = 1;
			set_message(res, "no contact created: the certificate has critical problems "
				    "(below)");
			goto out;
		}
		if ((r = create_contact(c, ci, der, len, res, &e, &err)) != 0) {
			pub_failure(res, r, err.msg);
			goto out;
		}
	}
	free(res->dn);
	if ((res->dn = strdup(e->dn)) == NULL) {
		r = SMP_ERR_NOMEM;
		goto out;
	}
	if (check_addresses(ci, e) != 0) {
		r = SMP_ERR_NOMEM;
		goto out;
	}
	if (asprintf(&comment, "smimepub %s '%s' (%s)", c->o.command,
		     source != NULL ? source : "-", ci->sha256) < 0) {
		comment = NULL;
		r = SMP_ERR_NOMEM;
		goto out;
	}

	for (int attempt = 0;; attempt++) {
		if ((r = pub_existing_load(&pe, e, &newbv, ci, c->trust, &err)) != 0)
			goto out;
		if ((r = smp_plan_publish(&plan, &pe.ex, &newbv, ci, &c->pub->policy)) != 0)
			goto out;
		if (plan->action == SMP_ACT_SKIPPED) {
			res->action = "skipped";
			res->reason = plan->reason;
			res->status = 1;
			plan_message(res, plan, e);
			break;
		}
		if (plan->action == SMP_ACT_UNCHANGED) {
			res->action = res->created ? pub_action_name(c, SMP_ACT_PUBLISHED)
						   : "unchanged";
			res->reason = plan->reason;
			plan_message(res, plan, e);
			break;
		}
		r = pub_apply(c, e, plan, comment, &res->ldif, &err);
		if (r == 0) {
			res->action = pub_action_name(c, plan->action);
			plan_message(res, plan, e);
			break;
		}
		if (r != SMP_ERR_CONFLICT || attempt >= PUB_MAX_RETRIES || c->o.dry_run) {
			pub_failure(res, r, err.msg);
			r = 0;
			break;
		}
		/* someone else changed the entry: read it again and decide again */
		smp_plan_free(plan);
		plan = NULL;
		pub_existing_release(&pe);
		{
			smp_entry *fresh = NULL;
			char *dn = strdup(e->dn);

			if (dn == NULL) {
				r = SMP_ERR_NOMEM;
				goto out;
			}
			r = smp_dir_read(c->dir, dn, &fresh, &err);
			free(dn);
			if (r != 0) {
				pub_failure(res, r, err.msg);
				r = 0;
				goto out;
			}
			smp_entry_free(e);
			e = fresh;
		}
	}
	if (res->created && res->message == NULL)
		set_message(res, "%s contact '%s'", c->o.dry_run ? "would create" : "created",
			    res->dn);
	else if (res->created) {
		char *m = res->message;
		res->message = NULL;
		set_message(res, "%s contact '%s'; %s", c->o.dry_run ? "would create" : "created",
			    res->dn, m);
		free(m);
	}
	r = 0;
out:
	if (r == SMP_ERR_NOMEM && res->action == NULL)
		pub_failure(res, r, "out of memory");
	if (res->action == NULL)
		pub_failure(res, r != 0 ? r : SMP_ERR_INTERNAL, err.msg);
	smp_plan_free(plan);
	pub_existing_release(&pe);
	smp_entry_free(e);
	free(comment);
	return r == SMP_ERR_NOMEM ? r : 0;
}

void pub_progress(smp_session *c, size_t done)
{
	if (c->pub != NULL && c->pub->on_progress != NULL)
		c->pub->on_progress(done, c->total, c->pub->ctx);
}

/* ---- bulk publish ----------------------------------------------------------------------- */

enum { IT_NEW = 0, IT_DONE, IT_FALLBACK, IT_PLANNED, IT_SENT };

void pub_item_release(struct pub_item *it)
{
	pub_result_release(&it->res);
	smp_plan_free(it->plan);
	pub_existing_release(&it->pe);
	free_changes(it->changes, it->n_changes);
	smp_certinfo_free(it->ci);
	free(it->der);
	memset(it, 0, sizeof(*it));
}

/*
 * Reconnects with backoff (0.2 s, 0.5 s, 1 s, then every 2 s up to PUB_RECONNECT_SECONDS: a
 * restarted server is back within seconds, and polling it every 2 s costs it nothing). Returns
 * 0, or the last error (c->down set: nothing more is tried).
 */
int bulk_reconnect(smp_session *c, smp_error *err)
{
	static const long delays_ms[] = { 200, 500, 1000, 2000 };
	long waited = 0;
	int r = SMP_ERR_UNAVAILABLE;

	if (c->down)
		return smp_error_set(err, SMP_ERR_UNAVAILABLE, "the directory is unavailable");
	for (size_t i = 0;; i++) {
		long d = delays_ms[i < 3 ? i : 3];
		struct timespec ts = { d / 1000, (d % 1000) * 1000000L };

		if (waited + d > PUB_RECONNECT_SECONDS * 1000L)
			break;
		nanosleep(&ts, NULL);
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

/*
 * Settles a write whose result was lost: re-reads dn (reconnecting as needed); when the change
 * did not happen, voids its undo record. *happened says which. Returns 0 or an error (the
 * directory stayed away: the record is kept, see journal.h).
 */
int settle_unknown(smp_session *c, const char *dn, const struct berval *before,
			  size_t nb, const struct berval *del, size_t nd, const struct berval *add,
			  size_t na, smp_journal_batch *jb, size_t jid, int *happened,
			  smp_error *err)
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

/* The result of an item whose write happened. */
static void bulk_written(smp_session *c, struct pub_item *it)
{
	it->res.action = pub_action_name(c, it->plan->action);
	plan_message(&it->res, it->plan, it->entry);
	it->state = IT_DONE;
}

/* The next reply of the operations in flight; lets c->idle run first. */
static int bulk_next_reply(smp_session *c, smp_dir_reply *rep, smp_error *err)
{
	if (c->idle != NULL)
		c->idle(c->idle_ctx);
	return smp_dir_next_reply(c->dir, rep, err);
}

struct sbatch {
	size_t first, end;        /* items[first..end) */
	const char **addrs;
	size_t naddrs;
	smp_entry **found;
	size_t nfound;
	int msgid;
	int state;                /* 0 to send, 1 in flight, 2 done, 3 failed */
};

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

static void sbatch_reset(struct sbatch *b)
{
	smp_entries_free(b->found, b->nfound);
	b->found = NULL;
	b->nfound = 0;
}

/* Sends the searches (as many at once as c->win allows) and collects their entries. */
static int bulk_search(smp_session *c, struct sbatch *sb, size_t nsb)
{
	smp_error err = SMP_ERROR_INIT;
	size_t inflight = 0, i;
	int r;

	for (;;) {
		for (i = 0; i < nsb && smp_window_may_send(&c->win); i++) {
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
		{
			smp_dir_reply rep;

			r = bulk_next_reply(c, &rep, &err);
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
		}
		continue;
lost:
		smp_window_lost(&c->win, smp_window_clock());
		if (bulk_reconnect(c, &err) != 0)
			return 0;  /* c->down: every item still open fails below */
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

/* Returns 0 or SMP_ERR_NOMEM; values that are not well-formed addresses are left out. */
static int entry_addrs_load(struct entry_addrs *a, const smp_entry *e)
{
	memset(a, 0, sizeof(*a));
	return smp_entry_each_address(e, entry_addrs_add, a);
}

/* Whether a holds one of ci's addresses (both normalised, compared as smp_address_equal). */
static int entry_addrs_hit(const struct entry_addrs *a, const smp_certinfo *ci)
{
	for (size_t i = 0; i < ci->n_emails; i++)
		for (size_t k = 0; k < a->n; k++)
			if (smp_address_equal(a->v[k], ci->emails[i]))
				return 1;
	return 0;
}

/*
 * Matches each searched item with the batch's entries: exactly one → item->entry. Returns 0 or
 * SMP_ERR_NOMEM.
 */
static int bulk_match(struct pub_item *items, const struct sbatch *b)
{
	struct entry_addrs *addrs = NULL;
	size_t loaded = 0;
	int r = 0;

	if (b->state == 2 && (addrs = calloc(b->nfound + 1, sizeof(*addrs))) == NULL)
		return SMP_ERR_NOMEM;
	for (; b->state == 2 && loaded < b->nfound && r == 0; loaded++)
		r = entry_addrs_load(&addrs[loaded], b->found[loaded]);
	for (size_t i = b->first; i < b->end && r == 0; i++) {
		struct pub_item *it = &items[i];
		const smp_entry *one = NULL;
		size_t count = 0;

		if (it->state != IT_NEW)
			continue;
		if (b->state != 2) {
			it->state = IT_FALLBACK;
			continue;
		}
		for (size_t k = 0; k < b->nfound; k++) {
			if (!entry_addrs_hit(&addrs[k], it->ci) ||
			    (one != NULL && strcasecmp(one->dn, b->found[k]->dn) == 0))
				continue;
			one = b->found[k];
			count++;
		}
		if (count == 1)
			it->entry = one;
		else
			it->state = IT_FALLBACK;  /* not found / ambiguous: the full path says so */
	}
	for (size_t k = 0; k < loaded; k++)
		entry_addrs_release(&addrs[k]);
	free(addrs);
	return r;
}

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

/* Plans an item against its matched entry. */
static int bulk_plan(smp_session *c, struct pub_item *it)
{
	smp_error err = SMP_ERROR_INIT;
	struct berval newbv;
	int r;

	newbv.bv_val = (char *)it->der;
	newbv.bv_len = it->len;
	if ((it->res.dn = strdup(it->entry->dn)) == NULL || check_addresses(it->ci, it->entry) != 0)
		return SMP_ERR_NOMEM;
	if ((r = pub_existing_load(&it->pe, it->entry, &newbv, it->ci, c->trust, &err)) != 0)
		return r;
	if ((r = smp_plan_publish(&it->plan, &it->pe.ex, &newbv, it->ci, &c->pub->policy)) != 0)
		return r;
	if (it->plan->action == SMP_ACT_SKIPPED) {
		it->res.action = "skipped";
		it->res.reason = it->plan->reason;
		it->res.status = 1;
		plan_message(&it->res, it->plan, it->entry);
		it->state = IT_DONE;
	} else if (it->plan->action == SMP_ACT_UNCHANGED) {
		it->res.action = "unchanged";
		it->res.reason = it->plan->reason;
		plan_message(&it->res, it->plan, it->entry);
		it->state = IT_DONE;
	} else {
		r = build_changes(smp_dir_profile(c->dir), it->entry, it->plan, &it->changes,
				  &it->n_changes, &err);
		if (r != 0)
			return r;
		it->state = IT_PLANNED;
	}
	return 0;
}

/* Journals and sends the planned items of group[0..ng), as many in flight as c->win allows. */
static int bulk_write_group(smp_session *c, struct pub_item **group, size_t ng,
			    smp_journal_batch *jb)
{
	smp_error err = SMP_ERROR_INIT;
	size_t inflight = 0, i;
	int r;

	if ((r = journal_ready(c, &err)) == 0) {
		for (i = 0; i < ng && r == 0; i++) {
			group[i]->jb = jb;
			r = smp_journal_batch_add(jb, group[i]->entry->dn, group[i]->changes,
						  group[i]->n_changes, &group[i]->jid, &err);
		}
		if (r == 0)
			r = smp_journal_batch_commit(c->journal, jb, &err);
	}
	if (r != 0) {
		/* nothing of this group is sent without its undo record on disk */
		for (i = 0; i < ng; i++) {
			pub_failure(&group[i]->res, r == SMP_ERR_NOMEM ? r : SMP_ERR_NOFILE, err.msg);
			group[i]->state = IT_DONE;
		}
		return r == SMP_ERR_NOMEM ? r : 0;
	}
	for (;;) {
		for (i = 0; i < ng && smp_window_may_send(&c->win) && !c->down; i++) {
			struct pub_item *it = group[i];

			if (it->state != IT_PLANNED)
				continue;
			pub_before_modify(c, it->entry->dn);
			r = smp_dir_modify_send(c->dir, it->entry->dn, it->changes, it->n_changes,
						&it->msgid, &err);
			if (r == SMP_ERR_UNAVAILABLE)
				goto lost;
			if (r != 0) {
				smp_error verr = SMP_ERROR_INIT;

				smp_journal_batch_void(c->journal, jb, it->jid, &verr);
				pub_failure(&it->res, r, err.msg);
				it->state = IT_DONE;
				continue;
			}
			it->state = IT_SENT;
			inflight++;
			smp_window_sent(&c->win, smp_window_clock());
		}
		if (inflight == 0)
			break;
		{
			smp_dir_reply rep;
			struct pub_item *it = NULL;

			r = bulk_next_reply(c, &rep, &err);
			if (r == SMP_ERR_UNAVAILABLE)
				goto lost;
			if (r != 0)
				return r;
			smp_entry_free(rep.entry);
			for (i = 0; i < ng && it == NULL; i++)
				if (group[i]->state == IT_SENT && group[i]->msgid == rep.msgid)
					it = group[i];
			if (it == NULL || !rep.done)
				continue;
			inflight--;
			smp_window_done(&c->win, smp_window_clock(), smp_window_trouble_rc(rep.rc));
			if (rep.code == 0) {
				bulk_written(c, it);
				continue;
			}
			{
				smp_error verr = SMP_ERROR_INIT;

				/* the modify is atomic: it did not happen, its undo must not either */
				smp_journal_batch_void(c->journal, jb, it->jid, &verr);
			}
			if (rep.code == SMP_ERR_CONFLICT || rep.code == SMP_ERR_NOTFOUND) {
				it->state = IT_FALLBACK;  /* re-read and re-plan, as pub_certificate does */
			} else {
				pub_failure(&it->res, rep.code, err.msg);
				it->state = IT_DONE;
			}
		}
		continue;
lost:
		inflight = 0;
		smp_window_lost(&c->win, smp_window_clock());
		if (bulk_reconnect(c, &err) != 0)
			break;
		for (i = 0; i < ng; i++) {
			struct pub_item *it = group[i];
			int happened = 0;

			if (it->state != IT_SENT)
				continue;
			r = settle_unknown(c, it->entry->dn, it->pe.ex.values, it->pe.ex.n,
					   it->plan->del, it->plan->n_del, it->plan->add,
					   it->plan->n_add, jb, it->jid, &happened, &err);
			if (r == SMP_ERR_UNAVAILABLE)
				break;
			if (r != 0 && r != SMP_ERR_NOFILE && r != SMP_ERR_INTERNAL) {
				pub_failure(&it->res, r, err.msg);
				it->state = IT_DONE;
			} else if (happened) {
				bulk_written(c, it);
			} else {
				it->state = IT_FALLBACK;
			}
		}
		if (c->down)
			break;
	}
	/* the directory stayed away: what was not written fails; what was in flight stays
	   journalled (its outcome is unknown, see journal.h) */
	for (i = 0; i < ng; i++) {
		if (group[i]->state == IT_PLANNED) {
			smp_error verr = SMP_ERROR_INIT;

			smp_journal_batch_void(c->journal, jb, group[i]->jid, &verr);
		}
		if (group[i]->state == IT_PLANNED || group[i]->state == IT_SENT) {
			pub_failure(&group[i]->res, SMP_ERR_UNAVAILABLE, err.msg);
			group[i]->state = IT_DONE;
		}
	}
	return 0;
}

/* One item through pub_certificate, reconnecting and retrying when the directory went away. */
static int bulk_single(smp_session *c, struct pub_item *it)
{
	smp_error err = SMP_ERROR_INIT;
	int r;

	for (int attempt = 0;; attempt++) {
		if (c->down) {
			pub_result_release(&it->res);
			pub_failure(&it->res, SMP_ERR_UNAVAILABLE,
				    "the directory is unavailable: rerun the same publish later");
			return 0;
		}
		pub_result_release(&it->res);
		if ((r = pub_certificate(c, it->der, it->len, it->ci, it->source, &it->res)) != 0)
			return r;
		if ((it->res.status != 69 || attempt >= PUB_MAX_RETRIES) && !c->unknown.set)
			return 0;
		if (bulk_reconnect(c, &err) != 0)
			return 0;  /* keeps the failure; an unknown write keeps its record */
		if (c->unknown.set) {
			struct pub_unknown *u = &c->unknown;
			int happened = 0;

			r = settle_unknown(c, u->dn, u->before, u->n_before, u->del, u->n_del,
					   u->add, u->n_add, u->jb, u->jid, &happened, &err);
			if (r == 0 && happened) {
				smp_action a = u->action;

				pub_unknown_release(u);
				it->res.action = pub_action_name(c, a);
				it->res.reason = NULL;
				it->res.status = 0;
				free(it->res.message);
				it->res.message = NULL;
				return 0;
			}
			pub_unknown_release(u);
		}
	}
}

int pub_bulk(smp_session *c, struct pub_item *items, size_t n)
{
	struct sbatch *sb = NULL;
	struct dnref *refs = NULL;
	struct pub_item **group = NULL;
	smp_journal_batch **jbs = NULL;
	size_t nsb = 0, nrefs = 0, njb = 0, i;
	int r = SMP_ERR_NOMEM;

	c->bulk = 1;
	sb = calloc(n + 1, sizeof(*sb));
	refs = calloc(n + 1, sizeof(*refs));
	group = calloc(n + 1, sizeof(*group));
	jbs = calloc(n / 64 + 2, sizeof(*jbs));
	if (sb == NULL || refs == NULL || group == NULL || jbs == NULL)
		goto out;

	/* 1. batched address searches */
	for (i = 0; i < n; i++) {
		struct pub_item *it = &items[i];

		it->state = it->ci == NULL ? IT_DONE : it->ci->n_emails == 0 ? IT_FALLBACK : IT_NEW;
		if (it->ci != NULL && too_large(c, it->len, it->ci, &it->res))
			it->state = IT_DONE;
		if (it->state != IT_NEW)
			continue;
		if (nsb == 0 || sb[nsb - 1].naddrs + it->ci->n_emails > PUB_BULK_ADDRS) {
			sb[nsb].first = i;
			sb[nsb].addrs = calloc(it->ci->n_emails > PUB_BULK_ADDRS ? it->ci->n_emails
						   : PUB_BULK_ADDRS, sizeof(char *));
			if (sb[nsb].addrs == NULL)
				goto out;
			nsb++;
		}
		for (size_t a = 0; a < it->ci->n_emails; a++)
			sb[nsb - 1].addrs[sb[nsb - 1].naddrs++] = it->ci->emails[a];
		sb[nsb - 1].end = i + 1;
	}
	if (nsb > 0 && (r = bulk_search(c, sb, nsb)) != 0)
		goto out;
	for (i = 0; i < nsb; i++)
		if ((r = bulk_match(items, &sb[i])) != 0)
			goto out;

	/* 2. one item per entry goes through the bulk path; later ones for it, one by one */
	for (i = 0; i < n; i++)
		if (items[i].state == IT_NEW) {
			refs[nrefs].dn = items[i].entry->dn;
			refs[nrefs++].idx = i;
		}
	qsort(refs, nrefs, sizeof(*refs), dnref_cmp);
	for (i = 1; i < nrefs; i++)
		if (strcasecmp(refs[i].dn, refs[i - 1].dn) == 0)
			items[refs[i].idx].state = IT_FALLBACK;
	for (i = 0; i < n; i++)
		if (items[i].state == IT_NEW && (r = bulk_plan(c, &items[i])) != 0)
			goto out;

	/* 3. writes: a group's undo records on disk (one fsync), then its modifies; a group is
	   16 windows (at least 64) so its final drain, one round trip, is paid rarely */
	for (i = 0; i < n;) {
		size_t ng = 0, group_max = (size_t)c->win.size * 16;

		if (group_max < 64)
			group_max = 64;

		for (; i < n && ng < group_max; i++)
			if (items[i].state == IT_PLANNED)
				group[ng++] = &items[i];
		if (ng == 0)
			break;
		if ((r = smp_journal_batch_new(&jbs[njb])) != 0)
			goto out;
		if ((r = bulk_write_group(c, group, ng, jbs[njb++])) != 0)
			goto out;
		pub_progress(c, c->done_before + i);
	}

	/* 4. everything else the way a single certificate goes */
	for (i = 0; i < n; i++) {
		if (items[i].state == IT_FALLBACK) {
			if ((r = bulk_single(c, &items[i])) != 0)
				goto out;
			items[i].state = IT_DONE;
		} else if (items[i].state != IT_DONE) {
			pub_failure(&items[i].res, SMP_ERR_UNAVAILABLE,
				    "the directory is unavailable: rerun the same publish later");
			items[i].state = IT_DONE;
		}
	}
	r = 0;
out:
	for (i = 0; i < n; i++) {
		struct pub_item *it = &items[i];

		if (r == 0 || it->res.action != NULL)
			pub_report(c, &it->res, it->ci, it->source, c->pub->on_item, c->pub->ctx);
		pub_progress(c, c->done_before + i + 1);
		pub_item_release(it);
	}
	for (i = 0; i < nsb; i++) {
		sbatch_reset(&sb[i]);
		free(sb[i].addrs);
	}
	for (i = 0; i < njb; i++)
		smp_journal_batch_free(jbs[i]);
	free(jbs);
	free(group);
	free(refs);
	free(sb);
	return r;
}

