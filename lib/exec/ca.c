/*
 * smimepub engine: ca publish / list / remove (SPEC §6, ca.h). Reads the inputs, asks the
 * pure decisions of lib/policy/ca.c what each CA certificate is and where it goes, and
 * writes through the engine's one apply path (exec_create / exec_modify / exec_delete:
 * journal first, exact values, voided when refused, LDIF in a dry run).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "exec.h"
#include "smimepub/ca.h"
#include "smimepub/message.h"

/* Problems that are about a person's certificate, not a CA's: not shown for a CA. */
static const char *const leaf_only[] = {
	"no_address", "bad_address", "address_from_cn", "no_encryption", "no_email_protection",
	"is_ca", "address_mismatch", NULL
};

/*
 * Problems that refuse a CA unless forced: it cannot be relied on where it is published.
 * untrusted / missing_intermediate are not among them: a partner's CA is not trusted here
 * yet, which is why it is being published.
 */
static const char *const refusing[] = { "expired", "not_yet_valid", "revoked", "malformed",
					 NULL };

static int in_list(const char *const *list, const char *code)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], code) == 0)
			return 1;
	return 0;
}

/* Drops ci's leaf-only problems, in place. */
static void drop_leaf_problems(smp_certinfo *ci)
{
	size_t k = 0;

	for (size_t i = 0; i < ci->n_problems; i++) {
		if (in_list(leaf_only, ci->problems[i].code)) {
			free(ci->problems[i].message);
			continue;
		}
		ci->problems[k++] = ci->problems[i];
	}
	ci->n_problems = k;
}

/* fp as 64 lower-case hex digits into out (colons and spaces dropped); 0, or -1. */
static int norm_fingerprint(char out[65], const char *fp)
{
	size_t k = 0;

	for (; fp != NULL && *fp != '\0'; fp++) {
		if (*fp == ':' || *fp == ' ')
			continue;
		if (!isxdigit((unsigned char)*fp) || k >= 64)
			return -1;
		out[k++] = (char)tolower((unsigned char)*fp);
	}
	out[k] = '\0';
	return k == 64 ? 0 : -1;
}

/* A CA certificate from the directory, decoded, with where it is. */
struct dir_ca {
	X509 *x;
	char *dn;
	char *container;
	char *attr;
	smp_ca_container_kind in;
	struct berval der;
	size_t index;
};

struct dir_cas {
	struct dir_ca *v;
	size_t n;
	int nomem;
};

static void dir_cas_release(struct dir_cas *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		X509_free(cs->v[i].x);
		free(cs->v[i].dn);
		free(cs->v[i].container);
		free(cs->v[i].attr);
		free(cs->v[i].der.bv_val);
	}
	free(cs->v);
	memset(cs, 0, sizeof(*cs));
}

static int collect_ca(const smp_ca_value *v, void *ctx)
{
	struct dir_cas *cs = ctx;
	const unsigned char *p = (const unsigned char *)v->der->bv_val;
	struct dir_ca *grown, *c;
	X509 *x;

	if (smp_ca_value_is_placeholder(v->der))
		return 0;
	/* a value that is not a certificate is no CA clients can use: not listed */
	if ((x = d2i_X509(NULL, &p, (long)v->der->bv_len)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	if ((grown = realloc(cs->v, (cs->n + 1) * sizeof(*grown))) == NULL) {
		X509_free(x);
		cs->nomem = 1;
		return SMP_ERR_NOMEM;
	}
	cs->v = grown;
	c = &grown[cs->n];
	memset(c, 0, sizeof(*c));
	c->x = x;
	c->in = v->in;
	c->index = v->index;
	c->dn = strdup(v->dn);
	c->container = strdup(v->container);
	c->attr = strdup(v->attr);
	c->der.bv_val = malloc(v->der->bv_len + 1);
	cs->n++;
	if (c->dn == NULL || c->container == NULL || c->attr == NULL || c->der.bv_val == NULL) {
		cs->nomem = 1;
		return SMP_ERR_NOMEM;
	}
	memcpy(c->der.bv_val, v->der->bv_val, v->der->bv_len);
	c->der.bv_len = v->der->bv_len;
	return 0;
}

/* The CA certificates the directory distributes now. */
static int read_dir_cas(smp_session *c, const smp_ca_containers *k, struct dir_cas *cs,
			smp_error *err)
{
	int r = smp_dir_ca_walk(c->dir, k, collect_ca, cs, err);

	if (r != 0 && cs->nomem)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	return r;
}

/* ---- counting the contact certificates that chain through each CA --------------------- */

struct chain_count {
	X509 **cas;
	size_t n;
	long *counts;
	unsigned char *marks;
};

static int count_entry(const smp_entry *e, void *ctx)
{
	struct chain_count *cc = ctx;

	for (size_t i = 0; i < e->n_certs; i++) {
		const unsigned char *p = (const unsigned char *)e->certs[i].bv_val;
		X509 *x = d2i_X509(NULL, &p, (long)e->certs[i].bv_len);

		if (x == NULL) {
			ERR_clear_error();
			continue;
		}
		memset(cc->marks, 0, cc->n);
		smp_ca_chain_marks(x, cc->cas, cc->n, cc->marks);
		for (size_t k = 0; k < cc->n; k++)
			cc->counts[k] += cc->marks[k];
		X509_free(x);
	}
	return 0;
}

/* counts[i]: published contact certificates whose chain passes through cs->v[i]. */
static int count_chained(smp_session *c, const struct dir_cas *cs, long **counts,
			 smp_error *err)
{
	struct chain_count cc;
	int r = SMP_ERR_NOMEM;

	memset(&cc, 0, sizeof(cc));
	*counts = NULL;
	cc.n = cs->n;
	cc.cas = calloc(cs->n + 1, sizeof(*cc.cas));
	cc.counts = calloc(cs->n + 1, sizeof(*cc.counts));
	cc.marks = calloc(cs->n + 1, 1);
	if (cc.cas == NULL || cc.counts == NULL || cc.marks == NULL) {
		smp_error_set(err, r, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cs->n; i++)
		cc.cas[i] = cs->v[i].x;
	if (cs->n > 0 && (r = smp_dir_walk(c->dir, count_entry, NULL, &cc, err)) != 0)
		goto out;
	*counts = cc.counts;
	cc.counts = NULL;
	r = 0;
out:
	free(cc.cas);
	free(cc.counts);
	free(cc.marks);
	return r;
}

/* What every ca subcommand starts from: the containers, the CAs in them, those as a stack. */
struct dir_view {
	smp_ca_containers k;
	struct dir_cas cs;
	STACK_OF(X509) *all;        /* cs's certificates (borrowed from cs) */
	long *counts;               /* with count: contact certificates chaining through each */
};

static void dir_view_release(struct dir_view *v)
{
	sk_X509_free(v->all);
	free(v->counts);
	dir_cas_release(&v->cs);
	smp_ca_containers_release(&v->k);
	memset(v, 0, sizeof(*v));
}

/* Reads v (cleared first; release it in any case); count: also walk the contacts. */
static int dir_view_load(struct dir_view *v, smp_session *c, const char *ca_base, int count,
			 smp_error *err)
{
	int r;

	memset(v, 0, sizeof(*v));
	if ((r = smp_dir_ca_containers(&v->k, c->dir, ca_base, err)) != 0 ||
	    (r = read_dir_cas(c, &v->k, &v->cs, err)) != 0 ||
	    (count && (r = count_chained(c, &v->cs, &v->counts, err)) != 0))
		return r;
	if ((v->all = sk_X509_new_null()) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < v->cs.n; i++)
		if (sk_X509_push(v->all, v->cs.v[i].x) <= 0)
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	return 0;
}

/* ---- publish ----------------------------------------------------------------------------- */

/* One input certificate and where it came from. */
struct input {
	X509 *x;
	char *source;
};

struct inputs {
	struct input *v;
	size_t n;
	smp_session *c;
	const smp_ca_publish_options *o;
	const char *path;
};

static int add_input(struct inputs *in, X509 *x, const char *source)
{
	struct input *grown = realloc(in->v, (in->n + 1) * sizeof(*grown));

	if (grown == NULL)
		return SMP_ERR_NOMEM;
	in->v = grown;
	if ((grown[in->n].source = strdup(source)) == NULL)
		return SMP_ERR_NOMEM;
	X509_up_ref(x);
	grown[in->n].x = x;
	in->n++;
	return 0;
}

static void emit(smp_session *c, smp_item *it, smp_item_fn fn, void *ctx)
{
	pub_emit_item(c, it, fn, ctx, NULL);
}

/* A failed input (unreadable file, malformed message). */
static void emit_input_failure(struct inputs *in, const char *source, int code, const char *msg)
{
	smp_item it;

	memset(&it, 0, sizeof(it));
	it.source = source;
	it.action = "failed";
	it.reason = code == SMP_ERR_NOFILE ? "file_not_found" : "unreadable";
	it.status = smp_exit_status(code);
	it.message = msg;
	emit(in->c, &it, in->o->on_item, in->o->ctx);
}

/* Signed mail: the CA certificates its signatures carry (the signers' own are people's). */
static int from_message(const smp_message *m, void *ctx)
{
	struct inputs *in = ctx;

	for (int i = 0; m->carried != NULL && i < sk_X509_num(m->carried); i++) {
		X509 *x = sk_X509_value(m->carried, i);

		if (X509_check_ca(x) != 0 && add_input(in, x, m->file) != 0)
			return SMP_ERR_NOMEM;
	}
	return 0;
}

static int read_inputs(struct inputs *in, const char *const *paths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		smp_error err = SMP_ERROR_INIT;
		unsigned char *data = NULL;
		smp_bundle *b = NULL;
		size_t len = 0;
		int r;

		if (pub_looks_like_mail(paths[i], NULL, 0)) {
			if ((r = smp_messages_read(paths[i], from_message, in, &err)) != 0) {
				if (r == SMP_ERR_NOMEM)
					return r;
				emit_input_failure(in, paths[i], r, err.msg);
			}
			continue;
		}
		if ((r = smp_read_file(&data, &len, paths[i], SMP_MAX_INPUT, &err)) != 0) {
			emit_input_failure(in, paths[i], r, err.msg);
			continue;
		}
		if (pub_looks_like_mail(paths[i], data, len)) {
			r = smp_messages_parse(data, len, paths[i], from_message, in, &err);
			if (r != 0 && r != SMP_ERR_NOMEM)
				emit_input_failure(in, paths[i], r, err.msg);
		} else if ((r = smp_bundle_read(&b, data, len, &err)) != 0) {
			char msg[SMP_ERROR_MSG_MAX + 64];

			snprintf(msg, sizeof(msg), "cannot read '%s': %s", paths[i], err.msg);
			emit_input_failure(in, paths[i], r, msg);
			r = 0;
		} else {
			STACK_OF(X509) *all = smp_bundle_all(b);

			/* every certificate of a bundle: a partner's .p7b is its root and
			   intermediates */
			for (int k = 0; k < sk_X509_num(all) && r == 0; k++)
				r = add_input(in, sk_X509_value(all, k), paths[i]);
			smp_bundle_free(b);
		}
		free(data);
		if (r == SMP_ERR_NOMEM)
			return r;
	}
	return 0;
}

/* The words an administrator must read before a root goes where every member trusts it. */
static const char *root_warning(const smp_profile *p)
{
	return p->ca_root_dse_attr != NULL ?
	       "every domain member will trust this root for every purpose (mail, TLS, code "
	       "signing, smart card logon ...), not only for this partner's mail; narrower: a "
	       "GPO that adds it only for computers in one OU, or a cross-certificate "
	       "constrained (name constraints, EKU emailProtection) to the partner's domains" :
	       "every client that takes its trust anchors from this directory will trust this "
	       "root for every purpose, not only for this partner's mail; narrower: adding it "
	       "only to the clients that need it, or a cross-certificate constrained to the "
	       "partner's domains";
}

/* What a refused write needs, in the words of the directory's kind. */
static void access_message(char *buf, size_t size, const smp_profile *p, const char *container,
			   const char *identity, const char *diag)
{
	if (p->ca_root_dse_attr != NULL)
		snprintf(buf, size, "not allowed to write to '%s': publishing a CA there needs the "
			 "right to create certificationAuthority objects and write cACertificate "
			 "in that container of the configuration partition (by default only "
			 "Enterprise Admins and the forest root's Domain Admins have it), which "
			 "'%s' does not have; nothing was written (%s)", container, identity, diag);
	else
		snprintf(buf, size, "not allowed to write to '%s': publishing a CA there needs "
			 "the right to add entries and write cACertificate;binary below it, which "
			 "'%s' does not have; nothing was written (%s)", container, identity, diag);
}

/* An smp_contact (the engine's description of a new entry) for attrs/values. */
static int entry_desc(smp_contact *k, const char *dn, const char **attrs,
		      const struct berval *values, size_t n)
{
	memset(k, 0, sizeof(*k));
	if ((k->dn = strdup(dn)) == NULL)
		return SMP_ERR_NOMEM;
	for (size_t i = 0; i < n && i < SMP_CONTACT_MAX_VALUES; i++) {
		k->attrs[i] = attrs[i];
		if ((k->values[i].bv_val = malloc(values[i].bv_len + 1)) == NULL)
			return SMP_ERR_NOMEM;
		memcpy(k->values[i].bv_val, values[i].bv_val, values[i].bv_len);
		k->values[i].bv_val[values[i].bv_len] = '\0';
		k->values[i].bv_len = values[i].bv_len;
		k->n++;
	}
	k->exchange = -1;
	return 0;
}

static void entry_desc_release(smp_contact *k)
{
	free(k->dn);
	for (size_t i = 0; i < k->n; i++)
		free(k->values[i].bv_val);
	memset(k, 0, sizeof(*k));
}

/*
 * The container when it is ours to make (no partition names it: OpenLDAP's --ca-base) and
 * missing: an organizationalUnit, journalled like any entry. Once per run.
 */
static int ensure_container(smp_session *c, const char *container, char **ldif, int *made,
			    smp_error *err)
{
	const smp_profile *p = smp_dir_profile(c->dir);
	struct berval *v = NULL, vals[3];
	const char *attrs[3];
	smp_contact k;
	LDAPDN dn = NULL;
	char *ou = NULL;
	size_t n = 0;
	int exists = 0, r;

	if (*made || p->ca_root_dse_attr != NULL)
		return 0;
	if ((r = smp_dir_ca_read(c->dir, container, "objectClass", &exists, &v, &n, err)) != 0)
		return r;
	smp_bervals_free(v, n);
	if (exists) {
		*made = 1;
		return 0;
	}
	if (ldap_str2dn(container, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS || dn == NULL ||
	    dn[0] == NULL || dn[0][1] != NULL ||
	    strncasecmp(dn[0][0]->la_attr.bv_val, "ou", dn[0][0]->la_attr.bv_len) != 0 ||
	    dn[0][0]->la_attr.bv_len != 2) {
		ldap_dnfree(dn);
		return smp_error_set(err, SMP_ERR_NOTFOUND, "the CA container '%s' does not exist "
				     "(only an ou=... container is created)", container);
	}
	ou = strndup(dn[0][0]->la_value.bv_val, dn[0][0]->la_value.bv_len);
	ldap_dnfree(dn);
	if (ou == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	attrs[0] = "objectClass", vals[0].bv_val = "top", vals[0].bv_len = 3;
	attrs[1] = "objectClass", vals[1].bv_val = "organizationalUnit", vals[1].bv_len = 18;
	attrs[2] = "ou", vals[2].bv_val = ou, vals[2].bv_len = strlen(ou);
	if ((r = entry_desc(&k, container, attrs, vals, 3)) != 0) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	} else {
		r = exec_create(c, &k, "smimepub: would create the CA container", ldif, err);
		if (r == SMP_ERR_CONFLICT)
			r = 0;  /* made meanwhile */
	}
	entry_desc_release(&k);
	free(ou);
	if (r == 0)
		*made = 1;
	return r;
}

struct pub_run {
	smp_session *c;
	const smp_ca_publish_options *o;
	struct dir_view v;          /* what the directory distributed when the run began; v.all
				       grows by the run's inputs */
	STACK_OF(X509) *known;      /* v.all, or for a message v.all and what it carries:
				       cross-certificates and chains */
	const smp_message *mail;    /* harvest: the message the CA came in, else NULL */
	int container_made;
};

/* Whether the root ci may be published: its fingerprint given, or confirmed at a prompt. */
static int root_allowed(struct pub_run *pr, const smp_certinfo *ci, const char *warning)
{
	char want[65];

	if (!pr->o->root)
		return 0;
	for (size_t i = 0; i < pr->o->n_root_fingerprints; i++)
		if (norm_fingerprint(want, pr->o->root_fingerprints[i]) == 0 &&
		    strcmp(want, ci->sha256) == 0)
			return 1;
	return pr->o->confirm_root != NULL && pr->o->confirm_root(ci, warning, pr->o->ctx) == 1;
}

static int has_refusing(const smp_certinfo *ci)
{
	for (size_t i = 0; i < ci->n_problems; i++)
		if (in_list(refusing, ci->problems[i].code))
			return 1;
	return 0;
}

/* Publishes input x; reports one item. Returns 0 or SMP_ERR_NOMEM. */
static int publish_one(struct pub_run *pr, X509 *x, const char *source)
{
	smp_session *c = pr->c;
	const smp_profile *p = smp_dir_profile(c->dir);
	smp_error err = SMP_ERROR_INIT;
	smp_certinfo *ci = NULL;
	smp_ca_plan plan;
	smp_ca_kind kind;
	smp_contact k;
	smp_item it;
	struct berval der = { 0, NULL }, *have = NULL;
	unsigned char *buf = NULL;
	char *ldif = NULL, *msg = NULL;
	char words[2 * SMP_ERROR_MSG_MAX];
	size_t n_have = 0;
	int exists = 0, r, len;

	memset(&plan, 0, sizeof(plan));
	memset(&k, 0, sizeof(k));
	memset(&it, 0, sizeof(it));
	it.source = source;
	it.mail = pr->mail;
	kind = smp_ca_classify(x, pr->known);
	it.ca_kind = smp_ca_kind_name(kind);
	if ((r = smp_cert_analyze(&ci, x, pr->known, c->trust, &err)) != 0)
		goto out;
	drop_leaf_problems(ci);
	it.cert = ci;
	if ((len = i2d_X509(x, &buf)) <= 0) {
		r = SMP_ERR_NOMEM;
		goto out;
	}
	der.bv_val = (char *)buf;
	der.bv_len = (size_t)len;
	if (kind == SMP_CA_NOT_CA) {
		it.action = "failed";
		it.reason = "not_ca";
		it.status = 1;
		it.message = "not a CA certificate (no basicConstraints cA): publish a person's "
			     "certificate on their entry instead";
		goto emit;
	}
	if (has_refusing(ci) && !pr->o->force) {
		it.action = "skipped";
		it.reason = "critical_problem";
		it.status = 1;
		it.message = "the CA certificate has a critical problem: clients could not rely on "
			     "it; nothing written";
		goto emit;
	}
	if (kind == SMP_CA_ROOT && !root_allowed(pr, ci, root_warning(p))) {
		it.action = "skipped";
		it.reason = "root_not_confirmed";
		it.status = 1;
		snprintf(words, sizeof(words), "a root is published only by explicit choice, with "
			 "its SHA-256 fingerprint %s: %s", ci->sha256, root_warning(p));
		it.message = words;
		goto emit;
	}
	if ((r = smp_ca_plan_publish(&plan, p, &pr->v.k, x, &der, kind, 0, NULL, 0, &err)) != 0 ||
	    (r = smp_dir_ca_read(c->dir, plan.dn, plan.attr, &exists, &have, &n_have, &err)) != 0)
		goto failed;
	{
		smp_ca_plan again;

		if ((r = smp_ca_plan_publish(&again, p, &pr->v.k, x, &der, kind, exists, have, n_have,
					     &err)) != 0)
			goto failed;
		smp_ca_plan_release(&plan);
		plan = again;
	}
	it.dn = plan.dn;
	it.container = plan.container;
	it.attribute = plan.attr;
	if (plan.write == SMP_CA_WRITE_NONE) {
		it.action = "unchanged";
		it.reason = "already_published";
		it.message = "the directory distributes this CA certificate already";
		goto emit;
	}
	if (plan.write == SMP_CA_WRITE_CREATE) {
		const char *attrs[SMP_CONTACT_MAX_VALUES];
		struct berval vals[SMP_CONTACT_MAX_VALUES];
		size_t nv = smp_ca_entry_values(p, &plan, &der, attrs, vals,
						SMP_CONTACT_MAX_VALUES);

		if ((r = ensure_container(c, plan.container, &ldif, &pr->container_made, &err)) != 0)
			goto failed;
		if ((r = entry_desc(&k, plan.dn, attrs, vals, nv)) != 0) {
			smp_error_set(&err, r, "out of memory");
			goto failed;
		}
		r = exec_create(c, &k, "smimepub: would publish a CA certificate", &ldif, &err);
	} else {
		smp_change ch;

		memset(&ch, 0, sizeof(ch));
		ch.attr = plan.attr;
		ch.add = &der;
		ch.n_add = 1;
		/* a renewed CA of the same name: its certificate beside the old one */
		r = exec_modify(c, plan.dn, &ch, 1, "smimepub: would publish a CA certificate",
				&ldif, NULL, NULL, &err);
	}
	if (r != 0)
		goto failed;
	it.action = c->o.dry_run ? "would_publish" : "published";
	it.ldif = ldif;
	it.record = c->o.dry_run || c->record[0] == '\0' ? NULL : c->record;
	if (asprintf(&msg, "%s %s CA '%s' in '%s'%s%s", c->o.dry_run ? "would publish" :
		     "published", it.ca_kind, plan.name, plan.container,
		     kind == SMP_CA_ROOT ? ": " : "", kind == SMP_CA_ROOT ? root_warning(p) : "") < 0)
		msg = NULL;
	it.message = msg;
	goto emit;
failed:
	if (r == SMP_ERR_NOMEM)
		goto out;
	it.action = "failed";
	if (r == SMP_ERR_ACCESS) {
		char *who = smp_dir_identity(c->dir);

		access_message(words, sizeof(words), p, plan.container != NULL ? plan.container :
			       pr->v.k.intermediates, who != NULL ? who : "this account", err.msg);
		free(who);
		it.reason = "insufficient_access";
		it.message = words;
	} else {
		it.reason = r == SMP_ERR_UNAVAILABLE ? "unavailable" :
			    r == SMP_ERR_CONFLICT ? "conflict" :
			    r == SMP_ERR_NOTFOUND ? "not_found" : "failed";
		it.message = err.msg;
	}
	it.status = smp_exit_status(r);
	if (it.status == 0 || r == SMP_ERR_CONFLICT || r == SMP_ERR_NOTFOUND)
		it.status = 1;
	r = 0;
emit:
	emit(c, &it, pr->o->on_item, pr->o->ctx);
	r = 0;
out:
	smp_bervals_free(have, n_have);
	entry_desc_release(&k);
	smp_ca_plan_release(&plan);
	smp_certinfo_free(ci);
	OPENSSL_free(buf);
	free(ldif);
	free(msg);
	return r;
}

/* Reads the containers and what they hold; pr is released with pub_run_end in any case. */
static int pub_run_begin(struct pub_run *pr, smp_session *c, const smp_ca_publish_options *o,
			 smp_error *err)
{
	int r;

	memset(pr, 0, sizeof(*pr));
	pr->c = c;
	pr->o = o;
	if (o == NULL || o->version != SMP_ENGINE_VERSION)
		return smp_error_set(err, SMP_ERR_USAGE, "ca publish options of version %u: this "
				     "library knows version %u", o != NULL ? o->version : 0,
				     SMP_ENGINE_VERSION);
	if ((r = dir_view_load(&pr->v, c, o->ca_base, 0, err)) != 0)
		return r;
	pr->known = pr->v.all;
	return 0;
}

static void pub_run_end(struct pub_run *pr)
{
	dir_view_release(&pr->v);
	memset(pr, 0, sizeof(*pr));
}

int smp_ca_publish_paths(smp_session *c, const smp_ca_publish_options *o,
			 const char *const *paths, size_t n, smp_error *err)
{
	struct pub_run pr;
	struct inputs in;
	int r;

	memset(&in, 0, sizeof(in));
	in.c = c;
	in.o = o;
	if ((r = pub_run_begin(&pr, c, o, err)) != 0)
		goto out;
	if ((r = read_inputs(&in, paths, n)) != 0) {
		smp_error_set(err, r, "out of memory");
		goto out;
	}
	/* what a cross-certificate is recognised against: the run's inputs and the directory */
	for (size_t i = 0; i < in.n; i++)
		if (sk_X509_push(pr.known, in.v[i].x) <= 0) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
	for (size_t i = 0; i < in.n && r == 0 && !pub_cancelled(c); i++)
		r = publish_one(&pr, in.v[i].x, in.v[i].source);
	if (r != 0)
		smp_error_set(err, r, "out of memory");
out:
	pub_run_end(&pr);
	for (size_t i = 0; i < in.n; i++) {
		X509_free(in.v[i].x);
		free(in.v[i].source);
	}
	free(in.v);
	return r;
}

/* ---- harvest --publish-intermediates (exec.h) -------------------------------------------- */

struct ca_harvest {
	struct pub_run pr;
	smp_ca_publish_options o;
	char (*seen)[65];           /* SHA-256 of every CA certificate judged in this run */
	size_t n_seen;
};

int ca_harvest_begin(struct ca_harvest **out, smp_session *c, const char *ca_base,
		     smp_item_fn on_item, void *ctx, smp_error *err)
{
	struct ca_harvest *h = calloc(1, sizeof(*h));
	int r;

	*out = NULL;
	if (h == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	h->o = (smp_ca_publish_options)SMP_CA_PUBLISH_OPTIONS_INIT;
	h->o.ca_base = ca_base;
	h->o.on_item = on_item;
	h->o.ctx = ctx;
	/* never a root (o.root 0), never forced: what mail carries is only as good as the
	   anchors it chains to */
	if ((r = pub_run_begin(&h->pr, c, &h->o, err)) != 0) {
		ca_harvest_free(h);
		return r;
	}
	*out = h;
	return 0;
}

void ca_harvest_free(struct ca_harvest *h)
{
	if (h == NULL)
		return;
	pub_run_end(&h->pr);
	free(h->seen);
	free(h);
}

/* Whether x was judged in this run already; records it when not. -1: out of memory. */
static int ca_seen(struct ca_harvest *h, X509 *x, int record)
{
	unsigned char md[32];
	char hex[65];
	unsigned int len = 0;

	if (X509_digest(x, EVP_sha256(), md, &len) != 1 || len != 32)
		return -1;
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	for (size_t i = 0; i < h->n_seen; i++)
		if (memcmp(h->seen[i], hex, 65) == 0)
			return 1;
	if (record) {
		char (*grown)[65] = realloc(h->seen, (h->n_seen + 1) * sizeof(*grown));

		if (grown == NULL)
			return -1;
		h->seen = grown;
		memcpy(h->seen[h->n_seen++], hex, 65);
	}
	return 0;
}

int ca_harvest_pending(struct ca_harvest *h, const smp_message *m)
{
	for (int i = 0; m->carried != NULL && i < sk_X509_num(m->carried); i++) {
		X509 *x = sk_X509_value(m->carried, i);

		if (X509_check_ca(x) != 0 && ca_seen(h, x, 0) != 1)
			return 1;
	}
	return 0;
}

/* A CA certificate from mail that is not published, with why. */
static void ca_harvest_skip(struct ca_harvest *h, const smp_message *m, const smp_certinfo *ci,
			    smp_ca_kind kind, const char *reason, int status, const char *message)
{
	smp_item it;

	memset(&it, 0, sizeof(it));
	it.source = m->file;
	it.mail = m;
	it.cert = ci;
	it.ca_kind = smp_ca_kind_name(kind);
	it.action = "skipped";
	it.reason = reason;
	it.status = status;
	it.message = message;
	emit(h->pr.c, &it, h->o.on_item, h->o.ctx);
}

int ca_harvest_message(struct ca_harvest *h, const smp_message *m)
{
	smp_session *c = h->pr.c;
	STACK_OF(X509) *view = NULL;
	int r = 0;

	if (m->carried == NULL || sk_X509_num(m->carried) == 0)
		return 0;
	/* the message's certificates beside the directory's: chains and cross-certificates */
	if ((view = sk_X509_dup(h->pr.known)) == NULL)
		return SMP_ERR_NOMEM;
	for (int i = 0; i < sk_X509_num(m->carried); i++)
		if (sk_X509_push(view, sk_X509_value(m->carried, i)) <= 0) {
			sk_X509_free(view);
			return SMP_ERR_NOMEM;
		}
	for (int i = 0; i < sk_X509_num(m->carried) && r == 0 && !pub_cancelled(c); i++) {
		X509 *x = sk_X509_value(m->carried, i);
		smp_error err = SMP_ERROR_INIT;
		smp_certinfo *ci = NULL;
		smp_ca_kind kind;
		int seen;

		if (X509_check_ca(x) == 0)
			continue;  /* a person's certificate: the signer's part of harvest */
		if ((seen = ca_seen(h, x, 1)) != 0) {
			r = seen < 0 ? SMP_ERR_NOMEM : 0;
			continue;
		}
		kind = smp_ca_classify(x, view);
		if ((r = smp_cert_analyze(&ci, x, view, c->trust, &err)) != 0) {
			r = r == SMP_ERR_NOMEM ? r : 0;  /* unreadable: nothing to publish */
			continue;
		}
		drop_leaf_problems(ci);
		if (kind == SMP_CA_ROOT) {
			ca_harvest_skip(h, m, ci, kind, "root_from_mail", 0, "a root is never "
					"published from mail: anyone can put a root in a message");
		} else if (smp_certinfo_problem(ci, "untrusted") != NULL ||
			   smp_certinfo_problem(ci, "missing_intermediate") != NULL) {
			ca_harvest_skip(h, m, ci, kind, "untrusted_ca", 1, "the intermediate "
					"does not chain to a trust anchor here: not published");
		} else {
			STACK_OF(X509) *known = h->pr.known;

			h->pr.mail = m;
			h->pr.known = view;  /* chains through the message's certificates too */
			r = publish_one(&h->pr, x, m->file);
			h->pr.known = known;
			h->pr.mail = NULL;
		}
		smp_certinfo_free(ci);
	}
	sk_X509_free(view);
	return r;
}

/* ---- list ------------------------------------------------------------------------------- */

/* The kind of the directory's CA i (cross-certificates against the others). */
static smp_ca_kind dir_kind(const struct dir_cas *cs, size_t i, STACK_OF(X509) *all)
{
	smp_ca_kind kind = smp_ca_classify(cs->v[i].x, all);

	/* crossCertificatePair holds cross-certificates by definition */
	if (kind == SMP_CA_INTERMEDIATE && strncasecmp(cs->v[i].attr, "crossCertificatePair",
						       20) == 0)
		kind = SMP_CA_CROSS;
	return kind;
}

int smp_ca_list(smp_session *c, const smp_ca_list_options *o, smp_error *err)
{
	struct dir_view v;
	const struct dir_cas *cs = &v.cs;
	int r;

	if (o == NULL || o->version != SMP_ENGINE_VERSION)
		return smp_error_set(err, SMP_ERR_USAGE, "ca list options of version %u: this "
				     "library knows version %u", o != NULL ? o->version : 0,
				     SMP_ENGINE_VERSION);
	if ((r = dir_view_load(&v, c, o->ca_base, 1, err)) != 0)
		goto out;
	for (size_t i = 0; i < cs->n; i++) {
		smp_certinfo *ci = NULL;
		smp_item it;

		if ((r = smp_cert_analyze(&ci, cs->v[i].x, v.all, c->trust, err)) != 0)
			goto out;
		drop_leaf_problems(ci);
		memset(&it, 0, sizeof(it));
		it.action = "listed";
		it.dn = cs->v[i].dn;
		it.container = cs->v[i].container;
		it.attribute = cs->v[i].attr;
		it.value_index = cs->v[i].index;
		it.cert = ci;
		it.ca_kind = smp_ca_kind_name(dir_kind(cs, i, v.all));
		it.chained = v.counts[i];
		emit(c, &it, o->on_item, o->ctx);
		smp_certinfo_free(ci);
	}
out:
	dir_view_release(&v);
	return r;
}

/* ---- remove ----------------------------------------------------------------------------- */

/* The value of dn's first RDN (malloc'd), or NULL. */
static char *rdn_value(const char *dn)
{
	LDAPDN parsed = NULL;
	char *out = NULL;

	if (ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS && parsed != NULL &&
	    parsed[0] != NULL && parsed[0][0] != NULL)
		out = strndup(parsed[0][0]->la_value.bv_val, parsed[0][0]->la_value.bv_len);
	ldap_dnfree(parsed);
	return out;
}

/* How many CA certificates (not placeholders) cs holds on dn. */
static size_t values_on(const struct dir_cas *cs, const char *dn)
{
	size_t n = 0;

	for (size_t i = 0; i < cs->n; i++)
		n += strcasecmp(cs->v[i].dn, dn) == 0;
	return n;
}

int smp_ca_remove(smp_session *c, const smp_ca_remove_options *o, smp_error *err)
{
	const smp_profile *p = smp_dir_profile(c->dir);
	struct dir_view v;
	const struct dir_cas *cs = &v.cs;
	char want[65], words[2 * SMP_ERROR_MSG_MAX];
	size_t found = 0;
	int r;

	if (o == NULL || o->version != SMP_ENGINE_VERSION)
		return smp_error_set(err, SMP_ERR_USAGE, "ca remove options of version %u: this "
				     "library knows version %u", o != NULL ? o->version : 0,
				     SMP_ENGINE_VERSION);
	if (norm_fingerprint(want, o->fingerprint) != 0)
		return smp_error_set(err, SMP_ERR_USAGE, "not a SHA-256 fingerprint: '%s'",
				     o->fingerprint != NULL ? o->fingerprint : "");
	if ((r = dir_view_load(&v, c, o->ca_base, 1, err)) != 0)
		goto out;
	for (size_t i = 0; i < cs->n; i++) {
		smp_error e2 = SMP_ERROR_INIT;
		smp_certinfo *ci = NULL;
		char *ldif = NULL, *msg = NULL, *name = NULL;
		smp_item it;

		if ((r = smp_cert_analyze_encoded(&ci, cs->v[i].x, v.all,
						  (const unsigned char *)cs->v[i].der.bv_val,
						  cs->v[i].der.bv_len, c->trust, err)) != 0)
			goto out;
		if (strcmp(ci->sha256, want) != 0) {
			smp_certinfo_free(ci);
			continue;
		}
		found++;
		drop_leaf_problems(ci);
		memset(&it, 0, sizeof(it));
		it.dn = cs->v[i].dn;
		it.container = cs->v[i].container;
		it.attribute = cs->v[i].attr;
		it.value_index = cs->v[i].index;
		it.cert = ci;
		it.ca_kind = smp_ca_kind_name(dir_kind(cs, i, v.all));
		it.chained = v.counts[i];
		if (v.counts[i] > 0 && !o->force) {
			it.action = "skipped";
			it.reason = "still_used";
			it.status = 1;
			snprintf(words, sizeof(words), "%ld published certificate%s chain%s to this "
				 "CA: clients would no longer find their issuer; nothing removed",
				 v.counts[i], v.counts[i] == 1 ? "" : "s", v.counts[i] == 1 ? "s" : "");
			it.message = words;
		} else if (values_on(cs, cs->v[i].dn) == 1) {
			/* its only certificate: the entry goes, and its undo re-creates it as
			   ca publish would have */
			smp_ca_plan plan;
			const char *attrs[SMP_CONTACT_MAX_VALUES];
			struct berval vals[SMP_CONTACT_MAX_VALUES];
			size_t nv;

			memset(&plan, 0, sizeof(plan));
			/* the entry's name is in its undo record: without it nothing is removed */
			if ((name = rdn_value(cs->v[i].dn)) == NULL) {
				r = smp_error_set(&e2, SMP_ERR_NOMEM, "cannot remove the CA "
						  "certificate from '%s': out of memory",
						  cs->v[i].dn);
			} else {
				plan.name = name;
				plan.attr = strncasecmp(cs->v[i].attr, "crossCertificatePair",
							20) == 0 && p->ca_cross_attr != NULL ?
					    p->ca_cross_attr : p->ca_cert_attr;
				nv = smp_ca_entry_values(p, &plan, &cs->v[i].der, attrs, vals,
							 SMP_CONTACT_MAX_VALUES);
				r = exec_delete(c, cs->v[i].dn, attrs, vals, nv, "smimepub: would "
						"remove a CA certificate", &ldif, &e2);
			}
		} else {
			smp_change ch;

			memset(&ch, 0, sizeof(ch));
			ch.attr = cs->v[i].attr;
			ch.del = &cs->v[i].der;
			ch.n_del = 1;
			r = exec_modify(c, cs->v[i].dn, &ch, 1,
					"smimepub: would remove a CA certificate", &ldif, NULL, NULL,
					&e2);
		}
		if (it.action == NULL && r == 0) {
			it.action = c->o.dry_run ? "would_remove" : "removed";
			it.ldif = ldif;
			it.record = c->o.dry_run || c->record[0] == '\0' ? NULL : c->record;
			if (asprintf(&msg, "%s the CA certificate from '%s'", c->o.dry_run ?
				     "would remove" : "removed", cs->v[i].dn) < 0)
				msg = NULL;
			it.message = msg;
		} else if (it.action == NULL) {
			it.action = "failed";
			it.reason = r == SMP_ERR_ACCESS ? "insufficient_access" :
				    r == SMP_ERR_CONFLICT ? "conflict" : "failed";
			it.status = smp_exit_status(r);
			if (it.status == 0 || r == SMP_ERR_CONFLICT)
				it.status = 1;
			it.message = e2.msg;
			r = 0;
		}
		emit(c, &it, o->on_item, o->ctx);
		smp_certinfo_free(ci);
		free(ldif);
		free(msg);
		free(name);
		if (r == SMP_ERR_NOMEM)
			goto out;
		r = 0;
	}
	if (found == 0) {
		smp_item it;

		memset(&it, 0, sizeof(it));
		it.action = "failed";
		it.reason = "not_found";
		it.status = 1;
		snprintf(words, sizeof(words), "the directory distributes no CA certificate with "
			 "SHA-256 %s", want);
		it.message = words;
		emit(c, &it, o->on_item, o->ctx);
	}
out:
	dir_view_release(&v);
	return r;
}
