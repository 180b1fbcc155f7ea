/* Audit: findings about the certificates on one directory entry, and a run's summary. */
#include "smimepub/audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int entry_problem(smp_audit_entry *a, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int entry_problem(smp_audit_entry *a, const char *code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = smp_problems_vadd(&a->entry_problems, &a->n_entry_problems, code, SMP_REMEDY_NONE,
			      fmt, ap);
	va_end(ap);
	return r;
}

static int value_vproblem(smp_audit_value *v, const char *code, smp_remedy remedy,
			  const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

/* A problem on the value: on its certificate's analysis, or on the value itself. */
static int value_vproblem(smp_audit_value *v, const char *code, smp_remedy remedy,
			  const char *fmt, va_list ap)
{
	if (v->info != NULL)
		return smp_problems_vadd(&v->info->problems, &v->info->n_problems, code, remedy,
					 fmt, ap);
	return smp_problems_vadd(&v->problems, &v->n_problems, code, remedy, fmt, ap);
}

static int value_problem(smp_audit_value *v, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int value_problem(smp_audit_value *v, const char *code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = value_vproblem(v, code, SMP_REMEDY_NONE, fmt, ap);
	va_end(ap);
	return r;
}

static int value_problem_with(smp_audit_value *v, const char *code, smp_remedy remedy,
			      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int value_problem_with(smp_audit_value *v, const char *code, smp_remedy remedy,
			      const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = value_vproblem(v, code, remedy, fmt, ap);
	va_end(ap);
	return r;
}

static int value_has_problem(const smp_audit_value *v, const char *code)
{
	return smp_audit_value_problem(v, code) != NULL;
}

/* A value a client would take and that nothing critical is wrong with. */
static int value_good(const smp_audit_value *v)
{
	return v->info != NULL && smp_cert_usable(v->info) &&
	       smp_certinfo_worst(v->info) < SMP_SEV_CRITICAL;
}

/*
 * Whether every address of v is on some good value w with a later notAfter, w taken only
 * where keep[w] (keep may be NULL: any value).
 */
static int superseded_by_others(const smp_audit_entry *a, size_t vi, const int *keep,
				size_t *by)
{
	const smp_certinfo *ci = a->values[vi].info;

	if (ci == NULL || ci->n_emails == 0)
		return 0;
	for (size_t k = 0; k < ci->n_emails; k++) {
		int covered = 0;

		for (size_t w = 0; w < a->n_values && !covered; w++) {
			const smp_audit_value *wv = &a->values[w];

			if (w == vi || (keep != NULL && !keep[w]) || !value_good(wv) ||
			    wv->info->not_after <= ci->not_after ||
			    smp_certinfo_has_email(wv->info, ci->emails[k]) <= 0)
				continue;
			covered = 1;
			if (by != NULL)
				*by = w;
		}
		if (!covered)
			return 0;
	}
	return 1;
}

static int entry_addresses_text(char **out, const smp_entry *e)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *fp;
	int first = 1;

	fp = open_memstream(&buf, &size);
	if (fp == NULL)
		return SMP_ERR_NOMEM;
	for (size_t i = 0; i < e->n_mail; i++, first = 0)
		fprintf(fp, "%s'%s'", first ? "" : ", ", e->mail[i]);
	for (size_t i = 0; i < e->n_proxy; i++) {
		if (strncasecmp(e->proxy[i], "smtp:", 5) != 0)
			continue;
		fprintf(fp, "%s'%s'", first ? "" : ", ", e->proxy[i] + 5);
		first = 0;
	}
	if (first)
		fputs("none", fp);
	if (fclose(fp) != 0) {
		free(buf);
		return SMP_ERR_NOMEM;
	}
	*out = buf;
	return 0;
}

static int check_address(smp_audit_value *v, const smp_entry *e, const char *address)
{
	const smp_certinfo *ci = v->info;
	char *have = NULL;
	int r, on_entry = 0;

	if (ci == NULL || ci->n_emails == 0)
		return 0;
	if (address != NULL && smp_certinfo_has_email(ci, address) > 0)
		return 0;
	for (size_t k = 0; k < ci->n_emails && !on_entry; k++)
		if ((on_entry = smp_entry_has_address(e, ci->emails[k])) < 0)
			return on_entry;
	if (on_entry && address == NULL)
		return 0;
	/* the consequence in the words of the task at hand: whose key mail would go to */
	if (on_entry)
		return value_problem(v, "address_mismatch",
				     "certificate is for '%s', not for '%s': mail to '%s' would be "
				     "encrypted to %s's key", ci->emails[0], address, address,
				     ci->emails[0]);
	r = entry_addresses_text(&have, e);
	if (r != 0)
		return r;
	r = value_problem(v, "address_mismatch",
			  "certificate is for '%s' but the entry's addresses are %s: mail to "
			  "them would be encrypted to %s's key; publish it on the entry for '%s', "
			  "or remove it", ci->emails[0], have, ci->emails[0], ci->emails[0]);
	free(have);
	return r;
}

/*
 * Analyses userSMIMECertificate value i (a PKCS#7 bundle or a certificate, any form
 * smp_bundle_read takes): keeps the first leaf usable for the recipient, else the first leaf.
 */
static int analyze_smime(smp_audit_entry *a, size_t i, const smp_trust *t, smp_error *err)
{
	const struct berval *val = &a->entry->smime[i];
	smp_audit_value *v = &a->smime[i];
	smp_bundle *b = NULL;
	smp_certinfo *ci = NULL;
	smp_error why = SMP_ERROR_INIT;
	int r = SMP_ERR_INTERNAL;

	v->index = i;
	v->size = val->bv_len;
	v->attr = "userSMIMECertificate";
	if (smp_bundle_read(&b, (const unsigned char *)val->bv_val, val->bv_len, &why) != 0) {
		r = value_problem(v, "malformed", "userSMIMECertificate value %zu (%zu bytes) holds "
				  "no certificate (%s): clear it", i, v->size,
				  why.msg[0] ? why.msg : "unreadable");
		goto out;
	}
	for (size_t k = 0; k < smp_bundle_leaf_count(b); k++) {
		r = smp_cert_analyze(&ci, smp_bundle_leaf(b, k), smp_bundle_all(b), t, err);
		if (r != 0)
			goto out;
		if (v->info == NULL || smp_cert_usable_for(ci, a->address)) {
			smp_certinfo_free(v->info);
			v->info = ci;
		} else {
			smp_certinfo_free(ci);
		}
		ci = NULL;
		if (smp_cert_usable_for(v->info, a->address))
			break;
	}
	if (v->info != NULL)
		snprintf(v->sha256, sizeof(v->sha256), "%s", v->info->sha256);
	r = 0;
out:
	smp_certinfo_free(ci);
	smp_bundle_free(b);
	return r;
}

/* What each client takes from the analysed values (clients.h). */
static int pick_clients(smp_audit_entry *a)
{
	const smp_certinfo **smime = NULL, **certs = NULL;
	smp_client_input in = { 0 };
	int how = a->address != NULL ? smp_entry_has_address(a->entry, a->address) : 0;

	if (how < 0)
		return how;
	if ((a->n_smime > 0 && (smime = calloc(a->n_smime, sizeof(*smime))) == NULL) ||
	    (a->n_values > 0 && (certs = calloc(a->n_values, sizeof(*certs))) == NULL)) {
		free(smime);
		return SMP_ERR_NOMEM;
	}
	for (size_t i = 0; i < a->n_smime; i++)
		smime[i] = a->smime[i].info;
	for (size_t i = 0; i < a->n_values; i++)
		certs[i] = a->values[i].info;
	in.smime = smime;
	in.n_smime = a->n_smime;
	in.certs = certs;
	in.n_certs = a->n_values;
	in.address = a->address;
	in.in_mail = a->address != NULL ? how == 2 : a->entry->n_mail > 0;
	smp_clients_pick(a->picks, &in);
	free(smime);
	free(certs);
	return 0;
}

static int check_entry(smp_audit_entry *a)
{
	const smp_entry *e = a->entry;
	int r;

	if (e->n_certs > SMP_AUDIT_MAX_VALUES) {
		r = entry_problem(a, "too_many_values",
				  "the entry holds %zu certificates, more than %d: Entra ID (Azure AD "
				  "Connect) stops syncing userCertificate; prune old ones", e->n_certs,
				  SMP_AUDIT_MAX_VALUES);
		if (r != 0)
			return r;
	}
	if (e->n_certs + e->n_smime > 0 && a->address == NULL && e->n_mail == 0) {
		r = entry_problem(a, "no_mail_attribute",
				  "the entry has no mail attribute: gpgsm and Thunderbird look up mail "
				  "only and will not find these certificates; set mail");
		if (r != 0)
			return r;
	}
	if (e->n_certs + e->n_smime > 0 && a->address != NULL &&
	    (r = smp_entry_has_address(e, a->address)) < 0)
		return r;
	if (e->n_certs + e->n_smime > 0 && a->address != NULL && r == 1) {
		r = entry_problem(a, "no_mail_attribute",
				  "'%s' is only in proxyAddresses: gpgsm and Thunderbird look up the "
				  "mail attribute and will not find the certificate; set mail on the "
				  "entry", a->address);
		if (r != 0)
			return r;
	}
	if (e->n_smime > 0 && !a->picks[SMP_CLIENT_OUTLOOK].encrypts) {
		r = entry_problem(a, "smime_attr_shadows",
				  "userSMIMECertificate is set but holds no usable certificate: Outlook "
				  "reads it first and never looks at userCertificate; clear it");
		if (r != 0)
			return r;
	}
	return 0;
}

static int first_usable_index(const smp_audit_entry *a, size_t *out)
{
	for (size_t i = 0; i < a->n_values; i++) {
		if (smp_cert_usable_for(a->values[i].info, a->address)) {
			*out = i;
			return 1;
		}
	}
	return 0;
}

static int check_values(smp_audit_entry *a)
{
	char until[32];
	size_t by = 0;
	int r;

	for (size_t i = 0; i < a->n_values; i++) {
		smp_audit_value *v = &a->values[i];

		if (v->size > SMP_AUDIT_MAX_VALUE_SIZE) {
			r = value_problem(v, "too_large", "value %zu is %zu bytes, over Active "
					  "Directory's limit of %d: it cannot be written there",
					  i, v->size, SMP_AUDIT_MAX_VALUE_SIZE);
			if (r != 0)
				return r;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(a->values[j].sha256, v->sha256) != 0)
				continue;
			r = value_problem(v, "duplicate", "value %zu is the same as value %zu "
					  "(sha256 %s): remove one of them", i, j, v->sha256);
			if (r != 0)
				return r;
			break;
		}
		r = check_address(v, a->entry, a->address);
		if (r != 0)
			return r;
	}
	for (size_t i = 0; i < a->n_values; i++) {
		smp_audit_value *v = &a->values[i];

		if (!superseded_by_others(a, i, NULL, &by))
			continue;
		smp_format_time(until, sizeof(until), a->values[by].info->not_after);
		r = value_problem_with(v, "superseded", SMP_REMEDY_PRUNE, "a newer certificate for "
				       "'%s' is on the entry (value %zu, valid until %s): remove "
				       "this one", v->info->emails[0], by, until);
		if (r != 0)
			return r;
	}
	if ((r = pick_clients(a)) != 0)
		return r;
	if (a->n_values > 0 && !a->picks[SMP_CLIENT_OWA].encrypts) {
		if (first_usable_index(a, &by))
			r = value_problem_with(&a->values[0], "first_unusable", SMP_REMEDY_REORDER,
					       "the first value is not usable and OWA and gpgsm take "
					       "the first: put value %zu first", by);
		else
			r = value_problem(&a->values[0], "first_unusable", "the first value is not "
					  "usable and OWA and gpgsm take the first; no value on this entry "
					  "is usable: publish a valid certificate");
		if (r != 0)
			return r;
	}
	return 0;
}

/* See audit.h. */
smp_distribution smp_chain_ca_distribution(unsigned sources)
{
	/* what travels with the certificate reaches the client with it (a PKCS#7 value) */
	if (sources & (SMP_SOURCE_DIRECTORY | SMP_SOURCE_SYSTEM | SMP_SOURCE_CARRIED))
		return SMP_DIST_OK;
	if (sources & SMP_SOURCE_FILE)
		return SMP_DIST_LOCAL_ONLY;
	return SMP_DIST_MISSING;
}

/* See audit.h. */
int smp_audit_check_distribution(smp_certinfo *ci, unsigned trust_sources)
{
	if (ci == NULL || !ci->chain_ok || !(trust_sources & SMP_TRUST_DIRECTORY))
		return 0;
	for (size_t i = 0; i < ci->n_chain; i++) {
		const smp_chain_ca *c = &ci->chain[i];
		smp_distribution d = smp_chain_ca_distribution(c->sources);
		const char *what = c->root ? "root" : "intermediate CA";
		int r;

		if (d == SMP_DIST_OK)
			continue;
		if (d == SMP_DIST_LOCAL_ONLY)
			r = smp_certinfo_add_problem_with(
				ci, "issuer_not_distributed", SMP_REMEDY_PUBLISH_CA,
				"the chain needs the %s '%s' (sha256 %s), which only the local "
				"file%s%s%s provides: the directory does not distribute it, so "
				"clients that do not already trust it will reject this "
				"certificate; publish it in the directory", what, c->name,
				c->sha256, c->file ? " '" : " of trust anchors",
				c->file ? c->file : "", c->file ? "'" : "");
		else
			r = smp_certinfo_add_problem_with(
				ci, "issuer_not_distributed", SMP_REMEDY_PUBLISH_CA,
				"the chain needs the %s '%s' (sha256 %s), which neither the "
				"directory nor the system store provides: clients cannot build the "
				"chain and will reject this certificate; publish it in the "
				"directory", what, c->name, c->sha256);
		if (r != 0)
			return r;
		if (smp_problem_set_ca(&ci->problems[ci->n_problems - 1], c->sha256, c->file,
				       c->root) != 0)
			return SMP_ERR_NOMEM;
		if (d == SMP_DIST_LOCAL_ONLY)
			ci->problems[ci->n_problems - 1].severity = SMP_SEV_WARNING;
	}
	return 0;
}

/* See audit.h. */
int smp_audit_entry_run(smp_audit_entry **out, const smp_entry *e, const smp_trust *t,
			smp_error *err)
{
	return smp_audit_entry_for(out, e, NULL, t, err);
}

/* See audit.h. */
int smp_audit_entry_for(smp_audit_entry **out, const smp_entry *e, const char *address,
			const smp_trust *t, smp_error *err)
{
	smp_audit_entry *a = NULL;
	smp_error why = SMP_ERROR_INIT;
	int r = SMP_ERR_INTERNAL;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		goto nomem;
	a->entry = e;
	if (address != NULL && (a->address = strdup(address)) == NULL)
		goto nomem;
	if (e->n_certs > 0) {
		a->values = calloc(e->n_certs, sizeof(*a->values));
		if (a->values == NULL)
			goto nomem;
	}
	for (size_t i = 0; i < e->n_certs; i++) {
		smp_audit_value *v = &a->values[i];
		const struct berval *bv = &e->certs[i];

		a->n_values = i + 1;
		v->index = i;
		v->size = bv->bv_len;
		v->attr = e->cert_attrs != NULL ? e->cert_attrs[i] : NULL;
		smp_error_clear(&why);
		r = smp_cert_analyze_value(&v->info, v->sha256, (const unsigned char *)bv->bv_val,
					   bv->bv_len, t, &why);
		if (r == SMP_ERR_BADINPUT) {
			v->info = NULL;
			r = value_problem(v, "malformed", "value %zu (%zu bytes) is not a certificate "
					  "(%s): remove it", i, v->size,
					  why.msg[0] ? why.msg : "unreadable");
		} else if (r != 0) {
			smp_error_set(err, r, "cannot analyse value %zu of '%s': %s", i, e->dn,
				      why.msg);
			goto out;
		}
		if (r != 0)
			goto nomem;
		if (smp_audit_check_distribution(v->info, smp_trust_sources(t)) != 0)
			goto nomem;
	}
	if (e->n_smime > 0) {
		a->smime = calloc(e->n_smime, sizeof(*a->smime));
		if (a->smime == NULL)
			goto nomem;
	}
	for (size_t i = 0; i < e->n_smime; i++) {
		a->n_smime = i + 1;
		r = analyze_smime(a, i, t, err);
		if (r == SMP_ERR_NOMEM)
			goto nomem;
		if (r != 0)
			goto out;
		if (smp_audit_check_distribution(a->smime[i].info, smp_trust_sources(t)) != 0)
			goto nomem;
	}
	r = check_values(a);
	if (r == SMP_ERR_NOMEM)
		goto nomem;
	if (r != 0) {
		smp_error_set(err, r, "cannot audit '%s'", e->dn);
		goto out;
	}
	r = check_entry(a);
	if (r == SMP_ERR_NOMEM)
		goto nomem;
	if (r != 0)
		goto out;
	*out = a;
	a = NULL;
	r = 0;
	goto out;
nomem:
	r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory auditing '%s'", e->dn);
out:
	smp_audit_entry_free(a);
	return r;
}

/* See audit.h. */
size_t smp_audit_value_problems(const smp_audit_value *v, const smp_problem **problems)
{
	if (v->info != NULL) {
		*problems = v->info->problems;
		return v->info->n_problems;
	}
	*problems = v->problems;
	return v->n_problems;
}

/* See audit.h. */
const smp_problem *smp_audit_value_problem(const smp_audit_value *v, const char *code)
{
	const smp_problem *p;
	size_t n = smp_audit_value_problems(v, &p);

	for (size_t i = 0; i < n; i++)
		if (strcmp(p[i].code, code) == 0)
			return &p[i];
	return NULL;
}

/* See audit.h. */
const smp_problem *smp_audit_entry_problem(const smp_audit_entry *a, const char *code)
{
	for (size_t i = 0; i < a->n_entry_problems; i++)
		if (strcmp(a->entry_problems[i].code, code) == 0)
			return &a->entry_problems[i];
	return NULL;
}

/* See audit.h. */
smp_severity smp_audit_entry_worst(const smp_audit_entry *a)
{
	smp_severity worst = SMP_SEV_NONE;
	const smp_problem *p;
	size_t n;

	for (size_t i = 0; i < a->n_entry_problems; i++)
		if (a->entry_problems[i].severity > worst)
			worst = a->entry_problems[i].severity;
	for (size_t i = 0; i < a->n_values; i++) {
		n = smp_audit_value_problems(&a->values[i], &p);
		for (size_t k = 0; k < n; k++)
			if (p[k].severity > worst)
				worst = p[k].severity;
	}
	return worst;
}

/* See audit.h. */
void smp_audit_entry_free(smp_audit_entry *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n_values; i++) {
		smp_certinfo_free(a->values[i].info);
		smp_problems_free(a->values[i].problems, a->values[i].n_problems);
	}
	free(a->values);
	for (size_t i = 0; i < a->n_smime; i++) {
		smp_certinfo_free(a->smime[i].info);
		smp_problems_free(a->smime[i].problems, a->smime[i].n_problems);
	}
	free(a->smime);
	free(a->address);
	smp_problems_free(a->entry_problems, a->n_entry_problems);
	free(a);
}

/* ---- Prune selection ---------------------------------------------------------------------- */

static const char *direct_reason(const smp_audit_value *v, const smp_prune_sel *sel)
{
	if (v->info == NULL)
		return sel->malformed ? "malformed" : NULL;
	if (sel->expired && value_has_problem(v, "expired"))
		return "expired";
	if (sel->revoked && value_has_problem(v, "revoked"))
		return "revoked";
	if (sel->untrusted && value_has_problem(v, "untrusted"))
		return "untrusted";
	return NULL;
}

/* See audit.h. */
int smp_audit_prune_select(smp_prune_pick **out, size_t *n, const smp_audit_entry *a,
			   const smp_prune_sel *sel, smp_error *err)
{
	const char **reason = NULL;
	int *keep = NULL;
	int *done = NULL;
	smp_prune_pick *picks = NULL;
	size_t count = 0;
	int r = SMP_ERR_INTERNAL;

	*out = NULL;
	*n = 0;
	if (a->n_values == 0)
		return 0;
	reason = calloc(a->n_values, sizeof(*reason));
	keep = calloc(a->n_values, sizeof(*keep));
	done = calloc(a->n_values, sizeof(*done));
	if (reason == NULL || keep == NULL || done == NULL)
		goto nomem;
	for (size_t i = 0; i < a->n_values; i++) {
		reason[i] = direct_reason(&a->values[i], sel);
		done[i] = reason[i] != NULL || a->values[i].info == NULL;
		keep[i] = 0;
	}
	/* latest notAfter first, so a value is only superseded by one already known to stay */
	for (;;) {
		size_t best = a->n_values;

		for (size_t i = 0; i < a->n_values; i++) {
			if (done[i])
				continue;
			if (best == a->n_values ||
			    a->values[i].info->not_after > a->values[best].info->not_after)
				best = i;
		}
		if (best == a->n_values)
			break;
		done[best] = 1;
		if (sel->superseded && superseded_by_others(a, best, keep, NULL))
			reason[best] = "superseded";
		else
			keep[best] = 1;
	}
	for (size_t i = 0; i < a->n_values; i++)
		count += reason[i] != NULL;
	if (count > 0) {
		picks = calloc(count, sizeof(*picks));
		if (picks == NULL)
			goto nomem;
		count = 0;
		for (size_t i = 0; i < a->n_values; i++) {
			if (reason[i] == NULL)
				continue;
			picks[count].index = a->values[i].index;
			picks[count].reason = reason[i];
			count++;
		}
	}
	*out = picks;
	*n = count;
	picks = NULL;
	r = 0;
	goto out;
nomem:
	r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory choosing values to prune");
out:
	free(picks);
	free(reason);
	free(keep);
	free(done);
	return r;
}

/* ---- Summary ------------------------------------------------------------------------------ */

struct code_count {
	char *code;
	size_t count;
	size_t by_severity[3];  /* the same, by the severity found at (a caller may lower it) */
};

struct smp_audit_summary {
	size_t entries;
	size_t values;
	size_t by_severity[3];
	struct code_count *codes;
	size_t n_codes;
	smp_audit_expiry soonest[SMP_AUDIT_SOONEST];
	size_t n_soonest;
};

/* See audit.h. */
int smp_audit_summary_new(smp_audit_summary **out, smp_error *err)
{
	*out = calloc(1, sizeof(**out));
	if (*out == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	return 0;
}

static int count_problem(smp_audit_summary *s, const smp_problem *p)
{
	struct code_count *nv;
	char *code;

	int sev = p->severity >= SMP_SEV_NONE && p->severity <= SMP_SEV_CRITICAL ? (int)p->severity
									       : -1;

	if (sev >= 0)
		s->by_severity[sev]++;
	for (size_t i = 0; i < s->n_codes; i++) {
		if (strcmp(s->codes[i].code, p->code) == 0) {
			s->codes[i].count++;
			if (sev >= 0)
				s->codes[i].by_severity[sev]++;
			return 0;
		}
	}
	code = strdup(p->code);
	if (code == NULL)
		return SMP_ERR_NOMEM;
	nv = realloc(s->codes, (s->n_codes + 1) * sizeof(*nv));
	if (nv == NULL) {
		free(code);
		return SMP_ERR_NOMEM;
	}
	s->codes = nv;
	nv[s->n_codes].code = code;
	nv[s->n_codes].count = 1;
	memset(nv[s->n_codes].by_severity, 0, sizeof(nv[s->n_codes].by_severity));
	if (sev >= 0)
		nv[s->n_codes].by_severity[sev] = 1;
	s->n_codes++;
	return 0;
}

static int keep_expiry(smp_audit_summary *s, const char *dn, const char *subject,
		       const char *sha256, time_t not_after)
{
	smp_audit_expiry item = { 0 };
	size_t pos;

	if (s->n_soonest == SMP_AUDIT_SOONEST &&
	    not_after >= s->soonest[SMP_AUDIT_SOONEST - 1].not_after)
		return 0;
	item.dn = strdup(dn != NULL ? dn : "");
	item.subject = strdup(subject != NULL ? subject : "");
	if (item.dn == NULL || item.subject == NULL) {
		free(item.dn);
		free(item.subject);
		return SMP_ERR_NOMEM;
	}
	snprintf(item.sha256, sizeof(item.sha256), "%s", sha256);
	item.not_after = not_after;
	if (s->n_soonest == SMP_AUDIT_SOONEST) {
		free(s->soonest[SMP_AUDIT_SOONEST - 1].dn);
		free(s->soonest[SMP_AUDIT_SOONEST - 1].subject);
		s->n_soonest--;
	}
	for (pos = s->n_soonest; pos > 0 && s->soonest[pos - 1].not_after > item.not_after; pos--)
		s->soonest[pos] = s->soonest[pos - 1];
	s->soonest[pos] = item;
	s->n_soonest++;
	return 0;
}

/* See audit.h. */
int smp_audit_summary_add(smp_audit_summary *s, const smp_audit_entry *a, smp_error *err)
{
	const smp_problem *p;
	size_t n;

	s->entries++;
	for (size_t i = 0; i < a->n_entry_problems; i++)
		if (count_problem(s, &a->entry_problems[i]) != 0)
			goto nomem;
	for (size_t i = 0; i < a->n_values; i++) {
		const smp_audit_value *v = &a->values[i];

		s->values++;
		n = smp_audit_value_problems(v, &p);
		for (size_t k = 0; k < n; k++)
			if (count_problem(s, &p[k]) != 0)
				goto nomem;
		if (v->info != NULL && !value_has_problem(v, "expired") &&
		    keep_expiry(s, a->entry->dn, v->info->subject, v->sha256,
				v->info->not_after) != 0)
			goto nomem;
	}
	return 0;
nomem:
	return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
}

/* See audit.h. */
void smp_audit_summary_add_counts(smp_audit_summary *s, size_t entries, size_t values)
{
	s->entries += entries;
	s->values += values;
}

/* See audit.h. */
int smp_audit_summary_add_code(smp_audit_summary *s, const char *code, size_t count,
			       smp_error *err)
{
	return smp_audit_summary_add_code_at(s, code, smp_problem_severity(code), count, err);
}

/* See audit.h. */
int smp_audit_summary_add_code_at(smp_audit_summary *s, const char *code, smp_severity sev,
				  size_t count, smp_error *err)
{
	smp_problem p = { code, sev, NULL, SMP_REMEDY_NONE, NULL, NULL, 0 };

	if (count == 0)
		return 0;
	if (count_problem(s, &p) != 0)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < s->n_codes; i++) {
		if (strcmp(s->codes[i].code, code) != 0)
			continue;
		s->codes[i].count += count - 1;
		if (sev >= SMP_SEV_NONE && sev <= SMP_SEV_CRITICAL)
			s->codes[i].by_severity[sev] += count - 1;
	}
	if (sev >= SMP_SEV_NONE && sev <= SMP_SEV_CRITICAL)
		s->by_severity[sev] += count - 1;
	return 0;
}

/* See audit.h. */
size_t smp_audit_summary_code_severity(const smp_audit_summary *s, size_t i, smp_severity sev)
{
	if (i >= s->n_codes || sev < SMP_SEV_NONE || sev > SMP_SEV_CRITICAL)
		return 0;
	return s->codes[i].by_severity[sev];
}

/* See audit.h. */
int smp_audit_summary_add_expiry(smp_audit_summary *s, const smp_audit_expiry *x, smp_error *err)
{
	if (keep_expiry(s, x->dn, x->subject, x->sha256, x->not_after) != 0)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	return 0;
}

/* See audit.h. */
size_t smp_audit_summary_entries(const smp_audit_summary *s)
{
	return s->entries;
}

/* See audit.h. */
size_t smp_audit_summary_values(const smp_audit_summary *s)
{
	return s->values;
}

/* See audit.h. */
size_t smp_audit_summary_count(const smp_audit_summary *s, const char *code)
{
	for (size_t i = 0; i < s->n_codes; i++)
		if (strcmp(s->codes[i].code, code) == 0)
			return s->codes[i].count;
	return 0;
}

/* See audit.h. */
size_t smp_audit_summary_n_codes(const smp_audit_summary *s)
{
	return s->n_codes;
}

/* See audit.h. */
const char *smp_audit_summary_code(const smp_audit_summary *s, size_t i, size_t *count)
{
	if (i >= s->n_codes)
		return NULL;
	if (count != NULL)
		*count = s->codes[i].count;
	return s->codes[i].code;
}

/* See audit.h. */
size_t smp_audit_summary_severity_count(const smp_audit_summary *s, smp_severity sev)
{
	if (sev < SMP_SEV_NONE || sev > SMP_SEV_CRITICAL)
		return 0;
	return s->by_severity[sev];
}

/* See audit.h. */
size_t smp_audit_summary_n_soonest(const smp_audit_summary *s)
{
	return s->n_soonest;
}

/* See audit.h. */
const smp_audit_expiry *smp_audit_summary_soonest(const smp_audit_summary *s, size_t i)
{
	return i < s->n_soonest ? &s->soonest[i] : NULL;
}

/* See audit.h. */
int smp_audit_summary_exit_status(const smp_audit_summary *s)
{
	if (s->by_severity[SMP_SEV_CRITICAL] > 0)
		return 2;
	if (s->by_severity[SMP_SEV_WARNING] > 0)
		return 1;
	return 0;
}

/* See audit.h. */
void smp_audit_summary_free(smp_audit_summary *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_codes; i++)
		free(s->codes[i].code);
	free(s->codes);
	for (size_t i = 0; i < s->n_soonest; i++) {
		free(s->soonest[i].dn);
		free(s->soonest[i].subject);
	}
	free(s);
}
