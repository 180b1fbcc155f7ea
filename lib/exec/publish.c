/* smimepub command line: the publish pipeline (match, plan, journal, execute) shared by commands. */
#include "pipeline.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
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
	for (size_t i = 0; i < c->n_best; i++) {
		free(c->best[i].addr);
		free(c->best[i].source);
	}
	free(c->best);
	free(c->best_slot);
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
	it->exchange_recipient = res->created ? res->exchange : -1;
	it->exchange_command = res->created ? res->exchange_command : NULL;
	it->status = res->status;
	it->cert = ci;
	it->record = res->record[0] != '\0' ? res->record : NULL;
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
	free(res->exchange_command);
	free(res->exchange_note);
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
	case SMP_ERR_CANCELLED:  /* not a failure of the item: it was not tried */
		res->action = "skipped";
		res->reason = "interrupted";
		res->status = 1;
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

int pub_journal_ready(smp_session *c, smp_error *err)
{
	int r;

	if (c->journal != NULL)
		return 0;
	if ((r = smp_journal_open(&c->journal, c->o.journal, err)) != 0)
		return r;
	if (smp_journal_notice(c->journal) != NULL) {
		if (c->o.warning != NULL)
			c->o.warning(smp_journal_notice(c->journal), c->o.ctx);
		else
			pub_notice(c, "%s", smp_journal_notice(c->journal));
	}
	if (smp_journal_set_origin(c->journal, c->o.command,
				   c->o.actor != NULL ? c->o.actor : "unknown") != 0)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	return 0;
}

/*
 * The policy a plan runs under: the publish's, with replace on for a certificate that beats
 * the one an earlier chunk of the same run put on its address (c->replace_run), so the run
 * ends with the best on the entry as if both had been in one chunk.
 */
static const smp_policy *pub_policy(const smp_session *c, smp_policy *copy)
{
	*copy = c->pub->policy;
	if (c->replace_run)
		copy->replace = 1;
	return copy;
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

static int ldif_contact(char **ldif, const smp_contact *k, const char *comment,
			smp_error *err);

int exec_modify(smp_session *c, const char *dn, const smp_change *changes, size_t n,
		const char *comment, char **ldif, smp_journal_batch **jb_out, size_t *jid_out,
		smp_error *err)
{
	smp_journal_batch *jb = NULL;
	size_t jid = 0;
	int r;

	c->record[0] = '\0';
	if (jb_out != NULL)
		*jb_out = NULL;
	if (c->o.dry_run)
		return ldif_capture_modify(ldif, dn, changes, n, comment, err);
	if ((r = pub_journal_ready(c, err)) != 0)
		return r;
	/* a record that can be voided in place wherever it ends up in the file */
	if ((r = smp_journal_batch_new(&jb)) != 0)
		return smp_error_set(err, r, "out of memory");
	if ((r = smp_journal_batch_add_undo(jb, c->journal, dn, changes, n, c->undoes, &jid,
					      err)) != 0 ||
	    (r = smp_journal_batch_commit(c->journal, jb, err)) != 0)
		goto out;
	pub_before_modify(c, dn);
	r = smp_dir_modify(c->dir, dn, changes, n, err);
	if (r == 0)
		snprintf(c->record, sizeof(c->record), "%s",
			 smp_journal_batch_record_id(jb, jid) != NULL ? smp_journal_batch_record_id(jb, jid) : "");
	if (r != 0 && r != SMP_ERR_UNAVAILABLE) {
		/* refused: the modify is atomic, it did not happen, its undo must not either */
		smp_error verr = SMP_ERROR_INIT;

		smp_journal_batch_void(c->journal, jb, jid, &verr);
	}
	if (r == SMP_ERR_UNAVAILABLE && jb_out != NULL) {
		/* outcome unknown: the caller settles it and keeps the record */
		*jb_out = jb;
		*jid_out = jid;
		jb = NULL;
	}
out:
	smp_journal_batch_free(jb);
	return r;
}

int exec_create(smp_session *c, const smp_contact *k, const char *comment, char **ldif,
		smp_error *err)
{
	smp_journal_batch *jb = NULL;
	size_t jid = 0;
	int r;

	c->record[0] = '\0';
	if (c->o.dry_run)
		return ldif_contact(ldif, k, comment, err);
	/* the undo is on disk before the entry exists, like every change's (SPEC §4) */
	if ((r = pub_journal_ready(c, err)) != 0)
		return r;
	if ((r = smp_journal_batch_new(&jb)) != 0)
		return smp_error_set(err, r, "out of memory");
	if ((r = smp_journal_batch_add_creation(jb, c->journal, k->dn, c->undoes, &jid,
						 err)) != 0 ||
	    (r = smp_journal_batch_commit(c->journal, jb, err)) != 0)
		goto out;
	if ((r = smp_dir_add_contact(c->dir, k, err)) != 0) {
		/* refused: nothing was created, so its record is voided in place; a lost
		   answer keeps the record (see journal.h) */
		smp_error verr = SMP_ERROR_INIT;

		if (r != SMP_ERR_UNAVAILABLE)
			smp_journal_batch_void(c->journal, jb, jid, &verr);
		goto out;
	}
	snprintf(c->record, sizeof(c->record), "%s",
		 smp_journal_batch_record_id(jb, jid) != NULL ? smp_journal_batch_record_id(jb, jid) : "");
out:
	smp_journal_batch_free(jb);
	return r;
}

int exec_delete(smp_session *c, const char *dn, const char *const *attrs,
		const struct berval *values, size_t n, const char *comment, char **ldif,
		smp_error *err)
{
	smp_journal_batch *jb = NULL;
	size_t jid = 0;
	char *text = NULL;
	size_t len = 0;
	FILE *fp;
	int r;

	c->record[0] = '\0';
	if (c->o.dry_run) {
		if ((fp = open_memstream(&text, &len)) == NULL)
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		r = smp_ldif_write_delete(fp, dn, comment, err);
		fclose(fp);
		if (r == 0 && append_text(ldif, text, len) != 0)
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		free(text);
		return r;
	}
	if ((r = pub_journal_ready(c, err)) != 0)
		return r;
	if ((r = smp_journal_batch_new(&jb)) != 0)
		return smp_error_set(err, r, "out of memory");
	if ((r = smp_journal_batch_add_deletion(jb, c->journal, dn, attrs, values, n, c->undoes,
						 &jid, err)) != 0 ||
	    (r = smp_journal_batch_commit(c->journal, jb, err)) != 0)
		goto out;
	pub_before_modify(c, dn);
	if ((r = smp_dir_delete(c->dir, dn, err)) != 0) {
		smp_error verr = SMP_ERROR_INIT;

		if (r != SMP_ERR_UNAVAILABLE)
			smp_journal_batch_void(c->journal, jb, jid, &verr);
		goto out;
	}
	snprintf(c->record, sizeof(c->record), "%s",
		 smp_journal_batch_record_id(jb, jid) != NULL ? smp_journal_batch_record_id(jb, jid) : "");
out:
	smp_journal_batch_free(jb);
	return r;
}

int pub_apply(smp_session *c, const smp_entry *e, const smp_plan *plan, const char *comment,
	      char **ldif, smp_error *err)
{
	const smp_profile *prof = smp_dir_profile(c->dir);
	smp_change *changes = NULL;
	smp_journal_batch *jb = NULL;
	size_t n = 0, jid = 0;
	int r = SMP_ERR_INTERNAL;

	c->record[0] = '\0';
	if (plan->n_del == 0 && plan->n_add == 0)
		return 0;
	if ((r = build_changes(prof, e, plan, &changes, &n, err)) != 0)
		goto out;
	r = exec_modify(c, e->dn, changes, n, comment, ldif, &jb, &jid, err);
	if (r == SMP_ERR_UNAVAILABLE && jb != NULL) {
		/* outcome unknown: pipe_single re-reads after reconnecting and decides */
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
		u->set = u->dn != NULL && u->before != NULL && u->del != NULL && u->add != NULL;
	}
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
static int ldif_contact(char **ldif, const smp_contact *k, const char *comment, smp_error *err)
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
	r = smp_ldif_write_add(fp, k->dn, k->attrs, pv, k->n, comment, err);
	fclose(fp);
	if (r == 0 && append_text(ldif, text, len) != 0)
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	free(text);
	return r;
}

/*
 * s as the content of a PowerShell single-quoted string: every quote character doubled.
 * PowerShell takes the typographic single quotes U+2018..U+201B for ' as well, and names
 * hold them (O\u2019Neil): each is doubled as itself.
 */
static char *ps_quote(const char *s)
{
	size_t n = 0, q;
	char *out, *o;

	/* U+2018..U+201B are E2 80 98..9B in UTF-8 */
#define PS_QUOTE_LEN(p) ((p)[0] == '\'' ? 1 : \
			 ((unsigned char)(p)[0] == 0xe2 && (unsigned char)(p)[1] == 0x80 && \
			  (unsigned char)(p)[2] >= 0x98 && (unsigned char)(p)[2] <= 0x9b) ? 3 : 0)
	for (const char *p = s; *p; p += q ? q : 1)
		n += (q = PS_QUOTE_LEN(p)) ? 2 * q : 1;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (o = out; *s; s += q ? q : 1) {
		if ((q = PS_QUOTE_LEN(s)) != 0) {
			memcpy(o, s, q);
			o += q;
			memcpy(o, s, q);
			o += q;
		} else {
			*o++ = *s;
		}
	}
#undef PS_QUOTE_LEN
	*o = '\0';
	return out;
}

/*
 * What a contact created (or, in a dry run, described) as k for addr under parent needs from
 * an Exchange administrator, into res: exchange (k->exchange) and, on a directory whose
 * profile knows Exchange, exchange_command, the Exchange Management Shell line, and a note
 * for the message. Not an Exchange recipient (no Exchange recipient schema: AD without
 * Exchange, Samba, or an export whose schema is unknown): a dry run gives the New-MailContact
 * line to run instead of creating the contact; a real run, which has created it,
 * Enable-MailContact (New-MailContact would now find the name taken). An Exchange mail
 * contact: Update-Recipient, which adds what only Exchange can (legacyExchangeDN, its object
 * version, email address policies, other address lists). Returns 0 or SMP_ERR_NOMEM.
 */
static int exchange_advice(smp_session *c, const smp_contact *k, const char *cn,
			   const char *addr, const char *parent, struct pub_result *res)
{
	char *qdn = NULL, *qaddr = NULL, *qcn = NULL, *qou = NULL;
	int r = SMP_ERR_NOMEM, n = 0;

	res->exchange = k->exchange;
	if (k->exchange < 0)
		return 0;
	if ((qdn = ps_quote(k->dn)) == NULL || (qaddr = ps_quote(addr)) == NULL ||
	    (qcn = ps_quote(cn)) == NULL || (qou = ps_quote(parent)) == NULL)
		goto out;
	if (k->exchange == 1) {
		n = asprintf(&res->exchange_command, "Update-Recipient -Identity '%s'", qdn);
		if (n >= 0)
			n = asprintf(&res->exchange_note, "; %s an Exchange mail contact (what only "
				     "Exchange sets, such as legacyExchangeDN, comes with %s)",
				     c->o.dry_run ? "it would be" : "it is", res->exchange_command);
	} else if (c->o.dry_run) {
		n = asprintf(&res->exchange_command, "New-MailContact -Name '%s' "
			     "-ExternalEmailAddress 'SMTP:%s' -OrganizationalUnit '%s'", qcn,
			     qaddr, qou);
		if (n >= 0)
			n = asprintf(&res->exchange_note, "; it would not be an Exchange recipient "
				     "(smimepub cannot see Exchange's recipient attributes for "
				     "contacts in this directory's schema): to create it as one "
				     "instead, in the Exchange Management Shell: %s",
				     res->exchange_command);
	} else {
		n = asprintf(&res->exchange_command, "Enable-MailContact -Identity '%s' "
			     "-ExternalEmailAddress 'SMTP:%s'", qdn, qaddr);
		if (n >= 0)
			n = asprintf(&res->exchange_note, "; it is not an Exchange recipient yet "
				     "(smimepub cannot see Exchange's recipient attributes for "
				     "contacts in this directory's schema): in the Exchange Management "
				     "Shell, %s makes it one", res->exchange_command);
	}
	if (n < 0) {
		res->exchange_note = NULL;
		goto out;
	}
	r = 0;
out:
	free(qdn);
	free(qaddr);
	free(qcn);
	free(qou);
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
	int r = SMP_ERR_INTERNAL;

	*entry = NULL;
	if (cn == NULL && (cn = strdup(addr)) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* one description of the contact: printed by a dry run, added by a real one */
	if ((r = smp_dir_contact_new(&k, c->dir, c->pub->ou, cn, addr, err)) != 0)
		goto out;
	if ((r = exchange_advice(c, k, cn, addr, c->pub->ou != NULL ? c->pub->ou :
				 smp_dir_base(c->dir), res)) != 0) {
		smp_error_set(err, r, "out of memory");
		goto out;
	}
	if ((r = exec_create(c, k, "smimepub: would create a contact", &res->ldif, err)) != 0)
		goto out;
	if (c->o.dry_run) {
		/* what the contact will hold that matching looks at */
		if ((e = calloc(1, sizeof(*e))) == NULL || (e->dn = strdup(k->dn)) == NULL ||
		    (e->mail = calloc(2, sizeof(*e->mail))) == NULL ||
		    (e->mail[0] = strdup(addr)) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
		e->n_mail = 1;
	} else if ((r = smp_dir_read(c->dir, k->dn, &e, err)) != 0) {
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

/*
 * The directory DN the certificate's subject is (smp_name_to_dn), read from ci->x509 or from
 * der/len as subject_cn does: 0 and *dn (NULL when the subject is empty or cannot be a DN:
 * nothing to try), or SMP_ERR_NOMEM.
 */
static int subject_dn(char **dn, const smp_certinfo *ci, const unsigned char *der, size_t len,
		      smp_error *err)
{
	X509 *parsed = NULL;
	int r = 0;

	*dn = NULL;
	if (ci->x509 == NULL && der != NULL && len <= SMP_MAX_INPUT)
		parsed = d2i_X509(NULL, &der, (long)len);
	if (ci->x509 == NULL && parsed == NULL && smp_openssl_out_of_memory())
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	else if (ci->x509 != NULL || parsed != NULL) {
		r = smp_name_to_dn(dn, X509_get_subject_name(ci->x509 != NULL ? ci->x509 : parsed),
				   err);
		if (r == SMP_ERR_BADINPUT)
			r = 0;  /* a value no DN can hold: no entry has this DN */
	}
	X509_free(parsed);
	ERR_clear_error();
	return r;
}

/*
 * Finds the one entry for ci: by address, then by the subject as a DN (built from the DER,
 * never from the display text). Fills res on failure.
 */
static int find_entry(smp_session *c, const smp_certinfo *ci, const unsigned char *der,
		      size_t der_len, struct pub_result *res, smp_entry **entry, smp_error *err)
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
	if (m.n == 0) {
		smp_entry *e = NULL;
		smp_error rerr = SMP_ERROR_INIT;
		char *dn = NULL;

		if ((r = subject_dn(&dn, ci, der, der_len, err)) != 0)
			goto out;
		r = dn != NULL ? smp_dir_read(c->dir, dn, &e, &rerr) : SMP_ERR_NOTFOUND;
		free(dn);
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

		if (how < 0)
			return how;
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

/* The day of t (UTC, YYYY-MM-DD): smp_format_time's date, for messages. */
static void day_of(char out[32], time_t t)
{
	smp_format_time(out, 32, t);
	out[10] = '\0';
}

/* A refused downgrade: which certificate would have been lost (also a problem of ci). */
static void downgrade_message(struct pub_result *res, const smp_entry *e,
			      const smp_certinfo *kept, smp_certinfo *ci)
{
	char until[32], mine[32];

	day_of(until, kept->not_after);
	day_of(mine, ci->not_after);
	if (smp_certinfo_problem(ci, "downgrade") == NULL)
		smp_certinfo_add_problem(ci, "downgrade", "replacing would remove '%s' (SHA-256 %.16s..., "
					 "valid until %s) from '%s', which stays valid longer than "
					 "this certificate (until %s)", kept->subject, kept->sha256,
					 until, e->dn, mine);
	res->status = 1;
	set_message(res, "not replaced: '%s' on '%s' is valid until %s, this certificate only "
		    "until %s", kept->subject, e->dn, until, mine);
}

/* The message for a plan's outcome. */
static void plan_message(struct pub_result *res, const smp_plan *plan, const smp_entry *e,
			 const smp_existing *ex, smp_certinfo *ci)
{
	if (plan->action == SMP_ACT_SKIPPED && plan->reason != NULL) {
		if (strcmp(plan->reason, "already_has_certificate") == 0)
			set_message(res, "'%s' already holds another certificate", e->dn);
		else if (strcmp(plan->reason, "critical_problem") == 0)
			set_message(res, "not published because of the critical problems below");
		else if (strcmp(plan->reason, "malformed") == 0)
			set_message(res, "not a certificate");
		else if (strcmp(plan->reason, "downgrade") == 0)
			downgrade_message(res, e, ex->info[plan->lost], ci);
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
	smp_policy policy;
	char *comment = NULL;
	int r = 0;

	memset(res, 0, sizeof(*res));
	memset(&pe, 0, sizeof(pe));
	newbv.bv_val = (char *)der;
	newbv.bv_len = len;

	if (too_large(c, len, ci, res))
		goto out;
	if ((r = find_entry(c, ci, der, len, res, &e, &err)) != 0) {
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
		if (smp_address_check_mailbox(ci->emails[0], &err) != 0) {
			/* a contact is a recipient in the address book: only for a real mailbox */
			if (smp_certinfo_problem(ci, "bad_address") == NULL)
				smp_certinfo_add_problem(ci, "bad_address", "%s", err.msg);
			res->action = "skipped";
			res->reason = "bad_address";
			res->status = 1;
			set_message(res, "no contact created: %s", err.msg);
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
		if ((r = smp_plan_publish(&plan, &pe.ex, &newbv, ci, pub_policy(c, &policy))) != 0)
			goto out;
		if (plan->action == SMP_ACT_SKIPPED) {
			res->action = "skipped";
			res->reason = plan->reason;
			res->status = 1;
			plan_message(res, plan, e, &pe.ex, ci);
			break;
		}
		if (plan->action == SMP_ACT_UNCHANGED) {
			res->action = res->created ? pub_action_name(c, SMP_ACT_PUBLISHED)
						   : "unchanged";
			res->reason = plan->reason;
			plan_message(res, plan, e, &pe.ex, ci);
			break;
		}
		r = pub_apply(c, e, plan, comment, &res->ldif, &err);
		if (r == 0) {
			memcpy(res->record, c->record, sizeof(res->record));
			res->action = pub_action_name(c, plan->action);
			plan_message(res, plan, e, &pe.ex, ci);
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
	if (res->created) {
		char *m = res->message, *x = res->exchange_note;

		res->message = NULL;
		set_message(res, "%s contact '%s'%s%s%s", c->o.dry_run ? "would create" : "created",
			    res->dn, m != NULL ? "; " : "", m != NULL ? m : "", x != NULL ? x : "");
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

/* ---- many certificates: the pipeline ------------------------------------------------------ */

void pub_item_release(struct pub_item *it)
{
	pipe_item_release(&it->p);
	smp_plan_free(it->plan);
	pub_existing_release(&it->pe);
	smp_certinfo_free(it->ci);
	free(it->der);
	memset(it, 0, sizeof(*it));
}

/* Plans an item against the entry the pipeline found: PIPE_PLANNED, or final (PIPE_DONE). */
static int bulk_plan(smp_session *c, struct pub_item *it)
{
	const smp_entry *e = it->p.entry;
	struct pub_result *res = &it->p.res;
	smp_error err = SMP_ERROR_INIT;
	smp_policy policy;
	struct berval newbv;
	int r;

	newbv.bv_val = (char *)it->der;
	newbv.bv_len = it->len;
	if ((res->dn = strdup(e->dn)) == NULL || check_addresses(it->ci, e) != 0)
		return SMP_ERR_NOMEM;
	if ((r = pub_existing_load(&it->pe, e, &newbv, it->ci, c->trust, &err)) != 0)
		return r;
	c->replace_run = it->replace_run;
	r = smp_plan_publish(&it->plan, &it->pe.ex, &newbv, it->ci, pub_policy(c, &policy));
	c->replace_run = 0;
	if (r != 0)
		return r;
	if (it->plan->action != SMP_ACT_SKIPPED && it->plan->action != SMP_ACT_UNCHANGED)
		return pipe_planned(c, &it->p, it->plan);
	res->action = it->plan->action == SMP_ACT_SKIPPED ? "skipped" : "unchanged";
	res->reason = it->plan->reason;
	res->status = it->plan->action == SMP_ACT_SKIPPED;
	plan_message(res, it->plan, e, &it->pe.ex, it->ci);
	it->p.state = PIPE_DONE;
	return 0;
}

/* pipe_single_fn: the whole path of one certificate (match, create, plan, apply). */
static int publish_single(smp_session *c, struct pipe_item *p, void *ctx)
{
	struct pub_item *it = ctx;
	int r;

	(void)p;
	smp_plan_free(it->plan);
	it->plan = NULL;
	pub_existing_release(&it->pe);
	r = pub_certificate(c, it->der, it->len, it->ci, it->source, &it->p.res);
	it->p.state = PIPE_DONE;
	return r;
}

/* The result of an item the pipeline has finished with. */
static void bulk_result_of(smp_session *c, struct pub_item *it)
{
	struct pub_result *res = &it->p.res;

	if (it->p.state == PIPE_WRITTEN) {
		memcpy(res->record, it->p.record, sizeof(res->record));
		res->action = pub_action_name(c, it->p.action);
		if (it->plan != NULL)
			plan_message(res, it->plan, it->p.entry, &it->pe.ex, it->ci);
	} else if (it->p.state != PIPE_DONE && res->action == NULL) {
		pub_failure(res, SMP_ERR_UNAVAILABLE,
			    "the directory is unavailable: rerun the same publish later");
	}
}

int pub_one(smp_session *c, struct pub_item *it)
{
	int r = pipe_single(c, &it->p, publish_single, it);

	bulk_result_of(c, it);
	return r;
}

/*
 * Of several items for one address, only the best (smp_plan_run_best) is published; each
 * other is final as "superseded", saying which input won. Returns 0 or SMP_ERR_NOMEM.
 */
static int run_best(struct pub_item *items, size_t n)
{
	smp_certinfo **infos = calloc(n + 1, sizeof(*infos));
	size_t *winner = calloc(n + 1, sizeof(*winner));
	int r = SMP_ERR_NOMEM;

	if (infos == NULL || winner == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (items[i].p.state == PIPE_LOCATE || items[i].p.state == PIPE_SINGLE)
			infos[i] = items[i].ci;
	if ((r = smp_plan_run_best(winner, infos, n)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct pub_item *w = &items[winner[i]];
		struct pub_result *res = &items[i].p.res;
		char until[32];

		if (winner[i] == i)
			continue;
		day_of(until, w->ci->not_after);
		res->status = 0;
		if (!items[i].ci->can_encrypt && smp_cert_usable(w->ci)) {
			/* a signing certificate beside the partner's encryption certificate */
			res->action = "not_needed";
			set_message(res, "a signing certificate, not needed to encrypt: '%s' in the "
				    "same run is the address's encryption certificate (valid until "
				    "%s)", w->source != NULL ? w->source : "-", until);
		} else {
			res->action = "superseded";
			set_message(res, "not published: '%s' in the same run is the better "
				    "certificate for the address (%svalid until %s)",
				    w->source != NULL ? w->source : "-",
				    smp_cert_usable(w->ci) ? "" : "not usable either, ", until);
		}
		items[i].p.state = PIPE_DONE;
	}
	r = 0;
out:
	free(infos);
	free(winner);
	return r;
}

/* ---- the best per address across the chunks of one run ------------------------------------ */

static size_t best_hash(const char *addr)
{
	size_t h = 1469598103934665603u;

	for (; *addr != '\0'; addr++)
		h = (h ^ (unsigned char)tolower((unsigned char)*addr)) * 1099511628211u;
	return h;
}

/* The slot of addr in c->best_slot: where it is, or the empty one where it goes. */
static size_t best_slot_of(const smp_session *c, const char *addr)
{
	size_t mask = c->n_slots - 1, s = best_hash(addr) & mask;

	while (c->best_slot[s] != SIZE_MAX && strcasecmp(c->best[c->best_slot[s]].addr, addr) != 0)
		s = (s + 1) & mask;
	return s;
}

static struct run_best *best_find(smp_session *c, const char *addr)
{
	size_t s;

	if (c->n_slots == 0)
		return NULL;
	s = best_slot_of(c, addr);
	return c->best_slot[s] != SIZE_MAX ? &c->best[c->best_slot[s]] : NULL;
}

/* Room for one more address in the index (rehashing as it grows). 0 or -1. */
static int best_grow(smp_session *c)
{
	size_t n = c->n_slots ? c->n_slots : 64;
	size_t *slots;

	if (c->n_slots != 0 && 2 * (c->n_best + 1) <= c->n_slots)
		return 0;
	while (2 * (c->n_best + 1) > n)
		n *= 2;
	if ((slots = malloc(n * sizeof(*slots))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		slots[i] = SIZE_MAX;
	free(c->best_slot);
	c->best_slot = slots;
	c->n_slots = n;
	for (size_t i = 0; i < c->n_best; i++)
		c->best_slot[best_slot_of(c, c->best[i].addr)] = i;
	return 0;
}

/*
 * Judges the chunk's remaining inputs against what earlier chunks put on their addresses: an
 * input the earlier winner beats (or equals: the earlier wins a tie, as within a chunk) is
 * "superseded" by it; one that beats it may replace it (replace_run).
 */
static void best_against_earlier(smp_session *c, struct pub_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct pub_item *it = &items[i];
		int usable;

		if (it->ci == NULL || (it->p.state != PIPE_LOCATE && it->p.state != PIPE_SINGLE))
			continue;
		usable = smp_cert_usable(it->ci);
		for (size_t k = 0; k < it->ci->n_emails; k++) {
			struct run_best *b = best_find(c, it->ci->emails[k]);
			char until[32];

			if (b == NULL || strcmp(b->sha256, it->ci->sha256) == 0)
				continue;
			if (usable > b->usable ||
			    (usable == b->usable && it->ci->not_after > b->not_after)) {
				it->replace_run = 1;
				continue;
			}
			day_of(until, b->not_after);
			it->p.res.status = 0;
			it->p.res.action = "superseded";
			set_message(&it->p.res, "not published: '%s' earlier in the same run is the "
				    "better certificate for the address (%svalid until %s)",
				    b->source != NULL ? b->source : "-",
				    b->usable ? "" : "not usable either, ", until);
			it->p.state = PIPE_DONE;
			break;
		}
	}
}

/* Notes what a finished item left on its addresses' entry, for the chunks after it. */
static void best_note(smp_session *c, const struct pub_item *it)
{
	const char *a = it->p.res.action;

	if (it->ci == NULL || a == NULL || c->o.dry_run ||
	    (strcmp(a, "published") != 0 && strcmp(a, "replaced") != 0 &&
	     strcmp(a, "unchanged") != 0 && strcmp(a, "reordered") != 0))
		return;
	for (size_t k = 0; k < it->ci->n_emails; k++) {
		struct run_best *b = best_find(c, it->ci->emails[k]);

		if (b == NULL) {
			if (best_grow(c) != 0)
				return;
			if (c->n_best == c->cap_best) {
				size_t cap = c->cap_best ? 2 * c->cap_best : 64;
				struct run_best *grown = realloc(c->best, cap * sizeof(*grown));

				if (grown == NULL)
					return;  /* only the cross-chunk judgement is lost */
				c->best = grown;
				c->cap_best = cap;
			}
			b = &c->best[c->n_best];
			memset(b, 0, sizeof(*b));
			if ((b->addr = strdup(it->ci->emails[k])) == NULL)
				return;
			c->best_slot[best_slot_of(c, b->addr)] = c->n_best;
			c->n_best++;
		}
		free(b->source);
		b->source = it->source != NULL ? strdup(it->source) : NULL;
		memcpy(b->sha256, it->ci->sha256, sizeof(b->sha256));
		b->usable = smp_cert_usable(it->ci);
		b->not_after = it->ci->not_after;
	}
}

/* Progress of a chunk's writes. */
static void bulk_progress(smp_session *c, size_t done)
{
	pub_progress(c, c->done_before + done);
}

int pub_bulk(smp_session *c, struct pub_item *items, size_t n, pub_emit_fn emit, void *ctx)
{
	struct pipe_item **g = calloc(n + 1, sizeof(*g));
	struct pipe_search *found = NULL;
	size_t i;
	int r = SMP_ERR_NOMEM;

	if (g == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		struct pub_item *it = &items[i];

		g[i] = &it->p;
		it->p.addrs = it->ci != NULL ? (const char *const *)it->ci->emails : NULL;
		it->p.n_addrs = it->ci != NULL ? it->ci->n_emails : 0;
		if (it->ci == NULL || too_large(c, it->len, it->ci, &it->p.res))
			it->p.state = PIPE_DONE;
		else
			it->p.state = it->p.n_addrs == 0 ? PIPE_SINGLE : PIPE_LOCATE;
	}
	/* several certificates for one address: the best goes on, the others lose to it here */
	if (!c->pub->policy.add) {
		if ((r = run_best(items, n)) != 0)
			goto out;
		best_against_earlier(c, items, n);
	}
	if (c->o.dry_run)  /* nothing is written: each goes the one-at-a-time way, with its LDIF */
		for (i = 0; i < n; i++)
			if (items[i].p.state == PIPE_LOCATE)
				items[i].p.state = PIPE_SINGLE;

	/* 1. batched address searches; one item per entry goes on in bulk */
	if ((r = pipe_locate(c, g, n, &found)) != 0 || (r = pipe_one_per_entry(g, n)) != 0)
		goto out;
	for (i = 0; i < n; i++)
		if (items[i].p.state == PIPE_HAVE && (r = bulk_plan(c, &items[i])) != 0)
			goto out;

	/* 2. writes, a group at a time (its undo records on disk with one fsync first) */
	if ((r = pipe_write_groups(c, g, n, bulk_progress)) != 0)
		goto out;

	/* 3. everything else the way a single certificate goes */
	for (i = 0; i < n; i++) {
		if (items[i].p.state != PIPE_SINGLE)
			continue;
		c->replace_run = items[i].replace_run;
		r = pub_one(c, &items[i]);
		c->replace_run = 0;
		if (r != 0)
			goto out;
	}
	r = 0;
out:
	for (i = 0; i < n; i++) {
		struct pub_item *it = &items[i];

		if (r == 0)
			bulk_result_of(c, it);
		if (!c->pub->policy.add)
			best_note(c, it);
		if (it->p.res.action != NULL) {
			if (emit != NULL)
				emit(c, it, ctx);
			else
				pub_report(c, &it->p.res, it->ci, it->source, c->pub->on_item,
					   c->pub->ctx);
		}
		pub_progress(c, c->done_before + i + 1);
		pub_item_release(it);
	}
	pipe_search_free(found);
	free(g);
	return r;
}
